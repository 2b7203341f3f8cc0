// SPDX-License-Identifier: MIT
#pragma once

// The elementary functions behind the activation policies, written so that a
// plain loop calling them vectorises. The policies' scalar value() on the
// tape and the batched kernels (activation_kernels.hpp) both call these, so a
// formula lives in one place and both paths give the same bits.
//
// What makes a loop over them vectorise on g++ and clang++ without
// -ffast-math: no calls into libm, no branches (both sides are computed and
// blended by a bit mask), no float-to-int conversion (the exponent comes from
// the bits of a float that was rounded by adding a large constant), and for
// double only the 64-bit integer operations SSE2 has (add, subtract, logical
// shifts). Even so, g++ 12 vectorises the double functions only from SSE4.2
// (x86-64-v2) on: it cannot make a 64-bit mask from a comparison of doubles
// before that (README, "Compiler flags"). The arithmetic assumes the default
// rounding mode, round to nearest.
//
// Accuracy (tests/activation_accuracy_test.cpp proves it over every float in
// [-100, 100] and 3 x 10^7 doubles): sigmoid and tanh within 2 ulp wherever the
// result is a normal number, the others within 4. Results below the normal
// range underflow gradually: the power of two of an exponential is applied
// last, as a power of two raised into the normal range and a constant that
// lowers it again, so that only the final multiplication rounds.
//
// long double takes the std:: functions: the constants here are for float
// and double.

#include <tinygrad/detail/config.hpp>

#include <bit>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

// Every function here is forced inline (TINYGRAD_DETAIL_INLINE): a loop
// vectorises only if the whole computation is in its body, and g++ would
// otherwise keep the larger ones (with their polynomials) as calls.

namespace tinygrad::detail {

/// The unsigned integer as wide as T (float, double). Integer exponents are
/// held in it too, as two's complement: its arithmetic wraps where signed
/// arithmetic would be undefined (the garbage exponent of a NaN input).
template <class T>
using UnsignedBits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

template <class T>
concept VectorReal = std::same_as<T, float> || std::same_as<T, double>;

/// `if_true` where `condition` holds, `if_false` elsewhere. Written as a bit
/// mask because g++ under the default -ftrapping-math will not turn a `?:`
/// between floating-point values into a vector blend unless AVX-512 masks
/// are available; it does vectorise this on every x86-64 level.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T blend(bool condition, T if_true, T if_false) noexcept {
  const UnsignedBits<T> mask = condition ? ~UnsignedBits<T>(0) : UnsignedBits<T>(0);
  return std::bit_cast<T>((std::bit_cast<UnsignedBits<T>>(if_true) & mask) |
                          (std::bit_cast<UnsignedBits<T>>(if_false) & ~mask));
}

/// blend for float and double, `?:` for any other type (long double).
template <std::floating_point T>
TINYGRAD_DETAIL_INLINE inline T select(bool condition, T if_true, T if_false) noexcept {
  if constexpr (VectorReal<T>) {
    return blend(condition, if_true, if_false);
  } else {
    return condition ? if_true : if_false;
  }
}

/// How many numbers a formula is written for, where the choice between two
/// results is all that differs: `many`, in a loop that vectorises (blend's
/// masks), or `one` at a time, as an activation on the tape or on a Dual
/// computes it (`?:`, which the compilers turn into fewer instructions for
/// one number than the masks, but do not all vectorise). The same bits
/// either way.
enum class Lanes { many, one };

template <VectorReal T>
constexpr UnsignedBits<T> sign_bit = UnsignedBits<T>(1) << (sizeof(T) * 8 - 1);

/// |x| by clearing the sign bit (NaN stays NaN).
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T magnitude(T x) noexcept {
  return std::bit_cast<T>(std::bit_cast<UnsignedBits<T>>(x) & ~sign_bit<T>);
}

/// `magnitude` with the sign of `sign_source` (so -0 gives -0).
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T with_sign_of(T magnitude_source, T sign_source) noexcept {
  return std::bit_cast<T>((std::bit_cast<UnsignedBits<T>>(magnitude_source) & ~sign_bit<T>) |
                          (std::bit_cast<UnsignedBits<T>>(sign_source) & sign_bit<T>));
}

/// 2^k for k (two's complement) in the normal exponent range, from its bits.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T power_of_two(UnsignedBits<T> k) noexcept {
  constexpr int stored_mantissa_bits = std::numeric_limits<T>::digits - 1;
  constexpr auto bias = UnsignedBits<T>(std::numeric_limits<T>::max_exponent - 1);
  return std::bit_cast<T>(static_cast<UnsignedBits<T>>(UnsignedBits<T>(k) + bias)
                          << stored_mantissa_bits);
}

