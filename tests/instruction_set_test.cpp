// SPDX-License-Identifier: MIT
// Choosing the activation kernels' instruction set: the default is the widest
// this processor has (asked of the processor here, independently of the
// library), every available one can be chosen, and one that is not available
// is refused with std::invalid_argument, by use_instruction_set and by the
// kernels. Built twice: as is, and with TINYGRAD_NO_DISPATCH (only the
// compiled copy exists).

#include <tinygrad/var.hpp>

#include <doctest/doctest.h>

#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using tinygrad::InstructionSet;

namespace {

/// What the processor offers beyond the build's flags, asked directly.
InstructionSet widest_the_processor_offers() {
#if defined(__x86_64__) && !defined(__AVX512F__) && !defined(TINYGRAD_NO_DISPATCH)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")) {
    return InstructionSet::avx512;
  }
#if !(defined(__AVX2__) && defined(__FMA__))
  if (avx2) {
    return InstructionSet::avx2;
  }
#endif
#endif
  return InstructionSet::compiled;
}

/// Restores the process-wide choice when a test case ends, however it ends.
struct RestoreInstructionSet {
  InstructionSet saved = tinygrad::kernel_instruction_set();
  ~RestoreInstructionSet() { tinygrad::use_instruction_set(saved); }
};

const InstructionSet all_sets[] = {InstructionSet::compiled, InstructionSet::avx2,
                                   InstructionSet::avx512};

}  // namespace

TEST_CASE("the default is the widest instruction set the processor offers beyond the build's") {
  const InstructionSet expected = widest_the_processor_offers();
  MESSAGE("kernels run with ", std::string(tinygrad::instruction_set_name(expected)));
  CHECK(tinygrad::kernel_instruction_set() == expected);
  CHECK(tinygrad::instruction_set_available(expected));
  CHECK(tinygrad::instruction_set_available(InstructionSet::compiled));
#if defined(TINYGRAD_NO_DISPATCH)
  CHECK_FALSE(tinygrad::instruction_set_available(InstructionSet::avx2));
  CHECK_FALSE(tinygrad::instruction_set_available(InstructionSet::avx512));
#endif
}

TEST_CASE("names") {
  CHECK(std::string(tinygrad::instruction_set_name(InstructionSet::compiled)) == "compiled");
  CHECK(std::string(tinygrad::instruction_set_name(InstructionSet::avx2)) == "avx2");
  CHECK(std::string(tinygrad::instruction_set_name(InstructionSet::avx512)) == "avx512");
}

TEST_CASE("every available instruction set can be chosen; the others are refused") {
  RestoreInstructionSet restore;
  std::vector<float> x = {-3.0f, 0.0f, 2.5f};
  std::vector<float> y(3, -7.0f);
  for (const InstructionSet set : all_sets) {
    const std::string name = tinygrad::instruction_set_name(set);
    INFO("instruction set ", name);
    if (tinygrad::instruction_set_available(set)) {
      tinygrad::use_instruction_set(set);
      CHECK(tinygrad::kernel_instruction_set() == set);
      tinygrad::forward<tinygrad::ReLU>(std::span<const float>(x), std::span<float>(y));
      CHECK(y == std::vector<float>{0.0f, 0.0f, 2.5f});
    } else {
      const InstructionSet before = tinygrad::kernel_instruction_set();
      CHECK_THROWS_WITH_AS(tinygrad::use_instruction_set(set),
                           ("tinygrad::use_instruction_set: " + name +
                            " is not available here (the processor lacks it, the build's flags "
                            "include it already, or the build has no copy for it)")
                               .c_str(),
                           std::invalid_argument);
      CHECK(tinygrad::kernel_instruction_set() == before);
      std::vector<float> untouched(3, -7.0f);
      CHECK_THROWS_WITH_AS(
          tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(x),
                                               std::span<float>(untouched), set),
          ("tinygrad::forward<sigmoid>: instruction set " + name + " is not available here")
              .c_str(),
          std::invalid_argument);
      CHECK_THROWS_WITH_AS(
          tinygrad::backward<tinygrad::Tanh>(std::span<const float>(x), std::span<const float>(x),
                                             std::span<const float>(x), std::span<float>(untouched),
                                             set),
          ("tinygrad::backward<tanh>: instruction set " + name + " is not available here").c_str(),
          std::invalid_argument);
      CHECK(untouched == std::vector<float>(3, -7.0f));  // refused before any write
    }
  }
}

TEST_CASE("the choice is process-wide: a thread started later runs with it") {
  RestoreInstructionSet restore;
  tinygrad::use_instruction_set(InstructionSet::compiled);
  InstructionSet seen = InstructionSet::avx512;
  std::thread([&] { seen = tinygrad::kernel_instruction_set(); }).join();
  CHECK(seen == InstructionSet::compiled);
}
