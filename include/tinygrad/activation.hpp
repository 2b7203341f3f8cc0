// SPDX-License-Identifier: MIT
#pragma once

// Activation functions as policies: plain classes whose static member
// function templates compute the function and its derivative on plain
// floating-point values. activate<Policy>(Var) (math.hpp) records one tape
// entry from them; the batched kernels use the same formulas.
//
// For float and double the functions with an exponential in them come from
// detail/vector_math.hpp, written so that a loop over them vectorises: the
// batched kernels (activation_kernels.hpp) are those loops, so the tape and
// the kernels share one formula and give the same bits.
//
// long double has no formula in vector_math.hpp: its formulas are polynomial
// fits whose coefficients are for float's and double's precision, and long
// double would need fits of its own for each of its formats (64-bit mantissa
// on x86, 113 bits elsewhere) with no loop to vectorise in return. So each
// policy computes long double from the std:: functions, in the same algebraic
// form as the vector formula (the same tails, the same cancellation-free
// derivatives); tests/long_double_test.cpp measures it against 113-bit
// references.
//
// Every formula here is written to stay accurate for every finite input, with
// the right limit at +-infinity and NaN in giving NaN out. Conventions at kinks
// follow PyTorch: relu'(0) = 0, leaky_relu'(0) = 0.01, elu'(0) = 1.

#include <tinygrad/detail/vector_math.hpp>

#include <cmath>
#include <concepts>
#include <limits>
#include <numbers>
#include <type_traits>

