// SPDX-License-Identifier: MIT
#pragma once

// The elementary functions' values and partial derivatives, written once for
// both modes: math.hpp records them on the tape (reverse mode), dual.hpp
// carries them forward (Dual<T>). So the two modes share every formula and
// every convention where a derivative does not exist.
//
// Each is a template on the number type and calls the elementary functions
// unqualified after a block-scope `using std::...;`: on a plain number std::
// serves; on a Var or a Dual (second derivatives) argument-dependent lookup
// finds tinygrad's own, one level down.
//
// Conventions where the derivative does not exist follow PyTorch: abs'(0) = 0,
// min and max split the gradient equally on ties, hypot'(0, 0) = 0, and pow's
// derivative with respect to the exponent is 0 where the base is 0.

#include <tinygrad/activation.hpp>  // ValueAndDerivative
#include <tinygrad/detail/traits.hpp>

#include <cmath>
#include <numbers>

namespace tinygrad::detail::derivatives {

/// A function of two arguments at a point: its value and its partial
/// derivatives with respect to the first and the second argument.
template <class T>
struct ValueAndPartials {
  T value;
  T first;
  T second;
};

// ---- Exponentials and logarithms ----

template <class T>
ValueAndDerivative<T> exp(const T& x) {
  using std::exp;
  const T v = exp(x);
  return {v, v};
}
template <class T>
ValueAndDerivative<T> exp2(const T& x) {
  using std::exp2;
  const T v = exp2(x);
  return {v, v * std::numbers::ln2_v<Innermost<T>>};
}
template <class T>
ValueAndDerivative<T> expm1(const T& x) {
  using std::exp, std::expm1;
  return {expm1(x), exp(x)};
}
template <class T>
ValueAndDerivative<T> log(const T& x) {
  using std::log;
  return {log(x), T(1) / x};
}
template <class T>
ValueAndDerivative<T> log2(const T& x) {
  using std::log2;
  return {log2(x), T(1) / (x * std::numbers::ln2_v<Innermost<T>>)};
}
template <class T>
ValueAndDerivative<T> log10(const T& x) {
  using std::log10;
  return {log10(x), T(1) / (x * std::numbers::ln10_v<Innermost<T>>)};
}
template <class T>
ValueAndDerivative<T> log1p(const T& x) {
  using std::log1p;
  return {log1p(x), T(1) / (T(1) + x)};
}

// ---- Powers and roots ----

template <class T>
ValueAndDerivative<T> sqrt(const T& x) {
  using std::sqrt;
  const T v = sqrt(x);
  return {v, T(1) / (2 * v)};
}
template <class T>
ValueAndDerivative<T> cbrt(const T& x) {
  using std::cbrt;
  const T v = cbrt(x);
  return {v, T(1) / (3 * v * v)};
}

// d(x^y)/dx = y x^(y-1); 0 at x = 0 and y = 0 (x^0 is constant), where the
// formula would give 0 * inf. Only there: elsewhere at y = 0 the formula's 0
// is needed as it is, because on a Var (second derivatives) its derivative in
// y, x^(y-1), is not 0 and a constant 0 would lose it.
template <class T>
T pow_partial_base(const T& x, const T& y) {
  using std::pow;
  return y == T(0) && x == T(0) ? T(0) : y * pow(x, y - T(1));
}
// d(x^y)/dy = x^y log x; 0 where x = 0 and y >= 0 (the limit from the right),
// avoiding 0 * -inf.
template <class T>
T pow_partial_exponent(const T& x, const T& y, const T& x_to_y) {
  using std::log;
  return x == T(0) && y >= T(0) ? T(0) : x_to_y * log(x);
}

template <class T>
ValueAndPartials<T> pow(const T& x, const T& y) {
  using std::pow;
  const T v = pow(x, y);
  return {v, pow_partial_base(x, y), pow_partial_exponent(x, y, v)};
}

// d hypot(x, y) = (x, y) / hypot(x, y), and 0 at the origin where it has no
// derivative.
template <class T>
T hypot_partial(const T& own, const T& h) {
  return h == T(0) ? T(0) : own / h;
}

template <class T>
ValueAndPartials<T> hypot(const T& x, const T& y) {
  using std::hypot;
  const T h = hypot(x, y);
  return {h, hypot_partial(x, h), hypot_partial(y, h)};
}

// ---- Trigonometric functions ----

template <class T>
ValueAndDerivative<T> sin(const T& x) {
  using std::cos, std::sin;
  return {sin(x), cos(x)};
}
template <class T>
ValueAndDerivative<T> cos(const T& x) {
  using std::cos, std::sin;
  return {cos(x), -sin(x)};
}
template <class T>
ValueAndDerivative<T> tan(const T& x) {
  using std::tan;
  const T v = tan(x);
  return {v, T(1) + v * v};
}
// 1 - x^2 is formed as (1 - x)(1 + x): exact factors, no cancellation near |x| = 1.
template <class T>
ValueAndDerivative<T> asin(const T& x) {
  using std::asin, std::sqrt;
  return {asin(x), T(1) / sqrt((T(1) - x) * (T(1) + x))};
}
template <class T>
ValueAndDerivative<T> acos(const T& x) {
  using std::acos, std::sqrt;
  return {acos(x), T(-1) / sqrt((T(1) - x) * (T(1) + x))};
}
template <class T>
ValueAndDerivative<T> atan(const T& x) {
  using std::atan;
  return {atan(x), T(1) / (T(1) + x * x)};
}
// atan2(y, x) has partials (x, -y) / (x^2 + y^2); dividing by hypot twice
// avoids overflow of x^2 + y^2.
template <class T>
ValueAndPartials<T> atan2(const T& y, const T& x) {
  using std::atan2, std::hypot;
  const T h = hypot(x, y);
  return {atan2(y, x), (x / h) / h, (-y / h) / h};
}

// ---- Hyperbolic functions (tanh is the Tanh activation) ----

template <class T>
ValueAndDerivative<T> sinh(const T& x) {
  using std::cosh, std::sinh;
  return {sinh(x), cosh(x)};
}
template <class T>
ValueAndDerivative<T> cosh(const T& x) {
  using std::cosh, std::sinh;
  return {cosh(x), sinh(x)};
}
// 1 / sqrt(x^2 + 1) as 1 / hypot(x, 1): no overflow of x^2 for large |x|.
template <class T>
ValueAndDerivative<T> asinh(const T& x) {
  using std::asinh, std::hypot;
  return {asinh(x), T(1) / hypot(x, T(1))};
}
template <class T>
ValueAndDerivative<T> acosh(const T& x) {
  using std::acosh, std::sqrt;
  return {acosh(x), T(1) / (sqrt(x - T(1)) * sqrt(x + T(1)))};
}
template <class T>
ValueAndDerivative<T> atanh(const T& x) {
  using std::atanh;
  return {atanh(x), T(1) / ((T(1) - x) * (T(1) + x))};
}

// ---- Error functions ----

template <class T>
ValueAndDerivative<T> erf(const T& x) {
  using std::erf, std::exp;
  constexpr auto two_over_sqrtpi = 2 * std::numbers::inv_sqrtpi_v<Innermost<T>>;
  return {erf(x), two_over_sqrtpi * exp(-x * x)};
}
template <class T>
ValueAndDerivative<T> erfc(const T& x) {
  using std::erfc, std::exp;
  constexpr auto two_over_sqrtpi = 2 * std::numbers::inv_sqrtpi_v<Innermost<T>>;
  return {erfc(x), -two_over_sqrtpi * exp(-x * x)};
}

// ---- Absolute value, min and max ----

template <class T>
ValueAndDerivative<T> abs(const T& x) {
  using std::abs;
  const T sign = x > T(0) ? T(1) : x < T(0) ? T(-1) : x == T(0) ? T(0) : x;  // NaN stays NaN
  return {abs(x), sign};
}

// The share of the gradient that goes to the first argument of min(a, b):
// all of it if a is smaller, half on a tie, none otherwise. NaN propagates.
template <class T>
T min_share_of_first(const T& a, const T& b) {
  if (a < b) {
    return T(1);
  }
  if (b < a) {
    return T(0);
  }
  return a == b ? T(0.5) : a + b;  // NaN
}

template <class T>
T nan_aware_min(const T& a, const T& b) {
  return a < b ? a : b < a ? b : a == b ? a : a + b;  // NaN if either is NaN
}

/// The smaller of x and y (NaN if either is NaN).
template <class T>
ValueAndPartials<T> min(const T& x, const T& y) {
  const T share = min_share_of_first(x, y);
  return {nan_aware_min(x, y), share, T(1) - share};
}
/// The larger of x and y (NaN if either is NaN).
template <class T>
ValueAndPartials<T> max(const T& x, const T& y) {
  const T share = min_share_of_first(y, x);
  return {-nan_aware_min(-x, -y), share, T(1) - share};
}

}  // namespace tinygrad::detail::derivatives
