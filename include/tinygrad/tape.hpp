// SPDX-License-Identifier: MIT
#pragma once

// Tape<T>: the flat, index-based recording that Var<T> operations append to,
// and the stack of current tapes per thread. See docs/design.md.

#include <tinygrad/anomaly.hpp>
#include <tinygrad/detail/annotations.hpp>
#include <tinygrad/detail/config.hpp>
#include <tinygrad/detail/recording.hpp>
#include <tinygrad/detail/reverse_sweep.hpp>
#include <tinygrad/detail/source_location.hpp>
#include <tinygrad/detail/stamp.hpp>
#include <tinygrad/detail/traits.hpp>
#include <tinygrad/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

namespace tinygrad {

template <class T>
class Tape;

template <class T>
class NoGradScope;

namespace detail {

template <class T>
struct Recorder;

template <class T>
class OperandWriter;

template <class T>
class CurrentTapeScope;

template <class T>
struct EntryOf;

struct RecordingReader;

struct TapeInternals;  // defined by tests only

/// Selects the Tape constructor that does not make the new tape current; a
/// CurrentTapeScope does that later, for a scope (the functional API's
/// reusable per-thread tape).
struct Dormant {};

/// How the Recorder's inline path takes a value or partial: a number by
/// value; a Var (on a nested tape) by reference, since each copy of one is
/// 24 bytes and a flag written back to its source, several per operation.
template <class T>
using Passed = std::conditional_t<is_var<T>, const T&, T>;

/// An operand as the Recorder hands it to Tape::record: what the recording
/// stores (index, partial), and the operand's value for anomaly reports.
template <class T>
struct OperandWithValue {
  std::uint32_t index;
  Passed<T> partial;  // a Var by reference to the Recorder's argument, which outlives record()
  const T& value;
};

/// The innermost live Tape<T> of this thread, or null before the first one.
template <class T>
inline thread_local Tape<T>* current_tape = nullptr;

}  // namespace detail

/// A reverse-mode recording of Var<T> operations.
///
/// While a Tape is alive it is the current tape of Var<T> on its thread: every
/// Var operation records onto it, and grad() and backward() read it. Tapes
/// nest: destroying one makes the previous one current again. Without any
/// Tape, a thread-local default tape records. Vars recorded on a tape stay
/// usable until it is cleared, rewound past them, or destroyed; using them
/// after that, or while another tape is current, throws tape_error.
template <class T>
class Tape {
  static_assert(detail::Real<T>,
                "tinygrad::Tape<T>: T must be float, double or long double, or a Var of one "
                "of them.");

 public:
  /// A point in the recording, from position(); rewind() returns to it.
  class Position {
   public:
    /// Number of entries the tape held when the position was taken.
    [[nodiscard]] std::size_t entries() const noexcept { return stamp_.index; }

   private:
    friend class Tape;
    Position(detail::Stamp stamp, detail::Cursor operands) noexcept
        : stamp_(stamp), operands_(operands) {}
    detail::Stamp stamp_;
    detail::Cursor operands_;  // where the operands stood: rewinding is O(1)
  };

  Tape() : Tape(detail::Dormant{}) { enter(); }

  /// A tape that is not current until a detail::CurrentTapeScope makes it so.
  explicit Tape(detail::Dormant) : generation_(detail::first_generation(detail::new_tape_id())) {
    detail::TapeRegistry::add(id());
  }

  ~Tape() {
    leave();
    detail::TapeRegistry::remove(id());
  }

  // The current-tape pointer refers to this object: it cannot move.
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// The tape that Var<T> operations on this thread record onto now.
  [[nodiscard]] static Tape& current() {
    if (Tape* tape = detail::current_tape<T>) [[likely]] {
      return *tape;
    }
    thread_local Tape default_tape;
    return default_tape;
  }

  /// Number of entries recorded (leaves and operations).
  [[nodiscard]] std::size_t size() const noexcept { return recording_.entries(); }

  /// Where the recording stands now, for rewind().
  [[nodiscard]] Position position() const noexcept {
    pin_recorded_entries();  // rewind() must find them as they are now
    return Position(detail::Stamp{generation_, entry_count()}, recording_.view().end);
  }

