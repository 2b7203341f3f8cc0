// SPDX-License-Identifier: MIT
#pragma once

// What a tape keeps per entry while annotating (Tape::annotate) or detecting
// anomalies (Tape::detect_anomalies), and the checks of that checked mode: the
// cold side of recording. See docs/design.md, "Anomaly detection".

#include <tinygrad/anomaly.hpp>
#include <tinygrad/detail/config.hpp>
#include <tinygrad/detail/source_location.hpp>
#include <tinygrad/detail/tape_layout.hpp>
#include <tinygrad/detail/traits.hpp>
#include <tinygrad/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinygrad::detail {

/// The annotations of one tape's entries, and its first anomaly.
template <class T>
class Annotations {
 public:
  /// How the cold paths take a value: by value where that is a plain copy. A
  /// reference to the result or an operand would make the hot path of
  /// recording keep those Vars in memory for calls that almost never happen.
  using ColdValue = std::conditional_t<std::is_trivially_copyable_v<T>, T, const T&>;

  /// An operation's operand values, as reports show them.
  using OperandValues = std::span<const std::optional<long double>>;

  /// An operation that an entry held before a later one fused into it.
  struct EarlierOperation {
    const char* operation = nullptr;  // "?" if recorded while not annotating or detecting
    SourceLocation where;
  };

  /// The operation whose value the entry holds, and those fused into it
  /// before (oldest first).
  struct Annotation {
    const char* operation = nullptr;
    std::optional<T> value;  // optional: constructing a T that is a Var would record a leaf
    SourceLocation where;
    std::vector<EarlierOperation> fused_before;
  };

  /// Keeps the entry's name, value and location; while `checking`, blames a
  /// non-finite value on it unless an operand was already non-finite (then
  /// the operand's producer is to blame, and was reported if it was recorded
  /// while checking).
  void on_recorded(const RecordingView<T>& recording, bool checking, std::uint32_t entry,
                   const char* operation, ColdValue value, SourceLocation where,
                   OperandValues operands) {
    notes_.resize(entry);  // entries recorded while not annotating get none
    notes_.push_back({operation, value, where, {}});
    check(recording, checking, entry, value, operands);
  }

  /// on_recorded for an operation fused into `entry`: its annotation now
  /// names this operation, and keeps the ones fused before it.
  void on_fused(const RecordingView<T>& recording, bool checking, std::uint32_t entry,
                const char* operation, ColdValue value, SourceLocation where,
                OperandValues operands) {
    if (notes_.size() <= entry) {
      notes_.resize(std::size_t{entry} + 1);  // recorded while not detecting
    }
    Annotation& note = notes_[entry];
    note.fused_before.push_back({note.operation != nullptr ? note.operation : "?", note.where});
    note.operation = operation;
    note.value = value;
    note.where = where;
    check(recording, checking, entry, value, operands);
  }

  /// After the entry after `entry` merged into it (s += t): s's note
  /// records the accumulation, with t's operations among those before it,
  /// and t's note, of an entry that no longer exists, goes; so does a
  /// recorded anomaly's blame of t's entry, which moves to s's.
  void on_merged(const RecordingView<T>& recording, bool checking, std::uint32_t entry,
                 const char* operation, ColdValue value, SourceLocation where,
                 OperandValues operands) {
    if (notes_.size() <= std::size_t{entry} + 1) {
      notes_.resize(std::size_t{entry} + 2);  // recorded while not detecting
    }
    Annotation& note = notes_[entry];
    Annotation& merged = notes_[std::size_t{entry} + 1];
    note.fused_before.push_back({note.operation != nullptr ? note.operation : "?", note.where});
    note.fused_before.insert(note.fused_before.end(), merged.fused_before.begin(),
                             merged.fused_before.end());
    note.fused_before.push_back(
        {merged.operation != nullptr ? merged.operation : "?", merged.where});
    notes_.resize(std::size_t{entry} + 1);
    // An anomaly blamed on t's entry now names s's, which holds t's
    // operation: t's index goes to the next entry recorded.
    if (first_ && first_->phase == Anomaly::Phase::recording &&
        first_->entry == std::size_t{entry} + 1) {
      first_->entry = entry;
    }
    note.operation = operation;
    note.value = value;
    note.where = where;
    check(recording, checking, entry, value, operands);
  }

