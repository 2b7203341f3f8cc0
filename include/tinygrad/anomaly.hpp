// SPDX-License-Identifier: MIT
#pragma once

// The report of anomaly detection (Tape::detect_anomalies): where the first
// non-finite value or adjoint of a tape came from. See docs/design.md,
// "Anomaly detection".

#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace tinygrad {

/// What a tape in checked mode does on the first anomaly.
enum class OnAnomaly {
  throw_error,  ///< throw tinygrad::numeric_error (the default)
  record,       ///< keep it for Tape::anomaly() and go on with IEEE semantics
};

/// The first non-finite number of a tape, blamed on the operation that
/// produced it. Numbers are widened to long double, which holds float,
/// double and long double exactly (for a Var<Var<T>> tape, the innermost
/// value).
struct Anomaly {
  enum class Phase {
    recording,  ///< the operation's value was infinite or NaN, its operands finite
    backward,   ///< in backward(): partial * adjoint made an operand's adjoint infinite or NaN
  };

  Phase phase = Phase::recording;
  /// The blamed operation's position on the tape.
  std::size_t entry = 0;
  /// Its name ("log", "/", "leaf", ...); "?" if recorded while detection was off.
  std::string operation;
  /// Where it was recorded (the caller's file:line; docs/reference.md has the
  /// exceptions); empty if not known.
  std::optional<std::string> file;
  std::uint32_t line = 0;
  /// The values of its Var operands, in order; empty where not known (an
  /// operand recorded while detection was off).
  std::vector<std::optional<long double>> operand_values;

  /// An operation named in a report, with where it was recorded.
  struct Operation {
    std::string name;                 ///< "?" if recorded while detection was off
    std::optional<std::string> file;  ///< empty if not known
    std::uint32_t line = 0;
  };
  /// The operations fused into the blamed entry before the blamed one, oldest
  /// first (docs/reference.md, "Fusion"): the entry holds their chain, so in
  /// backward() its partials are the products of theirs and its own.
  std::vector<Operation> fused_before;
  /// recording: the non-finite value. backward: the non-finite adjoint.
  long double result = 0;

  // backward only:
  std::size_t operand = 0;        ///< which operand's adjoint went non-finite (0-based)
  std::size_t operand_entry = 0;  ///< that operand's position on the tape
  long double partial = 0;        ///< d(operation)/d(operand)
  long double adjoint = 0;        ///< the operation's own adjoint (finite)

  /// One line naming all of the above; numeric_error::what() is this.
  [[nodiscard]] std::string describe() const {
    std::ostringstream out;
    out.precision(17);
    out << "tinygrad: anomaly ";
    out << (phase == Phase::recording ? "while recording" : "in backward()") << ": '" << operation
        << "' (tape entry #" << entry << ", ";
    if (file) {
      out << "at " << *file << ':' << line;
    } else {
      out << "recorded while anomaly detection was off";
    }
    for (std::size_t k = 0; k < fused_before.size(); ++k) {
      const Operation& earlier = fused_before[k];
      out << (k == 0 ? "; fused into the entry of " : ", then ") << '\'' << earlier.name << '\'';
      if (earlier.file) {
        out << " at " << *earlier.file << ':' << earlier.line;
      }
    }
    out << ") with operand values (";
    for (std::size_t k = 0; k < operand_values.size(); ++k) {
      out << (k == 0 ? "" : ", ");
      if (operand_values[k]) {
        out << *operand_values[k];
      } else {
        out << '?';
      }
    }
    out << ")";
    if (phase == Phase::recording) {
      out << " gave " << result;
    } else {
      out << ": its partial derivative " << partial << " with respect to operand " << operand
          << " (tape entry #" << operand_entry << ") times its adjoint " << adjoint
          << " made that operand's adjoint " << result;
    }
    return out.str();
  }
};

}  // namespace tinygrad
