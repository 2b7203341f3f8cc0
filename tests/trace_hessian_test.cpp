// SPDX-License-Identifier: MIT
// Second derivatives of a trace (Trace::hvp, hessian, sparse_hessian,
// hessian_sparsity): against the Hessian of a recording (functional.hpp's
// hessian and hvp, on nested tapes) for every operation and policy, against
// hand-derived Hessians and central differences of the replayed gradient;
// the sparsity pattern read from the trace; guards that flip; data; errors.
// And a trace's workspaces (one point, lanes, second order) after a retrace.

#include <tinygrad/functional.hpp>
#include <tinygrad/trace.hpp>
#include <tinygrad/var.hpp>

#include "support/rosenbrock.hpp"
#include "support/square_policy.hpp"

#include <doctest/doctest.h>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using tinygrad::Trace;
using tinygrad_test::rosenbrock;

namespace {

/// Whether a and b agree to a few ulps of the larger (both NaN counts).
bool close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b);
  }
  return std::abs(a - b) <= 1e-13 * std::max({1.0, std::abs(a), std::abs(b)});
}

/// Traces f at `traced_at` and, at each of `points`, compares the trace's
/// Hessian (dense and sparse) and its product with a direction against the
/// ones recorded on nested tapes (tinygrad::hessian, tinygrad::hvp).
template <class F>
void check_against_recording(F f, const std::vector<double>& traced_at,
                             const std::vector<std::vector<double>>& points) {
  Trace<double> t = tinygrad::trace(f, traced_at);
  for (const std::vector<double>& x : points) {
    const std::size_t n = x.size();
    INFO("at x[0] = ", x[0], ", x[1] = ", x[1]);
    const tinygrad::Matrix<double> expected = tinygrad::hessian(f, x);
    const tinygrad::Matrix<double> h = t.hessian(x);
    const tinygrad::SparseHessian<double> sparse = t.sparse_hessian(x);
    tinygrad::Matrix<double> from_sparse(n, n);
    for (const auto& e : sparse.entries) {
      from_sparse(e.row, e.col) = e.value;
    }
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        INFO("H(", i, ", ", j, "): trace ", h(i, j), ", recording ", expected(i, j));
        CHECK(close(h(i, j), expected(i, j)));
        CHECK(close(from_sparse(i, j), expected(i, j)));
      }
    }
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) {
      v[i] = 0.7 - 0.9 * static_cast<double>(i);
    }
    const std::vector<double> hv = t.hvp(x, v);
    const std::vector<double> expected_hv = tinygrad::hvp(f, x, v);
    for (std::size_t i = 0; i < n; ++i) {
      INFO("(H v)", i, ": trace ", hv[i], ", recording ", expected_hv[i]);
      CHECK(close(hv[i], expected_hv[i]));
    }
  }
}