  /// Drops every entry recorded after `mark`. Vars recorded before it stay
  /// valid; later ones become invalid. Capacity is kept for reuse.
  /// Throws tape_error if `mark` is from another tape or was itself dropped.
  void rewind(Position mark) {
    const detail::Stamp& s = mark.stamp_;
    const bool valid = s.generation == generation_ ||
                       (s.tape() == id() && floors_.keeps_position(s.epoch(), s.index));
    if (!valid) {
      throw tape_error(detail::unreachable_position_message(id(), s.index, s.tape()));
    }
    truncate(s.index, mark.operands_);
  }

  /// Drops the whole recording; every Var recorded on it becomes invalid.
  /// Capacity is kept for reuse; shrink_to_fit() returns it.
  void clear() {
    if (epoch() == std::numeric_limits<std::uint32_t>::max()) [[unlikely]] {
      // Out of epochs. Nothing of the old recording survives a clear, so the
      // tape simply takes a new identity: its old Vars now read as another
      // tape's. A loop that clears every step can therefore run forever.
      detail::TapeRegistry::remove(id());
      generation_ = detail::first_generation(detail::new_tape_id());
      detail::TapeRegistry::add(id());
      floors_ = detail::EpochFloors{};
      recording_.truncate(0, {});
      resize_gradients(0);
      annotations_.truncate(0);
      refresh_fusion();
    } else {
      truncate(0, {});
    }
    grads_are_zero_ = true;
  }

  /// Sets every gradient to zero and keeps the recording.
  void zero_grad() noexcept {
    std::fill(grads_.begin(), grads_.end(), T(0));
    grads_are_zero_ = true;
  }

  /// While on, every entry recorded also keeps the name of its operation and
  /// its value, for inspection (for_each_entry) and Graphviz export
  /// (graphviz.hpp). Off by default; costs one predictable branch per entry
  /// when off.
  void annotate(bool on) noexcept {
    set_flag(keeps_annotations, on);
    refresh_fusion();
  }
  [[nodiscard]] bool annotating() const noexcept { return (flags_ & keeps_annotations) != 0; }

  /// Anomaly detection (docs/reference.md, "Anomaly detection"). While on,
  /// the first infinite or NaN value at recording, or adjoint in backward(),
  /// is blamed on the operation that produced it: its name, operand values,
  /// tape position and the file:line where it was written. `response` says
  /// whether that throws numeric_error or is kept for anomaly(). Each entry
  /// recorded meanwhile keeps its name, value and location (as annotate()
  /// does, and shown by for_each_entry). Off for a new tape; when off it
  /// costs the same one predictable branch per entry as annotate(). The
  /// recording is the same either way (fusion included), so every value and
  /// gradient is the same to the bit: only slower.
  void detect_anomalies(bool on, OnAnomaly response = OnAnomaly::throw_error) noexcept {
    if (!on && !annotating()) {
      forget_rewritable_annotation();
    }
    set_flag(detects_anomalies, on);
    annotations_.respond_with(response);
  }
  [[nodiscard]] bool detecting_anomalies() const noexcept {
    return (flags_ & detects_anomalies) != 0;
  }

  /// Fusion (docs/design.md, "Fusing an operation into its operand's
  /// entry"): an operation whose operand is a temporary Var, recorded last,
  /// rewrites that entry instead of appending one. On by default; off, every
  /// operation records an entry of its own. Annotating switches it off while
  /// it is on (anomaly detection does not). Gradients are the same either
  /// way, up to rounding.
  void fuse_operations(bool on) noexcept {
    fuses_ = on;
    refresh_fusion();
  }
  [[nodiscard]] bool fusing_operations() const noexcept { return fuses_; }

  /// The first anomaly found while detecting with OnAnomaly::record, until
  /// clear_anomaly(); clear() and rewind() keep it.
  [[nodiscard]] const std::optional<Anomaly>& anomaly() const noexcept {
    return annotations_.first_anomaly();
  }
  void clear_anomaly() noexcept { annotations_.clear_anomaly(); }

  /// One entry of the recording, as for_each_entry shows it.
  struct EntryView {
    std::size_t index = 0;
    const char* operation = nullptr;  ///< "leaf", "+", "exp", "sigmoid", ...; null if not annotated
    const T* value = nullptr;         ///< null if not annotated
    const char* file = "";            ///< where it was recorded; "" if not known
    std::uint32_t line = 0;           ///< 0 if not annotated
    T grad;                           ///< as grad() would return it
    std::span<const std::uint32_t> operand_index;
    std::span<const T> operand_partial;  ///< unit partials (x + y) shown as 1 and -1
  };

