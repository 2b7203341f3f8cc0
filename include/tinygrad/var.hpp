// SPDX-License-Identifier: MIT
#pragma once

// The entry point of tinygrad. Var<T> is a value that records every operation
// on it onto the current Tape<T>; backward() then fills in the gradients.
//
//   tinygrad::Var<double> x = 1.5, y = 2.0;
//   auto z = x * y + tinygrad::sigmoid(x);
//   z.backward();                       // x.grad() == dz/dx, y.grad() == dz/dy
//
// This header defines Var and its arithmetic; it also brings in the elementary
// functions and activations (math.hpp) and the activations' array kernels
// (activation_kernels.hpp) so that one include is enough.

#include <tinygrad/tape.hpp>

#include <atomic>
#include <cassert>
#include <compare>
#include <concepts>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tinygrad {

namespace detail {

/// A plain number that may be mixed with a Var: any arithmetic type but bool.
template <class S>
concept Scalar = std::is_arithmetic_v<S> && !std::same_as<std::remove_cv_t<S>, bool>;

template <class T>
class OperandWriter;

// Every operation records through these (defined below Var).
// An operand given as `Var<T>* ..._rvalue` (non-null) was an rvalue: the
// operation may take over its entry (fusion, docs/design.md).
template <class T>
Var<T> record(SourceLocation where, const char* operation, T value, const Var<T>& x, T dx,
              Var<T>* x_rvalue = nullptr);
template <class T>
Var<T> record(SourceLocation where, const char* operation, T value, const Var<T>& x, T dx,
              const Var<T>& y, T dy, Var<T>* x_rvalue = nullptr, Var<T>* y_rvalue = nullptr);
template <class T>
Var<T> record_unit(SourceLocation where, const char* operation, T value, const Var<T>& x,
                   Partials partials, Var<T>* x_rvalue = nullptr);
template <class T>
Var<T> record_unit(SourceLocation where, const char* operation, T value, const Var<T>& x,
                   const Var<T>& y, Partials partials, Var<T>* x_rvalue = nullptr,
                   Var<T>* y_rvalue = nullptr);

/// A Var operand of an operator, with where the operator was written (see
/// Located) and, if the argument was an rvalue, a pointer to it: the
/// operation may then take over its tape entry.
template <class V>
struct LocatedOperand {
  LocatedOperand(const V& value,  // NOLINT(google-explicit-constructor): see Located
                 SourceLocation location = SourceLocation::current()) noexcept
      : argument(value), where(location) {}
  LocatedOperand(V&& value,  // NOLINT(google-explicit-constructor)
                 SourceLocation location = SourceLocation::current()) noexcept
      : argument(value), rvalue(&value), where(location) {}

  const V& argument;
  V* rvalue = nullptr;
  SourceLocation where;
};

// The partials of x + y, x - y, ...: none is stored (docs/design.md).
inline constexpr Partials plus = Partials::unit;
inline constexpr Partials minus_last = Partials::unit_negated_last;

}  // namespace detail

/// A differentiable value: a T plus the tape entry that records how it was
/// computed. Copying a Var copies that reference, not the recording.
///
/// An operation given a Var rvalue (a temporary, or std::move(v)) may take
/// over its entry (fusion, docs/design.md); a Var so consumed is invalid
/// afterwards: using it throws tape_error.
template <class T>
class Var {
  static_assert(detail::Real<T>,
                "tinygrad::Var<T>: T must be float, double or long double, or a Var of one of "
                "them (for second derivatives).");

  // Operands of the operators below: a Var, whether it is an rvalue, and
  // where the operator was written.
  using Located = detail::LocatedOperand<Var>;
  using LocatedTarget = detail::Located<Var&>;

 public:
  using value_type = T;

  /// A leaf with value 0 on the current tape.
  Var() : Var(T(0)) {}

  /// A leaf (an input to differentiate with respect to) on the current tape.
  /// `where` is for anomaly reports (Tape::detect_anomalies); leave it be.
  Var(T value,  // NOLINT(google-explicit-constructor): Var<double> x = 1.5 is the point
      detail::SourceLocation where = detail::SourceLocation::current())
      : value_(value), stamp_(Tape<T>::current().record("leaf", value, where)) {}

  /// A leaf from any other arithmetic scalar, converted to T: `Var<double> x
  /// = 1;`, and `Var<Var<double>> s = 0.0;` in generic code.
  template <detail::Scalar S>
  Var(S value,  // NOLINT(google-explicit-constructor)
      detail::SourceLocation where = detail::SourceLocation::current())
      : Var(static_cast<T>(value), where) {}

