// SPDX-License-Identifier: MIT
#pragma once

// The storage of a tape's entries: flat arrays with one capacity check per
// recorded operation. See docs/design.md, "The tape layout".

#include <tinygrad/detail/tape_layout.hpp>
#include <tinygrad/detail/traits.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

namespace tinygrad::detail {

struct TapeInternals;  // defined by tests only

/// An array of trivially copyable elements whose size is kept by its owner,
/// so that one check covers several arrays. The memory is raw: no element is
/// constructed until it is written, so growing costs no constructor call per
/// element (a nested tape's partials are Vars).
///
/// It grows with std::realloc, which its element types allow
/// (relocatable_by_realloc): for a large array glibc moves the pages (mremap)
/// instead of copying them, so a growing tape never holds its old and its new
/// arrays at once (docs/design.md, "The tape layout").
template <class E>
class RawArray {
  static_assert(relocatable_by_realloc<E> && std::is_trivially_destructible_v<E>);
  static_assert(alignof(E) <= alignof(std::max_align_t), "malloc's alignment must suffice");

 public:
  RawArray() = default;
  explicit RawArray(std::size_t capacity) { reallocate(capacity); }
  RawArray(RawArray&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), capacity_(std::exchange(other.capacity_, 0)) {}
  RawArray& operator=(RawArray&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
    return *this;
  }
  RawArray(const RawArray&) = delete;
  RawArray& operator=(const RawArray&) = delete;
  ~RawArray() { std::free(data_); }

  [[nodiscard]] E* data() noexcept { return data_; }
  [[nodiscard]] const E* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// Sets the capacity, keeping the first min(old, new) elements. Throws
  /// std::bad_alloc, with the array unchanged, if the memory is not there.
  void reallocate(std::size_t capacity) {
    const std::size_t slots = std::max<std::size_t>(capacity, 1);  // realloc(p, 0) may free p
    if (slots > std::numeric_limits<std::size_t>::max() / sizeof(E)) {
      throw std::bad_alloc();
    }
    // void*: g++ warns about realloc on a Var, which relocatable_by_realloc allows.
    void* grown = std::realloc(static_cast<void*>(data_), slots * sizeof(E));
    if (grown == nullptr) {
      throw std::bad_alloc();
    }
    data_ = static_cast<E*>(grown);
    capacity_ = slots;
  }

 private:
  E* data_ = nullptr;
  std::size_t capacity_ = 0;
};

/// The entries of one tape, in four arrays (docs/design.md, "The tape
/// layout"): a shape per entry, and per operand its index and, unless the
/// entry's partials are unit, its partial; wide entries keep their operand
/// count apart.
template <class T>
class Recording {
 public:
  /// 32-bit indices: at most this many entries (2^32 - 2), and this many
  /// operands. An entry count must fit in 32 bits below the largest value,
  /// which the tape keeps as "never" (fusion's floor).
  static constexpr std::size_t max_count = std::numeric_limits<std::uint32_t>::max() - 1;

  Recording()
      : shapes_(initial_capacity),
        index_(initial_capacity),
        partial_(initial_capacity),
        wide_count_(initial_capacity) {}

  [[nodiscard]] std::size_t entries() const noexcept { return entries_; }
  [[nodiscard]] std::size_t operands() const noexcept { return end_.operand; }

  /// Appends one entry with at most two operands (each with .index and
  /// .partial; the partial is dropped unless `P` is Partials::stored);
  /// returns its index. On failure (allocation, or a full tape: `full` is
  /// called, and must throw) nothing changes.
  template <Partials P, class Full, class... Operands>
  TINYGRAD_DETAIL_HOT_INLINE std::uint32_t append(Full full, const Operands&... operands) {
    constexpr std::size_t count = sizeof...(Operands);
    static_assert(count <= 2, "wider entries go through append_many");
    // A leaf needs no room for operands: one test fewer per leaf.
    if (entries_ + 1 > entry_capacity() || (count != 0 && end_.operand + count > index_.capacity()))
        [[unlikely]] {
      grow(1, count, 0, full);
    }
    [[maybe_unused]] std::uint32_t* index = index_.data() + end_.operand;
    ((*index++ = operands.index), ...);
    end_.operand += count;
    if constexpr (P == Partials::stored) {
      [[maybe_unused]] T* partial = partial_.data() + end_.partial;
      ((*partial++ = operands.partial), ...);
      end_.partial += count;
    }
    return push_shape(shape_code(count, P));
  }

