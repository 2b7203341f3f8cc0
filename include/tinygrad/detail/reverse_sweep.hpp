// SPDX-License-Identifier: MIT
#pragma once

// The reverse sweep: the one loop that turns a recording into gradients.
// See docs/design.md, "The reverse sweep".

#include <tinygrad/detail/tape_layout.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace tinygrad::detail {

/// The after_write of a sweep that checks nothing. Its type tells the sweep
/// that no one looks at the adjoints while it runs (see `carry` below).
struct NothingAfterWrite {
  void operator()(std::size_t, std::size_t, std::uint32_t, const void*, bool) const noexcept {}
};

/// Propagates `adjoint` from entry `out` down to entry 0, in place. Entries
/// with a zero adjoint are skipped: they do not influence the output, and
/// multiplying their partials (possibly infinite, as sqrt's at 0) would turn
/// 0 into NaN. `on_final(i, a)` sees each entry's adjoint when it is final,
/// that is, when the loop reaches it (nothing later can change it);
/// `after_write(i, k, j, partial, negated)` runs after operand k of entry i,
/// entry j, has received its share (`partial` points to the stored partial,
/// or is null for a unit one, -1 if `negated`): anomaly detection checks
/// adjoint[j] there.

template <class T, class OnFinal, class AfterWrite>
void reverse_sweep(const RecordingView<T>& recording, T* adjoint, std::uint32_t out,
                   OnFinal on_final, AfterWrite after_write) {
  // Most operands are the entry just before their own (a chain: z = w * a,
  // then z + b, then sigmoid of that). So the loop holds the next entry's
  // adjoint in a register, `next`, read from memory one entry ahead, and
  // shares for that entry go there instead of through memory, where each
  // would wait for the store before it. It adds the same shares in the same
  // order, so the gradients are the same to the bit. Only for numbers, and
  // only when nothing inspects the adjoints as they are written.
  constexpr bool carries =
      std::is_floating_point_v<T> && std::is_same_v<AfterWrite, NothingAfterWrite>;
  [[maybe_unused]] std::conditional_t<carries, T, float> next{};
  if constexpr (carries) {
    next = adjoint[out];
  }

  // The cursors as pointers, stepped here rather than by RecordingView::step
  // on a Cursor, which g++ keeps in memory instead of registers.
  const Cursor end = recording.begin_of(std::size_t{out} + 1);  // walking back from there
  const std::uint32_t* operand = recording.operand_index + end.operand;
  const T* partial = recording.operand_partial + end.partial;
  const std::uint32_t* wide_count = recording.wide_count + end.wide;
  // One entry: step back over its operands (even when it is skipped), then
  // pass its adjoint on.
  const auto visit = [&](std::size_t i, unsigned code) TINYGRAD_DETAIL_HOT_INLINE {
    std::size_t n = shape_steps.operands[code];
    if (n == ShapeSteps::wide) [[unlikely]] {
      n = *--wide_count;
      partial -= (code & shape::unit) != 0 ? 0 : n;
    }
    operand -= n;
    partial -= shape_steps.partials[code];

    T a;
    if constexpr (carries) {
      a = next;
      adjoint[i] = a;
      next = adjoint[i - (i != 0)];  // entry 0 has no operands: nothing goes to `next`
    } else {
      a = adjoint[i];
    }
    // Skipping a zero adjoint is right for numbers. For a Var adjoint (second
    // derivatives) a zero value can still carry a nonzero derivative, so
    // nothing is skipped.
    if constexpr (std::is_floating_point_v<T>) {
      if (a == T(0)) {
        return;
      }
    }
    on_final(i, a);
    const bool unit = (code & shape::unit) != 0;
    const bool negated = unit && (code & shape::negated_last) != 0;
    const auto add_to = [&](std::size_t k, const T& share) TINYGRAD_DETAIL_HOT_INLINE {
      const std::uint32_t j = operand[k];
      if constexpr (carries) {
        if (j + 1 == i) {
          next += share;
          return;
        }
      }
      adjoint[j] += share;
      after_write(i, k, j, unit ? nullptr : partial + k, negated && k + 1 == n);
    };
    // Entries have 1 to 3 operands but for wide ones; spelling the cases out
    // keeps the compiler from wrapping a vectorised loop, with its set-up,
    // around so few.
    if (unit) {
      const T last = negated ? -a : a;
      if (n == 2) {
        add_to(0, a);
        add_to(1, last);
      } else if (n == 1) {
        add_to(0, last);
      } else {
        for (std::size_t k = 0; k < n; ++k) {  // a wide sum: never negated
          add_to(k, a);
        }
      }
    } else if (n != 0) {
      add_to(0, partial[0] * a);
      if (n == 2) {
        add_to(1, partial[1] * a);
      } else if (n == 3) {
        add_to(1, partial[1] * a);
        add_to(2, partial[2] * a);
      } else if (n > 3) [[unlikely]] {
        for (std::size_t k = 1; k < n; ++k) {
          add_to(k, partial[k] * a);
        }
      }
    }
  };
  std::size_t i = std::size_t{out} + 1;  // entries i - 1 down to 0 remain
  if constexpr (carries) {
    // Two entries at a time, so that a pair of leaves, or a pair whose
    // adjoints are both zero (entries that do not reach the output, or a
    // gradient that underflowed) and neither wide, is stepped over at once.
    for (; i >= 2; i -= 2) {
      const unsigned upper = recording.shapes[i - 1], lower = recording.shapes[i - 2];
      if ((upper | lower) == 0) {
        // Two leaves (shape 0), such as the parameters at the bottom of the
        // tape: they pass nothing on, so their adjoints are final as they
        // stand, once the carried one is stored.
        const T a_upper = next;
        adjoint[i - 1] = a_upper;
        const T a_lower = adjoint[i - 2];
        next = adjoint[i - 2 - (i != 2)];
        if (a_upper != T(0)) {
          on_final(i - 1, a_upper);
        }
        if (a_lower != T(0)) {
          on_final(i - 2, a_lower);
        }
        continue;
      }
      if (next == T(0) && adjoint[i - 2] == T(0) &&
          shape_steps.operands[upper] != ShapeSteps::wide &&
          shape_steps.operands[lower] != ShapeSteps::wide) {
        adjoint[i - 1] = next;
        next = adjoint[i - 2 - (i != 2)];
        operand -= shape_steps.operands[upper] + shape_steps.operands[lower];
        partial -= shape_steps.partials[upper] + shape_steps.partials[lower];
        continue;
      }
      visit(i - 1, upper);
      visit(i - 2, lower);
    }
  }
  while (i-- > 0) {
    visit(i, recording.shapes[i]);
  }
}

/// The sweep when nothing else needs the adjoints: they are the gradients.
/// Never throws for numbers; a nested tape's sweep records on the tape
/// below, which may (a full tape, no memory).
template <class T>
void reverse_sweep(const RecordingView<T>& recording, T* adjoint,
                   std::uint32_t out) noexcept(std::is_floating_point_v<T>) {
  reverse_sweep(
      recording, adjoint, out, [](std::size_t, const T&) noexcept {}, NothingAfterWrite{});
}

/// The sweep on a scratch array whose final adjoints are added to `grads`:
/// how backward() accumulates (docs/design.md, "Accumulation").
template <class T>
void reverse_sweep_accumulating(const RecordingView<T>& recording, T* scratch, std::uint32_t out,
                                T* grads) noexcept(std::is_floating_point_v<T>) {
  reverse_sweep(
      recording, scratch, out,
      [grads](std::size_t i, const T& a) noexcept(std::is_floating_point_v<T>) { grads[i] += a; },
      NothingAfterWrite{});
}

}  // namespace tinygrad::detail