  /// Calls f(EntryView) for every entry, first to last.
  template <class F>
  void for_each_entry(F&& f) const {
    const detail::RecordingView<T> view = recording_.view();
    std::vector<T> units;  // the partials the recording does not store
    detail::Cursor at;
    for (std::size_t i = 0; i < size(); ++i) {
      const unsigned code = view.shape_of(i);
      const detail::Cursor begin = at;
      const std::size_t count = view.template step<detail::Direction::forward>(at, code);
      std::span<const T> partials(view.operand_partial + begin.partial, count);
      if ((code & detail::shape::unit) != 0) {
        units.assign(count, T(1));
        if ((code & detail::shape::negated_last) != 0) {
          units.back() = T(-1);
        }
        partials = units;
      }
      const Annotation* note = annotations_.find(i);
      f(EntryView{
          i, note != nullptr ? note->operation : nullptr, note != nullptr ? &*note->value : nullptr,
          note != nullptr ? note->where.file_name() : "", note != nullptr ? note->where.line() : 0,
          gradient_at(gradients(), i),
          std::span<const std::uint32_t>(view.operand_index + begin.operand, count), partials});
    }
  }

  /// What the tape holds and what it costs in memory.
  struct Statistics {
    std::size_t entries;          ///< leaves and operations recorded
    std::size_t operands;         ///< Var operands over all entries
    std::size_t recording_bytes;  ///< bytes the recording uses (gradients, annotations excluded)
    std::size_t gradient_bytes;   ///< bytes the gradients use (sized by backward())
    std::size_t reserved_bytes;   ///< bytes allocated in all, spare capacity included
  };

  [[nodiscard]] Statistics statistics() const noexcept {
    const std::size_t gradients = grads_.size() + sweep_adjoints_.size();
    const std::size_t gradients_reserved = grads_.capacity() + sweep_adjoints_.capacity();
    return {recording_.entries(), recording_.operands(), recording_.bytes_in_use(),
            gradients * sizeof(T), recording_.bytes_reserved() + gradients_reserved * sizeof(T)};
  }

  /// Returns the memory not needed by the current recording.
  void shrink_to_fit() {
    recording_.shrink_to_fit();
    grads_.shrink_to_fit();
    annotations_.shrink_to_fit();
    sweep_adjoints_.clear();
    sweep_adjoints_.shrink_to_fit();
  }

 private:
  friend class Var<T>;
  friend struct detail::Recorder<T>;
  friend class detail::OperandWriter<T>;
  friend class detail::CurrentTapeScope<T>;
  friend class NoGradScope<T>;
  friend struct detail::RecordingReader;  // the Hessian's passes over a finished recording
  friend struct detail::TapeInternals;    // tests reach the epoch counter through it

  using Annotation = typename detail::Annotations<T>::Annotation;
  using ColdValue = typename detail::Annotations<T>::ColdValue;
  using OperandValues = typename detail::Annotations<T>::OperandValues;

  // --- The stack of current tapes ---

  /// Makes this tape the current one, remembering the previous.
  void enter() noexcept {
    outer_ = detail::current_tape<T>;
    detail::current_tape<T> = this;
  }

  /// Takes this tape off the stack: the previous one is current again. A tape
  /// left out of order (heap-allocated tapes) is unlinked instead, so that no
  /// inner tape restores a dangling pointer. Nothing happens to a tape that is
  /// not on the stack.
  void leave() noexcept {
    if (detail::current_tape<T> == this) {
      detail::current_tape<T> = outer_;
      return;
    }
    for (Tape* inner = detail::current_tape<T>; inner != nullptr; inner = inner->outer_) {
      if (inner->outer_ == this) {
        inner->outer_ = outer_;
        return;
      }
    }
  }

  [[nodiscard]] std::uint32_t entry_count() const noexcept {
    return static_cast<std::uint32_t>(recording_.entries());
  }

  // --- Recording (called by Var's operations through detail::Recorder) ---

