// SPDX-License-Identifier: MIT
// Elementary functions of Var: value against the std:: function, gradient
// against a hand-derived formula (written here independently of math.hpp, in
// the textbook form) and against central finite differences; plus the
// conventions where a derivative does not exist.

#include <tinygrad/functional.hpp>
#include <tinygrad/var.hpp>

#include "support/gradient_check.hpp"

#include <doctest/doctest.h>
#include <array>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;

namespace {

/// check_gradient at each point, labelled with the function's name.
template <class F, class D>
void check_unary(const char* name, F f, D derivative, std::initializer_list<double> points) {
  for (const double p : points) {
    INFO(name);
    tinygrad_test::check_gradient(f, derivative, p);
  }
}

template <class F, class Dx, class Dy>
void check_binary(const char* name, F f, Dx dfdx, Dy dfdy,
                  std::initializer_list<std::pair<double, double>> points) {
  for (const auto& [x, y] : points) {
    INFO(name);
    tinygrad_test::check_gradient(f, dfdx, dfdy, x, y);
  }
}

constexpr double pi = std::numbers::pi;

}  // namespace

// Each lambda calls the function unqualified: std:: for double, tinygrad::
// for Var, found by argument-dependent lookup as in a user's generic code.
TEST_CASE("exponentials and logarithms") {
  using std::exp, std::exp2, std::expm1, std::log, std::log2, std::log10, std::log1p;
  check_unary(
      "exp", [](auto x) { return exp(x); }, [](double x) { return std::exp(x); },
      {-3.0, -0.5, 0.0, 0.7, 2.5});
  check_unary(
      "exp2", [](auto x) { return exp2(x); },
      [](double x) { return std::log(2.0) * std::pow(2.0, x); }, {-3.0, 0.0, 1.3, 4.0});
  check_unary(
      "expm1", [](auto x) { return expm1(x); }, [](double x) { return std::exp(x); },
      {-2.0, -1e-6, 0.0, 1e-8, 1.5});
  check_unary(
      "log", [](auto x) { return log(x); }, [](double x) { return 1 / x; },
      {0.01, 0.5, 1.0, 3.0, 100.0});
  check_unary(
      "log2", [](auto x) { return log2(x); }, [](double x) { return 1 / (x * std::log(2.0)); },
      {0.25, 1.0, 7.0});
  check_unary(
      "log10", [](auto x) { return log10(x); }, [](double x) { return 1 / (x * std::log(10.0)); },
      {0.25, 1.0, 70.0});
  check_unary(
      "log1p", [](auto x) { return log1p(x); }, [](double x) { return 1 / (1 + x); },
      {-0.5, -1e-9, 0.0, 2.0});
}

TEST_CASE("powers and roots") {
  using std::sqrt, std::cbrt, std::pow;
  check_unary(
      "sqrt", [](auto x) { return sqrt(x); }, [](double x) { return 0.5 * std::pow(x, -0.5); },
      {0.01, 0.5, 4.0, 100.0});
  check_unary(
      "cbrt", [](auto x) { return cbrt(x); },
      [](double x) { return std::pow(std::abs(x), -2.0 / 3) / 3; }, {-8.0, -0.3, 0.2, 27.0});
  check_unary(
      "pow(x, 3)", [](auto x) { return pow(x, 3); }, [](double x) { return 3 * x * x; },
      {-2.0, 0.0, 0.5, 3.0});
  check_unary(
      "pow(x, 0.5f)", [](auto x) { return pow(x, 0.5f); },
      [](double x) { return 0.5 / std::sqrt(x); }, {0.25, 2.0});
  check_unary(
      "pow(2, x)", [](auto x) { return pow(2, x); },
      [](double x) { return std::pow(2.0, x) * std::log(2.0); }, {-1.0, 0.0, 2.5});
  check_binary(
      "pow(x, y)", [](auto x, auto y) { return pow(x, y); },
      [](double x, double y) { return y * std::pow(x, y - 1); },
      [](double x, double y) { return std::pow(x, y) * std::log(x); },
      {{2.0, 3.0}, {0.5, -1.5}, {3.0, 0.25}});
}

