// SPDX-License-Identifier: MIT
#pragma once

#include <tinygrad/instruction_set.hpp>

#include <vector>

namespace tinygrad_test {

/// Every instruction set the kernels can run with on this machine and build,
/// the compiled one first.
inline std::vector<tinygrad::InstructionSet> available_instruction_sets() {
  std::vector<tinygrad::InstructionSet> sets;
  for (const auto set : {tinygrad::InstructionSet::compiled, tinygrad::InstructionSet::avx2,
                         tinygrad::InstructionSet::avx512}) {
    if (tinygrad::instruction_set_available(set)) {
      sets.push_back(set);
    }
  }
  return sets;
}

}  // namespace tinygrad_test