  /// Appends one entry with the given operands (OperandWithValue; their
  /// partials are dropped unless P is Partials::stored) and returns its
  /// stamp. The other arguments are kept only while annotating or detecting
  /// anomalies.
  template <detail::Partials P = detail::Partials::stored, class... Operands>
  TINYGRAD_DETAIL_HOT_INLINE detail::Stamp record(const char* operation, const T& value,
                                                  detail::SourceLocation where,
                                                  const Operands&... operands) {
    if constexpr (sizeof...(Operands) == 0) {
      // A leaf tests the flags first: with no operands to keep alive for
      // the out-of-line half, that costs nothing, and nothing is appended
      // only to be dropped while recording nothing.
      if (flags_ != 0) [[unlikely]] {
        return record_leaf_flagged(operation, value, where);
      }
      return detail::Stamp{generation_, recording_.template append<P>([this] { throw_full(); })};
    } else {
      const std::uint32_t entry =
          recording_.template append<P>([this] { throw_full(); }, operands...);
      if (flags_ != 0) [[unlikely]] {
        const std::optional<long double> operand_values[] = {
            std::optional<long double>(detail::widened(operands.value))..., std::nullopt};
        return on_recorded(entry, operation, value, where,
                           std::span(operand_values, sizeof...(Operands)));
      }
      return detail::Stamp{generation_, entry};
    }
  }

  /// Appends one entry with up to `max_operands` operands written by `fill`
  /// (see Recording::append_many) and returns its stamp.
  template <class Fill>
  detail::Stamp record_many(const char* operation, const T& value, detail::SourceLocation where,
                            std::size_t max_operands, detail::Partials partials, Fill&& fill) {
    const std::uint32_t entry =
        recording_.append_many([this] { throw_full(); }, max_operands, partials, fill);
    if (flags_ != 0) [[unlikely]] {
      return on_recorded_many(entry, operation, value, where);
    }
    return detail::Stamp{generation_, entry};
  }

  /// Appends `count` leaves with the given values; returns the first's stamp
  /// (the others follow with consecutive indices).
  detail::Stamp record_leaves(std::span<const T> values, detail::SourceLocation where) {
    if (records_nothing()) [[unlikely]] {
      return detail::constant_stamp;  // every leaf a constant: their indices do not matter
    }
    const std::uint32_t first = recording_.append_leaves([this] { throw_full(); }, values.size());
    if (flags_ != 0) [[unlikely]] {
      for (std::size_t i = 0; i < values.size(); ++i) {
        on_recorded(static_cast<std::uint32_t>(first + i), "leaf", values[i], where, {});
      }
    }
    return detail::Stamp{generation_, first};
  }

  /// Fuses an operation r(t, other) into the entry of `t`, a temporary
  /// (Recorder checks that no other Var refers to it): t's partials times
  /// `scale`, plus `other` (null: none) with `other_partial`. Only when t is
  /// the last entry, of this epoch, and nothing pins it; returns whether it
  /// fused.
  TINYGRAD_DETAIL_HOT_INLINE bool fuse(const detail::Stamp& t, const T& scale,
                                       const std::uint32_t* other, const T& other_partial) {
    return t.generation == generation_ && t.index + 1 == entry_count() &&
           t.index >= fusable_from_ &&
           recording_.fuse_into_last([this] { throw_full(); }, scale, other, other_partial);
  }

  /// Merges the entry of `t`, a temporary and the last entry, into the entry
  /// of `s`, the one before it, for `s += t` (scale 1) or `s -= t` (-1):
  /// s's entry takes t's operands (Recording::merge_last_into_previous). The
  /// Recorder checks that s and t are each the only Var of their entry; this
  /// checks that both are of this epoch, adjacent at the end and unpinned.
  TINYGRAD_DETAIL_HOT_INLINE bool merge(const detail::Stamp& s, const detail::Stamp& t,
                                        const T& scale) {
    return s.generation == generation_ && t.generation == generation_ &&
           t.index + 1 == entry_count() && s.index + 1 == t.index && s.index >= fusable_from_ &&
           recording_.merge_last_into_previous([this] { throw_full(); }, scale);
  }

  /// Whether `x * x` may record one operand: not while each operation must
  /// keep its own operands (annotating, fusion off).
  [[nodiscard]] bool merges_operands() const noexcept { return fusable_from_ != never_fuse; }

  /// Keeps every entry recorded so far from being rewritten by fusion.
  void pin_recorded_entries() const noexcept {
    if (fusable_from_ != never_fuse) {
      fusable_from_ = entry_count();
    }
  }

  /// After a switch: fusion stays off while recording nothing (an operand's
  /// entry must not change under a NoGradScope) and while annotating (each
  /// entry then has a name and a line of its own). Anomaly detection leaves
  /// it as it is, so that switching detection on changes no rounding.
  void refresh_fusion() noexcept {
    fusable_from_ = fuses_ && !annotating() && !records_nothing() ? entry_count() : never_fuse;
  }

