// SPDX-License-Identifier: MIT
#pragma once

#include <tinygrad/anomaly.hpp>

#include <memory>
#include <stdexcept>
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

}  // namespace tinygrad
