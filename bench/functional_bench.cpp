// SPDX-License-Identifier: MIT
// What the functional API costs against doing the same by hand, each pair
// interleaved in one run (counters are ratios to the first, the baseline):
//   gradient of Rosenbrock, N = 10^4: tinygrad::gradient into a span against
//     recording on a Tape by hand (`wrapper/by_hand`);
//   jvp against the primal (f on double), on Rosenbrock N = 10^4 and the
//     16-64-64-1 MLP, beside its two parts: f on Duals written before the
//     timing, and the writing of the Duals alone;
//   hvp against one gradient, on the same two, with the two other ways to
//     get H v beside it: reverse over reverse (Var<Var<double>>, one nested
//     recording and two sweeps) and reverse over forward (Dual<Var<double>>,
//     the directional derivative recorded and swept back);
//   hessian of Rosenbrock, N = 100, against its analytic Hessian written
//     into a zeroed dense n x n array, beside a trace's Hessian (the trace
//     made once, `trace_hessian`, and made anew each time,
//     `trace_and_hessian`);
//   sparse_hessian of Rosenbrock against its analytic Hessian written as
//     the same coordinate triplets, at N = 100 and N = 10^4, beside a
//     trace's (made once).

#include "harness.hpp"
#include "workloads.hpp"

#include <benchmark/benchmark.h>
#include <cmath>
#include <cstddef>
#include <span>
#include <tinygrad/functional.hpp>
#include <tinygrad/trace.hpp>
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
  tinygrad::Trace<double> traced = tinygrad::trace(rosenbrock, x);
  harness::compare_to(
      state, 1, Contender{"analytic", [&] { analytic_rosenbrock_hessian(x, h); }},
      Contender{"hessian", [&] { benchmark::DoNotOptimize(tinygrad::hessian(rosenbrock, x)); }},
      Contender{"trace_hessian", [&] { benchmark::DoNotOptimize(traced.hessian(x)); }},
      Contender{"trace_and_hessian",
                [&] { benchmark::DoNotOptimize(tinygrad::trace(rosenbrock, x).hessian(x)); }});
}
BENCHMARK(BM_hessian_vs_analytic);

// ---- Forward mode ----

/// jvp's two parts, timed apart: writing x and v as the Duals that f takes
/// (`seeding`), and f on Duals written before the timing (`duals_given`).
/// The seeding writes two numbers per input where the primal reads one,
/// so where f does little per input (the MLP: one multiply-add) it alone
/// costs about as much as the primal.
struct JvpParts {
  std::vector<tinygrad::Dual<double>> duals;
  JvpParts(const std::vector<double>& x, const std::vector<double>& v) { seed(x, v); }
  void seed(const std::vector<double>& x, const std::vector<double>& v) {
    duals.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      duals[i] = tinygrad::Dual<double>(x[i], v[i]);
    }
  }
  [[nodiscard]] std::span<const tinygrad::Dual<double>> point() const { return duals; }
};