  /// Called after an operation fused into the last entry: while detecting,
  /// the operation is checked as if it had recorded an entry of its own, and
  /// the entry's annotation follows the fusion.
  template <class... Values>
  TINYGRAD_DETAIL_HOT_INLINE void after_fusion(std::uint32_t entry, const char* operation,
                                               ColdValue value, detail::SourceLocation where,
                                               Values... operand_values) {
    if (flags_ != 0) [[unlikely]] {
      const std::optional<long double> operands[] = {
          std::optional<long double>(detail::widened(operand_values))...};
      on_fused(entry, operation, value, where, operands);
    }
  }

  /// Called after merge(): while detecting, the accumulation is checked as
  /// if it had recorded an entry of its own, and s's annotation takes over
  /// t's, whose entry is gone.
  TINYGRAD_DETAIL_HOT_INLINE void after_merge(std::uint32_t entry, const char* operation,
                                              ColdValue value, detail::SourceLocation where,
                                              ColdValue s_value, ColdValue t_value) {
    if (flags_ != 0) [[unlikely]] {
      const std::optional<long double> operands[] = {
          std::optional<long double>(detail::widened(s_value)),
          std::optional<long double>(detail::widened(t_value))};
      on_merged(entry, operation, value, where, operands);
    }
  }

  // --- The cold side of recording: annotations and anomaly checks ---
  //
  // Out of line, so that the hot path only tests the flag byte and calls.

  /// After an entry is appended while a flag is set: while recording
  /// nothing, the entry goes again and the result is a constant; else the
  /// entry is annotated. Returns the result's stamp.
  TINYGRAD_DETAIL_COLD detail::Stamp on_recorded(std::uint32_t entry, const char* operation,
                                                 ColdValue value, detail::SourceLocation where,
                                                 OperandValues operands) {
    if (records_nothing()) {
      recording_.truncate(entry, recording_.view().begin_of(entry));
      return detail::constant_stamp;
    }
    annotations_.on_recorded(recording_.view(), detecting_anomalies(), entry, operation, value,
                             where, operands);
    return detail::Stamp{generation_, entry};
  }
  TINYGRAD_DETAIL_COLD void on_fused(std::uint32_t entry, const char* operation, ColdValue value,
                                     detail::SourceLocation where, OperandValues operands) {
    annotations_.on_fused(recording_.view(), detecting_anomalies(), entry, operation, value, where,
                          operands);
  }
  TINYGRAD_DETAIL_COLD void on_merged(std::uint32_t entry, const char* operation, ColdValue value,
                                      detail::SourceLocation where, OperandValues operands) {
    annotations_.on_merged(recording_.view(), detecting_anomalies(), entry, operation, value, where,
                           operands);
  }
  /// record() of a leaf while a flag is set.
  TINYGRAD_DETAIL_COLD detail::Stamp record_leaf_flagged(const char* operation, ColdValue value,
                                                         detail::SourceLocation where) {
    if (records_nothing()) {
      return detail::constant_stamp;
    }
    const std::uint32_t entry =
        recording_.template append<detail::Partials::stored>([this] { throw_full(); });
    return on_recorded(entry, operation, value, where, {});
  }

  /// As on_recorded, for record_many.
  TINYGRAD_DETAIL_COLD detail::Stamp on_recorded_many(std::uint32_t entry, const char* operation,
                                                      const T& value,
                                                      detail::SourceLocation where) {
    if (records_nothing()) {
      recording_.truncate(entry, recording_.view().begin_of(entry));
      return detail::constant_stamp;
    }
    annotations_.on_recorded_many(recording_.view(), detecting_anomalies(), entry, operation, value,
                                  where);
    return detail::Stamp{generation_, entry};
  }

  /// When detection goes off: an annotation of an entry that fusion may
  /// still rewrite would go stale (after_fusion no longer runs), so it goes:
  /// the last entry's (fusion) and the one before it (s += t merges the last
  /// into it). Pinning them instead would change what follows.
  void forget_rewritable_annotation() noexcept {
    const std::size_t size = recording_.entries();
    for (std::size_t back = 1; back <= 2 && back <= size; ++back) {
      if (fusable_from_ != never_fuse && size - back >= fusable_from_) {
        annotations_.forget_last(size - back);
      }
    }
  }

  [[noreturn]] TINYGRAD_DETAIL_COLD void throw_full() const {
    throw tape_error(detail::tape_full_message(id()));
  }