TEST_CASE("pow at base 0 and exponent 0 follows the limits, not 0 * inf") {
  Tape<double> tape;
  Var<double> x = 0.0;
  Var<double> y = 2.0;
  const auto a = tinygrad::pow(x, y);  // d/dx = 2 * 0 = 0, d/dy = 0 (limit from the right)
  a.backward();
  CHECK(x.grad() == 0.0);
  CHECK(y.grad() == 0.0);
  Var<double> z = 0.0;
  Var<double> zero_exponent = 0.0;
  const auto b = tinygrad::pow(z, zero_exponent);  // 0^0 = 1, constant in x: d/dx = 0
  b.backward();
  CHECK(b.value() == 1.0);
  CHECK(z.grad() == 0.0);
  CHECK(zero_exponent.grad() == 0.0);
  Var<double> n = -2.0;
  const auto c = tinygrad::pow(n, 3);  // a negative base with an integer exponent
  c.backward();
  CHECK(c.value() == -8.0);
  CHECK(n.grad() == 12.0);
}

TEST_CASE("trigonometric functions") {
  using std::sin, std::cos, std::tan, std::asin, std::acos, std::atan;
  check_unary(
      "sin", [](auto x) { return sin(x); }, [](double x) { return std::cos(x); },
      {-2.0, 0.0, 0.5, 3.0});
  check_unary(
      "cos", [](auto x) { return cos(x); }, [](double x) { return -std::sin(x); },
      {-2.0, 0.0, 0.5, 3.0});
  check_unary(
      "tan", [](auto x) { return tan(x); },
      [](double x) { return 1 / (std::cos(x) * std::cos(x)); }, {-1.2, 0.0, 0.5, 1.0});
  check_unary(
      "asin", [](auto x) { return asin(x); }, [](double x) { return 1 / std::sqrt(1 - x * x); },
      {-0.9, 0.0, 0.3, 0.99});
  check_unary(
      "acos", [](auto x) { return acos(x); }, [](double x) { return -1 / std::sqrt(1 - x * x); },
      {-0.9, 0.0, 0.3, 0.99});
  check_unary(
      "atan", [](auto x) { return atan(x); }, [](double x) { return 1 / (1 + x * x); },
      {-10.0, 0.0, 0.5, 3.0});
  using std::atan2;
  check_binary(
      "atan2(y, x)", [](auto y, auto x) { return atan2(y, x); },
      [](double y, double x) { return x / (x * x + y * y); },
      [](double y, double x) { return -y / (x * x + y * y); },
      {{1.0, 2.0}, {-0.5, -3.0}, {2.0, -0.1}, {0.0, 1.0}});
  check_unary(
      "atan2(y, 2)", [](auto y) { return atan2(y, 2); }, [](double y) { return 2 / (4 + y * y); },
      {-1.0, 0.5});
  check_unary(
      "atan2(2, x)", [](auto x) { return atan2(2, x); }, [](double x) { return -2 / (x * x + 4); },
      {-1.0, 0.5});
}

TEST_CASE("hyperbolic functions") {
  using std::sinh, std::cosh, std::tanh, std::asinh, std::acosh, std::atanh;
  check_unary(
      "sinh", [](auto x) { return sinh(x); }, [](double x) { return std::cosh(x); },
      {-2.0, 0.0, 1.5});
  check_unary(
      "cosh", [](auto x) { return cosh(x); }, [](double x) { return std::sinh(x); },
      {-2.0, 0.0, 1.5});
  check_unary(
      "tanh", [](auto x) { return tanh(x); },
      [](double x) { return 1 - std::tanh(x) * std::tanh(x); }, {-3.0, 0.0, 0.5, 2.0});
  check_unary(
      "asinh", [](auto x) { return asinh(x); }, [](double x) { return 1 / std::sqrt(x * x + 1); },
      {-5.0, 0.0, 0.5, 30.0});
  check_unary(
      "acosh", [](auto x) { return acosh(x); }, [](double x) { return 1 / std::sqrt(x * x - 1); },
      {1.01, 2.0, 40.0});
  check_unary(
      "atanh", [](auto x) { return atanh(x); }, [](double x) { return 1 / (1 - x * x); },
      {-0.9, 0.0, 0.5});
}

TEST_CASE("error functions") {
  using std::erf, std::erfc;
  const auto gauss = [](double x) { return 2 / std::sqrt(pi) * std::exp(-x * x); };
  check_unary("erf", [](auto x) { return erf(x); }, gauss, {-2.0, 0.0, 0.3, 1.5});
  check_unary(
      "erfc", [](auto x) { return erfc(x); }, [&](double x) { return -gauss(x); },
      {-2.0, 0.0, 0.3, 1.5});
}

