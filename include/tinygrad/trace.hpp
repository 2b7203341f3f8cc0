// SPDX-License-Identifier: MIT
#pragma once

// Tracing: a function is run once on Traced<T> numbers, which keep the
// operations themselves (which function, which operands, which constants);
// the resulting Trace<T> then evaluates that recording at new points,
// value, gradient and Hessian (detail/trace_hessian.hpp), without recording
// anything again (a VectorTrace<T>, for a function of several outputs:
// values and Jacobian). Comparisons made while tracing are kept as guards:
// a replay where one would come out the other way traces again there, or
// reports it. See docs/tracing.md for use and docs/design.md, "Traces", for
// the layout.

#include <tinygrad/activation.hpp>
#include <tinygrad/detail/replay.hpp>
#include <tinygrad/detail/trace_hessian.hpp>
#include <tinygrad/detail/trace_program.hpp>
#include <tinygrad/detail/traits.hpp>
#include <tinygrad/error.hpp>
#include <tinygrad/instruction_set.hpp>
#include <tinygrad/matrix.hpp>
#include <tinygrad/sparsity.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinygrad {

template <std::floating_point T>
class Traced;
namespace detail::tracing {
template <class T>
class TraceCore;
}  // namespace detail::tracing

/// What a replay does at a point where a comparison made while tracing
/// (a guard) comes out the other way.
enum class BranchChange : std::uint8_t {
  retrace,  ///< trace the function again at that point, keep the new trace, answer from it
  report,   ///< throw branch_changed, and keep the trace as it is
};

namespace detail {
/// Whether X is a Traced.
template <class X>
inline constexpr bool is_traced = false;
template <class T>
inline constexpr bool is_traced<Traced<T>> = true;
}  // namespace detail

namespace detail::tracing {

/// A Traced's slot while tracing: inputs, data and results are numbered as
/// in the Program; a constant is the index among the constants with this
/// bit set, and gets its slot when the trace is done (the number of
/// results is known only then).
inline constexpr std::uint32_t constant_bit = std::uint32_t{1} << 31;

/// The generation of a Traced that belongs to no trace: a constant.
inline constexpr std::uint32_t no_trace = 0;

/// The trace being built on this thread, if any (trace() sets it, and puts
/// back the one before: traces may nest).
template <class T>
struct Builder;
template <class T>
inline thread_local Builder<T>* current_builder = nullptr;

/// Each trace gets its own generation, so that a Traced of another (or of
/// one that is done) is refused.
inline std::uint32_t next_generation() noexcept {
  thread_local std::uint32_t last = no_trace;
  if (++last == no_trace) {
    ++last;
  }
  return last;
}

/// One operand while tracing: its value now and its slot.
template <class T>
struct Operand {
  T value;
  std::uint32_t slot;
};

template <class T>
struct Builder {
  std::uint32_t generation = next_generation();
  Program<T> program;

  struct RecentConstant {
    UnsignedBits<T> bits = 0;
    std::uint32_t index_plus_one = 0;  // 0: the entry is empty
  };
  static constexpr int recent_bits = 6;
  std::array<RecentConstant, std::size_t{1} << recent_bits> recent_constants{};

  std::uint32_t new_constant(T value) {
    program.constants.push_back(value);
    return static_cast<std::uint32_t>(program.constants.size() - 1);
  }

  /// The slot of a constant of this value: a new one, or the one that
  /// holds the same bits already, so that a constant written in a loop
  /// (Rosenbrock's 100 and 1) takes one slot rather than one per term:
  /// fewer values for a replay to keep, in every lane of a batch. The
  /// earlier constants are found in a small table indexed by a hash of
  /// their bits; one whose entry another constant has taken meanwhile gets
  /// a second slot, which costs memory only.
  std::uint32_t constant(T value) {
    if constexpr (VectorReal<T>) {
      const auto bits = std::bit_cast<UnsignedBits<T>>(value);
      RecentConstant& entry = recent_constants[static_cast<std::size_t>(
          (static_cast<std::uint64_t>(bits) * 0x9e3779b97f4a7c15U) >> (64 - recent_bits))];
      if (entry.index_plus_one == 0 || entry.bits != bits) {
        entry = {bits, new_constant(value) + 1};
      }
      return constant_bit | (entry.index_plus_one - 1);
    } else {
      return constant_bit | new_constant(value);
    }
  }

  /// Appends an instruction over `operands` (the traced ones first) and
  /// returns its value now, computed as a replay will compute it.
  template <std::size_t count>
  T append(Op op, const Callee<T>* callee, const std::array<Operand<T>, count>& operands) {
    if (program.first_result + program.ops.size() + program.constants.size() >= constant_bit - 1) {
      throw trace_error("tinygrad::trace: the trace is full (2^31 slots)");
    }
    static_assert(count == 1 || count == 2);
    std::array<T, 2> values{};  // two, whatever the count: evaluate's cases read up to two
    const std::array<std::uint32_t, 2> local{0, 1};
    for (std::size_t k = 0; k < count; ++k) {
      values[k] = operands[k].value;
    }
    std::array<T, 2> partial{};
    Cursors<T, T> at{local.data(), partial.data(), &callee};
    T value{};
    forward_step(op, values.data(), at, value);
    for (std::size_t k = 0; k < count; ++k) {
      program.operands.push_back(operands[k].slot);
    }
    program.ops.push_back(op);
    if (calls(op)) {
      program.callees.push_back(callee);
    }
    program.partials += partials_kept(op);
    return value;
  }

  [[nodiscard]] std::uint32_t last_result() const noexcept {
    return program.first_result + static_cast<std::uint32_t>(program.ops.size()) - 1;
  }

  /// The finished program: constants' slots numbered, the outputs set.
  Program<T> finish(std::vector<std::uint32_t> outputs) && {
    const std::uint32_t first_constant = program.inputs + program.data;
    const auto renumber = [&](std::uint32_t& slot) {
      if ((slot & constant_bit) != 0) {
        slot = first_constant + (slot & ~constant_bit);
      } else if (slot >= first_constant) {
        slot += static_cast<std::uint32_t>(program.constants.size());  // a result
      }
    };
    for (std::uint32_t& slot : program.operands) {
      renumber(slot);
    }
    for (Guard& g : program.guards) {
      renumber(g.left);
      renumber(g.right);
    }
    for (std::uint32_t& slot : outputs) {
      renumber(slot);
    }
    program.outputs = std::move(outputs);
    program.first_result = first_constant + static_cast<std::uint32_t>(program.constants.size());
    plan_steps(program);
    return std::move(program);
  }
};

}  // namespace detail::tracing

