// SPDX-License-Identifier: MIT
#pragma once

// Var<T>: a value that records every operation on it onto the current
// Tape<T>, and its arithmetic (+ - * /, compound assignment), comparisons and
// printing. The elementary functions are in math.hpp; <tinygrad/var.hpp>
// brings in both.

#include <tinygrad/detail/record.hpp>
#include <tinygrad/detail/source_location.hpp>
#include <tinygrad/detail/stamp.hpp>
#include <tinygrad/detail/tape_layout.hpp>
#include <tinygrad/detail/traits.hpp>
#include <tinygrad/tape.hpp>

#include <atomic>
#include <compare>
#include <cstdint>
#include <limits>
#include <version>
#if defined(__cpp_lib_format)
#include <format>
#endif
#include <ostream>
#include <type_traits>
#include <utility>

namespace tinygrad {

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
  using Located = detail::Located<const Var>;
  using LocatedTarget = detail::Located<Var>;

 public:
  using value_type = T;

  /// A constant 0: no tape entry (Eigen and std::vector make many of
  /// these). See is_constant().
  Var() noexcept : value_(), stamp_(detail::constant_stamp) {}

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
  // From an rvalue the same, with a plain store: a Var being moved from is
  // not shared with another thread (that would be a race on the move
  // itself), and the compiler may drop the store to a temporary that ends.
  Var(Var&& other) noexcept
      : value_(std::move(other.value_)),
        stamp_{other.stamp_.generation, other.stamp_.index, false} {
    other.stamp_.fresh = false;
  }
  Var& operator=(Var&& other) noexcept {
    value_ = std::move(other.value_);
    stamp_.generation = other.stamp_.generation;
    stamp_.index = other.stamp_.index;
    stamp_.fresh = false;
    other.stamp_.fresh = false;
    return *this;
  }
  ~Var() = default;

  /// The value computed when this Var was recorded. Never throws.
  [[nodiscard]] T value() const noexcept { return value_; }

  /// The same value as a constant: operations on it record as they would
  /// on a plain T, and no gradient flows back through it to this Var.
  /// (For a Var<Var<T>>, only the outer tape lets go; the value is the
  /// same Var<T>.)
  [[nodiscard]] Var detach() const noexcept { return Var(value_, detail::constant_stamp, false); }

  /// Whether this Var is a constant, with no tape entry: default-constructed,
  /// from tinygrad::constant() or detach(), or the result of an operation
  /// whose operands were all constants, or computed inside a NoGradScope.
  /// An operation drops a constant operand as it would a plain T; grad() and
  /// backward() of a constant throw tape_error.
  [[nodiscard]] bool is_constant() const noexcept {
    return stamp_.generation == detail::constant_generation;
  }

  /// The gradient accumulated by backward() calls on the current tape:
  /// the sum over those calls of d(output)/d(this). Zero before any.
  [[nodiscard]] T grad() const { return Tape<T>::current().grad(stamp_, value_); }

  /// Adds d(this)/d(v) into the gradient of every Var v recorded before this
  /// one on the current tape (this one included, which gets 1 added).
  void backward() const { Tape<T>::current().backward(stamp_, value_, detail::constant_of<T>(1)); }

  /// Adds seed * d(this)/d(v) into the gradient of every Var v recorded
  /// before this one (this one gets `seed` added): the vector-Jacobian
  /// product with this output's row, for a seed dL/d(this) that came from
  /// elsewhere. tinygrad::backward(outputs, seeds) seeds several at once.
  void backward(T seed) const { Tape<T>::current().backward(stamp_, value_, seed); }
  template <detail::Scalar S>
  void backward(S seed) const {
    backward(static_cast<T>(seed));
  }

  // ---- Arithmetic. Scalars are converted to T and folded into the partials.
  //
  // The operators are hidden friends whose Var operand is a Located<const
  // Var&>: converting to it captures the caller's file:line for anomaly
  // reports (docs/design.md, "Anomaly detection"), at no cost when detection
  // is off. Argument-dependent lookup finds them as it would free templates.

  TINYGRAD_DETAIL_HOT_INLINE friend Var operator+(Located x) { return x.argument; }
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator-(Located x) {
    const Var& a = x.argument;
    return detail::record<detail::Partials::unit_negated_last>(
        x.where, "neg", -a.value_, a, detail::constant_of<T>(-1), x.rvalue);
  }

