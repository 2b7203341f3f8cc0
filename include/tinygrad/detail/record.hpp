// SPDX-License-Identifier: MIT
#pragma once

// Recording: how an operation on Vars becomes an entry of the current tape.
// Every operation of tinygrad computes its value and partial derivatives on
// plain T and calls detail::record; Recorder checks the Var operands, then
// either fuses the operation into its operand's entry or appends one. See
// docs/design.md, "Data flow at a glance".

#include <tinygrad/detail/source_location.hpp>
#include <tinygrad/detail/stamp.hpp>
#include <tinygrad/detail/tape_layout.hpp>
#include <tinygrad/detail/traits.hpp>
#include <tinygrad/tape.hpp>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tinygrad::detail {

/// Records the result of an operation onto the current tape after checking
/// that its Var operands belong there. Every operation of tinygrad goes
/// through here: it computes its value and partial derivatives on plain T and
/// hands them over.
template <class T>
struct Recorder {
  /// Records `value`, computed from x by `operation`, with d(value)/dx = dx.
  /// With P unit (x + c) or unit_negated_last (c - x, -x), dx is +1 or -1
  /// and the entry's shape says so instead of a stored partial; a nested tape
  /// (T a Var) stores it all the same, so that every partial it shows is a T
  /// it holds, and never fuses (its partials are Vars).
  ///
  /// The inline path is for a Var of the current epoch; anything else (a
  /// constant, a Var of an earlier epoch, misuse) goes out of line. That
  /// path never fuses, takes the operands by value and returns only a stamp:
  /// given an operand's address, or building the result itself, it would
  /// make g++ keep every temporary Var in memory on the inline path too.
  template <Partials P>
  TINYGRAD_DETAIL_HOT_INLINE static Var<T> unary(SourceLocation where, const char* operation,
                                                 Passed<T> value, const Var<T>& x, Passed<T> dx,
                                                 Var<T>* x_rvalue) {
    Tape<T>& tape = Tape<T>::current();
    if (!tape.holds_now(x.stamp_)) [[unlikely]] {
      return Var<T>(value, unary_unusual<P>(where, operation, value, x.value_, x.stamp_, dx), true);
    }
    if constexpr (!is_var<T>) {
      assert_unit_partial<P>(dx, true);
      if (fuses(x_rvalue) && tape.fuse(x.stamp_, dx, nullptr, T(0))) {
        return take_over(tape, *x_rvalue, value, operation, where, x.value_);
      }
    }
    return Var<T>(value,
                  tape.template record<stored_by<P>>(
                      operation, value, where, OperandWithValue<T>{x.stamp_.index, dx, x.value_}),
                  true);
  }

  /// Records `value`, computed from x and y, with partials dx and dy. With P
  /// unit (x + y) both are +1; with unit_negated_last (x - y), dy is -1.
  template <Partials P>
  TINYGRAD_DETAIL_HOT_INLINE static Var<T> binary(SourceLocation where, const char* operation,
                                                  Passed<T> value, const Var<T>& x, Passed<T> dx,
                                                  const Var<T>& y, Passed<T> dy, Var<T>* x_rvalue,
                                                  Var<T>* y_rvalue) {
    Tape<T>& tape = Tape<T>::current();
    if (!tape.holds_now(x.stamp_) || !tape.holds_now(y.stamp_)) [[unlikely]] {
      return Var<T>(value,
                    binary_unusual<P>(where, operation, value, x.value_, x.stamp_, dx, y.value_,
                                      y.stamp_, dy),
                    true);
    }
    if constexpr (!is_var<T>) {
      assert_unit_partial<P>(dx, false);
      assert_unit_partial<P>(dy, true);
      // Fusion needs two entries: fused, `t + std::move(t)` would make t's
      // entry its own operand, and the sweep would lose the share sent there.
      if (x.stamp_.index != y.stamp_.index) [[likely]] {
        if (fuses(x_rvalue) && tape.fuse(x.stamp_, dx, &y.stamp_.index, dy)) {
          return take_over(tape, *x_rvalue, value, operation, where, x.value_, y.value_);
        }
        if (fuses(y_rvalue) && tape.fuse(y.stamp_, dy, &x.stamp_.index, dx)) {
          return take_over(tape, *y_rvalue, value, operation, where, x.value_, y.value_);
        }
      } else if constexpr (P == Partials::stored) {
        // x * x: one operand with the summed partial (fusion's merging, so
        // that a fused entry built on it keeps room for a second operand).
        // Not for unit partials, whose sum is no longer a unit.
        if (tape.merges_operands()) {
          return Var<T>(value,
                        tape.record(operation, value, where,
                                    OperandWithValue<T>{x.stamp_.index, dx + dy, x.value_}),
                        true);
        }
      }
    }
    return Var<T>(value,
                  tape.template record<stored_by<P>>(
                      operation, value, where, OperandWithValue<T>{x.stamp_.index, dx, x.value_},
                      OperandWithValue<T>{y.stamp_.index, dy, y.value_}),
                  true);
  }