/// Function k of derivatives.hpp and the built-in policies, on any number
/// type, by number: one switch, so that the test instantiates the nested
/// recordings once for all of them instead of once per function.
struct UnaryCase {
  const char* name;
  double traced_at;
  double points[3];  // in its domain
};
constexpr UnaryCase unary_cases[] = {
    {"exp", 0.3, {-1.2, 2.5, 0.0}},       {"exp2", 0.3, {-1.2, 2.5, 0.0}},
    {"expm1", 0.3, {-1.2, 2.5, 1e-9}},    {"log", 0.3, {1.2, 2.5, 7.0}},
    {"log2", 0.3, {1.2, 2.5, 7.0}},       {"log10", 0.3, {1.2, 2.5, 7.0}},
    {"log1p", 0.3, {0.2, 2.5, 1e-9}},     {"sqrt", 0.3, {1.2, 2.5, 7.0}},
    {"cbrt", 0.3, {-1.2, 2.5, -7.0}},     {"sin", 0.3, {-1.2, 2.5, 0.0}},
    {"cos", 0.3, {-1.2, 2.5, 0.0}},       {"tan", 0.3, {-1.2, 1.5, 0.0}},
    {"asin", 0.3, {-0.2, 0.9, -0.99}},    {"acos", 0.3, {-0.2, 0.9, -0.99}},
    {"atan", 0.3, {-1.2, 2.5, 0.0}},      {"sinh", 0.3, {-1.2, 2.5, 0.0}},
    {"cosh", 0.3, {-1.2, 2.5, 0.0}},      {"asinh", 0.3, {-1.2, 2.5, 0.0}},
    {"acosh", 3.3, {2.2, 2.5, 7.0}},      {"atanh", 0.3, {-0.2, 0.9, -0.99}},
    {"erf", 0.3, {-1.2, 2.5, 0.0}},       {"erfc", 0.3, {-1.2, 2.5, 0.0}},
    {"abs", 0.3, {-1.2, 2.5, 0.5}},       {"Sigmoid", 0.3, {-1.2, 2.5, -40.0}},
    {"Tanh", 0.3, {-1.2, 2.5, 0.0}},      {"ReLU", 0.3, {-1.2, 2.5, 0.5}},
    {"LeakyReLU", 0.3, {-1.2, 2.5, 0.5}}, {"Softplus", 0.3, {-1.2, 2.5, -30.0}},
    {"SiLU", 0.3, {-1.2, 2.5, 0.0}},      {"GELU", 0.3, {-1.2, 2.5, 0.0}},
    {"ELU", 0.3, {-1.2, 2.5, 0.0}}};

template <class X>
X unary_function(std::size_t k, const X& x) {
  using namespace tinygrad;  // NOLINT(google-build-using-namespace): every function below
  switch (k) {
    case 0:
      return exp(x);
    case 1:
      return exp2(x);
    case 2:
      return expm1(x);
    case 3:
      return log(x);
    case 4:
      return log2(x);
    case 5:
      return log10(x);
    case 6:
      return log1p(x);
    case 7:
      return sqrt(x);
    case 8:
      return cbrt(x);
    case 9:
      return sin(x);
    case 10:
      return cos(x);
    case 11:
      return tan(x);
    case 12:
      return asin(x);
    case 13:
      return acos(x);
    case 14:
      return atan(x);
    case 15:
      return sinh(x);
    case 16:
      return cosh(x);
    case 17:
      return asinh(x);
    case 18:
      return acosh(x);
    case 19:
      return atanh(x);
    case 20:
      return erf(x);
    case 21:
      return erfc(x);
    case 22:
      return abs(x);
    case 23:
      return activate<Sigmoid>(x);
    case 24:
      return activate<Tanh>(x);
    case 25:
      return activate<ReLU>(x);
    case 26:
      return activate<LeakyReLU>(x);
    case 27:
      return activate<Softplus>(x);
    case 28:
      return activate<SiLU>(x);
    case 29:
      return activate<GELU>(x);
    default:
      return activate<ELU>(x);
  }
}

}  // namespace

TEST_CASE("a trace's Hessian is the recorded one: every function and built-in policy") {
  for (std::size_t k = 0; k < std::size(unary_cases); ++k) {
    const UnaryCase& c = unary_cases[k];
    INFO(c.name);
    check_against_recording(
        [k](auto x) {
          return unary_function(k, x[0]) * x[1] +
                 unary_function(k, x[1] * 0.5) * unary_function(k, x[0]);
        },
        {c.traced_at, c.points[0]},
        {{c.points[0], c.points[1]}, {c.points[1], c.points[2]}, {c.points[2], c.traced_at}});
  }
}

namespace {

/// Two-argument operation k of the list below, on any mix of number types.
constexpr const char* binary_names[] = {"+", "-", "*", "/", "pow", "hypot", "atan2", "min", "max"};

template <class A, class B>
auto binary_function(std::size_t k, const A& a, const B& b) {
  using namespace tinygrad;  // NOLINT(google-build-using-namespace): pow ... max
  using R = decltype(a + b);
  switch (k) {
    case 0:
      return R(a + b);
    case 1:
      return R(a - b);
    case 2:
      return R(a * b);
    case 3:
      return R(a / b);
    case 4:
      return R(pow(a, b));
    case 5:
      return R(hypot(a, b));
    case 6:
      return R(atan2(a, b));
    case 7:
      return R(min(a, b));
    default:
      return R(max(a, b));
  }
}

}  // namespace