namespace tinygrad {

/// How a layer feeding an activation initialises its weights (nn.hpp):
/// Xavier/Glorot keeps the variance of activations and gradients balanced for
/// sigmoid- and tanh-like functions, He/Kaiming for the ReLU family.
enum class Initialization { xavier, he };

/// A function value and its derivative at the same point.
template <class T>
struct ValueAndDerivative {
  T value;
  T derivative;
};

/// What tinygrad needs from an activation policy P on values of type T:
/// `P::value(x)` and `P::derivative(x)`, both taking and returning T.
/// A policy may also provide `P::value_and_derivative(x)` returning
/// ValueAndDerivative<T> when the two share work; recording then uses it. And
/// `P::backward(x, y, dy)`, dy times the derivative at x given y = value(x),
/// where reading y is cheaper; the backward kernel then uses it.
/// Second derivatives through a policy (hessian, hvp, Var<Var<T>>) need
/// `P::second_derivative(x)` as well; every built-in policy has it.
/// Layers read `P::initialization` and `P::gain` (the factor by which the
/// activation scales the variance's square root: 5/3 for tanh, sqrt 2 for the
/// ReLU family, sqrt(2 / (1 + 0.01^2)) for LeakyReLU); a policy without them
/// gets Xavier with gain 1. They are the policy's because they follow from
/// the function itself (its slope and how it scales a variance), so a user's
/// policy states them beside its formula, and nn.hpp needs no table of
/// policies.
template <class P, class T>
concept ActivationPolicy = std::floating_point<T> && requires(T x) {
  { P::value(x) } -> std::same_as<T>;
  { P::derivative(x) } -> std::same_as<T>;
};

namespace detail {

/// sigmoid(x) and sigmoid(-x) = 1 - sigmoid(x), both to full relative
/// precision, from one exp. exp(-|x|) lies in [0, 1], so it never overflows,
/// and the small one of the pair underflows gradually for large |x| instead of
/// being computed as 1 - (something close to 1).
template <std::floating_point T>
struct LogisticPair {
  T of_x;
  T of_minus_x;
};

template <Lanes lanes = Lanes::many, std::floating_point T>
TINYGRAD_DETAIL_INLINE inline LogisticPair<T> logistic_pair(T x) noexcept {
  if constexpr (VectorReal<T>) {
    // sigmoid(-|x|) <= 1/2 carries the precision; 1 minus it is >= 1/2 and
    // loses nothing.
    const T small = logistic_of_minus_magnitude_split<lanes>(x).value();
    const T large = T(1) - small;
    const bool nonnegative = x >= T(0);
    if constexpr (lanes == Lanes::one) {
      return nonnegative ? LogisticPair<T>{large, small} : LogisticPair<T>{small, large};
    } else {
      return {blend(nonnegative, large, small), blend(nonnegative, small, large)};
    }
  } else {
    const T e = std::exp(-std::abs(x));
    const T large = T(1) / (T(1) + e);  // sigmoid(|x|)
    const T small = e * large;          // sigmoid(-|x|)
    if (x >= T(0)) {
      return {large, small};
    }
    return {small, large};  // also taken by NaN, where both are NaN
  }
}

/// Sigmoid's value and derivative from its pair: s(x) and s(x) s(-x),
/// which is accurate in both tails, unlike s (1 - s).
template <std::floating_point T>
TINYGRAD_DETAIL_INLINE inline ValueAndDerivative<T> sigmoid_from(LogisticPair<T> s) noexcept {
  return {s.of_x, s.of_x * s.of_minus_x};
}

/// The derivative of a piecewise-linear function: `slope_above` for x > 0,
/// `slope_at_or_below` for x <= 0 (so the kink belongs to the left piece), NaN
/// for NaN.
template <std::floating_point T>
TINYGRAD_DETAIL_INLINE inline T piecewise_slope(T x, T slope_at_or_below, T slope_above) noexcept {
  return select(x > T(0), slope_above, select(x <= T(0), slope_at_or_below, x));
}

/// A floating-point type with a wider exponent range than T (T itself if
/// there is none: long double, or double where long double is double).
template <class T>
struct wider_exponent {
  using type = T;
};
template <>
struct wider_exponent<float> {
  using type = double;
};
template <>
struct wider_exponent<double> {
  using type = std::conditional_t<(std::numeric_limits<long double>::max_exponent >
                                   std::numeric_limits<double>::max_exponent),
                                  long double, double>;
};
template <class T>
using WiderExponent = typename wider_exponent<T>::type;

/// Whether y lies where exp(y) is, or nearly is, below the normal range of T.
/// There a product such as x * sigmoid(x) can be a normal number although a
/// factor is subnormal, with fewer significant bits than the result needs; the
/// policies then compute in WiderExponent<T> and round once.
template <std::floating_point T>
constexpr bool exp_near_underflow(T y) noexcept {
  if constexpr (std::is_same_v<WiderExponent<T>, T>) {
    return false;
  } else {
    constexpr T log_of_min_normal =
        T(std::numeric_limits<T>::min_exponent - 1) * std::numbers::ln2_v<T>;
    return y < log_of_min_normal + T(8);
  }
}

/// P's name for tape annotations: P::name if it has one.
template <class P>
constexpr const char* policy_name() {
  if constexpr (requires {
                  { P::name } -> std::convertible_to<const char*>;
                }) {
    return P::name;
  } else {
    return "activation";
  }
}

/// value(x) and derivative(x) of P, computed together when P can share work.
template <class P, std::floating_point T>
TINYGRAD_DETAIL_INLINE inline ValueAndDerivative<T> value_and_derivative(T x) noexcept {
  if constexpr (requires {
                  { P::value_and_derivative(x) } -> std::same_as<ValueAndDerivative<T>>;
                }) {
    return P::value_and_derivative(x);
  } else {
    return {P::value(x), P::derivative(x)};
  }
}

}  // namespace detail

/// The logistic function 1 / (1 + e^-x).
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  static constexpr Initialization initialization = Initialization::xavier;
  static constexpr double gain = 1.0;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      return detail::logistic(x);
    } else {
      return detail::logistic_pair(x).of_x;
    }
  }
  /// sigmoid(x) * sigmoid(-x): accurate in both tails, unlike s * (1 - s).
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    return value_and_derivative(x).derivative;
  }
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static ValueAndDerivative<T> value_and_derivative(T x) noexcept {
    return detail::sigmoid_from(detail::logistic_pair(x));  // value(x), bit for bit
  }
  /// For the backward kernel: s' = y (1 - y), no exponential. Less accurate
  /// than derivative(x) where y rounds to 1 (see tinygrad::backward).
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T backward(T /*x*/, T y, T dy) noexcept {
    return dy * (y * (T(1) - y));
  }
  /// s'(x) (1 - 2 s(x)), with 1 - 2 s = s(-x) - s(x) free of cancellation.
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    const auto s = detail::logistic_pair(x);
    return s.of_x * s.of_minus_x * (s.of_minus_x - s.of_x);
  }
};

