// SPDX-License-Identifier: MIT
#pragma once

// Elementary functions and activations of Var<T>. Each computes its value and
// local partial derivatives on plain T and records one tape entry. They live
// in namespace tinygrad, so unqualified calls find them by ADL.
//
// Each body calls the elementary functions unqualified after a block-scope
// `using std::...;`: on a Var<double> the value is a double and std:: serves;
// on a Var<Var<double>> (second derivatives) it is a Var<double>, and
// argument-dependent lookup finds these very functions, one level down.
//
// Conventions where the derivative does not exist follow PyTorch: abs'(0) = 0,
// min and max split the gradient equally on ties, hypot'(0, 0) = 0, and pow's
// derivative with respect to the exponent is 0 where the base is 0.

#include <tinygrad/activation.hpp>
#include <tinygrad/activation_kernels.hpp>
#include <tinygrad/detail/config.hpp>
#include <tinygrad/detail/record.hpp>
#include <tinygrad/var_type.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <numbers>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinygrad {

// ---- Exponentials and logarithms ----

template <class T>
Var<T> exp(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::exp;
  const T v = exp(x.value());
  return detail::record(where, "exp", v, x, v);
}
template <class T>
Var<T> exp2(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::exp2;
  const T v = exp2(x.value());
  return detail::record(where, "exp2", v, x, v * std::numbers::ln2_v<detail::Innermost<T>>);
}
template <class T>
Var<T> expm1(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::exp, std::expm1;
  return detail::record(where, "expm1", expm1(x.value()), x, exp(x.value()));
}
template <class T>
Var<T> log(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::log;
  return detail::record(where, "log", log(x.value()), x, T(1) / x.value());
}
template <class T>
Var<T> log2(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::log2;
  return detail::record(where, "log2", log2(x.value()), x,
                        T(1) / (x.value() * std::numbers::ln2_v<detail::Innermost<T>>));
}
template <class T>
Var<T> log10(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::log10;
  return detail::record(where, "log10", log10(x.value()), x,
                        T(1) / (x.value() * std::numbers::ln10_v<detail::Innermost<T>>));
}
template <class T>
Var<T> log1p(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::log1p;
  return detail::record(where, "log1p", log1p(x.value()), x, T(1) / (T(1) + x.value()));
}

// ---- Powers and roots ----

template <class T>
Var<T> sqrt(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::sqrt;
  const T v = sqrt(x.value());
  return detail::record(where, "sqrt", v, x, T(1) / (2 * v));
}
template <class T>
Var<T> cbrt(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::cbrt;
  const T v = cbrt(x.value());
  return detail::record(where, "cbrt", v, x, T(1) / (3 * v * v));
}

namespace detail {

// d(x^y)/dx = y x^(y-1); 0 at x = 0 and y = 0 (x^0 is constant), where the
// formula would give 0 * inf. Only there: elsewhere at y = 0 the formula's 0
// is needed as it is, because on a Var (second derivatives) its derivative in
// y, x^(y-1), is not 0 and a constant 0 would lose it.
template <class T>
T pow_partial_base(T x, T y) {
  using std::pow;
  return y == T(0) && x == T(0) ? T(0) : y * pow(x, y - T(1));
}
// d(x^y)/dy = x^y log x; 0 where x = 0 and y >= 0 (the limit from the right),
// avoiding 0 * -inf.
template <class T>
T pow_partial_exponent(T x, T y, T x_to_y) {
  using std::log;
  return x == T(0) && y >= T(0) ? T(0) : x_to_y * log(x);
}

}  // namespace detail

template <class T>
Var<T> pow(const Var<T>& x, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::pow;
  const T v = pow(x.value(), y.value());
  return detail::record(where, "pow", v, x, detail::pow_partial_base(x.value(), y.value()), y,
                        detail::pow_partial_exponent(x.value(), y.value(), v));
}
template <class T, detail::Scalar S>
Var<T> pow(const Var<T>& x, S exponent,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::pow;
  const T y = static_cast<T>(exponent);
  return detail::record(where, "pow", pow(x.value(), y), x, detail::pow_partial_base(x.value(), y));
}
template <class T, detail::Scalar S>
Var<T> pow(S base, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::pow;
  const T x = static_cast<T>(base);
  const T v = pow(x, y.value());
  return detail::record(where, "pow", v, y, detail::pow_partial_exponent(x, y.value(), v));
}

namespace detail {

// d hypot(x, y) = (x, y) / hypot(x, y), and 0 at the origin where it has no
// derivative.
template <class T>
T hypot_partial(T own, T h) {
  return h == T(0) ? T(0) : own / h;
}

}  // namespace detail

