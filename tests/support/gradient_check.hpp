// SPDX-License-Identifier: MIT
#pragma once

// The three-way check every gradient in the tests goes through: tinygrad's
// value against f on plain doubles, its gradient against a hand-derived
// formula and against central finite differences of f.

#include <tinygrad/var.hpp>

#include "numeric.hpp"

#include <doctest/doctest.h>

namespace tinygrad_test {

inline constexpr double value_tolerance = 1e-15;
inline constexpr double formula_tolerance = 1e-13;
inline constexpr double finite_difference_tolerance = 1e-7;

/// f(x) at x0: value, df/dx against `derivative` and finite differences.
template <class F, class D>
void check_gradient(F f, D derivative, double x0) {
  INFO("x = ", x0);
  tinygrad::Tape<double> tape;
  tinygrad::Var<double> x = x0;
  const tinygrad::Var<double> out = f(x);
  out.backward();
  check_close(out.value(), f(x0), value_tolerance);
  check_close(x.grad(), derivative(x0), formula_tolerance);
  check_close(x.grad(), central_difference(f, x0), finite_difference_tolerance);
}

/// f(x, y) at (x0, y0): value and both partials, the same three ways.
template <class F, class Dx, class Dy>
void check_gradient(F f, Dx dfdx, Dy dfdy, double x0, double y0) {
  INFO("(x, y) = (", x0, ", ", y0, ")");
  tinygrad::Tape<double> tape;
  tinygrad::Var<double> x = x0;
  tinygrad::Var<double> y = y0;
  const tinygrad::Var<double> out = f(x, y);
  out.backward();
  check_close(out.value(), f(x0, y0), value_tolerance);
  check_close(x.grad(), dfdx(x0, y0), formula_tolerance);
  check_close(y.grad(), dfdy(x0, y0), formula_tolerance);
  check_close(x.grad(), central_difference([&](double t) { return f(t, y0); }, x0),
              finite_difference_tolerance);
  check_close(y.grad(), central_difference([&](double t) { return f(x0, t); }, y0),
              finite_difference_tolerance);
}

}  // namespace tinygrad_test
