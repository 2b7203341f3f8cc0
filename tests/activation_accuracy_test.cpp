// SPDX-License-Identifier: MIT
// The accuracy the activation kernels promise, measured in ulp of the exact
// result: sigmoid and tanh within 2, softplus, SiLU, GELU and ELU within 4,
// wherever the result is a normal number; outputs inside the function's
// range. By default every 61st float of [-100, 100] and 10^5 doubles; the
// test cases named "full sweep" visit every float of [-100, 100] and 3 x 10^7
// doubles (ctest label "full", which CI runs).
//
// References: float results against the double formulas of the C library
// (their error, about 2^-52, is invisible at float's 2^-24), double results
// against the long double formulas.
//
// Every instruction set the kernels can run with here is measured against
// the same reference values (instruction_set.hpp): the compiled copy and,
// where the processor has them, the AVX2 and AVX-512 copies.

#include <tinygrad/var.hpp>

#include "support/instruction_sets.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

using Long = long double;

template <class R>
R sigmoid_reference(R x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}

/// The exact function in the reference type R (double for float inputs, long
/// double for double inputs).
template <class P, class R>
R reference(R x) {
  using std::abs;
  if constexpr (std::is_same_v<P, tinygrad::Sigmoid>) {
    return sigmoid_reference(x);
  } else if constexpr (std::is_same_v<P, tinygrad::Tanh>) {
    return std::tanh(x);
  } else if constexpr (std::is_same_v<P, tinygrad::Softplus>) {
    return (x > 0 ? x : R(0)) + std::log1p(std::exp(-abs(x)));
  } else if constexpr (std::is_same_v<P, tinygrad::SiLU>) {
    return x * sigmoid_reference(x);
  } else if constexpr (std::is_same_v<P, tinygrad::GELU>) {
    return x * std::erfc(-x / std::sqrt(R(2))) / 2;
  } else {
    static_assert(std::is_same_v<P, tinygrad::ELU>);
    return x > 0 ? x : std::expm1(x);
  }
}

template <class P>
constexpr Long ulp_bound =
    std::is_same_v<P, tinygrad::Sigmoid> || std::is_same_v<P, tinygrad::Tanh> ? 2 : 4;

/// The unit in the last place of T at the exact value (given in the wider
/// type R); 0 where the exact value is below T's normal range (no bound is
/// stated there).
template <class T, class R>
R ulp_at(R exact) {
  if (std::abs(exact) < R(std::numeric_limits<T>::min())) {
    return 0;
  }
  // exact = m 2^e with m in [0.5, 1), so its ulp in T is 2^(e - digits).
  constexpr int digits = std::numeric_limits<T>::digits;
  if constexpr (std::is_same_v<R, double>) {  // the hot path of the float sweep: no libm
    const int e = static_cast<int>((std::bit_cast<std::uint64_t>(exact) >> 52) & 0x7ff) - 1022;
    return std::bit_cast<double>(static_cast<std::uint64_t>(e - digits + 1023) << 52);
  } else {
    int e = 0;
    std::frexp(exact, &e);
    return std::ldexp(R(1), e - digits);
  }
}

/// Whether y lies in the closure of the function's range.
template <class P, class T>
bool in_range(T y, T x) {
  if constexpr (std::is_same_v<P, tinygrad::Sigmoid>) {
    return y >= 0 && y <= 1;
  } else if constexpr (std::is_same_v<P, tinygrad::Tanh>) {
    return y >= -1 && y <= 1 && (y == 0 || std::signbit(y) == std::signbit(x));
  } else if constexpr (std::is_same_v<P, tinygrad::Softplus>) {
    return y >= 0 && y >= x;
  } else if constexpr (std::is_same_v<P, tinygrad::ELU>) {
    return y >= -1;
  } else {  // SiLU and GELU have minima of about -0.2785 and -0.1700
    return y >= T(-0.28) && (x < 0 || y <= x);
  }
}

struct Worst {
  double ulps = 0;
  double at = 0;
  std::size_t out_of_range = 0;
  double out_of_range_at = 0;
  void merge(const Worst& other) {
    if (other.ulps > ulps) {
      ulps = other.ulps;
      at = other.at;
    }
    if (other.out_of_range > 0) {
      out_of_range += other.out_of_range;
      out_of_range_at = other.out_of_range_at;
    }
  }
};

/// The worst found for each instruction set, indexed by its value.
using Worsts = std::array<Worst, 3>;

void merge(Worsts& into, const Worsts& other) {
  for (std::size_t set = 0; set < into.size(); ++set) {
    into[set].merge(other[set]);
  }
}