/// a * b + c, fused where the build targets FMA instructions (one rounding,
/// half the work), explicitly: the compilers may also contract a * b + c on
/// their own there, but need not. Elsewhere it is one expression, which both
/// compilers contract in the AVX2 and AVX-512 copies of a build without
/// -march (instruction_set.hpp): g++ by its default -ffp-contract=fast, clang
/// by its -ffp-contract=on, which fuses within one expression only, so this
/// must stay one expression for clang's copies to fuse at all. The price,
/// with clang and without FMA in the flags:
/// clang folds a contracted expression fused when its operands are known at
/// compile time, while the baseline code rounds twice at run time, so a call
/// with a constant argument may differ in the last bit from the same call at
/// run time (docs/reference.md, "Instruction sets").
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T multiply_add(T a, T b, T c) noexcept {
#if defined(__FMA__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

/// c[Begin] + c[Begin + 1] r + ... over Count coefficients, by Estrin's
/// scheme: the lower part (a power of two of the coefficients) plus
/// r^(that power) times the upper part, recursively. The terms at one level
/// are independent, so the dependency chain grows with log2(Count) rather
/// than Count as in Horner's rule: a scalar sigmoid on the tape (a chain of
/// dependent calls) waits for it. `powers` holds r, r^2, r^4, r^8, ...
template <std::size_t Begin, std::size_t Count, class T, std::size_t N, std::size_t L>
TINYGRAD_DETAIL_INLINE inline T estrin(const T (&c)[N], const T (&powers)[L]) noexcept {
  if constexpr (Count == 1) {
    return c[Begin];
  } else {
    constexpr std::size_t low = std::bit_floor(Count - 1);
    return multiply_add(estrin<Begin + low, Count - low>(c, powers), powers[std::countr_zero(low)],
                        estrin<Begin, low>(c, powers));
  }
}

/// c[0] + c[1] r + c[2] r^2 + ... with the first Head terms by Horner's rule
/// and the rest, c[Head] + c[Head + 1] r + ..., by Estrin's scheme:
/// c[0] + r (c[1] + r (... + r (c[Head - 1] + r rest))). Unrolled at compile
/// time, so that no inner loop stands between the caller's loop and the
/// vectoriser. For a long polynomial whose leading terms partly cancel
/// (normal_tail), Estrin's scheme over all of it rounds worse; Horner's rule
/// over all of it makes a dependency chain as long as the polynomial, which a
/// scalar call on the tape waits for. The tail's rounding errors are scaled
/// by r^Head.
template <std::size_t Head, class T, std::size_t N, std::size_t... Step>
TINYGRAD_DETAIL_INLINE inline T horner_head(const T (&c)[N], T r, T rest,
                                            std::index_sequence<Step...>) noexcept {
  ((rest = multiply_add(rest, r, c[Head - 1 - Step])), ...);
  return rest;
}

template <std::size_t Head, class T, std::size_t N>
TINYGRAD_DETAIL_INLINE inline T polynomial_with_horner_head(const T (&c)[N], T r) noexcept {
  static_assert(N > Head && N - Head <= 32);
  const T r2 = r * r;
  const T r4 = r2 * r2;
  const T r8 = r4 * r4;
  const T powers[] = {r, r2, r4, r8, r8 * r8};  // the compilers drop those not used
  if constexpr (Head == 0) {
    return estrin<0, N>(c, powers);
  } else {
    return horner_head<Head>(c, r, estrin<Head, N - Head>(c, powers),
                             std::make_index_sequence<Head>());
  }
}

/// c[0] + c[1] r + c[2] r^2 + ..., all by Horner's rule: the fewest
/// operations, for a vector loop's throughput, and the longest dependency
/// chain.
template <class T, std::size_t N>
TINYGRAD_DETAIL_INLINE inline T polynomial_by_horner(const T (&c)[N], T r) noexcept {
  return polynomial_with_horner_head<N - 1>(c, r);
}

/// c[0] + c[1] r + c[2] r^2 + ..., all by Estrin's scheme.
template <class T, std::size_t N>
TINYGRAD_DETAIL_INLINE inline T polynomial(const T (&c)[N], T r) noexcept {
  return polynomial_with_horner_head<0>(c, r);
}

/// Constants for e^t = 2^k e^r with r = t - k ln 2, |r| <= ln(2)/2, and
/// e^r - 1 = r + r^2 P(r). The coefficients of P are Chebyshev fits (mpmath,
/// 60 digits) of (e^r - 1 - r) / r^2 on [-ln 2 / 2, ln 2 / 2]; as stored,
/// their maximum errors are 2.8e-9 (float, degree 5) and 1.4e-18 (double,
/// degree 10), below a hundredth of an ulp of e^r - 1
/// (tests/support/fit_coefficients.py fits them and measures that). ln 2 is
/// split into a high part with trailing zero bits, so that k * ln2_high is
/// exact, and the rest.
template <class T>
struct ExpConstants;

template <>
struct ExpConstants<float> {
  static constexpr float log2e = 1.44269504f;
  static constexpr float ln2_high = 0.693145751953125f;  // 0x3f317200
  static constexpr float ln2_low = 1.42860677e-06f;
  static constexpr float round_to_integer = 12582912.0f;   // 1.5 * 2^23
  static constexpr float lowest_nonzero = -110.0f;         // e^-110 rounds to 0 in float
  static constexpr float overflowing = 89.0f;              // e^89 overflows float
  static constexpr float negligible_next_to_one = -20.0f;  // 1 +- e^-20 rounds to 1
  static constexpr float p[] = {
      0.5f, 1.666666668e-1f, 4.166646501e-2f, 8.333310934e-3f, 1.393364103e-3f, 1.989098087e-4f};
};

template <>
struct ExpConstants<double> {
  static constexpr double log2e = 1.4426950408889634;
  static constexpr double ln2_high = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000
  static constexpr double ln2_low = 1.90821492927058770002e-10;
  static constexpr double round_to_integer = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double lowest_nonzero = -760.0;
  static constexpr double overflowing = 710.0;
  static constexpr double negligible_next_to_one = -40.0;
  static constexpr double p[] = {5.0e-1,
                                 1.6666666666666670986e-1,
                                 4.1666666666666669752e-2,
                                 8.333333333326140884e-3,
                                 1.3888888888883752417e-3,
                                 1.9841269874800491981e-4,
                                 2.4801587325533363819e-5,
                                 2.7557255425746434282e-6,
                                 2.7557273661348636219e-7,
                                 2.5105206373957011116e-8,
                                 2.09146793765839351e-9};
};

/// t = k ln 2 + r, with k the integer nearest t / ln 2 (as bits, not by a
/// float-to-int conversion, which NaN would make undefined).
template <VectorReal T>
struct ExpReduction {
  T r;
  UnsignedBits<T> k;  // two's complement
};

template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline ExpReduction<T> reduce_for_exp(T t) noexcept {
  using C = ExpConstants<T>;
  const T shifted = multiply_add(t, C::log2e, C::round_to_integer);
  const T k = shifted - C::round_to_integer;
  const auto k_bits =
      static_cast<UnsignedBits<T>>(std::bit_cast<UnsignedBits<T>>(shifted) -
                                   std::bit_cast<UnsignedBits<T>>(C::round_to_integer));
  return {multiply_add(-k, C::ln2_low, multiply_add(-k, C::ln2_high, t)), k_bits};
}

/// e^r - 1 for |r| <= ln(2)/2, without forming e^r (no cancellation near 0).
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T expm1_reduced(T r) noexcept {
  return multiply_add(r * r, polynomial(ExpConstants<T>::p, r), r);
}

/// e^(t + t_low) for t <= 0 (or NaN), t_low as in exp_nonpositive, as
/// (mantissa + mantissa_low) * scale_high * scale_low: mantissa in
/// [0.7, 1.5], mantissa_low its rounding error (so the pair carries e^r to
/// about twice T's precision), and the power of two 2^k as 2^(k + raise)
/// times the constant 2^-raise, both normal for every k the clamp allows, so
/// that even a result far below the normal range comes out of one rounding
/// when the caller multiplies by them last (a product with a power of two is
/// exact unless it leaves the normal range). The constant costs one
/// multiplication, fewer instructions than splitting k itself into two
/// halves would take in a vector loop.
template <VectorReal T>
struct SplitExp {
  T mantissa;
  T mantissa_low;
  T scale_high;
  T scale_low;
};

/// How far SplitExp raises 2^k: enough that 2^k at the clamp
/// (lowest_nonzero / ln 2, about -159 for float and -1097 for double) is
/// normal once raised, and 2^raise itself (k = 0) too.
template <VectorReal T>
constexpr int exp_scale_raise = std::same_as<T, float> ? 64 : 128;

/// 2^k as high * low = 2^(k + raise) * 2^-raise (see SplitExp), for every
/// k from the clamp at lowest_nonzero up to 0.
template <VectorReal T>
struct RaisedPowerOfTwo {
  T high;
  T low;
};

template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline RaisedPowerOfTwo<T> raised_power_of_two(UnsignedBits<T> k) noexcept {
  constexpr int raise = exp_scale_raise<T>;
  // 2^(k + raise) normal from the clamp's k (above lowest_nonzero / 0.69) to k = 0.
  static_assert(ExpConstants<T>::lowest_nonzero / 0.69 + raise >=
                std::numeric_limits<T>::min_exponent - 1);
  static_assert(raise <= std::numeric_limits<T>::max_exponent - 1);
  return {power_of_two<T>(static_cast<UnsignedBits<T>>(k + UnsignedBits<T>(raise))),
          power_of_two<T>(static_cast<UnsignedBits<T>>(-raise))};
}

/// reduce_for_exp of t <= 0 (or NaN) held at lowest_nonzero, below which
/// e^t rounds to 0 in T: k then stays where raised_power_of_two's factors
/// are normal. NaN stays NaN.
template <Lanes lanes = Lanes::many, VectorReal T>
TINYGRAD_DETAIL_INLINE inline ExpReduction<T> reduce_nonpositive_for_exp(T t) noexcept {
  constexpr T floor = ExpConstants<T>::lowest_nonzero;
  if constexpr (lanes == Lanes::one) {
    return reduce_for_exp(t < floor ? floor : t);
  } else {
    return reduce_for_exp(blend(t < floor, floor, t));
  }
}

template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline SplitExp<T> exp_nonpositive_split(T t, T t_low = T(-0.0)) noexcept {
  const auto [r, k] = reduce_nonpositive_for_exp(t);
  const T em = expm1_reduced(r + t_low);  // r + -0 is r: g++ drops it (same loop)
  const T mantissa = T(1) + em;
  const T mantissa_low = em - (mantissa - T(1));  // exact: |em| < 1 (Fast2Sum)
  const RaisedPowerOfTwo<T> scale = raised_power_of_two<T>(k);
  return {mantissa, mantissa_low, scale.high, scale.low};
}

/// e^(t + t_low) for t <= 0 (or NaN), t_low a small correction to t (of
/// the size of its rounding error) that enters the reduced argument.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T exp_nonpositive(T t, T t_low = T(-0.0)) noexcept {
  const SplitExp<T> e = exp_nonpositive_split(t, t_low);
  return e.mantissa * e.scale_high * e.scale_low;
}