  // Copies and moves alike: the new Var refers to the same entry as the old,
  // and neither is fresh any more (only a Var that is the sole reference to
  // its entry may be consumed). atomic_ref: copying a const Var shared between
  // threads must not race on the flag.
  //
  // The stamp is copied field by field: copied whole, g++ moves its 13 bytes
  // as two overlapping 8-byte loads, which cannot be forwarded from the
  // separate stores that just wrote them: a stall on every copy.
  Var(const Var& other) noexcept
      : value_(other.value_), stamp_{other.stamp_.generation, other.stamp_.index, false} {
    other.share();
  }
  Var& operator=(const Var& other) noexcept {
    value_ = other.value_;
    stamp_.generation = other.stamp_.generation;
    stamp_.index = other.stamp_.index;
    stamp_.fresh = false;
    other.share();
    return *this;
  }
  ~Var() = default;

  /// The value computed when this Var was recorded. Never throws.
  [[nodiscard]] T value() const noexcept { return value_; }

  /// The gradient accumulated by backward() calls on the current tape:
  /// the sum over those calls of d(output)/d(this). Zero before any.
  [[nodiscard]] T grad() const { return Tape<T>::current().grad(stamp_, value_); }

  /// Adds d(this)/d(v) into the gradient of every Var v recorded before this
  /// one on the current tape (this one included, which gets 1 added).
  void backward() const { Tape<T>::current().backward(stamp_, value_); }

  // ---- Arithmetic. Scalars are converted to T and folded into the partials.
  //
  // The operators are hidden friends whose Var operand is a Located<const
  // Var&>: converting to it captures the caller's file:line for anomaly
  // reports (docs/design.md, "Anomaly detection"), at no cost when detection
  // is off. Argument-dependent lookup finds them as it would free templates.

  TINYGRAD_DETAIL_INLINE friend Var operator+(Located x) { return x.argument; }
  TINYGRAD_DETAIL_INLINE friend Var operator-(Located x) {
    const Var& a = x.argument;
    return detail::record_unit(x.where, "neg", -a.value_, a, detail::minus_last, x.rvalue);
  }

