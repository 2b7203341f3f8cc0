// SPDX-License-Identifier: MIT
#pragma once

// Activation policies over whole arrays of plain numbers: forward y = f(x),
// backward dx = dy * f'(x). (activate<P> over a span of Vars, which records a
// batch with values and derivatives from the same loops, is in math.hpp.)
//
//   std::vector<float> x = ..., y(x.size());
//   tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(x), std::span<float>(y));
//
// Each kernel is a plain loop over the policy's scalar functions; for the
// built-in policies those are written to vectorise (detail/vector_math.hpp),
// so the kernels and the tape compute the same formulas bit for bit. A user's
// policy works too: its loop vectorises as far as its functions let it.
//
// Sizes must match (std::invalid_argument otherwise). An output may be the
// same array as an input (in place) or share no element with it; a partial
// overlap is an error, because a loop that vectorises would read elements it
// had already overwritten.

#include <tinygrad/activation.hpp>
#include <tinygrad/detail/traits.hpp>
#include <tinygrad/error.hpp>
#include <tinygrad/instruction_set.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tinygrad {

namespace detail {

/// f'(x) times dy, given y = f(x): P::backward(x, y, dy) where the policy has
/// a cheaper way (sigmoid and tanh from y, ELU from y below the kink), and
/// dy * P::derivative(x), exactly as the tape's sweep would form it, otherwise.
template <class P, class T>
TINYGRAD_DETAIL_INLINE inline T backward_element(T x, T y, T dy) noexcept {
  if constexpr (requires {
                  { P::backward(x, y, dy) } -> std::same_as<T>;
                }) {
    return P::backward(x, y, dy);
  } else {
    return dy * P::derivative(x);
  }
}

inline std::string kernel_name(const char* kernel, const char* policy) {
  return std::string("tinygrad::") + kernel + "<" + policy + ">";
}

/// Whether [a, a + n) and [b, b + n) share elements without being the same
/// array. std::less gives pointers into different arrays a total order.
template <class A, class B>
bool overlap_partially(const A* a, const B* b, std::size_t n) noexcept {
  const void* const a_begin = a;
  const void* const b_begin = b;
  if (n == 0 || a_begin == b_begin) {
    return false;
  }
  const std::less<const void*> before;
  return before(a_begin, static_cast<const void*>(b + n)) &&
         before(b_begin, static_cast<const void*>(a + n));
}

inline void require_no_partial_overlap(const char* kernel, const char* policy, const char* output,
                                       const char* input, bool overlap) {
  if (overlap) {
    throw std::invalid_argument(kernel_name(kernel, policy) + ": " + output + " overlaps " + input +
                                " without being the same array; in-place use must pass the same "
                                "span for both");
  }
}

inline void require_available(const char* kernel, const char* policy, InstructionSet set) {
  if (!instruction_set_available(set)) {
    throw std::invalid_argument(kernel_name(kernel, policy) + ": instruction set " +
                                instruction_set_name(set) + " is not available here");
  }
}

// The loops. Where the output is a separate array, __restrict tells the
// compiler so; where it is the same array as an input, the loop names it once.
// Either way nothing stands between the loop and the vectoriser (an unknown
// alias would make it add a run-time overlap test that in-place use fails).
// They are forced inline so that run_kernel compiles each one for every
// instruction set it dispatches to (instruction_set.hpp).

template <class P, class T>
TINYGRAD_DETAIL_INLINE inline void forward_separate(const T* __restrict x, T* __restrict y,
                                                    std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = P::value(x[i]);
  }
}

template <class P, class T>
TINYGRAD_DETAIL_INLINE inline void forward_in_place(T* xy, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    xy[i] = P::value(xy[i]);
  }
}

template <class P, class T>
TINYGRAD_DETAIL_INLINE inline void backward_separate(const T* __restrict x, const T* __restrict y,
                                                     const T* __restrict dy, T* __restrict dx,
                                                     std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    dx[i] = backward_element<P>(x[i], y[i], dy[i]);
  }
}

/// dx is the same array as at least one input (usually dy).
template <class P, class T>
TINYGRAD_DETAIL_INLINE inline void backward_in_place(const T* x, const T* y, const T* dy, T* dx,
                                                     std::size_t n) noexcept {
  if (dx == dy && dx != x && dx != y) {  // the common case gets a vectorisable loop
    const T* __restrict x_only = x;
    const T* __restrict y_only = y;
    for (std::size_t i = 0; i < n; ++i) {
      dx[i] = backward_element<P>(x_only[i], y_only[i], dx[i]);
    }
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    dx[i] = backward_element<P>(x[i], y[i], dy[i]);
  }
}

}  // namespace detail