/// A value carried to about twice T's precision as the unevaluated sum
/// high + low, |low| at most half an ulp of high.
template <VectorReal T>
struct DoubleLength {
  T high;
  T low;
};

/// e^t for t <= 0 (or NaN) where only e^t's size next to 1 matters, to about
/// twice T's precision, so that 1 - e^t keeps every bit even near t = 0:
/// e^r - 1 = r + q with q = r^2 P(r), and each sum that rounds carries its
/// error (Fast2Sum). Below negligible_next_to_one t is clamped (1 +- e^t
/// rounds to 1 there anyway), so the power of two is normal and applies
/// exactly.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline DoubleLength<T> exp_nonpositive_next_to_one(T t) noexcept {
  t = blend(t < ExpConstants<T>::negligible_next_to_one, ExpConstants<T>::negligible_next_to_one,
            t);
  const auto [r, k] = reduce_for_exp(t);
  const T q = r * r * polynomial(ExpConstants<T>::p, r);
  const T em = r + q;
  const T em_low = q - (em - r);  // exact: |q| < |r| / 5
  const T mantissa = T(1) + em;
  const T mantissa_low = (em - (mantissa - T(1))) + em_low;  // |em| < 1
  const T scale = power_of_two<T>(k);
  return {mantissa * scale, mantissa_low * scale};
}