TEST_CASE("a trace's Hessian is the recorded one: operators and two-argument functions") {
  // Each with both arguments traced, with a constant first, with a
  // constant second, and with the same Traced twice.
  const std::vector<std::vector<double>> points{{1.7, 0.6}, {0.4, 2.2}, {1.1, 0.35}};
  const std::vector<double> traced_at{0.9, 1.3};
  for (std::size_t k = 0; k < std::size(binary_names); ++k) {
    INFO(binary_names[k]);
    const double c = k >= 7 ? 2.0 : 2.5;
    check_against_recording([k](auto x) { return binary_function(k, x[0], x[1]) * x[0]; },
                            traced_at, points);
    check_against_recording([k, c](auto x) { return binary_function(k, x[0], c) * x[1]; },
                            traced_at, points);
    check_against_recording([k, c](auto x) { return binary_function(k, c, x[1]) * x[0]; },
                            traced_at, points);
    check_against_recording([k](auto x) { return binary_function(k, x[0], x[0]) * x[1]; },
                            traced_at, points);
  }
}

TEST_CASE("a trace's Hessian is the recorded one: negation and compound assignment") {
  check_against_recording(
      [](auto x) {
        auto s = -x[0];
        s += x[1] * x[1];
        s -= 2.0;
        s *= x[0];
        s /= x[1];
        return s;
      },
      {0.9, 1.3}, {{1.7, 0.6}, {-0.4, 2.2}});
}

TEST_CASE("a trace's Hessian against the hand-derived one and central differences") {
  SUBCASE("Rosenbrock, by hand: tridiagonal") {
    const std::size_t n = 12;
    std::vector<double> x0(n);
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) {
      x0[i] = 0.5 + 0.1 * static_cast<double>(i);
      x[i] = 1.0 - 0.3 * std::sin(static_cast<double>(i));
    }
    Trace<double> t = tinygrad::trace([](auto p) { return rosenbrock(p); }, x0);
    const tinygrad::Matrix<double> h = t.hessian(x);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        // d2/dxi dxj of sum_k 100 (x[k+1] - x[k]^2)^2 + (1 - x[k])^2.
        double expected = 0.0;
        if (i == j) {
          expected = (i + 1 < n ? 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0 : 0.0) +
                     (i > 0 ? 200.0 : 0.0);
        } else if (j == i + 1) {
          expected = -400.0 * x[i];
        } else if (i == j + 1) {
          expected = -400.0 * x[j];
        }
        INFO("H(", i, ", ", j, ") = ", h(i, j), ", by hand ", expected);
        CHECK(h(i, j) == doctest::Approx(expected).epsilon(1e-14));
      }
    }
    CHECK(t.hessian_sparsity().nonzeros() == 3 * n - 2);
    CHECK(t.hessian_sparsity().colours() == 3);
  }
  SUBCASE("every kind of operation, by differences of the replayed gradient") {
    const auto f = [](auto x) {
      using tinygrad::exp, tinygrad::log, tinygrad::pow, tinygrad::atan2, tinygrad::sigmoid;
      return x[0] * x[1] / x[2] + exp(x[0] * x[2]) + pow(x[0], x[1]) + atan2(x[2], x[0]) +
             3.0 / x[1] - log(x[2]) * x[1] + sigmoid(x[0] - x[2]) * x[1];
    };
    const std::vector<double> x{0.8, 1.4, 0.6};
    Trace<double> t = tinygrad::trace(f, std::vector<double>{1.0, 1.0, 1.0});
    const tinygrad::Matrix<double> h = t.hessian(x);
    const double step = 1e-5;
    for (std::size_t j = 0; j < x.size(); ++j) {
      std::vector<double> up = x;
      std::vector<double> down = x;
      up[j] += step;
      down[j] -= step;
      std::vector<double> g_up(x.size());
      std::vector<double> g_down(x.size());
      t.gradient(up, g_up);
      t.gradient(down, g_down);
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double difference = (g_up[i] - g_down[i]) / (2 * step);
        INFO("H(", i, ", ", j, ") = ", h(i, j), ", by differences ", difference);
        CHECK(h(i, j) == doctest::Approx(difference).epsilon(1e-7));
      }
    }
  }
}

