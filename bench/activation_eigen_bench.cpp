// SPDX-License-Identifier: MIT
// tinygrad's sigmoid and tanh kernels against Eigen's array logistic() and
// tanh(), float and double, at 1024, 65536 and 2^24 elements, with a memcpy of
// the same array as the baseline, all in alternating batches of one run.
// Built only where Eigen 3 is installed (Debian: libeigen3-dev), for the same
// three instruction sets as activation_bench.
//
// Counters: copy_ns, tinygrad_ns, eigen_ns, tinygrad/copy, eigen/copy,
// eigen/tinygrad, and the largest error of each over the benchmark's inputs in
// ulp of the exact value (tinygrad_max_ulp, eigen_max_ulp).

#include "harness.hpp"

#include <tinygrad/var.hpp>

#include <benchmark/benchmark.h>
#include <Eigen/Core>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace {

enum class Function { sigmoid, tanh };

long double exact(Function f, long double x) {
  if (f == Function::tanh) {
    return std::tanh(x);
  }
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}

/// The largest |y - f(x)| in ulp of f(x), over results that are normal numbers.
template <class T>
double max_ulp(Function f, const std::vector<T>& x, const std::vector<T>& y) {
  long double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double e = exact(f, x[i]);
    if (std::abs(e) < std::numeric_limits<T>::min()) {
      continue;
    }
    int exponent = 0;
    std::frexp(e, &exponent);
    const long double ulp = std::ldexp(1.0L, exponent - std::numeric_limits<T>::digits);
    worst = std::max(worst, std::abs(static_cast<long double>(y[i]) - e) / ulp);
  }
  return static_cast<double>(worst);
}

template <class T>
void run(benchmark::State& state, Function f, std::size_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  std::vector<T> x(n);
  std::vector<T> y(n);
  std::vector<T> copy_target(n);
  // [-20, 20]: every region of both functions, the saturated tails included.
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = T(20) * std::sin(T(0.37) * T(i));
  }
  const Eigen::Map<const Array> x_eigen(x.data(), static_cast<Eigen::Index>(n));
  Eigen::Map<Array> y_eigen(y.data(), static_cast<Eigen::Index>(n));

  const auto copy = [&] { std::memcpy(copy_target.data(), x.data(), n * sizeof(T)); };
  const auto ours = [&] {
    if (f == Function::sigmoid) {
      tinygrad::forward<tinygrad::Sigmoid>(std::span<const T>(x), std::span<T>(y));
    } else {
      tinygrad::forward<tinygrad::Tanh>(std::span<const T>(x), std::span<T>(y));
    }
  };
  const auto eigen = [&] {
    if (f == Function::sigmoid) {
      y_eigen = x_eigen.logistic();
    } else {
      y_eigen = x_eigen.tanh();
    }
  };
  const std::size_t batch = std::max<std::size_t>(1, (1u << 16) / n);
  const auto ns =
      harness::compare_to(state, batch, harness::Contender{"copy", copy},
                          harness::Contender{"tinygrad", ours}, harness::Contender{"eigen", eigen});
  state.counters["eigen/tinygrad"] = ns[1] / ns[0];
  const std::size_t checked = std::min<std::size_t>(n, 1u << 16);  // enough inputs to see the worst
  const std::vector<T> x_checked(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(checked));
  ours();
  state.counters["tinygrad_max_ulp"] = max_ulp(
      f, x_checked, std::vector<T>(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(checked)));
  eigen();
  state.counters["eigen_max_ulp"] = max_ulp(
      f, x_checked, std::vector<T>(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(checked)));
}

template <class T>
void register_type(const char* type) {
  for (const Function f : {Function::sigmoid, Function::tanh}) {
    for (const std::size_t n : {std::size_t{1024}, std::size_t{65536}, std::size_t{1} << 24}) {
      const std::string name = std::string(f == Function::sigmoid ? "sigmoid" : "tanh") + "/" +
                               type + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), [f, n](benchmark::State& state) {
        run<T>(state, f, n);
      })->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!harness::processor_supports_this_build()) {
    std::puts(
        "activation_eigen_bench: this build needs instructions this processor lacks; "
        "nothing measured.");
    return 0;
  }
  register_type<float>("float");
  register_type<double>("double");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