  // Each binary operator twice, for a second operand that is an lvalue and
  // one that is an rvalue (the first operand's Located records which it is).
  TINYGRAD_DETAIL_INLINE friend Var operator+(Located x, const Var& y) {
    return add(x, y, nullptr);
  }
  TINYGRAD_DETAIL_INLINE friend Var operator+(Located x, Var&& y) { return add(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator+(Located x, S c) {
    const Var& a = x.argument;
    return detail::record_unit(x.where, "+", a.value_ + static_cast<T>(c), a, detail::plus,
                               x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator+(S c, Located y) {
    const Var& b = y.argument;
    return detail::record_unit(y.where, "+", static_cast<T>(c) + b.value_, b, detail::plus,
                               y.rvalue);
  }

  TINYGRAD_DETAIL_INLINE friend Var operator-(Located x, const Var& y) {
    return subtract(x, y, nullptr);
  }
  TINYGRAD_DETAIL_INLINE friend Var operator-(Located x, Var&& y) { return subtract(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator-(Located x, S c) {
    const Var& a = x.argument;
    return detail::record_unit(x.where, "-", a.value_ - static_cast<T>(c), a, detail::plus,
                               x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator-(S c, Located y) {
    const Var& b = y.argument;
    return detail::record_unit(y.where, "-", static_cast<T>(c) - b.value_, b, detail::minus_last,
                               y.rvalue);
  }

  TINYGRAD_DETAIL_INLINE friend Var operator*(Located x, const Var& y) {
    return multiply(x, y, nullptr);
  }
  TINYGRAD_DETAIL_INLINE friend Var operator*(Located x, Var&& y) { return multiply(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator*(Located x, S c) {
    const Var& a = x.argument;
    return detail::record(x.where, "*", a.value_ * static_cast<T>(c), a, static_cast<T>(c),
                          x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator*(S c, Located y) {
    const Var& b = y.argument;
    return detail::record(y.where, "*", static_cast<T>(c) * b.value_, b, static_cast<T>(c),
                          y.rvalue);
  }

  TINYGRAD_DETAIL_INLINE friend Var operator/(Located x, const Var& y) {
    return divide(x, y, nullptr);
  }
  TINYGRAD_DETAIL_INLINE friend Var operator/(Located x, Var&& y) { return divide(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator/(Located x, S c) {
    const Var& a = x.argument;
    const T d = static_cast<T>(c);
    return detail::record(x.where, "/", a.value_ / d, a, T(1) / d, x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_INLINE friend Var operator/(S c, Located y) {
    const Var& b = y.argument;
    const T q = static_cast<T>(c) / b.value_;
    return detail::record(y.where, "/", q, b, -q / b.value_, y.rvalue);
  }

  // Compound assignment rebinds this Var to a new entry: `t += u` means
  // `t = t + u`, so copies of the old value are unaffected.
  friend Var& operator+=(LocatedTarget x, const Var& y) {
    return x.argument = Located(x.argument, x.where) + y;
  }
  friend Var& operator-=(LocatedTarget x, const Var& y) {
    return x.argument = Located(x.argument, x.where) - y;
  }
  friend Var& operator*=(LocatedTarget x, const Var& y) {
    return x.argument = Located(x.argument, x.where) * y;
  }
  friend Var& operator/=(LocatedTarget x, const Var& y) {
    return x.argument = Located(x.argument, x.where) / y;
  }
  template <detail::Scalar S>
  friend Var& operator+=(LocatedTarget x, S c) {
    return x.argument = Located(x.argument, x.where) + c;
  }
  template <detail::Scalar S>
  friend Var& operator-=(LocatedTarget x, S c) {
    return x.argument = Located(x.argument, x.where) - c;
  }
  template <detail::Scalar S>
  friend Var& operator*=(LocatedTarget x, S c) {
    return x.argument = Located(x.argument, x.where) * c;
  }
  template <detail::Scalar S>
  friend Var& operator/=(LocatedTarget x, S c) {
    return x.argument = Located(x.argument, x.where) / c;
  }

 private:
  friend struct detail::Recorder<T>;
  friend class detail::OperandWriter<T>;
  Var(T value, const detail::Stamp& stamp, bool fresh) noexcept
      : value_(value), stamp_{stamp.generation, stamp.index, fresh} {}

  // The binary operators, for either kind of second operand (y_rvalue is y
  // or null).
  TINYGRAD_DETAIL_INLINE static Var add(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    return detail::record_unit(x.where, "+", a.value_ + y.value_, a, y, detail::plus, x.rvalue,
                               y_rvalue);
  }
  TINYGRAD_DETAIL_INLINE static Var subtract(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    return detail::record_unit(x.where, "-", a.value_ - y.value_, a, y, detail::minus_last,
                               x.rvalue, y_rvalue);
  }
  TINYGRAD_DETAIL_INLINE static Var multiply(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    return detail::record(x.where, "*", a.value_ * y.value_, a, y.value_, y, a.value_, x.rvalue,
                          y_rvalue);
  }
  // d(x/y)/dy = -x/y^2, written as -(x/y)/y so that it reuses the quotient and
  // does not overflow where x/y itself does not.
  TINYGRAD_DETAIL_INLINE static Var divide(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    const T q = a.value_ / y.value_;
    return detail::record(x.where, "/", q, a, T(1) / y.value_, y, -q / y.value_, x.rvalue,
                          y_rvalue);
  }

  /// Called on the source of a copy: it no longer is the only Var of its entry.
  void share() const noexcept {
    std::atomic_ref<bool> fresh(stamp_.fresh);
    if (fresh.load(std::memory_order_relaxed)) {
      fresh.store(false, std::memory_order_relaxed);
    }
  }

  T value_;
  detail::Stamp stamp_;  // stamp_.fresh: set by Recorder, cleared by copies and moves
};

namespace detail {

/// Records the result of an operation onto the current tape after checking
/// that its Var operands belong there. Every operation of tinygrad goes
/// through here: it computes its value and partial derivatives on plain T and
/// hands them over.
template <class T>
struct Recorder {
  TINYGRAD_DETAIL_INLINE static Var<T> unary(SourceLocation where, const char* operation, T value,
                                             const Var<T>& x, T dx, Var<T>* x_rvalue = nullptr) {
    Tape<T>& tape = Tape<T>::current();
    tape.require_recorded_here(x.stamp_, x.value_, "an operation");
    if constexpr (!is_var<T>) {  // a nested tape never fuses: its partials are Vars
      if (fuses(x_rvalue) && tape.fuse(x.stamp_, dx, nullptr, T(0))) {
        return take_over(tape, *x_rvalue, value, operation, where, x.value_);
      }
    }
    return Var<T>(
        value,
        tape.record(operation, value, where, OperandWithValue<T>{x.stamp_.index, dx, x.value_}),
        true);
  }

  TINYGRAD_DETAIL_INLINE static Var<T> binary(SourceLocation where, const char* operation, T value,
                                              const Var<T>& x, T dx, const Var<T>& y, T dy,
                                              Var<T>* x_rvalue = nullptr,
                                              Var<T>* y_rvalue = nullptr) {
    Tape<T>& tape = Tape<T>::current();
    tape.require_recorded_here(x.stamp_, x.value_, "an operation");
    tape.require_recorded_here(y.stamp_, y.value_, "an operation");
    if constexpr (!is_var<T>) {
      if (fuses(x_rvalue) && tape.fuse(x.stamp_, dx, &y.stamp_.index, dy)) {
        return take_over(tape, *x_rvalue, value, operation, where, x.value_, y.value_);
      }
      if (fuses(y_rvalue) && tape.fuse(y.stamp_, dy, &x.stamp_.index, dx)) {
        return take_over(tape, *y_rvalue, value, operation, where, x.value_, y.value_);
      }
      // x * x: one operand with the summed partial (fusion's merging, so that
      // a fused entry built on it keeps room for a second operand).
      if (x.stamp_.index == y.stamp_.index && tape.merges_operands()) {
        return Var<T>(value,
                      tape.record(operation, value, where,
                                  OperandWithValue<T>{x.stamp_.index, dx + dy, x.value_}),
                      true);
      }
    }
    return Var<T>(
        value,
        tape.record(operation, value, where, OperandWithValue<T>{x.stamp_.index, dx, x.value_},
                    OperandWithValue<T>{y.stamp_.index, dy, y.value_}),
        true);
  }

  /// An entry whose partials are +1 (the last -1 with minus_last): none is
  /// stored. A nested tape (T a Var) stores them as constants all the same,
  /// so that every partial it shows is a T it holds.
  TINYGRAD_DETAIL_INLINE static Var<T> unary_unit(SourceLocation where, const char* operation,
                                                  T value, const Var<T>& x, Partials partials,
                                                  Var<T>* x_rvalue = nullptr) {
    if constexpr (is_var<T>) {
      return unary(where, operation, value, x, T(partials == minus_last ? -1 : 1));
    } else {
      Tape<T>& tape = Tape<T>::current();
      tape.require_recorded_here(x.stamp_, x.value_, "an operation");
      const T dx = partials == minus_last ? T(-1) : T(1);
      if (fuses(x_rvalue) && tape.fuse(x.stamp_, dx, nullptr, T(0))) {
        return take_over(tape, *x_rvalue, value, operation, where, x.value_);
      }
      const auto operand = OperandWithValue<T>{x.stamp_.index, T(1), x.value_};
      return Var<T>(value,
                    partials == minus_last
                        ? tape.template record<minus_last>(operation, value, where, operand)
                        : tape.template record<plus>(operation, value, where, operand),
                    true);
    }
  }

  TINYGRAD_DETAIL_INLINE static Var<T> binary_unit(SourceLocation where, const char* operation,
                                                   T value, const Var<T>& x, const Var<T>& y,
                                                   Partials partials, Var<T>* x_rvalue = nullptr,
                                                   Var<T>* y_rvalue = nullptr) {
    if constexpr (is_var<T>) {
      return binary(where, operation, value, x, T(1), y, T(partials == minus_last ? -1 : 1));
    } else {
      Tape<T>& tape = Tape<T>::current();
      tape.require_recorded_here(x.stamp_, x.value_, "an operation");
      tape.require_recorded_here(y.stamp_, y.value_, "an operation");
      const T dy = partials == minus_last ? T(-1) : T(1);
      if (fuses(x_rvalue) && tape.fuse(x.stamp_, T(1), &y.stamp_.index, dy)) {
        return take_over(tape, *x_rvalue, value, operation, where, x.value_, y.value_);
      }
      if (fuses(y_rvalue) && tape.fuse(y.stamp_, dy, &x.stamp_.index, T(1))) {
        return take_over(tape, *y_rvalue, value, operation, where, x.value_, y.value_);
      }
      const auto first = OperandWithValue<T>{x.stamp_.index, T(1), x.value_};
      const auto second = OperandWithValue<T>{y.stamp_.index, T(1), y.value_};
      return Var<T>(value,
                    partials == minus_last
                        ? tape.template record<minus_last>(operation, value, where, first, second)
                        : tape.template record<plus>(operation, value, where, first, second),
                    true);
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
  TINYGRAD_DETAIL_INLINE static Var<T> take_over(Tape<T>& tape, Var<T>& operand, T value,
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
    if (vars.size() != out.size()) {
      throw std::invalid_argument("tinygrad::read_gradients: " + std::to_string(vars.size()) +
                                  " Vars but room for " + std::to_string(out.size()) +
                                  " gradients");
    }
    // Tape::grad on each, with the gradient array read once: a failed check
    // changes nothing, but the compiler cannot know that about its cold call
    // and would reload the array after every check.
    const Tape<T>& tape = Tape<T>::current();
    const std::span<const T> grads(tape.grads_);
    for (std::size_t i = 0; i < vars.size(); ++i) {
      const Stamp& s = vars[i].stamp_;
      tape.require_recorded_here(s, vars[i].value_, "grad()");
      out[i] = Tape<T>::gradient_at(grads, s.index);
    }
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
      partials = Partials::stored;  // as in unary_unit
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
    tape_.require_recorded_here(x.stamp_, x.value_, "an operation");
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
/// user's code that asked for it (for anomaly reports).
template <class T>
TINYGRAD_DETAIL_INLINE inline Var<T> record(SourceLocation where, const char* operation, T value,
                                            const Var<T>& x, T dx, Var<T>* x_rvalue) {
  return Recorder<T>::unary(where, operation, value, x, dx, x_rvalue);
}

/// Records `value`, computed from x and y, with partials dx and dy.
template <class T>
TINYGRAD_DETAIL_INLINE inline Var<T> record(SourceLocation where, const char* operation, T value,
                                            const Var<T>& x, T dx, const Var<T>& y, T dy,
                                            Var<T>* x_rvalue, Var<T>* y_rvalue) {
  return Recorder<T>::binary(where, operation, value, x, dx, y, dy, x_rvalue, y_rvalue);
}

/// Records `value`, computed from x with a partial of +1 (partials ==
/// plus, as x + c) or -1 (minus_last, as c - x), storing none.
template <class T>
TINYGRAD_DETAIL_INLINE inline Var<T> record_unit(SourceLocation where, const char* operation,
                                                 T value, const Var<T>& x, Partials partials,
                                                 Var<T>* x_rvalue) {
  return Recorder<T>::unary_unit(where, operation, value, x, partials, x_rvalue);
}

/// Records `value`, computed from x and y with partials +1 and +1 (plus, as
/// x + y) or +1 and -1 (minus_last, as x - y), storing none.
template <class T>
TINYGRAD_DETAIL_INLINE inline Var<T> record_unit(SourceLocation where, const char* operation,
                                                 T value, const Var<T>& x, const Var<T>& y,
                                                 Partials partials, Var<T>* x_rvalue,
                                                 Var<T>* y_rvalue) {
  return Recorder<T>::binary_unit(where, operation, value, x, y, partials, x_rvalue, y_rvalue);
}

}  // namespace detail

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

// ---- Comparisons look at values only and record nothing. ----

template <class T>
bool operator==(const Var<T>& x, const Var<T>& y) noexcept {
  return x.value() == y.value();
}
template <class T>
std::partial_ordering operator<=>(const Var<T>& x, const Var<T>& y) noexcept {
  return x.value() <=> y.value();
}
// A scalar is compared as a T would be: both converted to their common type.
// A Var<Var<T>> compares by its innermost value.
template <class T, detail::Scalar S>
bool operator==(const Var<T>& x, S c) noexcept {
  if constexpr (detail::is_var<T>) {
    return x.value() == c;
  } else {
    using Common = std::common_type_t<T, S>;
    return static_cast<Common>(x.value()) == static_cast<Common>(c);
  }
}
template <class T, detail::Scalar S>
std::partial_ordering operator<=>(const Var<T>& x, S c) noexcept {
  if constexpr (detail::is_var<T>) {
    return x.value() <=> c;
  } else {
    using Common = std::common_type_t<T, S>;
    return static_cast<Common>(x.value()) <=> static_cast<Common>(c);
  }
}

/// Prints the value, formatted as the stream formats a T.
template <class T>
std::ostream& operator<<(std::ostream& out, const Var<T>& x) {
  return out << x.value();
}

}  // namespace tinygrad

#include <tinygrad/activation_kernels.hpp>  // forward/backward<Policy> over arrays
#include <tinygrad/math.hpp>  // exp, log, ..., activate<Policy>: part of the entry point