TEST_CASE("abs, min, max, hypot") {
  using std::abs, std::min, std::max, std::hypot;
  check_unary(
      "abs", [](auto x) { return abs(x); }, [](double x) { return x > 0 ? 1.0 : -1.0; },
      {-2.0, -0.1, 0.1, 3.0});
  check_binary(
      "min", [](auto x, auto y) { return min(x, y); },
      [](double x, double y) { return x < y ? 1.0 : 0.0; },
      [](double x, double y) { return x < y ? 0.0 : 1.0; }, {{1.0, 2.0}, {3.0, -1.0}});
  check_binary(
      "max", [](auto x, auto y) { return max(x, y); },
      [](double x, double y) { return x > y ? 1.0 : 0.0; },
      [](double x, double y) { return x > y ? 0.0 : 1.0; }, {{1.0, 2.0}, {3.0, -1.0}});
  check_binary(
      "hypot", [](auto x, auto y) { return hypot(x, y); },
      [](double x, double y) { return x / std::sqrt(x * x + y * y); },
      [](double x, double y) { return y / std::sqrt(x * x + y * y); },
      {{3.0, 4.0}, {-1.0, 0.5}, {0.0, 2.0}});
  check_unary(
      "min(x, 1)", [](auto x) { return min(x, 1.0); }, [](double x) { return x < 1 ? 1.0 : 0.0; },
      {0.5, 2.0});
  check_unary(
      "max(1, x)", [](auto x) { return max(1.0, x); }, [](double x) { return x > 1 ? 1.0 : 0.0; },
      {0.5, 2.0});
  check_unary(
      "hypot(x, 3)", [](auto x) { return hypot(x, 3.0); },
      [](double x) { return x / std::sqrt(x * x + 9); }, {-4.0, 1.0});
}

TEST_CASE("conventions where the derivative does not exist (PyTorch's)") {
  Tape<double> tape;
  const auto grad_at = [](auto f, double at) {
    Var<double> x = at;
    f(x).backward();
    return x.grad();
  };
  CHECK(grad_at([](auto x) { return tinygrad::abs(x); }, 0.0) == 0.0);
  CHECK(grad_at([](auto x) { return tinygrad::abs(x); }, -0.0) == 0.0);
  CHECK(grad_at([](auto x) { return tinygrad::hypot(x, 0); }, 0.0) == 0.0);
  CHECK(grad_at([](auto x) { return tinygrad::min(x, 1); }, 1.0) == 0.5);
  CHECK(grad_at([](auto x) { return tinygrad::max(x, 1); }, 1.0) == 0.5);
  Var<double> a = 2.0;
  Var<double> b = 2.0;
  const auto m = tinygrad::max(a, b);
  m.backward();
  CHECK(a.grad() == 0.5);
  CHECK(b.grad() == 0.5);
}

TEST_CASE("NaN operands give NaN values and NaN gradients, never a silent number") {
  Tape<double> tape;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto check_nan = [&](auto f) {
    Var<double> x = nan;
    const auto y = f(x);
    y.backward();
    CHECK(std::isnan(y.value()));
    CHECK(std::isnan(x.grad()));
  };
  check_nan([](auto x) { return tinygrad::abs(x); });
  check_nan([](auto x) { return tinygrad::min(x, 1); });
  check_nan([](auto x) { return tinygrad::max(1, x); });
  check_nan([](auto x) { return tinygrad::exp(x); });
  check_nan([](auto x) { return tinygrad::pow(x, 2); });
  check_nan([](auto x) { return tinygrad::hypot(x, 1); });
}

TEST_CASE("IEEE semantics outside the domain: log(0) = -inf with gradient +inf") {
  Tape<double> tape;
  Var<double> x = 0.0;
  const auto y = tinygrad::log(x);
  y.backward();
  CHECK(y.value() == -std::numeric_limits<double>::infinity());
  CHECK(x.grad() == std::numeric_limits<double>::infinity());
  Var<double> z = -1.0;
  const auto s = tinygrad::sqrt(z);
  s.backward();
  CHECK(std::isnan(s.value()));
  CHECK(std::isnan(z.grad()));
}

TEST_CASE("functions are found qualified and by argument-dependent lookup") {
  Tape<double> tape;
  Var<double> x = 0.5;
  const auto qualified = tinygrad::exp(x) + tinygrad::atan2(x, 1) + tinygrad::erfc(x);
  const auto unqualified = exp(x) + atan2(x, 1) + erfc(x);
  CHECK(qualified.value() == unqualified.value());
}

