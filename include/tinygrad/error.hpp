// SPDX-License-Identifier: MIT
#pragma once

#include <tinygrad/anomaly.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tinygrad {

/// Thrown when a Var is used where its recording no longer exists or is not
/// reachable: its tape was cleared, rewound past it or destroyed, or the Var
/// belongs to a tape other than the current one of this thread (an outer
/// nested tape, another thread's tape). Also thrown when a tape is full.
/// It is a logic_error because each case is a bug in the calling program.
class tape_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Thrown by a tape in checked mode (Tape::detect_anomalies) at the first
/// infinite or NaN value or adjoint: what() names the operation that produced
/// it, its operand values, its tape position and file:line; anomaly() has
/// each of them.
class numeric_error : public std::runtime_error {
 public:
  explicit numeric_error(Anomaly anomaly)
      : std::runtime_error(anomaly.describe()),
        anomaly_(std::make_shared<const Anomaly>(std::move(anomaly))) {}

  [[nodiscard]] const Anomaly& anomaly() const noexcept { return *anomaly_; }

 private:
  // Shared, so that copying the exception cannot throw (as for what()).
  std::shared_ptr<const Anomaly> anomaly_;
};

/// Thrown when a Traced (trace.hpp) is used outside the call that
/// tinygrad::trace makes to trace a function, or in another thread's or
/// another trace's call, and when a trace would outgrow its 2^31 slots.
/// A logic_error: each case is a bug in the calling program.
class trace_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Thrown by a Trace set to BranchChange::report where a comparison made
/// while tracing comes out the other way at the point of a replay: the
/// trace's branch does not apply there. what() says which comparison.
class branch_changed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// Throws std::invalid_argument unless two ranges have the same size: "<function>:
/// <name> has <size> elements but <other_name> has <other_size>", where the
/// function is tinygrad::<function>, or tinygrad::<function><<policy>> for a
/// kernel. The pieces are separate so that nothing is built unless it throws.
inline void require_same_size(const char* function, const char* name, std::size_t size,
                              const char* other_name, std::size_t other_size,
                              const char* policy = nullptr) {
  if (size == other_size) [[likely]] {
    return;
  }
  std::string message = std::string("tinygrad::") + function;
  if (policy != nullptr) {
    message += std::string("<") + policy + ">";
  }
  throw std::invalid_argument(message + ": " + name + " has " + std::to_string(size) +
                              " elements but " + other_name + " has " + std::to_string(other_size));
}

// The messages of tape_error, built where they are thrown (out of line).

inline std::string tape_full_message(std::uint32_t tape) {
  return "tinygrad: tape #" + std::to_string(tape) +
         " is full (2^32 - 2 entries or operands); clear() or rewind() it";
}

inline std::string out_of_epochs_message(std::uint32_t tape) {
  return "tinygrad: tape #" + std::to_string(tape) +
         " was rewound 2^32 - 1 times without a clear(); clear() it or use a new tape";
}

/// Where the tape of a Var that cannot be used here is.
enum class VarTape {
  constant,      // none: a constant has no entry (and no gradient)
  taken_over,    // none: an operation took the Var's entry over (fusion)
  dropped,       // the current tape, which clear() or rewind() has dropped it from
  outer,         // another tape on this thread's stack of current tapes
  other_thread,  // a live tape made on another thread
  not_current,   // a live tape of this thread that is not on the stack
  gone,          // no live tape has its id
};

/// Why Var #`index`, recorded on tape `var_tape`, cannot be used in `use`
/// while `current_tape` is current, and what to do.
template <class T>
std::string unusable_var_message(std::uint32_t index, const T& value, const char* use,
                                 VarTape where, std::uint32_t var_tape,
                                 std::uint32_t current_tape) {
  std::ostringstream message;
  if (where == VarTape::constant) {
    message << "tinygrad: the Var (value " << value << ") used in " << use
            << " is a constant: default-constructed, made by constant() or detach(), or computed "
               "from constants only or inside a NoGradScope. It has no tape entry, so it has no "
               "gradient and nothing to differentiate; to differentiate with respect to it, "
               "construct it from its value (Var<T> x = value) instead";
    return message.str();
  }
  message << "tinygrad: Var #" << index << " (value " << value << ") used in " << use;
  switch (where) {
    case VarTape::constant:
      break;  // above
    case VarTape::taken_over:
      message << " was consumed: it was passed as an rvalue (a temporary, or std::move) to an "
                 "operation that reused its tape entry for its own result; pass a copy, or use "
                 "the operation's result instead";
      break;
    case VarTape::dropped:
      message << " was recorded on tape #" << var_tape
              << ", the current tape, but clear() or rewind() has since dropped it; record it "
                 "again after the clear()";
      break;
    case VarTape::outer:
      message << " was recorded on tape #" << var_tape << ", an outer tape of this thread: tape #"
              << current_tape
              << " is current, nested inside it. Use the Var again once the nested tape's scope "
                 "has ended, or pass its value() (a plain number) into the nested computation";
      break;
    case VarTape::other_thread:
      message << " was recorded on tape #" << var_tape
              << ", which belongs to another thread (the current tape of this thread is tape #"
              << current_tape
              << "): each thread records on tapes of its own, so use a Var on the thread that "
                 "recorded it (parallel_gradient shows how to share work between threads)";
      break;
    case VarTape::not_current:
      message << " was recorded on tape #" << var_tape
              << ", a tape of this thread that is not current (tape #" << current_tape
              << " is): use the Var while its tape is current";
      break;
    case VarTape::gone:
      message << " was recorded on tape #" << var_tape
              << ", which no longer exists (the current tape of this thread is tape #"
              << current_tape
              << "): it was destroyed, as a Tape is at the end of its scope (or a clear() after "
                 "2^32 - 1 rewinds gave it a new identity). Create the Tape before the Vars and "
                 "keep it alive while you use them";
      break;
  }
  return message.str();
}

/// Why rewind() on tape `tape` cannot go to a position of `entries` entries
/// taken on tape `position_tape`.
inline std::string unreachable_position_message(std::uint32_t tape, std::size_t entries,
                                                std::uint32_t position_tape) {
  std::ostringstream message;
  message << "tinygrad: rewind() on tape #" << tape << " to a position (" << entries
          << " entries) ";
  if (position_tape != tape) {
    message << "taken on tape #" << position_tape;
  } else {
    message << "that clear() or an earlier rewind() has dropped";
  }
  return message.str();
}

}  // namespace detail

}  // namespace tinygrad