  // Each binary operator twice, for a second operand that is an lvalue and
  // one that is an rvalue (the first operand's Located records which it is).
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator+(Located x, const Var& y) {
    return add(x, y, nullptr);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator+(Located x, Var&& y) { return add(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator+(Located x, S c) {
    const Var& a = x.argument;
    return detail::record<detail::Partials::unit>(x.where, "+", a.value_ + detail::operand_of<T>(c),
                                                  a, detail::constant_of<T>(1), x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator+(S c, Located y) {
    const Var& b = y.argument;
    return detail::record<detail::Partials::unit>(y.where, "+", detail::operand_of<T>(c) + b.value_,
                                                  b, detail::constant_of<T>(1), y.rvalue);
  }

  TINYGRAD_DETAIL_HOT_INLINE friend Var operator-(Located x, const Var& y) {
    return subtract(x, y, nullptr);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator-(Located x, Var&& y) { return subtract(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator-(Located x, S c) {
    const Var& a = x.argument;
    return detail::record<detail::Partials::unit>(x.where, "-", a.value_ - detail::operand_of<T>(c),
                                                  a, detail::constant_of<T>(1), x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator-(S c, Located y) {
    const Var& b = y.argument;
    return detail::record<detail::Partials::unit_negated_last>(
        y.where, "-", detail::operand_of<T>(c) - b.value_, b, detail::constant_of<T>(-1), y.rvalue);
  }

  TINYGRAD_DETAIL_HOT_INLINE friend Var operator*(Located x, const Var& y) {
    return multiply(x, y, nullptr);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator*(Located x, Var&& y) { return multiply(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator*(Located x, S c) {
    const Var& a = x.argument;
    return detail::record(x.where, "*", a.value_ * detail::operand_of<T>(c), a,
                          detail::constant_of<T>(c), x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator*(S c, Located y) {
    const Var& b = y.argument;
    return detail::record(y.where, "*", detail::operand_of<T>(c) * b.value_, b,
                          detail::constant_of<T>(c), y.rvalue);
  }

  TINYGRAD_DETAIL_HOT_INLINE friend Var operator/(Located x, const Var& y) {
    return divide(x, y, nullptr);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator/(Located x, Var&& y) { return divide(x, y, &y); }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator/(Located x, S c) {
    const Var& a = x.argument;
    const auto d = detail::operand_of<T>(c);
    return detail::record(x.where, "/", a.value_ / d, a, detail::constant_of<T>(1) / d, x.rvalue);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var operator/(S c, Located y) {
    const Var& b = y.argument;
    const T q = detail::operand_of<T>(c) / b.value_;
    return detail::record(y.where, "/", q, b, -q / b.value_, y.rvalue);
  }

  // Compound assignment rebinds this Var to a new entry: `t += u` means
  // `t = t + u`, so copies of the old value are unaffected.
  // An rvalue right-hand side may be consumed as by the binary operators;
  // `s += t` and `s -= t` may also merge t's entry into s's (a loop
  // `s += w[i] * x[i]` then records one entry for the whole sum: design.md,
  // "Accumulating into one entry").
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator+=(LocatedTarget x, const Var& y) {
    return x.argument.rebind(Located(x.argument, x.where) + y);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator+=(LocatedTarget x, Var&& y) {
    return detail::accumulate<detail::Partials::unit>(x.where, "+", x.argument, y);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator-=(LocatedTarget x, const Var& y) {
    return x.argument.rebind(Located(x.argument, x.where) - y);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator-=(LocatedTarget x, Var&& y) {
    return detail::accumulate<detail::Partials::unit_negated_last>(x.where, "-", x.argument, y);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator*=(LocatedTarget x, const Var& y) {
    return x.argument.rebind(Located(x.argument, x.where) * y);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator*=(LocatedTarget x, Var&& y) {
    return x.argument.rebind(multiply(Located(x.argument, x.where), y, &y));
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator/=(LocatedTarget x, const Var& y) {
    return x.argument.rebind(Located(x.argument, x.where) / y);
  }
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator/=(LocatedTarget x, Var&& y) {
    return x.argument.rebind(divide(Located(x.argument, x.where), y, &y));
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator+=(LocatedTarget x, S c) {
    return x.argument.rebind(Located(x.argument, x.where) + c);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator-=(LocatedTarget x, S c) {
    return x.argument.rebind(Located(x.argument, x.where) - c);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator*=(LocatedTarget x, S c) {
    return x.argument.rebind(Located(x.argument, x.where) * c);
  }
  template <detail::Scalar S>
  TINYGRAD_DETAIL_HOT_INLINE friend Var& operator/=(LocatedTarget x, S c) {
    return x.argument.rebind(Located(x.argument, x.where) / c);
  }

 private:
  template <class U>
  friend Var<U> constant(U value) noexcept(std::is_floating_point_v<U>);
  friend struct detail::Recorder<T>;
  friend class detail::OperandWriter<T>;
  friend struct detail::EntryOf<T>;
  Var(T value, const detail::Stamp& stamp, bool fresh) noexcept
      : value_(value), stamp_{stamp.generation, stamp.index, fresh} {}

  // The binary operators, for either kind of second operand (y_rvalue is y
  // or null).
  TINYGRAD_DETAIL_HOT_INLINE static Var add(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    return detail::record<detail::Partials::unit>(x.where, "+", a.value_ + y.value_, a,
                                                  detail::constant_of<T>(1), y,
                                                  detail::constant_of<T>(1), x.rvalue, y_rvalue);
  }
  TINYGRAD_DETAIL_HOT_INLINE static Var subtract(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    return detail::record<detail::Partials::unit_negated_last>(
        x.where, "-", a.value_ - y.value_, a, detail::constant_of<T>(1), y,
        detail::constant_of<T>(-1), x.rvalue, y_rvalue);
  }
  TINYGRAD_DETAIL_HOT_INLINE static Var multiply(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    return detail::record(x.where, "*", a.value_ * y.value_, a, y.value_, y, a.value_, x.rvalue,
                          y_rvalue);
  }
  // d(x/y)/dy = -x/y^2, written as -(x/y)/y so that it reuses the quotient and
  // does not overflow where x/y itself does not.
  TINYGRAD_DETAIL_HOT_INLINE static Var divide(Located x, const Var& y, Var* y_rvalue) {
    const Var& a = x.argument;
    const T q = a.value_ / y.value_;
    return detail::record(x.where, "/", q, a, detail::constant_of<T>(1) / y.value_, y,
                          -q / y.value_, x.rvalue, y_rvalue);
  }

  /// Compound assignment: this Var takes over `result`, an operation's
  /// result that dies here, and is fresh as it was (the only Var of its
  /// entry), which a copy assignment would clear. Field by field, as in the
  /// copy constructor.
  TINYGRAD_DETAIL_HOT_INLINE Var& rebind(const Var& result) noexcept {
    value_ = result.value_;
    stamp_.generation = result.stamp_.generation;
    stamp_.index = result.stamp_.index;
    stamp_.fresh = result.stamp_.fresh;
    return *this;
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

/// `value` as a constant Var<T>: no tape entry, no gradient (Var::is_constant).
/// `x * constant(c)` records as `x * c` does.
template <class T>
[[nodiscard]] Var<T> constant(T value) noexcept(std::is_floating_point_v<T>) {
  return Var<T>(std::move(value), detail::constant_stamp, false);
}

namespace detail {
/// constant_of for a Var: a constant whose value is a constant of the level below.
template <class U>
struct ConstantOf<Var<U>> {
  template <class S>
  static Var<U> of(S c) noexcept(std::is_floating_point_v<U>) {
    return constant(constant_of<U>(c));
  }
};
}  // namespace detail

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

namespace detail {

/// The index of the tape entry a Var refers to, for code that reads the
/// recording's structure (the Hessian's sparsity detection, functional.hpp).
template <class T>
struct EntryOf {
  static std::uint32_t index(const Var<T>& x) noexcept { return x.stamp_.index; }
  static const Stamp& stamp(const Var<T>& x) noexcept { return x.stamp_; }
};

/// The plain number inside a Var, a Var<Var<T>>, ...
template <class T>
Innermost<T> innermost_value(const Var<T>& x) noexcept {
  if constexpr (is_var<T>) {
    return innermost_value(x.value());
  } else {
    return x.value();
  }
}

}  // namespace detail

}  // namespace tinygrad

/// T's limits, for generic code that asks a Var<T> for them (Eigen's
/// algorithms, std::numeric_limits<S>::epsilon() in a template): the
/// constants are T's, and the values are constants (Var::is_constant), so
/// asking records nothing.
template <class T>
class std::numeric_limits<tinygrad::Var<T>> : public std::numeric_limits<T> {
  using Limits = std::numeric_limits<T>;
  using V = tinygrad::Var<T>;

 public:
  static V min() noexcept(std::is_floating_point_v<T>) { return tinygrad::constant(Limits::min()); }
  static V max() noexcept(std::is_floating_point_v<T>) { return tinygrad::constant(Limits::max()); }
  static V lowest() noexcept(std::is_floating_point_v<T>) {
    return tinygrad::constant(Limits::lowest());
  }
  static V epsilon() noexcept(std::is_floating_point_v<T>) {
    return tinygrad::constant(Limits::epsilon());
  }
  static V round_error() noexcept(std::is_floating_point_v<T>) {
    return tinygrad::constant(Limits::round_error());
  }
  static V infinity() noexcept(std::is_floating_point_v<T>) {
    return tinygrad::constant(Limits::infinity());
  }
  static V quiet_NaN() noexcept(std::is_floating_point_v<T>) {
    return tinygrad::constant(Limits::quiet_NaN());
  }
  static V signaling_NaN() noexcept(std::is_floating_point_v<T>) {
    return tinygrad::constant(Limits::signaling_NaN());
  }
  static V denorm_min() noexcept(std::is_floating_point_v<T>) {
    return tinygrad::constant(Limits::denorm_min());
  }
};

#if defined(__cpp_lib_format)
/// std::format("{:.3f}", x) formats x's innermost value as that number's
/// formatter would, with the same format specification. Only where the
/// standard library defines __cpp_lib_format.
template <class T, class CharT>
struct std::formatter<tinygrad::Var<T>, CharT>
    : std::formatter<tinygrad::detail::Innermost<T>, CharT> {
  template <class FormatContext>
  auto format(const tinygrad::Var<T>& x, FormatContext& context) const {
    return std::formatter<tinygrad::detail::Innermost<T>, CharT>::format(
        tinygrad::detail::innermost_value(x), context);
  }
};
#endif
