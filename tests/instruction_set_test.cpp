// SPDX-License-Identifier: MIT
// Choosing the activation kernels' instruction set: the default is the widest
// this processor has (as the operating system lists its features, a source
// independent of the library's), each copy computes the same functions,
// every available one can be chosen, and one that is not available
// is refused with std::invalid_argument, by use_instruction_set and by the
// kernels. Built twice: as is, and with TINYGRAD_NO_DISPATCH (only the
// compiled copy exists).

#include <tinygrad/var.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using tinygrad::InstructionSet;

namespace {

/// The processor's features as the operating system lists them in
/// /proc/cpuinfo: a source independent of the compiler builtins that the
/// library asks. Empty where there is no such file.
std::set<std::string> cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("flags")) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string word; words >> word;) {
        flags.insert(word);
      }
      break;
    }
  }
  return flags;
}

/// The widest instruction set the kernels should default to, from the
/// processor's flags and this build's: one the build's own flags already
/// include is the compiled copy.
InstructionSet expected_default(const std::set<std::string>& flags) {
#if defined(TINYGRAD_NO_DISPATCH) || !defined(__x86_64__) || defined(__AVX512F__)
  (void)flags;
  return InstructionSet::compiled;
#else
  const auto has = [&](std::initializer_list<const char*> names) {
    return std::ranges::all_of(names, [&](const char* name) { return flags.contains(name); });
  };
  if (has({"avx2", "fma", "avx512f", "avx512vl", "avx512dq", "avx512bw"})) {
    return InstructionSet::avx512;
  }
#if !(defined(__AVX2__) && defined(__FMA__))
  if (has({"avx2", "fma"})) {
    return InstructionSet::avx2;
  }
#endif
  return InstructionSet::compiled;
#endif
}

/// Restores the process-wide choice when a test case ends, however it ends.
struct RestoreInstructionSet {
  InstructionSet saved = tinygrad::kernel_instruction_set();
  // The saved choice was available when it was made, so this cannot throw.
  // NOLINTNEXTLINE(bugprone-exception-escape)
  ~RestoreInstructionSet() { tinygrad::use_instruction_set(saved); }
};

const InstructionSet all_sets[] = {InstructionSet::compiled, InstructionSet::avx2,
                                   InstructionSet::avx512};

}  // namespace

TEST_CASE("the default is the widest instruction set the processor offers beyond the build's") {
  const std::set<std::string> flags = cpu_flags();
  if (flags.empty()) {
    MESSAGE("no /proc/cpuinfo here: the default is not checked against the processor");
    return;
  }
  const InstructionSet expected = expected_default(flags);
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

TEST_CASE("each copy computes the same functions; the AVX copies fuse where the build does not") {
  // 10^4 doubles through sigmoid with every available copy: each within 2
  // ulp of the compiled copy's output (both are within 1.5 ulp of the exact
  // value, activation_accuracy_test), and in an optimised build without FMA
  // the AVX2 and AVX-512 copies differ from it somewhere: their multiply-adds
  // are fused, so they are really other code.
  std::vector<double> x;
  x.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    x.push_back(-30.0 + 60.0 * i / 9999.0);
  }
  std::vector<double> compiled(x.size());
  tinygrad::forward<tinygrad::Sigmoid>(std::span<const double>(x), std::span<double>(compiled),
                                       InstructionSet::compiled);
  for (const InstructionSet set : {InstructionSet::avx2, InstructionSet::avx512}) {
    if (!tinygrad::instruction_set_available(set)) {
      continue;
    }
    INFO("instruction set ", std::string(tinygrad::instruction_set_name(set)));
    std::vector<double> y(x.size());
    tinygrad::forward<tinygrad::Sigmoid>(std::span<const double>(x), std::span<double>(y), set);
    std::size_t differing = 0;
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      differing += y[i] != compiled[i] ? 1u : 0u;
      const double ulp = std::nextafter(compiled[i], 2.0) - compiled[i];
      worst = std::max(worst, std::abs(y[i] - compiled[i]) / ulp);
    }
    CHECK(worst <= 2);
#if !defined(__FMA__) && defined(__OPTIMIZE__)  // unoptimised code forms no fused multiply-add
    CHECK(differing > 0);
#endif
  }
}

TEST_CASE("the choice is process-wide: a thread started later runs with it") {
  RestoreInstructionSet restore;
  tinygrad::use_instruction_set(InstructionSet::compiled);
  InstructionSet seen = InstructionSet::avx512;
  std::thread([&] { seen = tinygrad::kernel_instruction_set(); }).join();
  CHECK(seen == InstructionSet::compiled);
}