template <class T>
Var<T> hypot(const Var<T>& x, const Var<T>& y,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::hypot;
  const T h = hypot(x.value(), y.value());
  return detail::record(where, "hypot", h, x, detail::hypot_partial(x.value(), h), y,
                        detail::hypot_partial(y.value(), h));
}
template <class T, detail::Scalar S>
Var<T> hypot(const Var<T>& x, S c,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::hypot;
  const T h = hypot(x.value(), static_cast<T>(c));
  return detail::record(where, "hypot", h, x, detail::hypot_partial(x.value(), h));
}
template <class T, detail::Scalar S>
Var<T> hypot(S c, const Var<T>& y,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::hypot;
  const T h = hypot(static_cast<T>(c), y.value());
  return detail::record(where, "hypot", h, y, detail::hypot_partial(y.value(), h));
}

// ---- Trigonometric functions ----

template <class T>
Var<T> sin(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::cos, std::sin;
  return detail::record(where, "sin", sin(x.value()), x, cos(x.value()));
}
template <class T>
Var<T> cos(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::cos, std::sin;
  return detail::record(where, "cos", cos(x.value()), x, -sin(x.value()));
}
template <class T>
Var<T> tan(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::tan;
  const T v = tan(x.value());
  return detail::record(where, "tan", v, x, T(1) + v * v);
}
// 1 - x^2 is formed as (1 - x)(1 + x): exact factors, no cancellation near |x| = 1.
template <class T>
Var<T> asin(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::asin, std::sqrt;
  const T a = x.value();
  return detail::record(where, "asin", asin(a), x, T(1) / sqrt((T(1) - a) * (T(1) + a)));
}
template <class T>
Var<T> acos(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::acos, std::sqrt;
  const T a = x.value();
  return detail::record(where, "acos", acos(a), x, T(-1) / sqrt((T(1) - a) * (T(1) + a)));
}
template <class T>
Var<T> atan(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::atan;
  const T a = x.value();
  return detail::record(where, "atan", atan(a), x, T(1) / (T(1) + a * a));
}

namespace detail {

// atan2(y, x) has partials (x, -y) / (x^2 + y^2); dividing by hypot twice
// avoids overflow of x^2 + y^2.
template <class T>
ValueAndDerivative<T> atan2_partials(T y, T x) {
  using std::hypot;
  const T h = hypot(x, y);
  return {(x / h) / h, (-y / h) / h};  // {d/dy, d/dx}
}

}  // namespace detail

template <class T>
Var<T> atan2(const Var<T>& y, const Var<T>& x,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::atan2;
  const auto [d_y, d_x] = detail::atan2_partials(y.value(), x.value());
  return detail::record(where, "atan2", atan2(y.value(), x.value()), y, d_y, x, d_x);
}
template <class T, detail::Scalar S>
Var<T> atan2(const Var<T>& y, S x,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::atan2;
  const T c = static_cast<T>(x);
  return detail::record(where, "atan2", atan2(y.value(), c), y,
                        detail::atan2_partials(y.value(), c).value);
}
template <class T, detail::Scalar S>
Var<T> atan2(S y, const Var<T>& x,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::atan2;
  const T c = static_cast<T>(y);
  return detail::record(where, "atan2", atan2(c, x.value()), x,
                        detail::atan2_partials(c, x.value()).derivative);
}

// ---- Hyperbolic functions (tanh is the Tanh activation, below) ----

template <class T>
Var<T> sinh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::cosh, std::sinh;
  return detail::record(where, "sinh", sinh(x.value()), x, cosh(x.value()));
}
template <class T>
Var<T> cosh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::cosh, std::sinh;
  return detail::record(where, "cosh", cosh(x.value()), x, sinh(x.value()));
}
// 1 / sqrt(x^2 + 1) as 1 / hypot(x, 1): no overflow of x^2 for large |x|.
template <class T>
Var<T> asinh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::asinh, std::hypot;
  return detail::record(where, "asinh", asinh(x.value()), x, T(1) / hypot(x.value(), T(1)));
}
template <class T>
Var<T> acosh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::acosh, std::sqrt;
  const T a = x.value();
  return detail::record(where, "acosh", acosh(a), x, T(1) / (sqrt(a - T(1)) * sqrt(a + T(1))));
}
template <class T>
Var<T> atanh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::atanh;
  const T a = x.value();
  return detail::record(where, "atanh", atanh(a), x, T(1) / ((T(1) - a) * (T(1) + a)));
}

// ---- Error functions ----