/// A number inside a function being traced (tinygrad::trace): it has the
/// value of this evaluation, and every operation on it is kept in the
/// trace. Arithmetic, the elementary functions, min and max and the
/// activations work on it as on a Var; comparisons (and isnan, isinf,
/// isfinite) are kept as guards. Converting from a plain number gives a
/// constant. value() reads the value of this evaluation: what is computed
/// from it outside these operations is a constant to the trace.
template <std::floating_point T>
class Traced {
 public:
  using value_type = T;

  /// A constant.
  Traced(T value = T(0)) noexcept : value_(value) {}  // NOLINT(google-explicit-constructor)
  template <detail::Scalar S>
  Traced(S value) noexcept
      : value_(static_cast<T>(value)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] T value() const noexcept { return value_; }
  /// Whether this is a constant: no operation of the trace produced it.
  [[nodiscard]] bool is_constant() const noexcept {
    return generation_ == detail::tracing::no_trace;
  }

  // ---- Arithmetic ----

  friend Traced operator+(const Traced& x) { return x; }
  friend Traced operator-(const Traced& x) {
    using detail::tracing::Op;
    if (x.is_constant()) {
      return Traced(-x.value_);
    }
    return x.record<1>(Op::negate, nullptr, {{{x.value_, x.slot_}}});
  }

  friend Traced operator+(const Traced& x, const Traced& y) {
    using detail::tracing::Op;
    return arithmetic(Op::add, Op::add_constant, Op::add_constant, x, y);
  }
  friend Traced operator-(const Traced& x, const Traced& y) {
    using detail::tracing::Op;
    return arithmetic(Op::subtract, Op::subtract_constant, Op::constant_subtract, x, y);
  }
  friend Traced operator*(const Traced& x, const Traced& y) {
    using detail::tracing::Op;
    return arithmetic(Op::multiply, Op::multiply_constant, Op::multiply_constant, x, y);
  }
  friend Traced operator/(const Traced& x, const Traced& y) {
    using detail::tracing::Op;
    return arithmetic(Op::divide, Op::divide_constant, Op::constant_divide, x, y);
  }
  // A plain number converts to a constant Traced, so these serve `x * 2.0`
  // and `1 - x` too.
  Traced& operator+=(const Traced& y) { return *this = *this + y; }
  Traced& operator-=(const Traced& y) { return *this = *this - y; }
  Traced& operator*=(const Traced& y) { return *this = *this * y; }
  Traced& operator/=(const Traced& y) { return *this = *this / y; }

  // ---- Comparisons: each is kept as a guard of the trace ----

  friend bool operator<(const Traced& x, const Traced& y) {
    return compare(detail::tracing::Predicate::less, x, y);
  }
  friend bool operator<=(const Traced& x, const Traced& y) {
    return compare(detail::tracing::Predicate::less_equal, x, y);
  }
  friend bool operator>(const Traced& x, const Traced& y) {
    return compare(detail::tracing::Predicate::greater, x, y);
  }
  friend bool operator>=(const Traced& x, const Traced& y) {
    return compare(detail::tracing::Predicate::greater_equal, x, y);
  }
  friend bool operator==(const Traced& x, const Traced& y) {
    return compare(detail::tracing::Predicate::equal, x, y);
  }
  friend bool operator!=(const Traced& x, const Traced& y) {
    return compare(detail::tracing::Predicate::not_equal, x, y);
  }
  friend bool isnan(const Traced& x) { return compare(detail::tracing::Predicate::is_nan, x, x); }
  friend bool isinf(const Traced& x) { return compare(detail::tracing::Predicate::is_inf, x, x); }
  friend bool isfinite(const Traced& x) {
    return compare(detail::tracing::Predicate::is_finite, x, x);
  }

  // ---- For the elementary functions below ----

  /// f(x), a Function of one argument.
  static Traced call(const detail::tracing::Callee<T>* f, const Traced& x) {
    if (x.is_constant()) {
      T value{};
      T partial{};
      f->one(&x.value_, value, &partial);
      return Traced(value);
    }
    return x.record<1>(detail::tracing::Op::call_unary, f, {{{x.value_, x.slot_}}});
  }

  /// f(x, y): `both` where both are traced, `first_traced` (x traced, y a
  /// constant) or `second_traced` (y traced, x a constant) where one is;
  /// the latter two take the traced argument first.
  static Traced call(const detail::tracing::Callee<T>* both,
                     const detail::tracing::Callee<T>* first_traced,
                     const detail::tracing::Callee<T>* second_traced, const Traced& x,
                     const Traced& y) {
    using detail::tracing::Op;
    if (x.is_constant() && y.is_constant()) {
      const T arguments[2] = {x.value_, y.value_};
      T value{};
      T partial[2] = {};
      both->one(arguments, value, partial);
      return Traced(value);
    }
    if (y.is_constant()) {
      return x.record<2>(Op::call_with_constant, first_traced,
                         {{{x.value_, x.slot_}, {y.value_, x.constant_slot(y.value_)}}});
    }
    if (x.is_constant()) {
      return y.record<2>(Op::call_with_constant, second_traced,
                         {{{y.value_, y.slot_}, {x.value_, y.constant_slot(x.value_)}}});
    }
    y.builder("an operation");
    return x.record<2>(Op::call_binary, both, {{{x.value_, x.slot_}, {y.value_, y.slot_}}});
  }

 private:
  template <class>
  friend class detail::tracing::TraceCore;

  Traced(T value, std::uint32_t slot, std::uint32_t generation) noexcept
      : value_(value), slot_(slot), generation_(generation) {}

  /// Appends an instruction to this Traced's trace; its result.
  template <std::size_t count>
  Traced record(detail::tracing::Op op, const detail::tracing::Callee<T>* callee,
                const std::array<detail::tracing::Operand<T>, count>& operands) const {
    detail::tracing::Builder<T>& b = builder("an operation");
    const T value = b.append(op, callee, operands);
    return Traced(value, b.last_result(), b.generation);
  }

  [[nodiscard]] std::uint32_t constant_slot(T value) const {
    return builder("an operation").constant(value);
  }