  /// `s += t` (P unit) or `s -= t` (P unit_negated_last) for an rvalue t:
  /// rebinds s to its result. When s and t are each the only Var of their
  /// entry, and t's entry comes right after s's at the end of the tape (a
  /// loop `s += w[i] * x[i]`), s's entry takes t's operands and t's entry
  /// goes (docs/design.md, "Accumulating into one entry"); otherwise it
  /// records as `s = s + t` does, fusing into t's entry where it can. Either
  /// way the result is fresh: s is its only Var.
  template <Partials P>
  TINYGRAD_DETAIL_HOT_INLINE static Var<T>& accumulate(SourceLocation where, const char* operation,
                                                       Var<T>& s, Var<T>& t) {
    constexpr bool subtracting = P == Partials::unit_negated_last;
    const T value = subtracting ? s.value_ - t.value_ : s.value_ + t.value_;
    if constexpr (!is_var<T>) {
      Tape<T>& tape = Tape<T>::current();
      // Adjacency first: where it fails (a sum of terms that record more
      // than one entry each), it fails at once.
      if (s.stamp_.index + 1 == t.stamp_.index && s.stamp_.fresh && t.stamp_.fresh &&
          tape.merge(s.stamp_, t.stamp_, subtracting ? T(-1) : T(1))) {
        const T s_value = s.value_;
        s.value_ = value;
        t.stamp_.generation = consumed;
        t.stamp_.fresh = false;
        tape.after_merge(s.stamp_.index, operation, value, where, s_value, t.value_);
        return s;
      }
    }
    return s.rebind(binary<P>(where, operation, value, s, constant_of<T>(1), t,
                              constant_of<T>(subtracting ? -1 : 1), nullptr, &t));
  }

  /// The stamp of unary()'s result when x is not simply a Var of the current
  /// epoch: a constant's for a constant; for a Var of an earlier epoch that
  /// the tape still holds, the entry's; misuse throws tape_error.
  template <Partials P>
  TINYGRAD_DETAIL_COLD static Stamp unary_unusual(SourceLocation where, const char* operation,
                                                  T value, T x_value, Stamp x_stamp, T dx) {
    Tape<T>& tape = Tape<T>::current();
    if (tape.is_constant_operand(x_stamp, x_value)) {
      return constant_stamp;
    }
    return tape.template record<stored_by<P>>(operation, value, where,
                                              OperandWithValue<T>{x_stamp.index, dx, x_value});
  }

  /// As unary_unusual, for binary(). With one constant operand, the
  /// operation records as the unary one of the other with a plain number
  /// would (x * c, c - x); with two, nothing.
  template <Partials P>
  TINYGRAD_DETAIL_COLD static Stamp binary_unusual(SourceLocation where, const char* operation,
                                                   T value, T x_value, Stamp x_stamp, T dx,
                                                   T y_value, Stamp y_stamp, T dy) {
    Tape<T>& tape = Tape<T>::current();
    const bool x_constant = tape.is_constant_operand(x_stamp, x_value);
    const bool y_constant = tape.is_constant_operand(y_stamp, y_value);
    const OperandWithValue<T> x{x_stamp.index, dx, x_value};
    const OperandWithValue<T> y{y_stamp.index, dy, y_value};
    if (x_constant && y_constant) {
      return constant_stamp;
    }
    if (x_constant) {
      if constexpr (!is_var<T>) {
        assert_unit_partial<P>(dy, true);
      }
      return tape.template record<stored_by<P>>(operation, value, where, y);
    }
    if (y_constant) {
      // x - c: the partial left is +1, a unit.
      constexpr Partials left = P == Partials::unit_negated_last ? Partials::unit : P;
      if constexpr (!is_var<T>) {
        assert_unit_partial<left>(dx, true);
      }
      return tape.template record<stored_by<left>>(operation, value, where, x);
    }
    return tape.template record<stored_by<P>>(operation, value, where, x, y);
  }

  /// What an entry of partials P stores on this tape: a nested tape stores
  /// even unit partials.
  template <Partials P>
  static constexpr Partials stored_by = is_var<T> ? Partials::stored : P;

  /// A unit partial must be what P says it is, or the fused and the unfused
  /// entry would differ: -1 for the last operand of unit_negated_last, +1
  /// otherwise.
  template <Partials P>
  static void assert_unit_partial([[maybe_unused]] T partial, [[maybe_unused]] bool last) noexcept {
    if constexpr (P != Partials::stored) {
      assert(partial == (P == Partials::unit_negated_last && last ? T(-1) : T(1)) &&
             "a unit partial is +1 or -1");
    }
  }