  /// Appends one entry with at most `max_operands` operands, written by
  /// `fill(index, partial)` into the arrays' spare room (with unit partials,
  /// `partial` is null); fill returns how many it wrote. If fill throws,
  /// nothing is appended.
  template <class Full, class Fill>
  std::uint32_t append_many(Full full, std::size_t max_operands, Partials partials, Fill&& fill) {
    if (entries_ + 1 > entry_capacity() || end_.operand + max_operands > index_.capacity() ||
        end_.wide + 1 > wide_count_.capacity()) [[unlikely]] {
      grow(1, max_operands, 1, full);
    }
    const bool stored = partials == Partials::stored;
    const std::size_t written =
        fill(index_.data() + end_.operand, stored ? partial_.data() + end_.partial : nullptr);
    end_.operand += written;
    if (stored) {
      end_.partial += written;
    }
    const unsigned code = shape_code(written, partials);
    if (shape_steps.operands[code] == ShapeSteps::wide) {  // a count the shape cannot hold
      wide_count_.data()[end_.wide++] = static_cast<std::uint32_t>(written);
    }
    return push_shape(code);
  }

  /// Rewrites the last entry, the result t of an operation with one to three
  /// operands, into the entry of an operation r(t, other) (docs/design.md,
  /// "Fusing an operation into its operand's entry"): t's partials times
  /// `scale` = dr/dt, then `other` (if not null) with `other_partial`, added
  /// to the partial of an equal operand or appended. Returns false, and
  /// changes nothing, when the result would need more than three operands or
  /// scale is 0. `other` is never t's own entry (Recorder::binary sees to it). On failure to grow
  /// (see append) nothing changes either.
  template <class Full>
  TINYGRAD_DETAIL_HOT_INLINE bool fuse_into_last(Full full, T scale, const std::uint32_t* other,
                                                 T other_partial) {
    // scale 0: unfused, t's adjoint would be 0 and the sweep would skip t
    // (design.md, "The reverse sweep"); fused, an infinite partial of t
    // times 0 would be NaN.
    if (scale == T(0)) {
      return false;
    }
    // One case per shape, as in the reverse sweep: each knows its operand
    // count and partials, so that the few operands are spelled out. The
    // commonest, a product's two stored partials and a one-operand
    // function's, go first: two comparisons instead of the switch's jump
    // table.
    const auto code = static_cast<unsigned>(shapes_.data()[entries_ - 1]);
    if (code == shape::stored(2)) [[likely]] {
      return fuse_into_last_shaped<2, Partials::stored>(full, scale, other, other_partial);
    }
    if (code == shape::stored(1)) {
      return fuse_into_last_shaped<1, Partials::stored>(full, scale, other, other_partial);
    }
    switch (code) {
      case shape::stored(3):
        return fuse_into_last_shaped<3, Partials::stored>(full, scale, other, other_partial);
      case shape::unit | 1:
        return fuse_into_last_shaped<1, Partials::unit>(full, scale, other, other_partial);
      case shape::unit | 2:
        return fuse_into_last_shaped<2, Partials::unit>(full, scale, other, other_partial);
      case shape::unit | shape::negated_last | 1:
        return fuse_into_last_shaped<1, Partials::unit_negated_last>(full, scale, other,
                                                                     other_partial);
      case shape::unit | shape::negated_last | 2:
        return fuse_into_last_shaped<2, Partials::unit_negated_last>(full, scale, other,
                                                                     other_partial);
      default:  // a leaf, or wide
        return false;
    }
  }

