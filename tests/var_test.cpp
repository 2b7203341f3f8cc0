// SPDX-License-Identifier: MIT
// Var<T>: arithmetic, scalars, compound assignment, comparisons, printing and
// value semantics. Every gradient is checked against a hand-derived formula
// and against central finite differences.

#include <tinygrad/var.hpp>

#include "support/gradient_check.hpp"

#include <doctest/doctest.h>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;

namespace {

using tinygrad_test::check_gradient;

constexpr std::array<std::array<double, 2>, 5> points{
    {{1.5, 2.0}, {-0.75, 3.25}, {4.0, -0.5}, {-2.5, -1.25}, {1e-3, 7.0}}};

}  // namespace

TEST_CASE("Var op Var: + - * / against formulas and finite differences") {
  for (const auto& [x, y] : points) {
    check_gradient([](auto a, auto b) { return a + b; }, [](double, double) { return 1.0; },
                   [](double, double) { return 1.0; }, x, y);
    check_gradient([](auto a, auto b) { return a - b; }, [](double, double) { return 1.0; },
                   [](double, double) { return -1.0; }, x, y);
    check_gradient([](auto a, auto b) { return a * b; }, [](double, double b) { return b; },
                   [](double a, double) { return a; }, x, y);
    check_gradient([](auto a, auto b) { return a / b; }, [](double, double b) { return 1 / b; },
                   [](double a, double b) { return -a / (b * b); }, x, y);
  }
}

TEST_CASE("Var op scalar and scalar op Var, with scalars of every arithmetic type") {
  for (const auto& [x, y] : points) {
    // The scalar side has derivative 0, so its partial is the formula's.
    check_gradient([](auto a, auto b) { return a + 2 - 0.5f * b + b / 4u; },
                   [](double, double) { return 1.0; }, [](double, double) { return -0.5 + 0.25; },
                   x, y);
    check_gradient([](auto a, auto b) { return 3L * a * 2.0 - 1.0 / b + a / 8; },
                   [](double, double) { return 6.0 + 0.125; },
                   [](double, double b) { return 1 / (b * b); }, x, y);
    check_gradient([](auto a, auto b) { return (5 - a) * (b - 2.5); },
                   [](double, double b) { return -(b - 2.5); },
                   [](double a, double) { return 5 - a; }, x, y);
  }
}

TEST_CASE("a long double scalar mixes with Var<double> and Var<float> without casts") {
  Tape<double> tape;
  Var<double> x = 2.0;
  const auto y = x * 2.5L + 1.0L;
  y.backward();
  CHECK(y.value() == 6.0);
  CHECK(x.grad() == 2.5);
  Tape<float> float_tape;
  Var<float> f = 2.0f;
  const auto g = 0.5 * f / 4.0L;
  g.backward();
  CHECK(f.grad() == 0.125f);
}

TEST_CASE("unary minus and plus") {
  for (const auto& [x, y] : points) {
    check_gradient([](auto a, auto b) { return -a * +b; }, [](double, double b) { return -b; },
                   [](double a, double) { return -a; }, x, y);
  }
}

TEST_CASE("compound assignment with Vars and scalars") {
  check_gradient(
      [](auto a, auto b) {
        auto z = a;
        z += b;    // a + b
        z -= 1;    // a + b - 1
        z *= a;    // (a + b - 1) a
        z /= 2.0;  // (a + b - 1) a / 2
        z += 0.5f;
        z *= 3;
        z -= b;
        z /= b;  // (3 ((a + b - 1) a / 2 + 0.5) - b) / b
        return z;
      },
      [](double a, double b) { return 3 * (2 * a + b - 1) / 2 / b; },
      [](double a, double b) {
        const double numerator = 3 * ((a + b - 1) * a / 2 + 0.5) - b;
        return (3 * a / 2 - 1) / b - numerator / (b * b);
      },
      1.5, 2.0);
}

TEST_CASE("value semantics: a copy is unaffected by compound assignment on the original") {
  Tape<double> tape;
  Var<double> r = 2.0;
  Var<double> u = 5.0;
  Var<double> t = r;
  t += u;
  CHECK(r.value() == 2.0);
  CHECK(t.value() == 7.0);
  t.backward();
  CHECK(r.grad() == 1.0);
  CHECK(u.grad() == 1.0);
}