  /// x op y: `both` where both are traced, `x_traced` (x op c) or
  /// `y_traced` (c op y, the traced operand first) where one is; on two
  /// constants, the operation on plain T.
  static Traced arithmetic(detail::tracing::Op both, detail::tracing::Op x_traced,
                           detail::tracing::Op y_traced, const Traced& x, const Traced& y) {
    if (x.is_constant() && y.is_constant()) {
      const T values[2] = {x.value_, y.value_};
      const std::uint32_t local[2] = {0, 1};
      T partial[2] = {};
      detail::tracing::Cursors<T, T> at{local, partial, nullptr};
      T value{};
      detail::tracing::forward_step<T>(both, values, at, value);
      return Traced(value);
    }
    if (y.is_constant()) {
      return x.record<2>(x_traced, nullptr,
                         {{{x.value_, x.slot_}, {y.value_, x.constant_slot(y.value_)}}});
    }
    if (x.is_constant()) {
      return y.record<2>(y_traced, nullptr,
                         {{{y.value_, y.slot_}, {x.value_, y.constant_slot(x.value_)}}});
    }
    y.builder("an operation");
    return x.record<2>(both, nullptr, {{{x.value_, x.slot_}, {y.value_, y.slot_}}});
  }

  /// The trace this Traced belongs to: the one being built on this thread,
  /// or trace_error.
  detail::tracing::Builder<T>& builder(const char* what) const {
    detail::tracing::Builder<T>* b = detail::tracing::current_builder<T>;
    if (b == nullptr || b->generation != generation_) [[unlikely]] {
      throw trace_error(std::string("tinygrad::Traced: ") + what +
                        " on a Traced whose trace is done or is not this thread's current one; "
                        "a Traced lives only inside the call that tinygrad::trace makes");
    }
    return *b;
  }

  static bool compare(detail::tracing::Predicate p, const Traced& x, const Traced& y) {
    const bool outcome = detail::tracing::holds(p, x.value_, y.value_);
    if (x.is_constant() && y.is_constant()) {
      return outcome;
    }
    detail::tracing::Builder<T>& b = (x.is_constant() ? y : x).builder("a comparison");
    const auto slot_of = [&](const Traced& v) {
      if (v.is_constant()) {
        return b.constant(v.value_);
      }
      v.builder("a comparison");
      return v.slot_;
    };
    b.program.guards.push_back({slot_of(x), slot_of(y), p, outcome});
    return outcome;
  }

  T value_;
  std::uint32_t slot_ = 0;
  std::uint32_t generation_ = detail::tracing::no_trace;
};

// ---- Elementary functions and activations of Traced (ADL finds them) ----

#define TINYGRAD_DETAIL_TRACED_UNARY(name)                                               \
  template <std::floating_point T>                                                       \
  Traced<T> name(const Traced<T>& x) {                                                   \
    return Traced<T>::call(                                                              \
        &detail::tracing::callee<                                                        \
            T, detail::tracing::unary<T, &detail::derivatives::name<T>>,                 \
            detail::tracing::unary<Dual<T>, &detail::derivatives::name<Dual<T>>>, 1, 1>, \
        x);                                                                              \
  }
TINYGRAD_DETAIL_TRACED_UNARY(exp2)
TINYGRAD_DETAIL_TRACED_UNARY(expm1)
TINYGRAD_DETAIL_TRACED_UNARY(log2)
TINYGRAD_DETAIL_TRACED_UNARY(log10)
TINYGRAD_DETAIL_TRACED_UNARY(log1p)
TINYGRAD_DETAIL_TRACED_UNARY(sqrt)
TINYGRAD_DETAIL_TRACED_UNARY(cbrt)
TINYGRAD_DETAIL_TRACED_UNARY(sin)
TINYGRAD_DETAIL_TRACED_UNARY(cos)
TINYGRAD_DETAIL_TRACED_UNARY(tan)
TINYGRAD_DETAIL_TRACED_UNARY(asin)
TINYGRAD_DETAIL_TRACED_UNARY(acos)
TINYGRAD_DETAIL_TRACED_UNARY(atan)
TINYGRAD_DETAIL_TRACED_UNARY(sinh)
TINYGRAD_DETAIL_TRACED_UNARY(cosh)
TINYGRAD_DETAIL_TRACED_UNARY(asinh)
TINYGRAD_DETAIL_TRACED_UNARY(acosh)
TINYGRAD_DETAIL_TRACED_UNARY(atanh)
TINYGRAD_DETAIL_TRACED_UNARY(erf)
TINYGRAD_DETAIL_TRACED_UNARY(erfc)
TINYGRAD_DETAIL_TRACED_UNARY(abs)
#undef TINYGRAD_DETAIL_TRACED_UNARY

namespace detail::tracing {
/// A function of derivatives.hpp (`one`, and `on_duals` for its second
/// derivatives) on x, whose batch runs the vector formula InLanes for float
/// and double (formula_callee): exp and log.
template <class InLanes, std::floating_point T, ValueAndDerivative<T> (*one)(const T&),
          ValueAndDerivative<Dual<T>> (*on_duals)(const Dual<T>&)>
Traced<T> call_with_formula_in_lanes(const Traced<T>& x) {
  if constexpr (VectorReal<T>) {
    return Traced<T>::call(&formula_callee<InLanes, T, unary<T, one>, unary<Dual<T>, on_duals>>, x);
  } else {
    return Traced<T>::call(&callee<T, unary<T, one>, unary<Dual<T>, on_duals>, 1, 1>, x);
  }
}
}  // namespace detail::tracing

template <std::floating_point T>
Traced<T> exp(const Traced<T>& x) {
  return detail::tracing::call_with_formula_in_lanes<detail::tracing::ExpInLanes, T,
                                                     &detail::derivatives::exp<T>,
                                                     &detail::derivatives::exp<Dual<T>>>(x);
}

template <std::floating_point T>
Traced<T> log(const Traced<T>& x) {
  return detail::tracing::call_with_formula_in_lanes<detail::tracing::LogInLanes, T,
                                                     &detail::derivatives::log<T>,
                                                     &detail::derivatives::log<Dual<T>>>(x);
}

