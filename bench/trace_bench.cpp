// SPDX-License-Identifier: MIT
// A replayed gradient against a re-recorded one, on the tape benchmark's
// workloads (workloads.hpp), interleaved in one run: the baseline
// `recording` records the whole computation on a Tape<double> again and
// sweeps it (what tape_bench measures), the contender `replay` evaluates a
// trace made once before the timing (trace.hpp). Counters:
// `replay/recording`, and `trace_bytes_per_op` and `workspace_bytes_per_op`
// (the memory of the trace and of its workspace, per traced operation).

#include "harness.hpp"
#include "workloads.hpp"

#include <benchmark/benchmark.h>
#include <cstddef>
#include <span>
#include <tinygrad/trace.hpp>
#include <tinygrad/var.hpp>
#include <vector>

namespace {

using harness::Contender;
using tinygrad::Traced;
using tinygrad::Var;

/// The sigmoid policy on a Var (a temporary as one, so that it may fuse)
/// and on a Traced.
struct Sigmoid {
  template <class S>
  std::remove_cvref_t<S> operator()(S&& z) const {
    return tinygrad::activate<tinygrad::Sigmoid>(std::forward<S>(z));
  }
};

/// Times the re-recorded gradient of `loss` at `point` against the replay
/// of its trace.
template <class Loss>
void compare_replay(benchmark::State& state, const std::vector<double>& point, Loss loss,
                    std::size_t operations) {
  harness::TinygradGradient recording(point,
                                      [&](std::span<const Var<double>> p) { return loss(p); });
  tinygrad::Trace<double> trace =
      tinygrad::trace([&](std::span<const Traced<double>> p) { return loss(p); }, point);
  std::vector<double> gradient(point.size());
  harness::compare_to(state, harness::batch_for(operations),
                      Contender{"recording", [&] { recording(); }},
                      Contender{"replay", [&] { trace.gradient(point, gradient); }});
  const double ops = static_cast<double>(trace.operations());
  state.counters["ops"] = ops;
  state.counters["trace_bytes_per_op"] = static_cast<double>(trace.trace_bytes()) / ops;
  state.counters["workspace_bytes_per_op"] = static_cast<double>(trace.workspace_bytes()) / ops;
}

void BM_W1(benchmark::State& state) {
  const auto layers = static_cast<std::size_t>(state.range(0));
  std::vector<double> parameters(2 * layers, 0.0);  // w_i = 0.5 first, then b_i = 0
  std::fill_n(parameters.begin(), layers, 0.5);
  compare_replay(
      state, parameters,
      [layers](auto p) {
        return workloads::w1_loss(p.first(layers), p.subspan(layers), Sigmoid{});
      },
      3 * layers);
}
BENCHMARK(BM_W1)->Arg(3)->Arg(100)->Arg(10000);

void BM_W2(benchmark::State& state) {
  const auto x = workloads::w2_input();
  std::vector<Var<double>> vh1(workloads::w2_hidden), vh2(workloads::w2_hidden);
  std::vector<Traced<double>> th1(workloads::w2_hidden), th2(workloads::w2_hidden);
  compare_replay(
      state, workloads::w2_initial_parameters(),
      [&](auto p) {
        if constexpr (std::is_same_v<typename decltype(p)::value_type, Var<double>>) {
          return workloads::w2_loss<Var<double>>(p, x, vh1, vh2, Sigmoid{});
        } else {
          return workloads::w2_loss<Traced<double>>(p, x, th1, th2, Sigmoid{});
        }
      },
      10'000);
}
BENCHMARK(BM_W2);

void BM_W3(benchmark::State& state) {
  compare_replay(
      state, workloads::w3_point(10'000), [](auto p) { return workloads::w3_rosenbrock(p); },
      80'000);
}
BENCHMARK(BM_W3);

void BM_W4(benchmark::State& state) {
  const auto x = workloads::w4_data(100'000);
  compare_replay(
      state, workloads::w4_weights(100'000),
      [&](auto p) { return workloads::w4_sum(p, x, Sigmoid{}); }, 300'000);
}
BENCHMARK(BM_W4);

}  // namespace

BENCHMARK_MAIN();