TEST_CASE("a float trace's Hessian") {
  // Rosenbrock in float against its Hessian by hand, at float's precision.
  const std::vector<float> x{0.8F, 1.1F, -0.4F, 0.3F};
  Trace<float> t =
      tinygrad::trace([](auto p) { return rosenbrock(p); }, std::vector<float>(4, 1.0F));
  const tinygrad::Matrix<float> h = t.hessian(x);
  for (std::size_t i = 0; i < 4; ++i) {
    const float own = i < 3 ? 1200.0F * x[i] * x[i] - 400.0F * x[i + 1] + 2.0F : 0.0F;
    CHECK(h(i, i) == doctest::Approx(own + (i > 0 ? 200.0F : 0.0F)).epsilon(1e-5));
    if (i < 3) {
      CHECK(h(i, i + 1) == doctest::Approx(-400.0F * x[i]).epsilon(1e-5));
      CHECK(h(i + 1, i) == h(i, i + 1));
    }
  }
  const std::vector<float> hv = t.hvp(x, std::vector<float>{1.0F, 0.0F, 0.0F, 0.0F});
  CHECK(hv[0] == h(0, 0));
  CHECK(hv[1] == h(1, 0));
}

TEST_CASE("the sparsity pattern is read from the trace") {
  SUBCASE("an input met only in sums has an empty row; a sum passes its inputs on") {
    Trace<double> t = tinygrad::trace(
        [](auto x) {
          const auto s = x[0] + x[1] + 2.0 * x[2];  // linear in all three
          return s * x[3] + x[4];                   // x4 only added
        },
        std::vector<double>{1.0, 2.0, 3.0, 4.0, 5.0});
    const tinygrad::HessianSparsity& pattern = t.hessian_sparsity();
    CHECK(pattern.nonzeros() == 6);  // (0, 3), (1, 3), (2, 3) and their mirrors
    CHECK(pattern.row(4).empty());
    CHECK(pattern.row(3).size() == 3);
    const tinygrad::Matrix<double> h = t.hessian(std::vector<double>{0.5, 0.1, -0.2, 0.3, 9.0});
    CHECK(h(0, 3) == 1.0);
    CHECK(h(3, 2) == 2.0);
    CHECK(h(3, 3) == 0.0);
  }
  SUBCASE("operations the value does not depend on add nothing") {
    Trace<double> t = tinygrad::trace(
        [](auto x) {
          const auto unused = x[0] * x[1];  // traced, but not part of the result
          (void)unused;
          return x[0] + x[1] * x[1];
        },
        std::vector<double>{1.0, 2.0});
    CHECK(t.hessian_sparsity().nonzeros() == 1);
  }
  SUBCASE("a dense Hessian: as many colours as inputs, four to a pass") {
    const auto f = [](auto x) {
      using tinygrad::exp;
      auto s = x[0] * 0.0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        s += x[i];
      }
      return exp(s * 0.1) + s * s;
    };
    std::vector<double> x0(9);
    std::vector<double> x(9);
    for (std::size_t i = 0; i < 9; ++i) {
      x0[i] = 0.1 * static_cast<double>(i);
      x[i] = 0.3 - 0.05 * static_cast<double>(i);
    }
    check_against_recording(f, x0, {x});
    Trace<double> t = tinygrad::trace(f, x0);
    CHECK(t.hessian_sparsity().colours() == 9);
    // Three passes, each writing its own columns row by row; the coordinate
    // form still comes in row order, and in column order within a row.
    const tinygrad::SparseHessian<double> sparse = t.sparse_hessian(x);
    REQUIRE(sparse.entries.size() == 81);
    for (std::size_t k = 0; k < 81; ++k) {
      INFO("entry ", k);
      CHECK(sparse.entries[k].row == k / 9);
      CHECK(sparse.entries[k].col == k % 9);
    }
  }
}