  /// Whether an operand may be consumed: it was an rvalue and is the only
  /// Var of its entry (the tape then checks that the entry is the last and
  /// unpinned).
  static bool fuses(const Var<T>* rvalue) noexcept {
    return rvalue != nullptr && rvalue->stamp_.fresh;
  }

  /// The result of an operation fused into the entry of `operand`, which
  /// is invalid from now on. The operation's operand values are for anomaly
  /// detection, which checks a fused operation as it checks any other.
  template <class... Values>
  TINYGRAD_DETAIL_HOT_INLINE static Var<T> take_over(Tape<T>& tape, Var<T>& operand, T value,
                                                     const char* operation, SourceLocation where,
                                                     Values... operand_values) {
    const Stamp stamp{operand.stamp_.generation, operand.stamp_.index, true};
    operand.stamp_.generation = consumed;
    operand.stamp_.fresh = false;
    tape.after_fusion(stamp.index, operation, value, where, operand_values...);
    return Var<T>(value, stamp, true);  // a prvalue: a copy would not be fresh
  }

  static void leaves(std::span<const T> values, std::vector<Var<T>>& out, SourceLocation where) {
    const detail::Stamp first = Tape<T>::current().record_leaves(values, where);
    const auto stamp_of = [&](std::size_t i) {
      return Stamp{first.generation, first.index + static_cast<std::uint32_t>(i)};
    };
    if (out.size() == values.size()) {
      // The common case of a loop that records the same parameters each
      // time: the Vars there take the new values and stamps in place, which
      // is what assigning new ones would do, without a copy's bookkeeping.
      for (std::size_t i = 0; i < values.size(); ++i) {
        out[i].value_ = values[i];
        out[i].stamp_ = stamp_of(i);
      }
      return;
    }
    out.clear();
    out.reserve(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      out.push_back(Var<T>(values[i], stamp_of(i), false));
    }
  }

  static void gradients(std::span<const Var<T>> vars, std::span<T> out) {
    require_same_size("read_gradients", "vars", vars.size(), "out", out.size());
    // Tape::grad on each, with the gradient array read once: a failed check
    // changes nothing, but the compiler cannot know that about its cold call
    // and would reload the array after every check.
    const Tape<T>& tape = Tape<T>::current();
    const std::span<const T> grads = tape.gradients();
    for (std::size_t i = 0; i < vars.size(); ++i) {
      const Stamp& s = vars[i].stamp_;
      tape.require_recorded_here(s, vars[i].value_, "grad()");
      out[i] = Tape<T>::gradient_at(grads, s.index);
    }
  }

  /// backward() from several outputs in one sweep, each seeded (seeds of an
  /// output given twice add up).
  static void backward(std::span<const Var<T>> outputs, std::span<const T> seeds) {
    require_same_size("backward", "outputs", outputs.size(), "seeds", seeds.size());
    Tape<T>& tape = Tape<T>::current();
    std::uint32_t top = 0;
    for (const Var<T>& y : outputs) {
      tape.require_recorded_here(y.stamp_, y.value_, "backward()");
      top = std::max(top, y.stamp_.index);
    }
    if (outputs.empty()) {
      return;
    }
    tape.sweep_down_from(top, [&](T* adjoint) {
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        adjoint[outputs[i].stamp_.index] += seeds[i];
      }
    });
  }

  /// One entry with many operands: fill(OperandWriter<T>&) adds at most
  /// `max_operands` of them. Fused operations (dot, nn::Dense) record this way:
  /// one entry where separate operations would record one per term.
  /// With Partials::unit, every partial is +1 and fill adds operands
  /// without one (sum).
  template <class Fill>
  static Var<T> many(SourceLocation where, const char* operation, T value, std::size_t max_operands,
                     Fill&& fill, Partials partials = Partials::stored) {
    if constexpr (is_var<T>) {
      partials = Partials::stored;  // as in unary
    }
    Tape<T>& tape = Tape<T>::current();
    return Var<T>(value,
                  tape.record_many(operation, value, where, max_operands, partials,
                                   [&](std::uint32_t* index, T* partial) {
                                     OperandWriter<T> writer(tape, index, partial, max_operands);
                                     fill(writer);
                                     return writer.count();
                                   }),
                  true);
  }
};

/// Writes the operands of one wide entry (Recorder::many): each add() checks
/// the Var like any operand and stores it with its partial.
template <class T>
class OperandWriter {
 public:
  OperandWriter(const Tape<T>& tape, std::uint32_t* index, T* partial,
                std::size_t capacity) noexcept
      : tape_(tape), index_(index), partial_(partial), capacity_(capacity) {}

