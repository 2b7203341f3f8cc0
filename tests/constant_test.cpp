// SPDX-License-Identifier: MIT
// Constants (default-constructed Vars, tinygrad::constant, detach) and
// NoGradScope: values with no tape entry, and how operations treat them.

#include <tinygrad/functional.hpp>
#include <tinygrad/var.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;

namespace {

// The gradient of f at x (one Var) and the tape entries it records.
struct Recorded {
  double value;
  double gradient;
  std::size_t entries;
};

template <class F>
Recorded record_and_differentiate(F f, double x0) {
  Tape<double> tape;
  const Var<double> x = x0;
  const Var<double> y = f(x);
  y.backward();
  return {y.value(), x.grad(), tape.size()};
}

// Central finite difference of a function of plain doubles.
double central_difference(const std::function<double(double)>& f, double x) {
  const double h = 1e-6;
  return (f(x + h) - f(x - h)) / (2 * h);
}

}  // namespace

TEST_CASE("a default-constructed Var is a constant 0 with no tape entry") {
  Tape<double> tape;
  const Var<double> zero;
  CHECK(zero.is_constant());
  CHECK(zero.value() == 0.0);
  const std::vector<Var<double>> many(1000);
  CHECK(tape.size() == 0);
  const Var<double> leaf = 0.0;  // from a value: a leaf, as before
  CHECK_FALSE(leaf.is_constant());
  CHECK(tape.size() == 1);
}

#ifndef TINYGRAD_NO_CHECKS  // the check itself, compiled out there
TEST_CASE("grad() and backward() of a constant say it is one") {
  Tape<double> tape;
  const Var<double> c = tinygrad::constant(2.5);
  CHECK_THROWS_WITH_AS((void)c.grad(), doctest::Contains("is a constant"), tinygrad::tape_error);
  CHECK_THROWS_WITH_AS(c.backward(), doctest::Contains("used in backward() is a constant"),
                       tinygrad::tape_error);
  std::array<double, 1> out{};
  CHECK_THROWS_AS(tinygrad::read_gradients(std::array{c}, out), tinygrad::tape_error);
}
#endif

TEST_CASE("an operator with a constant records as it would with a plain number") {
  const double c = 1.75;
  // Each pair: the operation with constant(c), and with c itself. Same value,
  // same gradient to the bit, same number of entries.
  using Op = std::function<Var<double>(const Var<double>&, const Var<double>&)>;
  using Plain = std::function<Var<double>(const Var<double>&, double)>;
  const std::vector<std::pair<Op, Plain>> cases = {
      {[](const auto& x, const auto& k) { return x + k; },
       [](const auto& x, double k) { return x + k; }},
      {[](const auto& x, const auto& k) { return k + x; },
       [](const auto& x, double k) { return k + x; }},
      {[](const auto& x, const auto& k) { return x - k; },
       [](const auto& x, double k) { return x - k; }},
      {[](const auto& x, const auto& k) { return k - x; },
       [](const auto& x, double k) { return k - x; }},
      {[](const auto& x, const auto& k) { return x * k; },
       [](const auto& x, double k) { return x * k; }},
      {[](const auto& x, const auto& k) { return k * x; },
       [](const auto& x, double k) { return k * x; }},
      {[](const auto& x, const auto& k) { return x / k; },
       [](const auto& x, double k) { return x / k; }},
      {[](const auto& x, const auto& k) { return k / x; },
       [](const auto& x, double k) { return k / x; }},
      {[](const auto& x, const auto& k) { return pow(x, k); },
       [](const auto& x, double k) { return pow(x, k); }},
      {[](const auto& x, const auto& k) { return pow(k, x); },
       [](const auto& x, double k) { return pow(k, x); }},
      {[](const auto& x, const auto& k) { return atan2(x, k); },
       [](const auto& x, double k) { return atan2(x, k); }},
      {[](const auto& x, const auto& k) { return max(x, k); },
       [](const auto& x, double k) { return max(x, k); }},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    const Op& with_constant = cases[i].first;    // not a structured binding: clang 14 cannot
    const Plain& with_number = cases[i].second;  // capture those in the lambdas below
    const Recorded a = record_and_differentiate(
        [&](const Var<double>& x) { return with_constant(x, tinygrad::constant(c)); }, 0.8);
    const Recorded b =
        record_and_differentiate([&](const Var<double>& x) { return with_number(x, c); }, 0.8);
    CHECK(a.value == b.value);
    CHECK(a.gradient == b.gradient);
    CHECK(a.entries == b.entries);
    CHECK(a.entries == 2);  // the leaf and one entry of one operand
  }
}