namespace {

/// a = x0 + ... + x(m-1), b = xm + ... + x(2m-1), and the sum of `products`
/// products a * b: each meets m x m pairs, the blocks (a, b) and (b, a) of
/// the Hessian, whose entries are `products`.
auto products_of_two_sums(std::size_t m, std::size_t products) {
  return [m, products](auto x) {
    auto a = x[0];
    auto b = x[m];
    for (std::size_t i = 1; i < m; ++i) {
      a += x[i];
      b += x[m + i];
    }
    auto sum = a * b;
    for (std::size_t k = 1; k < products; ++k) {
      sum += a * b;
    }
    return sum;
  };
}

}  // namespace

TEST_CASE("up to 256 inputs the pattern is exact however many pairs meet") {
  // From bit sets: five products of two 100-input sums meet 50,000 pairs,
  // but the pattern is the two blocks.
  const std::size_t n = 200;
  Trace<double> five = tinygrad::trace(products_of_two_sums(100, 5), std::vector<double>(n, 0.5));
  CHECK(five.hessian_sparsity().nonzeros() == n * n / 2);
  CHECK(five.hessian_sparsity().colours() == 100);
  const tinygrad::Matrix<double> h = five.hessian(std::vector<double>(n, -1.5));
  CHECK(h(0, 0) == 0.0);
  CHECK(h(17, 199) == 5.0);
  CHECK(h(199, 17) == 5.0);
  CHECK(h(150, 199) == 0.0);
}

TEST_CASE("bit sets and sorted sets read the same pattern") {
  // exp(x0) meets x0 with itself; x[i] / x[i+1] meets x[i] with x[i+1]
  // and x[i+1] with itself: together, every position of a tridiagonal
  // pattern. Read from bit sets at 200 inputs and from sorted sets at 300.
  const auto f = [](auto x) {
    using tinygrad::exp;
    auto sum = exp(x[0]);
    for (std::size_t i = 0; i + 1 < x.size(); ++i) {
      sum += x[i] / x[i + 1];
    }
    return sum;
  };
  for (const std::size_t n : {std::size_t{200}, std::size_t{300}}) {
    INFO(n, " inputs");
    Trace<double> t = tinygrad::trace(f, std::vector<double>(n, 1.5));
    const tinygrad::HessianSparsity& pattern = t.hessian_sparsity();
    REQUIRE(pattern.size() == n);
    CHECK(pattern.nonzeros() == 3 * n - 2);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t first = i == 0 ? 0 : i - 1;
      const std::size_t last = i + 1 == n ? i : i + 1;
      const auto row = pattern.row(i);
      REQUIRE(row.size() == last - first + 1);
      for (std::size_t k = 0; k < row.size(); ++k) {
        CHECK(row[k] == first + k);
      }
    }
    CHECK(pattern.colours() == 3);
  }
}

TEST_CASE("beyond 256 inputs, a pattern whose pairs outgrow 64 per slot is dense") {
  // Two 150-input sums: one product meets 22,500 pairs, within the budget
  // of 64 per slot (about 58,000 here); four of them, 90,000, pass it and
  // the pattern is dense.
  const std::size_t n = 300;
  Trace<double> once = tinygrad::trace(products_of_two_sums(150, 1), std::vector<double>(n, 0.5));
  CHECK(once.hessian_sparsity().nonzeros() == n * n / 2);
  CHECK(once.hessian_sparsity().colours() == 150);
  Trace<double> four = tinygrad::trace(products_of_two_sums(150, 4), std::vector<double>(n, 0.5));
  CHECK(four.hessian_sparsity().nonzeros() == n * n);
  CHECK(four.hessian_sparsity().colours() == n);
  const tinygrad::Matrix<double> h = four.hessian(std::vector<double>(n, -1.5));
  CHECK(h(0, 0) == 0.0);
  CHECK(h(17, 299) == 4.0);
  CHECK(h(299, 17) == 4.0);
  CHECK(h(150, 299) == 0.0);
}