/// e^t - 1 for t <= 0 (or NaN): 2^k (e^r - 1) + (2^k - 1), where 2^k - 1 is
/// exact, so that near 0 (k = 0) the result is e^r - 1 itself.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T expm1_nonpositive(T t) noexcept {
  t = blend(t < ExpConstants<T>::negligible_next_to_one, ExpConstants<T>::negligible_next_to_one,
            t);
  const auto [r, k] = reduce_for_exp(t);
  const T scale = power_of_two<T>(k);
  return scale * expm1_reduced(r) + (scale - T(1));
}

/// e^t for every t: 2^k (1 + (e^r - 1)), t = k ln 2 + r, for a loop over
/// many numbers (a batched trace replay's exp). 2^k applies as two normal
/// factors, 2^(k - h) and then 2^h with h = k / 2 rounded down, so that a
/// result beyond the normal range (overflowing, or subnormal) comes out of
/// the rounding of the last product; inside it that product is exact, and
/// the error is the one rounding of 2^(k - h) (1 + (e^r - 1)), fused where
/// the code is compiled with FMA, plus the reduction's. t is held in
/// [lowest_nonzero, overflowing], where e^t rounds to 0 below and to
/// infinity above and both factors stay normal; NaN stays NaN.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T exponential(T t) noexcept {
  using C = ExpConstants<T>;
  t = blend(t < C::lowest_nonzero, C::lowest_nonzero, t);
  t = blend(t > C::overflowing, C::overflowing, t);
  const auto [r, k] = reduce_for_exp(t);
  const auto half = static_cast<UnsignedBits<T>>((k >> 1) | (k & sign_bit<T>));  // k / 2, floor
  const T first = power_of_two<T>(static_cast<UnsignedBits<T>>(k - half));
  return multiply_add(expm1_reduced(r), first, first) * power_of_two<T>(half);
}

/// sigmoid(-|x|) = e / (1 + e), e = e^-|x|, before its final power of two:
/// the value is unscaled * scale_high * scale_low. Callers that multiply it by
/// something (SiLU's x) do so before scaling, so that a product that is normal
/// although sigmoid(-|x|) is not stays accurate.
template <VectorReal T>
struct SplitLogistic {
  T unscaled;
  T scale_high;
  T scale_low;

  /// factor * sigmoid(-|x|), the factor applied before the power of two.
  [[nodiscard]] TINYGRAD_DETAIL_INLINE inline T times(T factor) const noexcept {
    return factor * unscaled * scale_high * scale_low;
  }
  [[nodiscard]] TINYGRAD_DETAIL_INLINE inline T value() const noexcept { return times(T(1)); }
};