template <std::floating_point T>
Traced<T> pow(const Traced<T>& x, const Traced<T>& y) {
  return Traced<T>::call(
      &detail::tracing::callee<T, detail::tracing::binary<T, &detail::derivatives::pow<T>>,
                               detail::tracing::binary<Dual<T>, &detail::derivatives::pow<Dual<T>>>,
                               2, 2>,
      &detail::tracing::callee<T, detail::tracing::pow_constant_exponent<T>,
                               detail::tracing::pow_constant_exponent<Dual<T>>, 2, 1>,
      &detail::tracing::callee<T, detail::tracing::pow_constant_base<T>,
                               detail::tracing::pow_constant_base<Dual<T>>, 2, 1>,
      x, y);
}
template <std::floating_point T>
Traced<T> hypot(const Traced<T>& x, const Traced<T>& y) {
  return Traced<T>::call(
      &detail::tracing::callee<
          T, detail::tracing::binary<T, &detail::derivatives::hypot<T>>,
          detail::tracing::binary<Dual<T>, &detail::derivatives::hypot<Dual<T>>>, 2, 2>,
      &detail::tracing::callee<T, detail::tracing::hypot_constant<T>,
                               detail::tracing::hypot_constant<Dual<T>>, 2, 1>,
      &detail::tracing::callee<T, detail::tracing::constant_hypot<T>,
                               detail::tracing::constant_hypot<Dual<T>>, 2, 1>,
      x, y);
}
template <std::floating_point T>
Traced<T> atan2(const Traced<T>& y, const Traced<T>& x) {
  return Traced<T>::call(
      &detail::tracing::callee<
          T, detail::tracing::binary<T, &detail::derivatives::atan2<T>>,
          detail::tracing::binary<Dual<T>, &detail::derivatives::atan2<Dual<T>>>, 2, 2>,
      &detail::tracing::callee<T, detail::tracing::atan2_constant_x<T>,
                               detail::tracing::atan2_constant_x<Dual<T>>, 2, 1>,
      &detail::tracing::callee<T, detail::tracing::atan2_constant_y<T>,
                               detail::tracing::atan2_constant_y<Dual<T>>, 2, 1>,
      y, x);
}
/// The smaller of x and y (NaN if either is NaN); a tie splits the gradient.
template <std::floating_point T>
Traced<T> min(const Traced<T>& x, const Traced<T>& y) {
  // With one constant, math.hpp's min(c, y) is min(y, c): the traced one first.
  return Traced<T>::call(
      &detail::tracing::selecting_callee<
          T, detail::tracing::binary<T, &detail::derivatives::min<T>>,
          detail::tracing::binary<Dual<T>, &detail::derivatives::min<Dual<T>>>, 2, 2>,
      &detail::tracing::selecting_callee<T, detail::tracing::min_constant<T>,
                                         detail::tracing::min_constant<Dual<T>>, 2, 1>,
      &detail::tracing::selecting_callee<T, detail::tracing::min_constant<T>,
                                         detail::tracing::min_constant<Dual<T>>, 2, 1>,
      x, y);
}
/// The larger of x and y (NaN if either is NaN); a tie splits the gradient.
template <std::floating_point T>
Traced<T> max(const Traced<T>& x, const Traced<T>& y) {
  return Traced<T>::call(
      &detail::tracing::selecting_callee<
          T, detail::tracing::binary<T, &detail::derivatives::max<T>>,
          detail::tracing::binary<Dual<T>, &detail::derivatives::max<Dual<T>>>, 2, 2>,
      &detail::tracing::selecting_callee<T, detail::tracing::max_constant<T>,
                                         detail::tracing::max_constant<Dual<T>>, 2, 1>,
      &detail::tracing::selecting_callee<T, detail::tracing::max_constant<T>,
                                         detail::tracing::max_constant<Dual<T>>, 2, 1>,
      x, y);
}
// With a plain number for one argument (the function templates above would
// not deduce T from it).
#define TINYGRAD_DETAIL_TRACED_BINARY_SCALAR(name)   \
  template <std::floating_point T, detail::Scalar S> \
  Traced<T> name(const Traced<T>& x, S c) {          \
    return name(x, Traced<T>(c));                    \
  }                                                  \
  template <std::floating_point T, detail::Scalar S> \
  Traced<T> name(S c, const Traced<T>& y) {          \
    return name(Traced<T>(c), y);                    \
  }
TINYGRAD_DETAIL_TRACED_BINARY_SCALAR(pow)
TINYGRAD_DETAIL_TRACED_BINARY_SCALAR(hypot)
TINYGRAD_DETAIL_TRACED_BINARY_SCALAR(atan2)
TINYGRAD_DETAIL_TRACED_BINARY_SCALAR(min)
TINYGRAD_DETAIL_TRACED_BINARY_SCALAR(max)
#undef TINYGRAD_DETAIL_TRACED_BINARY_SCALAR

/// Applies the activation policy P (activation.hpp) to x: P's value and
/// derivative, with the bits activate<P> gives on a Var.
template <class P, std::floating_point T>
Traced<T> activate(const Traced<T>& x) {
  static_assert(ActivationPolicy<P, T>,
                "tinygrad::activate<P>: P must be an activation policy with static T value(T) "
                "and static T derivative(T).");
  return Traced<T>::call(&detail::tracing::activation_callee<P, T>, x);
}
template <class X>
requires detail::is_traced<X> X sigmoid(const X& x) {
  return activate<Sigmoid>(x);
}
template <class X>
requires detail::is_traced<X> X tanh(const X& x) {
  return activate<Tanh>(x);
}
template <class X>
requires detail::is_traced<X> X relu(const X& x) {
  return activate<ReLU>(x);
}

namespace detail::tracing {

/// Whether f's result R is a range of Traced numbers (a function of
/// several outputs: trace() gives a VectorTrace) rather than one number.
template <class R, class T>
concept TracedRange = std::ranges::input_range<R> &&
    std::convertible_to<std::ranges::range_reference_t<R>, Traced<T>>;

/// What Trace and VectorTrace share: the traced function, its Program
/// (shared by copies, changed by none), this copy's workspace for one
/// point, and what a replay does where a guard does not hold.
template <class T>
class TraceCore {
 public:
  /// The traced function, as a trace calls it: the inputs and the data in,
  /// its results appended to the vector.
  using Function = std::function<void(std::span<const Traced<T>>, std::span<const Traced<T>>,
                                      std::vector<Traced<T>>&)>;

  /// The number of inputs, and of data values, that a replay takes.
  [[nodiscard]] std::size_t inputs() const noexcept { return program_->inputs; }
  [[nodiscard]] std::size_t data_size() const noexcept { return program_->data; }
  /// The operations kept, and the comparisons kept as guards.
  [[nodiscard]] std::size_t operations() const noexcept { return program_->ops.size(); }
  [[nodiscard]] std::size_t guards() const noexcept { return program_->guards.size(); }
  /// How many times a replay traced the function again (BranchChange::retrace).
  [[nodiscard]] std::size_t retraces() const noexcept { return retraces_; }

  /// Bytes of the trace (shared by copies) and of this copy's workspace.
  [[nodiscard]] std::size_t trace_bytes() const noexcept {
    const Program<T>& p = *program_;
    return p.ops.size() * sizeof(Op) + p.steps.size() * sizeof(detail::tracing::Step) +
           p.dot_terms.size() * sizeof(std::uint32_t) + p.operands.size() * sizeof(std::uint32_t) +
           p.callees.size() * sizeof(const Callee<T>*) + p.constants.size() * sizeof(T) +
           p.guards.size() * sizeof(Guard) + p.outputs.size() * sizeof(std::uint32_t);
  }
  [[nodiscard]] std::size_t workspace_bytes() const noexcept {
    const Program<T>& p = *program_;
    return (2 * p.slots() + p.partials) * sizeof(T);
  }

