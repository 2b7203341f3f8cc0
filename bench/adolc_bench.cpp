// SPDX-License-Identifier: MIT
// The tape benchmark's workloads on tinygrad and on ADOL-C (re-taping every
// gradient, as a re-recording tape must), interleaved in one run. The counter
// `adolc/tinygrad` is how many times longer ADOL-C takes. Built only where
// ADOL-C is installed (Debian: libadolc-dev).

#include "harness.hpp"
#include "workloads.hpp"

#include <adolc/adolc.h>
#include <benchmark/benchmark.h>
#include <span>
#include <utility>
#include <vector>

namespace {

using harness::Contender;
using harness::TinygradGradient;
using harness::TinygradSigmoid;
using tinygrad::Var;

/// Works for double, Var<double> and adouble alike.
struct AnySigmoid {
  double operator()(double z) const { return tinygrad::Sigmoid::value(z); }
  Var<double> operator()(const Var<double>& z) const { return tinygrad::sigmoid(z); }
  Var<double> operator()(Var<double>&& z) const { return tinygrad::sigmoid(std::move(z)); }
  adouble operator()(const adouble& z) const { return 1.0 / (1.0 + exp(-z)); }
};

/// ADOL-C's gradient of `loss(parameters as adoubles)`: trace, then reverse.
template <class Loss>
struct AdolcGradient {
  AdolcGradient(std::span<const double> parameters, Loss loss_function)
      : values(parameters.begin(), parameters.end()),
        grads(parameters.size()),
        loss(loss_function) {}

  void operator()() {
    constexpr short tag = 1;
    trace_on(tag);
    std::vector<adouble> x(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      x[i] <<= values[i];
    }
    adouble y = loss(std::span<const adouble>(x));
    double result = 0;
    y >>= result;
    trace_off();
    gradient(tag, static_cast<int>(values.size()), values.data(), grads.data());
  }

  std::vector<double> values;
  std::vector<double> grads;
  Loss loss;
};

template <class Primal, class TinygradLoss, class AdolcLoss>
void compare(benchmark::State& state, std::span<const double> parameters, std::size_t batch,
             Primal primal, TinygradLoss tinygrad_loss, AdolcLoss adolc_loss) {
  TinygradGradient tinygrad(parameters, tinygrad_loss);
  AdolcGradient adolc(parameters, adolc_loss);
  const auto ns = harness::compare(state, batch, primal, Contender{"tinygrad", [&] { tinygrad(); }},
                                   Contender{"adolc", [&] { adolc(); }});
  state.counters["adolc/tinygrad"] = ns[1] / ns[0];
  // The two must agree, or the comparison means nothing.
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    if (std::abs(tinygrad.grads[i] - adolc.grads[i]) > 1e-10 * (1 + std::abs(adolc.grads[i]))) {
      state.SkipWithError("tinygrad and ADOL-C gradients differ");
      return;
    }
  }
}

void BM_W1(benchmark::State& state) {
  const auto layers = static_cast<std::size_t>(state.range(0));
  std::vector<double> parameters(2 * layers, 0.0);
  std::fill_n(parameters.begin(), layers, 0.5);
  const auto loss = [layers](auto p) {
    return workloads::w1_loss(p.first(layers), p.subspan(layers), AnySigmoid{});
  };
  const std::span<const double> all(parameters);
  compare(
      state, parameters, harness::batch_for(3 * layers),
      [&] { benchmark::DoNotOptimize(loss(all)); }, loss, loss);
}
BENCHMARK(BM_W1)->Arg(3)->Arg(100)->Arg(10000);

void BM_W2(benchmark::State& state) {
  const auto parameters = workloads::w2_initial_parameters();
  const auto x = workloads::w2_input();
  std::vector<double> h1(workloads::w2_hidden), h2(workloads::w2_hidden);
  std::vector<Var<double>> vh1(workloads::w2_hidden), vh2(workloads::w2_hidden);
  std::vector<adouble> ah1(workloads::w2_hidden), ah2(workloads::w2_hidden);
  compare(
      state, parameters, harness::batch_for(10'000),
      [&] {
        benchmark::DoNotOptimize(workloads::w2_loss<double>(parameters, x, h1, h2, AnySigmoid{}));
      },
      [&](std::span<const Var<double>> p) {
        return workloads::w2_loss<Var<double>>(p, x, vh1, vh2, AnySigmoid{});
      },
      [&](std::span<const adouble> p) {
        return workloads::w2_loss<adouble>(p, x, ah1, ah2, AnySigmoid{});
      });
}
BENCHMARK(BM_W2);

void BM_W3(benchmark::State& state) {
  const auto x = workloads::w3_point(10'000);
  const auto loss = [](auto p) { return workloads::w3_rosenbrock(p); };
  compare(
      state, x, harness::batch_for(80'000),
      [&] { benchmark::DoNotOptimize(loss(std::span<const double>(x))); }, loss, loss);
}
BENCHMARK(BM_W3);

void BM_W4(benchmark::State& state) {
  const auto w = workloads::w4_weights(100'000);
  const auto x = workloads::w4_data(100'000);
  const auto loss = [&](auto p) { return workloads::w4_sum(p, x, AnySigmoid{}); };
  compare(
      state, w, 1, [&] { benchmark::DoNotOptimize(loss(std::span<const double>(w))); }, loss, loss);
}
BENCHMARK(BM_W4);

}  // namespace

BENCHMARK_MAIN();
