// SPDX-License-Identifier: MIT
// The functional API: gradient, value_and_gradient, jacobian against analytic
// derivatives; gradcheck's verdicts; reuse of the per-thread tape; misuse.

#include <tinygrad/functional.hpp>

#include "support/count_allocations.hpp"
#include "support/numeric.hpp"
#include "support/rosenbrock.hpp"
#include "support/square_policy.hpp"

#include <doctest/doctest.h>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <sstream>
#include <stdexcept>
#include <vector>

using tinygrad::Var;
using tinygrad_test::check_close;
using tinygrad_test::rosenbrock;
using tinygrad_test::rosenbrock_gradient;

namespace {

double rosenbrock_value(const std::vector<double>& x) {
  double sum = 0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    sum += 100.0 * std::pow(x[i + 1] - x[i] * x[i], 2) + std::pow(1.0 - x[i], 2);
  }
  return sum;
}

}  // namespace

TEST_CASE("gradient and value_and_gradient of Rosenbrock match the analytic gradient") {
  for (const std::vector<double>& x :
       {std::vector<double>{-1.2, 1.0}, std::vector<double>{0.5, 0.3, -0.7, 1.1, 2.0}}) {
    const auto expected = rosenbrock_gradient(x);
    const auto g = tinygrad::gradient(rosenbrock, x);
    REQUIRE(g.size() == x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      check_close(g[i], expected[i], 1e-14);
    }
    const auto [value, g2] = tinygrad::value_and_gradient(rosenbrock, x);
    check_close(value, rosenbrock_value(x), 1e-15);
    CHECK(g2 == g);
  }
}

TEST_CASE("x may be a std::array, a span, or a vector of float") {
  const std::array<double, 2> a{1.0, 2.0};
  const auto f = [](auto x) { return x[0] * x[1]; };
  CHECK(tinygrad::gradient(f, a) == std::vector<double>{2.0, 1.0});
  CHECK(tinygrad::gradient(f, std::span<const double>(a)) == std::vector<double>{2.0, 1.0});
  const std::vector<float> xf{3.0f, 4.0f};
  CHECK(tinygrad::gradient(f, xf) == std::vector<float>{4.0f, 3.0f});
}

TEST_CASE("gradient into a span allocates nothing once warm") {
  const std::vector<double> x{0.5, 0.3, -0.7, 1.1, 2.0};
  std::vector<double> out(x.size());
  tinygrad::gradient(rosenbrock, x, std::span<double>(out));  // warms the tape
  const long before = tinygrad_test::allocations.load();
  for (int i = 0; i < 10; ++i) {
    tinygrad::gradient(rosenbrock, x, std::span<double>(out));
  }
  CHECK(tinygrad_test::allocations.load() == before);
  check_close(out[2], rosenbrock_gradient(x)[2], 1e-14);
}

TEST_CASE("gradient into a span of the wrong size is an invalid_argument") {
  const std::vector<double> x{1.0, 2.0};
  std::vector<double> out(3);
  CHECK_THROWS_WITH_AS(tinygrad::gradient(rosenbrock, x, std::span<double>(out)),
                       "tinygrad::gradient: out has 3 elements but x has 2", std::invalid_argument);
}

TEST_CASE("the functional API leaves the caller's tapes and gradients alone") {
  tinygrad::Tape<double> tape;
  Var<double> a = 3.0;
  const auto b = a * a;
  b.backward();
  const std::size_t entries = tape.size();
  const auto g =
      tinygrad::gradient([](auto x) { return x[0] * x[0] * x[0]; }, std::vector<double>{2.0});
  CHECK(g[0] == 12.0);
  CHECK(&tinygrad::Tape<double>::current() == &tape);
  CHECK(tape.size() == entries);
  CHECK(a.grad() == 6.0);
}

TEST_CASE("f may itself call the functional API") {
  // The outer f uses an inner gradient's value as a constant.
  const auto outer = [](auto x) {
    const auto inner =
        tinygrad::gradient([](auto y) { return y[0] * y[0]; }, std::vector<double>{x[0].value()});
    return x[0] * inner[0];  // d/dx (x * 2x0) at x0 = x = 2x0
  };
  const auto g = tinygrad::gradient(outer, std::vector<double>{1.5});
  CHECK(g[0] == 3.0);
}