template <class T>
Var<T> erf(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::erf, std::exp;
  const T a = x.value();
  constexpr auto two_over_sqrtpi = 2 * std::numbers::inv_sqrtpi_v<detail::Innermost<T>>;
  return detail::record(where, "erf", erf(a), x, two_over_sqrtpi * exp(-a * a));
}
template <class T>
Var<T> erfc(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::erfc, std::exp;
  const T a = x.value();
  constexpr auto two_over_sqrtpi = 2 * std::numbers::inv_sqrtpi_v<detail::Innermost<T>>;
  return detail::record(where, "erfc", erfc(a), x, -two_over_sqrtpi * exp(-a * a));
}

// ---- Absolute value, min and max ----

template <class T>
Var<T> abs(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::abs;
  const T a = x.value();
  const T sign = a > T(0) ? T(1) : a < T(0) ? T(-1) : a == T(0) ? T(0) : a;  // NaN stays NaN
  return detail::record(where, "abs", abs(a), x, sign);
}

namespace detail {

// The share of the gradient that goes to the first argument of min(a, b):
// all of it if a is smaller, half on a tie, none otherwise. NaN propagates.
template <class T>
T min_share_of_first(T a, T b) {
  if (a < b) {
    return T(1);
  }
  if (b < a) {
    return T(0);
  }
  return a == b ? T(0.5) : a + b;  // NaN
}

template <class T>
T nan_aware_min(T a, T b) {
  return a < b ? a : b < a ? b : a == b ? a : a + b;  // NaN if either is NaN
}

}  // namespace detail

/// The smaller of x and y (NaN if either is NaN).
template <class T>
Var<T> min(const Var<T>& x, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  const T share = detail::min_share_of_first(x.value(), y.value());
  return detail::record(where, "min", detail::nan_aware_min(x.value(), y.value()), x, share, y,
                        T(1) - share);
}
template <class T, detail::Scalar S>
Var<T> min(const Var<T>& x, S c, detail::SourceLocation where = detail::SourceLocation::current()) {
  const T b = static_cast<T>(c);
  return detail::record(where, "min", detail::nan_aware_min(x.value(), b), x,
                        detail::min_share_of_first(x.value(), b));
}
template <class T, detail::Scalar S>
Var<T> min(S c, const Var<T>& y, detail::SourceLocation where = detail::SourceLocation::current()) {
  return min(y, c, where);
}

/// The larger of x and y (NaN if either is NaN).
template <class T>
Var<T> max(const Var<T>& x, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  const T share = detail::min_share_of_first(y.value(), x.value());
  return detail::record(where, "max", -detail::nan_aware_min(-x.value(), -y.value()), x, share, y,
                        T(1) - share);
}
template <class T, detail::Scalar S>
Var<T> max(const Var<T>& x, S c, detail::SourceLocation where = detail::SourceLocation::current()) {
  const T b = static_cast<T>(c);
  return detail::record(where, "max", -detail::nan_aware_min(-x.value(), -b), x,
                        detail::min_share_of_first(b, x.value()));
}
template <class T, detail::Scalar S>
Var<T> max(S c, const Var<T>& y, detail::SourceLocation where = detail::SourceLocation::current()) {
  return max(y, c, where);
}

// ---- Classification: values only, nothing recorded ----

/// std::isnan, std::isinf and std::isfinite of the value (the innermost
/// one of a Var<Var<T>>), for generic code and Eigen's allFinite() and
/// hasNaN().
template <class T>
bool isnan(const Var<T>& x) noexcept {
  using std::isnan;
  return isnan(x.value());
}
template <class T>
bool isinf(const Var<T>& x) noexcept {
  using std::isinf;
  return isinf(x.value());
}
template <class T>
bool isfinite(const Var<T>& x) noexcept {
  using std::isfinite;
  return isfinite(x.value());
}

// ---- Fused reductions: one tape entry for a whole sum ----