/// sigmoid(-a), a = |x|, as 2^k / (M + 2^k): with -a = k ln 2 + r (k <= 0),
/// 1 / (1 + e^a) = 2^k / (2^k + e^-r), and M = e^-r lies in [0.7, 1.5]. The
/// divisor u = M + 2^k rounds twice, in M = 1 + (e^-r - 1) and in the sum;
/// u_low carries both errors (Fast2Sum each time: M >= 2^k, because k = 0
/// only where r = -a <= 0, so M >= 1 there). One Newton step on the
/// reciprocal, q (1 + rho - q u_low) with rho = 1 - q u exact from an fma,
/// then removes them together with the division's own rounding. Without an
/// fma rho is inexact (q u rounds first), and the result a little less
/// accurate (docs/reference.md's accuracy table: the compiled copy of a
/// build without FMA against the AVX copies).
template <Lanes lanes = Lanes::many, VectorReal T>
TINYGRAD_DETAIL_INLINE inline SplitLogistic<T> logistic_of_minus_magnitude_split(T x) noexcept {
  // std::fabs clears the sign bit as magnitude does (NaN too), in fewer
  // instructions for one number; magnitude's mask is what vectorises in
  // every copy.
  const T minus_magnitude = lanes == Lanes::one ? -std::fabs(x) : -magnitude(x);
  const auto [r, k] = reduce_nonpositive_for_exp<lanes>(minus_magnitude);
  const RaisedPowerOfTwo<T> scale = raised_power_of_two<T>(k);
  // 2^k itself: subnormal or 0 far left, where M + 2^k is M anyway.
  const T power = scale.high * scale.low;
  const T em = expm1_reduced(-r);
  const T m = T(1) + em;
  const T u = m + power;
  const T u_low = (power - (u - m)) + (em - (m - T(1)));
  const T q = T(1) / u;
  const T rho = multiply_add(-q, u, T(1));
  return {multiply_add(q, multiply_add(-q, u_low, rho), q), scale.high, scale.low};
}

/// 1 / (1 + e^-x): sigmoid(-|x|) from above, and 1 minus it for x >= 0, where
/// it is at most 1/2 and the subtraction loses nothing.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T logistic(T x) noexcept {
  const SplitLogistic<T> s = logistic_of_minus_magnitude_split(x);
  const T small = s.value();
  return blend(x >= T(0), T(1) - small, small);  // NaN takes the second: NaN
}

/// tanh of a float: x P(x^2) / Q(x^2) evaluated in double, where the
/// rounding of x^2 and of the polynomials stays far below a float's ulp, so
/// that the one rounding to float is nearly all the error. P (degree 5) and
/// Q (degree 4) fit tanh(x) / x in s = x^2 on [0, 9.1^2] to within 1.5e-9
/// relative (0.025 of a float's ulp; docs/design.md says how they were
/// fitted, tests/support/fit_coefficients.py measures them). Beyond
/// |x| = 9.1 tanh rounds to +-1 in float, and x is held there (NaN stays
/// NaN; the product keeps x's sign, so tanh(-0) = -0).
/// Horner's rule: the fewest operations, which a vector loop's throughput
/// wants. A double holds half as many lanes per vector as a float, but
/// there is no exponential and nothing to correct, so this is cheaper than
/// the double formula below. It must be evaluated in double: where s is
/// large the terms are of one size, and in float each Horner step's
/// rounding would count in full, several ulp in all.
TINYGRAD_DETAIL_INLINE inline float hyperbolic_tangent(float x) noexcept {
  static constexpr double p[] = {0.99999999857622198966,   0.13676420970038757344,
                                 0.0038639469900499072744, 2.7918932217691987645e-5,
                                 3.0371679181689538722e-8, -1.2044931941060480338e-11};
  static constexpr double q[] = {1.0, 0.47009752924946973634, 0.027229812314669541317,
                                 3.9309023956253932942e-4, 1.281174842502019361e-6};
  constexpr float saturation = 9.1f;
  x = blend(x > saturation, saturation, blend(x < -saturation, -saturation, x));
  const double wide = x;
  const double s = wide * wide;
  return static_cast<float>(wide * polynomial_by_horner(p, s) / polynomial_by_horner(q, s));
}

/// tanh of a double: tanh(|x|) = (1 - e) / (1 + e) with e = e^-2a, a = |x|,
/// everywhere: e comes as high + low to about twice double's precision, so
/// that 1 - e keeps its relative precision even where it cancels (near 0,
/// where it is 2a). Numerator and denominator each round once more and
/// carry that error too (Fast2Sum) into a first-order correction of the
/// quotient q, with the division's own remainder (exact from an fma; where
/// the build has none the term is inexact but harmless), using
/// 1 / (1 + e) = (1 + q) / 2 instead of a second division. One exponential
/// and no separate series for small arguments: a vector loop computes both
/// sides of a choice, so a second formula would cost its full price on every
/// element. The sign comes back from x (tanh(-0) = -0). The float overload's trick has no
/// counterpart here: no wider type that vectorises would keep a rational
/// function's own rounding below double's ulp.
TINYGRAD_DETAIL_INLINE inline double hyperbolic_tangent(double x) noexcept {
  const double a = magnitude(x);
  const DoubleLength<double> e = exp_nonpositive_next_to_one(-2.0 * a);
  const double numerator = 1.0 - e.high;
  const double numerator_low = ((1.0 - numerator) - e.high) - e.low;
  const double denominator = 1.0 + e.high;
  const double denominator_low = (e.high - (denominator - 1.0)) + e.low;
  const double q = numerator / denominator;
  const double residual = multiply_add(-q, denominator, numerator);
  return with_sign_of(q + ((residual + numerator_low) - q * denominator_low) * ((1.0 + q) * 0.5),
                      x);
}