namespace detail {

/// value_and_derivative<P> for one number at a time, as an activation on the
/// tape or on a Dual computes it: the same bits. value_and_derivative<P>
/// serves the loops over many numbers (math.hpp's activate over a range),
/// which vectorise it; here Sigmoid's pair is put in order by `?:`
/// (Lanes::one), which for one number costs fewer instructions.
///
/// Sigmoid's is a call, not inlined: activate<P> is forced inline into the
/// code that records, and with some sixty instructions of the formula in it
/// g++ would no longer inline the user's own small wrappers around
/// activate<Sigmoid>, whose calls then cost more than this one does.
template <std::floating_point T>
[[gnu::noinline]] ValueAndDerivative<T> sigmoid_of_one(T x) noexcept {
  return sigmoid_from(logistic_pair<Lanes::one>(x));
}

template <class P, std::floating_point T>
TINYGRAD_DETAIL_INLINE inline ValueAndDerivative<T> value_and_derivative_of_one(T x) noexcept {
  if constexpr (std::same_as<P, Sigmoid>) {
    return sigmoid_of_one(x);
  } else {
    return value_and_derivative<P>(x);
  }
}

}  // namespace detail

/// The hyperbolic tangent.
struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr Initialization initialization = Initialization::xavier;
  static constexpr double gain = 5.0 / 3.0;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      return detail::hyperbolic_tangent(x);
    } else {
      return std::tanh(x);
    }
  }
  /// 1 - tanh^2 = 4q / (1 + q)^2 with q = e^(-2|x|). The usual 1 - t^2 loses
  /// every digit once t rounds to 1 (|x| > 19 in double); this form does not.
  template <std::floating_point T>
  static T derivative(T x) noexcept {
    if (detail::exp_near_underflow(T(-2) * std::abs(x))) {
      return static_cast<T>(derivative(static_cast<detail::WiderExponent<T>>(x)));
    }
    const T q = std::exp(T(-2) * std::abs(x));
    const T one_plus_q = T(1) + q;
    return T(4) * q / (one_plus_q * one_plus_q);
  }
  /// For the backward kernel: 1 - y^2 = (1 - y)(1 + y), no exponential.
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T backward(T /*x*/, T y, T dy) noexcept {
    return dy * ((T(1) - y) * (T(1) + y));
  }
  /// -2 tanh(x) (1 - tanh^2(x)).
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    return T(-2) * value(x) * derivative(x);
  }
};

/// max(0, x).
struct ReLU {
  static constexpr const char* name = "relu";
  static constexpr Initialization initialization = Initialization::he;
  static constexpr double gain = 1.4142135623730951;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    return detail::select(x <= T(0), T(0), x);  // NaN falls through to x
  }
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    return detail::piecewise_slope(x, T(0), T(1));
  }
  /// 0 wherever the derivative exists (NaN stays NaN).
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    return detail::select(x == x, T(0), x);  // NaN in, NaN out
  }
};

/// x for x > 0, 0.01 x otherwise.
struct LeakyReLU {
  static constexpr const char* name = "leaky_relu";
  static constexpr Initialization initialization = Initialization::he;
  static constexpr double gain = 1.4141428569978354;

  /// In long double, so that each type rounds 0.01 once (a double's 0.01 is
  /// 190 ulp away from a long double's).
  static constexpr long double negative_slope = 0.01L;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    return detail::select(x > T(0), x, static_cast<T>(negative_slope) * x);
  }
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    return detail::piecewise_slope(x, static_cast<T>(negative_slope), T(1));
  }
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    return ReLU::second_derivative(x);
  }
};

/// log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|): no overflow for large
/// x (softplus(1000) is exactly 1000) and full precision for very negative x.
struct Softplus {
  static constexpr const char* name = "softplus";
  static constexpr Initialization initialization = Initialization::he;
  static constexpr double gain = 1.4142135623730951;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      return detail::softplus(x);
    } else {
      return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-std::abs(x)));
    }
  }
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    return Sigmoid::value(x);
  }
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    return Sigmoid::derivative(x);
  }
};

/// x * sigmoid(x), also called swish.
struct SiLU {
  static constexpr const char* name = "silu";
  static constexpr Initialization initialization = Initialization::he;
  static constexpr double gain = 1.4142135623730951;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      return detail::silu(x);  // x is applied before sigmoid's power of two
    } else {
      return value_and_derivative(x).value;
    }
  }
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    return value_and_derivative(x).derivative;
  }
  /// derivative = s + x s (1 - s) = s (1 + x sigmoid(-x)), with s = sigmoid(x).
  /// float and double: detail/vector_math.hpp, accurate into the tails by
  /// scaling last; long double by the formula directly.
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static ValueAndDerivative<T> value_and_derivative(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      return {detail::silu(x), detail::silu_derivative(x)};
    } else {
      if (std::isinf(x)) {  // limits; the formulas would give inf * 0
        return x > 0 ? ValueAndDerivative<T>{x, T(1)} : ValueAndDerivative<T>{T(-0.0), T(0)};
      }
      const auto s = detail::logistic_pair(x);
      return {x * s.of_x, s.of_x * (T(1) + x * s.of_minus_x)};
    }
  }
  /// s'(x) (2 + x (1 - 2 s(x))), with s' = s(x) s(-x).
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    if (std::isinf(x)) {
      return T(0);
    }
    const auto s = detail::logistic_pair(x);
    return s.of_x * s.of_minus_x * (T(2) + x * (s.of_minus_x - s.of_x));
  }
};