/// sum_i a_i b_i, recorded as ONE tape entry whose operands are the Vars of a
/// (partials b_i) and, if b holds Vars too, of b (partials a_i); a loop of *
/// and + would record two entries per term. b holds Vars or plain numbers.
template <detail::VarRange A, std::ranges::contiguous_range B>
auto dot(const A& a, const B& b, detail::SourceLocation where = detail::SourceLocation::current()) {
  using T = detail::VarRangeValue<A>;
  using BElement = std::remove_cv_t<std::ranges::range_value_t<B>>;
  constexpr bool b_is_var = std::same_as<BElement, Var<T>>;
  static_assert(b_is_var || std::same_as<BElement, T>,
                "tinygrad::dot(a, b): b must hold Var<T> or T, where a holds Var<T>");
  const std::span<const Var<T>> x(a);
  const std::span<const BElement> y(b);
  detail::require_same_size("dot", "a", x.size(), "b", y.size());
  const auto value_of = [](const BElement& e) -> T {
    if constexpr (b_is_var) {
      return e.value();
    } else {
      return e;
    }
  };
  // Summed from the first term, not from +0, so that a sum of -0 terms is -0
  // as IEEE arithmetic gives it (+0 + -0 would be +0); empty: +0.
  T value = x.empty() ? T(0) : x[0].value() * value_of(y[0]);
  for (std::size_t i = 1; i < x.size(); ++i) {
    value += x[i].value() * value_of(y[i]);
  }
  return detail::Recorder<T>::many(where, "dot", value, (b_is_var ? 2 : 1) * x.size(),
                                   [&](auto& operands) {
                                     for (std::size_t i = 0; i < x.size(); ++i) {
                                       operands.add(x[i], value_of(y[i]));
                                       if constexpr (b_is_var) {
                                         operands.add(y[i], x[i].value());
                                       }
                                     }
                                   });
}

/// sum_i a_i as ONE tape entry.
template <detail::VarRange A>
auto sum(const A& a, detail::SourceLocation where = detail::SourceLocation::current()) {
  using T = detail::VarRangeValue<A>;
  const std::span<const Var<T>> x(a);
  T value = x.empty() ? T(0) : x[0].value();  // from the first term, as in dot
  for (std::size_t i = 1; i < x.size(); ++i) {
    value += x[i].value();
  }
  return detail::Recorder<T>::many(
      where, "sum", value, x.size(),
      [&](auto& operands) {
        for (const Var<T>& v : x) {
          operands.add(v, T(1));
        }
      },
      detail::Partials::unit);
}

// ---- Your own differentiable operation ----

/// One operand of a custom operation: a Var and the partial derivative of
/// the operation's result with respect to it.
template <class T>
struct Partial {
  const Var<T>& operand;
  T derivative;
};

/// The result of an operation tinygrad does not have (a special function, a
/// solver, a call into another library): `value`, computed by your code from
/// the operands' values, and the partial derivative with respect to each
/// operand. Records ONE entry; constants among the operands are left out, and
/// an operand given twice gets the sum of its partials. `name` is what
/// annotations and anomaly reports show.
///
/// For second derivatives (T a Var, as hessian() records), give the partials
/// as Vars computed from the operands' values, so that they are functions on
/// the tape below: write the operation generically, as docs/tutorial.md
/// shows, and the nested recording differentiates it again.
template <class T>
Var<T> custom(T value, std::span<const Partial<std::type_identity_t<T>>> partials,
              const char* name = "custom",
              detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::Recorder<T>::many(where, name, value, partials.size(), [&](auto& operands) {
    for (const Partial<T>& p : partials) {
      operands.add(p.operand, p.derivative);
    }
  });
}

/// custom() with the partials listed in place: `custom(v, {{x, dx}, {y, dy}})`.
template <class T>
Var<T> custom(T value, std::initializer_list<Partial<std::type_identity_t<T>>> partials,
              const char* name = "custom",
              detail::SourceLocation where = detail::SourceLocation::current()) {
  return custom(value, std::span<const Partial<T>>(partials.begin(), partials.size()), name, where);
}

// ---- Activations ----

/// Applies the activation policy P to x as ONE tape entry, with the value and
/// derivative computed once, now, by P (see activation.hpp).
///
/// On a Var<Var<R>> (second derivatives) the value is activate<P> one level
/// down, and the derivative a Var<R> recorded from P::derivative with partial
/// P::second_derivative, so that Hessians through activations are exact.
namespace detail {
/// activate<P>, for both kinds of operand: `rvalue` is x if x was a
/// temporary, whose entry the activation may then take over (fusion).
template <class P, class T>
Var<T> activate_operand(const Var<T>& x, SourceLocation where,
                        std::type_identity_t<Var<T>>* rvalue) {
  using R = Innermost<T>;
  static_assert(
      requires(R v) { P::value(v); },
      "tinygrad::activate<P>: the policy P has no static member function value(T); "
      "an activation policy needs static T value(T) and static T derivative(T).");
  static_assert(
      requires(R v) { P::derivative(v); },
      "tinygrad::activate<P>: the policy P has no static member function derivative(T); "
      "an activation policy needs static T value(T) and static T derivative(T).");
  static_assert(ActivationPolicy<P, R>,
                "tinygrad::activate<P>: P::value(T) and P::derivative(T) must both return T.");
  if constexpr (std::floating_point<T>) {
    const auto [value, derivative] = value_and_derivative<P>(x.value());
    return record(where, policy_name<P>(), value, x, derivative, rvalue);
  } else {
    static_assert(std::floating_point<typename T::value_type>,
                  "tinygrad::activate<P>: Vars nested more than two deep (third derivatives) "
                  "are not supported.");
    static_assert(
        requires(R v) {
          { P::second_derivative(v) } -> std::same_as<R>;
        },
        "tinygrad::activate<P> on Var<Var<T>>: the policy P has no static member function "
        "T second_derivative(T), which second derivatives through it need.");
    const T& inner = x.value();
    const T derivative = record(where, policy_name<P>(), P::derivative(inner.value()), inner,
                                P::second_derivative(inner.value()));
    return record(where, policy_name<P>(), activate_operand<P>(inner, where, nullptr), x,
                  derivative);
  }
}
}  // namespace detail