/// Runs the forward kernel over `inputs` with every available instruction
/// set and compares each output with the one reference value.
template <class P, class T>
void measure(std::span<const T> inputs, std::vector<std::vector<T>>& outputs, Worsts& worsts) {
  using R = std::conditional_t<std::is_same_v<T, float>, double, Long>;
  static const std::vector<tinygrad::InstructionSet> sets =
      tinygrad_test::available_instruction_sets();
  outputs.resize(sets.size());
  for (std::size_t k = 0; k < sets.size(); ++k) {
    outputs[k].resize(inputs.size());
    tinygrad::forward<P>(inputs, std::span<T>(outputs[k]), sets[k]);
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const T x = inputs[i];
    const R exact = reference<P>(R(x));
    const R ulp = ulp_at<T>(exact);
    for (std::size_t k = 0; k < sets.size(); ++k) {
      Worst& worst = worsts[static_cast<std::size_t>(sets[k])];
      const T y = outputs[k][i];
      // |y - exact| > worst * ulp: a division only for a new worst. A NaN y
      // never counts here; in_range reports it.
      const R deviation = std::abs(R(y) - exact);
      if (ulp != 0 && deviation > R(worst.ulps) * ulp) {
        worst.ulps = double(deviation / ulp);
        worst.at = double(x);
      }
      if (!in_range<P>(y, x)) {
        ++worst.out_of_range;
        worst.out_of_range_at = double(x);
      }
    }
  }
}

/// Every stride-th float of [-100, 100], split over two threads.
template <class P>
Worsts float_sweep(std::uint32_t stride) {
  static constexpr std::uint32_t last = std::bit_cast<std::uint32_t>(100.0f);  // -100 less its sign
  const auto run = [stride](std::uint32_t sign, Worsts& result) {
    std::vector<float> inputs;
    std::vector<std::vector<float>> outputs;
    Worsts worst;  // this thread's own, written back once
    for (std::uint64_t bits = 0; bits <= last;) {
      inputs.clear();
      for (; inputs.size() < 65536 && bits <= last; bits += stride) {
        inputs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(bits) | sign));
      }
      measure<P>(std::span<const float>(inputs), outputs, worst);
    }
    result = worst;
  };
  Worsts positive;
  Worsts negative;
  std::thread other(run, 0x80000000u, std::ref(negative));
  run(0, positive);
  other.join();
  merge(positive, negative);
  return positive;
}

/// `count` doubles: half uniform in [-750, 750] (the whole range where the
/// functions are not yet constant or linear), half in [-20, 20].
template <class P>
Worsts double_sample(std::size_t count) {
  std::mt19937_64 random(20261126);
  std::uniform_real_distribution<double> wide(-750.0, 750.0);
  std::uniform_real_distribution<double> middle(-20.0, 20.0);
  std::vector<double> inputs;
  std::vector<std::vector<double>> outputs;
  Worsts worst;
  for (std::size_t done = 0; done < count;) {
    inputs.clear();
    for (; inputs.size() < 65536 && done < count; ++done) {
      inputs.push_back(done % 2 == 0 ? wide(random) : middle(random));
    }
    measure<P>(std::span<const double>(inputs), outputs, worst);
  }
  return worst;
}

template <class P>
void check(const Worsts& worsts, const char* type) {
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    const Worst& worst = worsts[static_cast<std::size_t>(set)];
    const std::string what = std::string(tinygrad::detail::policy_name<P>()) + " " + type + " (" +
                             tinygrad::instruction_set_name(set) + ")";
    INFO(what, ": worst ", double(worst.ulps), " ulp at x = ", worst.at, "; ", worst.out_of_range,
         " outputs out of range (last at x = ", worst.out_of_range_at, ")");
    CHECK(worst.ulps <= ulp_bound<P>);
    CHECK(worst.out_of_range == 0);
    MESSAGE(what, ": worst ", double(worst.ulps), " ulp at x = ", worst.at);
  }
}

}  // namespace

#define TINYGRAD_SMOOTH_POLICIES                                                         \
  tinygrad::Sigmoid, tinygrad::Tanh, tinygrad::Softplus, tinygrad::SiLU, tinygrad::GELU, \
      tinygrad::ELU

TEST_CASE_TEMPLATE("every 61st float of [-100, 100] within the stated ulp", P,
                   TINYGRAD_SMOOTH_POLICIES) {
  check<P>(float_sweep<P>(61), "float");
}

TEST_CASE_TEMPLATE("10^5 doubles within the stated ulp", P, TINYGRAD_SMOOTH_POLICIES) {
  check<P>(double_sample<P>(100'000), "double");
}

TEST_CASE_TEMPLATE("full sweep: every float of [-100, 100] within the stated ulp", P,
                   TINYGRAD_SMOOTH_POLICIES) {
  check<P>(float_sweep<P>(1), "float");
}

TEST_CASE_TEMPLATE("full sweep: 3 x 10^7 doubles within the stated ulp", P,
                   TINYGRAD_SMOOTH_POLICIES) {
  check<P>(double_sample<P>(30'000'000), "double");
}