TEST_CASE("gradients through constants: by hand and by finite differences") {
  // f(x) = exp(c x) / (c - x) with c = 0.5: f'(x) = f(x) (c + 1 / (c - x)).
  const double c = 0.5;
  const double x0 = -0.3;
  const Recorded r = record_and_differentiate(
      [&](const Var<double>& x) {
        const Var<double> k = tinygrad::constant(c);
        return exp(k * x) / (k - x);
      },
      x0);
  const double f = std::exp(c * x0) / (c - x0);
  CHECK(r.value == doctest::Approx(f).epsilon(1e-15));
  CHECK(r.gradient == doctest::Approx(f * (c + 1 / (c - x0))).epsilon(1e-14));
  CHECK(r.gradient ==
        doctest::Approx(central_difference([&](double x) { return std::exp(c * x) / (c - x); }, x0))
            .epsilon(1e-8));
}

TEST_CASE("operations on constants only give constants and record nothing") {
  Tape<double> tape;
  const Var<double> a = tinygrad::constant(2.0);
  const Var<double> b;
  const Var<double> r = exp(a) * a + b - sqrt(a) / a;
  CHECK(r.is_constant());
  CHECK(r.value() == std::exp(2.0) * 2.0 - std::sqrt(2.0) / 2.0);
  CHECK(tape.size() == 0);
}

TEST_CASE("detach: same value, no gradient back through it") {
  // y = x * detach(x): dy/dx is x, not 2x.
  Tape<double> tape;
  const Var<double> x = 3.0;
  const Var<double> d = x.detach();
  CHECK(d.is_constant());
  CHECK(d.value() == 3.0);
  const Var<double> y = x * d;
  CHECK(y.value() == 9.0);
  y.backward();
  CHECK(x.grad() == 3.0);
  CHECK_FALSE(x.is_constant());  // x itself is untouched
}

TEST_CASE("a sum with constant terms records only its Var terms") {
  Tape<double> tape;
  const Var<double> x = 1.0;
  const Var<double> y = 2.0;
  const std::vector<Var<double>> terms{x, tinygrad::constant(10.0), y, Var<double>()};
  const Var<double> s = tinygrad::sum(terms);
  CHECK(s.value() == 13.0);
  s.backward();
  CHECK(x.grad() == 1.0);
  CHECK(y.grad() == 1.0);
  std::size_t operands = 0;
  tape.for_each_entry([&](const auto& entry) { operands += entry.operand_index.size(); });
  CHECK(operands == 2);
  // dot with constant weights: the partial of each Var term is its weight.
  const std::vector<Var<double>> w{tinygrad::constant(4.0), tinygrad::constant(5.0)};
  const std::vector<Var<double>> v{x, y};
  const Var<double> p = tinygrad::dot(w, v);
  CHECK(p.value() == 14.0);
  tape.zero_grad();
  p.backward();
  CHECK(x.grad() == 4.0);
  CHECK(y.grad() == 5.0);
}

TEST_CASE("a constant belongs to no tape: it works on any") {
  Var<double> c;
  {
    Tape<double> first;
    c = tinygrad::constant(2.0);
  }
  Tape<double> second;
  const Var<double> x = 4.0;
  const Var<double> y = x * c;
  y.backward();
  CHECK(x.grad() == 2.0);
}

TEST_CASE("NoGradScope: values without recording") {
  Tape<double> tape;
  const Var<double> x = 2.0;
  const Var<double> w = 0.5;
  const std::size_t before = tape.size();
  Var<double> evaluated;
  {
    const tinygrad::NoGradScope<double> no_grad;
    evaluated = exp(w * x) + x;
    CHECK(evaluated.is_constant());
    const Var<double> inside = 7.0;  // constructed meanwhile: a constant too
    CHECK(inside.is_constant());
    std::vector<Var<double>> leaves;
    tinygrad::record_leaves(std::vector<double>{1.0, 2.0}, leaves);
    CHECK(leaves[0].is_constant());
    CHECK(leaves[1].is_constant());
    CHECK(
        tinygrad::dot(std::vector<Var<double>>{x, w}, std::vector<double>{1.0, 2.0}).is_constant());
    CHECK(tape.size() == before);
  }
  CHECK(evaluated.value() == std::exp(1.0) + 2.0);
  CHECK(tape.size() == before);
  // Recording resumes; the values computed meanwhile are constants in it.
  const Var<double> y = w * x * evaluated;
  CHECK(tape.size() > before);
  y.backward();
  CHECK(w.grad() == x.value() * evaluated.value());
  CHECK(x.grad() == w.value() * evaluated.value());
}