  /// Whether a Var is simply one of this tape's current epoch, the one case
  /// an operation handles inline. (Without checks, anything but a constant.)
  [[nodiscard]] bool holds_now(const detail::Stamp& s) const noexcept {
#ifndef TINYGRAD_NO_CHECKS
    return s.generation == generation_;
#else
    return s.generation != detail::constant_generation;
#endif
  }

  /// Whether an operand is a constant, which the operation then drops as it
  /// would a plain number; throws tape_error if it is a Var that cannot be
  /// used here. The fast path (a Var of the current epoch) is the one inline
  /// comparison of require_recorded_here.
  [[nodiscard]] bool is_constant_operand(const detail::Stamp& s, const T& value) const {
#ifndef TINYGRAD_NO_CHECKS
    if (s.generation == generation_) [[likely]] {
      return false;
    }
    return is_constant_operand_slow(s, value);
#else
    (void)value;
    return s.generation == detail::constant_generation;
#endif
  }

  TINYGRAD_DETAIL_COLD bool is_constant_operand_slow(const detail::Stamp& s,
                                                     ColdValue value) const {
    if (s.generation == detail::constant_generation) {
      return true;
    }
    require_recorded_here_slow(s, value, "an operation");
    return false;
  }

  /// The fast path (a Var of the current epoch) is inline; everything else,
  /// including building the message, is out of line. A constant throws: it
  /// has no gradient and nothing to differentiate.
  void require_recorded_here(const detail::Stamp& s, const T& value, const char* use) const {
#ifndef TINYGRAD_NO_CHECKS
    if (s.generation == generation_) [[likely]] {
      return;
    }
    require_recorded_here_slow(s, value, use);
#else
    (void)s, (void)value, (void)use;
#endif
  }

  TINYGRAD_DETAIL_COLD void require_recorded_here_slow(detail::Stamp s, ColdValue value,
                                                       const char* use) const {
    if (s.tape() == id() && floors_.keeps_entry(s.epoch(), s.index)) {
      return;  // recorded in an earlier epoch, below every rewind since
    }
    throw_unusable_var(s, value, use);
  }

  // Takes the Stamp by reference, so that the slow path passes it on whole:
  // if the slow path used only its fields, g++ would have every check on
  // the hot path load them into registers for the call.
  [[noreturn]] TINYGRAD_DETAIL_COLD void throw_unusable_var(const detail::Stamp& s, ColdValue value,
                                                            const char* use) const {
    throw tape_error(
        detail::unusable_var_message(s.index, value, use, where_is(s), s.tape(), id()));
  }

  /// Where the tape of a Var that failed the check is (cold: misuse only).
  [[nodiscard]] detail::VarTape where_is(const detail::Stamp& s) const {
    if (s.generation == detail::consumed) {
      return detail::VarTape::taken_over;
    }
    if (s.generation == detail::constant_generation) {
      return detail::VarTape::constant;
    }
    if (s.tape() == id()) {
      return detail::VarTape::dropped;
    }
    if (outer_tape(s.tape()) != nullptr) {
      return detail::VarTape::outer;
    }
    const std::optional<std::thread::id> owner = detail::TapeRegistry::owner(s.tape());
    if (!owner) {
      return detail::VarTape::gone;
    }
    return *owner == std::this_thread::get_id() ? detail::VarTape::not_current
                                                : detail::VarTape::other_thread;
  }

  /// The tape with id `tape` among those this one is nested in, or null.
  [[nodiscard]] const Tape* outer_tape(std::uint32_t tape) const noexcept {
    for (const Tape* t = outer_; t != nullptr; t = t->outer_) {
      if (t->id() == tape) {
        return t;
      }
    }
    return nullptr;
  }

  // --- Reading gradients and the reverse sweep ---

  [[nodiscard]] T grad(const detail::Stamp& s, const T& value) const {
#ifndef TINYGRAD_NO_CHECKS
    if (s.generation != generation_) [[unlikely]] {
      return grad_elsewhere(s, value);
    }
#else
    (void)value;
#endif
    return gradient_at(gradients(), s.index);
  }

  /// grad() of a Var not of this tape's current epoch: of an earlier epoch
  /// that survives; or of an outer tape, whose gradient it reads there (the
  /// meaning is the same in any scope); else misuse.
  TINYGRAD_DETAIL_COLD T grad_elsewhere(const detail::Stamp& s, ColdValue value) const {
    if (const Tape* outer = outer_tape(s.tape())) {
      return outer->grad(s, value);
    }
    require_recorded_here_slow(s, value, "grad()");
    return gradient_at(grads_, s.index);
  }