template <class P, class T>
Var<T> activate(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::activate_operand<P>(x, where, nullptr);
}
/// The same on a temporary: the activation may take over its entry (fusion,
/// reference.md), `sigmoid(w * a + b)` then recording one entry.
template <class P, class T>
Var<T> activate(Var<T>&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::activate_operand<P>(x, where, &x);
}

// The activations by name, each for a Var or a temporary Var (which the
// activation may fuse into, as activate<P> does).
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> sigmoid(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<Sigmoid>(std::forward<V>(x), where);
}
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> tanh(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<Tanh>(std::forward<V>(x), where);
}
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> relu(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<ReLU>(std::forward<V>(x), where);
}
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> leaky_relu(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<LeakyReLU>(std::forward<V>(x), where);
}
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> softplus(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<Softplus>(std::forward<V>(x), where);
}
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> silu(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<SiLU>(std::forward<V>(x), where);
}
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> gelu(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<GELU>(std::forward<V>(x), where);
}
template <class V>
requires detail::is_var<std::remove_cvref_t<V>> std::remove_cvref_t<V> elu(
    V&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return activate<ELU>(std::forward<V>(x), where);
}

/// out[i] = activate<P>(in[i]) for every i, recorded on the current tape: the
/// values and derivatives come from one vectorised pass over the batch, then
/// each element becomes one entry, exactly as element-by-element recording
/// would make it (same values, same gradients). out may be in itself.
/// Throws std::invalid_argument if the sizes differ or out partially overlaps
/// in, and tape_error for a Var that cannot be used here (as activate<P>).
template <class P, class T>
TINYGRAD_DETAIL_VECTORIZE_LOOPS void activate(
    std::span<const Var<T>> in, std::span<Var<T>> out,
    detail::SourceLocation where = detail::SourceLocation::current()) {
  static_assert(ActivationPolicy<P, detail::Innermost<T>>,
                "tinygrad::activate<P>: P must be an activation policy with static T value(T) "
                "and static T derivative(T).");
  constexpr const char* name = detail::policy_name<P>();
  detail::require_same_size("activate", "in", in.size(), "out", out.size(), name);
  detail::require_no_partial_overlap("activate", name, "out", "in",
                                     detail::overlap_partially(out.data(), in.data(), in.size()));
  if constexpr (!std::floating_point<T>) {
    for (std::size_t i = 0; i < in.size(); ++i) {  // second order: element by element
      out[i] = activate<P>(in[i], where);
    }
  } else {
    // Reused per thread, so that a batch allocates nothing once warm.
    thread_local std::vector<T> values;
    thread_local std::vector<T> derivatives;
    const std::size_t n = in.size();
    values.resize(n);
    derivatives.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      values[i] = in[i].value();
    }
    T* __restrict value = values.data();
    T* __restrict derivative = derivatives.data();
    for (std::size_t i = 0; i < n; ++i) {
      const auto pair = detail::value_and_derivative<P>(value[i]);
      value[i] = pair.value;
      derivative[i] = pair.derivative;
    }
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = detail::record(where, name, value[i], in[i], derivative[i]);
    }
  }
}

/// activate<P> over any contiguous ranges of Vars (std::vector, std::array,
/// C arrays, spans); `out` writable.
template <class P, detail::VarRange In, class Out>
requires detail::WritableRangeOf<Out, detail::RangeElement<In>>
void activate(const In& in, Out&& out,
              detail::SourceLocation where = detail::SourceLocation::current()) {
  using T = detail::VarRangeValue<In>;
  activate<P, T>(std::span<const Var<T>>(in), std::span<Var<T>>(out), where);
}

}  // namespace tinygrad
