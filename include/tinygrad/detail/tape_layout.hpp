// SPDX-License-Identifier: MIT
#pragma once

// How a tape's entries are laid out in memory: what recording.hpp writes and
// reverse_sweep.hpp reads. See docs/design.md, "The tape layout".

#include <tinygrad/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace tinygrad::detail {

/// An entry's shape: a byte (of which four bits are used) that says how many
/// operands it has and whether their partial derivatives are stored.
namespace shape {
inline constexpr unsigned count_mask = 3;    // 0, 1 or 2 operands, or
inline constexpr unsigned wide = 3;          //   as many as the wide-count array says
inline constexpr unsigned unit = 4;          // every partial is +1 and none is stored,
inline constexpr unsigned negated_last = 8;  //   except the last operand's, -1
// negated_last without unit (which no other entry has): three operands,
// partials stored, the commonest result of fusion (design.md).
inline constexpr unsigned three_stored = negated_last;

/// The shape of an entry with 0 to 3 operands whose partials are stored.
constexpr unsigned stored(unsigned operands) noexcept {
  return operands == 3 ? three_stored : operands;
}
}  // namespace shape

/// Which partials an entry stores: all of them, or none because they are
/// +1 (x + y, x + c), or +1 but the last -1 (x - y, c - x, -x).
enum class Partials : std::uint8_t { stored, unit, unit_negated_last };

constexpr unsigned shape_code(std::size_t operands, Partials partials) noexcept {
  if (operands <= 3 && partials == Partials::stored) {
    return shape::stored(static_cast<unsigned>(operands));
  }
  const unsigned count = operands <= 2 ? static_cast<unsigned>(operands) : shape::wide;
  switch (partials) {
    case Partials::stored:
      return count;  // wide
    case Partials::unit:
      return count | shape::unit;
    case Partials::unit_negated_last:
      return count | shape::unit | shape::negated_last;
  }
  return count;
}

/// How far an entry of each shape moves the cursors back (a wide one:
/// `wide`: its count is in the wide-count array). A table, which costs
/// fewer instructions than decoding the bits: every walk over the entries
/// (RecordingView::step) reads it, and so do the reverse sweep, for the
/// shapes its cases do not spell out, and the recording's general paths.
struct ShapeSteps {
  static constexpr std::uint8_t wide = 0xFF;
  std::uint8_t operands[16];
  std::uint8_t partials[16];
};
inline constexpr ShapeSteps shape_steps = [] {
  ShapeSteps table{};
  for (unsigned code = 0; code < 16; ++code) {
    const bool stored = (code & shape::unit) == 0;
    const unsigned count = code == shape::three_stored ? 3 : code & shape::count_mask;
    table.operands[code] = count == shape::wide && code != shape::three_stored
                               ? ShapeSteps::wide
                               : static_cast<std::uint8_t>(count);
    table.partials[code] =
        table.operands[code] != ShapeSteps::wide && stored ? static_cast<std::uint8_t>(count) : 0;
  }
  return table;
}();

/// Which way a cursor steps over an entry (RecordingView::step).
enum class Direction { back, forward };

/// Positions in the three operand arrays: where an entry's operands begin
/// (or, read after it, end).
struct Cursor {
  std::size_t operand = 0;  // in operand_index
  std::size_t partial = 0;  // in operand_partial: operands minus unit partials
  std::size_t wide = 0;     // in wide_count
};

/// The recording as the sweep and the inspection functions read it.
///
/// Operands are stored in entry order, so an entry's operands are found by
/// walking: entry i's begin where entry i - 1's end. Nothing stores an
/// entry's position, which keeps an entry at a byte plus its operands;
/// the reverse sweep walks backwards anyway. Random access to entry i costs
/// a walk back from the end (begin_of), which only cold paths need.
template <class T>
struct RecordingView {
  const std::uint8_t* shapes = nullptr;          // per entry: its shape, see `shape`
  const std::uint32_t* operand_index = nullptr;  // per operand: the entry it reads, below its own
  const T* operand_partial = nullptr;            // per stored partial: d(entry)/d(operand)
  const std::uint32_t* wide_count = nullptr;     // per wide entry: its operand count
  std::size_t entries = 0;
  Cursor end;  // one past the last entry's operands

  [[nodiscard]] unsigned shape_of(std::size_t entry) const noexcept { return shapes[entry]; }

  /// Moves `c` over an entry with shape `code`: from its end to its
  /// beginning (back) or from its beginning to its end (forward); returns
  /// how many operands the entry has. The reverse sweep steps its own
  /// pointers the same way (reverse_sweep.hpp), so that they stay in registers.
  template <Direction direction>
  std::size_t step(Cursor& c, unsigned code) const noexcept {
    std::size_t operands = shape_steps.operands[code];
    std::size_t partials = shape_steps.partials[code];
    if (operands == ShapeSteps::wide) {
      operands = direction == Direction::back ? wide_count[--c.wide] : wide_count[c.wide++];
      partials = (code & shape::unit) != 0 ? 0 : operands;
    }
    if constexpr (direction == Direction::back) {
      c.operand -= operands;
      c.partial -= partials;
    } else {
      c.operand += operands;
      c.partial += partials;
    }
    return operands;
  }

  /// The entries that entry `entry` reads: a walk back from the end (cold).
  [[nodiscard]] std::span<const std::uint32_t> operands_of(std::size_t entry) const noexcept {
    Cursor at = begin_of(entry);
    const std::size_t first = at.operand;
    return {operand_index + first, step<Direction::forward>(at, shape_of(entry))};
  }

  /// Where entry `entry`'s operands begin (entry == entries: the end).
  /// Walks back from the end: O(entries - entry).
  [[nodiscard]] Cursor begin_of(std::size_t entry) const noexcept {
    Cursor c = end;
    for (std::size_t i = entries; i-- > entry;) {
      step<Direction::back>(c, shape_of(i));
    }
    return c;
  }
};

}  // namespace tinygrad::detail