TEST_CASE("vjp: v^T J in one sweep, equal to the Jacobian's rows weighted by v") {
  const auto f = [](auto x) {
    return std::vector{x[0] * x[1], sin(x[0]), x[1] * x[1] * x[2], exp(x[2])};
  };
  const std::vector<double> x{0.3, -1.2, 0.7};
  const std::vector<double> v{1.0, -2.0, 0.5, 3.0};
  const tinygrad::Matrix<double> jacobian = tinygrad::jacobian(f, x);
  const std::vector<double> product = tinygrad::vjp(f, x, v);
  REQUIRE(product.size() == 3);
  for (std::size_t j = 0; j < 3; ++j) {
    double expected = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      expected += v[i] * jacobian(i, j);
    }
    CHECK(product[j] == doctest::Approx(expected).epsilon(1e-14));
  }
  // By hand: d/dx0 = v0 x1 + v1 cos(x0), d/dx1 = v0 x0 + v2 2 x1 x2, d/dx2 = v2 x1^2 + v3 e^x2.
  CHECK(product[0] == doctest::Approx(-1.2 - 2.0 * std::cos(0.3)));
  CHECK(product[1] == doctest::Approx(0.3 + 0.5 * 2 * -1.2 * 0.7));
  CHECK(product[2] == doctest::Approx(0.5 * 1.44 + 3.0 * std::exp(0.7)));
  CHECK_THROWS_WITH_AS(tinygrad::vjp(f, x, std::vector<double>{1.0}),
                       "tinygrad::vjp: v has 1 elements but f(x) has 4", std::invalid_argument);
}

TEST_CASE("jacobian: one recording, one row per output, an m x n Matrix") {
  const auto f = [](auto x) {
    return std::vector{x[0] * x[1], sin(x[0]) + x[2], exp(x[1] * x[2])};
  };
  const std::vector<double> x{0.5, -1.0, 2.0};
  const auto jac = tinygrad::jacobian(f, x);
  const std::vector<double> expected{x[1],
                                     x[0],
                                     0,  // d(x0 x1)
                                     std::cos(x[0]),
                                     0,
                                     1,  // d(sin x0 + x2)
                                     0,
                                     x[2] * std::exp(x[1] * x[2]),
                                     x[1] * std::exp(x[1] * x[2])};  // d exp(x1 x2)
  REQUIRE(jac.rows() == 3);
  REQUIRE(jac.cols() == 3);
  for (std::size_t i = 0; i < 9; ++i) {
    INFO("entry ", i);
    check_close(jac.values()[i], expected[i], 1e-15);  // row-major
  }
  CHECK(jac(2, 1) == x[2] * std::exp(x[1] * x[2]));
  CHECK(jac.row(1)[0] == std::cos(x[0]));
  CHECK_THROWS_AS((void)jac.at(3, 0), std::out_of_range);
  // m outputs and n inputs of different counts: the shape says which is which.
  const auto wide = tinygrad::jacobian([](auto v) { return std::vector{v[0] + v[1] + v[2]}; }, x);
  CHECK(wide.rows() == 1);
  CHECK(wide.cols() == 3);
  const auto tall = tinygrad::jacobian(
      [](auto v) {
        return std::vector{v[0], 2.0 * v[0], 3.0 * v[0]};
      },
      std::vector<double>{1.0});
  CHECK(tall.rows() == 3);
  CHECK(tall.cols() == 1);
  CHECK(tall(2, 0) == 3.0);
}

namespace {

// A user policy whose derivative is wrong (the derivative of x^2 is 2x, not x).
struct WrongSquare {
  template <class T>
  static T value(T x) {
    return x * x;
  }
  template <class T>
  static T derivative(T x) {
    return x;
  }
};

}  // namespace

TEST_CASE("gradcheck passes a right derivative and flags a wrong one, naming the coordinate") {
  const std::vector<double> x{0.3, -1.2, 2.0};
  const auto right = tinygrad::gradcheck(
      [](auto v) { return v[0] + tinygrad::activate<tinygrad_test::Square>(v[1]) * v[2]; }, x);
  CHECK(right.ok);
  CHECK(right.max_rel_error < 1e-8);

  const auto wrong = tinygrad::gradcheck(
      [](auto v) { return v[0] + tinygrad::activate<WrongSquare>(v[1]) * v[2]; }, x);
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.worst_index == 1);
  check_close(wrong.analytic[1], -1.2 * 2.0, 1e-15);    // what the wrong policy says
  check_close(wrong.numeric[1], 2 * -1.2 * 2.0, 1e-8);  // what is true
  std::ostringstream printed;
  printed << wrong;
  CHECK(printed.str().find("FAILED") != std::string::npos);
  CHECK(printed.str().find("<- worst") != std::string::npos);
}

