// SPDX-License-Identifier: MIT
#pragma once

// The storage of a tape's entries: three flat arrays with one capacity check
// per recorded operation. See docs/design.md, "The tape layout".

#include <tinygrad/detail/reverse_sweep.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

namespace tinygrad::detail {

/// One operand of a tape entry: the entry it reads and d(result)/d(operand).
template <class T>
struct Operand {
  std::uint32_t index;
  T partial;
};

/// An array of trivially copyable elements whose size is kept by its owner,
/// so that one check covers several arrays. The memory is raw: no element is
/// constructed until it is written (a Var's default constructor records a
/// leaf, so constructing them would not be harmless).
///
/// It grows with std::realloc, which trivially copyable elements allow: for a
/// large array glibc moves the pages (mremap) instead of copying them, so a
/// growing tape never holds its old and its new arrays at once (a 10^8-entry
/// tape peaks at its final size, not at 1.5-2 times it; docs/performance.md).
template <class E>
class RawArray {
  static_assert(std::is_trivially_copyable_v<E> && std::is_trivially_destructible_v<E>);
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
    void* grown = std::realloc(data_, slots * sizeof(E));
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

/// The entries of one tape. Entry i's operands are
/// [operand_begin[i], operand_begin[i + 1]); operand_begin[0] is 0.
template <class T>
class Recording {
 public:
  /// 32-bit indices: at most this many entries, and this many operands.
  static constexpr std::size_t max_count = std::numeric_limits<std::uint32_t>::max() - 1;

  Recording() : begin_(initial_capacity), index_(initial_capacity), partial_(initial_capacity) {
    begin_.data()[0] = 0;
  }

  [[nodiscard]] std::size_t entries() const noexcept { return entries_; }
  [[nodiscard]] std::size_t operands() const noexcept { return operands_; }

  /// Appends one entry; returns its index. On failure (allocation, or a full
  /// tape: `full` is called, and must throw) nothing changes.
  template <class Full, class... Operands>
  std::uint32_t append(Full full, const Operands&... operands) {
    constexpr std::size_t count = sizeof...(Operands);
    if (entries_ + 1 >= begin_.capacity() || operands_ + count > index_.capacity()) [[unlikely]] {
      grow(count, full);
    }
    [[maybe_unused]] std::uint32_t* index = index_.data() + operands_;
    [[maybe_unused]] T* partial = partial_.data() + operands_;
    ((*index++ = operands.index, *partial++ = operands.partial), ...);
    operands_ += count;
    const auto entry = static_cast<std::uint32_t>(entries_);
    begin_.data()[++entries_] = static_cast<std::uint32_t>(operands_);
    return entry;
  }

  /// Appends one entry with at most `max_operands` operands, written by
  /// `fill(index, partial)` into the arrays' spare room; fill returns how many
  /// it wrote. If fill throws, nothing is appended.
  template <class Full, class Fill>
  std::uint32_t append_many(Full full, std::size_t max_operands, Fill&& fill) {
    if (entries_ + 1 >= begin_.capacity() || operands_ + max_operands > index_.capacity())
        [[unlikely]] {
      grow(max_operands, full);
    }
    const std::size_t written = fill(index_.data() + operands_, partial_.data() + operands_);
    operands_ += written;
    const auto entry = static_cast<std::uint32_t>(entries_);
    begin_.data()[++entries_] = static_cast<std::uint32_t>(operands_);
    return entry;
  }

  /// Appends `count` leaves (entries without operands); returns the first's index.
  template <class Full>
  std::uint32_t append_leaves(Full full, std::size_t count) {
    if (entries_ + count >= begin_.capacity()) [[unlikely]] {
      grow_entries(count, full);
    }
    const auto first = static_cast<std::uint32_t>(entries_);
    std::fill_n(begin_.data() + entries_ + 1, count, static_cast<std::uint32_t>(operands_));
    entries_ += count;
    return first;
  }

  /// Keeps the first `entries` entries.
  void truncate(std::size_t entries) noexcept {
    entries_ = entries;
    operands_ = begin_.data()[entries];
  }

  [[nodiscard]] RecordingView<T> view() const noexcept {
    return {begin_.data(), index_.data(), partial_.data()};
  }

  [[nodiscard]] std::size_t bytes_in_use() const noexcept {
    return (entries_ + 1) * sizeof(std::uint32_t) + operands_ * (sizeof(std::uint32_t) + sizeof(T));
  }
  [[nodiscard]] std::size_t bytes_reserved() const noexcept {
    return begin_.capacity() * sizeof(std::uint32_t) +
           index_.capacity() * (sizeof(std::uint32_t) + sizeof(T));
  }

  /// Capacity for exactly what is recorded now (at least the first sentinel).
  void shrink_to_fit() { reserve(entries_ + 1, operands_); }

 private:
  template <class Full>
  void grow(std::size_t operands, Full full) {
    grow_both(1, operands, full);
  }
  template <class Full>
  void grow_entries(std::size_t entries, Full full) {
    grow_both(entries, 0, full);
  }
  template <class Full>
  void grow_both(std::size_t entries, std::size_t operands, Full full) {
    if (entries_ + entries > max_count || operands_ + operands > max_count) {
      full();
    }
    const auto doubled = [](std::size_t used, std::size_t needed) {
      return std::min(std::max({2 * used, used + needed, initial_capacity}), max_count + 1);
    };
    reserve(doubled(entries_ + 1, entries), doubled(operands_, operands));
  }

  /// Sets the capacity of all three arrays. If one reallocation fails, the
  /// recording is untouched: the arrays already resized keep their contents.
  void reserve(std::size_t entry_slots, std::size_t operand_slots) {
    begin_.reallocate(entry_slots);
    index_.reallocate(operand_slots);
    partial_.reallocate(operand_slots);
  }

  static constexpr std::size_t initial_capacity = 64;

  std::size_t entries_ = 0;
  std::size_t operands_ = 0;
  RawArray<std::uint32_t> begin_;  // entries_ + 1 in use
  RawArray<std::uint32_t> index_;  // operands_ in use
  RawArray<T> partial_;            // operands_ in use
};

}  // namespace tinygrad::detail