TEST_CASE("NoGradScope does not rewrite an entry recorded before it") {
  // A temporary from before the scope, consumed inside it, must not have its
  // entry changed (fusion is off in the scope).
  Tape<double> tape;
  const Var<double> x = 1.5;
  Var<double> t = x * x;
  {
    const tinygrad::NoGradScope<double> no_grad;
    const Var<double> inside = std::move(t) * 4.0;
    CHECK(inside.is_constant());
    CHECK(inside.value() == 9.0);
  }
  const Var<double> t2 = x * x;
  t2.backward();
  CHECK(x.grad() == 3.0);
}

TEST_CASE("NoGradScopes nest; a tape made inside one records") {
  Tape<double> outer;
  const Var<double> x = 1.0;
  {
    const tinygrad::NoGradScope<double> a;
    {
      const tinygrad::NoGradScope<double> b;
      CHECK((x + 1.0).is_constant());
    }
    CHECK((x + 1.0).is_constant());  // still inside a
    {
      Tape<double> inner;
      const Var<double> z = 3.0;
      const Var<double> r = z * z;
      CHECK_FALSE(r.is_constant());
      r.backward();
      CHECK(z.grad() == 6.0);
    }
  }
  CHECK_FALSE((x + 1.0).is_constant());
}

TEST_CASE("NoGradScope while annotating or detecting anomalies records nothing either") {
  Tape<double> tape;
  tape.annotate(true);
  tape.detect_anomalies(true);
  const Var<double> x = 1.0;
  const std::size_t before = tape.size();
  {
    const tinygrad::NoGradScope<double> no_grad;
    CHECK((x * 2.0 + x).is_constant());
    CHECK(tape.size() == before);
  }
  const Var<double> y = x * 2.0;
  CHECK_FALSE(y.is_constant());
  CHECK(tape.size() == before + 1);
}

TEST_CASE("second order: a number met in a nested recording is no leaf on the tape below") {
  Tape<double> inner;
  Tape<Var<double>> outer;
  const Var<Var<double>> x = Var<double>(1.5);
  const std::size_t before = inner.size();
  // Each operation with a number records one entry on the inner tape, its
  // value's: neither the number nor its partial (1, -1, c, 1/c) is a leaf
  // there, and the value is the inner Var with the number, one operand.
  const Var<Var<double>> y = -((2.0 - (100.0 * x - 1.0) / 4.0 + 2.0) * 3);
  CHECK(inner.size() == before + 7);
  CHECK(y.value().value() == -((2.0 - (100.0 * 1.5 - 1.0) / 4.0 + 2.0) * 3));
  y.backward();
  CHECK(x.grad().value() == 100.0 / 4.0 * 3.0);
  // The unit partials of an operation on two Vars are no leaves either:
  // z - z * z records z * z and the difference below, and its derivatives
  // are 1 - 2z and -2.
  outer.clear();
  inner.clear();
  const Var<Var<double>> z = Var<double>(0.25);
  const std::size_t at_z = inner.size();
  const Var<Var<double>> w = z - z * z;
  CHECK(inner.size() == at_z + 2);
  w.backward();
  const Var<double> dw = z.grad();
  CHECK(dw.value() == 1.0 - 2 * 0.25);
  dw.backward();
  CHECK(z.value().grad() == -2.0);
}

TEST_CASE("second order: a default Var<Var<double>> is constant on both tapes") {
  Tape<double> inner;
  Tape<Var<double>> outer;
  const Var<Var<double>> c;
  CHECK(c.is_constant());
  CHECK(c.value().is_constant());
  CHECK(inner.size() == 0);
  CHECK(outer.size() == 0);
  // d2/dx2 of c x^2 with c = constant 3: 6, through the functional API.
  const std::array<double, 1> at{2.0};
  const auto h = tinygrad::hessian(
      [](const auto& x) {
        using V = std::remove_cvref_t<decltype(x[0])>;
        return tinygrad::constant<typename V::value_type>(3.0) * x[0] * x[0];
      },
      at);
  CHECK(h(0, 0) == 6.0);
}
