// SPDX-License-Identifier: MIT
#pragma once

// Elementary functions and activations of Var<T>. Each computes its value and
// local partial derivatives on plain T and records one tape entry. They live
// in namespace tinygrad, so unqualified calls find them by ADL.
//
// The formulas, and the conventions where a derivative does not exist
// (PyTorch's), are in detail/derivatives.hpp, which forward mode (dual.hpp)
// shares. On a Var<Var<double>> (second derivatives) the value is a
// Var<double>, and the formulas call these very functions, one level down.

#include <tinygrad/activation.hpp>
#include <tinygrad/activation_kernels.hpp>
#include <tinygrad/detail/config.hpp>
#include <tinygrad/detail/derivatives.hpp>
#include <tinygrad/detail/record.hpp>
#include <tinygrad/dual.hpp>
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

// ---- Exponentials, logarithms, roots, trigonometric, hyperbolic and error
// functions: one argument, formulas in detail/derivatives.hpp ----

namespace detail {

/// Records f(x), whose value and derivative `f` has computed.
template <class T>
Var<T> record_unary(SourceLocation where, const char* operation, const ValueAndDerivative<T>& f,
                    const Var<T>& x) {
  return record(where, operation, f.value, x, f.derivative);
}

}  // namespace detail

template <class T>
Var<T> exp(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "exp", detail::derivatives::exp(x.value()), x);
}
template <class T>
Var<T> exp2(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "exp2", detail::derivatives::exp2(x.value()), x);
}
template <class T>
Var<T> expm1(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "expm1", detail::derivatives::expm1(x.value()), x);
}
template <class T>
Var<T> log(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "log", detail::derivatives::log(x.value()), x);
}
template <class T>
Var<T> log2(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "log2", detail::derivatives::log2(x.value()), x);
}
template <class T>
Var<T> log10(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "log10", detail::derivatives::log10(x.value()), x);
}
template <class T>
Var<T> log1p(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "log1p", detail::derivatives::log1p(x.value()), x);
}
template <class T>
Var<T> sqrt(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "sqrt", detail::derivatives::sqrt(x.value()), x);
}
template <class T>
Var<T> cbrt(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "cbrt", detail::derivatives::cbrt(x.value()), x);
}
template <class T>
Var<T> sin(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "sin", detail::derivatives::sin(x.value()), x);
}
template <class T>
Var<T> cos(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "cos", detail::derivatives::cos(x.value()), x);
}
template <class T>
Var<T> tan(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "tan", detail::derivatives::tan(x.value()), x);
}
template <class T>
Var<T> asin(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "asin", detail::derivatives::asin(x.value()), x);
}
template <class T>
Var<T> acos(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "acos", detail::derivatives::acos(x.value()), x);
}
template <class T>
Var<T> atan(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "atan", detail::derivatives::atan(x.value()), x);
}
template <class T>
Var<T> sinh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "sinh", detail::derivatives::sinh(x.value()), x);
}
template <class T>
Var<T> cosh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "cosh", detail::derivatives::cosh(x.value()), x);
}
template <class T>
Var<T> asinh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "asinh", detail::derivatives::asinh(x.value()), x);
}
template <class T>
Var<T> acosh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "acosh", detail::derivatives::acosh(x.value()), x);
}
template <class T>
Var<T> atanh(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "atanh", detail::derivatives::atanh(x.value()), x);
}
template <class T>
Var<T> erf(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "erf", detail::derivatives::erf(x.value()), x);
}
template <class T>
Var<T> erfc(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "erfc", detail::derivatives::erfc(x.value()), x);
}
template <class T>
Var<T> abs(const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_unary(where, "abs", detail::derivatives::abs(x.value()), x);
}

// ---- Two arguments: pow, hypot, atan2, min, max ----
//
// With a plain number for one argument, only the other's partial is
// computed: on a Var<Var<T>> each partial is a recording of its own.

namespace detail {

/// Records f(x, y), whose value and partials `f` has computed.
template <class T>
Var<T> record_binary(SourceLocation where, const char* operation,
                     const derivatives::ValueAndPartials<T>& f, const Var<T>& x, const Var<T>& y) {
  return record(where, operation, f.value, x, f.first, y, f.second);
}

}  // namespace detail

template <class T>
Var<T> pow(const Var<T>& x, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_binary(where, "pow", detail::derivatives::pow(x.value(), y.value()), x, y);
}
template <class T, detail::Scalar S>
Var<T> pow(const Var<T>& x, S exponent,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::pow;
  const T y = static_cast<T>(exponent);
  return detail::record(where, "pow", pow(x.value(), y), x,
                        detail::derivatives::pow_partial_base(x.value(), y));
}
template <class T, detail::Scalar S>
Var<T> pow(S base, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::pow;
  const T x = static_cast<T>(base);
  const T v = pow(x, y.value());
  return detail::record(where, "pow", v, y,
                        detail::derivatives::pow_partial_exponent(x, y.value(), v));
}

