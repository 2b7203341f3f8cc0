// SPDX-License-Identifier: MIT
#pragma once

// Which instruction set the activation kernels (forward/backward<Policy> over
// arrays) run with.
//
// A build without -march flags compiles for the x86-64 baseline: four float
// lanes, and no vector code at all for double (g++ needs SSE4.2 to compare
// doubles into a mask). So on x86-64, unless the build already targets
// AVX-512, every kernel also carries copies compiled for AVX2 + FMA and for
// AVX-512, and uses the widest one this processor has:
//
//   tinygrad::kernel_instruction_set();   // e.g. InstructionSet::avx512
//   tinygrad::use_instruction_set(tinygrad::InstructionSet::compiled);
//
// What changes between them is rounding, not accuracy: the AVX2 and AVX-512
// copies fuse a * b + c into one rounding where the compiled copy of a
// baseline build rounds twice, so their outputs can differ from
// Policy::value's in the last bits. Every copy meets the accuracy stated for
// the policy (the tests sweep each one available). InstructionSet::compiled
// gives exactly Policy::value's results, which are the tape's.
//
// The choice is process-wide and may be changed from any thread; forward and
// backward also take an instruction set for one call. Define
// TINYGRAD_NO_DISPATCH to build only the compiled copy.

#include <tinygrad/detail/config.hpp>

#include <atomic>
#include <stdexcept>
#include <string>

namespace tinygrad {

enum class InstructionSet : unsigned char {
  compiled,  ///< the build's own flags (-march); always available
  avx2,      ///< AVX2 and FMA, the vector part of x86-64-v3
  avx512,    ///< AVX-512 F, VL, DQ and BW on top of that (x86-64-v4)
};

inline const char* instruction_set_name(InstructionSet set) noexcept {
  switch (set) {
    case InstructionSet::compiled:
      return "compiled";
    case InstructionSet::avx2:
      return "avx2";
    case InstructionSet::avx512:
      return "avx512";
  }
  return "unknown";
}

namespace detail {

inline bool detect_instruction_set(InstructionSet set) noexcept {
#if TINYGRAD_DETAIL_DISPATCH
  __builtin_cpu_init();  // this may run before the runtime's own initialisation
  switch (set) {
    case InstructionSet::compiled:
      return true;
    case InstructionSet::avx2:
#if defined(__AVX2__) && defined(__FMA__)
      return false;  // the compiled copy is this one already
#else
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    case InstructionSet::avx512:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
  }
  return false;
#else
  return set == InstructionSet::compiled;
#endif
}

}  // namespace detail

/// Whether the kernels can run with `set` here: `compiled` always; `avx2`
/// and `avx512` where this build carries their copy (see above), the
/// processor and the operating system support them, and the build's own
/// flags do not include them already. Asked of the processor once.
inline bool instruction_set_available(InstructionSet set) noexcept {
  static const bool avx2 = detail::detect_instruction_set(InstructionSet::avx2);
  static const bool avx512 = detail::detect_instruction_set(InstructionSet::avx512);
  switch (set) {
    case InstructionSet::compiled:
      return true;
    case InstructionSet::avx2:
      return avx2;
    case InstructionSet::avx512:
      return avx512;
  }
  return false;
}

namespace detail {

inline InstructionSet widest_available_instruction_set() noexcept {
  for (const InstructionSet set : {InstructionSet::avx512, InstructionSet::avx2}) {
    if (instruction_set_available(set)) {
      return set;
    }
  }
  return InstructionSet::compiled;
}

/// The process-wide choice, made on first use.
inline std::atomic<InstructionSet>& active_instruction_set() noexcept {
  static std::atomic<InstructionSet> active{widest_available_instruction_set()};
  return active;
}

}  // namespace detail

/// The instruction set forward/backward<Policy> use by default: the widest
/// available, unless use_instruction_set() chose another.
inline InstructionSet kernel_instruction_set() noexcept {
  return detail::active_instruction_set().load(std::memory_order_relaxed);
}

/// Makes forward/backward<Policy> run with `set` from now on, in every
/// thread. Throws std::invalid_argument if `set` is not available here.
inline void use_instruction_set(InstructionSet set) {
  if (!instruction_set_available(set)) {
    throw std::invalid_argument(
        std::string("tinygrad::use_instruction_set: ") + instruction_set_name(set) +
        " is not available here (the processor lacks it, the build's flags include it "
        "already, or the build has no copy for it)");
  }
  detail::active_instruction_set().store(set, std::memory_order_relaxed);
}

namespace detail {

// One kernel, run with a given instruction set. `kernel` must be forced
// inline (TINYGRAD_DETAIL_INLINE): it is compiled, and vectorised, inside each
// wrapper below, with that wrapper's target; a kernel left as a call would run
// the compiled copy every time. The compilers inline functions built for the
// baseline into these wrappers, whose instruction sets include the baseline.

#if TINYGRAD_DETAIL_DISPATCH
template <auto kernel, class... Args>
TINYGRAD_DETAIL_TARGET_AVX2 TINYGRAD_DETAIL_VECTORIZE_LOOPS void run_with_avx2(
    Args... args) noexcept {
  kernel(args...);
}

template <auto kernel, class... Args>
TINYGRAD_DETAIL_TARGET_AVX512 TINYGRAD_DETAIL_VECTORIZE_LOOPS void run_with_avx512(
    Args... args) noexcept {
  kernel(args...);
}
#endif

/// Runs kernel(args...) with `set`, which the caller has found available.
template <auto kernel, class... Args>
TINYGRAD_DETAIL_VECTORIZE_LOOPS void run_kernel([[maybe_unused]] InstructionSet set,
                                                Args... args) noexcept {
#if TINYGRAD_DETAIL_DISPATCH
  switch (set) {
    case InstructionSet::avx512:
      run_with_avx512<kernel>(args...);
      return;
    case InstructionSet::avx2:
      run_with_avx2<kernel>(args...);
      return;
    case InstructionSet::compiled:
      break;
  }
#endif
  kernel(args...);
}

}  // namespace detail

}  // namespace tinygrad