  void on_branch_change(BranchChange what) noexcept { on_change_ = what; }

 protected:
  TraceCore(Function f, std::span<const T> x, std::span<const T> data, BranchChange on_change)
      : function_(std::move(f)), on_change_(on_change) {
    program_ = build(x, data);
    outputs_ = program_->outputs.size();
  }

  /// Throws std::invalid_argument unless x and data have the traced sizes.
  void require_traced_sizes(std::span<const T> x, std::span<const T> data) const {
    require_same_size("Trace", "x", x.size(), "the traced point", program_->inputs);
    require_same_size("Trace", "data", data.size(), "the traced data", program_->data);
  }

  /// Runs the forward loop at x and data, tracing again there if a guard
  /// does not hold (or throwing branch_changed).
  void evaluate(std::span<const T> x, std::span<const T> data) {
    require_traced_sizes(x, data);
    workspace_.prepare(program_);
    std::copy(x.begin(), x.end(), workspace_.values.begin());
    std::copy(data.begin(), data.end(), workspace_.values.begin() + program_->inputs);
    const Guard* broken = forward(*program_, workspace_);
    if (broken == nullptr) [[likely]] {
      return;
    }
    trace_again_at(*broken, x, data);
    workspace_.prepare(program_);
    std::copy(x.begin(), x.end(), workspace_.values.begin());
    std::copy(data.begin(), data.end(), workspace_.values.begin() + program_->inputs);
    forward(*program_, workspace_);  // traced here: every guard holds
  }

  /// Where `broken` does not hold at x and data: throws branch_changed
  /// (BranchChange::report), or traces the function again there, so that
  /// every guard of the program holds at that point (retrace).
  void trace_again_at(const Guard& broken, std::span<const T> x, std::span<const T> data) {
    if (on_change_ == BranchChange::report) {
      throw branch_changed(describe(broken));
    }
    program_ = build(x, data);
    ++retraces_;
  }

  /// Output k's value after evaluate().
  [[nodiscard]] T output_value(std::size_t k) const {
    return workspace_.values[program_->outputs[k]];
  }

  /// The gradient of sum_k seed[k] * output k after evaluate(), into
  /// `gradient` (the inputs' size).
  void sweep(const T* seed, std::span<T> gradient) {
    reverse(*program_, workspace_, seed, gradient);
  }

  Function function_;
  std::shared_ptr<const Program<T>> program_;
  Workspace<T> workspace_;
  BranchChange on_change_;
  std::size_t retraces_ = 0;
  std::size_t outputs_ = 0;               // as first traced; a retrace must give as many
  const char* name_ = "tinygrad::Trace";  // what the messages call it: a VectorTrace sets its own

 private:
  std::shared_ptr<const Program<T>> build(std::span<const T> x, std::span<const T> data) {
    if (x.size() + data.size() >= constant_bit) {
      throw trace_error("tinygrad::trace: more inputs than a trace has slots (2^31)");
    }
    Builder<T> builder;
    builder.program.inputs = static_cast<std::uint32_t>(x.size());
    builder.program.data = static_cast<std::uint32_t>(data.size());
    builder.program.first_result = static_cast<std::uint32_t>(x.size() + data.size());
    std::vector<Traced<T>> leaves;
    leaves.reserve(x.size() + data.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      leaves.push_back(Traced<T>(x[i], static_cast<std::uint32_t>(i), builder.generation));
    }
    for (std::size_t i = 0; i < data.size(); ++i) {
      leaves.push_back(
          Traced<T>(data[i], static_cast<std::uint32_t>(x.size() + i), builder.generation));
    }
    Builder<T>* const outer = current_builder<T>;
    current_builder<T> = &builder;
    struct Restore {
      Builder<T>* outer;
      ~Restore() { current_builder<T> = outer; }
    } restore{outer};
    const std::span<const Traced<T>> all(leaves);
    std::vector<Traced<T>> results;
    function_(all.first(x.size()), all.subspan(x.size()), results);
    if (program_ != nullptr && results.size() != outputs_) {
      throw trace_error(
          std::string(name_) + ": traced again where a comparison flips, the function returns " +
          std::to_string(results.size()) + " values, but " + std::to_string(outputs_) +
          " where first traced; a trace keeps the number of outputs");
    }
    std::vector<std::uint32_t> outputs;
    outputs.reserve(results.size());
    for (const Traced<T>& y : results) {
      if (y.is_constant()) {
        outputs.push_back(builder.constant(y.value_));
      } else {
        y.builder("the traced function's result");
        outputs.push_back(y.slot_);
      }
    }
    return std::make_shared<const Program<T>>(std::move(builder).finish(std::move(outputs)));
  }

  [[nodiscard]] std::string describe(const Guard& g) const {
    const std::size_t index = static_cast<std::size_t>(&g - program_->guards.data());
    return std::string(name_) + ": comparison " + std::to_string(index + 1) + " of the trace (" +
           spelling(g.predicate) + ", " + (g.outcome ? "true" : "false") +
           " when traced) comes out " + (g.outcome ? "false" : "true") +
           " at this point, so the traced branch does not apply here; trace the function "
           "again at this point (BranchChange::retrace does it on its own)";
  }
};

/// Appends f's result (one number, or a range of them) to `outputs`.
template <class T, class R>
void append_results(R&& result, std::vector<Traced<T>>& outputs) {
  if constexpr (TracedRange<R, T>) {
    for (auto&& y : result) {
      outputs.push_back(Traced<T>(y));
    }
  } else {
    outputs.push_back(Traced<T>(std::forward<R>(result)));
  }
}

}  // namespace detail::tracing

/// A function of n inputs (and, optionally, of data) to one number, traced
/// once at a point: value(), gradient() and value_and_gradient() evaluate
/// that trace at new points without recording again, at one point or many
/// in SIMD lanes, and hvp(), hessian() and sparse_hessian() differentiate
/// it twice (docs/tracing.md).
///
/// Copies share the trace, which nothing changes, and have their own
/// workspace: give each thread a copy. A copy that re-traces (a guard came
/// out the other way) keeps the new trace for itself.
template <std::floating_point T>
class Trace : public detail::tracing::TraceCore<T> {
  using Core = detail::tracing::TraceCore<T>;

 public:
  using typename Core::Function;

