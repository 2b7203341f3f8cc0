// SPDX-License-Identifier: MIT
// Cost of a gradient on the tape, as a ratio to the plain-double computation
// (the primal) measured in the same process, interleaved batch by batch so
// that both see the same machine load.
//
// W1 is the notebook network generalised to L layers: x = 1, y = 1,
// w_i = 0.5, b_i = 0, a_0 = x, z_i = w_i a_(i-1) + b_i, a_i = sigmoid(z_i),
// loss = 0.5 (y - a_L)^2, gradient with respect to every w_i and b_i. A
// gradient is everything needed to repeat it: record the leaves and the
// computation, sweep back, read the gradients, reset the tape.

#include <tinygrad/var.hpp>

#include <benchmark/benchmark.h>
#include <chrono>
#include <cstddef>
#include <vector>

namespace {

using tinygrad::Var;
using Clock = std::chrono::steady_clock;

double activate_sigmoid(double z) { return tinygrad::Sigmoid::value(z); }
Var<double> activate_sigmoid(const Var<double>& z) { return tinygrad::sigmoid(z); }

/// The W1 loss, written once for double and for Var<double>.
template <class S>
S w1_loss(const std::vector<S>& w, const std::vector<S>& b) {
  S a = 1.0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    a = activate_sigmoid(w[i] * a + b[i]);
  }
  const S error = 1.0 - a;
  return 0.5 * error * error;
}

struct W1Gradient {
  explicit W1Gradient(std::size_t layers) : dw(layers), db(layers) {}

  void operator()(const std::vector<double>& w, const std::vector<double>& b) {
    tape.clear();
    std::vector<Var<double>>& vw = leaves_w;
    std::vector<Var<double>>& vb = leaves_b;
    vw.assign(w.begin(), w.end());
    vb.assign(b.begin(), b.end());
    w1_loss(vw, vb).backward();
    for (std::size_t i = 0; i < w.size(); ++i) {
      dw[i] = vw[i].grad();
      db[i] = vb[i].grad();
    }
  }

  tinygrad::Tape<double> tape;
  std::vector<Var<double>> leaves_w, leaves_b;
  std::vector<double> dw, db;
};

void BM_W1_gradient_over_primal(benchmark::State& state) {
  const auto layers = static_cast<std::size_t>(state.range(0));
  const std::vector<double> w(layers, 0.5);
  const std::vector<double> b(layers, 0.0);
  W1Gradient gradient(layers);
  const std::size_t batch = std::max<std::size_t>(1, 20'000 / layers);
  Clock::duration primal_time{};
  Clock::duration gradient_time{};
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::size_t k = 0; k < batch; ++k) {
      benchmark::DoNotOptimize(w.data());
      benchmark::DoNotOptimize(w1_loss(w, b));
    }
    const auto middle = Clock::now();
    for (std::size_t k = 0; k < batch; ++k) {
      gradient(w, b);
      benchmark::DoNotOptimize(gradient.dw.data());
    }
    const auto end = Clock::now();
    primal_time += middle - start;
    gradient_time += end - middle;
    // An iteration is one batch; the counters below are per gradient.
    state.SetIterationTime(std::chrono::duration<double>(end - middle).count());
  }
  const double runs = static_cast<double>(state.iterations()) * static_cast<double>(batch);
  const double gradient_ns = std::chrono::duration<double, std::nano>(gradient_time).count() / runs;
  const double primal_ns = std::chrono::duration<double, std::nano>(primal_time).count() / runs;
  state.counters["primal_ns"] = primal_ns;
  state.counters["gradient_ns"] = gradient_ns;
  state.counters["gradient/primal"] = gradient_ns / primal_ns;
  // Elementary operations per gradient: w*a, +b, sigmoid per layer, then 1-a, *, *.
  state.counters["ns_per_op"] = gradient_ns / (3.0 * static_cast<double>(layers) + 3.0);
  state.counters["tape_entries"] = static_cast<double>(gradient.tape.size());
}
BENCHMARK(BM_W1_gradient_over_primal)->Arg(3)->Arg(100)->Arg(10000)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