/// The exact GELU, x * Phi(x) with Phi the standard normal CDF.
/// Phi(x) = erfc(-x / sqrt 2) / 2 keeps full relative precision for negative
/// x, where (1 + erf(x / sqrt 2)) / 2 would cancel to 0 long before the true
/// value underflows.
struct GELU {
  static constexpr const char* name = "gelu";
  static constexpr Initialization initialization = Initialization::he;
  static constexpr double gain = 1.4142135623730951;

  /// float and double: through detail::normal_tail, which vectorises (float
  /// evaluated in double, one rounding at the end), and for double near 0
  /// through the Taylor series (detail::gelu_near_zero); the accuracy is in
  /// docs/reference.md. long double: through erfc.
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      const InDouble<T> d = in_double(x);
      const detail::NormalTail<T>& n = d.tail;
      // x Q(-x) with the power of two of Q's exponential last (NormalTail).
      const double general =
          detail::blend(d.x < 0, n.scaled(n.times_exponential(d.held_below * n.tail_factor)),
                        d.held_below * (1.0 - n.tail()));
      if constexpr (std::same_as<T, double>) {
        return detail::blend(detail::magnitude(x) <= detail::gelu_series_bound,
                             detail::gelu_near_zero(x), general);
      } else {
        return static_cast<T>(general);  // the float's one rounding
      }
    } else {
      if (std::isinf(x)) {
        return x > 0 ? x : T(-0.0);
      }
      return x * normal_cdf(x);
    }
  }
  /// Phi(x) + x phi(x), phi the standard normal density.
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      const InDouble<T> d = in_double(x);
      const detail::NormalTail<T>& n = d.tail;
      return static_cast<T>(detail::blend(
          d.x < 0, n.scaled(n.times_exponential(n.tail_factor + d.held * n.density_factor)),
          (1.0 - n.tail()) + d.held * n.density()));
    } else {
      if (std::isinf(x)) {
        return x > 0 ? T(1) : T(0);
      }
      return normal_cdf(x) + x * normal_pdf(x);
    }
  }
  /// phi(x) (2 - x^2).
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    const T density = normal_pdf(x);
    return density == T(0) ? T(0) : density * (T(2) - x * x);  // no 0 * inf far out
  }

 private:
  /// A float or double x in double, with the normal tail at |x| to T's
  /// precision (branch-free, so that the kernels' loops vectorise). Below
  /// -40, Phi(x) and phi(x) are 0, above 40 phi(x) is; x there is replaced by
  /// -40 or 40 where it multiplies them (`held_below`, `held`), so that the
  /// infinities give 0, not inf * 0 = NaN.
  template <detail::VectorReal T>
  struct InDouble {
    double x;
    detail::NormalTail<T> tail;
    double held_below;  // x, but -40 below -40
    double held;        // x within [-40, 40]
  };
  template <detail::VectorReal T>
  TINYGRAD_DETAIL_INLINE inline static InDouble<T> in_double(T value) noexcept {
    const double x = value;
    const double held_below = detail::blend(x < -40.0, -40.0, x);
    return {x, detail::normal_tail<T>(detail::magnitude(x)), held_below,
            detail::blend(x > 40.0, 40.0, held_below)};
  }

  /// erfc(-x / sqrt 2) / 2. The argument t = -x / sqrt 2 is carried as
  /// hi + lo because erfc multiplies the relative rounding error of t by about
  /// 2 t^2 (900x at x = -30); the first-order correction erfc'(hi) * lo then
  /// restores it.
  template <std::floating_point T>
  static T normal_cdf(T x) noexcept {
    constexpr T c_hi = std::numbers::sqrt2_v<T> / 2;       // 1/sqrt 2, rounded
    const T c_lo = -std::fma(c_hi, c_hi, T(-0.5)) * c_hi;  // 1/sqrt 2 - c_hi, to first order
    const T t_hi = -x * c_hi;
    const T t_lo = std::fma(-x, c_hi, -t_hi) - x * c_lo;
    constexpr T two_over_sqrtpi = 2 * std::numbers::inv_sqrtpi_v<T>;
    return (std::erfc(t_hi) - two_over_sqrtpi * std::exp(-t_hi * t_hi) * t_lo) / 2;
  }
  /// exp(-x^2/2) / sqrt(2 pi). x^2 is carried as hi + lo (lo from an fma) so
  /// that its rounding error, which exp would amplify by x^2/2, is corrected.
  template <std::floating_point T>
  static T normal_pdf(T x) noexcept {
    constexpr T inv_sqrt_2pi = std::numbers::inv_sqrtpi_v<T> / std::numbers::sqrt2_v<T>;
    const T hi = x * x;
    const T e = std::exp(-hi / 2);
    if (e == T(0)) {
      return T(0);  // also for x^2 = inf, where the fma below would give NaN
    }
    const T lo = std::fma(x, x, -hi);
    return e * (T(1) - lo / 2) * inv_sqrt_2pi;
  }
};