/// y[i] = P::value(x[i]). y may be x itself (in place). `set` is the
/// instruction set to run with (instruction_set.hpp): by default the
/// process-wide choice; InstructionSet::compiled gives P::value's results bit
/// for bit.
/// Throws std::invalid_argument if the sizes differ, y partially overlaps x,
/// or `set` is not available here.
template <class P, std::floating_point T>
void forward(std::span<const T> x, std::span<T> y, InstructionSet set = kernel_instruction_set()) {
  static_assert(ActivationPolicy<P, T>,
                "tinygrad::forward<P>: P must be an activation policy with static T value(T) and "
                "static T derivative(T).");
  constexpr const char* name = detail::policy_name<P>();
  detail::require_same_size("forward", "x", x.size(), "y", y.size(), name);
  detail::require_no_partial_overlap("forward", name, "y", "x",
                                     detail::overlap_partially(y.data(), x.data(), x.size()));
  detail::require_available("forward", name, set);
  if (static_cast<const T*>(y.data()) == x.data()) {
    detail::run_kernel<&detail::forward_in_place<P, T>>(set, y.data(), y.size());
  } else {
    detail::run_kernel<&detail::forward_separate<P, T>>(set, x.data(), y.data(), x.size());
  }
}

/// dx[i] = dy[i] * f'(x[i]), where (x, y) are the forward pass's input and
/// output (y[i] = P::value(x[i])); each policy reads what is cheapest:
/// sigmoid and tanh read only y, ReLU, LeakyReLU and the smooth ones x, ELU
/// both. dx may be dy, x or y itself (in place).
///
/// From y, f' is exact only as far as y is: y(1 - y) for sigmoid and 1 - y^2
/// for tanh lose relative precision where y rounds to +-1 (|x| beyond about 9
/// in float, 19 in double), where the true derivative is below ulp(1). The
/// tape (activate<P>) uses P::derivative(x), which is accurate there too.
/// `set` as for forward().
/// Throws std::invalid_argument if the sizes differ, dx partially overlaps
/// an input, or `set` is not available here.
template <class P, std::floating_point T>
void backward(std::span<const T> x, std::span<const T> y, std::span<const T> dy, std::span<T> dx,
              InstructionSet set = kernel_instruction_set()) {
  static_assert(ActivationPolicy<P, T>,
                "tinygrad::backward<P>: P must be an activation policy with static T value(T) "
                "and static T derivative(T).");
  constexpr const char* name = detail::policy_name<P>();
  detail::require_same_size("backward", "x", x.size(), "y", y.size(), name);
  detail::require_same_size("backward", "x", x.size(), "dy", dy.size(), name);
  detail::require_same_size("backward", "x", x.size(), "dx", dx.size(), name);
  const std::size_t n = x.size();
  detail::require_no_partial_overlap("backward", name, "dx", "x",
                                     detail::overlap_partially(dx.data(), x.data(), n));
  detail::require_no_partial_overlap("backward", name, "dx", "y",
                                     detail::overlap_partially(dx.data(), y.data(), n));
  detail::require_no_partial_overlap("backward", name, "dx", "dy",
                                     detail::overlap_partially(dx.data(), dy.data(), n));
  detail::require_available("backward", name, set);
  const T* out = dx.data();
  if (out == x.data() || out == y.data() || out == dy.data()) {
    detail::run_kernel<&detail::backward_in_place<P, T>>(set, x.data(), y.data(), dy.data(),
                                                         dx.data(), n);
  } else {
    detail::run_kernel<&detail::backward_separate<P, T>>(set, x.data(), y.data(), dy.data(),
                                                         dx.data(), n);
  }
}

/// forward and backward over any contiguous ranges (std::vector, std::array,
/// C arrays, spans) of one floating-point type; the outputs writable.
template <class P, detail::FloatingRange X, class Y>
requires detail::WritableRangeOf<Y, detail::RangeElement<X>>
void forward(const X& x, Y&& y, InstructionSet set = kernel_instruction_set()) {
  using T = detail::RangeElement<X>;
  forward<P, T>(std::span<const T>(x), std::span<T>(y), set);
}

template <class P, detail::FloatingRange X, class Y, class DY, class DX>
requires detail::ContiguousRangeOf<Y, detail::RangeElement<X>> &&
    detail::ContiguousRangeOf<DY, detail::RangeElement<X>> &&
    detail::WritableRangeOf<DX, detail::RangeElement<X>>
void backward(const X& x, const Y& y, const DY& dy, DX&& dx,
              InstructionSet set = kernel_instruction_set()) {
  using T = detail::RangeElement<X>;
  backward<P, T>(std::span<const T>(x), std::span<const T>(y), std::span<const T>(dy),
                 std::span<T>(dx), set);
}

}  // namespace tinygrad