TEST_CASE("dot and sum record one entry with the right partials") {
  Tape<double> tape;
  std::vector<Var<double>> a{Var<double>(1.5), Var<double>(-2.0), Var<double>(0.5)};
  std::vector<Var<double>> b{Var<double>(3.0), Var<double>(0.25), Var<double>(-1.0)};
  const std::vector<double> c{2.0, 4.0, -6.0};
  const std::size_t before = tape.size();
  const auto ac = tinygrad::dot(a, c);  // 3 - 8 - 3 = -8
  const auto ab = tinygrad::dot(a, b);  // 4.5 - 0.5 - 0.5 = 3.5
  const auto s = tinygrad::sum(b);      // 2.25
  CHECK(tape.size() == before + 3);
  CHECK(ac.value() == -8.0);
  CHECK(ab.value() == 3.5);
  CHECK(s.value() == 2.25);
  const auto total = ac + 2.0 * ab + s;
  total.backward();
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("i = ", i);
    CHECK(a[i].grad() == c[i] + 2.0 * b[i].value());
    CHECK(b[i].grad() == 2.0 * a[i].value() + 1.0);
  }
}

TEST_CASE("dot and sum agree with finite differences, and reject mismatched sizes") {
  tinygrad_test::check_gradient(
      [](auto x, auto y) {
        using S = decltype(x);
        if constexpr (std::is_same_v<S, double>) {
          return x * x * 3.0 + x * y + (x + y);
        } else {
          const std::vector<S> u{x, x};
          const std::vector<S> v{x * 3.0, y};
          return tinygrad::dot(u, v) + tinygrad::sum(std::vector<S>{x, y});
        }
      },
      [](double x, double y) { return 6 * x + y + 1; }, [](double x, double) { return x + 1; }, 0.7,
      -1.3);
  Tape<double> tape;
  std::vector<Var<double>> a{Var<double>(1.0), Var<double>(2.0)};
  const std::vector<double> c{1.0};
  CHECK_THROWS_WITH_AS(tinygrad::dot(a, c), "tinygrad::dot: a has 2 elements but b has 1",
                       std::invalid_argument);
}

TEST_CASE("dot and sum of negative zeros are -0, as IEEE addition gives (found by the fuzzer)") {
  Tape<double> tape;
  const std::vector<Var<double>> a = {-3.0, 0.0};
  const std::vector<Var<double>> b = {0.0, -3.0};
  const Var<double> d = tinygrad::dot(a, b);  // -3 * 0 + 0 * -3 = -0 + -0
  CHECK(d.value() == 0.0);
  CHECK(std::signbit(d.value()));
  const std::vector<Var<double>> zeros = {-0.0, -0.0};
  CHECK(std::signbit(tinygrad::sum(zeros).value()));
  // Where the sign reaches a result: atan2(-0, -1) is -pi, atan2(+0, -1) is +pi.
  CHECK(tinygrad::atan2(d, Var<double>(-1.0)).value() == doctest::Approx(-std::numbers::pi));
  const std::vector<Var<double>> none;
  CHECK(!std::signbit(tinygrad::sum(none).value()));  // the empty sum is +0
}

namespace {

/// f on a Var<float> at x: its value and gradient against f on doubles
/// (value within a few float ulp) and central differences of f on doubles
/// (gradient within float's precision).
template <class F>
void check_float(const char* name, F f, double x) {
  INFO(name, " at x = ", x);
  Tape<float> tape;
  const auto xf = static_cast<float>(x);
  Var<float> v = xf;
  const Var<float> out = f(v);
  out.backward();
  const double exact = f(static_cast<double>(xf));
  const double slope =
      tinygrad_test::central_difference([&](double t) { return f(t); }, static_cast<double>(xf));
  CHECK(std::abs(out.value() - exact) <= 4e-7 * std::max(1.0, std::abs(exact)));
  CHECK(std::abs(v.grad() - slope) <= 2e-6 * std::max(1.0, std::abs(slope)));
}

}  // namespace