/// x for x > 0, e^x - 1 otherwise (alpha = 1); expm1 keeps precision near 0.
struct ELU {
  static constexpr const char* name = "elu";
  static constexpr Initialization initialization = Initialization::he;
  static constexpr double gain = 1.4142135623730951;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      return detail::elu(x);
    } else {
      return x > T(0) ? x : std::expm1(x);
    }
  }
  /// 1 at 0 from both sides; NaN stays NaN.
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    if constexpr (detail::VectorReal<T>) {
      return detail::blend(x > T(0), T(1),
                           detail::exp_nonpositive(detail::blend(x > T(0), T(0), x)));
    } else {
      return x > T(0) ? T(1) : std::exp(x);
    }
  }
  /// For the backward kernel: e^x = y + 1 below the kink, no exponential.
  /// The side of the kink comes from y too (y > 0 exactly where x > 0, and
  /// NaN stays NaN), so that the kernel streams two arrays instead of three.
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T backward(T /*x*/, T y, T dy) noexcept {
    return detail::select(y > T(0), dy, dy * (y + T(1)));
  }
  /// 0 for x > 0, e^x otherwise (the left piece, like the first derivative at 0).
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    return x > T(0) ? T(0) : std::exp(x);
  }
};

/// f(x) = x: a linear layer's "no activation".
struct Identity {
  static constexpr const char* name = "identity";
  static constexpr Initialization initialization = Initialization::xavier;
  static constexpr double gain = 1.0;

  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T value(T x) noexcept {
    return x;
  }
  template <std::floating_point T>
  TINYGRAD_DETAIL_INLINE inline static T derivative(T x) noexcept {
    return detail::select(x == x, T(1), x);  // NaN in, NaN out
  }
  template <std::floating_point T>
  static T second_derivative(T x) noexcept {
    return detail::select(x == x, T(0), x);  // NaN in, NaN out
  }
};

// The shorthands on a plain number, beside those on a Var (math.hpp), a
// Dual (dual.hpp) and a Traced (trace.hpp), so that a function written
// once for any of those number types can call tinygrad::sigmoid(z): the
// policy's value, with the bits an activation on the tape computes.
// (std::tanh is another function, with other bits.) One template
// parameter, as the others have, and no int, as P::value takes none.
namespace detail {
template <class P, std::floating_point F>
F activation_value(F x) noexcept {
  return value_and_derivative_of_one<P>(x).value;
}
}  // namespace detail

template <std::floating_point F>
[[nodiscard]] F sigmoid(F x) noexcept {
  return detail::activation_value<Sigmoid>(x);
}
template <std::floating_point F>
[[nodiscard]] F tanh(F x) noexcept {
  return detail::activation_value<Tanh>(x);
}
template <std::floating_point F>
[[nodiscard]] F relu(F x) noexcept {
  return detail::activation_value<ReLU>(x);
}
template <std::floating_point F>
[[nodiscard]] F leaky_relu(F x) noexcept {
  return detail::activation_value<LeakyReLU>(x);
}
template <std::floating_point F>
[[nodiscard]] F softplus(F x) noexcept {
  return detail::activation_value<Softplus>(x);
}
template <std::floating_point F>
[[nodiscard]] F silu(F x) noexcept {
  return detail::activation_value<SiLU>(x);
}
template <std::floating_point F>
[[nodiscard]] F gelu(F x) noexcept {
  return detail::activation_value<GELU>(x);
}
template <std::floating_point F>
[[nodiscard]] F elu(F x) noexcept {
  return detail::activation_value<ELU>(x);
}

}  // namespace tinygrad