  /// Traces f, which appends exactly one result, at x and data (trace()
  /// builds f from the user's function).
  Trace(Function f, std::span<const T> x, std::span<const T> data,
        BranchChange on_change = BranchChange::retrace)
      : Core(std::move(f), x, data, on_change) {
    if (this->outputs_ != 1) {
      throw trace_error("tinygrad::Trace: the function has " + std::to_string(this->outputs_) +
                        " outputs; a Trace has one (VectorTrace has several)");
    }
  }

  /// f at x (and data).
  T value(std::span<const T> x, std::span<const T> data = {}) {
    this->evaluate(x, data);
    return this->output_value(0);
  }

  /// f's gradient at x into `gradient` (x's size); returns f(x). Data get
  /// no gradient.
  T value_and_gradient(std::span<const T> x, std::span<T> gradient, std::span<const T> data = {}) {
    detail::require_same_size("Trace::value_and_gradient", "gradient", gradient.size(), "x",
                              x.size());
    this->evaluate(x, data);
    const T one(1);
    this->sweep(&one, gradient);
    return this->output_value(0);
  }
  void gradient(std::span<const T> x, std::span<T> gradient, std::span<const T> data = {}) {
    value_and_gradient(x, gradient, data);
  }

  /// f and its gradient at m points at once, m = values.size(): point k's
  /// inputs are points[k * n, (k + 1) * n), its gradient goes to the same
  /// positions of `gradients`, and its data are data[k * d, (k + 1) * d).
  /// If points holds n values, or data d, every point has those (the same
  /// parameters for many samples of data: per-sample gradients). The
  /// points run in SIMD lanes, in blocks of up to 64 points per operation;
  /// each gets the bits of value_and_gradient at it alone, except where
  /// they depend on an exp or a log, which run vector formulas within 1.1
  /// and 1 ulp (docs/tracing.md). A point where a guard comes out the other
  /// way gets its answer from a trace at that point (retrace: this trace
  /// stays as it is) or throws branch_changed (report).
  ///
  /// `set` is the instruction set the loops run with (instruction_set.hpp):
  /// by default the activation kernels' process-wide choice. Every set
  /// gives the same bits.
  void values_and_gradients(std::span<const T> points, std::span<T> values, std::span<T> gradients,
                            std::span<const T> data = {},
                            InstructionSet set = kernel_instruction_set()) {
    require_batch("Trace::values_and_gradients", points, values.size(), data, set);
    detail::require_same_size("Trace::values_and_gradients", "gradients", gradients.size(),
                              "values times the inputs", values.size() * this->program_->inputs);
    batch(points, values, gradients, data, true, set);
  }
  /// f at m points at once (values_and_gradients without the gradients).
  void values(std::span<const T> points, std::span<T> values, std::span<const T> data = {},
              InstructionSet set = kernel_instruction_set()) {
    require_batch("Trace::values", points, values.size(), data, set);
    batch(points, values, {}, data, false, set);
  }

  // ---- Second derivatives: forward over reverse on the trace, with no
  // recording (docs/tracing.md, "Second derivatives"). Each needs every
  // function the trace calls to have second derivatives: a policy without
  // second_derivative(x) makes them throw trace_error.

  /// f's Hessian at x (and data) times v, without forming the Hessian: one
  /// forward pass carrying v's tangents and one reverse sweep.
  std::vector<T> hvp(std::span<const T> x, std::span<const T> v, std::span<const T> data = {}) {
    this->require_traced_sizes(x, data);
    detail::require_same_size("Trace::hvp", "v", v.size(), "x", x.size());
    auto& ws = one_direction_;
    forward_over_at(ws, x, data, [&] {
      for (std::size_t i = 0; i < x.size(); ++i) {
        ws.tangents[i][0] = v[i];
      }
    });
    detail::tracing::reverse_over(*this->program_, ws);
    std::vector<T> result(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      result[i] = ws.adjoint_tangents[i][0];
    }
    return result;
  }

  /// The sparsity pattern of f's Hessian and a colouring of its columns
  /// (sparsity.hpp), read from the trace's operations once and kept until
  /// a retrace: the pairs of inputs that meet in a product, a quotient or
  /// a call on which f's value depends. It contains the exact pattern
  /// (cancellations are not looked for) wherever the trace's branches hold.
  const HessianSparsity& hessian_sparsity() {
    if (pattern_of_ != this->program_) {
      pattern_ = detail::tracing::hessian_sparsity_of(*this->program_);
      pattern_of_ = this->program_;
    }
    return pattern_;
  }

  /// f's Hessian at x (and data), an n x n Matrix: one forward pass and one
  /// reverse sweep per four colours of hessian_sparsity() (3 colours for a
  /// tridiagonal Hessian, n for a dense one).
  Matrix<T> hessian(std::span<const T> x, std::span<const T> data = {}) {
    Matrix<T> result(x.size(), x.size());
    hessian_on_pattern(x, data, [&](std::size_t i, std::size_t j, T h) { result(i, j) = h; });
    return result;
  }

  /// The same in coordinate form: an entry for every position of
  /// hessian_sparsity(), in row order.
  SparseHessian<T> sparse_hessian(std::span<const T> x, std::span<const T> data = {}) {
    SparseHessian<T> result;
    result.size = x.size();
    hessian_on_pattern(x, data, [&](std::size_t i, std::size_t j, T h) {
      result.entries.push_back({i, j, h});
    });
    detail::order_by_pattern(result.entries, hessian_sparsity());
    return result;
  }

 private:
  /// How many directions a pass of hessian() carries.
  static constexpr std::size_t directions_per_pass = 4;

  /// forward_over at x and data (of the traced sizes), with the inputs'
  /// tangents set by seed() (zero before it), checking the guards on its
  /// values: where one does not hold, the function is traced again there
  /// (or branch_changed thrown) and the pass runs on the new trace. The
  /// first-order forward loop of evaluate() is not needed.
  template <std::size_t K, class Seed>
  void forward_over_at(detail::tracing::SecondOrderWorkspace<T, K>& ws, std::span<const T> x,
                       std::span<const T> data, Seed&& seed) {
    const auto run = [&] {
      ws.prepare(this->program_);
      std::copy(x.begin(), x.end(), ws.values.begin());
      std::copy(data.begin(), data.end(), ws.values.begin() + std::ptrdiff_t(x.size()));
      std::fill_n(ws.tangents.begin(), x.size(), std::array<T, K>{});
      seed();
      detail::tracing::forward_over(*this->program_, ws);
      return detail::tracing::first_broken_guard(*this->program_, ws.values.data());
    };
    if (const detail::tracing::Guard* broken = run()) [[unlikely]] {
      this->trace_again_at(*broken, x, data);
      run();  // traced here: every guard holds
    }
  }

