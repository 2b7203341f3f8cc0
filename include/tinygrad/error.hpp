// SPDX-License-Identifier: MIT
#pragma once

#include <stdexcept>

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

}  // namespace tinygrad