TEST_CASE("an adjoint of zero passes nothing on: no 0 * inf in the Hessian") {
  Trace<double> t = tinygrad::trace(
      [](auto x) {
        using tinygrad::sqrt;
        return sqrt(x[0]) * 0.0 + x[1] * x[1];
      },
      std::vector<double>{1.0, 1.0});
  const tinygrad::Matrix<double> h = t.hessian(std::vector<double>{0.0, 3.0});
  CHECK(h(0, 0) == 0.0);
  CHECK(h(0, 1) == 0.0);
  CHECK(h(1, 1) == 2.0);
}

TEST_CASE("second derivatives where a guard flips, and with data") {
  const auto f = [](auto x) { return x[0] > x[1] ? x[0] * x[0] * x[1] : x[1] * x[1] * x[1]; };
  SUBCASE("retrace: the other branch's Hessian") {
    Trace<double> t = tinygrad::trace(f, std::vector<double>{2.0, 1.0});
    CHECK(t.hessian_sparsity().nonzeros() == 3);  // x0^2 x1
    const tinygrad::Matrix<double> h = t.hessian(std::vector<double>{1.0, 2.0});
    CHECK(t.retraces() == 1);
    CHECK(h(0, 0) == 0.0);
    CHECK(h(0, 1) == 0.0);
    CHECK(h(1, 1) == 12.0);                       // 6 x1
    CHECK(t.hessian_sparsity().nonzeros() == 1);  // the new trace's: x1^3
    const std::vector<double> hv =
        t.hvp(std::vector<double>{3.0, 1.0}, std::vector<double>{1.0, 0.0});
    CHECK(t.retraces() == 2);
    CHECK(hv[0] == 2.0);  // 2 x1
    CHECK(hv[1] == 6.0);  // 2 x0
  }
  SUBCASE("report") {
    Trace<double> t = tinygrad::trace(f, std::vector<double>{2.0, 1.0});
    t.on_branch_change(tinygrad::BranchChange::report);
    CHECK_THROWS_AS(t.hessian(std::vector<double>{1.0, 2.0}), tinygrad::branch_changed);
    CHECK_THROWS_AS(t.hvp(std::vector<double>{1.0, 2.0}, std::vector<double>{1.0, 0.0}),
                    tinygrad::branch_changed);
  }
  SUBCASE("data: second derivatives in the inputs only, at the data given") {
    Trace<double> t = tinygrad::trace(
        [](auto x, auto d) {
          using tinygrad::sin;
          return d[0] * x[0] * x[0] * x[1] + sin(d[1] * x[1]);
        },
        std::vector<double>{1.0, 1.0}, std::vector<double>{1.0, 1.0});
    const std::vector<double> x{0.5, 0.25};
    const std::vector<double> d{3.0, 2.0};
    const tinygrad::Matrix<double> h = t.hessian(x, d);
    CHECK(h(0, 0) == doctest::Approx(2 * 3.0 * 0.25));
    CHECK(h(0, 1) == doctest::Approx(2 * 3.0 * 0.5));
    CHECK(h(1, 0) == doctest::Approx(2 * 3.0 * 0.5));
    CHECK(h(1, 1) == doctest::Approx(-4.0 * std::sin(2.0 * 0.25)));
  }
}