TEST_CASE("Var<float>: every elementary function and activation, against doubles") {
  using std::abs, std::acos, std::acosh, std::asin, std::asinh, std::atan, std::atanh, std::cbrt,
      std::cos, std::cosh, std::erf, std::erfc, std::exp, std::exp2, std::expm1, std::log,
      std::log10, std::log1p, std::log2, std::pow, std::sin, std::sinh, std::sqrt, std::tan,
      std::tanh, std::atan2, std::hypot;
  for (const double x : {-0.7, 0.3, 0.45, 0.8}) {
    check_float(
        "exp", [](auto t) { return exp(t); }, x);
    check_float(
        "exp2", [](auto t) { return exp2(t); }, x);
    check_float(
        "expm1", [](auto t) { return expm1(t); }, x);
    check_float(
        "sin", [](auto t) { return sin(t); }, x);
    check_float(
        "cos", [](auto t) { return cos(t); }, x);
    check_float(
        "tan", [](auto t) { return tan(t); }, x);
    check_float(
        "asin", [](auto t) { return asin(t); }, x);
    check_float(
        "acos", [](auto t) { return acos(t); }, x);
    check_float(
        "atan", [](auto t) { return atan(t); }, x);
    check_float(
        "sinh", [](auto t) { return sinh(t); }, x);
    check_float(
        "cosh", [](auto t) { return cosh(t); }, x);
    check_float(
        "tanh", [](auto t) { return tanh(t); }, x);
    check_float(
        "asinh", [](auto t) { return asinh(t); }, x);
    check_float(
        "atanh", [](auto t) { return atanh(t); }, x);
    check_float(
        "erf", [](auto t) { return erf(t); }, x);
    check_float(
        "erfc", [](auto t) { return erfc(t); }, x);
    check_float(
        "cbrt", [](auto t) { return cbrt(t); }, x);
    check_float(
        "abs", [](auto t) { return abs(t); }, x);
    check_float(
        "atan2", [](auto t) { return atan2(t, 0.5f * t + 2.0f); }, x);
    check_float(
        "hypot", [](auto t) { return hypot(t, 1.5f); }, x);
    check_float(
        "pow scalar", [](auto t) { return pow(t * t + 1.0f, 1.7f); }, x);
    check_float(
        "pow", [](auto t) { return pow(t * t + 1.0f, t); }, x);
    check_float(
        "arithmetic", [](auto t) { return (t * t - 3.0f * t) / (t + 2.0f); }, x);
    check_float(
        "sigmoid", [](auto t) { return 1 / (1 + exp(-t)); }, x);
    check_float(
        "softplus", [](auto t) { return log1p(exp(t)); }, x);
  }
  for (const double x : {0.3, 1.7, 25.0}) {
    check_float(
        "log", [](auto t) { return log(t); }, x);
    check_float(
        "log2", [](auto t) { return log2(t); }, x);
    check_float(
        "log10", [](auto t) { return log10(t); }, x);
    check_float(
        "log1p", [](auto t) { return log1p(t); }, x);
    check_float(
        "sqrt", [](auto t) { return sqrt(t); }, x);
    check_float(
        "acosh", [](auto t) { return acosh(t + 1.0f); }, x);
  }
}

TEST_CASE_TEMPLATE("Var<float>: the activation policies on the tape, against doubles", P,
                   tinygrad::Sigmoid, tinygrad::Tanh, tinygrad::ReLU, tinygrad::LeakyReLU,
                   tinygrad::Softplus, tinygrad::SiLU, tinygrad::GELU, tinygrad::ELU,
                   tinygrad::Identity) {
  for (const double x : {-2.5, -0.6, 0.3, 1.9}) {
    // The policy on doubles is the yardstick for the float tape (the
    // double formulas are tested against long double in activation_test).
    check_float(
        tinygrad::detail::policy_name<P>(),
        [](auto t) {
          if constexpr (std::is_same_v<decltype(t), double>) {
            return P::value(t);
          } else {
            return tinygrad::activate<P>(t);
          }
        },
        x);
  }
}

// ---- custom(): an operation tinygrad does not have ----

