// SPDX-License-Identifier: MIT
// The activation kernels (forward and backward<Policy> over arrays) for every
// built-in policy, float and double, at 1024 (L1), 65536 (L2) and 2^24 (DRAM)
// elements, each against a memcpy of the same array and against the naive
// loop over std:: functions, measured in alternating batches in the same run.
//
// Counters: kernel_ns and naive_ns per call, ns_per_element, kernel/copy and
// naive/copy (the ratios the targets are stated in), and naive/kernel. The
// kernel runs with the instruction set tinygrad chooses by default (shown in
// the context lines at the top); where that is not the build's own, a
// fourth contender runs it with InstructionSet::compiled (compiled/copy).
// latency/{sigmoid,tanh,gelu}/*: the time of one scalar call in a dependent
// chain (the tape's case), P::value against the naive loop's formula.
//
// The build makes this program three times: activation_bench (no -march flag:
// the x86-64 baseline, SSE2), activation_bench_x86_64_v3 (AVX2 and FMA) and
// activation_bench_native (this machine's every instruction).

#include "harness.hpp"

#include <tinygrad/var.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <numbers>
#include <span>
#include <string>
#include <vector>

namespace {

/// The textbook loop for each policy: what a user writes without tinygrad.
template <class P>
struct Naive;

template <>
struct Naive<tinygrad::Sigmoid> {
  template <class T>
  static T forward(T x) {
    return T(1) / (T(1) + std::exp(-x));
  }
  template <class T>
  static T backward(T, T y, T dy) {
    return dy * y * (T(1) - y);
  }
};
template <>
struct Naive<tinygrad::Tanh> {
  template <class T>
  static T forward(T x) {
    return std::tanh(x);
  }
  template <class T>
  static T backward(T, T y, T dy) {
    return dy * (T(1) - y * y);
  }
};
template <>
struct Naive<tinygrad::Softplus> {
  template <class T>
  static T forward(T x) {
    return std::log1p(std::exp(x));
  }
  template <class T>
  static T backward(T x, T, T dy) {
    return dy / (T(1) + std::exp(-x));
  }
};
template <>
struct Naive<tinygrad::SiLU> {
  template <class T>
  static T forward(T x) {
    return x / (T(1) + std::exp(-x));
  }
  template <class T>
  static T backward(T x, T, T dy) {
    const T s = T(1) / (T(1) + std::exp(-x));
    return dy * s * (T(1) + x * (T(1) - s));
  }
};
template <>
struct Naive<tinygrad::GELU> {
  template <class T>
  static T forward(T x) {
    return T(0.5) * x * std::erfc(-x / std::numbers::sqrt2_v<T>);
  }
  template <class T>
  static T backward(T x, T, T dy) {
    constexpr T inv_sqrt_2pi = std::numbers::inv_sqrtpi_v<T> / std::numbers::sqrt2_v<T>;
    return dy * (T(0.5) * std::erfc(-x / std::numbers::sqrt2_v<T>) +
                 x * std::exp(-x * x / 2) * inv_sqrt_2pi);
  }
};
template <>
struct Naive<tinygrad::ELU> {
  template <class T>
  static T forward(T x) {
    return x > 0 ? x : std::expm1(x);
  }
  template <class T>
  static T backward(T x, T y, T dy) {
    return x > 0 ? dy : dy * (y + T(1));
  }
};
template <>
struct Naive<tinygrad::ReLU> {
  template <class T>
  static T forward(T x) {
    return std::max(x, T(0));
  }
  template <class T>
  static T backward(T x, T, T dy) {
    return x > 0 ? dy : T(0);
  }
};
template <>
struct Naive<tinygrad::LeakyReLU> {
  template <class T>
  static T forward(T x) {
    return x > 0 ? x : T(0.01) * x;
  }
  template <class T>
  static T backward(T x, T, T dy) {
    return x > 0 ? dy : T(0.01) * dy;
  }
};
template <>
struct Naive<tinygrad::Identity> {
  template <class T>
  static T forward(T x) {
    return x;
  }
  template <class T>
  static T backward(T, T, T dy) {
    return dy;
  }
};

enum class Direction { forward, backward };

/// Arrays for one size: inputs spread over [-10, 10] (both branches of every
/// kink and the busy middle of every curve), outputs, upstream gradients.
template <class T>
struct Arrays {
  explicit Arrays(std::size_t n) : x(n), y(n), dy(n), dx(n) {
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = T(10) * std::sin(T(0.37) * T(i));
      dy[i] = T(1) + T(0.5) * std::cos(T(0.11) * T(i));
    }
  }
  std::vector<T> x, y, dy, dx;
};

