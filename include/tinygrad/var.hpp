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
// functions and activations (math.hpp) so that one include is enough.

#include <tinygrad/tape.hpp>

#include <compare>
#include <concepts>
#include <ostream>
#include <type_traits>

namespace tinygrad {

namespace detail {

/// A plain number that may be mixed with a Var: any arithmetic type but bool.
template <class S>
concept Scalar = std::is_arithmetic_v<S> && !std::same_as<std::remove_cv_t<S>, bool>;

}  // namespace detail

/// A differentiable value: a T plus the tape entry that records how it was
/// computed. Copying a Var copies that reference, not the recording.
template <class T>
class Var {
  static_assert(detail::Real<T>,
                "tinygrad::Var<T>: T must be float, double or long double, or a Var of one of "
                "them (for second derivatives).");

 public:
  using value_type = T;

  /// A leaf with value 0 on the current tape.
  Var() : Var(T(0)) {}

  /// A leaf (an input to differentiate with respect to) on the current tape.
  Var(T value)  // NOLINT(google-explicit-constructor): Var<double> x = 1.5 is the point
      : value_(value), stamp_(Tape<T>::current().record("leaf", value)) {}

  /// A leaf from any other arithmetic scalar, converted to T: `Var<double> x
  /// = 1;`, and `Var<Var<double>> s = 0.0;` in generic code.
  template <detail::Scalar S>
  Var(S value)  // NOLINT(google-explicit-constructor)
      : Var(static_cast<T>(value)) {}

  /// The value computed when this Var was recorded. Never throws.
  [[nodiscard]] T value() const noexcept { return value_; }

  /// The gradient accumulated by backward() calls on the current tape:
  /// the sum over those calls of d(output)/d(this). Zero before any.
  [[nodiscard]] T grad() const { return Tape<T>::current().grad(stamp_, value_); }

  /// Adds d(this)/d(v) into the gradient of every Var v recorded before this
  /// one on the current tape (this one included, which gets 1 added).
  void backward() const { Tape<T>::current().backward(stamp_, value_); }

  // Compound assignment rebinds this Var to a new entry: `t += u` means
  // `t = t + u`, so copies of the old value are unaffected.
  Var& operator+=(const Var& rhs) { return *this = *this + rhs; }
  Var& operator-=(const Var& rhs) { return *this = *this - rhs; }
  Var& operator*=(const Var& rhs) { return *this = *this * rhs; }
  Var& operator/=(const Var& rhs) { return *this = *this / rhs; }
  template <detail::Scalar S>
  Var& operator+=(S rhs) {
    return *this = *this + rhs;
  }
  template <detail::Scalar S>
  Var& operator-=(S rhs) {
    return *this = *this - rhs;
  }
  template <detail::Scalar S>
  Var& operator*=(S rhs) {
    return *this = *this * rhs;
  }
  template <detail::Scalar S>
  Var& operator/=(S rhs) {
    return *this = *this / rhs;
  }

 private:
  friend struct detail::Recorder<T>;
  Var(T value, detail::Stamp stamp) noexcept : value_(value), stamp_(stamp) {}

  T value_;
  detail::Stamp stamp_;
};

namespace detail {

/// Records the result of an operation onto the current tape after checking
/// that its Var operands belong there. Every operation of tinygrad goes
/// through here: it computes its value and partial derivatives on plain T and
/// hands them over.
template <class T>
struct Recorder {
  static Var<T> unary(const char* operation, T value, const Var<T>& x, T dx) {
    Tape<T>& tape = Tape<T>::current();
    tape.require_recorded_here(x.stamp_, x.value_, "an operation");
    return Var<T>(value, tape.record(operation, value, Operand<T>{x.stamp_.index, dx}));
  }

  static Var<T> binary(const char* operation, T value, const Var<T>& x, T dx, const Var<T>& y,
                       T dy) {
    Tape<T>& tape = Tape<T>::current();
    tape.require_recorded_here(x.stamp_, x.value_, "an operation");
    tape.require_recorded_here(y.stamp_, y.value_, "an operation");
    return Var<T>(value, tape.record(operation, value, Operand<T>{x.stamp_.index, dx},
                                     Operand<T>{y.stamp_.index, dy}));
  }
};

/// Records `value`, computed from x by `operation` (a name for annotations,
/// see Tape::annotate), with d(value)/dx = dx.
template <class T>
Var<T> record(const char* operation, T value, const Var<T>& x, T dx) {
  return Recorder<T>::unary(operation, value, x, dx);
}

/// Records `value`, computed from x and y, with partials dx and dy.
template <class T>
Var<T> record(const char* operation, T value, const Var<T>& x, T dx, const Var<T>& y, T dy) {
  return Recorder<T>::binary(operation, value, x, dx, y, dy);
}

}  // namespace detail

// ---- Arithmetic. Scalars are converted to T and folded into the partials. ----

template <class T>
Var<T> operator+(const Var<T>& x) {
  return x;
}

template <class T>
Var<T> operator-(const Var<T>& x) {
  return detail::record("neg", -x.value(), x, T(-1));
}

template <class T>
Var<T> operator+(const Var<T>& x, const Var<T>& y) {
  return detail::record("+", x.value() + y.value(), x, T(1), y, T(1));
}
template <class T, detail::Scalar S>
Var<T> operator+(const Var<T>& x, S c) {
  return detail::record("+", x.value() + static_cast<T>(c), x, T(1));
}
template <class T, detail::Scalar S>
Var<T> operator+(S c, const Var<T>& y) {
  return detail::record("+", static_cast<T>(c) + y.value(), y, T(1));
}

template <class T>
Var<T> operator-(const Var<T>& x, const Var<T>& y) {
  return detail::record("-", x.value() - y.value(), x, T(1), y, T(-1));
}
template <class T, detail::Scalar S>
Var<T> operator-(const Var<T>& x, S c) {
  return detail::record("-", x.value() - static_cast<T>(c), x, T(1));
}
template <class T, detail::Scalar S>
Var<T> operator-(S c, const Var<T>& y) {
  return detail::record("-", static_cast<T>(c) - y.value(), y, T(-1));
}

template <class T>
Var<T> operator*(const Var<T>& x, const Var<T>& y) {
  return detail::record("*", x.value() * y.value(), x, y.value(), y, x.value());
}
template <class T, detail::Scalar S>
Var<T> operator*(const Var<T>& x, S c) {
  return detail::record("*", x.value() * static_cast<T>(c), x, static_cast<T>(c));
}
template <class T, detail::Scalar S>
Var<T> operator*(S c, const Var<T>& y) {
  return detail::record("*", static_cast<T>(c) * y.value(), y, static_cast<T>(c));
}

// d(x/y)/dy = -x/y^2, written as -(x/y)/y so that it reuses the quotient and
// does not overflow where x/y itself does not.
template <class T>
Var<T> operator/(const Var<T>& x, const Var<T>& y) {
  const T q = x.value() / y.value();
  return detail::record("/", q, x, T(1) / y.value(), y, -q / y.value());
}
template <class T, detail::Scalar S>
Var<T> operator/(const Var<T>& x, S c) {
  const T d = static_cast<T>(c);
  return detail::record("/", x.value() / d, x, T(1) / d);
}
template <class T, detail::Scalar S>
Var<T> operator/(S c, const Var<T>& y) {
  const T q = static_cast<T>(c) / y.value();
  return detail::record("/", q, y, -q / y.value());
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

#include <tinygrad/math.hpp>  // exp, log, ..., activate<Policy>: part of the entry point