void BM_jvp_vs_primal_rosenbrock(benchmark::State& state) {
  const auto x = workloads::w3_point(10'000);
  const std::vector<double> v(x.size(), 1.0);
  JvpParts parts(x, v);         // seeded anew in each call of `seeding`
  const JvpParts seeded(x, v);  // seeded once, for `duals_given`
  harness::compare(
      state, 1,
      [&] { benchmark::DoNotOptimize(workloads::w3_rosenbrock(std::span<const double>(x))); },
      Contender{"jvp", [&] { benchmark::DoNotOptimize(tinygrad::jvp(rosenbrock, x, v)); }},
      Contender{"duals_given",
                [&] { benchmark::DoNotOptimize(workloads::w3_rosenbrock(seeded.point())); }},
      Contender{"seeding", [&] {
                  parts.seed(x, v);
                  benchmark::DoNotOptimize(parts.duals.data());
                }});
}
BENCHMARK(BM_jvp_vs_primal_rosenbrock);

/// The MLP (W2) as a function of its parameters, on any number type, with
/// its scratch for the hidden layers.
struct Mlp {
  std::vector<double> input = workloads::w2_input();
  template <class S>
  S operator()(std::span<const S> p) const {
    thread_local std::vector<S> h1(workloads::w2_hidden);
    thread_local std::vector<S> h2(workloads::w2_hidden);
    return workloads::w2_loss<S>(p, input, h1, h2,
                                 [](const auto& z) { return tinygrad::sigmoid(z); });
  }
};

double logistic(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

void BM_jvp_vs_primal_mlp(benchmark::State& state) {
  const auto p = workloads::w2_initial_parameters();
  const std::vector<double> v(p.size(), 1.0);
  const auto input = workloads::w2_input();
  std::vector<double> h1(workloads::w2_hidden);
  std::vector<double> h2(workloads::w2_hidden);
  const Mlp mlp;
  const auto f = [&](auto q) { return mlp(q); };
  JvpParts parts(p, v);
  const JvpParts seeded(p, v);
  harness::compare(
      state, 1,
      [&] { benchmark::DoNotOptimize(workloads::w2_loss<double>(p, input, h1, h2, logistic)); },
      Contender{"jvp", [&] { benchmark::DoNotOptimize(tinygrad::jvp(f, p, v)); }},
      Contender{"duals_given", [&] { benchmark::DoNotOptimize(mlp(seeded.point())); }},
      Contender{"seeding", [&] {
                  parts.seed(p, v);
                  benchmark::DoNotOptimize(parts.duals.data());
                }});
}
BENCHMARK(BM_jvp_vs_primal_mlp);

// ---- Hessian-vector products ----

/// The tapes of the two hand-written ways below, kept across calls (as the
/// functional API keeps its own), so that no call allocates once warm.
struct HvpTapes {
  tinygrad::Tape<double> inner;
  tinygrad::Tape<Var<double>> outer;
  std::vector<Var<double>> leaves;
  std::vector<Var<Var<double>>> nested;
  std::vector<Var<double>> gradient;
  std::vector<tinygrad::Dual<Var<double>>> point;
  std::vector<double> out;
};

/// H v by reverse over reverse: f recorded on Var<Var<double>>, the outer
/// sweep recorded on the inner tape, the inner tape swept from gradient . v.
template <class F>
const std::vector<double>& hvp_reverse_over_reverse(F& f, const std::vector<double>& x,
                                                    const std::vector<double>& v, HvpTapes& t) {
  t.inner.clear();
  t.outer.clear();
  tinygrad::record_leaves(x, t.leaves);
  tinygrad::record_leaves(t.leaves, t.nested);
  f(std::span<const Var<Var<double>>>(t.nested)).backward();
  t.gradient.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    t.gradient[i] = t.nested[i].grad();
  }
  tinygrad::dot(t.gradient, v).backward();
  t.out.resize(x.size());
  tinygrad::read_gradients(t.leaves, t.out);
  return t.out;
}

/// H v by reverse over forward: f evaluated on Dual<Var<double>>s whose
/// tangents are v, so that the tangent of f is the directional derivative
/// gradient . v recorded on the tape, and one sweep from it.
template <class F>
const std::vector<double>& hvp_reverse_over_forward(F& f, const std::vector<double>& x,
                                                    const std::vector<double>& v, HvpTapes& t) {
  using D = tinygrad::Dual<Var<double>>;
  t.inner.clear();
  tinygrad::record_leaves(x, t.leaves);
  t.point.clear();
  for (std::size_t i = 0; i < x.size(); ++i) {
    t.point.emplace_back(t.leaves[i], tinygrad::constant(v[i]));
  }
  f(std::span<const D>(t.point)).tangent().backward();
  t.out.resize(x.size());
  tinygrad::read_gradients(t.leaves, t.out);
  return t.out;
}

void BM_hvp_vs_gradient_rosenbrock(benchmark::State& state) {
  const auto x = workloads::w3_point(10'000);
  const std::vector<double> v(x.size(), 1.0);
  std::vector<double> out(x.size());
  HvpTapes tapes;
  harness::compare_to(
      state, 1,
      Contender{"gradient", [&] { tinygrad::gradient(rosenbrock, x, std::span<double>(out)); }},
      Contender{"hvp", [&] { benchmark::DoNotOptimize(tinygrad::hvp(rosenbrock, x, v)); }},
      Contender{
          "reverse_over_reverse",
          [&] { benchmark::DoNotOptimize(hvp_reverse_over_reverse(rosenbrock, x, v, tapes)); }},
      Contender{"reverse_over_forward", [&] {
                  benchmark::DoNotOptimize(hvp_reverse_over_forward(rosenbrock, x, v, tapes));
                }});
}
BENCHMARK(BM_hvp_vs_gradient_rosenbrock);

// Reverse over forward is left out here: an activation on a Dual<Var<T>>
// would need the policy's derivative as a recorded function, which nothing
// else needs.
void BM_hvp_vs_gradient_mlp(benchmark::State& state) {
  const auto p = workloads::w2_initial_parameters();
  const std::vector<double> v(p.size(), 1.0);
  std::vector<double> out(p.size());
  const Mlp mlp;
  const auto f = [&](auto q) { return mlp(q); };
  HvpTapes tapes;
  harness::compare_to(
      state, 1, Contender{"gradient", [&] { tinygrad::gradient(f, p, std::span<double>(out)); }},
      Contender{"hvp", [&] { benchmark::DoNotOptimize(tinygrad::hvp(f, p, v)); }},
      Contender{"reverse_over_reverse",
                [&] { benchmark::DoNotOptimize(hvp_reverse_over_reverse(f, p, v, tapes)); }});
}
BENCHMARK(BM_hvp_vs_gradient_mlp);

// ---- Sparse Hessians ----

void analytic_rosenbrock_triplets(const std::vector<double>& x,
                                  tinygrad::SparseHessian<double>& h) {
  const std::size_t n = x.size();
  h.size = n;
  h.entries.clear();
  for (std::size_t i = 0; i < n; ++i) {
    const double left = i > 0 ? 200.0 : 0.0;
    const double own = i + 1 < n ? 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0 : 0.0;
    if (i > 0) {
      h.entries.push_back({i, i - 1, -400.0 * x[i - 1]});
    }
    h.entries.push_back({i, i, left + own});
    if (i + 1 < n) {
      h.entries.push_back({i, i + 1, -400.0 * x[i]});
    }
  }
}

void BM_sparse_hessian_vs_analytic(benchmark::State& state) {
  const auto x = workloads::w3_point(static_cast<std::size_t>(state.range(0)));
  tinygrad::SparseHessian<double> h;
  tinygrad::Trace<double> traced = tinygrad::trace(rosenbrock, x);
  const auto ns = harness::compare_to(
      state, 1, Contender{"analytic", [&] { analytic_rosenbrock_triplets(x, h); }},
      Contender{"sparse_hessian",
                [&] { benchmark::DoNotOptimize(tinygrad::sparse_hessian(rosenbrock, x)); }},
      Contender{"trace_sparse_hessian",
                [&] { benchmark::DoNotOptimize(traced.sparse_hessian(x)); }});
  state.counters["sparse_hessian_ns_per_coordinate"] = ns[0] / static_cast<double>(x.size());
  state.counters["trace_sparse_hessian_ns_per_coordinate"] = ns[1] / static_cast<double>(x.size());
}
BENCHMARK(BM_sparse_hessian_vs_analytic)->Arg(100)->Arg(10'000);

}  // namespace

BENCHMARK_MAIN();
