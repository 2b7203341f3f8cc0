// SPDX-License-Identifier: MIT
#pragma once

// What the library asks of the types it works with: the number types of a
// Var and a Tape, the scalars that mix with a Var, and the element types the
// recording may move with realloc.

#include <cmath>
#include <concepts>
#include <ranges>
#include <type_traits>

namespace tinygrad {

template <class T>
class Var;

namespace detail {

/// Whether T is a Var (of anything).
template <class T>
inline constexpr bool is_var = false;
template <class U>
inline constexpr bool is_var<Var<U>> = true;

/// Whether T is a Dual (dual.hpp specialises this).
template <class T>
inline constexpr bool is_dual = false;

/// The value types a Var and a Tape accept: floating-point numbers, Vars of
/// them for second derivatives (each level recording on its own tape), and
/// Duals of them (forward over reverse: dual.hpp).
template <class T>
concept Real = std::floating_point<T> || is_var<T> || is_dual<T>;

/// A plain number that may be mixed with a Var: any arithmetic type but bool.
template <class S>
concept Scalar = std::is_arithmetic_v<S> && !std::same_as<std::remove_cv_t<S>, bool>;

/// The ranges the library takes where it takes many values: contiguous ones
/// (a std::vector, a std::array, a C array, a std::span), whose elements a
/// std::span can view.
template <class R>
using RangeElement = std::remove_cv_t<std::ranges::range_value_t<R>>;

/// A contiguous range of E, to read.
template <class R, class E>
concept ContiguousRangeOf = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    std::same_as<RangeElement<R>, E>;

/// A contiguous range of E whose elements may be written.
template <class R, class E>
concept WritableRangeOf = ContiguousRangeOf<R, E> &&
    !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>;

/// A contiguous range of floating-point numbers.
template <class R>
concept FloatingRange = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    std::floating_point<RangeElement<R>>;

/// A contiguous range of Vars (of any one type).
template <class R>
concept VarRange =
    std::ranges::contiguous_range<R> && std::ranges::sized_range<R> && is_var<RangeElement<R>>;

/// The T of a range of Var<T>.
template <class R>
using VarRangeValue = typename RangeElement<R>::value_type;

/// The floating-point type at the bottom of a nest of Vars (and Duals,
/// which dual.hpp adds): double for double, Var<double> and
/// Var<Var<double>>.
template <class T>
struct innermost {
  using type = T;
};
template <class U>
struct innermost<Var<U>> : innermost<U> {};
template <class T>
using Innermost = typename innermost<T>::type;

/// The element types the recording's arrays may move with std::realloc
/// (recording.hpp): trivially copyable ones, and Var, the partials of a
/// nested tape, whose copy constructor only clears the `fresh` flag, which a
/// move (the old copy disappears) may keep.
template <class E>
inline constexpr bool relocatable_by_realloc = std::is_trivially_copyable_v<E>;
template <class U>
inline constexpr bool relocatable_by_realloc<Var<U>> = true;

/// How constant_of makes a T of a plain number: static_cast, except for a
/// Var, for which var_type.hpp specialises it.
template <class T>
struct ConstantOf {
  template <class S>
  static T of(S c) noexcept(std::is_nothrow_constructible_v<T, S>) {
    return static_cast<T>(c);
  }
};

/// The number c as a T that records nothing: T(c) for a floating-point T,
/// and for a Var a constant (Var::is_constant), level by level. In a nested
/// recording T is a Var, and T(c) would be a leaf on the tape below: a 1 or
/// the c of c * x stored as a partial would cost an entry there, and each
/// product by it in the outer sweep an operand more.
template <class T, class S>
T constant_of(S c) noexcept(noexcept(ConstantOf<T>::of(c))) {
  return ConstantOf<T>::of(c);
}

/// The number c to combine with a T in arithmetic (x + c, c * x): T(c),
/// except for a Var, whose own operators take the plain number (its
/// innermost type) without recording it, where a Var made of it would be a
/// leaf or a constant operand, which records on a slower path.
template <class T, class S>
auto operand_of(S c) noexcept(is_var<T> || std::is_nothrow_constructible_v<T, S>) {
  if constexpr (is_var<T>) {
    return static_cast<typename innermost<T>::type>(c);
  } else {
    return static_cast<T>(c);
  }
}

/// Whether a T holds a finite number (for a Var or a Dual, its innermost
/// value).
template <class T>
bool is_finite(const T& x) noexcept {
  if constexpr (is_var<T> || is_dual<T>) {
    return is_finite(x.value());
  } else {
    return std::isfinite(x);
  }
}

/// A number as anomaly reports show it (for a Var or a Dual, its innermost
/// value).
template <class T>
long double widened(const T& x) noexcept {
  if constexpr (is_var<T> || is_dual<T>) {
    return widened(x.value());
  } else {
    return static_cast<long double>(x);
  }
}

}  // namespace detail

}  // namespace tinygrad
