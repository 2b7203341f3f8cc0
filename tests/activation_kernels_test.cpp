// SPDX-License-Identifier: MIT
// The batched activation kernels: forward equals the policy's scalar value()
// bit for bit at every length 0..67 and misaligned start (the vector loops'
// remainders), backward equals the chain rule (against the policy's
// derivative, which activation_test checks against textbook formulas and
// finite differences), in place, edge values, clear errors for mismatched
// sizes and overlaps, and batch recording on the tape equal to element by
// element recording.
//
// Each kernel test runs with every instruction set available here
// (instruction_set.hpp). The compiled one must match the scalar functions bit
// for bit; the others may round differently (fused multiply-adds), so they
// must match them within a few ulp, and match themselves bit for bit whatever
// the length, offset or aliasing.

#include <tinygrad/functional.hpp>
#include <tinygrad/var.hpp>

#include "support/instruction_sets.hpp"
#include "support/square_policy.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

using tinygrad::InstructionSet;
using tinygrad::Tape;
using tinygrad::Var;
using tinygrad_test::available_instruction_sets;

namespace {

#define TINYGRAD_ALL_POLICIES                                                            \
  tinygrad::Sigmoid, tinygrad::Tanh, tinygrad::Softplus, tinygrad::SiLU, tinygrad::GELU, \
      tinygrad::ELU, tinygrad::ReLU, tinygrad::LeakyReLU, tinygrad::Identity,            \
      tinygrad_test::Square

/// Equal bit patterns, or both NaN.
template <class T>
bool same(T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<Bits>(a) == std::bit_cast<Bits>(b);
}

/// What a kernel run with `set` must give where the compiled code gives
/// `scalar`: the same bits with the compiled instruction set; otherwise the
/// same special values (NaN, infinities, zeros with their sign) and finite
/// values within 8 ulp of `scalar` (each is within 4 of the exact value), or
/// within two steps where they are subnormal. A derivative formed from terms
/// larger than itself (near its zero crossings) can differ by 8 ulp of those
/// terms instead: `scale` is their size.
template <class T>
bool agrees(T kernel, T scalar, InstructionSet set, T scale = 0) {
  if (set == InstructionSet::compiled || !std::isfinite(scalar) || scalar == 0) {
    return same(kernel, scalar);
  }
  const T tolerance = 8 * std::numeric_limits<T>::epsilon() * (std::abs(scalar) + scale) +
                      2 * std::numeric_limits<T>::denorm_min();
  return std::abs(kernel - scalar) <= tolerance;
}

/// Inputs covering every region: both signs, the kinks, the tails, the
/// special values, and the middle.
template <class T>
std::vector<T> interesting_inputs() {
  constexpr T inf = std::numeric_limits<T>::infinity();
  constexpr T big = std::numeric_limits<T>::max();
  std::vector<T> x = {T(0),
                      T(-0.0),
                      T(1),
                      T(-1),
                      T(0.5),
                      T(-0.5),
                      T(0.625),
                      T(-0.625),
                      T(3),
                      T(-3),
                      T(9.5),
                      T(-9.5),
                      T(20),
                      T(-20),
                      T(87),
                      T(-87),
                      T(-89),
                      T(-100),
                      T(-104),
                      T(105),
                      T(-750),
                      T(750),
                      big,
                      -big,
                      inf,
                      -inf,
                      std::numeric_limits<T>::quiet_NaN(),
                      std::numeric_limits<T>::denorm_min(),
                      std::numeric_limits<T>::min(),
                      -std::numeric_limits<T>::min()};
  for (int i = 0; i < 200; ++i) {
    x.push_back(T(-25) + T(0.25) * T(i));
  }
  return x;
}

/// A deterministic pseudo-random value in [-12, 12], different per i.
template <class T>
T wiggle(std::size_t i) {
  return T(12) * std::sin(T(0.7) * T(i) + T(0.3));
}

}  // namespace

TEST_CASE_TEMPLATE("forward equals P::value element by element at every length and offset", P,
                   TINYGRAD_ALL_POLICIES) {
  const auto run = [](auto zero, InstructionSet set) {
    using T = decltype(zero);
    for (std::size_t offset = 0; offset < 4; ++offset) {
      for (std::size_t n = 0; n <= 67; ++n) {
        std::vector<T> x(offset + n + 1);
        std::vector<T> y(offset + n + 1, T(-7));
        for (std::size_t i = 0; i < x.size(); ++i) {
          x[i] = wiggle<T>(i);
        }
        tinygrad::forward<P>(std::span<const T>(x).subspan(offset, n),
                             std::span<T>(y).subspan(offset, n), set);
        for (std::size_t i = 0; i < y.size(); ++i) {
          INFO("offset ", offset, ", n ", n, ", i ", i);
          if (i >= offset && i < offset + n) {
            CHECK(agrees(y[i], P::value(x[i]), set));
            T alone = 0;  // the same element as a span of one: no vector loop
            tinygrad::forward<P>(std::span<const T>(&x[i], 1), std::span<T>(&alone, 1), set);
            CHECK(same(y[i], alone));
          } else {
            CHECK(y[i] == T(-7));  // nothing outside the span is written
          }
        }
      }
    }
  };
  for (const InstructionSet set : available_instruction_sets()) {
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    run(0.0f, set);
    run(0.0, set);
  }
}