TEST_CASE("t += t means t = t + t") {
  Tape<double> tape;
  Var<double> x = 3.0;
  Var<double> t = x * x;  // 9, d/dx = 6
  t += t;                 // 18, d/dx = 12
  CHECK(t.value() == 18.0);
  t.backward();
  CHECK(x.grad() == 12.0);
}

TEST_CASE("default construction gives a leaf with value 0, so arrays of Var work") {
  Tape<double> tape;
  std::array<Var<double>, 64> v;
  for (std::size_t i = 0; i < v.size(); ++i) {
    CHECK(v[i].value() == 0.0);
    v[i] = Var<double>(static_cast<double>(i));
  }
  Var<double> sum = 0.0;
  for (const auto& e : v) {
    sum += e * e;
  }
  sum.backward();
  for (std::size_t i = 0; i < v.size(); ++i) {
    CHECK(v[i].grad() == 2.0 * static_cast<double>(i));
  }
}

TEST_CASE_TEMPLATE("Var<float>, Var<double> and Var<long double> differentiate", T, float, double,
                   long double) {
  Tape<T> tape;
  Var<T> x = T(1.5);
  Var<T> y = T(2);
  auto z = x * y + T(3) - x / y;  // dz/dx = y - 1/y, dz/dy = x + x/y^2
  z.backward();
  // Every intermediate is a short binary fraction: exact in each type.
  CHECK(z.value() == T(5.25));
  CHECK(x.grad() == T(1.5));
  CHECK(y.grad() == T(1.875));
  static_assert(std::is_same_v<decltype(x.grad()), T>);
  // And one that rounds: d(x / 3)/dx is 1/3 rounded in T, not in double.
  tape.zero_grad();
  const auto third = x / T(3);
  third.backward();
  CHECK(x.grad() == T(1) / T(3));
  CHECK(third.value() == T(1.5) / T(3));
}

TEST_CASE("comparisons compare values, with Vars and scalars on either side") {
  Tape<double> tape;
  Var<double> a = 1.0;
  Var<double> b = 2.0;
  const std::size_t entries = tape.size();
  CHECK(a < b);
  CHECK(a <= b);
  CHECK(b > a);
  CHECK(b >= a);
  CHECK(a != b);
  CHECK(a == Var<double>(1.0));
  CHECK(a == 1);
  CHECK(1.0 == a);
  CHECK(a < 1.5f);
  CHECK(0 < a);
  CHECK(2.0 >= b);
  CHECK_FALSE(a > 1L);
  CHECK(tape.size() == entries + 1);  // only the explicit Var<double>(1.0)
}

TEST_CASE("operator<< prints the value as the stream prints a T") {
  Tape<double> tape;
  const Var<double> x = 0.125;
  std::ostringstream printed;
  std::ostringstream expected;
  printed << x;
  expected << 0.125;
  CHECK(printed.str() == expected.str());
}

TEST_CASE("scalars never create tape entries; each operation creates at most one") {
  Tape<double> tape;
  SUBCASE("fusion off: exactly one per operation") {
    tape.fuse_operations(false);
    Var<double> x = 2.0;  // 1 entry
    CHECK(tape.size() == 1);
    auto y = x * 3 + 1.5 - 2.0f / x;  // *, +, /, - : 4 entries
    CHECK(tape.size() == 5);
    y = tinygrad::sigmoid(y);  // an activation is one entry
    CHECK(tape.size() == 6);
  }
  SUBCASE("fusion on: an operation on a temporary rewrites its entry") {
    Var<double> x = 2.0;
    auto y = x * 3 + 1.5 - 2.0f / x;  // x * 3 and + 1.5: one entry; 2 / x and - : one more
    CHECK(tape.size() == 3);
    y = tinygrad::sigmoid(y);  // y is not a temporary: an entry of its own
    CHECK(tape.size() == 4);
  }
}

TEST_CASE("a Var is a small value type: its value, an index and a generation") {
  static_assert(std::is_nothrow_copy_constructible_v<Var<double>>);
  static_assert(std::is_trivially_destructible_v<Var<double>>);
  static_assert(sizeof(Var<double>) == 24, "docs/design.md states 24 bytes");
  static_assert(sizeof(Var<float>) == 24, "docs/design.md states 24 bytes");
}