  /// on_recorded for a wide entry: its operand values come from the
  /// annotations of its operands.
  void on_recorded_many(const RecordingView<T>& recording, bool checking, std::uint32_t entry,
                        const char* operation, const T& value, SourceLocation where) {
    std::vector<std::optional<long double>> operands;
    for (const std::uint32_t j : recording.operands_of(entry)) {
      operands.push_back(value_of(j));
    }
    on_recorded(recording, checking, entry, operation, value, where, operands);
  }

  /// Drops the annotation of entry `entry` if it has one and it is the
  /// last annotation kept.
  void forget_last(std::size_t entry) noexcept {
    if (notes_.size() == entry + 1) {
      notes_.pop_back();
    }
  }

  [[nodiscard]] const Annotation* find(std::size_t entry) const noexcept {
    const bool kept = entry < notes_.size() && notes_[entry].operation != nullptr;
    return kept ? &notes_[entry] : nullptr;
  }

  /// What the annotations know about an entry, for a report.
  [[nodiscard]] Anomaly describe(const RecordingView<T>& recording, std::size_t entry,
                                 Anomaly::Phase phase) const {
    const Annotation* note = find(entry);
    Anomaly found;
    found.phase = phase;
    found.entry = entry;
    // One assignment: assigning "?" and then the name makes g++ 12 at -O3 warn
    // falsely (-Wrestrict, inside std::string).
    found.operation = note != nullptr ? note->operation : "?";
    if (note != nullptr && *note->where.file_name() != '\0') {
      found.file = note->where.file_name();
      found.line = note->where.line();
    }
    for (const std::uint32_t j : recording.operands_of(entry)) {
      found.operand_values.push_back(value_of(j));
    }
    if (note != nullptr) {
      for (const EarlierOperation& earlier : note->fused_before) {
        Anomaly::Operation& described = found.fused_before.emplace_back();
        described.name = earlier.operation;
        if (*earlier.where.file_name() != '\0') {
          described.file = earlier.where.file_name();
          described.line = earlier.where.line();
        }
      }
    }
    return found;
  }

  /// Throws or keeps the first anomaly, as the user chose.
  void report(Anomaly found) {
    if (response_ == OnAnomaly::throw_error) {
      throw numeric_error(std::move(found));
    }
    if (!first_) {
      first_ = std::move(found);
    }
  }

  void respond_with(OnAnomaly response) noexcept { response_ = response; }
  [[nodiscard]] const std::optional<Anomaly>& first_anomaly() const noexcept { return first_; }
  void clear_anomaly() noexcept { first_.reset(); }

  /// Keeps the annotations of the first `entries` entries.
  void truncate(std::size_t entries) {
    if (notes_.size() > entries) {
      notes_.resize(entries);
    }
  }
  void shrink_to_fit() { notes_.shrink_to_fit(); }

 private:
  /// While checking, blames a non-finite value on the entry's (latest)
  /// operation unless an operand was already non-finite.
  void check(const RecordingView<T>& recording, bool checking, std::uint32_t entry, ColdValue value,
             OperandValues operands) {
    if (!checking || is_finite(value)) {
      return;
    }
    const bool operands_finite = std::ranges::none_of(
        operands, [](const auto& v) { return v.has_value() && !std::isfinite(*v); });
    if (operands_finite) {
      Anomaly found = describe(recording, entry, Anomaly::Phase::recording);
      // The operation's own operands: a fused entry holds those of the whole
      // chain, and x * x one operand for two.
      found.operand_values.assign(operands.begin(), operands.end());
      found.result = widened(value);
      report(std::move(found));
    }
  }

  [[nodiscard]] std::optional<long double> value_of(std::size_t entry) const {
    const Annotation* note = find(entry);
    return note != nullptr ? std::optional(widened(*note->value)) : std::nullopt;
  }

  std::vector<Annotation> notes_;  // per entry while annotating or detecting
  OnAnomaly response_ = OnAnomaly::throw_error;
  std::optional<Anomaly> first_;  // the first one, with OnAnomaly::record
};

}  // namespace tinygrad::detail