  /// Calls write(i, j, H(i, j)) for each position of hessian_sparsity() at
  /// x: per pass, the inputs' tangents are the sums of the unit vectors of
  /// four colours, and row i of H times colour c's sum is H(i, j) for the
  /// one column j of colour c in row i. The first pass checks the guards
  /// (and runs where there are no colours, to check them), so the pattern
  /// is the one of the trace that holds at x.
  template <class Write>
  void hessian_on_pattern(std::span<const T> x, std::span<const T> data, Write&& write) {
    constexpr std::size_t K = directions_per_pass;
    this->require_traced_sizes(x, data);
    auto& ws = four_directions_;
    const auto seed_colours = [&](std::size_t first) {
      const HessianSparsity& pattern = hessian_sparsity();
      for (std::size_t j = 0; j < x.size(); ++j) {
        const std::size_t lane = pattern.colour_of(j) - first;
        if (lane < K) {
          ws.tangents[j][lane] = T(1);
        }
      }
    };
    forward_over_at(ws, x, data, [&] { seed_colours(0); });
    const HessianSparsity& pattern = hessian_sparsity();
    for (std::size_t first = 0; first < pattern.colours(); first += K) {
      if (first > 0) {
        std::fill_n(ws.tangents.begin(), x.size(), std::array<T, K>{});
        seed_colours(first);
        detail::tracing::forward_over(*this->program_, ws);
      }
      detail::tracing::reverse_over(*this->program_, ws);
      for (std::size_t i = 0; i < x.size(); ++i) {
        for (const std::uint32_t j : pattern.row(i)) {
          const std::size_t lane = pattern.colour_of(j) - first;
          if (lane < K) {
            write(i, std::size_t{j}, ws.adjoint_tangents[i][lane]);
          }
        }
      }
    }
  }

  void require_batch(const char* function, std::span<const T> points, std::size_t m,
                     std::span<const T> data, InstructionSet set) const {
    if (!instruction_set_available(set)) {
      throw std::invalid_argument(std::string("tinygrad::") + function + ": instruction set " +
                                  instruction_set_name(set) + " is not available here");
    }
    const std::size_t n = this->program_->inputs;
    const std::size_t d = this->program_->data;
    if (points.size() != n) {
      detail::require_same_size(function, "points", points.size(), "values times the inputs",
                                m * n);
    }
    if (data.size() != d) {
      detail::require_same_size(function, "data", data.size(), "values times the traced data",
                                m * d);
    }
  }

  /// The batched replay behind values_and_gradients and values: the
  /// points in blocks of block_lanes(program), each slot holding a block's
  /// values side by side.
  void batch(std::span<const T> points, std::span<T> values, std::span<T> gradients,
             std::span<const T> data, bool with_gradients, InstructionSet set) {
    constexpr std::size_t V = detail::tracing::lanes<T>;
    const detail::tracing::Program<T>& p = *this->program_;
    const std::size_t n = p.inputs;
    const std::size_t d = p.data;
    const std::size_t m = values.size();
    const bool shared_point = points.size() == n;
    const bool shared_data = data.size() == d;
    lanes_.prepare(this->program_, detail::tracing::block_lanes(p));
    const std::size_t W = lanes_.width;
    T* const slots = lanes_.values.data();
    for (std::size_t first = 0; first < m; first += W) {
      const std::size_t count = std::min(W, m - first);
      // The lanes the block runs: whole vectors. Those past the last point
      // repeat it, so that they compute something valid; their results
      // are dropped.
      const std::size_t active = (count + V - 1) / V * V;
      // Into the lanes: a transpose (points_into_lanes), then the last
      // point's values copied into the lanes past it.
      const auto fill_slots = [&](T* slot, std::span<const T> from, std::size_t width,
                                  bool shared) {
        if (shared) {
          for (std::size_t i = 0; i < width; ++i) {
            std::fill_n(slot + i * W, active, from[i]);
          }
          return;
        }
        detail::tracing::points_into_lanes(slot, W, from.data() + first * width, width, count, set);
        for (std::size_t i = 0; i < width; ++i) {
          std::fill(slot + i * W + count, slot + i * W + active, slot[i * W + count - 1]);
        }
      };
      fill_slots(slots, points, n, shared_point);
      fill_slots(slots + n * W, data, d, shared_data);
      const std::uint64_t broken =
          detail::tracing::replay_lanes(p, lanes_, active, with_gradients, set);
      if (broken != 0) [[unlikely]] {
        finish_with_retraces(first, count, broken, points, values, gradients, data, with_gradients);
        continue;
      }
      for (std::size_t l = 0; l < count; ++l) {
        values[first + l] = slots[std::size_t{p.outputs[0]} * W + l];
      }
      if (with_gradients) {
        detail::tracing::lanes_into_points(gradients.data() + first * n, lanes_.adjoints.data(), W,
                                           n, count, set);
      }
    }
  }

  /// The results of a block of `count` points from point `first` on, of
  /// which those in the mask `broken` go through one_point_elsewhere, in
  /// order (which may throw at one: the points before it have their
  /// results).
  void finish_with_retraces(std::size_t first, std::size_t count, std::uint64_t broken,
                            std::span<const T> points, std::span<T> values, std::span<T> gradients,
                            std::span<const T> data, bool with_gradients) {
    const std::size_t W = lanes_.width;
    const detail::tracing::Program<T>& p = *this->program_;
    const std::size_t n = p.inputs;
    const std::size_t d = p.data;
    const bool shared_point = points.size() == n;
    const bool shared_data = data.size() == d;
    for (std::size_t l = 0; l < count; ++l) {
      const std::size_t k = first + l;
      if ((broken >> l & 1) != 0) {
        one_point_elsewhere(k, shared_point ? points : points.subspan(k * n, n),
                            shared_data ? data : data.subspan(k * d, d), values[k],
                            with_gradients ? gradients.subspan(k * n, n) : std::span<T>());
        continue;
      }
      values[k] = lanes_.values[std::size_t{p.outputs[0]} * W + l];
      if (with_gradients) {
        for (std::size_t i = 0; i < n; ++i) {
          gradients[k * n + i] = lanes_.adjoints[i * W + l];
        }
      }
    }
  }

