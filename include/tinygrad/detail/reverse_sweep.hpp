// SPDX-License-Identifier: MIT
#pragma once

// The reverse sweep: the one loop that turns a recording into gradients.
// See docs/design.md, "The reverse sweep".

#include <cstddef>
#include <cstdint>

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
/// 0 into NaN. When `accumulate_into` is not null, each entry's adjoint is
/// added there the moment it is final, that is, when the loop reaches it.
template <class T>
void reverse_sweep(const RecordingView<T>& recording, T* adjoint, std::uint32_t out,
                   T* accumulate_into) noexcept {
  for (std::size_t i = std::size_t{out} + 1; i-- > 0;) {
    const T a = adjoint[i];
    if (a == T(0)) {
      continue;
    }
    if (accumulate_into != nullptr) {
      accumulate_into[i] += a;
    }
    const std::uint32_t end = recording.operand_begin[i + 1];
    for (std::uint32_t k = recording.operand_begin[i]; k < end; ++k) {
      adjoint[recording.operand_index[k]] += recording.operand_partial[k] * a;
    }
  }
}

}  // namespace tinygrad::detail