TEST_CASE("second derivatives: errors") {
  SUBCASE("a policy without second_derivative") {
    Trace<double> t = tinygrad::trace(
        [](auto x) { return tinygrad::activate<tinygrad_test::Square>(x[0] * x[1]); },
        std::vector<double>{1.0, 2.0});
    std::vector<double> g(2);
    t.gradient(std::vector<double>{1.0, 3.0}, g);  // first derivatives work
    CHECK(g[0] == 18.0);
    CHECK_THROWS_WITH_AS(t.hessian(std::vector<double>{1.0, 3.0}),
                         doctest::Contains("second_derivative"), tinygrad::trace_error);
    CHECK_THROWS_AS(t.hvp(std::vector<double>{1.0, 3.0}, std::vector<double>{1.0, 0.0}),
                    tinygrad::trace_error);
  }
  SUBCASE("sizes") {
    Trace<double> t =
        tinygrad::trace([](auto x) { return x[0] * x[1]; }, std::vector<double>{1.0, 2.0});
    CHECK_THROWS_AS(t.hessian(std::vector<double>{1.0}), std::invalid_argument);
    CHECK_THROWS_AS(t.sparse_hessian(std::vector<double>{1.0, 2.0, 3.0}), std::invalid_argument);
    CHECK_THROWS_WITH_AS(t.hvp(std::vector<double>{1.0, 2.0}, std::vector<double>{1.0}),
                         doctest::Contains("v"), std::invalid_argument);
  }
}

TEST_CASE("a trace's workspaces follow its retraces") {
  // Three branches with different operations and constants: a workspace
  // sized for one trace has no room for another's slots, and holds none of
  // its constants. A retrace makes the new trace before it lets the old
  // one go, so the third trace may take the first one's memory: a
  // workspace that recognised its trace by address would take the third
  // for the first.
  const auto f = [](auto x) {
    using tinygrad::exp;
    if (x[0] > 1.0) {
      return x[0] * x[1];
    }
    if (x[0] > -1.0) {
      return x[0] - x[1] * 2.0;
    }
    return (x[0] * x[0] + 3.0) * exp(x[1]) / (x[1] + 2.5) - 0.25 * x[0] * x[1];
  };
  const std::vector<double> on_first{2.0, 2.0};
  const std::vector<double> on_second{0.5, 1.0};
  const std::vector<double> on_third{-1.5, 0.5};
  const std::vector<double> v{0.3, -0.7};
  Trace<double> fresh = tinygrad::trace(f, on_third);  // before t's traces come and go
  std::vector<double> expected_gradient(2);
  const double expected_value = fresh.value_and_gradient(on_third, expected_gradient);
  Trace<double> t = tinygrad::trace(f, on_first);
  std::vector<double> values(3);
  std::vector<double> gradients(6);
  std::vector<double> g(2);
  // The lanes' and hvp's workspaces sized for the first trace (hessian()
  // would keep each trace alive for its pattern), the one-point workspace
  // for the second...
  t.values_and_gradients(on_first, values, gradients);
  (void)t.hvp(on_first, v);
  t.value_and_gradient(on_second, g);
  // ... then the third branch through each of them.
  CHECK(t.value_and_gradient(on_third, g) == expected_value);
  CHECK(t.retraces() == 2);
  CHECK(g == expected_gradient);
  t.values_and_gradients(on_third, values, gradients);
  CHECK(values[2] == expected_value);
  CHECK(gradients[4] == expected_gradient[0]);
  CHECK(gradients[5] == expected_gradient[1]);
  CHECK(t.hvp(on_third, v) == fresh.hvp(on_third, v));
  CHECK(t.hessian(on_third).values() == fresh.hessian(on_third).values());
}

TEST_CASE("a workspace tells a new program from the one it is sized for, whatever its address") {
  using Program = tinygrad::detail::tracing::Program<double>;
  tinygrad::detail::tracing::SizedFor<double> sized_for;
  auto first = std::make_shared<const Program>();
  sized_for.set(first);
  CHECK(sized_for.is(first));
  const Program* const address = first.get();
  first.reset();
  // Freed, the first program's memory would go to the next allocation of
  // its size: a plain pointer would take the next program for the first.
  const auto next = std::make_shared<const Program>();
  INFO("the next program is at the first one's address: ", next.get() == address);
  CHECK_FALSE(sized_for.is(next));
}
