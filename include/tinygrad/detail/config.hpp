// SPDX-License-Identifier: MIT
#pragma once

// The configuration macros of the library's code generation, in one place.
// The macros a user may define (TINYGRAD_NO_CHECKS, TINYGRAD_NO_DISPATCH)
// are documented in docs/reference.md.

// For the functions every vectorised kernel calls: a loop vectorises only
// if the whole computation is in its body. They are small arithmetic, so
// inlining them costs little compile time even in an unoptimised build, where it
// still spares each element several calls.
#if defined(__GNUC__) || defined(__clang__)
#define TINYGRAD_DETAIL_INLINE __attribute__((always_inline))
#else
#define TINYGRAD_DETAIL_INLINE
#endif

// For the hot paths of recording and of the sweep: called out of line, the
// sweep's cursors live on the stack instead of in registers, and g++ leaves
// an operation's recording, fusion included, as several calls. Forced only
// where the compiler optimises: these paths nest (an operation inlines the
// tape's append, the sweep inlines every entry kind), so forced inlining in
// an unoptimised build makes every operation's code many times larger and a
// sanitized test file take minutes to compile, where speed is not the point.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__OPTIMIZE__)
#define TINYGRAD_DETAIL_HOT_INLINE __attribute__((always_inline))
#else
#define TINYGRAD_DETAIL_HOT_INLINE
#endif

// Keeps rarely taken paths (error reporting, anomaly detection) out of the
// hot code around them.
#if defined(__GNUC__) || defined(__clang__)
#define TINYGRAD_DETAIL_COLD [[gnu::cold, gnu::noinline]]
#else
#define TINYGRAD_DETAIL_COLD
#endif

// For the functions that hold the kernels' loops. g++ 12 at -O2 (CMake's
// RelWithDebInfo, and many projects' release builds) vectorises a loop only
// if its count is a known multiple of the vector width (its "very cheap"
// cost model), and the kernels' loops run over any count; so these functions
// ask for the cost model of -O3. clang vectorises them at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#define TINYGRAD_DETAIL_VECTORIZE_LOOPS [[gnu::optimize("vect-cost-model=dynamic")]]
#else
#define TINYGRAD_DETAIL_VECTORIZE_LOOPS
#endif

// For the copies of a batched trace replay's loops (detail/replay.hpp) for a
// wider instruction set than the build's, which must round as the build's
// own copy does, lane for lane. g++ contracts a product and the sum it
// feeds, even across statements, into one FMA wherever the target has one
// (AVX-512 F does, even without "fma"); so where the build's own target
// has no FMA, and so never contracts, these copies turn contraction off.
// clang contracts only within an expression, and the loops have none to
// contract. With FMA in the build's target, the copies contract as it does.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__FMA__)
#define TINYGRAD_DETAIL_ROUND_AS_BUILT \
  [[gnu::optimize("fp-contract=off", "vect-cost-model=dynamic")]]
#else
#define TINYGRAD_DETAIL_ROUND_AS_BUILT TINYGRAD_DETAIL_VECTORIZE_LOOPS
#endif

// The instruction sets of those wider copies, as gnu::target names them:
// one spelling for the kernels' copies (instruction_set.hpp, whose CPU
// detection checks the same features) and a batched replay's
// (detail/replay.hpp, detail/trace_program.hpp), which calls the
// activations' copy for its own set.
#define TINYGRAD_DETAIL_TARGET_AVX2 [[gnu::target("avx2,fma")]]
#define TINYGRAD_DETAIL_TARGET_AVX512 [[gnu::target("avx2,fma,avx512f,avx512vl,avx512dq,avx512bw")]]

// Whether the kernels carry copies for wider instruction sets than the
// build's (instruction_set.hpp): on x86-64 with g++ or clang++ (their target
// attributes and CPU detection), unless the build targets AVX-512 already.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__AVX512F__) && \
    !defined(TINYGRAD_NO_DISPATCH)
#define TINYGRAD_DETAIL_DISPATCH 1
#else
#define TINYGRAD_DETAIL_DISPATCH 0
#endif