template <class P, class T>
void run(benchmark::State& state, Direction direction, std::size_t n) {
  Arrays<T> a(n);
  tinygrad::forward<P>(std::span<const T>(a.x), std::span<T>(a.y));
  // One copy of the array the kernel writes: what any elementwise pass over
  // it costs at least (forward reads x and writes y; the copy reads x and
  // writes dx).
  const auto copy = [&] { std::memcpy(a.dx.data(), a.x.data(), n * sizeof(T)); };
  const auto kernel = [&] {
    if (direction == Direction::forward) {
      tinygrad::forward<P>(std::span<const T>(a.x), std::span<T>(a.y));
    } else {
      tinygrad::backward<P>(std::span<const T>(a.x), std::span<const T>(a.y),
                            std::span<const T>(a.dy), std::span<T>(a.dx));
    }
  };
  const auto compiled = [&] {
    constexpr auto set = tinygrad::InstructionSet::compiled;
    if (direction == Direction::forward) {
      tinygrad::forward<P>(std::span<const T>(a.x), std::span<T>(a.y), set);
    } else {
      tinygrad::backward<P>(std::span<const T>(a.x), std::span<const T>(a.y),
                            std::span<const T>(a.dy), std::span<T>(a.dx), set);
    }
  };
  const auto naive = [&] {
    if (direction == Direction::forward) {
      for (std::size_t i = 0; i < n; ++i) {
        a.y[i] = Naive<P>::forward(a.x[i]);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        a.dx[i] = Naive<P>::backward(a.x[i], a.y[i], a.dy[i]);
      }
    }
  };
  const std::size_t batch = std::max<std::size_t>(1, (1u << 16) / n);
  const harness::Contender copy_contender{"copy", copy};
  const harness::Contender kernel_contender{"kernel", kernel};
  const harness::Contender naive_contender{"naive", naive};
  double kernel_ns = 0;
  double naive_ns = 0;
  if (tinygrad::kernel_instruction_set() == tinygrad::InstructionSet::compiled) {
    const auto ns =
        harness::compare_to(state, batch, copy_contender, kernel_contender, naive_contender);
    kernel_ns = ns[0];
    naive_ns = ns[1];
  } else {
    const auto ns = harness::compare_to(state, batch, copy_contender, kernel_contender,
                                        naive_contender, harness::Contender{"compiled", compiled});
    kernel_ns = ns[0];
    naive_ns = ns[1];
  }
  state.counters["ns_per_element"] = kernel_ns / static_cast<double>(n);
  state.counters["naive/kernel"] = naive_ns / kernel_ns;
}

template <class P, class T>
void register_policy(const char* type) {
  for (const Direction direction : {Direction::forward, Direction::backward}) {
    for (const std::size_t n : {std::size_t{1024}, std::size_t{65536}, std::size_t{1} << 24}) {
      const std::string name =
          std::string(direction == Direction::forward ? "forward" : "backward") + "/" +
          tinygrad::detail::policy_name<P>() + "/" + type + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), [direction, n](benchmark::State& state) {
        run<P, T>(state, direction, n);
      })->Unit(benchmark::kMicrosecond);
    }
  }
}

template <class... P>
void register_all() {
  (register_policy<P, float>("float"), ...);
  (register_policy<P, double>("double"), ...);
}

/// Latency: a chain of dependent scalar calls, as on the tape, where each W1
/// layer's sigmoid waits for the previous one. tinygrad's P::value against
/// the naive loop's formula (Naive<P>::forward), counter `policy/naive`.
template <class P, class T>
void latency(benchmark::State& state) {
  constexpr int chain = 1000;
  T sink = 0;
  const auto run_chain = [&](auto f) {
    T x = T(0.3);
    for (int i = 0; i < chain; ++i) {
      x = f(x) - T(0.2);  // stays within (-1, 1) for these policies: ordinary arguments
    }
    sink += x;
  };
  harness::compare_to(
      state, 100,
      harness::Contender{"naive", [&] { run_chain([](T x) { return Naive<P>::forward(x); }); }},
      harness::Contender{"policy", [&] { run_chain([](T x) { return P::value(x); }); }});
  benchmark::DoNotOptimize(sink);
  state.counters["ns_per_call_policy"] = state.counters["policy_ns"] / chain;
}

template <class... Policies>
void register_latencies() {
  (benchmark::RegisterBenchmark((std::string("latency/") + Policies::name + "/float").c_str(),
                                latency<Policies, float>),
   ...);
  (benchmark::RegisterBenchmark((std::string("latency/") + Policies::name + "/double").c_str(),
                                latency<Policies, double>),
   ...);
}

}  // namespace

int main(int argc, char** argv) {
  if (!harness::processor_supports_this_build()) {
    std::puts(
        "activation_bench: this build needs AVX2/FMA (or AVX-512) and this processor lacks "
        "them; nothing measured.");
    return 0;
  }
  register_all<tinygrad::Sigmoid, tinygrad::Tanh, tinygrad::Softplus, tinygrad::SiLU,
               tinygrad::GELU, tinygrad::ELU, tinygrad::ReLU, tinygrad::LeakyReLU,
               tinygrad::Identity>();
  register_latencies<tinygrad::Sigmoid, tinygrad::Tanh, tinygrad::GELU>();
  benchmark::AddCustomContext("kernel instruction set",
                              tinygrad::instruction_set_name(tinygrad::kernel_instruction_set()));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