TEST_CASE("gradcheck passes every elementary function and policy at ordinary points") {
  const std::vector<double> x{0.4, 0.7};
  const auto f = [](auto v) {
    return exp(v[0]) * log(v[1]) + sqrt(v[1]) - pow(v[0], v[1]) + atan2(v[0], v[1]) +
           tinygrad::sigmoid(v[0]) * tinygrad::gelu(v[1]) + tinygrad::softplus(v[0] - v[1]) +
           tinygrad::silu(v[1]) + tinygrad::elu(v[0] - 1) + tinygrad::tanh(v[1]) + erf(v[0]) +
           hypot(v[0], v[1]) + asinh(v[0]) + cbrt(v[1]) + log1p(v[0]) + expm1(v[1]);
  };
  const auto report = tinygrad::gradcheck(f, x);
  INFO(report);
  CHECK(report.ok);
}

namespace {

// A policy whose derivative is NaN although its value is fine.
struct NaNDerivative {
  template <class T>
  static T value(T x) {
    return x;
  }
  template <class T>
  static T derivative(T) {
    return std::numeric_limits<T>::quiet_NaN();
  }
};

}  // namespace

TEST_CASE("a NaN gradient fails gradcheck at its coordinate") {
  const auto report = tinygrad::gradcheck(
      [](auto v) { return v[0] * 2.0 + tinygrad::activate<NaNDerivative>(v[1]); },
      std::vector<double>{1.0, -1.0});
  CHECK_FALSE(report.ok);
  CHECK(report.worst_index == 1);
  CHECK(std::isnan(report.analytic[1]));
  check_close(report.numeric[1], 1.0, 1e-9);
}

namespace {

std::vector<double> rosenbrock_hessian(const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<double> h(n * n, 0.0);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    h[i * n + i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
    h[i * n + i + 1] += -400.0 * x[i];
    h[(i + 1) * n + i] += -400.0 * x[i];
    h[(i + 1) * n + i + 1] += 200.0;
  }
  return h;
}

/// d/dx_j of the gradient's component i, by central differences of
/// tinygrad::gradient: an independent route to the Hessian.
template <class F>
std::vector<double> hessian_by_differences(F f, std::vector<double> x) {
  const std::size_t n = x.size();
  std::vector<double> h(n * n);
  for (std::size_t j = 0; j < n; ++j) {
    const double x_j = x[j];
    const double step = 1e-5 * std::max(1.0, std::abs(x_j));
    x[j] = x_j + step;
    const auto up = tinygrad::gradient(f, x);
    x[j] = x_j - step;
    const auto down = tinygrad::gradient(f, x);
    x[j] = x_j;
    for (std::size_t i = 0; i < n; ++i) {
      h[i * n + j] = (up[i] - down[i]) / (2 * step);
    }
  }
  return h;
}

}  // namespace

TEST_CASE("hessian of Rosenbrock matches its analytic Hessian") {
  for (const std::vector<double>& x :
       {std::vector<double>{-1.2, 1.0}, std::vector<double>{0.5, 0.3, -0.7, 1.1, 2.0}}) {
    const auto h = tinygrad::hessian(rosenbrock, x);
    const auto expected = rosenbrock_hessian(x);
    REQUIRE(h.rows() == x.size());
    REQUIRE(h.cols() == x.size());
    for (std::size_t i = 0; i < h.size(); ++i) {
      INFO("entry ", i);
      check_close(h.values()[i], expected[i], 1e-13);
    }
  }
}

