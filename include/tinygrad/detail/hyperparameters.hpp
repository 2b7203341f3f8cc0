// SPDX-License-Identifier: MIT
#pragma once

// The range check that optimizers and learning-rate schedules share, so
// that a hyperparameter that would quietly corrupt training is refused.

#include <limits>
#include <sstream>
#include <stdexcept>

namespace tinygrad::nn::detail {

inline constexpr long double infinity = std::numeric_limits<long double>::infinity();

/// Throws std::invalid_argument unless low <= value < high (NaN fails):
/// "nn::<what>: <name> = <value> is outside [low, high)". `high_open` false
/// makes the upper bound inclusive.
inline void require_in_range(const char* what, const char* name, long double value, long double low,
                             long double high, bool high_open = true) {
  const bool ok = value >= low && (high_open ? value < high : value <= high);
  if (!ok) {
    std::ostringstream message;
    message << "nn::" << what << ": " << name << " = " << value << " is outside [" << low << ", "
            << high << (high_open ? ")" : "]");
    throw std::invalid_argument(message.str());
  }
}

}  // namespace tinygrad::nn::detail
