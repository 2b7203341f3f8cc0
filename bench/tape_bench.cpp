// SPDX-License-Identifier: MIT
// Gradient cost on the tape as a ratio to the plain-double primal of the same
// templated code, for the workloads of workloads.hpp; the hand-written
// adjoints of W1 and W2 show the practical floor (BM_W2Compound: W2 with its
// sums written `z += term`). Counters: `tinygrad/primal`,
// `hand/primal`, `ns_per_op`, `bytes_per_op` (tape bytes per elementary
// operation), `ops`. BM_W3Parts: W3's recording alone against its gradient.
// BM_AnomalyDetection: the cost of Tape::detect_anomalies.

#include "harness.hpp"
#include "workloads.hpp"

#include <benchmark/benchmark.h>
#include <span>
#include <vector>

namespace {

using harness::Contender;
using harness::TinygradGradient;
using harness::TinygradSigmoid;
using tinygrad::Var;

void BM_W1(benchmark::State& state) {
  const auto layers = static_cast<std::size_t>(state.range(0));
  std::vector<double> parameters(2 * layers, 0.0);  // w_i = 0.5 first, then b_i = 0
  std::fill_n(parameters.begin(), layers, 0.5);
  const std::span<const double> w(parameters.data(), layers);
  const std::span<const double> b(parameters.data() + layers, layers);

  auto loss = [layers](std::span<const Var<double>> p) {
    return workloads::w1_loss(p.first(layers), p.subspan(layers), TinygradSigmoid{});
  };
  TinygradGradient tinygrad(parameters, loss);
  workloads::W1HandAdjoint hand(layers);
  const auto ns = harness::compare(
      state, harness::batch_for(3 * layers),
      [&] { benchmark::DoNotOptimize(workloads::w1_loss(w, b, TinygradSigmoid{})); },
      Contender{"tinygrad", [&] { tinygrad(); }}, Contender{"hand", [&] { hand(w, b); }});
  tinygrad.report(state, ns[0]);
}
BENCHMARK(BM_W1)->Arg(3)->Arg(100)->Arg(10000);

template <workloads::Sums sums>
void w2_gradient(benchmark::State& state) {
  const auto parameters = workloads::w2_initial_parameters();
  const auto x = workloads::w2_input();
  std::vector<double> h1(workloads::w2_hidden), h2(workloads::w2_hidden);
  std::vector<Var<double>> vh1(workloads::w2_hidden), vh2(workloads::w2_hidden);

  auto loss = [&](std::span<const Var<double>> p) {
    return workloads::w2_loss<Var<double>, sums>(p, x, vh1, vh2, TinygradSigmoid{});
  };
  TinygradGradient tinygrad(parameters, loss);
  workloads::W2HandAdjoint hand;
  const auto ns = harness::compare(
      state, harness::batch_for(10'000),
      [&] {
        benchmark::DoNotOptimize(
            workloads::w2_loss<double, sums>(parameters, x, h1, h2, TinygradSigmoid{}));
      },
      Contender{"tinygrad", [&] { tinygrad(); }}, Contender{"hand", [&] { hand(parameters, x); }});
  tinygrad.report(state, ns[0]);
}

void BM_W2(benchmark::State& state) {
  w2_gradient<workloads::Sums::plus>(state);
}
BENCHMARK(BM_W2);

// W2 with its sums written `z += p * x`: each dot product one entry.
void BM_W2Compound(benchmark::State& state) {
  w2_gradient<workloads::Sums::compound>(state);
}
BENCHMARK(BM_W2Compound);

void BM_W3(benchmark::State& state) {
  const auto x = workloads::w3_point(10'000);
  TinygradGradient tinygrad(
      x, [](std::span<const Var<double>> p) { return workloads::w3_rosenbrock(p); });
  const auto ns = harness::compare(
      state, harness::batch_for(80'000),
      [&] { benchmark::DoNotOptimize(workloads::w3_rosenbrock(std::span<const double>(x))); },
      Contender{"tinygrad", [&] { tinygrad(); }});
  tinygrad.report(state, ns[0]);
}
BENCHMARK(BM_W3);

// Where W3's gradient goes: recording alone (clear, leaves, the loss) against
// the whole gradient, both as ratios to the primal; the sweep, zeroing and
// reading the gradients are the difference (`record/primal`,
// `tinygrad/primal`).
void BM_W3Parts(benchmark::State& state) {
  const auto x = workloads::w3_point(10'000);
  TinygradGradient tinygrad(
      x, [](std::span<const Var<double>> p) { return workloads::w3_rosenbrock(p); });
  std::vector<Var<double>> leaves;
  harness::compare(
      state, harness::batch_for(80'000),
      [&] { benchmark::DoNotOptimize(workloads::w3_rosenbrock(std::span<const double>(x))); },
      Contender{"record",
                [&] {
                  tinygrad.tape.clear();
                  tinygrad::record_leaves(std::span<const double>(x), leaves);
                  benchmark::DoNotOptimize(
                      workloads::w3_rosenbrock(std::span<const Var<double>>(leaves)).value());
                }},
      Contender{"tinygrad", [&] { tinygrad(); }});
}
BENCHMARK(BM_W3Parts);

void BM_W4(benchmark::State& state) {
  const auto w = workloads::w4_weights(100'000);
  const auto x = workloads::w4_data(100'000);
  TinygradGradient tinygrad(w, [&](std::span<const Var<double>> p) {
    return workloads::w4_sum(p, x, TinygradSigmoid{});
  });
  const auto ns = harness::compare(
      state, 1,
      [&] {
        benchmark::DoNotOptimize(
            workloads::w4_sum(std::span<const double>(w), x, TinygradSigmoid{}));
      },
      Contender{"tinygrad", [&] { tinygrad(); }});
  tinygrad.report(state, ns[0]);
}
BENCHMARK(BM_W4);

// What anomaly detection costs when switched on: the same gradient on a tape
// with detection off (the baseline) and on, counter `checked/unchecked`.
// (Off, it costs nothing: docs/performance.md has the instruction counts.)
void BM_AnomalyDetection(benchmark::State& state) {
  const auto x = workloads::w3_point(static_cast<std::size_t>(state.range(0)));
  const auto loss = [](std::span<const Var<double>> p) { return workloads::w3_rosenbrock(p); };
  // One tape, switched: two tapes alive at once would both record onto the
  // newer, the current one.
  TinygradGradient gradient(x, loss);
  harness::compare_to(state, harness::batch_for(8 * static_cast<std::size_t>(state.range(0))),
                      Contender{"unchecked",
                                [&] {
                                  gradient.tape.detect_anomalies(false);
                                  gradient();
                                }},
                      Contender{"checked", [&] {
                                  gradient.tape.detect_anomalies(true);
                                  gradient();
                                }});
}
BENCHMARK(BM_AnomalyDetection)->Arg(10)->Arg(10'000);

}  // namespace

BENCHMARK_MAIN();
