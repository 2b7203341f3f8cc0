// SPDX-License-Identifier: MIT
#pragma once

// What a Var remembers about the tape entry it refers to, and how a tape
// decides whether such a memory is still true. See docs/design.md, "Detecting
// misuse: stamps and epochs".

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace tinygrad::detail {

/// The tape entry of a Var: which entry, on which tape, in which epoch of that
/// tape (an epoch ends at every clear() or rewind()). Tape and epoch share one
/// 64-bit generation so that the common check is a single comparison.
/// The tape id and the epoch a generation holds.
constexpr std::uint32_t tape_of(std::uint64_t generation) noexcept {
  return static_cast<std::uint32_t>(generation >> 32);
}
constexpr std::uint32_t epoch_of(std::uint64_t generation) noexcept {
  return static_cast<std::uint32_t>(generation);
}

struct Stamp {
  std::uint64_t generation = 0;  // tape id in the high half, epoch in the low half
  std::uint32_t index = 0;
  // Whether the Var holding this stamp is the only one referring to the entry,
  // an operation's result: an operation given that Var as an rvalue may then
  // take the entry over (fusion, docs/design.md). Var's copies clear it on
  // both sides, through const references too: hence mutable. It lives here,
  // in the padding after `index`, to keep a Var at 24 bytes.
  mutable bool fresh = false;

  [[nodiscard]] std::uint32_t tape() const noexcept { return tape_of(generation); }
  [[nodiscard]] std::uint32_t epoch() const noexcept { return epoch_of(generation); }
};

/// The generation of a Var whose entry an operation took over (fusion): no
/// tape has id 0, so every use of it fails the check and is reported.
inline constexpr std::uint64_t consumed = 0;

/// The generation of a constant: a Var with no tape entry (default-constructed,
/// tinygrad::constant, detach(), or computed from constants or while a tape
/// records nothing). Tape id 0 again, so that the check on every operand
/// sends it down the slow path, where the operation drops it as it would a
/// plain number: constants cost nothing where there are none.
inline constexpr std::uint64_t constant_generation = 1;
inline constexpr Stamp constant_stamp{constant_generation, 0};

/// The first generation of a new tape: its id, epoch 0.
constexpr std::uint64_t first_generation(std::uint32_t tape) noexcept {
  return std::uint64_t{tape} << 32;
}

/// Process-wide source of tape ids, so that no two live tapes share one.
inline std::uint32_t new_tape_id() noexcept {
  static std::atomic<std::uint32_t> next{1};
  std::uint32_t id = next.fetch_add(1, std::memory_order_relaxed);
  while (id == 0) {  // after 2^32 tapes: 0 is kept for consumed Vars
    id = next.fetch_add(1, std::memory_order_relaxed);
  }
  return id;
}

/// The live tapes of the process and the thread each was made on, so that a
/// misuse message can say whether a Var's tape was destroyed or belongs to
/// another thread. A tape registers when it takes an id and leaves when it is
/// destroyed: a lock each time, never on the recording path.
class TapeRegistry {
 public:
  static void add(std::uint32_t tape) {
    State& s = state();
    const std::lock_guard<std::mutex> lock(s.mutex);
    s.live.emplace_back(tape, std::this_thread::get_id());
  }
  static void remove(std::uint32_t tape) noexcept {
    State& s = state();
    const std::lock_guard<std::mutex> lock(s.mutex);
    const auto found = std::find_if(s.live.begin(), s.live.end(),
                                    [tape](const auto& entry) { return entry.first == tape; });
    if (found != s.live.end()) {
      *found = s.live.back();
      s.live.pop_back();
    }
  }
  /// The thread a live tape was made on; none if no tape has that id now.
  static std::optional<std::thread::id> owner(std::uint32_t tape) {
    State& s = state();
    const std::lock_guard<std::mutex> lock(s.mutex);
    for (const auto& [id, thread] : s.live) {
      if (id == tape) {
        return thread;
      }
    }
    return std::nullopt;
  }

 private:
  struct State {
    std::mutex mutex;
    std::vector<std::pair<std::uint32_t, std::thread::id>> live;
  };
  // Never destroyed: thread-local tapes (the default tape) leave it after
  // static objects may have been destroyed.
  static State& state() {
    static State* const s = new State;
    return *s;
  }
};

/// For every finished epoch of one tape, the smallest position any later
/// rewind went back to (its floor): an entry recorded in that epoch survives
/// exactly when its index is below the floor. Floors never decrease from one
/// epoch to the next, so runs of epochs with one floor are stored as a single
/// segment, and the list stays as short as the number of distinct rewind
/// positions still in force.
class EpochFloors {
 public:
  /// Whether entry `index` recorded in the finished epoch `epoch` is still on
  /// the tape.
  [[nodiscard]] bool keeps_entry(std::uint32_t epoch, std::uint32_t index) const noexcept {
    const Segment* segment = find(epoch);
    return segment != nullptr && index < segment->floor;
  }

  /// Whether a position (a count of entries) taken in the finished epoch
  /// `epoch` is still reachable by rewind().
  [[nodiscard]] bool keeps_position(std::uint32_t epoch, std::uint32_t position) const noexcept {
    const Segment* segment = find(epoch);
    return segment != nullptr && position <= segment->floor;
  }

  /// Number of stored segments (for tests of the memory bound).
  [[nodiscard]] std::size_t segments() const noexcept { return segments_.size(); }

  /// Records that `ending_epoch` (the current one) ends with a rewind to
  /// `position`.
  void rewind(std::uint32_t ending_epoch, std::uint32_t position) {
    std::uint32_t first = ending_epoch;
    while (!segments_.empty() && segments_.back().floor >= position) {
      first = segments_.back().first_epoch;
      segments_.pop_back();
    }
    segments_.push_back({first, position});
  }

 private:
  struct Segment {
    std::uint32_t first_epoch;
    std::uint32_t floor;
  };

  [[nodiscard]] const Segment* find(std::uint32_t epoch) const noexcept {
    const auto after =
        std::upper_bound(segments_.begin(), segments_.end(), epoch,
                         [](std::uint32_t e, const Segment& s) { return e < s.first_epoch; });
    return after == segments_.begin() ? nullptr : &*(after - 1);
  }

  std::vector<Segment> segments_;
};

}  // namespace tinygrad::detail