  /// Entry i's gradient in `grads` (the gradient array, or a span of it read
  /// once by a caller in a loop): 0 for entries recorded since the last
  /// backward(), which has not sized the array for them. (A nested tape's 0
  /// is a Var, recorded on the tape below: that may throw.)
  static T gradient_at(std::span<const T> grads,
                       std::size_t i) noexcept(std::is_floating_point_v<T>) {
    return i < grads.size() ? grads[i] : T(0);
  }

  /// The gradients, their count kept beside the vector: grad() then reads
  /// it in one load, where the vector's size is a subtraction and a shift.
  [[nodiscard]] std::span<const T> gradients() const noexcept {
    return {grads_.data(), gradient_count_};
  }
  void resize_gradients(std::size_t count) {
    grads_.resize(count, T(0));
    gradient_count_ = count;
  }

  /// backward() from one output, its adjoint seeded with `seed`.
  void backward(const detail::Stamp& out, const T& value, ColdValue seed) {
    require_recorded_here(out, value, "backward()");
    const std::uint32_t top = out.index;
    sweep_down_from(top, [top, &seed](T* adjoint) { adjoint[top] = seed; });
  }

  /// The adjoints of every entry up to the output `out` for backward() from
  /// it, into `adjoint` instead of the gradients: the functional API's
  /// Hessians read the gradient they record from there (functional.hpp,
  /// with_gradient_recorded). The adjoints start as constant zeros, where
  /// grads_ starts from T(0), on a nested tape a zero leaf of the tape below
  /// that every share would then be added to: recorded, as an entry each.
  void sweep_into(const detail::Stamp& out, const T& value, std::vector<T>& adjoint) {
    require_recorded_here(out, value, "backward()");
    adjoint.assign(std::size_t{out.index} + 1, T());
    adjoint[out.index] = detail::constant_of<T>(1);
    detail::reverse_sweep(recording_.view(), adjoint.data(), out.index);
  }

  /// backward() from several outputs in one sweep: `seed(adjoint)` sets the
  /// outputs' adjoints, all at or below `top`, in an array that is zero.
  template <class Seed>
  void sweep_down_from(std::uint32_t top, Seed&& seed) {
    pin_recorded_entries();  // they now have gradients
    resize_gradients(size());
    if ((flags_ & detects_anomalies) != 0) [[unlikely]] {
      backward_checked(top, seed);
    } else if (grads_are_zero_) {
      seed(grads_.data());
      detail::reverse_sweep(recording_.view(), grads_.data(), top);
    } else {
      sweep_adjoints_.assign(std::size_t{top} + 1, T(0));
      seed(sweep_adjoints_.data());
      detail::reverse_sweep_accumulating(recording_.view(), sweep_adjoints_.data(), top,
                                         grads_.data());
    }
    grads_are_zero_ = false;
  }

  /// backward() in checked mode: the sweep runs on scratch and tests every
  /// adjoint it writes; the gradients take the result only if no anomaly was
  /// thrown, so a numeric_error leaves them as they were.
  template <class Seed>
  TINYGRAD_DETAIL_COLD void backward_checked(std::uint32_t out, Seed& seed) {
    sweep_adjoints_.assign(std::size_t{out} + 1, T(0));
    seed(sweep_adjoints_.data());
    const detail::RecordingView<T> view = recording_.view();
    T* adjoint = sweep_adjoints_.data();
    bool found = false;  // only the first anomaly is reported; the rest follow from it
    detail::reverse_sweep(
        view, adjoint, out, detail::NothingOnFinal{},
        [&](std::size_t i, std::size_t k, std::uint32_t j, const T* partial, bool negated) {
          const T& written = adjoint[j];
          if (found || detail::is_finite(written)) [[likely]] {
            return;
          }
          found = true;
          Anomaly anomaly = annotations_.describe(view, i, Anomaly::Phase::backward);
          anomaly.result = detail::widened(written);
          anomaly.operand = k;
          anomaly.operand_entry = j;
          anomaly.partial = partial != nullptr ? detail::widened(*partial) : negated ? -1.0L : 1.0L;
          anomaly.adjoint = detail::widened(adjoint[i]);
          annotations_.report(std::move(anomaly));
        });
    // As the unchecked sweeps leave them: the adjoints themselves where the
    // gradients were zero, and otherwise each nonzero adjoint added (adding
    // a zero could turn a gradient of -0 into +0).
    for (std::size_t i = 0; i <= out; ++i) {
      if constexpr (std::is_floating_point_v<T>) {
        if (grads_are_zero_) {
          grads_[i] = sweep_adjoints_[i];
        } else if (sweep_adjoints_[i] != T(0)) {
          grads_[i] += sweep_adjoints_[i];
        }
      } else {
        grads_[i] += sweep_adjoints_[i];  // a nested tape's adjoints are Vars: never skipped
      }
    }
  }

