// SPDX-License-Identifier: MIT
#pragma once

// Measures a primal computation and its gradients in alternating batches
// inside one Google Benchmark run, so that every figure is a ratio of times
// taken under the same machine load. A benchmark iteration is one batch of
// each; the counters carry the per-call figures.

#include <tinygrad/var.hpp>

#include <benchmark/benchmark.h>
#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace harness {

using Clock = std::chrono::steady_clock;

/// A named way to compute the gradient; `run()` computes one.
template <class F>
struct Contender {
  const char* name;
  F run;
};
template <class F>
Contender(const char*, F) -> Contender<F>;

/// Runs `baseline` and every contender `batch` times per iteration and sets
/// the counters `<baseline>_ns`, `<name>_ns` and `<name>/<baseline>`. Returns
/// the nanoseconds per call of each contender, in order.
/// Runs `work` `batch` times; returns how long that took. Out of line, once
/// per kind of work, so that each one's code depends on nothing else in the
/// benchmark: inlined, W3's primal took 16 µs in one build and 26 µs in
/// another that differed only in the library's code beside it (g++ 12 kept
/// the running sum in a general register there, a round trip per term).
template <class Work>
[[gnu::noinline]] Clock::duration time_batch(std::size_t batch, Work& work) {
  const auto start = Clock::now();
  for (std::size_t k = 0; k < batch; ++k) {
    work();
    benchmark::ClobberMemory();
  }
  return Clock::now() - start;
}

template <class B, class... F>
std::array<double, sizeof...(F)> compare_to(benchmark::State& state, std::size_t batch,
                                            Contender<B> baseline, Contender<F>... contenders) {
  std::array<Clock::duration, 1 + sizeof...(F)> totals{};
  const auto time_batch = [&](std::size_t slot, auto& work) {
    totals[slot] += harness::time_batch(batch, work);
  };
  for (auto _ : state) {
    time_batch(0, baseline.run);
    std::size_t slot = 1;
    (time_batch(slot++, contenders.run), ...);
  }
  const double calls = static_cast<double>(state.iterations()) * static_cast<double>(batch);
  const auto ns = [&](std::size_t slot) {
    return std::chrono::duration<double, std::nano>(totals[slot]).count() / calls;
  };
  const std::string baseline_name = baseline.name;
  state.counters[baseline_name + "_ns"] = ns(0);
  std::array<double, sizeof...(F)> result{};
  std::size_t slot = 1;
  (
      [&](const char* name) {
        result[slot - 1] = ns(slot);
        state.counters[std::string(name) + "_ns"] = ns(slot);
        state.counters[std::string(name) + "/" + baseline_name] = ns(slot) / ns(0);
        ++slot;
      }(contenders.name),
      ...);
  return result;
}

/// compare_to with the primal computation as the baseline: counters
/// `primal_ns`, `<name>_ns` and `<name>/primal`.
template <class Primal, class... F>
std::array<double, sizeof...(F)> compare(benchmark::State& state, std::size_t batch, Primal primal,
                                         Contender<F>... contenders) {
  return compare_to(state, batch, Contender{"primal", primal}, contenders...);
}

/// Whether this processor has the instructions the program was compiled for,
/// so that a benchmark built with -march=x86-64-v3 or native can refuse to
/// run, with a message, instead of dying of SIGILL partway through.
inline bool processor_supports_this_build() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__AVX512F__)
  if (!__builtin_cpu_supports("avx512f")) {
    return false;
  }
#endif
#if defined(__AVX2__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    return false;
  }
#endif
#endif
  return true;
}

/// A batch that takes roughly the same time whatever the workload's size.
inline std::size_t batch_for(std::size_t operations) {
  return std::max<std::size_t>(1, 20'000 / std::max<std::size_t>(1, operations));
}

/// tinygrad's gradient of `loss(parameters as Vars)`: everything needed to
/// repeat it (clear the tape, record the leaves and the computation, sweep
/// back, read the gradients).
template <class Loss>
struct TinygradGradient {
  TinygradGradient(std::span<const double> parameters, Loss loss_function)
      : values(parameters.begin(), parameters.end()),
        grads(parameters.size()),
        loss(loss_function) {}

  void operator()() {
    tape.clear();
    tinygrad::record_leaves(std::span<const double>(values), leaves);
    loss(std::span<const tinygrad::Var<double>>(leaves)).backward();
    tinygrad::read_gradients(std::span<const tinygrad::Var<double>>(leaves),
                             std::span<double>(grads));
  }

  /// Sets `ops` (the loss's Var operations), `entries` (the tape entries
  /// they recorded: fewer, where operations fused), `ns_per_op` and
  /// `bytes_per_op`. Counts the operations on a recording with fusion off.
  void report(benchmark::State& state, double gradient_ns) {
    tape.fuse_operations(false);
    (*this)();
    const double operations = static_cast<double>(tape.statistics().entries - leaves.size());
    tape.fuse_operations(true);
    (*this)();
    const auto s = tape.statistics();
    state.counters["ops"] = operations;
    state.counters["entries"] = static_cast<double>(s.entries - leaves.size());
    state.counters["ns_per_op"] = gradient_ns / operations;
    state.counters["bytes_per_op"] = static_cast<double>(s.recording_bytes) / operations;
  }

  tinygrad::Tape<double> tape;
  std::vector<double> values;
  std::vector<tinygrad::Var<double>> leaves;
  std::vector<double> grads;
  Loss loss;
};

inline double tinygrad_sigmoid(double z) {
  return tinygrad::Sigmoid::value(z);
}
inline tinygrad::Var<double> tinygrad_sigmoid(const tinygrad::Var<double>& z) {
  return tinygrad::sigmoid(z);
}
inline tinygrad::Var<double> tinygrad_sigmoid(tinygrad::Var<double>&& z) {
  return tinygrad::sigmoid(std::move(z));  // a temporary: the sigmoid may fuse into it
}

/// The sigmoid for any scalar type: tinygrad's policy on double and Var.
/// Forwards a temporary as one, as a direct call of tinygrad::sigmoid would.
struct TinygradSigmoid {
  template <class S>
  std::remove_cvref_t<S> operator()(S&& z) const {
    return tinygrad_sigmoid(std::forward<S>(z));
  }
};

}  // namespace harness
