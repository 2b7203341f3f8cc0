// SPDX-License-Identifier: MIT
// Dual<T, N>, forward mode: every operation against the tape (the same
// formulas, so a single operation gives the same bits in both modes), hand
// formulas, finite differences, the conventions at kinks, several
// directions at once, Dual<Dual<T>> for second derivatives, and activation
// policies.

#include <tinygrad/dual.hpp>
#include <tinygrad/var.hpp>

#include "support/numeric.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <vector>

using tinygrad::Dual;
using tinygrad::Var;
using tinygrad_test::central_difference;
using tinygrad_test::check_close;

namespace {

/// df/dx at x0 by forward mode: f on a Dual seeded with tangent 1.
template <class F>
double forward_derivative(F f, double x0) {
  return f(Dual<double>(x0, 1.0)).tangent();
}

/// df/dx at x0 by reverse mode: f recorded on a tape and swept.
template <class F>
double reverse_derivative(F f, double x0) {
  tinygrad::Tape<double> tape;
  const Var<double> x = x0;
  f(x).backward();
  return x.grad();
}

// Every elementary function of one argument, written once for both modes.
// clang-format off
#define TINYGRAD_UNARY(name) \
  { #name, [](auto x) { return name(x); }, [](auto x) { return name(x); } }
// clang-format on

struct Unary {
  const char* name;
  std::function<Dual<double>(Dual<double>)> on_dual;
  std::function<Var<double>(Var<double>)> on_var;
};

const std::vector<Unary>& unary_functions() {
  using namespace tinygrad;  // NOLINT(google-build-using-namespace): the functions by their names
  static const std::vector<Unary> functions{
      TINYGRAD_UNARY(exp),   TINYGRAD_UNARY(exp2),       TINYGRAD_UNARY(expm1),
      TINYGRAD_UNARY(log),   TINYGRAD_UNARY(log2),       TINYGRAD_UNARY(log10),
      TINYGRAD_UNARY(log1p), TINYGRAD_UNARY(sqrt),       TINYGRAD_UNARY(cbrt),
      TINYGRAD_UNARY(sin),   TINYGRAD_UNARY(cos),        TINYGRAD_UNARY(tan),
      TINYGRAD_UNARY(asin),  TINYGRAD_UNARY(acos),       TINYGRAD_UNARY(atan),
      TINYGRAD_UNARY(sinh),  TINYGRAD_UNARY(cosh),       TINYGRAD_UNARY(tanh),
      TINYGRAD_UNARY(asinh), TINYGRAD_UNARY(atanh),      TINYGRAD_UNARY(erf),
      TINYGRAD_UNARY(erfc),  TINYGRAD_UNARY(abs),        TINYGRAD_UNARY(sigmoid),
      TINYGRAD_UNARY(relu),  TINYGRAD_UNARY(leaky_relu), TINYGRAD_UNARY(softplus),
      TINYGRAD_UNARY(silu),  TINYGRAD_UNARY(gelu),       TINYGRAD_UNARY(elu),
  };
  return functions;
}
#undef TINYGRAD_UNARY

}  // namespace

TEST_CASE(
    "every function of one argument: the tape's derivative to the bit, and finite "
    "differences") {
  for (const Unary& f : unary_functions()) {
    for (const double x0 : {-0.7, -0.2, 0.3, 0.9}) {
      INFO(f.name, " at ", x0);
      const Dual<double> y = f.on_dual(Dual<double>(x0, 1.0));
      tinygrad::Tape<double> tape;
      const Var<double> x = x0;
      const Var<double> out = f.on_var(x);
      out.backward();
      const bool defined = !std::isnan(out.value());
      if (!defined) {  // log of a negative number: NaN in both modes
        CHECK(std::isnan(y.value()));
        continue;
      }
      CHECK(y.value() == out.value());
      CHECK(y.tangent() == x.grad());
      check_close(
          y.tangent(),
          central_difference([&](double t) { return f.on_dual(Dual<double>(t)).value(); }, x0),
          1e-7);
    }
  }
  // acosh lives on [1, inf).
  for (const double x0 : {1.5, 3.0}) {
    const auto f = [](auto x) { return acosh(x); };
    CHECK(forward_derivative(f, x0) == reverse_derivative(f, x0));
    check_close(forward_derivative(f, x0), 1.0 / std::sqrt(x0 * x0 - 1.0), 1e-15);
  }
}

TEST_CASE("arithmetic and functions of two arguments: both partials as the tape has them") {
  using Binary = std::function<Dual<double>(Dual<double>, Dual<double>)>;
  using BinaryVar = std::function<Var<double>(Var<double>, Var<double>)>;
  struct Case {
    const char* name;
    Binary on_dual;
    BinaryVar on_var;
  };
  const std::vector<Case> cases{
      {"+", [](auto x, auto y) { return x + y; }, [](auto x, auto y) { return x + y; }},
      {"-", [](auto x, auto y) { return x - y; }, [](auto x, auto y) { return x - y; }},
      {"*", [](auto x, auto y) { return x * y; }, [](auto x, auto y) { return x * y; }},
      {"/", [](auto x, auto y) { return x / y; }, [](auto x, auto y) { return x / y; }},
      {"pow", [](auto x, auto y) { return pow(x, y); }, [](auto x, auto y) { return pow(x, y); }},
      {"hypot", [](auto x, auto y) { return hypot(x, y); },
       [](auto x, auto y) { return hypot(x, y); }},
      {"atan2", [](auto x, auto y) { return atan2(x, y); },
       [](auto x, auto y) { return atan2(x, y); }},
      {"min", [](auto x, auto y) { return min(x, y); }, [](auto x, auto y) { return min(x, y); }},
      {"max", [](auto x, auto y) { return max(x, y); }, [](auto x, auto y) { return max(x, y); }},
  };
  for (const Case& c : cases) {
    for (const std::array<double, 2>& point : {std::array{0.7, 1.3}, std::array{2.5, -0.4}}) {
      const double x0 = point[0];
      const double y0 = point[1];
      INFO(c.name, " at (", x0, ", ", y0, ")");
      tinygrad::Tape<double> tape;
      const Var<double> x = x0;
      const Var<double> y = y0;
      const Var<double> out = c.on_var(x, y);
      out.backward();
      const Dual<double> along_x = c.on_dual(Dual<double>(x0, 1.0), Dual<double>(y0, 0.0));
      const Dual<double> along_y = c.on_dual(Dual<double>(x0, 0.0), Dual<double>(y0, 1.0));
      if (std::isnan(out.value())) {
        CHECK(std::isnan(along_x.value()));
        continue;
      }
      CHECK(along_x.value() == out.value());
      CHECK(along_x.tangent() == x.grad());
      CHECK(along_y.tangent() == y.grad());
    }
  }
}

TEST_CASE(
    "a plain number on either side: only the Dual's tangent, as the tape's one-operand "
    "entries") {
  const auto check = [](const char* name, auto on_dual, auto on_var, double x0) {
    INFO(name, " at ", x0);
    CHECK(forward_derivative(on_dual, x0) == reverse_derivative(on_var, x0));
  };
  for (const double x0 : {0.3, 1.7}) {
    check(
        "x + 2", [](auto x) { return x + 2; }, [](auto x) { return x + 2; }, x0);
    check(
        "2 - x", [](auto x) { return 2.0 - x; }, [](auto x) { return 2.0 - x; }, x0);
    check(
        "x * 3", [](auto x) { return x * 3.0; }, [](auto x) { return x * 3.0; }, x0);
    check(
        "3 / x", [](auto x) { return 3.0 / x; }, [](auto x) { return 3.0 / x; }, x0);
    check(
        "x / 3", [](auto x) { return x / 3.0f; }, [](auto x) { return x / 3.0f; }, x0);
    check(
        "pow(x, 2.5)", [](auto x) { return pow(x, 2.5); }, [](auto x) { return pow(x, 2.5); }, x0);
    check(
        "pow(2.5, x)", [](auto x) { return pow(2.5, x); }, [](auto x) { return pow(2.5, x); }, x0);
    check(
        "hypot(x, 2)", [](auto x) { return hypot(x, 2); }, [](auto x) { return hypot(x, 2); }, x0);
    check(
        "hypot(2, x)", [](auto x) { return hypot(2, x); }, [](auto x) { return hypot(2, x); }, x0);
    check(
        "atan2(x, 2)", [](auto x) { return atan2(x, 2); }, [](auto x) { return atan2(x, 2); }, x0);
    check(
        "atan2(2, x)", [](auto x) { return atan2(2, x); }, [](auto x) { return atan2(2, x); }, x0);
    check(
        "min(x, 1)", [](auto x) { return min(x, 1); }, [](auto x) { return min(x, 1); }, x0);
    check(
        "max(1, x)", [](auto x) { return max(1, x); }, [](auto x) { return max(1, x); }, x0);
    check(
        "-x", [](auto x) { return -x; }, [](auto x) { return -x; }, x0);
  }
}

TEST_CASE("hand-derived derivatives of composites, and finite differences") {
  const auto f = [](auto x) { return x * sin(x) + exp(-x * x) / (1.0 + x); };
  const auto df = [](double x) {
    return std::sin(x) + x * std::cos(x) - 2 * x * std::exp(-x * x) / (1 + x) -
           std::exp(-x * x) / ((1 + x) * (1 + x));
  };
  for (const double x0 : {-0.5, 0.25, 2.0}) {
    INFO("x = ", x0);
    const Dual<double> y = f(Dual<double>(x0, 1.0));
    check_close(y.value(), f(x0), 1e-15);
    check_close(y.tangent(), df(x0), 1e-14);
    check_close(y.tangent(), central_difference(f, x0), 1e-8);
  }
}

TEST_CASE("the conventions where a derivative does not exist are the tape's") {
  CHECK(forward_derivative([](auto x) { return abs(x); }, 0.0) == 0.0);
  CHECK(forward_derivative([](auto x) { return relu(x); }, 0.0) == 0.0);
  CHECK(forward_derivative([](auto x) { return leaky_relu(x); }, 0.0) == 0.01);
  CHECK(forward_derivative([](auto x) { return elu(x); }, 0.0) == 1.0);
  CHECK(forward_derivative([](auto x) { return max(x, 2.0); }, 2.0) == 0.5);
  CHECK(forward_derivative([](auto x) { return hypot(x, 0.0); }, 0.0) == 0.0);
  // d/dy 0^y = 0 for y >= 0, not 0 * log 0 = NaN.
  const Dual<double> zero(0.0);
  CHECK(pow(zero, Dual<double>(2.0, 1.0)).tangent() == 0.0);
  // d/dx x^0 at 0 is 0, not 0 * 0^-1.
  CHECK(pow(Dual<double>(0.0, 1.0), 0.0).tangent() == 0.0);
  // NaN in gives NaN out.
  const Dual<double> nan(std::numeric_limits<double>::quiet_NaN(), 1.0);
  CHECK(std::isnan(abs(nan).tangent()));
  CHECK(std::isnan(max(nan, Dual<double>(1.0)).value()));
  CHECK(tinygrad::isnan(nan));
  CHECK_FALSE(tinygrad::isfinite(nan));
  CHECK(tinygrad::isinf(Dual<double>(std::numeric_limits<double>::infinity())));
}

TEST_CASE("several directions at once: the gradient in one evaluation") {
  const auto f = [](const auto& x, const auto& y, const auto& z) {
    return x * y * z + sin(x * y) + exp(z) / y;
  };
  const double x0 = 0.4;
  const double y0 = 1.3;
  const double z0 = -0.6;
  using D = Dual<double, 3>;
  const D out = f(D(x0, {1.0, 0.0, 0.0}), D(y0, {0.0, 1.0, 0.0}), D(z0, {0.0, 0.0, 1.0}));
  tinygrad::Tape<double> tape;
  const Var<double> x = x0;
  const Var<double> y = y0;
  const Var<double> z = z0;
  f(x, y, z).backward();
  check_close(out.tangent(0), x.grad(), 1e-15);
  check_close(out.tangent(1), y.grad(), 1e-15);
  check_close(out.tangent(2), z.grad(), 1e-15);
  // By hand.
  check_close(out.tangent(0), y0 * z0 + y0 * std::cos(x0 * y0), 1e-15);
  check_close(out.tangent(1), x0 * z0 + x0 * std::cos(x0 * y0) - std::exp(z0) / (y0 * y0), 1e-15);
  check_close(out.tangent(2), x0 * y0 + std::exp(z0) / y0, 1e-15);
}

TEST_CASE("Dual<Dual<T>>: second derivatives, against formulas and finite differences") {
  using DD = Dual<Dual<double>>;
  // Seed both levels: x = x0 + e1 + e2, so the e1 e2 part is f''.
  const auto second = [](auto f, double x0) {
    return f(DD(Dual<double>(x0, 1.0), Dual<double>(1.0, 0.0))).tangent().tangent();
  };
  const auto f = [](auto x) { return x * x * x + sin(x) * exp(x); };
  for (const double x0 : {-1.0, 0.5, 2.0}) {
    INFO("x = ", x0);
    const double by_hand = 6 * x0 + 2 * std::cos(x0) * std::exp(x0);
    check_close(second(f, x0), by_hand, 1e-14);
    const auto first = [&](double t) { return forward_derivative(f, t); };
    check_close(second(f, x0), central_difference(first, x0), 1e-7);
  }
  // Through each built-in policy: the policy's own second derivative.
  const auto through = [&](auto policy, double x0) {
    using P = decltype(policy);
    INFO(tinygrad::detail::policy_name<P>(), " at ", x0);
    const DD y = tinygrad::activate<P>(DD(Dual<double>(x0, 1.0), Dual<double>(1.0, 0.0)));
    CHECK(y.value().value() == P::value(x0));
    CHECK(y.value().tangent() == P::derivative(x0));
    CHECK(y.tangent().value() == P::derivative(x0));
    CHECK(y.tangent().tangent() == P::second_derivative(x0));
  };
  for (const double x0 : {-1.5, 0.2, 3.0}) {
    through(tinygrad::Sigmoid{}, x0);
    through(tinygrad::Tanh{}, x0);
    through(tinygrad::ReLU{}, x0);
    through(tinygrad::LeakyReLU{}, x0);
    through(tinygrad::Softplus{}, x0);
    through(tinygrad::SiLU{}, x0);
    through(tinygrad::GELU{}, x0);
    through(tinygrad::ELU{}, x0);
  }
}

TEST_CASE("custom(): a user's operation on Duals") {
  // cube as a custom operation of one operand; x * y of two.
  const auto cube = [](const Dual<double>& x) {
    const double v = x.value();
    return tinygrad::custom(v * v * v, x, 3 * v * v, "cube");
  };
  CHECK(cube(Dual<double>(2.0, 1.0)).value() == 8.0);
  CHECK(cube(Dual<double>(2.0, 1.0)).tangent() == 12.0);
  const Dual<double, 2> x(2.0, {1.0, 0.0});
  const Dual<double, 2> y(5.0, {0.0, 1.0});
  const auto product = tinygrad::custom(10.0, x, 5.0, y, 2.0);
  CHECK(product.tangent(0) == 5.0);
  CHECK(product.tangent(1) == 2.0);
}

TEST_CASE("constants, comparisons, compound assignment, printing and limits") {
  const Dual<double> c = 2.5;  // a constant: zero tangent
  CHECK(c.tangent() == 0.0);
  const Dual<double, 3> k(1);
  CHECK(k.tangents() == std::array{0.0, 0.0, 0.0});
  Dual<double> x(1.5, 1.0);
  CHECK(x < c);
  CHECK(x == 1.5);
  CHECK(x != c);
  CHECK(c > 2);
  x += c;
  x *= 2.0;
  x -= 1;
  x /= Dual<double>(2.0);
  CHECK(x.value() == 3.5);
  CHECK(x.tangent() == 1.0);
  std::ostringstream out;
  out << x;
  CHECK(out.str() == "3.5");
  CHECK(std::numeric_limits<Dual<double>>::epsilon().value() ==
        std::numeric_limits<double>::epsilon());
  CHECK(std::numeric_limits<Dual<double>>::infinity().tangent() == 0.0);
  static_assert(std::is_trivially_copyable_v<Dual<double, 4>>);
  static_assert(sizeof(Dual<double, 4>) == 5 * sizeof(double));
}

TEST_CASE("float and long double") {
  const auto f = [](auto x) { return x * exp(x); };
  const Dual<float> y = f(Dual<float>(1.0f, 1.0f));
  CHECK(y.tangent() == doctest::Approx(2 * std::exp(1.0)).epsilon(1e-6));
  const Dual<long double> z = f(Dual<long double>(1.0L, 1.0L));
  CHECK(static_cast<double>(z.tangent()) == doctest::Approx(2 * std::exp(1.0)).epsilon(1e-15));
}