/// log(1 + y) = 2 atanh(u) with u = y / (2 + y) = 2u + u^3 R(u^2), for y in
/// [0, 1] (so u <= 1/3): Chebyshev fits (mpmath) of (2 atanh(u) - 2u) / u^3
/// in v = u^2 on [0, 1/9], maximum errors 7.2e-9 (float, degree 4) and
/// 9.0e-17 (double, degree 9), about 1/18 of that relative to the result
/// (tests/support/fit_coefficients.py).
template <class T>
struct Log1pConstants;

template <>
struct Log1pConstants<float> {
  static constexpr float r[] = {6.666666732e-1f, 3.999970633e-1f, 2.859235799e-1f, 2.17065758e-1f,
                                2.322432922e-1f};
};

template <>
struct Log1pConstants<double> {
  static constexpr double r[] = {6.6666666666666658561e-1, 4.0000000000014582673e-1,
                                 2.8571428567108757162e-1, 2.2222222717427862989e-1,
                                 1.8181789436132858169e-1, 1.5385570064958623103e-1,
                                 1.331414420965493615e-1,  1.2001072809590712535e-1,
                                 8.8007384861446738822e-2, 1.6164045611943532221e-1};
};

/// log(1 + y) for y in [0, 1] (or NaN). u = y / (2 + y) has no cancellation
/// for any y there, unlike forming 1 + y.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T log1p_unit(T y) noexcept {
  const T u = y / (T(2) + y);
  const T v = u * u;
  return multiply_add(u * v, polynomial(Log1pConstants<T>::r, v), T(2) * u);
}

/// log x for every x, for a loop over many numbers (a batched trace
/// replay's log): x = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), from
/// x's bits (a subnormal x scaled by 2^digits first), and
/// log(1 + f) = f - (f^2/2 - u (f^2/2 + R)), u = f / (2 + f), R = u^2 r(u^2)
/// with Log1pConstants' r, so that f, exact, is the large term and the
/// rounding errors sit in the small correction; k ln 2 is added in two
/// parts, ExpConstants' ln2_high (k ln2_high exact) last. +0 and -0 give
/// -infinity, x < 0 NaN, +infinity itself, NaN stays NaN.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T logarithm(T x) noexcept {
  using U = UnsignedBits<T>;
  using C = ExpConstants<T>;
  constexpr int digits = std::numeric_limits<T>::digits;
  constexpr int stored_mantissa_bits = digits - 1;
  const bool subnormal = x < std::numeric_limits<T>::min();
  const T scaled = blend(subnormal, x * power_of_two<T>(U(digits)), x);
  // k: the exponent of scaled / sqrt(1/2), by subtracting the bits of
  // sqrt(1/2), an arithmetic shift; 1 + f keeps scaled's mantissa bits.
  constexpr T root_half = T(0.70710678118654752440L);
  const U offset = std::bit_cast<U>(scaled) - std::bit_cast<U>(root_half);
  const auto k = static_cast<U>(static_cast<std::make_signed_t<U>>(offset) >> stored_mantissa_bits);
  const T f =
      std::bit_cast<T>(static_cast<U>(std::bit_cast<U>(scaled) - (k << stored_mantissa_bits))) -
      T(1);
  // k as a T without a conversion instruction: the bits of 1.5 2^(digits - 1) + k.
  const T k_real = std::bit_cast<T>(static_cast<U>(std::bit_cast<U>(C::round_to_integer) + k)) -
                   C::round_to_integer - blend(subnormal, T(digits), T(0));
  const T u = f / (T(2) + f);
  const T v = u * u;
  const T half_square = T(0.5) * f * f;
  const T r = v * polynomial(Log1pConstants<T>::r, v);
  const T low = multiply_add(u, half_square + r, k_real * C::ln2_low);
  const T result = multiply_add(k_real, C::ln2_high, f - (half_square - low));
  const T special = blend(x == T(0), -std::numeric_limits<T>::infinity(),
                          blend(x > T(0), x, std::numeric_limits<T>::quiet_NaN()));
  // NaN and x <= 0 and infinity take `special`: infinity itself there, x's NaN.
  return blend(x > T(0) && x < std::numeric_limits<T>::infinity(), result,
               blend(x != x, x, special));
}

/// log(1 + e^x) = max(x, 0) + log(1 + e^-|x|).
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T softplus(T x) noexcept {
  return blend(x > T(0), x, T(0)) + log1p_unit(exp_nonpositive(-magnitude(x)));
}