TEST_CASE_TEMPLATE("forward on edge values equals P::value, in place too", P,
                   TINYGRAD_ALL_POLICIES) {
  const auto run = [](auto zero, InstructionSet set) {
    using T = decltype(zero);
    const std::vector<T> x = interesting_inputs<T>();
    std::vector<T> y(x.size());
    tinygrad::forward<P>(std::span<const T>(x), std::span<T>(y), set);
    std::vector<T> in_place = x;
    tinygrad::forward<P>(std::span<const T>(in_place), std::span<T>(in_place), set);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO("x = ", x[i]);
      CHECK(agrees(y[i], P::value(x[i]), set));
      CHECK(agrees(in_place[i], y[i], set));  // another loop: see backward's in-place test
    }
  };
  for (const InstructionSet set : available_instruction_sets()) {
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    run(0.0f, set);
    run(0.0, set);
  }
}

TEST_CASE("the limits and special values the kernels promise") {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {-inf, inf, -0.0f, 0.0f, std::numeric_limits<float>::quiet_NaN()};
  std::vector<float> y(x.size());
  for (const InstructionSet set : available_instruction_sets()) {
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(x), std::span<float>(y), set);
    CHECK(y[0] == 0.0f);
    CHECK(y[1] == 1.0f);
    CHECK(y[2] == 0.5f);
    CHECK(y[3] == 0.5f);
    CHECK(std::isnan(y[4]));
    tinygrad::forward<tinygrad::Tanh>(std::span<const float>(x), std::span<float>(y), set);
    CHECK(y[0] == -1.0f);
    CHECK(y[1] == 1.0f);
    CHECK((y[2] == 0.0f && std::signbit(y[2])));  // tanh(-0) = -0
    CHECK((y[3] == 0.0f && !std::signbit(y[3])));
    CHECK(std::isnan(y[4]));
  }
}

TEST_CASE("sigmoid underflows gradually instead of flushing to zero") {
  // sigmoid(x) = e^x / (1 + e^x) is below FLT_MIN for x < -87.34 and below
  // half the smallest subnormal for x < -103.97; in between it is subnormal,
  // and the kernel must return the subnormal nearest to it (one rounding).
  std::vector<float> x;
  for (float t = -88.0f; t > -104.0f; t -= 0.0625f) {
    x.push_back(t);
  }
  std::vector<float> y(x.size());
  for (const InstructionSet set : available_instruction_sets()) {
    tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(x), std::span<float>(y), set);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double exact = std::exp(double(x[i])) / (1 + std::exp(double(x[i])));
      INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)), ", x = ", x[i],
           ", y = ", y[i], ", exact = ", exact);
      CHECK(y[i] > 0.0f);
      CHECK(y[i] < FLT_MIN);
      // Within one subnormal step (2^-149) of the exact value: the final
      // rounding is half a step, and the error of the unscaled quotient (an
      // ulp of a 24-bit number) adds under 0.2 here; a flush to 0 would be
      // off by millions of steps.
      CHECK(std::abs(double(y[i]) - exact) <= double(std::numeric_limits<float>::denorm_min()));
    }
  }
  const double at_minus_100 = std::exp(-100.0);
  CHECK(double(tinygrad::Sigmoid::value(-100.0f)) == doctest::Approx(at_minus_100).epsilon(0.01));
}

TEST_CASE_TEMPLATE("backward is dy times the derivative, with the promised accuracy", P,
                   TINYGRAD_ALL_POLICIES) {
  const auto run = [](auto zero, InstructionSet set) {
    using T = decltype(zero);
    const std::vector<T> x = interesting_inputs<T>();
    std::vector<T> y(x.size());
    std::vector<T> dy(x.size());
    std::vector<T> dx(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      dy[i] = T(0.75) + wiggle<T>(i) / T(16);
    }
    tinygrad::forward<P>(std::span<const T>(x), std::span<T>(y), set);
    tinygrad::backward<P>(std::span<const T>(x), std::span<const T>(y), std::span<const T>(dy),
                          std::span<T>(dx), set);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO("x = ", x[i]);
      const T expected = dy[i] * P::derivative(x[i]);
      if constexpr (requires { P::backward(x[i], y[i], dy[i]); }) {
        // From y: exact up to the rounding of y, so within a few ulp of 1
        // (times dy) of the derivative, however small the derivative is.
        if (std::isnan(expected)) {
          CHECK(std::isnan(dx[i]));
        } else {
          CHECK(std::abs(dx[i] - expected) <=
                4 * std::numeric_limits<T>::epsilon() * std::abs(dy[i]));
        }
      } else {
        // Compiled: exactly what the tape's sweep forms. The derivatives are
        // sums of terms up to about 1 (times dy).
        CHECK(agrees(dx[i], expected, set, std::abs(dy[i])));
      }
    }
  };
  for (const InstructionSet set : available_instruction_sets()) {
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    run(0.0f, set);
    run(0.0, set);
  }
}