  // --- Epochs ---

  /// Keeps the first `entries` entries, whose operands end at `operands`.
  void truncate(std::uint32_t entries, detail::Cursor operands) {
    if (epoch() == std::numeric_limits<std::uint32_t>::max()) [[unlikely]] {
      throw tape_error(detail::out_of_epochs_message(id()));
    }
    floors_.rewind(epoch(), entries);
    ++generation_;  // the next epoch
    recording_.truncate(entries, operands);
    if (fusable_from_ != never_fuse) {
      fusable_from_ = std::min(fusable_from_, entries);
    }
    if (grads_.size() > entries) {
      resize_gradients(entries);
    }
    annotations_.truncate(entries);
  }

  [[nodiscard]] std::uint32_t id() const noexcept {
    return detail::tape_of(generation_);
  }
  [[nodiscard]] std::uint32_t epoch() const noexcept {
    return detail::epoch_of(generation_);
  }

  std::uint64_t generation_ = 0;  // this tape's id in the high half, its epoch in the low half
  Tape* outer_ = nullptr;         // the tape that was current before this one

  detail::Recording<T> recording_;  // the entries (docs/design.md, "The tape layout")

  // Gradients: sized by backward(); an entry beyond the end has gradient 0.
  std::vector<T> grads_;
  std::size_t gradient_count_ = 0;  // grads_.size(), set only by resize_gradients
  std::vector<T> sweep_adjoints_;   // scratch for backward() when grads_ is not all zero
  bool grads_are_zero_ = true;

  detail::Annotations<T> annotations_;  // while annotating or detecting, and the first anomaly

  // What recording keeps beside the entries: one byte, so that the recording
  // path tests a single flag whatever is switched on.
  enum Flag : std::uint8_t { keeps_annotations = 1, detects_anomalies = 2, skips_recording = 4 };
  std::uint8_t flags_ = 0;
  [[nodiscard]] bool records_nothing() const noexcept {
    return (flags_ & skips_recording) != 0;
  }
  void record_nothing(bool on) noexcept {
    set_flag(skips_recording, on);
    refresh_fusion();
  }

  void set_flag(Flag flag, bool on) noexcept {
    flags_ = static_cast<std::uint8_t>(on ? flags_ | flag : flags_ & ~flag);
  }

  detail::EpochFloors floors_;

  // Fusion: entries below fusable_from_ are never rewritten (a Position or
  // gradients refer to them); never_fuse while fusion is off.
  static constexpr std::uint32_t never_fuse = std::numeric_limits<std::uint32_t>::max();
  bool fuses_ = true;
  mutable std::uint32_t fusable_from_ = 0;  // mutable: position() pins
};

namespace detail {

/// Makes an existing tape current for a scope, as constructing one does.
template <class T>
class CurrentTapeScope {
 public:
  explicit CurrentTapeScope(Tape<T>& tape) noexcept : tape_(tape) { tape_.enter(); }
  ~CurrentTapeScope() { tape_.leave(); }
  CurrentTapeScope(const CurrentTapeScope&) = delete;
  CurrentTapeScope& operator=(const CurrentTapeScope&) = delete;

 private:
  Tape<T>& tape_;
};

}  // namespace detail

/// While alive, Var<T> operations on this thread compute their values
/// without recording them (the equivalent of torch.no_grad()): every result,
/// and every Var constructed meanwhile, is a constant, with no tape entry and
/// no gradient. For evaluating a model inside a training loop. It applies to
/// the tape current when it is constructed; a Tape constructed inside it
/// records as usual. Scopes nest; the end of each restores what was before.
template <class T>
class NoGradScope {
 public:
  NoGradScope() : tape_(Tape<T>::current()), recorded_nothing_(tape_.records_nothing()) {
    tape_.record_nothing(true);
  }
  ~NoGradScope() { tape_.record_nothing(recorded_nothing_); }
  NoGradScope(const NoGradScope&) = delete;
  NoGradScope& operator=(const NoGradScope&) = delete;

 private:
  Tape<T>& tape_;
  bool recorded_nothing_;
};

}  // namespace tinygrad