namespace {

// Bessel functions of the first kind for any tinygrad number: plain doubles
// from the standard library, Vars and Duals through custom() with the
// textbook derivatives J0' = -J1 and J1' = J0 - J1 / x, written on the level
// below so that a nested tape (or a Dual below it) differentiates them again.
template <class S>
S bessel_j1(const S& x);

template <class S>
S bessel_j0(const S& x) {
  if constexpr (std::is_floating_point_v<S>) {
    return std::cyl_bessel_j(0.0, x);
  } else {
    return tinygrad::custom(bessel_j0(x.value()), x, -bessel_j1(x.value()), "j0");
  }
}

template <class S>
S bessel_j1(const S& x) {
  if constexpr (std::is_floating_point_v<S>) {
    return std::cyl_bessel_j(1.0, x);
  } else {
    const auto at = x.value();
    return tinygrad::custom(bessel_j1(at), x, bessel_j0(at) - bessel_j1(at) / at, "j1");
  }
}

// hypot as a custom operation of two operands: partials x / r and y / r.
template <class S>
S custom_hypot(const S& x, const S& y) {
  if constexpr (std::is_floating_point_v<S>) {
    return std::hypot(x, y);
  } else {
    const auto r = custom_hypot(x.value(), y.value());
    return tinygrad::custom(r, x, x.value() / r, y, y.value() / r, "my_hypot");
  }
}

}  // namespace

TEST_CASE("custom: first derivatives by hand and by finite differences") {
  using tinygrad_test::check_gradient;
  for (const double x0 : {0.3, 1.7, 4.2}) {
    check_gradient([](const auto& x) { return bessel_j0(x) * bessel_j1(x); },
                   [](double x) {
                     const double j0 = std::cyl_bessel_j(0.0, x);
                     const double j1 = std::cyl_bessel_j(1.0, x);
                     return -j1 * j1 + j0 * (j0 - j1 / x);
                   },
                   x0);
  }
  check_gradient([](const auto& x, const auto& y) { return custom_hypot(x, y) * x; },
                 [](double x, double y) { return std::hypot(x, y) + x * x / std::hypot(x, y); },
                 [](double x, double y) { return x * y / std::hypot(x, y); }, 0.6, -1.3);
}

TEST_CASE("custom: second derivatives through a nested tape") {
  // d2/dx2 J0 = -J1' = -(J0 - J1 / x).
  for (const double x0 : {0.3, 1.7, 4.2}) {
    CAPTURE(x0);
    const std::array<double, 1> at{x0};
    const auto h = tinygrad::hessian([](auto x) { return bessel_j0(x[0]); }, at);
    const double j0 = std::cyl_bessel_j(0.0, x0);
    const double j1 = std::cyl_bessel_j(1.0, x0);
    CHECK(h(0, 0) == doctest::Approx(-(j0 - j1 / x0)).epsilon(1e-13));
    // Against central differences of the first derivative, -J1.
    const double step = 1e-5;
    const double difference =
        (-std::cyl_bessel_j(1.0, x0 + step) + std::cyl_bessel_j(1.0, x0 - step)) / (2 * step);
    CHECK(h(0, 0) == doctest::Approx(difference).epsilon(1e-8));
  }
}

TEST_CASE("custom: one entry; constants left out, repeated operands summed; its name") {
  Tape<double> tape;
  tape.annotate(true);
  const Var<double> x = 2.0;
  const Var<double> y =
      tinygrad::custom(10.0, {{x, 2.0}, {tinygrad::constant(1.0), 7.0}, {x, 3.0}}, "twice_x_plus");
  CHECK(tape.size() == 2);
  CHECK(y.value() == 10.0);
  y.backward();
  CHECK(x.grad() == 5.0);
  std::string last;
  tape.for_each_entry([&](const auto& entry) {
    if (entry.operation != nullptr) {
      last = entry.operation;
    }
  });
  CHECK(last == "twice_x_plus");
  // Partials from a container, through the span overload.
  const std::vector<tinygrad::Partial<double>> partials{{x, 4.0}};
  const Var<double> z = tinygrad::custom(1.0, partials);
  tape.zero_grad();
  z.backward();
  CHECK(x.grad() == 4.0);
}

TEST_CASE("isnan, isinf and isfinite of a Var read its value and record nothing") {
  Tape<double> tape;
  const Var<double> finite = 1.5;
  const Var<double> infinite = std::numeric_limits<double>::infinity();
  const Var<double> nan = std::numeric_limits<double>::quiet_NaN();
  const std::size_t entries = tape.size();
  CHECK(isfinite(finite));
  CHECK_FALSE(isinf(finite));
  CHECK_FALSE(isnan(finite));
  CHECK(isinf(infinite));
  CHECK_FALSE(isfinite(infinite));
  CHECK(isnan(nan));
  CHECK_FALSE(isfinite(nan));
  CHECK(tape.size() == entries);
  Tape<Var<double>> outer;
  const Var<Var<double>> nested = Var<double>(std::numeric_limits<double>::infinity());
  CHECK(isinf(nested));
}
