// SPDX-License-Identifier: MIT
#pragma once

// The reverse sweep: the one loop that turns a recording into gradients.
// See docs/design.md, "The reverse sweep".

#include <tinygrad/detail/tape_layout.hpp>
#include <tinygrad/detail/traits.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace tinygrad::detail {

/// The after_write of a sweep that checks nothing.
struct NothingAfterWrite {
  void operator()(std::size_t, std::size_t, std::uint32_t, const void*, bool) const noexcept {}
};

/// The on_final of a sweep that looks at no adjoint as it becomes final. Its
/// type tells the sweep that it may step over a run of leaves at once.
struct NothingOnFinal {
  template <class A>
  void operator()(std::size_t, const A&) const noexcept {}
};

/// The lowest entry of the run of leaves (shape 0) that ends at entry
/// `leaf`, eight shape bytes at a time: the parameters at the bottom of a
/// tape are such a run, often half its entries. Out of line: inlined, it
/// takes registers that the sweep's loop then spills, on every entry.
TINYGRAD_DETAIL_COLD inline std::size_t first_of_leaf_run(const std::uint8_t* shapes,
                                                          std::size_t leaf) noexcept {
  std::size_t first = leaf;
  std::uint64_t eight = 0;
  while (first >= sizeof eight &&
         (std::memcpy(&eight, shapes + first - sizeof eight, sizeof eight), eight == 0)) {
    first -= sizeof eight;
  }
  while (first > 0 && shapes[first - 1] == 0) {
    --first;
  }
  return first;
}

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
  // The cursors as pointers, stepped here rather than by RecordingView::step
  // on a Cursor, which g++ keeps in memory instead of registers.
  const Cursor end = recording.begin_of(std::size_t{out} + 1);  // walking back from there
  const std::uint32_t* operand = recording.operand_index + end.operand;
  const T* partial = recording.operand_partial + end.partial;
  const std::uint32_t* wide_count = recording.wide_count + end.wide;

  // Whether entry i, whose adjoint is `a`, passes anything on. Skipping a
  // zero adjoint is right for numbers. For a Var adjoint (second
  // derivatives) a zero value can still carry a nonzero derivative, so
  // nothing is skipped.
  const auto passes_on = [&](std::size_t i, const T& a) TINYGRAD_DETAIL_HOT_INLINE {
    if constexpr (std::is_floating_point_v<T>) {
      if (a == T(0)) {
        return false;
      }
    }
    on_final(i, a);
    return true;
  };
  // On a tape of Var<U> for a number U (second derivatives) every product
  // and sum below records on the tape below, and the forward sweeps and
  // sparsity passes over that recording pay for each entry. So a share is
  // formed and added with as few entries as give the same values:
  // - a constant partial (the c of c * x: constant_of) is the number it
  //   holds, and +-1 is no product at all: a * 1 is a, and a * -1 added is
  //   a subtracted (x + (-a) and x - a are the same number);
  // - an adjoint that is the constant 1 (the seed, passed down a sum) times
  //   a partial is that partial; another constant adjoint (the 100 that
  //   100 * x passes down) is the number it holds, times which a partial
  //   records as p * c does, but on the inline path: as a constant Var it
  //   takes the out-of-line one for unusual operands, to the same entry;
  // - an adjoint that is still a constant 0 takes a nonzero share as it is
  //   (0 + s is s; for s = -0 it is +0, so a zero share is added).
  constexpr bool nested_on_numbers = [] {
    if constexpr (is_var<T>) {
      return std::is_floating_point_v<typename T::value_type>;
    } else {
      return false;
    }
  }();
  // Operand k of entry i (its partial at `p`; null for a unit one, -1 if
  // `negated`) receives `share`, negated if `negated`.
  const auto add_to = [&](std::size_t i, std::size_t k, const T& share, const T* p, bool negated)
                          TINYGRAD_DETAIL_HOT_INLINE {
                            const std::uint32_t j = operand[k];
                            if constexpr (nested_on_numbers) {
                              T& into = adjoint[j];
                              const bool is_zero = into.is_constant() && into.value() == 0;
                              if (is_zero && share.value() != 0) {
                                into = negated ? T(-share) : share;
                              } else if (negated && !into.is_constant()) {
                                into -= share;
                              } else {
                                into += negated ? T(-share) : share;
                              }
                            } else {
                              adjoint[j] += negated ? T(-share) : share;
                            }
                            after_write(i, k, j, p, negated);
                          };
  // Operand k of entry i receives its stored partial at `p` times `a`.
  const auto add_product_to = [&](std::size_t i, std::size_t k, const T* p, const T& a)
                                  TINYGRAD_DETAIL_HOT_INLINE {
                                    if constexpr (nested_on_numbers) {
                                      if (p->is_constant()) {
                                        const auto c = p->value();
                                        if (c == 1 || c == -1) {
                                          add_to(i, k, a, p, c == -1);
                                        } else {
                                          add_to(i, k, a * c, p, false);
                                        }
                                        return;
                                      }
                                      if (a.is_constant()) {
                                        const auto c = a.value();
                                        if (c == 1) {
                                          add_to(i, k, *p, p, false);
                                        } else {
                                          add_to(i, k, *p * c, p, false);
                                        }
                                        return;
                                      }
                                    }
                                    add_to(i, k, *p * a, p, false);
                                  };

  // An entry's adjoint, read once: a number (or a Dual) as a copy, which the
  // compiler keeps in registers; a Var (a nested tape) by reference, since a
  // copy of one is 24 bytes and a flag written back to its source. The
  // reference stays valid: the shares go to operands, always below i.
  using Adjoint = std::conditional_t<std::is_trivially_copyable_v<T>, const T, const T&>;

  // One case per shape, each with its operand count known, so that the
  // compiler spells the one to three operands out: a loop over so few is
  // what it would wrap in vectorised set-up code.
  const auto stored = [&]<std::size_t... k>(std::size_t i, std::index_sequence<k...>)
      TINYGRAD_DETAIL_HOT_INLINE {
    operand -= sizeof...(k);
    partial -= sizeof...(k);
    const Adjoint a = adjoint[i];
    if (passes_on(i, a)) {
      (add_product_to(i, k, partial + k, a), ...);
    }
  };
  const auto unit = [&]<std::size_t... k>(std::size_t i, bool negated_last,
                                          std::index_sequence<k...>) TINYGRAD_DETAIL_HOT_INLINE {
    constexpr std::size_t last = sizeof...(k) - 1;
    operand -= sizeof...(k);
    const Adjoint a = adjoint[i];
    if (passes_on(i, a)) {
      (add_to(i, k, a, nullptr, negated_last && k == last), ...);
    }
  };
  // Wide entries (and any code that no entry has: the table decodes it).
  const auto wide = [&](std::size_t i, unsigned code) {
    const bool is_unit = (code & shape::unit) != 0;
    std::size_t n = shape_steps.operands[code];
    if (n == ShapeSteps::wide) {
      n = *--wide_count;
    }
    operand -= n;
    partial -= is_unit ? 0 : n;
    const Adjoint a = adjoint[i];
    if (!passes_on(i, a) || n == 0) {  // on_final first: a sum of constants has no operands
      return;
    }
    if (!is_unit) {
      for (std::size_t k = 0; k < n; ++k) {
        add_product_to(i, k, partial + k, a);
      }
      return;
    }
    const bool negated_last = (code & shape::negated_last) != 0;
    for (std::size_t k = 0; k + 1 < n; ++k) {
      add_to(i, k, a, nullptr, false);
    }
    add_to(i, n - 1, a, nullptr, negated_last);
  };

  for (std::size_t i = std::size_t{out} + 1; i-- > 0;) {
    const unsigned code = recording.shape_of(i);
    switch (code) {
      case 0:  // a leaf: it passes nothing on
        if constexpr (std::is_same_v<OnFinal, NothingOnFinal>) {
          i = first_of_leaf_run(recording.shapes, i);  // the loop goes on below the run
        } else {
          passes_on(i, adjoint[i]);
        }
        break;
      case shape::stored(1):
        stored(i, std::make_index_sequence<1>{});
        break;
      case shape::stored(2):
        stored(i, std::make_index_sequence<2>{});
        break;
      case shape::stored(3):
        stored(i, std::make_index_sequence<3>{});
        break;
      case shape::unit | 1:
        unit(i, false, std::make_index_sequence<1>{});
        break;
      case shape::unit | 2:
        unit(i, false, std::make_index_sequence<2>{});
        break;
      case shape::unit | shape::negated_last | 1:
        unit(i, true, std::make_index_sequence<1>{});
        break;
      case shape::unit | shape::negated_last | 2:
        unit(i, true, std::make_index_sequence<2>{});
        break;
      default:
        wide(i, code);
        break;
    }
  }
}

/// The sweep when nothing else needs the adjoints: they are the gradients.
/// Never throws for numbers; a nested tape's sweep records on the tape
/// below, which may (a full tape, no memory).
template <class T>
void reverse_sweep(const RecordingView<T>& recording, T* adjoint,
                   std::uint32_t out) noexcept(std::is_floating_point_v<T>) {
  reverse_sweep(recording, adjoint, out, NothingOnFinal{}, NothingAfterWrite{});
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