/// x sigmoid(x): x (1 - sigmoid(-x)) for x >= 0; for x < 0, x times
/// sigmoid(-|x|) before its power of two.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T silu(T x) noexcept {
  const SplitLogistic<T> s = logistic_of_minus_magnitude_split(x);
  const T small = s.value();
  const T negative_side = s.times(x);
  // Below the clamp of exp_nonpositive_split the true x e^x rounds to -0, but
  // x times the clamped e^x need not (and -inf times it is -inf).
  return blend(x >= T(0), x * (T(1) - small),
               blend(x < ExpConstants<T>::lowest_nonzero, T(-0.0), negative_side));
}

/// d/dx x sigmoid(x) = sigmoid(x) (1 + x sigmoid(-x)). For x >= 0 both
/// factors are at least 1/2; for x < 0 the first is sigmoid(-|x|), scaled
/// last like silu's value so that the product is accurate where it is normal.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T silu_derivative(T x) noexcept {
  const SplitLogistic<T> s = logistic_of_minus_magnitude_split(x);
  const T small = s.value();
  const T large = T(1) - small;
  const T positive_side = large * (T(1) + x * small);
  const T negative_side = s.times(T(1) + x * large);
  // The limits: 1 at +inf (x * small would be inf * 0), 0 below the clamp of
  // exp_nonpositive_split (x times the clamped e^x would not be).
  return blend(x >= T(0), blend(x == std::numeric_limits<T>::infinity(), T(1), positive_side),
               blend(x < ExpConstants<T>::lowest_nonzero, T(0), negative_side));
}

/// a^2 as hi + lo exactly, hi = a^2 rounded: from an fma where the build
/// has one, else by splitting a into two halves of 26 bits whose products
/// are exact (Veltkamp and Dekker; std::fma without the instruction is a
/// library call, which would stop the loop from vectorising). |a| must stay
/// below 2^995 so that the split does not overflow.
struct ExactSquare {
  double hi;
  double lo;
};

TINYGRAD_DETAIL_INLINE inline ExactSquare exact_square(double a) noexcept {
  const double hi = a * a;
#if defined(__FMA__)
  return {hi, std::fma(a, a, -hi)};
#else
  constexpr double splitter = 134217729.0;  // 2^27 + 1
  const double p = a * splitter;
  const double a_high = p - (p - a);
  const double a_low = a - a_high;
  return {hi, ((a_high * a_high - hi) + 2 * a_high * a_low) + a_low * a_low};
#endif
}

/// The standard normal distribution's upper tail Q(a) = 1 - Phi(a) for
/// a >= 0, and its density phi(a) = e^(-a^2/2) / sqrt(2 pi) beside it, as
/// products: e^(-a^2/2) = (exponential + exponential_low) * scale_high *
/// scale_low (the power of two last, as in SplitExp), times tail_factor or
/// density_factor, for a float or a double Result. A caller
/// multiplying Q or phi by something (GELU's x) does so before the power of
/// two: near a = 37.6 in double, e^(-a^2/2) is subnormal while x phi is not.
template <VectorReal Result>
struct NormalTail {
  double exponential;
  double exponential_low;  // its rounding error; a float result ignores it
  double scale_high;
  double scale_low;
  double tail_factor;
  double density_factor;

  /// `factor` times the exponential, for a double result with its low part:
  /// the exponential's rounding error would otherwise count in full in
  /// GELU's result, where the bound of 4 ulp leaves little room; it costs
  /// one multiplication and one fma.
  [[nodiscard]] TINYGRAD_DETAIL_INLINE inline double times_exponential(
      double factor) const noexcept {
    if constexpr (std::same_as<Result, double>) {
      return multiply_add(factor, exponential, factor * exponential_low);
    } else {
      return factor * exponential;
    }
  }
  /// `unscaled` times the power of two, applied last.
  [[nodiscard]] TINYGRAD_DETAIL_INLINE inline double scaled(double unscaled) const noexcept {
    return unscaled * scale_high * scale_low;
  }
  [[nodiscard]] TINYGRAD_DETAIL_INLINE inline double tail() const noexcept {
    return scaled(times_exponential(tail_factor));
  }
  [[nodiscard]] TINYGRAD_DETAIL_INLINE inline double density() const noexcept {
    return scaled(times_exponential(density_factor));
  }
};

