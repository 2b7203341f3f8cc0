// SPDX-License-Identifier: MIT
#pragma once

// Forward mode: Dual<T, N>, a value and N tangents (derivatives along N
// directions), both carried through every operation as it is computed. No
// tape: one evaluation on Duals gives a function's value and its
// directional derivatives, at about twice the cost of evaluating it on T.
//
//   tinygrad::Dual<double> x(2.0, 1.0);  // x = 2, dx/dt = 1
//   auto y = x * sin(x);                 // y.tangent() = sin 2 + 2 cos 2
//
// Every elementary function and activation of math.hpp has a Dual overload
// here, with the same formulas and the same conventions where a derivative
// does not exist (both come from detail/derivatives.hpp). Nesting gives
// higher orders: Dual<Dual<T>> second derivatives, and Var<Dual<T>> (a tape
// whose numbers are Duals) Hessian-vector products, forward over reverse
// (functional.hpp's hvp and hessian).

#include <tinygrad/activation.hpp>
#include <tinygrad/detail/derivatives.hpp>
#include <tinygrad/detail/traits.hpp>

#include <array>
#include <compare>
#include <concepts>
#include <cstddef>
#include <limits>
#include <ostream>
#include <type_traits>

namespace tinygrad {

/// A number that carries its derivatives forward: a value of type T and N
/// tangents, the derivatives of the value along N directions of the inputs.
/// T is float, double, long double, or a Dual of one (higher orders).
///
/// Seed an input with the direction to differentiate along (`Dual<double>
/// x(x0, 1.0)` for d/dx); a plain number converts to a Dual with zero
/// tangents (a constant).
///
/// N >= 1 is a constraint, not an assertion, so that naming Dual<T, 0> (as
/// deducing a call of some other library's `sigmoid<T, false>` against the
/// shorthands below does) is a failed deduction, not an error.
template <class T, std::size_t N = 1>
requires(N >= 1) class Dual {
 public:
  using value_type = T;
  /// How many tangents (directions) each Dual carries.
  static constexpr std::size_t directions = N;

  /// 0, with zero tangents.
  constexpr Dual() = default;
  /// A constant: `value` with zero tangents.
  constexpr Dual(T value)  // NOLINT(google-explicit-constructor): 2.0 * x and Dual<double> c = 1.5
      : value_(value) {}
  /// A constant from any other arithmetic scalar, converted to T.
  template <detail::Scalar S>
  requires(!std::same_as<S, T>) constexpr Dual(S value)  // NOLINT(google-explicit-constructor)
      : value_(static_cast<T>(value)) {}
  /// `value` with one tangent.
  constexpr Dual(T value, T tangent) requires(N == 1) : value_(value), tangents_{tangent} {}
  /// `value` with the given tangents.
  constexpr Dual(T value, const std::array<T, N>& tangents) : value_(value), tangents_(tangents) {}

  [[nodiscard]] constexpr const T& value() const noexcept { return value_; }
  /// The tangent of a Dual with one direction.
  [[nodiscard]] constexpr const T& tangent() const noexcept requires(N == 1) {
    return tangents_[0];
  }
  /// Tangent k (k < N, unchecked).
  [[nodiscard]] constexpr const T& tangent(std::size_t k) const noexcept { return tangents_[k]; }
  [[nodiscard]] constexpr const std::array<T, N>& tangents() const noexcept { return tangents_; }
  /// Tangent k, to seed a direction (k < N, unchecked).
  constexpr T& tangent(std::size_t k) noexcept { return tangents_[k]; }

  // ---- Arithmetic: each tangent is the sum of the operands' tangents times
  // the partials the tape records for the same operation, so a single
  // operation gives the same bits in both modes.

  friend constexpr Dual operator+(const Dual& x) { return x; }
  friend constexpr Dual operator-(const Dual& x) {
    Dual r(-x.value_);
    for (std::size_t k = 0; k < N; ++k) {
      r.tangents_[k] = -x.tangents_[k];
    }
    return r;
  }

  friend constexpr Dual operator+(const Dual& x, const Dual& y) {
    Dual r(x.value_ + y.value_);
    for (std::size_t k = 0; k < N; ++k) {
      r.tangents_[k] = x.tangents_[k] + y.tangents_[k];
    }
    return r;
  }
  friend constexpr Dual operator-(const Dual& x, const Dual& y) {
    Dual r(x.value_ - y.value_);
    for (std::size_t k = 0; k < N; ++k) {
      r.tangents_[k] = x.tangents_[k] - y.tangents_[k];
    }
    return r;
  }
  friend constexpr Dual operator*(const Dual& x, const Dual& y) {
    Dual r(x.value_ * y.value_);
    for (std::size_t k = 0; k < N; ++k) {
      r.tangents_[k] = y.value_ * x.tangents_[k] + x.value_ * y.tangents_[k];
    }
    return r;
  }
  // d(x/y) = dx / y - (x/y) dy / y, with the tape's partials 1/y and -(x/y)/y.
  friend constexpr Dual operator/(const Dual& x, const Dual& y) {
    const T q = x.value_ / y.value_;
    const T d_x = T(1) / y.value_;
    const T d_y = -q / y.value_;
    Dual r(q);
    for (std::size_t k = 0; k < N; ++k) {
      r.tangents_[k] = d_x * x.tangents_[k] + d_y * y.tangents_[k];
    }
    return r;
  }

  // With a plain number: only the Dual's tangents, scaled where it scales.
  template <detail::Scalar S>
  friend constexpr Dual operator+(const Dual& x, S c) {
    return Dual(x.value_ + static_cast<T>(c), x.tangents_);
  }
  template <detail::Scalar S>
  friend constexpr Dual operator+(S c, const Dual& y) {
    return Dual(static_cast<T>(c) + y.value_, y.tangents_);
  }
  template <detail::Scalar S>
  friend constexpr Dual operator-(const Dual& x, S c) {
    return Dual(x.value_ - static_cast<T>(c), x.tangents_);
  }
  template <detail::Scalar S>
  friend constexpr Dual operator-(S c, const Dual& y) {
    Dual r(static_cast<T>(c) - y.value_);
    for (std::size_t k = 0; k < N; ++k) {
      r.tangents_[k] = -y.tangents_[k];
    }
    return r;
  }
  template <detail::Scalar S>
  friend constexpr Dual operator*(const Dual& x, S c) {
    return x.scaled(x.value_ * static_cast<T>(c), static_cast<T>(c));
  }
  template <detail::Scalar S>
  friend constexpr Dual operator*(S c, const Dual& y) {
    return y.scaled(static_cast<T>(c) * y.value_, static_cast<T>(c));
  }
  template <detail::Scalar S>
  friend constexpr Dual operator/(const Dual& x, S c) {
    const T d = static_cast<T>(c);
    return x.scaled(x.value_ / d, T(1) / d);
  }
  template <detail::Scalar S>
  friend constexpr Dual operator/(S c, const Dual& y) {
    const T q = static_cast<T>(c) / y.value_;
    return y.scaled(q, -q / y.value_);
  }

  friend constexpr Dual& operator+=(Dual& x, const Dual& y) { return x = x + y; }
  friend constexpr Dual& operator-=(Dual& x, const Dual& y) { return x = x - y; }
  friend constexpr Dual& operator*=(Dual& x, const Dual& y) { return x = x * y; }
  friend constexpr Dual& operator/=(Dual& x, const Dual& y) { return x = x / y; }
  template <detail::Scalar S>
  friend constexpr Dual& operator+=(Dual& x, S c) {
    return x = x + c;
  }
  template <detail::Scalar S>
  friend constexpr Dual& operator-=(Dual& x, S c) {
    return x = x - c;
  }
  template <detail::Scalar S>
  friend constexpr Dual& operator*=(Dual& x, S c) {
    return x = x * c;
  }
  template <detail::Scalar S>
  friend constexpr Dual& operator/=(Dual& x, S c) {
    return x = x / c;
  }

  // ---- Comparisons look at values only, as a Var's do.
  friend constexpr bool operator==(const Dual& x, const Dual& y) { return x.value_ == y.value_; }
  friend constexpr auto operator<=>(const Dual& x, const Dual& y) { return x.value_ <=> y.value_; }
  template <detail::Scalar S>
  friend constexpr bool operator==(const Dual& x, S c) {
    return x.value_ == static_cast<T>(c);
  }
  template <detail::Scalar S>
  friend constexpr auto operator<=>(const Dual& x, S c) {
    return x.value_ <=> static_cast<T>(c);
  }

  /// Prints the value, as a Var prints its value (tangents() has the rest).
  friend std::ostream& operator<<(std::ostream& out, const Dual& x) { return out << x.value_; }

 private:
  /// `value` with this Dual's tangents times `factor`.
  [[nodiscard]] constexpr Dual scaled(const T& value, const T& factor) const {
    Dual r(value);
    for (std::size_t k = 0; k < N; ++k) {
      r.tangents_[k] = factor * tangents_[k];
    }
    return r;
  }

  T value_{};
  std::array<T, N> tangents_{};
};

namespace detail {

template <class T, std::size_t N>
inline constexpr bool is_dual<Dual<T, N>> = true;

template <class T, std::size_t N>
struct innermost<Dual<T, N>> : innermost<T> {};

/// f(x) as a Dual, from f's value and derivative at x's value: the chain
/// rule, tangent by tangent.
template <class T, std::size_t N>
constexpr Dual<T, N> chain(const ValueAndDerivative<T>& f, const Dual<T, N>& x) {
  std::array<T, N> tangents{};
  for (std::size_t k = 0; k < N; ++k) {
    tangents[k] = f.derivative * x.tangent(k);
  }
  return Dual<T, N>(f.value, tangents);
}

/// f(x, y) as a Dual, from f's value and partials at the operands' values.
template <class T, std::size_t N>
constexpr Dual<T, N> chain(const derivatives::ValueAndPartials<T>& f, const Dual<T, N>& x,
                           const Dual<T, N>& y) {
  std::array<T, N> tangents{};
  for (std::size_t k = 0; k < N; ++k) {
    tangents[k] = f.first * x.tangent(k) + f.second * y.tangent(k);
  }
  return Dual<T, N>(f.value, tangents);
}

}  // namespace detail

// ---- One argument ----

template <class T, std::size_t N>
Dual<T, N> exp(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::exp(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> exp2(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::exp2(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> expm1(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::expm1(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> log(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::log(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> log2(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::log2(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> log10(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::log10(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> log1p(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::log1p(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> sqrt(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::sqrt(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> cbrt(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::cbrt(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> sin(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::sin(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> cos(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::cos(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> tan(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::tan(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> asin(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::asin(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> acos(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::acos(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> atan(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::atan(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> sinh(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::sinh(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> cosh(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::cosh(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> asinh(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::asinh(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> acosh(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::acosh(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> atanh(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::atanh(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> erf(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::erf(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> erfc(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::erfc(x.value()), x);
}
template <class T, std::size_t N>
Dual<T, N> abs(const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::abs(x.value()), x);
}

// ---- Two arguments. With a plain number for one of them, only the other's
// partial is computed, as on the tape.

template <class T, std::size_t N>
Dual<T, N> pow(const Dual<T, N>& x, const Dual<T, N>& y) {
  return detail::chain(detail::derivatives::pow(x.value(), y.value()), x, y);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> pow(const Dual<T, N>& x, S exponent) {
  using std::pow;
  const T y = static_cast<T>(exponent);
  return detail::chain(
      ValueAndDerivative<T>{pow(x.value(), y), detail::derivatives::pow_partial_base(x.value(), y)},
      x);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> pow(S base, const Dual<T, N>& y) {
  using std::pow;
  const T x = static_cast<T>(base);
  const T v = pow(x, y.value());
  return detail::chain(
      ValueAndDerivative<T>{v, detail::derivatives::pow_partial_exponent(x, y.value(), v)}, y);
}

template <class T, std::size_t N>
Dual<T, N> hypot(const Dual<T, N>& x, const Dual<T, N>& y) {
  return detail::chain(detail::derivatives::hypot(x.value(), y.value()), x, y);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> hypot(const Dual<T, N>& x, S c) {
  using std::hypot;
  const T h = hypot(x.value(), static_cast<T>(c));
  return detail::chain(ValueAndDerivative<T>{h, detail::derivatives::hypot_partial(x.value(), h)},
                       x);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> hypot(S c, const Dual<T, N>& y) {
  using std::hypot;
  const T h = hypot(static_cast<T>(c), y.value());
  return detail::chain(ValueAndDerivative<T>{h, detail::derivatives::hypot_partial(y.value(), h)},
                       y);
}

template <class T, std::size_t N>
Dual<T, N> atan2(const Dual<T, N>& y, const Dual<T, N>& x) {
  return detail::chain(detail::derivatives::atan2(y.value(), x.value()), y, x);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> atan2(const Dual<T, N>& y, S x) {
  const auto f = detail::derivatives::atan2(y.value(), static_cast<T>(x));
  return detail::chain(ValueAndDerivative<T>{f.value, f.first}, y);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> atan2(S y, const Dual<T, N>& x) {
  const auto f = detail::derivatives::atan2(static_cast<T>(y), x.value());
  return detail::chain(ValueAndDerivative<T>{f.value, f.second}, x);
}

/// The smaller of x and y (NaN if either is NaN); on a tie each gets half.
template <class T, std::size_t N>
Dual<T, N> min(const Dual<T, N>& x, const Dual<T, N>& y) {
  return detail::chain(detail::derivatives::min(x.value(), y.value()), x, y);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> min(const Dual<T, N>& x, S c) {
  const T b = static_cast<T>(c);
  return detail::chain(ValueAndDerivative<T>{detail::derivatives::nan_aware_min(x.value(), b),
                                             detail::derivatives::min_share_of_first(x.value(), b)},
                       x);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> min(S c, const Dual<T, N>& y) {
  return min(y, c);
}

/// The larger of x and y (NaN if either is NaN); on a tie each gets half.
template <class T, std::size_t N>
Dual<T, N> max(const Dual<T, N>& x, const Dual<T, N>& y) {
  return detail::chain(detail::derivatives::max(x.value(), y.value()), x, y);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> max(const Dual<T, N>& x, S c) {
  const T b = static_cast<T>(c);
  return detail::chain(ValueAndDerivative<T>{-detail::derivatives::nan_aware_min(-x.value(), -b),
                                             detail::derivatives::min_share_of_first(b, x.value())},
                       x);
}
template <class T, std::size_t N, detail::Scalar S>
Dual<T, N> max(S c, const Dual<T, N>& y) {
  return max(y, c);
}

// ---- Your own operation ----

/// The result of an operation tinygrad does not have, on Duals: `value`,
/// computed by your code from x's value, and dx, the derivative with respect
/// to x. The same call as math.hpp's custom(value, x, dx) on a Var, so that
/// one generic function serves both modes; `name` is for that symmetry.
template <class T, std::size_t N>
Dual<T, N> custom(const T& value, const Dual<T, N>& x, const std::type_identity_t<T>& dx,
                  [[maybe_unused]] const char* name = "custom") {
  return detail::chain(ValueAndDerivative<T>{value, dx}, x);
}

/// The same, of two operands: custom(value, x, dx, y, dy).
template <class T, std::size_t N>
Dual<T, N> custom(const T& value, const Dual<T, N>& x, const std::type_identity_t<T>& dx,
                  const Dual<T, N>& y, const std::type_identity_t<T>& dy,
                  [[maybe_unused]] const char* name = "custom") {
  return detail::chain(detail::derivatives::ValueAndPartials<T>{value, dx, dy}, x, y);
}

// ---- Classification of the value (the innermost one of a nest) ----

template <class T, std::size_t N>
bool isnan(const Dual<T, N>& x) noexcept {
  using std::isnan;
  return isnan(x.value());
}
template <class T, std::size_t N>
bool isinf(const Dual<T, N>& x) noexcept {
  using std::isinf;
  return isinf(x.value());
}
template <class T, std::size_t N>
bool isfinite(const Dual<T, N>& x) noexcept {
  using std::isfinite;
  return isfinite(x.value());
}

// ---- Activations ----

namespace detail {

/// The activation P's value and derivative at x, as numbers of x's type:
/// for a float, P's own; for a Dual, the value is P applied to the Dual and
/// the derivative's tangents come from P::second_derivative. Used by
/// activate<P> on a Dual, and on a Var<Dual> (math.hpp).
template <class P, class T>
TINYGRAD_DETAIL_HOT_INLINE inline ValueAndDerivative<T> activation_at(const T& x) {
  if constexpr (std::floating_point<T>) {
    return value_and_derivative_of_one<P>(x);
  } else {
    static_assert(is_dual<T> && std::floating_point<typename T::value_type>,
                  "tinygrad::activate<P>: Duals nested more than two deep (third derivatives) "
                  "are not supported.");
    using R = typename T::value_type;
    static_assert(
        requires(R v) {
          { P::second_derivative(v) } -> std::same_as<R>;
        },
        "tinygrad::activate<P> on a Dual<Dual<T>> or Var<Dual<T>>: the policy P has no static "
        "member function T second_derivative(T), which second derivatives through it need.");
    const R v = x.value();
    return {chain(value_and_derivative_of_one<P>(v), x),
            chain(ValueAndDerivative<R>{P::derivative(v), P::second_derivative(v)}, x)};
  }
}

}  // namespace detail

/// Applies the activation policy P (activation.hpp) to x: the value from
/// P::value, the tangents from P::derivative (and, on a Dual<Dual<T>>,
/// P::second_derivative).
template <class P, class T, std::size_t N>
Dual<T, N> activate(const Dual<T, N>& x) {
  static_assert(ActivationPolicy<P, detail::Innermost<T>>,
                "tinygrad::activate<P>: P must be an activation policy with static T value(T) "
                "and static T derivative(T).");
  return detail::chain(detail::activation_at<P>(x.value()), x);
}

// The shorthands below take one template parameter, as math.hpp's do, so
// that a call with explicit template arguments meant for some other
// library's function of the same name cannot pick them.
template <class D>
requires detail::is_dual<D> D sigmoid(const D& x) {
  return activate<Sigmoid>(x);
}
template <class D>
requires detail::is_dual<D> D tanh(const D& x) {
  return activate<Tanh>(x);
}
template <class D>
requires detail::is_dual<D> D relu(const D& x) {
  return activate<ReLU>(x);
}
template <class D>
requires detail::is_dual<D> D leaky_relu(const D& x) {
  return activate<LeakyReLU>(x);
}
template <class D>
requires detail::is_dual<D> D softplus(const D& x) {
  return activate<Softplus>(x);
}
template <class D>
requires detail::is_dual<D> D silu(const D& x) {
  return activate<SiLU>(x);
}
template <class D>
requires detail::is_dual<D> D gelu(const D& x) {
  return activate<GELU>(x);
}
template <class D>
requires detail::is_dual<D> D elu(const D& x) {
  return activate<ELU>(x);
}

}  // namespace tinygrad

/// T's limits, for generic code that asks a Dual for them; the values are
/// constants (zero tangents).
template <class T, std::size_t N>
class std::numeric_limits<tinygrad::Dual<T, N>> : public std::numeric_limits<T> {
  using Limits = std::numeric_limits<T>;
  using D = tinygrad::Dual<T, N>;

 public:
  static constexpr D min() noexcept { return D(Limits::min()); }
  static constexpr D max() noexcept { return D(Limits::max()); }
  static constexpr D lowest() noexcept { return D(Limits::lowest()); }
  static constexpr D epsilon() noexcept { return D(Limits::epsilon()); }
  static constexpr D round_error() noexcept { return D(Limits::round_error()); }
  static constexpr D infinity() noexcept { return D(Limits::infinity()); }
  static constexpr D quiet_NaN() noexcept { return D(Limits::quiet_NaN()); }
  static constexpr D signaling_NaN() noexcept { return D(Limits::signaling_NaN()); }
  static constexpr D denorm_min() noexcept { return D(Limits::denorm_min()); }
};