  void add(const Var<T>& x, T partial) {
    assert(count_ < capacity_ && "more operands than Recorder::many was told to expect");
    if (tape_.is_constant_operand(x.stamp_, x.value_)) [[unlikely]] {
      return;  // a term with a constant: part of the value, nothing to differentiate
    }
    index_[count_] = x.stamp_.index;
    if (partial_ != nullptr) {
      partial_[count_] = partial;
    } else {
      assert(partial == T(1) && "a unit entry's partials are 1");
    }
    ++count_;
  }
  [[nodiscard]] std::size_t count() const noexcept { return count_; }

 private:
  const Tape<T>& tape_;
  std::uint32_t* index_;
  T* partial_;            // null when the partials are unit
  std::size_t capacity_;  // only for the assertion: the room the recording made
  std::size_t count_ = 0;
};

/// Records `value`, computed from x by `operation` (a name for annotations,
/// see Tape::annotate), with d(value)/dx = dx; `where` is the line of the
/// user's code that asked for it (for anomaly reports). If `x_rvalue` is not
/// null, x was an rvalue: the operation may take over its entry (fusion).
/// P: see Recorder::unary.
template <Partials P = Partials::stored, class T>
TINYGRAD_DETAIL_HOT_INLINE inline Var<T> record(SourceLocation where, const char* operation,
                                                Passed<T> value, const Var<T>& x, Passed<T> dx,
                                                Var<T>* x_rvalue = nullptr) {
  return Recorder<T>::template unary<P>(where, operation, value, x, dx, x_rvalue);
}

/// Records `value`, computed from x and y, with partials dx and dy.
template <Partials P = Partials::stored, class T>
TINYGRAD_DETAIL_HOT_INLINE inline Var<T> record(SourceLocation where, const char* operation,
                                                Passed<T> value, const Var<T>& x, Passed<T> dx,
                                                const Var<T>& y, Passed<T> dy,
                                                Var<T>* x_rvalue = nullptr,
                                                Var<T>* y_rvalue = nullptr) {
  return Recorder<T>::template binary<P>(where, operation, value, x, dx, y, dy, x_rvalue, y_rvalue);
}

/// `s += t` (P unit) or `s -= t` (P unit_negated_last) for an rvalue t.
template <Partials P, class T>
TINYGRAD_DETAIL_HOT_INLINE inline Var<T>& accumulate(SourceLocation where, const char* operation,
                                                     Var<T>& s, Var<T>& t) {
  return Recorder<T>::template accumulate<P>(where, operation, s, t);
}

}  // namespace tinygrad::detail

namespace tinygrad {

/// Records `values` as leaves on the current tape, all at once, and puts
/// their Vars in `leaves` (replacing its contents; its capacity is reused).
/// The same as assigning Var<T>(value) one by one, without the per-leaf work.
template <class T>
void record_leaves(std::span<const T> values, std::vector<Var<T>>& leaves,
                   detail::SourceLocation where = detail::SourceLocation::current()) {
  detail::Recorder<T>::leaves(values, leaves, where);
}

/// Reads the gradient of every Var of `vars` into `out`, which must have the
/// same size (std::invalid_argument otherwise); the same as grad() on each.
template <class T>
void read_gradients(std::span<const Var<T>> vars, std::span<T> out) {
  detail::Recorder<T>::gradients(vars, out);
}

/// record_leaves over any contiguous range of values (std::vector,
/// std::array, a C array, a span).
template <class R, class T = detail::RangeElement<R>>
requires detail::ContiguousRangeOf<R, T> && detail::Real<T>
void record_leaves(const R& values, std::vector<Var<T>>& leaves,
                   detail::SourceLocation where = detail::SourceLocation::current()) {
  detail::Recorder<T>::leaves(std::span<const T>(values), leaves, where);
}

/// read_gradients over any contiguous ranges: Vars in, writable T out.
template <detail::VarRange V, class Out>
requires detail::WritableRangeOf<Out, detail::VarRangeValue<V>>
void read_gradients(const V& vars, Out&& out) {
  using T = detail::VarRangeValue<V>;
  detail::Recorder<T>::gradients(std::span<const Var<T>>(vars), std::span<T>(out));
}

/// Adds sum_k seeds[k] * d(outputs[k])/d(v) into the gradient of every Var v
/// recorded before the outputs, in one reverse sweep: the vector-Jacobian
/// product of the seeds with the outputs' Jacobian (for one output, the
/// same as outputs[0].backward(seeds[0])). Any contiguous ranges of Var<T>
/// and of T, of the same size (std::invalid_argument otherwise).
template <detail::VarRange Outputs, class Seeds>
requires detail::ContiguousRangeOf<Seeds, detail::VarRangeValue<Outputs>>
void backward(const Outputs& outputs, const Seeds& seeds) {
  using T = detail::VarRangeValue<Outputs>;
  detail::Recorder<T>::backward(std::span<const Var<T>>(outputs), std::span<const T>(seeds));
}

}  // namespace tinygrad