  /// Merges the last entry, the result t of an operation with one to three
  /// operands, into the entry before it, s's, for `s += t` (scale 1) or
  /// `s -= t` (scale -1) (docs/design.md, "Accumulating into one entry"):
  /// t's operands, their partials times `scale`, become s's last operands,
  /// and t's entry goes. Returns false, and changes nothing, when s's entry
  /// is a leaf or has unit partials, t's is a leaf or wide, or one of t's
  /// operands is s's entry itself (`s += s * w`: s's entry cannot be its own
  /// operand). On failure to grow (see append) nothing changes either.
  template <class Full>
  TINYGRAD_DETAIL_HOT_INLINE bool merge_last_into_previous(Full full, T scale) {
    // A loop's steady state, spelled out: s's entry is wide already (stored
    // partials), t's has one or two stored operands.
    const std::size_t s = entries_ - 2;
    const auto t_code = static_cast<unsigned>(shapes_.data()[s + 1]);
    if (static_cast<unsigned>(shapes_.data()[s]) == shape::wide &&
        (t_code == shape::stored(1) || t_code == shape::stored(2))) {
      const std::uint32_t* t_operand = index_.data() + end_.operand - t_code;
      if (t_operand[0] == s || t_operand[t_code - 1] == s) {
        return false;
      }
      if (scale != T(1)) {
        T* partial = partial_.data() + end_.partial;
        for (unsigned k = 1; k <= t_code; ++k) {
          partial[-static_cast<std::ptrdiff_t>(k)] *= scale;
        }
      }
      wide_count_.data()[end_.wide - 1] += t_code;
      --entries_;
      return true;
    }
    return merge_last_into_previous_generally(full, scale);
  }

  /// merge_last_into_previous, every case.
  template <class Full>
  bool merge_last_into_previous_generally(Full full, T scale) {
    const std::size_t s = entries_ - 2;
    const auto last_code = static_cast<unsigned>(shapes_.data()[s + 1]);
    const auto s_code = static_cast<unsigned>(shapes_.data()[s]);
    const unsigned t_count = shape_steps.operands[last_code];  // 1, 2, 3; 0 a leaf, or wide
    unsigned s_count = shape_steps.operands[s_code];
    if (t_count == 0 || t_count > 3 || s_count == 0 || (s_code & shape::unit) != 0) {
      return false;
    }
    const std::uint32_t* t_operand = index_.data() + end_.operand - t_count;
    for (unsigned k = 0; k < t_count; ++k) {
      if (t_operand[k] == s) {
        return false;
      }
    }
    const bool s_wide = s_count == ShapeSteps::wide;
    if (s_wide) {
      s_count = wide_count_.data()[end_.wide - 1];
    }
    const std::size_t merged = std::size_t{s_count} + t_count;
    if (!s_wide && merged > 3) {
      if (end_.wide == wide_count_.capacity()) [[unlikely]] {
        grow(0, 0, 1, full);
      }
      wide_count_.data()[end_.wide++] = static_cast<std::uint32_t>(merged);
    } else if (s_wide) {
      wide_count_.data()[end_.wide - 1] = static_cast<std::uint32_t>(merged);
    }
    scale_last_partials(last_code, t_count, scale);  // after s's
    shapes_.data()[s] = static_cast<std::uint8_t>(shape_code(merged, Partials::stored));
    --entries_;
    return true;
  }

  /// Appends `count` leaves (entries without operands); returns the first's index.
  template <class Full>
  std::uint32_t append_leaves(Full full, std::size_t count) {
    if (entries_ + count > entry_capacity()) [[unlikely]] {
      grow(count, 0, 0, full);
    }
    const auto first = static_cast<std::uint32_t>(entries_);
    std::uint8_t* shapes = shapes_.data() + entries_;
    std::fill(shapes, shapes + count, std::uint8_t{0});  // shape 0: a leaf
    entries_ += count;
    return first;
  }

  /// Keeps the first `entries` entries, whose operands end at `operands`
  /// (view().end when the recording had that many entries).
  void truncate(std::size_t entries, Cursor operands) noexcept {
    end_ = operands;
    entries_ = entries;
  }

  [[nodiscard]] RecordingView<T> view() const noexcept {
    return {shapes_.data(), index_.data(), partial_.data(), wide_count_.data(), entries_, end_};
  }

  [[nodiscard]] std::size_t bytes_in_use() const noexcept {
    return entries_ + end_.operand * sizeof(std::uint32_t) + end_.partial * sizeof(T) +
           end_.wide * sizeof(std::uint32_t);
  }
  [[nodiscard]] std::size_t bytes_reserved() const noexcept {
    return shapes_.capacity() + index_.capacity() * (sizeof(std::uint32_t) + sizeof(T)) +
           wide_count_.capacity() * sizeof(std::uint32_t);
  }

  /// Capacity for exactly what is recorded now.
  void shrink_to_fit() { reserve(entries_, end_.operand, end_.wide); }

 private:
  [[nodiscard]] std::size_t entry_capacity() const noexcept { return shapes_.capacity(); }