TEST_CASE(
    "hessian through every elementary function and policy matches differences of the "
    "gradient") {
  // Each term mixes both coordinates, so the off-diagonal entries are tested
  // too. The terms come in three functions: as one expression of some 150
  // temporaries, on three scalar types, they take g++ a minute to optimise.
  const auto powers_and_logarithms = [](const auto& a, const auto& b) {
    return exp(a * b) + log(a + b) + sqrt(a * b) + pow(a, b) + pow(a * b, 3) + pow(2.0, a * b) +
           exp2(a * b) + expm1(a * b) + log2(a + b) + log10(a * b) + log1p(a * b) + cbrt(a * b) +
           hypot(a, b) + a / b + 1.0 / (a * b);
  };
  const auto trigonometric_and_hyperbolic = [](const auto& a, const auto& b) {
    return sin(a * b) + cos(a - b) + tan(a * b) + tanh(a * b) + asin(a * b) + acos(a * b) +
           atan(a * b) + atan2(a, b) + sinh(a * b) + cosh(a * b) + asinh(a * b) +
           acosh(a + b + 1.0) + atanh(a * b) + erf(a * b) + erfc(a * b);
  };
  const auto kinks_and_policies = [](const auto& a, const auto& b) {
    using tinygrad::sigmoid, tinygrad::relu, tinygrad::leaky_relu, tinygrad::softplus,
        tinygrad::silu, tinygrad::gelu, tinygrad::elu;
    return abs(a - b) * b + min(a, b) * a + max(a, b) * b + sigmoid(a * b) + relu(a * b) * a +
           leaky_relu(a - b) * b + softplus(a * b) + silu(a * b) + gelu(a * b) + elu(a - b) * a +
           tinygrad::activate<tinygrad::Identity>(a) * b;
  };
  const auto f = [=](auto x) {
    return powers_and_logarithms(x[0], x[1]) + trigonometric_and_hyperbolic(x[0], x[1]) +
           kinks_and_policies(x[0], x[1]);
  };
  for (const std::vector<double>& x :
       {std::vector<double>{0.4, 0.7}, std::vector<double>{0.9, 0.2}}) {
    const auto h = tinygrad::hessian(f, x);
    const auto expected = hessian_by_differences(f, x);
    for (std::size_t i = 0; i < h.size(); ++i) {
      INFO("entry ", i, " at (", x[0], ", ", x[1], ")");
      check_close(h.values()[i], expected[i], 1e-6);
    }
    CHECK(h(0, 1) == doctest::Approx(h(1, 0)).epsilon(1e-12));  // symmetric
  }
}

TEST_CASE("hessian of pow at exponent 0: the partial's own derivative survives") {
  // f = x^y at (2, 0). d/dx = y x^(y-1) is 0 there, but its derivative in y,
  // x^(y-1) (1 + y ln x) = 1/x, is not: f_xy = 0.5. f_xx = y (y-1) x^(y-2) = 0,
  // f_yy = x^y (ln x)^2. (The fuzzer found a special case that returned a
  // constant 0 for y = 0 and so lost f_xy.)
  const auto f = [](auto v) { return pow(v[0], v[1]); };
  const auto h = tinygrad::hessian(f, std::vector<double>{2.0, 0.0});
  CHECK(h(0, 0) == 0.0);
  CHECK(h(0, 1) == doctest::Approx(0.5).epsilon(1e-15));
  CHECK(h(1, 0) == doctest::Approx(0.5).epsilon(1e-15));
  CHECK(h(1, 1) == doctest::Approx(std::log(2.0) * std::log(2.0)).epsilon(1e-15));
}

TEST_CASE("hvp equals the Hessian times v") {
  const std::vector<double> x{0.5, 0.3, -0.7, 1.1, 2.0};
  const std::vector<double> v{1.0, -2.0, 0.5, 0.0, 3.0};
  const auto hv = tinygrad::hvp(rosenbrock, x, v);
  const auto h = rosenbrock_hessian(x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    double expected = 0;
    for (std::size_t j = 0; j < x.size(); ++j) {
      expected += h[i * x.size() + j] * v[j];
    }
    check_close(hv[i], expected, 1e-13);
  }
  CHECK_THROWS_WITH_AS(tinygrad::hvp(rosenbrock, x, std::vector<double>{1.0}),
                       "tinygrad::hvp: v has 1 elements but x has 5", std::invalid_argument);
}

// ---- Forward mode ----