TEST_CASE_TEMPLATE("backward at every length and offset, and in place over dy, x or y", P,
                   TINYGRAD_ALL_POLICIES) {
  using T = double;
  for (const InstructionSet set : available_instruction_sets()) {
    for (std::size_t offset = 0; offset < 3; ++offset) {
      for (std::size_t n = 0; n <= 67; ++n) {
        std::vector<T> x(offset + n);
        std::vector<T> dy(offset + n);
        for (std::size_t i = 0; i < x.size(); ++i) {
          x[i] = wiggle<T>(i);
          dy[i] = wiggle<T>(i + 1000);
        }
        std::vector<T> y(x.size());
        tinygrad::forward<P>(std::span<const T>(x), std::span<T>(y), set);
        const auto sub = [&](std::vector<T>& v) { return std::span<T>(v).subspan(offset, n); };
        const auto csub = [&](std::vector<T>& v) {
          return std::span<const T>(v).subspan(offset, n);
        };
        std::vector<T> dx(x.size(), T(-7));
        tinygrad::backward<P>(csub(x), csub(y), csub(dy), sub(dx), set);
        std::vector<T> over_dy = dy;
        tinygrad::backward<P>(csub(x), csub(y), csub(over_dy), sub(over_dy), set);
        std::vector<T> over_x = x;
        tinygrad::backward<P>(csub(over_x), csub(y), csub(dy), sub(over_x), set);
        std::vector<T> over_y = y;
        tinygrad::backward<P>(csub(x), csub(over_y), csub(dy), sub(over_y), set);
        for (std::size_t i = offset; i < offset + n; ++i) {
          INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)), ", offset ",
               offset, ", n ", n, ", i ", i);
          // In place, the kernel is another loop; with fused multiply-adds,
          // g++ may fuse differently in it.
          CHECK(agrees(over_dy[i], dx[i], set, std::abs(dy[i])));
          CHECK(agrees(over_x[i], dx[i], set, std::abs(dy[i])));
          CHECK(agrees(over_y[i], dx[i], set, std::abs(dy[i])));
          T alone = 0;  // the same element as a span of one: no vector loop
          tinygrad::backward<P>(std::span<const T>(&x[i], 1), std::span<const T>(&y[i], 1),
                                std::span<const T>(&dy[i], 1), std::span<T>(&alone, 1), set);
          CHECK(same(alone, dx[i]));
        }
        for (std::size_t i = 0; i < offset; ++i) {
          CHECK(dx[i] == T(-7));
        }
      }
    }
  }
}

TEST_CASE("mismatched sizes are std::invalid_argument naming the kernel, policy and sizes") {
  std::vector<float> x(5);
  std::vector<float> y(4);
  CHECK_THROWS_WITH_AS(
      tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(x), std::span<float>(y)),
      "tinygrad::forward<sigmoid>: x has 5 elements but y has 4", std::invalid_argument);
  std::vector<float> five(5);
  CHECK_THROWS_WITH_AS(
      tinygrad::backward<tinygrad::Tanh>(std::span<const float>(x), std::span<const float>(five),
                                         std::span<const float>(y), std::span<float>(five)),
      "tinygrad::backward<tanh>: x has 5 elements but dy has 4", std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      tinygrad::backward<tinygrad::ReLU>(std::span<const float>(x), std::span<const float>(five),
                                         std::span<const float>(five), std::span<float>(y)),
      "tinygrad::backward<relu>: x has 5 elements but dx has 4", std::invalid_argument);
  CHECK(y == std::vector<float>(4));  // nothing written
}