TEST_CASE("backward(seed): seed times the gradient, as the hand-derived formula gives") {
  Tape<double> tape;
  const Var<double> x = 1.5;
  const Var<double> y = -0.5;
  const auto z = x * x * y + sin(y);  // dz/dx = 2 x y, dz/dy = x^2 + cos(y)
  z.backward(3.0);
  CHECK(x.grad() == doctest::Approx(3.0 * 2 * 1.5 * -0.5));
  CHECK(y.grad() == doctest::Approx(3.0 * (1.5 * 1.5 + std::cos(-0.5))));
  CHECK(z.grad() == 3.0);
  z.backward(-1);  // any arithmetic seed; gradients accumulate as for backward()
  CHECK(x.grad() == doctest::Approx(2.0 * 2 * 1.5 * -0.5));
  tape.zero_grad();
  z.backward();  // seed 1
  CHECK(x.grad() == doctest::Approx(2 * 1.5 * -0.5));

  Tape<float> float_tape;
  const Var<float> f = 2.0f;
  (f * f).backward(0.5);  // a double seed for a float tape converts
  CHECK(f.grad() == 2.0f);
}

TEST_CASE("tinygrad::backward(outputs, seeds): one sweep, the sum of the seeded sweeps") {
  Tape<double> tape;
  const Var<double> x = 0.75;
  const Var<double> y = 2.0;
  const std::vector<Var<double>> outputs{x * y, sin(x), exp(y) * x};
  const std::array<double, 3> seeds{2.0, -1.0, 0.5};
  // The same, as three seeded sweeps that accumulate.
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    outputs[k].backward(seeds[k]);
  }
  const double expected_x = x.grad();
  const double expected_y = y.grad();
  CHECK(expected_x == doctest::Approx(2.0 * 2.0 - std::cos(0.75) + 0.5 * std::exp(2.0)));
  CHECK(expected_y == doctest::Approx(2.0 * 0.75 + 0.5 * std::exp(2.0) * 0.75));
  tape.zero_grad();
  tinygrad::backward(outputs, seeds);
  CHECK(x.grad() == doctest::Approx(expected_x).epsilon(1e-15));
  CHECK(y.grad() == doctest::Approx(expected_y).epsilon(1e-15));

  SUBCASE("an output given twice gets the sum of its seeds") {
    tape.zero_grad();
    const std::vector<Var<double>> twice{outputs[0], outputs[0]};
    tinygrad::backward(twice, std::vector<double>{1.0, 2.0});
    CHECK(x.grad() == 3.0 * 2.0);
  }
  SUBCASE("checked mode gives the same gradients") {
    tape.zero_grad();
    tape.detect_anomalies(true);
    tinygrad::backward(outputs, seeds);
    CHECK(x.grad() == doctest::Approx(expected_x).epsilon(1e-15));
  }
  SUBCASE("sizes must match; no outputs do nothing") {
    tape.zero_grad();
    CHECK_THROWS_WITH_AS(tinygrad::backward(outputs, std::vector<double>{1.0}),
                         "tinygrad::backward: outputs has 3 elements but seeds has 1",
                         std::invalid_argument);
    tinygrad::backward(std::vector<Var<double>>{}, std::vector<double>{});
    CHECK(x.grad() == 0.0);
  }
}

TEST_CASE("std::numeric_limits<Var<T>>: T's limits, as constants") {
  using Limits = std::numeric_limits<Var<double>>;
  static_assert(Limits::is_specialized && Limits::digits == 53 && Limits::has_quiet_NaN);
  Tape<double> tape;
  CHECK(Limits::epsilon().value() == std::numeric_limits<double>::epsilon());
  CHECK(Limits::max().value() == std::numeric_limits<double>::max());
  CHECK(Limits::lowest().value() == std::numeric_limits<double>::lowest());
  CHECK(Limits::min().value() == std::numeric_limits<double>::min());
  CHECK(Limits::denorm_min().value() == std::numeric_limits<double>::denorm_min());
  CHECK(Limits::infinity().value() == std::numeric_limits<double>::infinity());
  CHECK(std::isnan(Limits::quiet_NaN().value()));
  CHECK(Limits::epsilon().is_constant());
  CHECK(tape.size() == 0);
  // Nested: the innermost number's limits.
  using Nested = std::numeric_limits<Var<Var<float>>>;
  static_assert(Nested::digits == 24);
  CHECK(Nested::max().value().value() == std::numeric_limits<float>::max());
}