/// Q(a) = phi(a) M(a), M the Mills ratio, which falls smoothly from
/// sqrt(pi/2) at 0 to 0 like 1/a. Both versions substitute a variable t in
/// [-1, 1) for a in [0, inf) and evaluate a polynomial in t; both are
/// branch-free and vectorise. a = inf gives 0 and 0; NaN gives NaN.
///
/// Result = float: the precision a float result needs, evaluated in double.
/// t = 1 - 2k/(a + k) (k = 4) and M a polynomial in t: a Chebyshev fit on
/// t in [-1, 1] (mpmath, 60 digits, 16 terms), within 7.3e-11 relative over
/// a in [0, 16] (tests/support/fit_coefficients.py). A float's square is exact
/// in double, so e^(-a^2/2) carries only exp's own error, and the result is
/// far inside float's 2^-24.
///
/// Result = double: t = (a - k)/(a + k) (k = 3), and the polynomial is
/// G(t) = M(a) (a + 3/4) / sqrt(2 pi), which stays between 0.37 and 0.47
/// instead of falling to 0, so that its terms cancel little: interpolated at
/// 28 Chebyshev points of t in [-1, 37/43] (a in [0, 40]; mpmath, 50
/// digits). The first four terms go by Horner's rule, the rest by Estrin's
/// scheme (polynomial_with_horner_head): where the leading terms partly
/// cancel, Estrin's scheme over all of them rounds worse.
/// activation_accuracy_test bounds the result.
/// Beyond a = 40, Q and phi are 0 in double; a is held there.
/// e^(-a^2/2) takes a^2 as hi + lo, because exp would multiply the rounding
/// error of a^2 by a^2/2 (800 at a = 40); -lo/2 joins exp's reduced argument.
template <VectorReal Result>
TINYGRAD_DETAIL_INLINE inline NormalTail<Result> normal_tail(double a) noexcept {
  constexpr double inv_sqrt_2pi = 0.3989422804014327;
  if constexpr (std::same_as<Result, float>) {
    static constexpr double mills[] = {
        0.23665238291804455,     -0.42712374676444487,    0.31177255763638301,
        -0.17974381494022798,    0.077366602796670278,    -0.021286522253884801,
        0.0012721713394505505,   0.0016012329979799528,   -0.00046880901275578448,
        -0.00011404337930056396, 7.0948878882173729e-05,  1.1280412782065162e-05,
        -9.7161736541327315e-06, -1.6495040190800138e-06, 9.3027863990323086e-07,
        1.9477463367815209e-07};
    constexpr double k = 4;
    const double t = 1.0 - 2 * k / (a + k);
    // phi itself as the exponential part (all normal in double for a float
    // result): its factor for the density is 1.
    return {exp_nonpositive(-(a * a) / 2) * inv_sqrt_2pi, 0.0, 1.0, 1.0, polynomial(mills, t), 1.0};
  } else {
    static constexpr double scaled_mills[] = {
        0.4556773063333581,      -0.04492610489841597,    -0.04723841823493281,
        0.05671725427610874,     -0.024262926318088122,   0.0004343131419727327,
        0.0032569781248784966,   -0.00026829579992695003, -0.0005525452987006668,
        2.8086632715064774e-07,  0.00010715567008690853,  2.1275477065933844e-05,
        -1.7897296769399157e-05, -9.954952442020167e-06,  9.544203299699945e-07,
        2.7696822824708515e-06,  8.522813596347516e-07,   -3.5698959270422465e-07,
        -3.907171145714148e-07,  -8.92723639612064e-08,   6.775560886233291e-08,
        6.164428487122126e-08,   1.0322343090630102e-08,  -1.3447371588280547e-08,
        -8.32478520855879e-09,   9.549419651414849e-11,   1.4833305665502672e-09,
        3.774819775232892e-10};
    constexpr double k = 3;
    constexpr double shift = 0.75;
    a = blend(a > 40.0, 40.0, a);  // NaN stays NaN
    const ExactSquare square = exact_square(a);
    const double t = (a - k) / (a + k);
    const SplitExp<double> e = exp_nonpositive_split(-square.hi / 2, -square.lo / 2);
    return {e.mantissa,
            e.mantissa_low,
            e.scale_high,
            e.scale_low,
            polynomial_with_horner_head<4>(scaled_mills, t) / (a + shift),
            inv_sqrt_2pi};
  }
}

/// GELU(x) = x Phi(x) for a double |x| <= gelu_series_bound, where the
/// general formula, x (1 - Q(x)), would carry the rounding error of Q near
/// 1/2 (a few units of 2^-53) into every result: 4 to 5 ulp near 0. Here
/// x Phi(x) = x/2 + x^2 P(x^2), with P the Taylor series of (Phi(x) - 1/2) / x,
/// phi(0) sum_n (-x^2/2)^n / (n! (2n + 1)), to eleven terms: the first one
/// left out is below 2^-62 of the sum at the bound. x/2 is exact and the
/// second term at most 0.4 of it, so the result rounds about once.
inline constexpr double gelu_series_bound = 0.5;

TINYGRAD_DETAIL_INLINE inline double gelu_near_zero(double x) noexcept {
  static constexpr double series[] = {
      0.3989422804014327,      -0.06649038006690544,   0.009973557010035817,
      -0.0011873282154804543,  0.00011543468761615529, -9.444656259503615e-06,
      6.659693516316651e-07,   -4.122667414862689e-08, 2.2735298243728065e-09,
      -1.1301171641619213e-10, 5.1124347902563106e-12};
  const double v = x * x;
  return multiply_add(v, polynomial(series, v), 0.5 * x);
}

/// x for x > 0, e^x - 1 otherwise.
template <VectorReal T>
TINYGRAD_DETAIL_INLINE inline T elu(T x) noexcept {
  return blend(x > T(0), x, expm1_nonpositive(blend(x > T(0), T(0), x)));
}

}  // namespace tinygrad::detail