TEST_CASE("jvp: J v in one evaluation on Duals, equal to the Jacobian times v") {
  const auto f = [](auto x) {
    return std::vector{x[0] * x[1], sin(x[0]) + x[2], exp(x[1] * x[2]), x[2] / x[0]};
  };
  const std::vector<double> x{0.5, -1.0, 2.0};
  const std::vector<double> v{1.0, 0.5, -2.0};
  const std::vector<double> product = tinygrad::jvp(f, x, v);
  const auto jac = tinygrad::jacobian(f, x, tinygrad::reverse_mode);
  REQUIRE(product.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    double expected = 0;
    for (std::size_t j = 0; j < 3; ++j) {
      expected += jac(i, j) * v[j];
    }
    check_close(product[i], expected, 1e-15);
  }
  // By hand: row 0 of J v is x1 v0 + x0 v1.
  CHECK(product[0] == -1.0 * 1.0 + 0.5 * 0.5);
  // A scalar function: the directional derivative, a number.
  const double along = tinygrad::jvp(rosenbrock, x, v);
  const auto g = tinygrad::gradient(rosenbrock, x);
  check_close(along, g[0] * v[0] + g[1] * v[1] + g[2] * v[2], 1e-14);
  CHECK_THROWS_WITH_AS((void)tinygrad::jvp(f, x, std::vector<double>{1.0}),
                       "tinygrad::jvp: v has 1 elements but x has 3", std::invalid_argument);
}

TEST_CASE("jvp and hvp: f may itself call jvp and hvp on the same value type") {
  // The inner calls seed their own point while the outer one is still being
  // read: each must get its own buffer.
  const auto square_sum = [](auto y) { return y[0] * y[0] + y[1] * y[1]; };
  const std::vector<double> y{3.0, 4.0};
  const std::vector<double> w{1.0, 0.0};
  const auto outer = [&](auto x) {
    const double inner = tinygrad::jvp(square_sum, y, w);         // 2 y0 = 6
    const double curvature = tinygrad::hvp(square_sum, y, w)[0];  // 2
    return x[0] * x[1] * inner + curvature * x[1];
  };
  const std::vector<double> x{0.5, -1.5};
  const std::vector<double> v{2.0, 1.0};
  // d/dt of 6 x0 x1 + 2 x1 along v: 6 (x1 v0 + x0 v1) + 2 v1.
  CHECK(tinygrad::jvp(outer, x, v) == 6.0 * (-1.5 * 2.0 + 0.5 * 1.0) + 2.0 * 1.0);
  // H of 6 x0 x1 is [[0, 6], [6, 0]]: H v = (6 v1, 6 v0).
  CHECK(tinygrad::hvp(outer, x, v) == std::vector<double>{6.0, 12.0});
}

TEST_CASE("derivative: d/dx of a function of one variable") {
  const auto f = [](auto t) { return t * t * exp(-t); };
  for (const double t : {-1.0, 0.5, 3.0}) {
    check_close(tinygrad::derivative(f, t), (2 * t - t * t) * std::exp(-t), 1e-15);
    check_close(tinygrad::derivative(f, t), tinygrad_test::central_difference(f, t), 1e-8);
  }
  CHECK(tinygrad::derivative([](auto t) { return sigmoid(t); }, 0.0f) == 0.25f);
}

TEST_CASE("jacobian: by columns where f has fewer inputs than outputs, and either way on request") {
  // Counts f's evaluations on Duals, to see which way jacobian went.
  int forward_passes = 0;
  const auto f = [&](auto x) {
    using Number = typename decltype(x)::value_type;
    if constexpr (tinygrad::detail::is_dual<Number>) {
      ++forward_passes;
    }
    std::vector<Number> out;
    for (std::size_t i = 0; i < 7; ++i) {  // 7 outputs
      Number term = x[0] * static_cast<double>(i + 1);
      for (std::size_t j = 1; j < x.size(); ++j) {
        term = term + sin(x[j] * static_cast<double>(i));
      }
      out.push_back(term);
    }
    return out;
  };
  const std::vector<double> x{0.3, -0.8, 1.1, 0.6, 2.0, -1.4};  // 6 inputs: two passes, 4 + 2
  const auto by_rows = tinygrad::jacobian(f, x, tinygrad::reverse_mode);
  CHECK(forward_passes == 0);
  const auto automatic = tinygrad::jacobian(f, x);
  CHECK(forward_passes == 2);
  const auto by_columns = tinygrad::jacobian(f, x, tinygrad::forward_mode);
  CHECK(forward_passes == 4);
  REQUIRE(automatic.rows() == 7);
  REQUIRE(automatic.cols() == 6);
  CHECK(by_columns == automatic);
  for (std::size_t i = 0; i < 7; ++i) {
    for (std::size_t j = 0; j < 6; ++j) {
      INFO("(", i, ", ", j, ")");
      const double by_hand = j == 0
                                 ? static_cast<double>(i + 1)
                                 : static_cast<double>(i) * std::cos(x[j] * static_cast<double>(i));
      check_close(automatic(i, j), by_hand, 1e-15);
      check_close(by_rows(i, j), by_hand, 1e-15);
    }
  }
  // As many inputs as outputs, or more: by rows, no forward pass.
  forward_passes = 0;
  const auto square = tinygrad::jacobian(f, std::vector<double>(7, 0.5));
  CHECK(forward_passes == 0);
  CHECK(square.cols() == 7);
  const auto wide = tinygrad::jacobian(f, std::vector<double>(9, 0.5));
  CHECK(forward_passes == 0);
  CHECK(wide.rows() == 7);
  // f written for Vars only: by rows, always.
  const auto vars_only = [](std::span<const Var<double>> v) {
    return std::vector<Var<double>>{v[0], v[0] * v[0], v[0] * v[0] * v[0]};
  };
  CHECK(tinygrad::jacobian(vars_only, std::vector<double>{2.0})(2, 0) == 12.0);
  // No inputs, by columns: f evaluated once for its outputs' count.
  const auto none = tinygrad::jacobian(
      [](auto v) {
        using Number = typename decltype(v)::value_type;
        return std::vector<Number>(3, v.empty() ? Number(1.0) : v[0]);
      },
      std::vector<double>{}, tinygrad::forward_mode);
  CHECK(none.rows() == 3);
  CHECK(none.cols() == 0);
}

