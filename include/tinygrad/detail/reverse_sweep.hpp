// SPDX-License-Identifier: MIT
#pragma once

// The reverse sweep: the one loop that turns a recording into gradients.
// See docs/design.md, "The reverse sweep".

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace tinygrad::detail {

/// The recording as the sweep reads it: operands of entry i are
/// [operand_begin[i], operand_begin[i + 1]), each an entry index below i and
/// the partial derivative of entry i with respect to it.
template <class T>
struct RecordingView {
  const std::uint32_t* operand_begin;
  const std::uint32_t* operand_index;
  const T* operand_partial;
};

/// Propagates `adjoint` from entry `out` down to entry 0, in place. Entries
/// with a zero adjoint are skipped: they do not influence the output, and
/// multiplying their partials (possibly infinite, as sqrt's at 0) would turn
/// 0 into NaN. `on_final(i, a)` sees each entry's adjoint when it is final,
/// that is, when the loop reaches it (nothing later can change it);
/// `after_write(i, k)` runs after operand k of entry i has received its share
/// (anomaly detection checks it there; elsewhere it is empty and compiles
/// away).
template <class T, class OnFinal, class AfterWrite>
void reverse_sweep(const RecordingView<T>& recording, T* adjoint, std::uint32_t out,
                   OnFinal on_final, AfterWrite after_write) {
  const std::uint32_t* begin = recording.operand_begin;
  const std::uint32_t* index = recording.operand_index;
  const T* partial = recording.operand_partial;
  std::uint32_t end = begin[out + 1];  // one past entry i's operands, for i = out
  for (std::size_t i = std::size_t{out} + 1; i-- > 0;) {
    const std::uint32_t first = begin[i];
    const T a = adjoint[i];
    // Skipping a zero adjoint is right for numbers. For a Var adjoint (second
    // derivatives) a zero value can still carry a nonzero derivative, so
    // nothing is skipped.
    bool contributes = true;
    if constexpr (std::is_floating_point_v<T>) {
      contributes = a != T(0);
    }
    if (contributes) {
      on_final(i, a);
      // Entries have 0, 1 or 2 operands; this form keeps the compiler from
      // wrapping a vectorised loop, with its set-up, around so few.
      std::uint32_t k = first;
      for (; k + 1 < end; k += 2) {
        adjoint[index[k]] += partial[k] * a;
        after_write(i, k - first);
        adjoint[index[k + 1]] += partial[k + 1] * a;
        after_write(i, k + 1 - first);
      }
      if (k < end) {
        adjoint[index[k]] += partial[k] * a;
        after_write(i, k - first);
      }
    }
    end = first;
  }
}

inline constexpr auto nothing_after_write = [](std::size_t, std::uint32_t) noexcept {};

/// The sweep when nothing else needs the adjoints: they are the gradients.
template <class T>
void reverse_sweep(const RecordingView<T>& recording, T* adjoint, std::uint32_t out) noexcept {
  reverse_sweep(
      recording, adjoint, out, [](std::size_t, T) noexcept {}, nothing_after_write);
}

/// The sweep on a scratch array whose final adjoints are added to `grads`:
/// how backward() accumulates (docs/design.md, "Accumulation").
template <class T>
void reverse_sweep_accumulating(const RecordingView<T>& recording, T* scratch, std::uint32_t out,
                                T* grads) noexcept {
  reverse_sweep(
      recording, scratch, out, [grads](std::size_t i, T a) noexcept { grads[i] += a; },
      nothing_after_write);
}

}  // namespace tinygrad::detail