  /// fuse_into_last for a last entry of `count` operands with partials P.
  template <unsigned count, Partials P, class Full>
  TINYGRAD_DETAIL_HOT_INLINE bool fuse_into_last_shaped(Full full, T scale,
                                                        const std::uint32_t* other,
                                                        T other_partial) {
    // Where `other` goes: onto an equal operand (merged), or after the last.
    const std::uint32_t* index = index_.data() + end_.operand;  // one past t's operands
    unsigned merged_into = 0;  // k: onto operand index[-k]; 0: appended
    if (other != nullptr) {
      for (unsigned k = 1; k <= count; ++k) {
        if (index[-static_cast<std::ptrdiff_t>(k)] == *other) {
          merged_into = k;
          break;
        }
      }
      if (merged_into == 0) {
        if constexpr (count == 3) {
          return false;
        } else if (end_.operand == index_.capacity()) [[unlikely]] {
          grow(0, 1, 0, full);
        }
      }
    }
    T* partial = scale_last_partials(shape_code(count, P), count, scale);
    unsigned result = count;
    if (merged_into != 0) {
      partial[-static_cast<std::ptrdiff_t>(merged_into)] += other_partial;
    } else if (other != nullptr) {
      index_.data()[end_.operand++] = *other;
      *partial = other_partial;
      ++end_.partial;
      ++result;
    }
    shapes_.data()[entries_ - 1] = static_cast<std::uint8_t>(shape::stored(result));
    return true;
  }

  /// The last entry's partials (shape `code`, `count` operands) times
  /// `scale`; a unit entry's ±1 are written out as ±scale, and stored from
  /// then on. Returns one past them.
  TINYGRAD_DETAIL_HOT_INLINE T* scale_last_partials(unsigned code, unsigned count,
                                                    T scale) noexcept {
    T* partial = partial_.data() + end_.partial;
    if ((code & shape::unit) != 0) {
      for (unsigned k = 0; k < count; ++k) {
        partial[k] = scale;
      }
      if ((code & shape::negated_last) != 0) {
        partial[count - 1] = -scale;
      }
      end_.partial += count;
      return partial + count;
    }
    for (unsigned k = 1; k <= count; ++k) {
      partial[-static_cast<std::ptrdiff_t>(k)] *= scale;
    }
    return partial;
  }

  TINYGRAD_DETAIL_HOT_INLINE std::uint32_t push_shape(unsigned code) noexcept {
    const std::size_t entry = entries_++;
    shapes_.data()[entry] = static_cast<std::uint8_t>(code);
    return static_cast<std::uint32_t>(entry);
  }

  /// Makes room for `entries`, `operands` and `wides` more; an array that
  /// has the room keeps its capacity, one that lacks it doubles.
  template <class Full>
  void grow(std::size_t entries, std::size_t operands, std::size_t wides, Full full) {
    if (entries_ + entries > max_count || end_.operand + operands > max_count) {
      full();
    }
    const auto enough = [](std::size_t capacity, std::size_t used, std::size_t needed) {
      if (used + needed <= capacity) {
        return capacity;
      }
      return std::min(std::max({2 * used, used + needed, initial_capacity}), max_count + 1);
    };
    reserve(enough(entry_capacity(), entries_, entries),
            enough(index_.capacity(), end_.operand, operands),
            enough(wide_count_.capacity(), end_.wide, wides));
  }

  /// Sets the capacity of the arrays (the partials get as many slots as the
  /// operands: never fewer are needed, so one check covers both). If one
  /// reallocation fails, the recording is untouched: the arrays already
  /// resized keep their contents.
  void reserve(std::size_t entry_slots, std::size_t operand_slots, std::size_t wide_slots) {
    const auto resize = [](auto& array, std::size_t slots) {
      if (array.capacity() != slots) {
        array.reallocate(slots);
      }
    };
    resize(shapes_, entry_slots);
    resize(index_, operand_slots);
    resize(partial_, operand_slots);
    resize(wide_count_, wide_slots);
  }

  static constexpr std::size_t initial_capacity = 64;

  friend struct TapeInternals;  // tests reach a full recording through it

  std::size_t entries_ = 0;
  Cursor end_;                          // operands, stored partials and wide counts in use
  RawArray<std::uint8_t> shapes_;       // entries_ in use
  RawArray<std::uint32_t> index_;       // end_.operand in use
  RawArray<T> partial_;                 // end_.partial in use
  RawArray<std::uint32_t> wide_count_;  // end_.wide in use
};

}  // namespace tinygrad::detail