// ---- Hessian sparsity ----

namespace {

/// Whether no two columns of one colour have a position in the same row.
bool colouring_is_valid(const tinygrad::HessianSparsity& pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    std::vector<int> seen(pattern.colours(), 0);
    for (const std::uint32_t j : pattern.row(i)) {
      if (seen[pattern.colour_of(j)]++ != 0) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

TEST_CASE("hessian_sparsity: tridiagonal Rosenbrock needs 3 colours whatever n") {
  // Bit sets of one, two and four words, and sorted index sets beyond 256.
  for (const std::size_t n :
       {std::size_t{5}, std::size_t{100}, std::size_t{200}, std::size_t{300}}) {
    INFO("n = ", n);
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = 0.5 + 0.3 * std::sin(static_cast<double>(i));
    }
    const tinygrad::HessianSparsity pattern = tinygrad::hessian_sparsity(rosenbrock, x);
    CHECK(pattern.size() == n);
    CHECK(pattern.nonzeros() == 3 * n - 2);
    CHECK(pattern.colours() == 3);
    CHECK(colouring_is_valid(pattern));
    for (std::size_t i = 0; i < n; ++i) {
      const auto row = pattern.row(i);
      CHECK(row.front() == (i == 0 ? 0 : i - 1));
      CHECK(row.back() == std::min(i + 1, n - 1));
    }
    // The sparse Hessian is the dense one on the pattern, and zero elsewhere.
    const auto sparse = tinygrad::sparse_hessian(rosenbrock, x, pattern);
    CHECK(sparse.entries.size() == 3 * n - 2);
    const auto expected = rosenbrock_hessian(x);
    const auto dense = sparse.to_dense();
    for (std::size_t k = 0; k < n * n; ++k) {
      INFO("entry ", k);
      check_close(dense.values()[k], expected[k], 1e-13);
    }
    CHECK(tinygrad::sparse_hessian(rosenbrock, x).to_dense() == dense);
    CHECK(tinygrad::hessian(rosenbrock, x) == dense);
  }
}

TEST_CASE("hessian from the recorded gradient: its shortcuts give the first-order numbers") {
  // The gradient that hessian records (9 inputs or more) is swept with
  // shortcuts that record fewer entries: a * 1 is a, a * -1 added is a
  // subtracted, the constant adjoint 1 times a partial is the partial, and
  // an adjoint still 0 takes a nonzero share as it is. Its values must be
  // the first-order gradient's, bit for bit: at x1 = -0 the only share of
  // x7 is -0, which the first-order sweep adds to 0, giving +0. Its
  // derivatives are H, here small integers, exact:
  // H01 = H17 = H06 = 1, H56 = H25 = -1, H22 = H33 = H88 = 2, H38 = -2.
  const auto f = [](auto x) {
    const auto d = x[8] - x[3];
    return x[0] * x[1] - x[2] + -1.0 * x[3] + x[4] * 1.0 - (x[5] - x[0]) * x[6] +
           1.0 * (x[2] - x[5]) * x[2] - x[6] * -1.0 + x[7] * x[1] + d * d;
  };
  const std::vector<double> point{0.75, -0.0, 1.5, -2.0, 3.0, 0.25, -1.25, 2.0, 0.5};
  const std::size_t n = point.size();
  std::vector<double> first_order(n);
  tinygrad::gradient(f, point, first_order);
  REQUIRE(first_order[7] == 0.0);
  CHECK_FALSE(std::signbit(first_order[7]));
  tinygrad::detail::with_gradient_recorded<double>(
      f, std::span<const double>(point),
      [&](std::span<const Var<double>>, std::span<const Var<double>> gradient) {
        for (std::size_t i = 0; i < n; ++i) {
          INFO("coordinate ", i);
          CHECK(std::bit_cast<std::uint64_t>(gradient[i].value()) ==
                std::bit_cast<std::uint64_t>(first_order[i]));
        }
      });
  // What the shortcuts save: on Rosenbrock each term of the sum records 18
  // entries below, its value's and its gradient's (36 with every adjoint
  // starting from a zero leaf, as backward() starts them), beside the 100
  // inputs and the sum's initial 0.
  const std::vector<double> x100(100, 0.5);
  tinygrad::detail::with_gradient_recorded<double>(
      rosenbrock, std::span<const double>(x100),
      [](std::span<const Var<double>>, std::span<const Var<double>>) {
        CHECK(tinygrad::Tape<double>::current().size() <= 101 + 18 * 99);
      });
  std::vector<double> expected(n * n, 0.0);
  const auto set = [&](std::size_t i, std::size_t j, double h) {
    expected[i * n + j] = h;
    expected[j * n + i] = h;
  };
  set(0, 1, 1);
  set(1, 7, 1);
  set(0, 6, 1);
  set(5, 6, -1);
  set(2, 5, -1);
  set(2, 2, 2);
  set(3, 3, 2);
  set(8, 8, 2);
  set(3, 8, -2);
  const auto h = tinygrad::hessian(f, point);
  for (std::size_t k = 0; k < n * n; ++k) {
    INFO("entry (", k / n, ", ", k % n, ")");
    CHECK(h.values()[k] == expected[k]);
  }
}

TEST_CASE("sparse_hessian: entries in row order when the colours take several passes") {
  // f = s^2 with s = sum x_i^2 has the dense Hessian 8 x_i x_j + 4 s [i = j]:
  // seven colours, so the recorded gradient's forward sweeps (four colours
  // each) take two passes and the products on a given pattern (one colour
  // each) seven, each pass writing its own columns row by row.
  const auto square_of_squares = [](auto v) {
    auto s = v[0] * v[0];
    for (std::size_t i = 1; i < v.size(); ++i) {
      s = s + v[i] * v[i];
    }
    return s * s;
  };
  const std::vector<double> x{0.3, -1.2, 0.7, 2.0, -0.4, 1.1, 0.5};
  const std::size_t n = x.size();
  double s = 0.0;
  for (const double xi : x) {
    s += xi * xi;
  }
  const auto check = [&](const tinygrad::SparseHessian<double>& h) {
    REQUIRE(h.entries.size() == n * n);
    for (std::size_t k = 0; k < n * n; ++k) {
      const std::size_t i = k / n;
      const std::size_t j = k % n;
      INFO("entry ", k);
      CHECK(h.entries[k].row == i);
      CHECK(h.entries[k].col == j);
      check_close(h.entries[k].value, 8.0 * x[i] * x[j] + (i == j ? 4.0 * s : 0.0), 1e-14);
    }
  };
  const tinygrad::HessianSparsity pattern = tinygrad::hessian_sparsity(square_of_squares, x);
  CHECK(pattern.colours() == n);
  check(tinygrad::sparse_hessian(square_of_squares, x));
  check(tinygrad::sparse_hessian(square_of_squares, x, pattern));
}

TEST_CASE("hessian_sparsity: what f's gradient reads, not what its value reads") {
  const std::vector<double> x{0.3, -1.2, 0.8, 2.0};
  // A scaled sum of squares: the running sum reads every input, its gradient
  // only its own. Diagonal, one colour.
  const auto squares = [](auto v) {
    auto sum = v[0] * v[0];
    for (std::size_t i = 1; i < v.size(); ++i) {
      sum = sum + v[i] * v[i];
    }
    return 0.5 * sum;
  };
  const auto diagonal = tinygrad::hessian_sparsity(squares, x);
  CHECK(diagonal.nonzeros() == 4);
  CHECK(diagonal.colours() == 1);
  const auto h = tinygrad::sparse_hessian(squares, x, diagonal);
  for (const auto& e : h.entries) {
    CHECK(e.row == e.col);
    CHECK(e.value == 1.0);
  }
  // The square of a sum: every pair. Dense, one colour per column.
  const auto square_of_sum = [](auto v) {
    auto sum = v[0];
    for (std::size_t i = 1; i < v.size(); ++i) {
      sum = sum + v[i];
    }
    return sum * sum;
  };
  const auto dense = tinygrad::hessian_sparsity(square_of_sum, x);
  CHECK(dense.nonzeros() == 16);
  CHECK(dense.colours() == 4);
  CHECK(tinygrad::hessian(square_of_sum, x)(1, 3) == 2.0);
  // An input the function ignores: an empty row and column.
  const auto ignores_last = [](auto v) { return v[0] * v[1] * v[2]; };
  const auto pattern = tinygrad::hessian_sparsity(ignores_last, x);
  CHECK(pattern.row(3).empty());
  CHECK(pattern.nonzeros() == 6);  // the off-diagonal pairs of 0, 1, 2
  CHECK(tinygrad::hessian(ignores_last, x)(0, 1) == x[2]);
}

TEST_CASE("hessian_sparsity: symmetric where the recorded gradient is not") {
  // pow(x, y) at x = 0: d/dy = x^y log(x) is taken as 0 there, a constant,
  // so the recorded gradient's y component reads no input, while its x
  // component, y x^(y - 1), reads both. The pattern is the union of the
  // rows with their transpose.
  const auto f = [](auto v) {
    using tinygrad::pow;
    return pow(v[0], v[1]);
  };
  const tinygrad::HessianSparsity p = tinygrad::hessian_sparsity(f, std::vector<double>{0.0, 2.0});
  REQUIRE(p.size() == 2);
  CHECK(std::vector<std::uint32_t>(p.row(0).begin(), p.row(0).end()) ==
        std::vector<std::uint32_t>{0, 1});
  CHECK(std::vector<std::uint32_t>(p.row(1).begin(), p.row(1).end()) ==
        std::vector<std::uint32_t>{0});
}

TEST_CASE("HessianSparsity: symmetric, valid colouring, and bad input") {
  // A pattern given by one triangle is made symmetric.
  const tinygrad::HessianSparsity arrow({{0, 1, 2, 3, 4}, {1}, {2}, {3}, {4}});
  CHECK(arrow.nonzeros() == 5 + 4 + 4);
  CHECK(arrow.row(3).size() == 2);
  CHECK(colouring_is_valid(arrow));
  CHECK(arrow.colours() == 5);  // row 0 meets every column
  // A pseudo-random pattern.
  std::vector<std::vector<std::uint32_t>> rows(40);
  unsigned state = 12345;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (int k = 0; k < 3; ++k) {
      state = state * 1103515245u + 12345u;
      rows[i].push_back((state >> 8) % 40);
    }
  }
  const tinygrad::HessianSparsity random(rows);
  CHECK(colouring_is_valid(random));
  CHECK(random.colours() < 40);
  CHECK(colouring_is_valid(tinygrad::HessianSparsity::dense(6)));
  // Compressed rows give the same pattern as lists of columns.
  const std::vector<std::size_t> begin{0, 5, 6, 7, 8, 9};
  const std::vector<std::uint32_t> columns{0, 1, 2, 3, 4, 1, 2, 3, 4};
  CHECK(tinygrad::HessianSparsity(begin, columns) == arrow);
  CHECK_THROWS_WITH_AS(
      tinygrad::HessianSparsity(std::vector<std::size_t>{0, 3}, columns),
      "tinygrad::HessianSparsity: row_begin must rise from 0 to the number of columns",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(tinygrad::HessianSparsity({{0}, {5}}),
                       "tinygrad::HessianSparsity: row 1 names column 5 of a 2 x 2 pattern",
                       std::invalid_argument);
  const std::vector<double> x{1.0, 2.0, 3.0};
  CHECK_THROWS_WITH_AS((void)tinygrad::sparse_hessian(rosenbrock, x, arrow),
                       "tinygrad::hessian: the sparsity pattern has 5 elements but x has 3",
                       std::invalid_argument);
}
