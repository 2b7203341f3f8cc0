// SPDX-License-Identifier: MIT
// What the functional API costs against doing the same by hand, each pair
// interleaved in one run (counters are ratios to the first, the baseline):
//   gradient of Rosenbrock, N = 10^4: tinygrad::gradient into a span against
//     recording on a Tape by hand (`wrapper/by_hand`);
//   hessian of Rosenbrock, N = 100, against its analytic Hessian;
//   hvp against two gradients (`hvp/primal` with the baseline being two
//     gradient calls).

#include "harness.hpp"
#include "workloads.hpp"

#include <benchmark/benchmark.h>
#include <span>
#include <tinygrad/functional.hpp>
#include <vector>

namespace {

using harness::Contender;
using tinygrad::Var;

const auto rosenbrock = [](auto x) { return workloads::w3_rosenbrock(x); };

void BM_gradient_wrapper_vs_tape(benchmark::State& state) {
  const auto x = workloads::w3_point(10'000);
  harness::TinygradGradient by_hand(
      x, [](std::span<const Var<double>> p) { return workloads::w3_rosenbrock(p); });
  std::vector<double> out(x.size());
  const auto wrapper = [&] { tinygrad::gradient(rosenbrock, x, std::span<double>(out)); };
  // by hand, wrapper, by hand again: the mean of the two by-hand runs is the
  // baseline, so that neither side always runs right after the other.
  const auto ns = harness::compare(
      state, 1, [&] { by_hand(); }, Contender{"wrapper", wrapper},
      Contender{"by_hand_again", [&] { by_hand(); }});
  state.counters["wrapper/by_hand"] = 2 * ns[0] / (state.counters["primal_ns"] + ns[1]);
}
BENCHMARK(BM_gradient_wrapper_vs_tape);

void analytic_rosenbrock_hessian(const std::vector<double>& x, std::vector<double>& h) {
  const std::size_t n = x.size();
  std::fill(h.begin(), h.end(), 0.0);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    h[i * n + i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
    h[i * n + i + 1] -= 400.0 * x[i];
    h[(i + 1) * n + i] -= 400.0 * x[i];
    h[(i + 1) * n + i + 1] += 200.0;
  }
}

void BM_hessian_vs_analytic(benchmark::State& state) {
  const auto x = workloads::w3_point(100);
  std::vector<double> h(x.size() * x.size());
  harness::compare(
      state, 1, [&] { analytic_rosenbrock_hessian(x, h); },
      Contender{"hessian", [&] { benchmark::DoNotOptimize(tinygrad::hessian(rosenbrock, x)); }});
}
BENCHMARK(BM_hessian_vs_analytic);

void BM_hvp_vs_two_gradients(benchmark::State& state) {
  const auto x = workloads::w3_point(10'000);
  const std::vector<double> v(x.size(), 1.0);
  std::vector<double> out(x.size());
  harness::compare(
      state, 1,
      [&] {
        tinygrad::gradient(rosenbrock, x, std::span<double>(out));
        tinygrad::gradient(rosenbrock, x, std::span<double>(out));
      },
      Contender{"hvp", [&] { benchmark::DoNotOptimize(tinygrad::hvp(rosenbrock, x, v)); }});
}
BENCHMARK(BM_hvp_vs_two_gradients);

}  // namespace

BENCHMARK_MAIN();
