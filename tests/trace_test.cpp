// SPDX-License-Identifier: MIT
// Traces: a replay at a new point gives the bits of a fresh recording there
// (fusion off, so that the tape keeps one entry per operation as the trace
// does) for every operation and policy; gradients against hand-derived
// formulas, finite differences and the notebook's numbers; guards that flip;
// data inputs; copies on threads; no allocation once warm; misuse. And
// functions of several outputs (VectorTrace): Jacobians against hand-derived
// formulas, finite differences and recordings.

#include <tinygrad/functional.hpp>
#include <tinygrad/trace.hpp>
#include <tinygrad/var.hpp>

#include "support/batch_formulas.hpp"
#include "support/count_allocations.hpp"
#include "support/instruction_sets.hpp"
#include "support/numeric.hpp"
#include "support/rosenbrock.hpp"
#include "support/square_policy.hpp"

#include <doctest/doctest.h>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using tinygrad::Tape;
using tinygrad::Trace;
using tinygrad::Traced;
using tinygrad::Var;
using tinygrad::VectorTrace;
using tinygrad_test::check_close;
using tinygrad_test::rosenbrock;
using tinygrad_test::rosenbrock_gradient;

namespace {

/// The bits of x, with every NaN one: the sign and payload of a NaN are not
/// an operation's result to compare (a compiler may order the operands of
/// 0 * NaN either way).
std::uint64_t bits(double x) {
  return std::isnan(x) ? 1 : std::bit_cast<std::uint64_t>(x);
}

/// f's value and gradient at x from a fresh recording, one entry per
/// operation (fusion off).
template <class F>
double recorded(F& f, const std::vector<double>& x, std::vector<double>& gradient) {
  Tape<double> tape;
  tape.fuse_operations(false);
  std::vector<Var<double>> leaves;
  tinygrad::record_leaves(x, leaves);
  const Var<double> y = f(std::span<const Var<double>>(leaves));
  y.backward();
  gradient.assign(x.size(), 0.0);
  tinygrad::read_gradients(leaves, gradient);
  return y.value();
}

/// Traces f at `traced_at`, replays it at every point of `points`, and
/// checks value and gradient there bit for bit against a fresh recording:
/// one point at a time, and all at once in lanes (the points repeated so
/// that the batch runs several blocks, the last one ending inside a vector).
/// The batch is checked against a recording of `as_batched` (f with exp
/// written as a batch computes it, BatchExponential; f itself by default).
template <class F, class G = F>
void check_replays_match_recordings(F f, const std::vector<double>& traced_at,
                                    const std::vector<std::vector<double>>& points, G as_batched) {
  Trace<double> t = tinygrad::trace(f, traced_at);
  const std::size_t n = traced_at.size();
  std::vector<double> expected_values;
  std::vector<std::vector<double>> expected_gradients;
  for (const std::vector<double>& x : points) {
    std::vector<double> expected;
    const double expected_value = recorded(f, x, expected);
    std::vector<double> expected_in_batch;
    expected_values.push_back(recorded(as_batched, x, expected_in_batch));
    expected_gradients.push_back(expected_in_batch);
    std::vector<double> g(x.size(), -1.0);
    const double value = t.value_and_gradient(x, g);
    INFO("at x[0] = ", x[0], ": replay ", value, ", recording ", expected_value);
    CHECK(bits(value) == bits(expected_value));
    CHECK(bits(t.value(x)) == bits(expected_value));
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO("d/dx", i, ": replay ", g[i], ", recording ", expected[i]);
      CHECK(bits(g[i]) == bits(expected[i]));
    }
  }
  // Two of the largest blocks (64 points), a vector's worth and three: a
  // batch of several blocks whatever their size, the last one ending
  // inside a vector.
  const std::size_t m = std::size_t{64} * 2 + tinygrad::detail::tracing::lanes<double> + 3;
  std::vector<double> batch_points;
  for (std::size_t k = 0; k < m; ++k) {
    const std::vector<double>& x = points[k % points.size()];
    batch_points.insert(batch_points.end(), x.begin(), x.end());
  }
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    std::vector<double> values(m, -1.0);
    std::vector<double> gradients(m * n, -1.0);
    t.values_and_gradients(batch_points, values, gradients, {}, set);
    std::vector<double> values_only(m, -1.0);
    t.values(batch_points, values_only, {}, set);
    for (std::size_t k = 0; k < m; ++k) {
      const std::size_t j = k % points.size();
      INFO("batch point ", k, ": x[0] = ", points[j][0]);
      CHECK(bits(values[k]) == bits(expected_values[j]));
      CHECK(bits(values_only[k]) == bits(expected_values[j]));
      for (std::size_t i = 0; i < n; ++i) {
        INFO("d/dx", i, ": batch ", gradients[k * n + i], ", recording ", expected_gradients[j][i]);
        CHECK(bits(gradients[k * n + i]) == bits(expected_gradients[j][i]));
      }
    }
  }
}

template <class F>
void check_replays_match_recordings(F f, const std::vector<double>& traced_at,
                                    const std::vector<std::vector<double>>& points) {
  check_replays_match_recordings(f, traced_at, points, f);
}

// Each one-argument function on a point of its domain, traced at one point
// and replayed at three others, one operation on an input and one on a
// result (so that the chain through both is compared).
#define TRACE_UNARY(name, a, b, c, d)                  \
  SUBCASE(#name) {                                     \
    check_replays_match_recordings(                    \
        [](auto x) {                                   \
          using tinygrad::name;                        \
          return name(x[0]) * x[1] + name(x[1] * 0.5); \
        },                                             \
        {a, b}, {{b, c}, {c, d}, {d, a}});             \
  }