TEST_CASE("an output that partially overlaps an input is refused; the same array is in place") {
  std::vector<double> buffer(10, 1.0);
  const std::span<double> all(buffer);
  CHECK_THROWS_WITH_AS(
      tinygrad::forward<tinygrad::ReLU>(std::span<const double>(all.subspan(0, 8)),
                                        all.subspan(1, 8)),
      "tinygrad::forward<relu>: y overlaps x without being the same array; in-place use must "
      "pass the same span for both",
      std::invalid_argument);
  CHECK_THROWS_AS(tinygrad::backward<tinygrad::Sigmoid>(std::span<const double>(all.subspan(0, 4)),
                                                        std::span<const double>(all.subspan(0, 4)),
                                                        std::span<const double>(all.subspan(4, 4)),
                                                        all.subspan(6, 4)),
                  std::invalid_argument);
  CHECK(buffer == std::vector<double>(10, 1.0));  // nothing written
  // Adjacent, not overlapping: fine.
  tinygrad::forward<tinygrad::ReLU>(std::span<const double>(all.subspan(0, 5)), all.subspan(5, 5));
  // Empty spans never overlap anything.
  tinygrad::forward<tinygrad::ReLU>(std::span<const double>(all.subspan(0, 0)), all.subspan(0, 0));
}

TEST_CASE_TEMPLATE("activate<P> over a span of Vars records what element-by-element recording does",
                   P, TINYGRAD_ALL_POLICIES) {
  constexpr std::size_t n = 37;
  std::vector<double> at(n);
  for (std::size_t i = 0; i < n; ++i) {
    at[i] = wiggle<double>(i);
  }
  // Element by element.
  std::vector<double> values_one_by_one(n);
  std::vector<double> gradients_one_by_one(n);
  {
    Tape<double> tape;
    std::vector<Var<double>> x(at.begin(), at.end());
    Var<double> loss = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const Var<double> y = tinygrad::activate<P>(x[i]);
      values_one_by_one[i] = y.value();
      loss += double(i + 1) * y;
    }
    loss.backward();
    for (std::size_t i = 0; i < n; ++i) {
      gradients_one_by_one[i] = x[i].grad();
    }
  }
  // As one batch; and a second time in place over the inputs' own array.
  for (const bool in_place : {false, true}) {
    INFO("in place: ", in_place);
    Tape<double> tape;
    std::vector<Var<double>> x(at.begin(), at.end());
    std::vector<Var<double>> y(in_place ? 0 : n);
    std::vector<Var<double>> inputs = x;  // copies refer to the same leaves
    std::vector<Var<double>>& out = in_place ? inputs : y;
    const std::size_t entries_before = tape.size();
    tinygrad::activate<P>(std::span<const Var<double>>(inputs), std::span<Var<double>>(out));
    CHECK(tape.size() == entries_before + n);  // one entry per element
    Var<double> loss = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(same(out[i].value(), values_one_by_one[i]));
      loss += double(i + 1) * out[i];
    }
    loss.backward();
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(same(x[i].grad(), gradients_one_by_one[i]));
    }
  }
}

TEST_CASE("activate<P> over spans: sizes, second order and misuse") {
  Tape<double> tape;
  std::vector<Var<double>> x = {1.0, 2.0};
  std::vector<Var<double>> y(3);
  CHECK_THROWS_WITH_AS(tinygrad::activate<tinygrad::Tanh>(std::span<const Var<double>>(x),
                                                          std::span<Var<double>>(y)),
                       "tinygrad::activate<tanh>: in has 2 elements but out has 3",
                       std::invalid_argument);

  SUBCASE("Var<Var<double>>: a Hessian through the batch") {
    // f(x) = sum_i sigmoid(x_i): the Hessian is diagonal, sigmoid''(x_i).
    const auto f = [](auto point) {
      using V = typename decltype(point)::value_type;
      std::vector<V> a(point.begin(), point.end());
      tinygrad::activate<tinygrad::Sigmoid>(std::span<const V>(a), std::span<V>(a));
      V sum = 0.0 * a[0];
      for (const V& v : a) {
        sum = sum + v;
      }
      return sum;
    };
    const std::vector<double> at = {0.3, -1.2};
    const tinygrad::Matrix<double> h = tinygrad::hessian(f, at);
    REQUIRE(h.rows() == 2);
    REQUIRE(h.cols() == 2);
    CHECK(h(0, 0) == doctest::Approx(tinygrad::Sigmoid::second_derivative(0.3)).epsilon(1e-14));
    CHECK(h(1, 1) == doctest::Approx(tinygrad::Sigmoid::second_derivative(-1.2)).epsilon(1e-14));
    CHECK(h(0, 1) == 0.0);
    CHECK(h(1, 0) == 0.0);
  }

#ifndef TINYGRAD_NO_CHECKS  // the check itself, compiled out there
  SUBCASE("a Var from a cleared recording is a tape_error") {
    std::vector<Var<double>> stale = {3.0};
    tape.clear();
    std::vector<Var<double>> out(1);
    CHECK_THROWS_AS(tinygrad::activate<tinygrad::ReLU>(std::span<const Var<double>>(stale),
                                                       std::span<Var<double>>(out)),
                    tinygrad::tape_error);
  }
#endif
}