template <class T>
Var<T> hypot(const Var<T>& x, const Var<T>& y,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_binary(where, "hypot", detail::derivatives::hypot(x.value(), y.value()), x,
                               y);
}
template <class T, detail::Scalar S>
Var<T> hypot(const Var<T>& x, S c,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::hypot;
  const T h = hypot(x.value(), static_cast<T>(c));
  return detail::record(where, "hypot", h, x, detail::derivatives::hypot_partial(x.value(), h));
}
template <class T, detail::Scalar S>
Var<T> hypot(S c, const Var<T>& y,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  using std::hypot;
  const T h = hypot(static_cast<T>(c), y.value());
  return detail::record(where, "hypot", h, y, detail::derivatives::hypot_partial(y.value(), h));
}

template <class T>
Var<T> atan2(const Var<T>& y, const Var<T>& x,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_binary(where, "atan2", detail::derivatives::atan2(y.value(), x.value()), y,
                               x);
}
template <class T, detail::Scalar S>
Var<T> atan2(const Var<T>& y, S x,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  const auto f = detail::derivatives::atan2(y.value(), static_cast<T>(x));
  return detail::record(where, "atan2", f.value, y, f.first);
}
template <class T, detail::Scalar S>
Var<T> atan2(S y, const Var<T>& x,
             detail::SourceLocation where = detail::SourceLocation::current()) {
  const auto f = detail::derivatives::atan2(static_cast<T>(y), x.value());
  return detail::record(where, "atan2", f.value, x, f.second);
}

/// The smaller of x and y (NaN if either is NaN).
template <class T>
Var<T> min(const Var<T>& x, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_binary(where, "min", detail::derivatives::min(x.value(), y.value()), x, y);
}
template <class T, detail::Scalar S>
Var<T> min(const Var<T>& x, S c, detail::SourceLocation where = detail::SourceLocation::current()) {
  const T b = static_cast<T>(c);
  return detail::record(where, "min", detail::derivatives::nan_aware_min(x.value(), b), x,
                        detail::derivatives::min_share_of_first(x.value(), b));
}
template <class T, detail::Scalar S>
Var<T> min(S c, const Var<T>& y, detail::SourceLocation where = detail::SourceLocation::current()) {
  return min(y, c, where);
}

/// The larger of x and y (NaN if either is NaN).
template <class T>
Var<T> max(const Var<T>& x, const Var<T>& y,
           detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::record_binary(where, "max", detail::derivatives::max(x.value(), y.value()), x, y);
}
template <class T, detail::Scalar S>
Var<T> max(const Var<T>& x, S c, detail::SourceLocation where = detail::SourceLocation::current()) {
  const T b = static_cast<T>(c);
  return detail::record(where, "max", -detail::derivatives::nan_aware_min(-x.value(), -b), x,
                        detail::derivatives::min_share_of_first(b, x.value()));
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
/// For second derivatives (T a Var or a Dual, as hessian() records), give
/// the partials as numbers of type T computed from the operands' values, so
/// that they carry derivatives themselves: write the operation generically,
/// with the forms below that take Duals too, as docs/tutorial.md shows.
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

/// custom() of one operand, in the form that also takes a Dual (dual.hpp):
/// `custom(v, x, dx)`. Generic code written with it serves reverse mode,
/// forward mode, and hessian() and hvp(), which evaluate on Var<Dual<T>>.
template <class T>
Var<T> custom(T value, const Var<T>& x, std::type_identity_t<T> dx, const char* name = "custom",
              detail::SourceLocation where = detail::SourceLocation::current()) {
  return custom(value, {{x, dx}}, name, where);
}

/// custom() of two operands, in the form that also takes Duals:
/// `custom(v, x, dx, y, dy)`.
template <class T>
Var<T> custom(T value, const Var<T>& x, std::type_identity_t<T> dx, const Var<T>& y,
              std::type_identity_t<T> dy, const char* name = "custom",
              detail::SourceLocation where = detail::SourceLocation::current()) {
  return custom(value, {{x, dx}, {y, dy}}, name, where);
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
TINYGRAD_DETAIL_HOT_INLINE inline Var<T> activate_operand(const Var<T>& x, SourceLocation where,
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
  if constexpr (std::floating_point<T> || is_dual<T>) {
    // On a Var<Dual<R>> (forward over reverse) the value and the derivative
    // are Duals: dual.hpp.
    const auto [value, derivative] = activation_at<P>(x.value());
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
TINYGRAD_DETAIL_HOT_INLINE inline Var<T> activate(
    const Var<T>& x, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::activate_operand<P>(x, where, nullptr);
}
/// The same on a temporary: the activation may take over its entry (fusion,
/// reference.md), `sigmoid(w * a + b)` then recording one entry.
template <class P, class T>
TINYGRAD_DETAIL_HOT_INLINE inline Var<T> activate(
    Var<T>&& x, detail::SourceLocation where = detail::SourceLocation::current()) {
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
