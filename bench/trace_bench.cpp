// SPDX-License-Identifier: MIT
// A replayed gradient against a re-recorded one, on the tape benchmark's
// workloads (workloads.hpp), interleaved in one run: the baseline
// `recording` records the whole computation on a Tape<double> again and
// sweeps it (what tape_bench measures), the contender `replay` evaluates a
// trace made once before the timing (trace.hpp). Counters:
// `replay/recording`, and `trace_bytes_per_op` and `workspace_bytes_per_op`
// (the memory of the trace and of its workspace, per traced operation).
//
// BM_Batch_*<T>: the same trace evaluated at 64 points, one point at a time
// (`one_at_a_time`, the baseline) and all at once with the points in SIMD
// lanes (`batch`, values_and_gradients), in double and in float (twice the
// lanes); counter `batch/one_at_a_time`.
//
// BM_MonteCarlo: the discounted payoff of a European call and its
// gradient in (S0, sigma) on 4096 paths (examples/monte_carlo_greeks.cpp),
// each path recorded on a tape (`recording`, the baseline) against one
// trace replayed for all paths in lanes (`batch`).

#include "harness.hpp"
#include "workloads.hpp"

#include <benchmark/benchmark.h>
#include <cmath>
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

/// Times 64 points replayed one at a time against all at once in lanes,
/// with the instruction set the kernels choose (`batch`) and with the
/// build's own (`batch_compiled`), in T: double (8 lanes to a vector with
/// AVX-512, blocks of 32 points) or float (16, blocks of 64).
template <class T, class Loss>
void compare_batch(benchmark::State& state, const std::vector<T>& point, Loss loss) {
  constexpr std::size_t m = 64;
  const std::size_t n = point.size();
  tinygrad::Trace<T> trace =
      tinygrad::trace([&](std::span<const Traced<T>> p) { return loss(p); }, point);
  std::vector<T> points(m * n);
  for (std::size_t k = 0; k < m; ++k) {
    for (std::size_t i = 0; i < n; ++i) {
      points[k * n + i] = point[i] * (T(1) + T(0.001) * static_cast<T>(k));
    }
  }
  std::vector<T> values(m);
  std::vector<T> gradients(m * n);
  harness::compare_to(
      state, 1,
      Contender{"one_at_a_time",
                [&] {
                  for (std::size_t k = 0; k < m; ++k) {
                    values[k] =
                        trace.value_and_gradient(std::span<const T>(points).subspan(k * n, n),
                                                 std::span<T>(gradients).subspan(k * n, n));
                  }
                }},
      Contender{"batch", [&] { trace.values_and_gradients(points, values, gradients); }},
      Contender{"batch_compiled", [&] {
                  trace.values_and_gradients(points, values, gradients, {},
                                             tinygrad::InstructionSet::compiled);
                }});
}

template <class T>
void BM_Batch_W1(benchmark::State& state) {
  const auto layers = static_cast<std::size_t>(state.range(0));
  std::vector<T> parameters(2 * layers, T(0));
  std::fill_n(parameters.begin(), layers, T(0.5));
  compare_batch(state, parameters, [layers](auto p) {
    return workloads::w1_loss(p.first(layers), p.subspan(layers), Sigmoid{});
  });
}
BENCHMARK(BM_Batch_W1<double>)->Arg(3)->Arg(100);
BENCHMARK(BM_Batch_W1<float>)->Arg(3)->Arg(100);

template <class T>
void BM_Batch_W3(benchmark::State& state) {
  const std::vector<double> point = workloads::w3_point(static_cast<std::size_t>(state.range(0)));
  compare_batch(state, std::vector<T>(point.begin(), point.end()),
                [](auto p) { return workloads::w3_rosenbrock(p); });
}
BENCHMARK(BM_Batch_W3<double>)->Arg(100);
BENCHMARK(BM_Batch_W3<float>)->Arg(100);

void BM_MonteCarlo(benchmark::State& state) {
  constexpr std::size_t paths = 4096;
  const auto payoff = [](auto x, auto z) {
    using tinygrad::exp;
    using tinygrad::max;
    const auto end = x[0] * exp((0.05 - 0.5 * x[1] * x[1]) + x[1] * z[0]);
    return std::exp(-0.05) * max(end - 100.0, 0.0);
  };
  std::vector<double> z(paths);
  for (std::size_t k = 0; k < paths; ++k) {
    z[k] = 2.0 * std::sin(1.7 * static_cast<double>(k));  // spread over [-2, 2]
  }
  std::vector<double> points(2 * paths);
  for (std::size_t k = 0; k < paths; ++k) {
    points[2 * k] = 100.0;
    points[2 * k + 1] = 0.2;
  }
  std::vector<double> values(paths);
  std::vector<double> gradients(2 * paths);
  tinygrad::Trace<double> trace =
      tinygrad::trace(payoff, std::vector<double>{100.0, 0.2}, std::vector<double>{0.5});
  tinygrad::Tape<double> tape;
  harness::compare_to(
      state, 1,
      Contender{"recording",
                [&] {
                  for (std::size_t k = 0; k < paths; ++k) {
                    tape.clear();
                    const std::vector<Var<double>> x{Var<double>(points[2 * k]),
                                                     Var<double>(points[2 * k + 1])};
                    const Var<double> y = payoff(std::span<const Var<double>>(x),
                                                 std::span<const double>(z).subspan(k, 1));
                    y.backward();
                    values[k] = y.value();
                    gradients[2 * k] = x[0].grad();
                    gradients[2 * k + 1] = x[1].grad();
                  }
                }},
      Contender{"batch", [&] { trace.values_and_gradients(points, values, gradients, z); }});
}
BENCHMARK(BM_MonteCarlo);

}  // namespace

BENCHMARK_MAIN();