  /// Point k of a batch, where a guard of this trace does not hold: a trace
  /// of its own answers (retrace), or branch_changed (report).
  void one_point_elsewhere(std::size_t k, std::span<const T> x, std::span<const T> data, T& value,
                           std::span<T> gradient) {
    if (this->on_change_ == BranchChange::report) {
      throw branch_changed("tinygrad::Trace: at point " + std::to_string(k) +
                           " of the batch a comparison of the trace comes out the other way, so "
                           "the traced branch does not apply there; trace the function again at "
                           "that point (BranchChange::retrace does it on its own)");
    }
    Trace elsewhere(this->function_, x, data, BranchChange::retrace);
    ++this->retraces_;
    if (gradient.empty()) {
      value = elsewhere.value(x, data);
    } else {
      value = elsewhere.value_and_gradient(x, gradient, data);
    }
  }

  detail::tracing::LanesWorkspace<T> lanes_;
  detail::tracing::SecondOrderWorkspace<T, 1> one_direction_;
  detail::tracing::SecondOrderWorkspace<T, directions_per_pass> four_directions_;
  std::shared_ptr<const detail::tracing::Program<T>> pattern_of_;  // the program pattern_ is of
  HessianSparsity pattern_;
};

/// A function of n inputs (and, optionally, of data) to m numbers, traced
/// once at a point: value() and jacobian() evaluate that trace at new
/// points, by one forward pass and one reverse sweep per output, without
/// recording again (docs/tracing.md). Copies, threads and guards as for
/// Trace.
template <std::floating_point T>
class VectorTrace : public detail::tracing::TraceCore<T> {
  using Core = detail::tracing::TraceCore<T>;

 public:
  using typename Core::Function;

  /// Traces f at x and data (trace() builds f from the user's function).
  VectorTrace(Function f, std::span<const T> x, std::span<const T> data,
              BranchChange on_change = BranchChange::retrace)
      : Core(std::move(f), x, data, on_change) {
    this->name_ = "tinygrad::VectorTrace";
  }

  /// The number of outputs, m.
  [[nodiscard]] std::size_t outputs() const noexcept { return this->outputs_; }

  /// f at x (and data), into y (m values).
  void value(std::span<const T> x, std::span<T> y, std::span<const T> data = {}) {
    detail::require_same_size("VectorTrace::value", "y", y.size(), "the outputs", this->outputs_);
    this->evaluate(x, data);
    copy_outputs(y);
  }

  /// f's Jacobian at x: m x n, row i the gradient of output i.
  [[nodiscard]] Matrix<T> jacobian(std::span<const T> x, std::span<const T> data = {}) {
    Matrix<T> j(this->outputs_, x.size());
    this->evaluate(x, data);
    rows(std::span<T>(j.data(), j.size()), x.size());
    return j;
  }

  /// f at x into y (m values) and its Jacobian into `jacobian` (m * n
  /// values, row-major): no allocation once warm.
  void value_and_jacobian(std::span<const T> x, std::span<T> y, std::span<T> jacobian,
                          std::span<const T> data = {}) {
    detail::require_same_size("VectorTrace::value_and_jacobian", "y", y.size(), "the outputs",
                              this->outputs_);
    detail::require_same_size("VectorTrace::value_and_jacobian", "jacobian", jacobian.size(),
                              "outputs times inputs", this->outputs_ * x.size());
    this->evaluate(x, data);
    copy_outputs(y);
    rows(jacobian, x.size());
  }

  /// v^T J at x into g (n values), v of m values: one reverse sweep.
  void vjp(std::span<const T> x, std::span<const T> v, std::span<T> g,
           std::span<const T> data = {}) {
    detail::require_same_size("VectorTrace::vjp", "v", v.size(), "the outputs", this->outputs_);
    detail::require_same_size("VectorTrace::vjp", "g", g.size(), "x", x.size());
    this->evaluate(x, data);
    this->sweep(v.data(), g);
  }

 private:
  void copy_outputs(std::span<T> y) const {
    for (std::size_t k = 0; k < y.size(); ++k) {
      y[k] = this->output_value(k);
    }
  }

  /// The Jacobian's rows after evaluate(): one sweep per output.
  void rows(std::span<T> jacobian, std::size_t n) {
    seed_.assign(this->outputs_, T(0));
    for (std::size_t i = 0; i < this->outputs_; ++i) {
      seed_[i] = T(1);
      this->sweep(seed_.data(), jacobian.subspan(i * n, n));
      seed_[i] = T(0);
    }
  }

  std::vector<T> seed_;  // a unit vector, one output's seed
};

/// Traces f at x: f is called once with std::span<const Traced<T>> of x's
/// values. If it returns one number (a Traced<T>), the result is a Trace;
/// if it returns a range of them (std::vector, std::array, ...), a
/// VectorTrace. Either evaluates that recording at new points
/// (docs/tracing.md). `x` is any contiguous range of floating point numbers.
template <class F, class X, class T = detail::RangeElement<X>>
requires detail::ContiguousRangeOf<X, T> && std::floating_point<T> &&
    std::invocable<F&, std::span<const Traced<T>>>
auto trace(F f, const X& x, BranchChange on_change = BranchChange::retrace) {
  using R = std::invoke_result_t<F&, std::span<const Traced<T>>>;
  auto call = [f = std::move(f)](std::span<const Traced<T>> inputs, std::span<const Traced<T>>,
                                 std::vector<Traced<T>>& outputs) mutable {
    detail::tracing::append_results<T>(f(inputs), outputs);
  };
  if constexpr (detail::tracing::TracedRange<R, T>) {
    return VectorTrace<T>(std::move(call), std::span<const T>(x), {}, on_change);
  } else {
    return Trace<T>(std::move(call), std::span<const T>(x), {}, on_change);
  }
}

/// Traces f(x, data) at x and data: data are inputs that a replay may change
/// and that get no gradient.
template <class F, class X, class D, class T = detail::RangeElement<X>>
requires detail::ContiguousRangeOf<X, T> && detail::ContiguousRangeOf<D, T> &&
    std::floating_point<T> &&
    std::invocable<F&, std::span<const Traced<T>>, std::span<const Traced<T>>>
auto trace(F f, const X& x, const D& data, BranchChange on_change = BranchChange::retrace) {
  using R = std::invoke_result_t<F&, std::span<const Traced<T>>, std::span<const Traced<T>>>;
  auto call = [f = std::move(f)](std::span<const Traced<T>> inputs,
                                 std::span<const Traced<T>> values,
                                 std::vector<Traced<T>>& outputs) mutable {
    detail::tracing::append_results<T>(f(inputs, values), outputs);
  };
  if constexpr (detail::tracing::TracedRange<R, T>) {
    return VectorTrace<T>(std::move(call), std::span<const T>(x), std::span<const T>(data),
                          on_change);
  } else {
    return Trace<T>(std::move(call), std::span<const T>(x), std::span<const T>(data), on_change);
  }
}

}  // namespace tinygrad