TEST_CASE("a replay gives a fresh recording's value and gradient, bit for bit: functions") {
  // A batch computes exp and log by vector formulas: its bits are a
  // recording's with those formulas in place of std::exp and std::log
  // (which differ at e^1 and log 3).
  SUBCASE("exp") {
    const auto batch_exp = [](const auto& v) {
      return tinygrad::activate<tinygrad_test::BatchExponential>(v);
    };
    check_replays_match_recordings(
        [](auto x) {
          using tinygrad::exp;
          return exp(x[0]) * x[1] + exp(x[1] * 0.5);
        },
        {0.3, -1.2}, {{-1.2, 2.5}, {1.0, 2.0}, {2.5, 0.0}, {0.0, 0.3}, {-700.5, 1.0}, {0.7, 705.0}},
        [&](auto x) { return batch_exp(x[0]) * x[1] + batch_exp(x[1] * 0.5); });
  }
  SUBCASE("log") {
    const auto batch_log = [](const auto& v) {
      return tinygrad::activate<tinygrad_test::BatchLogarithm>(v);
    };
    check_replays_match_recordings(
        [](auto x) {
          using tinygrad::log;
          return log(x[0]) * x[1] + log(x[1] * 0.5);
        },
        {0.3, 1.2}, {{1.2, 2.5}, {3.0, 6.0}, {2.5, 7.0}, {7.0, 0.3}, {1e-310, 1e300}},
        [&](auto x) { return batch_log(x[0]) * x[1] + batch_log(x[1] * 0.5); });
  }
  TRACE_UNARY(exp2, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(expm1, 0.3, -1.2, 2.5, 1e-9);
  TRACE_UNARY(log2, 0.3, 1.2, 2.5, 7.0);
  TRACE_UNARY(log10, 0.3, 1.2, 2.5, 7.0);
  TRACE_UNARY(log1p, 0.3, -0.2, 2.5, 1e-9);
  TRACE_UNARY(sqrt, 0.3, 1.2, 2.5, 7.0);
  TRACE_UNARY(cbrt, 0.3, -1.2, 2.5, -7.0);
  TRACE_UNARY(sin, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(cos, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(tan, 0.3, -1.2, 1.5, 0.0);
  TRACE_UNARY(asin, 0.3, -0.2, 0.9, -0.99);
  TRACE_UNARY(acos, 0.3, -0.2, 0.9, -0.99);
  TRACE_UNARY(atan, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(sinh, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(cosh, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(asinh, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(acosh, 3.3, 2.2, 2.5, 7.0);
  TRACE_UNARY(atanh, 0.3, -0.2, 0.9, -0.99);
  TRACE_UNARY(erf, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(erfc, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(abs, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(sigmoid, 0.3, -1.2, 2.5, -40.0);
  TRACE_UNARY(tanh, 0.3, -1.2, 2.5, 0.0);
  TRACE_UNARY(relu, 0.3, -1.2, 2.5, 0.0);
}
#undef TRACE_UNARY

TEST_CASE("an adjoint of zero passes nothing on, as on the tape: no 0 * inf") {
  // sqrt'(0) is infinite; the product by 0 gives its result an adjoint of 0.
  check_replays_match_recordings(
      [](auto x) {
        using tinygrad::sqrt;
        return sqrt(x[0]) * 0.0 + x[1] * sqrt(x[1]);
      },
      {1.0, 1.0}, {{0.0, 0.0}, {0.0, 2.0}, {4.0, 0.0}});
  Trace<double> t = tinygrad::trace(
      [](auto x) {
        using tinygrad::sqrt;
        return sqrt(x[0]) * 0.0;
      },
      std::vector<double>{1.0});
  std::vector<double> g(1, -1.0);
  t.gradient(std::vector<double>{0.0}, g);
  CHECK(g[0] == 0.0);
}

template <class P>
void check_policy() {
  check_replays_match_recordings(
      [](auto x) { return tinygrad::activate<P>(x[0] * x[1]) + tinygrad::activate<P>(x[1]); },
      {0.3, 1.5}, {{-1.2, 0.4}, {2.5, -3.0}, {0.0, 0.0}, {-30.0, 2.0}});
}

TEST_CASE("a replay gives a fresh recording's bits: every built-in policy and a user's") {
  check_policy<tinygrad::Sigmoid>();
  check_policy<tinygrad::Tanh>();
  check_policy<tinygrad::ReLU>();
  check_policy<tinygrad::LeakyReLU>();
  check_policy<tinygrad::Softplus>();
  check_policy<tinygrad::SiLU>();
  check_policy<tinygrad::GELU>();
  check_policy<tinygrad::ELU>();
  check_policy<tinygrad_test::Square>();
}

// Each two-argument operation with both arguments traced, with a constant
// first, with a constant second, and with the same Traced twice: each alone,
// so that a partial one rounding off shows in the gradient, and together.
#define TRACE_BINARY(name, expression, c)                                                         \
  SUBCASE(name) {                                                                                 \
    const std::vector<std::vector<double>> points{{1.7, 0.6}, {0.4, 2.2}, {2.0, 2.0},             \
                                                  {0.0, 1.5}, {0.3, 0.7}, {1.1, 0.35}};           \
    const std::vector<double> traced_at{0.9, 1.3};                                                \
    const auto f = [](const auto& a, const auto& b) { return expression; };                       \
    check_replays_match_recordings([&](auto x) { return f(x[0], x[1]); }, traced_at, points);     \
    check_replays_match_recordings([&](auto x) { return f(x[0], c) * x[1]; }, traced_at, points); \
    check_replays_match_recordings([&](auto x) { return f(c, x[1]) * x[0]; }, traced_at, points); \
    check_replays_match_recordings([&](auto x) { return f(x[0], x[0]) + x[1]; }, traced_at,       \
                                   points);                                                       \
    check_replays_match_recordings(                                                               \
        [&](auto x) {                                                                             \
          return f(x[0], x[1]) + f(x[0], c) * x[1] + f(c, x[1]) * x[0] + f(x[0], x[0]);           \
        },                                                                                        \
        traced_at, points);                                                                       \
  }

TEST_CASE("a replay gives a fresh recording's bits: operators and two-argument functions") {
  TRACE_BINARY("+", a + b, 2.5);
  TRACE_BINARY("-", a - b, 2.5);
  TRACE_BINARY("*", a * b, 2.5);
  TRACE_BINARY("/", a / b, 2.5);
  TRACE_BINARY("pow", pow(a, b), 2.5);
  TRACE_BINARY("hypot", hypot(a, b), 2.5);
  TRACE_BINARY("atan2", atan2(a, b), 2.5);
  TRACE_BINARY("min", min(a, b), 2.0);
  TRACE_BINARY("max", max(a, b), 2.0);
  SUBCASE("min and max at ties and NaN (in a batch, vector compares and blends)") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    check_replays_match_recordings(
        [](auto x) {
          using tinygrad::max;
          using tinygrad::min;
          return min(x[0], x[1]) + max(x[0], 1.5) * x[1] + min(2.0, x[1]) * max(x[1], x[0]);
        },
        {0.9, 1.3}, {{nan, 1.0}, {1.0, nan}, {1.5, 1.5}, {2.0, -0.5}, {-0.0, 0.0}, {3.0, 2.0}});
  }
  SUBCASE("negation, unary plus and compound assignment") {
    check_replays_match_recordings(
        [](auto x) {
          auto s = -x[0];
          s += +x[1];
          s -= 2.0;
          s *= x[0];
          s /= x[1];
          s += 1.5;
          return s;
        },
        {0.9, 1.3}, {{1.7, 0.6}, {-0.4, 2.2}});
  }
}
#undef TRACE_BINARY

TEST_CASE("a replay gives a fresh recording's bits: dot products (one dispatch for all terms)") {
  // Products each added to the sum before them: one step of the one-point
  // replay (plan_steps), the running sum and the products never written.
  SUBCASE("products of two traced numbers, a bias first") {
    check_replays_match_recordings(
        [](auto x) {
          auto z = x[0];
          for (std::size_t k = 1; k + 1 < x.size(); k += 2) {
            z += x[k] * x[k + 1];
          }
          return z * z;
        },
        {0.5, 1.0, -2.0, 0.25, 3.0, -1.5, 0.75, 2.0, 0.5},
        {{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9},
         {-1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -9.0},
         {1e-300, 1e300, 1e-10, 3.0, 1e20, -1e20, 0.0, -0.0, 1.0}});
  }
  SUBCASE("products of a traced number and a constant, written z = z + c * x") {
    check_replays_match_recordings(
        [](auto x) {
          auto z = x[0] * 0.5;
          for (std::size_t k = 0; k < x.size(); ++k) {
            z = z + (0.25 + 0.5 * static_cast<double>(k)) * x[k];
          }
          return z;
        },
        {0.5, 1.0, -2.0, 0.25}, {{0.1, 0.2, 0.3, 0.4}, {-1.0, 2.0, -3.0, 4.0}});
  }
  SUBCASE("the running sum's first value and a product's operands are the same number") {
    // x[0] gets a share from the first sum and from every product: the
    // order of those sums decides the gradient's last bits.
    check_replays_match_recordings(
        [](auto x) {
          auto z = x[0];
          z += x[0] * x[1];
          z += x[1] * x[0];
          z += x[0] * x[0];
          z += x[1] * x[1];
          return z;
        },
        {0.3, 0.7}, {{0.1, 1e-17}, {1.0 / 3.0, 2.0 / 3.0}, {-1e16, 1.0}, {0.1, 0.2}});
  }
  SUBCASE("a running sum read elsewhere, or compared, ends the dot product there") {
    check_replays_match_recordings(
        [](auto x) {
          auto z = x[0];
          z += x[1] * x[2];
          z += x[2] * x[3];
          const auto middle = z;  // read by the product below and the guard
          z += x[3] * x[1];
          z += middle * x[0];
          z += x[1] * x[1];
          z += x[2] * x[2];
          z += x[3] * x[3];
          return middle > 0.0 ? z : -z;
        },
        {0.5, 1.0, -2.0, 0.25}, {{0.1, 0.2, 0.3, 0.4}, {1.0, 2.0, 3.0, 4.0}});
  }
  SUBCASE("a zero adjoint passes nothing on, as on the tape: no 0 * inf") {
    const double inf = std::numeric_limits<double>::infinity();
    check_replays_match_recordings(
        [](auto x) {
          auto z = x[0];
          z += x[1] * x[2];
          z += x[2] * x[3];
          z += x[3] * x[1];
          return z * 0.0 + x[3];  // z's adjoint is 0; its operands' partials may be infinite
        },
        {1.0, 1.0, 1.0, 1.0}, {{1.0, inf, 0.0, 1.0}, {-1.0, 0.0, inf, 0.0}, {2.0, 3.0, 1.0, -1.0}});
  }
}

TEST_CASE("which instructions the one-point replay runs as one dot product") {
  using tinygrad::detail::tracing::Guard;
  using tinygrad::detail::tracing::Op;
  using tinygrad::detail::tracing::plan_steps;
  using tinygrad::detail::tracing::Predicate;
  using tinygrad::detail::tracing::Program;
  using tinygrad::detail::tracing::Step;
  // Inputs are slots 0 to 3; instruction i's result is slot 4 + i.
  // `terms` terms z = z + x[k % 4] * x[(k + 1) % 4] from z = x[0].
  const auto dot_of = [](std::size_t terms, Op product) {
    Program<double> p;
    p.inputs = 4;
    p.first_result = 4;
    std::uint32_t sum = 0;
    for (std::size_t k = 0; k < terms; ++k) {
      const auto i = static_cast<std::uint32_t>(p.ops.size());
      p.ops.push_back(product);
      p.operands.push_back(static_cast<std::uint32_t>(k % 4));
      p.operands.push_back(static_cast<std::uint32_t>((k + 1) % 4));
      p.ops.push_back(Op::add);
      p.operands.push_back(sum);
      p.operands.push_back(4 + i);
      sum = 4 + i + 1;
    }
    p.outputs = {sum};
    return p;
  };
  SUBCASE("three terms or more, of one kind of product") {
    Program<double> p = dot_of(3, Op::multiply);
    plan_steps(p);
    CHECK(p.steps == std::vector<Step>{Step::dot});
    CHECK(p.dot_terms == std::vector<std::uint32_t>{3});
    p = dot_of(7, Op::multiply_constant);
    plan_steps(p);
    CHECK(p.steps == std::vector<Step>{Step::dot_constant});
    CHECK(p.dot_terms == std::vector<std::uint32_t>{7});
  }
  SUBCASE("two terms are two pairs (a product and its sum); products by constants alone") {
    Program<double> p = dot_of(2, Op::multiply);
    plan_steps(p);
    CHECK(p.steps == std::vector<Step>{Step::multiply_then_add, Step::multiply_then_add});
    CHECK(p.dot_terms.empty());
    p = dot_of(2, Op::multiply_constant);
    plan_steps(p);
    CHECK(p.steps == std::vector<Step>{Step::multiply_constant, Step::add, Step::multiply_constant,
                                       Step::add});
  }
  SUBCASE("a sum or product read again, compared or put out ends the dot product") {
    // Six terms; the sum of term 2 (instruction 5, slot 9) read elsewhere.
    for (int how = 0; how < 3; ++how) {
      INFO("how ", how);
      Program<double> p = dot_of(6, Op::multiply);
      if (how == 0) {
        p.ops.push_back(Op::negate);
        p.operands.push_back(9);
      } else if (how == 1) {
        p.guards.push_back(Guard{9, 9, Predicate::is_nan, false});
      } else {
        p.outputs.push_back(9);
      }
      plan_steps(p);
      std::vector<Step> expected{Step::dot, Step::dot};
      if (how == 0) {
        expected.push_back(Step::negate);
      }
      CHECK(p.steps == expected);
      CHECK(p.dot_terms == std::vector<std::uint32_t>{3, 3});
    }
    // The product of term 4 (instruction 8, slot 12) read again: terms 0
    // to 3 make one; terms 4 and 5 are pairs.
    Program<double> p = dot_of(6, Op::multiply);
    p.ops.push_back(Op::negate);
    p.operands.push_back(12);
    plan_steps(p);
    CHECK(p.steps == std::vector<Step>{Step::dot, Step::multiply_then_add, Step::multiply_then_add,
                                       Step::negate});
    CHECK(p.dot_terms == std::vector<std::uint32_t>{4});
  }
  SUBCASE("the product added first (p + z) is not a term") {
    Program<double> p = dot_of(4, Op::multiply);
    std::swap(p.operands[2 + 4 * 2], p.operands[3 + 4 * 2]);  // term 2's sum
    plan_steps(p);
    CHECK(p.steps == std::vector<Step>{Step::multiply_then_add, Step::multiply_then_add,
                                       Step::multiply_then_add, Step::multiply_then_add});
  }
}

TEST_CASE("a replayed gradient matches the hand-derived one and finite differences") {
  std::vector<double> x0(12);
  std::vector<double> x1(12);
  for (std::size_t i = 0; i < x0.size(); ++i) {
    x0[i] = 0.5 + 0.3 * std::sin(static_cast<double>(i));
    x1[i] = -1.0 + 0.2 * static_cast<double>(i);
  }
  Trace<double> t = tinygrad::trace(rosenbrock, x0);
  std::vector<double> g(x1.size());
  t.gradient(x1, g);
  const std::vector<double> by_hand = rosenbrock_gradient(x1);
  for (std::size_t i = 0; i < x1.size(); ++i) {
    check_close(g[i], by_hand[i], 1e-13);
    const double numeric = tinygrad_test::central_difference(
        [&](double xi) {
          std::vector<double> y = x1;
          y[i] = xi;
          return t.value(y);
        },
        x1[i]);
    check_close(g[i], numeric, 1e-8);
  }
  // Twelve inputs, more than a batch's lanes: a batch copies them into and
  // out of the lanes point by point.
  std::vector<double> x2 = x1;
  x2[5] = 2.5;
  check_replays_match_recordings(rosenbrock, x0, {x1, x0, x2});
  // A function with every kind of operand, by hand.
  Trace<double> h = tinygrad::trace(
      [](auto x) {
        using tinygrad::sin;
        return x[0] * x[1] + sin(x[0]) / x[1];
      },
      std::vector<double>{0.1, 0.2});
  std::vector<double> gh(2);
  const double a = 1.3;
  const double b = -0.7;
  check_close(h.value_and_gradient(std::vector<double>{a, b}, gh), a * b + std::sin(a) / b, 1e-15);
  check_close(gh[0], b + std::cos(a) / b, 1e-15);
  check_close(gh[1], a - std::sin(a) / (b * b), 1e-15);
}

TEST_CASE("the notebook's network, traced at one point and replayed at the notebook's") {
  // Weights w1..w3 and biases b1..b3 are the inputs; x = 1, y = 1.
  const auto network = [](auto activation) {
    return [activation](auto p) {
      auto a = activation(p[0] * 1.0 + p[3]);
      a = activation(p[1] * a + p[4]);
      a = activation(p[2] * a + p[5]);
      const auto error = 1.0 - a;
      return 0.5 * error * error;
    };
  };
  const auto sigmoid = [](auto z) { return tinygrad::activate<tinygrad::Sigmoid>(z); };
  const auto relu = [](auto z) { return tinygrad::activate<tinygrad::ReLU>(z); };
  const std::vector<double> elsewhere{0.9, -0.3, 0.2, 0.1, 0.4, -0.2};
  const std::vector<double> notebook{0.5, 0.5, 0.5, 0.0, 0.0, 0.0};
  std::vector<double> g(6);
  Trace<double> s = tinygrad::trace(network(sigmoid), elsewhere);
  s.gradient(notebook, g);
  // The notebook's printed numbers, to its 6 decimals.
  CHECK(g[2] == doctest::Approx(-0.060540).epsilon(1e-4));
  CHECK(g[1] == doctest::Approx(-0.007967).epsilon(1e-3));
  CHECK(g[0] == doctest::Approx(-0.001504).epsilon(1e-3));
  Trace<double> r = tinygrad::trace(network(relu), elsewhere);
  r.gradient(notebook, g);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(g[i] == doctest::Approx(-0.218750).epsilon(1e-12));
  }
  CHECK(r.retraces() == 0);  // ReLU's kink is an operation, not a branch
}

const auto branchy = [](auto x) {
  if (x[0] > 0.0) {
    return x[0] * x[0];
  }
  return -x[0];
};

TEST_CASE("a comparison is a guard: where it flips, the trace retraces or reports") {
  std::vector<double> g(1);
  SUBCASE("retrace, the default") {
    Trace<double> t = tinygrad::trace(branchy, std::vector<double>{1.0});
    CHECK(t.guards() == 1);
    CHECK(t.value_and_gradient(std::vector<double>{2.0}, g) == 4.0);
    CHECK(g[0] == 4.0);
    CHECK(t.retraces() == 0);
    CHECK(t.value_and_gradient(std::vector<double>{-3.0}, g) == 3.0);
    CHECK(g[0] == -1.0);
    CHECK(t.retraces() == 1);
    CHECK(t.value_and_gradient(std::vector<double>{-1.0}, g) == 1.0);  // the new trace holds
    CHECK(t.retraces() == 1);
    CHECK(t.value(std::vector<double>{0.5}) == 0.25);
    CHECK(t.retraces() == 2);
  }
  SUBCASE("report") {
    Trace<double> t =
        tinygrad::trace(branchy, std::vector<double>{1.0}, tinygrad::BranchChange::report);
    CHECK_THROWS_WITH_AS(
        t.gradient(std::vector<double>{-3.0}, g),
        doctest::Contains("tinygrad::Trace: comparison 1 of the trace (>, true when traced)"),
        tinygrad::branch_changed);
    CHECK(t.value_and_gradient(std::vector<double>{3.0}, g) == 9.0);  // still the old trace
    CHECK(g[0] == 6.0);
    t.on_branch_change(tinygrad::BranchChange::retrace);
    CHECK(t.value(std::vector<double>{-3.0}) == 3.0);
  }
  SUBCASE("comparisons of two Traced, with a constant first, and isnan") {
    const auto f = [](auto x) {
      auto r = x[0] + x[1];
      if (x[0] < x[1]) {
        r = r * 2.0;
      }
      if (3.0 <= x[0]) {
        r = r * 5.0;
      }
      if (isnan(x[1])) {
        r = x[0];
      }
      return r;
    };
    Trace<double> t = tinygrad::trace(f, std::vector<double>{1.0, 2.0});
    CHECK(t.guards() == 3);
    const auto check_at = [&](double a, double b, std::size_t retraces) {
      std::vector<double> expected;
      std::vector<double> x{a, b};
      const double value = recorded(f, x, expected);
      std::vector<double> got(2);
      CHECK(bits(t.value_and_gradient(x, got)) == bits(value));
      CHECK(got == expected);
      CHECK(t.retraces() == retraces);
    };
    check_at(1.5, 2.5, 0);
    check_at(2.5, 1.5, 1);
    check_at(4.0, 1.0, 2);
    check_at(4.5, 0.5, 2);
    check_at(4.5, std::numeric_limits<double>::quiet_NaN(), 3);
  }
}

TEST_CASE("a batch: points where a guard flips get a trace of their own, or a report") {
  // Eleven points of both signs, then enough more for several blocks, with
  // flips at lanes all over them.
  std::vector<double> points{2.0, -3.0, 0.5, -1.0, 4.0, 0.0, 1.5, -2.5, 3.0, -0.5, 1.0};
  for (std::size_t k = 0; k < 150; ++k) {
    points.push_back(std::sin(0.9 * static_cast<double>(k)) * 3.0);
  }
  std::vector<double> values(points.size());
  std::vector<double> gradients(points.size());
  Trace<double> t = tinygrad::trace(branchy, std::vector<double>{1.0});
  t.values_and_gradients(points, values, gradients);
  std::size_t flipped = 0;
  for (std::size_t k = 0; k < points.size(); ++k) {
    const double x = points[k];
    INFO("x = ", x);
    CHECK(values[k] == (x > 0.0 ? x * x : -x));
    CHECK(gradients[k] == (x > 0.0 ? 2.0 * x : -1.0));
    flipped += x > 0.0 ? 0 : 1;
  }
  CHECK(t.retraces() == flipped);
  CHECK(t.value(std::vector<double>{3.0}) == 9.0);  // the batch kept the trace
  CHECK(t.retraces() == flipped);
  Trace<double> r =
      tinygrad::trace(branchy, std::vector<double>{1.0}, tinygrad::BranchChange::report);
  CHECK_THROWS_WITH_AS(r.values_and_gradients(points, values, gradients),
                       doctest::Contains("at point 1 of the batch"), tinygrad::branch_changed);
}

/// Replays the float trace of f (two inputs, traced at (0.3, 0.7)) at the
/// m points of `points`, in lanes, with every instruction set, and checks
/// each value and gradient bit for bit against a fresh recording of
/// `as_batched` there (f with exp written as a batch computes it).
template <class F, class G>
void check_float_batch_matches_recordings(F f, const std::vector<float>& points, G as_batched) {
  Trace<float> t = tinygrad::trace(f, std::vector<float>{0.3f, 0.7f});
  const std::size_t m = points.size() / 2;
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    std::vector<float> values(m);
    std::vector<float> gradients(2 * m);
    t.values_and_gradients(points, values, gradients, {}, set);
    for (std::size_t k = 0; k < m; ++k) {
      INFO("point ", k, ": (", points[2 * k], ", ", points[2 * k + 1], ")");
      Tape<float> tape;
      tape.fuse_operations(false);
      const Var<float> x0 = points[2 * k];
      const Var<float> x1 = points[2 * k + 1];
      const std::vector<Var<float>> x{x0, x1};
      const Var<float> y = as_batched(std::span<const Var<float>>(x));
      y.backward();
      CHECK(std::bit_cast<std::uint32_t>(values[k]) == std::bit_cast<std::uint32_t>(y.value()));
      CHECK(std::bit_cast<std::uint32_t>(gradients[2 * k]) ==
            std::bit_cast<std::uint32_t>(x0.grad()));
      CHECK(std::bit_cast<std::uint32_t>(gradients[2 * k + 1]) ==
            std::bit_cast<std::uint32_t>(x1.grad()));
    }
  }
}

TEST_CASE("a batch of floats: sixteen lanes, a recording's bits at each point") {
  const auto f = [](auto x) {
    using tinygrad::exp;
    return tinygrad::activate<tinygrad::Sigmoid>(x[0] * x[1] - 0.5f) / (1.0f + exp(x[1]));
  };
  const auto as_batched = [](auto x) {
    return tinygrad::activate<tinygrad::Sigmoid>(x[0] * x[1] - 0.5f) /
           (1.0f + tinygrad::activate<tinygrad_test::BatchExponential>(x[1]));
  };
  // Several blocks, the last one ending inside a vector.
  constexpr std::size_t m = std::size_t{64} * 2 + 37;
  std::vector<float> points(2 * m);
  for (std::size_t k = 0; k < points.size(); ++k) {
    points[k] = std::sin(0.37f * static_cast<float>(k)) * 3.0f;
  }
  check_float_batch_matches_recordings(f, points, as_batched);
}

/// points_into_lanes and lanes_into_points against their definition, for
/// T, with every instruction set: widths 1 to 4 (loops of their own) and
/// across the tiles of the wider copies (4 doubles or 8 floats), counts
/// from one point to a whole block of 64 lanes. Lanes past the count and
/// numbers past the points stay as they were.
template <class T>
void check_block_transposes() {
  using tinygrad::detail::tracing::lanes_into_points;
  using tinygrad::detail::tracing::points_into_lanes;
  constexpr std::size_t stride = 64;
  constexpr T untouched = -1;
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    for (const std::size_t width : {1U, 2U, 3U, 4U, 5U, 7U, 8U, 9U, 12U, 15U, 16U, 17U, 100U}) {
      for (const std::size_t count : {1U, 3U, 4U, 5U, 8U, 9U, 17U, 31U, 32U, 63U, 64U}) {
        INFO(std::string(tinygrad::instruction_set_name(set)), ": width ", width, ", count ",
             count);
        std::vector<T> points(count * width);
        for (std::size_t k = 0; k < points.size(); ++k) {
          points[k] = static_cast<T>(k + 1);
        }
        std::vector<T> lanes(width * stride, untouched);
        points_into_lanes(lanes.data(), stride, points.data(), width, count, set);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < width; ++i) {
          for (std::size_t l = 0; l < stride; ++l) {
            const T expected = l < count ? points[l * width + i] : untouched;
            wrong += lanes[i * stride + l] == expected ? 0U : 1U;
          }
        }
        CHECK(wrong == 0);
        std::vector<T> back(count * width + 1, untouched);
        lanes_into_points(back.data(), lanes.data(), stride, width, count, set);
        CHECK(back.back() == untouched);
        back.pop_back();
        CHECK(back == points);
      }
    }
  }
}

TEST_CASE("a block's points go into the lanes and its gradients come out: every width") {
  check_block_transposes<double>();
  check_block_transposes<float>();
}

/// |y - exact| in units of T's spacing at `exact` (the subnormals' below
/// the normal range).
template <class T>
long double error_in_ulps(long double exact, T y) {
  int exponent = 0;
  (void)std::frexp(exact, &exponent);  // exact = m 2^exponent, m in [1/2, 1)
  const int spacing =
      std::max(exponent, std::numeric_limits<T>::min_exponent) - std::numeric_limits<T>::digits;
  return std::abs(static_cast<long double>(y) - exact) / std::ldexp(1.0L, spacing);
}

/// f (one input) traced once and replayed in a batch at `points` and then
/// at `special`, whose results must be `at_special` (NaN where NaN), with
/// every instruction set: within `bound` ulp of `exact` (long double) at
/// every point, the gradient `derivative(x, value)` bit for bit (as the
/// sweep adds it to a zero), and every instruction set with the same bits.
template <class T, class F, class Exact, class Derivative>
void check_batch_formula(F f, Exact exact, std::vector<T> points, const std::vector<T>& special,
                         const std::vector<T>& at_special, Derivative derivative,
                         long double bound) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const auto bits = [](T v) { return std::isnan(v) ? Bits{1} : std::bit_cast<Bits>(v); };
  const auto bits_of_all = [&](const std::vector<T>& v) {
    std::vector<Bits> all;
    all.reserve(v.size());
    for (const T y : v) {
      all.push_back(bits(y));
    }
    return all;
  };
  Trace<T> t = tinygrad::trace(f, std::vector<T>{T(0.5)});
  const std::size_t measured = points.size();
  points.insert(points.end(), special.begin(), special.end());
  std::vector<T> first_values;
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    std::vector<T> values(points.size());
    std::vector<T> gradients(points.size());
    t.values_and_gradients(points, values, gradients, {}, set);
    long double worst = 0;
    T worst_at = 0;
    for (std::size_t k = 0; k < measured; ++k) {
      const long double error =
          error_in_ulps(exact(static_cast<long double>(points[k])), values[k]);
      if (error > worst) {
        worst = error;
        worst_at = points[k];
      }
    }
    INFO("worst ", static_cast<double>(worst), " ulp at x = ", worst_at);
    CHECK(worst <= bound);
    for (std::size_t k = 0; k < special.size(); ++k) {
      INFO("at x = ", special[k]);
      CHECK(bits(values[measured + k]) == bits(at_special[k]));
    }
    for (std::size_t k = 0; k < points.size(); ++k) {
      INFO("x = ", points[k]);
      // The sweep adds the share to a zeroed adjoint: -0 comes out +0.
      REQUIRE(bits(gradients[k]) == bits(T(0) + derivative(points[k], values[k])));
    }
    if (first_values.empty()) {
      first_values = values;
    }
    CHECK(bits_of_all(values) == bits_of_all(first_values));
  }
}

/// Points spread over [lowest, highest] and, as many again, over
/// [near, far] (where the formulas' reductions change least).
template <class T>
std::vector<T> spread(T lowest, T highest, T near, T far) {
  std::vector<T> points;
  for (std::size_t k = 0; k < 20'000; ++k) {
    const double u = 0.5 + 0.5 * std::sin(1.7 * static_cast<double>(k));
    points.push_back(static_cast<T>(lowest + u * (highest - lowest)));
    points.push_back(static_cast<T>(near + u * (far - near)));
  }
  return points;
}

/// exp in a batch from where e^x rounds to 0 to where it overflows (the
/// subnormals included) and on [-1, 1]; 0 below, infinity above.
template <class T>
void check_batch_exp(T lowest, T highest) {
  constexpr T infinity = std::numeric_limits<T>::infinity();
  check_batch_formula<T>(
      [](auto x) {
        using tinygrad::exp;
        return exp(x[0]);
      },
      [](long double x) { return std::exp(x); }, spread<T>(lowest, highest, -1, 1),
      {T(0), T(-0.0), infinity, -infinity, highest * 2, lowest * 2,
       std::numeric_limits<T>::quiet_NaN()},
      {T(1), T(1), infinity, T(0), infinity, T(0), std::numeric_limits<T>::quiet_NaN()},
      [](T, T value) { return value; },
      // About 1 ulp: the rounding of e^r - 1 and of the product with 2^k. A
      // build with FMA rounds them differently, a little over 1 at worst.
      1.1L);
}

/// log in a batch over every binade, the subnormals included (x = 2^u),
/// and on [1/2, 2]; -infinity at +-0, NaN below, infinity at infinity.
template <class T>
void check_batch_log() {
  constexpr T infinity = std::numeric_limits<T>::infinity();
  constexpr T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> points =
      spread<T>(T(std::numeric_limits<T>::min_exponent - std::numeric_limits<T>::digits),
                T(std::numeric_limits<T>::max_exponent), T(0.5), T(2));
  for (std::size_t k = 0; k < points.size(); k += 2) {
    points[k] = std::exp2(points[k]);
  }
  check_batch_formula<T>(
      [](auto x) {
        using tinygrad::log;
        return log(x[0]);
      },
      [](long double x) { return std::log(x); }, points,
      {T(1), T(0), T(-0.0), T(-1), infinity, -infinity, nan},
      {T(0), -infinity, -infinity, nan, infinity, nan, nan}, [](T x, T) { return T(1) / x; }, 1.0L);
}

TEST_CASE("a batch's exp and log: within about 1 ulp, the same bits on every instruction set") {
  SUBCASE("exp, double") {
    check_batch_exp<double>(-745.0, 709.7);
  }
  SUBCASE("exp, float") {
    check_batch_exp<float>(-103.9f, 88.7f);
  }
  SUBCASE("log, double") {
    check_batch_log<double>();
  }
  SUBCASE("log, float") {
    check_batch_log<float>();
  }
}

TEST_CASE("a batch of floats: lanes whose adjoint is zero pass nothing on") {
  // Where sqrt(x0) < 0.5 the maximum takes 0.5, and sqrt's adjoint is 0;
  // at x0 = 0 its partial is infinite, and 0 times it would be NaN. The
  // lanes mix such points with others; the last sixteen are all such.
  const auto f = [](auto x) {
    using tinygrad::max;
    using tinygrad::sqrt;
    return max(sqrt(x[0]), 0.5f) * x[1];
  };
  std::vector<float> points;
  for (std::size_t k = 0; k < 40; ++k) {
    const bool mixed = k < 24;
    const float x0 = mixed && k % 3 == 0 ? 4.0f + static_cast<float>(k) : 0.0f;
    points.push_back(x0);
    points.push_back(1.0f + 0.25f * static_cast<float>(k));
  }
  check_float_batch_matches_recordings(f, points, f);
}

TEST_CASE("data: inputs a replay may change, without a gradient") {
  const auto f = [](auto x, auto data) {
    auto sum = 0.0 * x[0];
    for (std::size_t i = 0; i < x.size(); ++i) {
      const auto d = x[i] - data[i];
      sum += d * d * data[x.size()];
    }
    return sum;
  };
  Trace<double> t =
      tinygrad::trace(f, std::vector<double>{1.0, 2.0}, std::vector<double>{0.0, 0.0, 1.0});
  CHECK(t.inputs() == 2);
  CHECK(t.data_size() == 3);
  std::vector<double> g(2);
  const std::vector<double> x{1.5, -0.5};
  const std::vector<double> data{0.25, 1.0, 3.0};
  CHECK(t.value_and_gradient(x, g, data) == 3.0 * (1.25 * 1.25 + 1.5 * 1.5));
  CHECK(g[0] == 2.0 * 3.0 * 1.25);
  CHECK(g[1] == 2.0 * 3.0 * -1.5);
  CHECK_THROWS_AS(t.value(x, std::vector<double>{1.0}), std::invalid_argument);
  // In a batch: data per point, or the same data for every point.
  const std::vector<double> points{1.5, -0.5, 0.0, 2.0};
  std::vector<double> values(2);
  std::vector<double> gradients(4);
  const std::vector<double> per_point{0.25, 1.0, 3.0, 1.0, 1.0, 2.0};
  t.values_and_gradients(points, values, gradients, per_point);
  CHECK(values[0] == 3.0 * (1.25 * 1.25 + 1.5 * 1.5));
  CHECK(values[1] == 2.0 * (1.0 + 1.0));
  CHECK(gradients == std::vector<double>{7.5, -9.0, -4.0, 4.0});
  t.values_and_gradients(points, values, gradients, data);
  CHECK(values[1] == 3.0 * (0.25 * 0.25 + 1.0));
  CHECK(gradients[2] == 2.0 * 3.0 * -0.25);
  // One point for every set of data (per-sample gradients).
  t.values_and_gradients(x, values, gradients, per_point);
  CHECK(values[0] == 3.0 * (1.25 * 1.25 + 1.5 * 1.5));
  CHECK(values[1] == 2.0 * (0.5 * 0.5 + 1.5 * 1.5));
  CHECK(gradients == std::vector<double>{7.5, -9.0, 2.0, -6.0});
  CHECK_THROWS_WITH_AS(
      t.values(points, values, std::vector<double>{1.0, 2.0}),
      doctest::Contains("data has 2 elements but values times the traced data has 6"),
      std::invalid_argument);
  std::vector<double> three_values(3);
  CHECK_THROWS_WITH_AS(t.values(points, three_values, data),
                       doctest::Contains("points has 4 elements but values times the inputs has 6"),
                       std::invalid_argument);
  CHECK_THROWS_AS(
      t.values_and_gradients(points, values, std::span<double>(gradients).first(3), data),
      std::invalid_argument);
}

TEST_CASE("a constant result, and constants that never meet a traced number") {
  Trace<double> t = tinygrad::trace(
      [](auto x) {
        using tinygrad::exp;
        const Traced<double> two = 2.0;
        return exp(two) * 0.0 * x.size();
      },
      std::vector<double>{1.0, 2.0});
  CHECK(t.operations() == 0);
  std::vector<double> g{7.0, 7.0};
  CHECK(t.value_and_gradient(std::vector<double>{3.0, 4.0}, g) == 0.0);
  CHECK(g == std::vector<double>{0.0, 0.0});
  // An output that is an input.
  Trace<double> id = tinygrad::trace([](auto x) { return x[1]; }, std::vector<double>{1.0, 2.0});
  CHECK(id.value_and_gradient(std::vector<double>{3.0, 4.0}, g) == 4.0);
  CHECK(g == std::vector<double>{0.0, 1.0});
}

TEST_CASE("a constant used again shares its slot") {
  // The same operations twice: with one constant in every term, and with a
  // different constant in each. The first keeps one constant slot where
  // the second keeps 20, each a value and an adjoint in the workspace.
  const auto same = [](auto x) {
    auto sum = 3.0 * x[0];
    for (std::size_t i = 1; i < x.size(); ++i) {
      sum = sum + 3.0 * x[i];
    }
    return sum;
  };
  const auto different = [](auto x) {
    auto sum = 3.0 * x[0];
    for (std::size_t i = 1; i < x.size(); ++i) {
      sum = sum + (3.0 + static_cast<double>(i)) * x[i];
    }
    return sum;
  };
  const auto check = [&]<class T>(T) {
    const std::vector<T> x(20, T(0.5));
    Trace<T> one = tinygrad::trace(same, x);
    Trace<T> each = tinygrad::trace(different, x);
    CHECK(one.operations() == each.operations());
    CHECK(each.workspace_bytes() - one.workspace_bytes() == sizeof(T) * 2 * 19);
    CHECK(one.trace_bytes() < each.trace_bytes());
    std::vector<T> g(x.size());
    const std::vector<T> at(x.size(), T(2));
    CHECK(one.value_and_gradient(at, g) == T(120));
    CHECK(g == std::vector<T>(x.size(), T(3)));
  };
  check(0.0);
  check(0.0f);
}

TEST_CASE("copies share the trace and replay on their own threads") {
  std::vector<double> x0(50, 0.5);
  const Trace<double> t = tinygrad::trace(rosenbrock, x0);
  std::vector<std::vector<double>> results(4);
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < results.size(); ++k) {
    threads.emplace_back([&, k] {
      Trace<double> mine = t;
      std::vector<double> x(50, 0.1 * static_cast<double>(k));
      results[k].resize(50);
      for (int repeat = 0; repeat < 20; ++repeat) {
        mine.gradient(x, results[k]);
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  Trace<double> here = t;
  for (std::size_t k = 0; k < results.size(); ++k) {
    const std::vector<double> x(50, 0.1 * static_cast<double>(k));
    std::vector<double> expected(50);
    here.gradient(x, expected);
    CHECK(results[k] == expected);
    const std::vector<double> by_hand = rosenbrock_gradient(x);
    for (std::size_t i = 0; i < x.size(); ++i) {
      check_close(results[k][i], by_hand[i], 1e-13);
    }
  }
}

TEST_CASE("a warm replay allocates nothing; the trace's size") {
  std::vector<double> x(100, 0.5);
  Trace<double> t = tinygrad::trace(rosenbrock, x);
  // 0 * x[0], then per term: x*x, -, 1-x, 100*t, *t, u*u, +, +.
  CHECK(t.operations() == 8 * 99 + 1);
  CHECK(t.trace_bytes() <= 32 * t.operations());
  std::vector<double> g(100);
  t.gradient(x, g);
  const long before = tinygrad_test::allocations.load();
  for (int i = 0; i < 10; ++i) {
    x[0] = 0.1 * i;
    t.gradient(x, g);
    CHECK(t.value(x) > 0.0);
  }
  CHECK(tinygrad_test::allocations.load() == before);
  // And a warm batch.
  std::vector<double> points(std::size_t{100} * 20, 0.5);
  std::vector<double> values(20);
  std::vector<double> gradients(points.size());
  t.values_and_gradients(points, values, gradients);
  const long before_batch = tinygrad_test::allocations.load();
  points[7] = 0.25;
  t.values_and_gradients(points, values, gradients);
  t.values(points, values);
  CHECK(tinygrad_test::allocations.load() == before_batch);
}

TEST_CASE("misuse: a Traced outside its trace, sizes that do not match") {
  Traced<double> kept;
  Trace<double> t = tinygrad::trace(
      [&kept](auto x) {
        kept = x[0] * 2.0;
        return kept;
      },
      std::vector<double>{1.0});
  CHECK_THROWS_WITH_AS(kept + 1.0, doctest::Contains("whose trace is done"), tinygrad::trace_error);
  CHECK_THROWS_AS((void)(kept < 1.0), tinygrad::trace_error);
  // Inside another trace, a Traced of the first is refused too.
  CHECK_THROWS_AS(
      tinygrad::trace([&kept](auto x) { return x[0] * kept; }, std::vector<double>{1.0}),
      tinygrad::trace_error);
  std::vector<double> g(2);
  CHECK_THROWS_WITH_AS(t.gradient(std::vector<double>{1.0}, g),
                       doctest::Contains("gradient has 2 elements but x has 1"),
                       std::invalid_argument);
  CHECK_THROWS_AS(t.value(std::vector<double>{1.0, 2.0}), std::invalid_argument);
  // A constant is fine anywhere.
  const Traced<double> c = 2.0;
  CHECK((c * 3.0).value() == 6.0);
  CHECK(c < 3.0);
}

/// Five outputs of three inputs: every kind of output (a result, one used
/// twice, an input, a constant).
const auto five_outputs = [](auto x) {
  using S = std::remove_cvref_t<decltype(x[0])>;
  using std::exp, std::sin;
  const S first = x[0] * x[1] + sin(x[2]);
  return std::vector<S>{first, exp(x[0]) / x[2], x[1], S(3.0), first};
};

TEST_CASE("a function of several outputs: its Jacobian by hand, by differences, as recorded") {
  const std::vector<double> x0{0.4, -0.3, 1.5};
  const std::vector<double> x{-0.8, 1.7, 0.6};
  VectorTrace<double> t = tinygrad::trace(five_outputs, x0);
  static_assert(std::is_same_v<decltype(tinygrad::trace(five_outputs, x0)), VectorTrace<double>>);
  REQUIRE(t.outputs() == 5);
  REQUIRE(t.inputs() == 3);
  const tinygrad::Matrix<double> j = t.jacobian(x);
  REQUIRE(j.rows() == 5);
  REQUIRE(j.cols() == 3);

  const double e = std::exp(x[0]);
  const double by_hand[5][3] = {{x[1], x[0], std::cos(x[2])},
                                {e / x[2], 0, -e / (x[2] * x[2])},
                                {0, 1, 0},
                                {0, 0, 0},
                                {x[1], x[0], std::cos(x[2])}};
  std::vector<double> y(5);
  t.value(x, y);
  const double expected_y[5] = {x[0] * x[1] + std::sin(x[2]), e / x[2], x[1], 3.0,
                                x[0] * x[1] + std::sin(x[2])};
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("output ", i);
    check_close(y[i], expected_y[i], 1e-15);
    // Row i is the gradient of a fresh recording of output i, bit for bit.
    auto output_i = [i](auto v) { return five_outputs(v)[i]; };
    std::vector<double> recorded_row;
    CHECK(bits(recorded(output_i, x, recorded_row)) == bits(y[i]));
    for (std::size_t k = 0; k < 3; ++k) {
      INFO("d/dx", k);
      check_close(j(i, k), by_hand[i][k], 1e-15);
      CHECK(bits(j(i, k)) == bits(recorded_row[k]));
      const double numeric = tinygrad_test::central_difference(
          [&](double xk) {
            std::vector<double> shifted = x;
            shifted[k] = xk;
            std::vector<double> out(5);
            t.value(shifted, out);
            return out[i];
          },
          x[k]);
      check_close(j(i, k), numeric, 1e-8);
    }
  }
  // vjp: v^T J in one sweep.
  const std::vector<double> v{0.5, -2.0, 1.25, 7.0, 3.0};
  std::vector<double> g(3);
  t.vjp(x, v, g);
  for (std::size_t k = 0; k < 3; ++k) {
    double expected = 0;
    for (std::size_t i = 0; i < 5; ++i) {
      expected += v[i] * by_hand[i][k];
    }
    check_close(g[k], expected, 1e-14);
  }
  // The functional API's jacobian (a tape, fusion on) agrees to rounding.
  const tinygrad::Matrix<double> taped = tinygrad::jacobian(five_outputs, x);
  for (std::size_t i = 0; i < 5; ++i) {
    for (std::size_t k = 0; k < 3; ++k) {
      check_close(j(i, k), taped(i, k), 1e-15);
    }
  }
  // value_and_jacobian: the same numbers, and nothing allocated once warm.
  std::vector<double> y2(5);
  std::vector<double> flat(15);
  t.value_and_jacobian(x, y2, flat);
  CHECK(std::vector<double>(j.begin(), j.end()) == flat);
  CHECK(y2 == y);
  const long before = tinygrad_test::allocations.load();
  t.value_and_jacobian(x0, y2, flat);
  t.vjp(x, v, g);
  CHECK(tinygrad_test::allocations.load() == before);
  CHECK(flat[2] == std::cos(x0[2]));
}

TEST_CASE("every sweep starts from zero adjoints, whatever the one before left") {
  // Outputs of every kind: results (one listed twice), an input, a constant.
  VectorTrace<double> t = tinygrad::trace(five_outputs, std::vector<double>{0.4, -0.3, 1.5});
  const std::vector<double> x{-0.8, 1.7, 0.6};
  const double e = std::exp(x[0]);
  const auto by_hand = [&](const std::vector<double>& v) {
    // v^T J, J as in the test above.
    const double first = v[0] + v[4];
    return std::vector<double>{first * x[1] + v[1] * e / x[2], first * x[0] + v[2],
                               first * std::cos(x[2]) - v[1] * e / (x[2] * x[2])};
  };
  const std::vector<std::vector<double>> seeds{
      {1.0, 2.0, 3.0, 4.0, 5.0}, {0.0, 0.0, 1.0, 0.0, 0.0}, {-1.0, 0.5, 0.0, 9.0, 0.0}};
  std::vector<std::vector<double>> first_pass;
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t s = 0; s < seeds.size(); ++s) {
      INFO("pass ", pass, ", seed ", s);
      std::vector<double> g(3, -1.0);
      t.vjp(x, seeds[s], g);
      const std::vector<double> expected = by_hand(seeds[s]);
      for (std::size_t k = 0; k < 3; ++k) {
        check_close(g[k], expected[k], 1e-14);
      }
      if (pass == 0) {
        first_pass.push_back(g);
      } else {
        CHECK(g == first_pass[s]);  // bit for bit: nothing carried over
      }
    }
  }
  // A batch after a batch: each gets its own points' gradients.
  Trace<double> r = tinygrad::trace(rosenbrock, std::vector<double>{0.5, 0.5, 0.5});
  const std::size_t m = 64 + tinygrad::detail::tracing::lanes<double> + 1;  // several blocks
  std::vector<double> values(m);
  std::vector<double> gradients(3 * m);
  for (const double shift : {0.0, 0.25}) {
    std::vector<double> points(3 * m);
    for (std::size_t i = 0; i < points.size(); ++i) {
      points[i] = 0.1 * static_cast<double>(i % 7) - shift;
    }
    for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
      INFO("shift ", shift, ", instruction set ", std::string(tinygrad::instruction_set_name(set)));
      r.values_and_gradients(points, values, gradients, {}, set);
      for (std::size_t k = 0; k < m; ++k) {
        const std::vector<double> point(points.begin() + static_cast<std::ptrdiff_t>(3 * k),
                                        points.begin() + static_cast<std::ptrdiff_t>(3 * k + 3));
        const std::vector<double> expected = rosenbrock_gradient(point);
        for (std::size_t i = 0; i < 3; ++i) {
          check_close(gradients[3 * k + i], expected[i], 1e-13);
        }
      }
    }
  }
}

TEST_CASE("several outputs: data, branches, no outputs, sizes") {
  // With data: f(x, d) = (x0 * d0, x0 + d1, d0), J = (d0; 1; 0).
  VectorTrace<double> with_data = tinygrad::trace(
      [](auto x, auto d) {
        using S = std::remove_cvref_t<decltype(x[0])>;
        return std::vector<S>{x[0] * d[0], x[0] + d[1], d[0]};
      },
      std::vector<double>{1.0}, std::vector<double>{2.0, 3.0});
  const tinygrad::Matrix<double> jd =
      with_data.jacobian(std::vector<double>{5.0}, std::vector<double>{-4.0, 0.5});
  CHECK(jd.values() == std::vector<double>{-4.0, 1.0, 0.0});

  // A branch: retraced where it flips, or reported.
  const auto two_branches = [](auto x) {
    using S = std::remove_cvref_t<decltype(x[0])>;
    if (x[0] > 0.0) {
      return std::vector<S>{x[0] * x[0], x[1]};
    }
    return std::vector<S>{x[0] * x[1], -x[1]};
  };
  VectorTrace<double> b = tinygrad::trace(two_branches, std::vector<double>{1.0, 2.0});
  const tinygrad::Matrix<double> left = b.jacobian(std::vector<double>{-3.0, 2.0});
  CHECK(b.retraces() == 1);
  CHECK(left.values() == std::vector<double>{2.0, -3.0, 0.0, -1.0});
  VectorTrace<double> strict =
      tinygrad::trace(two_branches, std::vector<double>{1.0, 2.0}, tinygrad::BranchChange::report);
  CHECK_THROWS_WITH_AS(
      (void)strict.jacobian(std::vector<double>{-3.0, 2.0}),
      doctest::Contains("tinygrad::VectorTrace: comparison 1 of the trace (>, true when traced)"),
      tinygrad::branch_changed);
  const tinygrad::Matrix<double> right = strict.jacobian(std::vector<double>{0.5, 2.0});
  CHECK(right.values() == std::vector<double>{1.0, 0.0, 0.0, 1.0});

  // A branch that changes how many outputs there are: the trace keeps its count.
  VectorTrace<double> growing = tinygrad::trace(
      [](auto x) {
        using S = std::remove_cvref_t<decltype(x[0])>;
        return x[0] > 0.0 ? std::vector<S>{x[0]} : std::vector<S>{x[0], x[0]};
      },
      std::vector<double>{1.0});
  CHECK_THROWS_WITH_AS((void)growing.jacobian(std::vector<double>{-1.0}),
                       doctest::Contains("tinygrad::VectorTrace: traced again where a "
                                         "comparison flips, the function returns 2 values, but "
                                         "1 where first traced"),
                       tinygrad::trace_error);
  CHECK(growing.jacobian(std::vector<double>{2.0}).values() == std::vector<double>{1.0});

  // No outputs at all: a 0 x n Jacobian.
  VectorTrace<double> none =
      tinygrad::trace([](auto x) { return std::vector<std::remove_cvref_t<decltype(x[0])>>{}; },
                      std::vector<double>{1.0, 2.0});
  const tinygrad::Matrix<double> empty = none.jacobian(std::vector<double>{3.0, 4.0});
  CHECK(empty.rows() == 0);
  CHECK(empty.cols() == 2);

  // Sizes.
  std::vector<double> y(3);
  std::vector<double> g(2);
  CHECK_THROWS_WITH_AS(b.value(std::vector<double>{1.0, 2.0}, y),
                       doctest::Contains("y has 3 elements but the outputs has 2"),
                       std::invalid_argument);
  std::vector<double> y2(2);
  std::vector<double> j3(3);
  CHECK_THROWS_AS(b.value_and_jacobian(std::vector<double>{1.0, 2.0}, y2, j3),
                  std::invalid_argument);
  CHECK_THROWS_AS(b.vjp(std::vector<double>{1.0, 2.0}, std::vector<double>{1.0}, g),
                  std::invalid_argument);
  CHECK_THROWS_AS((void)b.jacobian(std::vector<double>{1.0}), std::invalid_argument);
}

}  // namespace
