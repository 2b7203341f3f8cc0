// SPDX-License-Identifier: MIT
#pragma once

// Replaying a trace's Program (detail/trace_program.hpp): the forward loop
// and the reverse sweep at one point, and the same over lanes<T> points at
// once, in SIMD lanes. See docs/design.md, "Traces".

#include <tinygrad/detail/config.hpp>
#include <tinygrad/detail/trace_program.hpp>
#include <tinygrad/detail/vector_math.hpp>  // select, VectorReal, UnsignedBits
#include <tinygrad/instruction_set.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace tinygrad::detail::tracing {

/// What a replay writes into: the values, the kept partials and the
/// adjoints of one evaluation, each `width` times (one per lane of a batch:
/// values[slot * width + lane], and so on; width 1 at one point). Sized for
/// one program at a time.
template <class T>
struct Workspace {
  SizedFor<T> sized_for;
  std::size_t width = 0;
  std::vector<T> values;
  std::vector<T> partials;
  std::vector<T> adjoints;

  void prepare(const std::shared_ptr<const Program<T>>& shared, std::size_t lanes_per_slot = 1) {
    if (sized_for.is(shared) && width == lanes_per_slot) {
      return;
    }
    width = lanes_per_slot;
    const Program<T>& program = *shared;
    values.assign(program.slots() * width, T(0));
    for (std::size_t c = 0; c < program.constants.size(); ++c) {
      const std::size_t slot = std::size_t{program.inputs} + program.data + c;
      std::fill_n(values.begin() + static_cast<std::ptrdiff_t>(slot * width), width,
                  program.constants[c]);
    }
    partials.assign(program.partials * width, T(0));
    adjoints.assign(program.slots() * width, T(0));
    sized_for.set(shared);
  }
};

/// Evaluates every instruction in order; returns the first guard that does
/// not hold (null if all do).
template <class T>
const Guard* forward(const Program<T>& program, Workspace<T>& ws) {
  T* const values = ws.values.data();
  Cursors<T, T> at{program.operands.data(), ws.partials.data(), program.callees.data()};
  T* result = values + program.first_result;
  const std::uint32_t* dot_terms = program.dot_terms.data();
  // A dot step: term k's product reads operand[4k] and [4k + 1], its sum
  // the running sum and the product; the sum starts as the first sum's
  // operand 0.
  const auto dot = [&](auto) TINYGRAD_DETAIL_INLINE {
    const std::size_t terms = *dot_terms++;
    const std::uint32_t* operand = at.operand;
    T sum = values[operand[2]];
    for (std::size_t k = 0; k < terms; ++k, operand += 4) {
      const T product = values[operand[0]] * values[operand[1]];
      sum = sum + product;
    }
    at.operand = operand;
    result += 2 * terms;
    result[-1] = sum;
  };
  for (const Step step : program.steps) {
    for_each_op_of<false>(
        step, [&](Op op) TINYGRAD_DETAIL_INLINE { forward_step(op, values, at, *result++); }, dot);
  }
  return first_broken_guard(program, values);
}

/// The sweep of a dot step (plan_steps) of `terms` terms, whose last sum's
/// adjoint is `a`, with `operand` at its first instruction's operands:
/// what the sweep of its instructions would do, one at a time, down from
/// the last. Each product and each sum but the last would get a as its
/// only share, so each product passes on a times its partials; the first
/// sum passes a to the sum it started from after the other products'
/// shares and before the first product's, where the sweep of the
/// instructions passes it.
template <bool constant, class T>
TINYGRAD_DETAIL_INLINE inline void reverse_dot(const T* values, const std::uint32_t* operand,
                                               std::size_t terms, T a, T* adjoint) {
  if (a == T(0)) {
    return;  // the sweep of the instructions would pass nothing on
  }
  for (std::size_t k = terms; k-- > 0;) {
    const std::uint32_t* const term = operand + 4 * k;
    if (k == 0) {
      adjoint[term[2]] += a;
    }
    const T first = values[term[1]] * a;
    adjoint[term[0]] += first;
    if constexpr (!constant) {
      const T second = values[term[0]] * a;
      adjoint[term[1]] += second;
    }
  }
}

/// The reverse sweep over a forward()'s values and partials, as the tape's:
/// from the last instruction down to the first. Output k's adjoint starts
/// at seed[k] (one per output; an output listed twice gets both); the
/// inputs' adjoints, the gradient, go to `gradient` (the first
/// gradient.size() inputs').
///
/// Every adjoint the sweep reads is zero before and after, so that no
/// sweep pays a pass over the whole array to clear it: an instruction's
/// own adjoint is complete when the sweep reaches it (only later
/// instructions add to it) and read there once, so it is zeroed there; the
/// inputs', which no instruction reads, once copied out. The data's and
/// the constants' are never read (data get no gradient; a constant is
/// never a traced operand, and only an output that is one gets a seed).
template <class T>
void reverse(const Program<T>& program, Workspace<T>& ws, const T* seed, std::span<T> gradient) {
  const T* const values = ws.values.data();
  T* const adjoint = ws.adjoints.data();
  for (std::size_t k = 0; k < program.outputs.size(); ++k) {
    adjoint[program.outputs[k]] += seed[k];
  }
  Cursors<T, const T> at{program.operands.data() + program.operands.size(),
                         ws.partials.data() + ws.partials.size(), nullptr};
  T* result_adjoint = adjoint + program.slots();
  const std::uint32_t* dot_terms = program.dot_terms.data() + program.dot_terms.size();
  // A dot step: only its last sum's adjoint was written; the others stay
  // zero.
  const auto dot = [&](auto constant) TINYGRAD_DETAIL_INLINE {
    const std::size_t terms = *--dot_terms;
    result_adjoint -= 2 * terms;
    T& own = result_adjoint[2 * terms - 1];
    const T a = own;
    own = T(0);
    at.operand -= 4 * terms;
    reverse_dot<decltype(constant)::value>(values, at.operand, terms, a, adjoint);
  };
  for (std::size_t i = program.steps.size(); i-- > 0;) {
    for_each_op_of<true>(
        program.steps[i],
        [&](Op op) TINYGRAD_DETAIL_INLINE {
          T& own = *--result_adjoint;
          const T a = own;
          own = T(0);
          reverse_step(op, values, at, a, adjoint);
        },
        dot);
  }
  std::copy_n(adjoint, gradient.size(), gradient.begin());
  std::fill_n(adjoint, program.inputs, T(0));
}

// ---- Many points at once: each slot holds the values of a block of
// points side by side (structure of arrays), and each instruction runs
// over all of them, a vector of lanes<T> at a time. The loops over lanes
// vectorise; per lane they are the one-point formulas, so a point's lane
// gives the bits of a replay at that point alone.

/// The workspace of a batched replay: width = block_lanes(program).
template <class T>
using LanesWorkspace = Workspace<T>;

/// How many points a block of a batch holds: four vectors of lanes<T>
/// (at most 64 lanes: the mask of the lanes where a guard does not hold
/// is 64 bits), or fewer where the block's workspace (values, adjoints and
/// kept partials) would exceed `block_bytes`, at least one. Several
/// vectors per instruction share its dispatch and its operands' indices,
/// and are independent of each other, so that the processor overlaps them
/// where one vector would wait on the last instruction's result. Four is
/// what trace_bench's batches (BM_Batch_*, BM_MonteCarlo) run fastest
/// with, or close to it, of one, two, four and eight (`most` set to each).
template <class T>
std::size_t block_lanes(const Program<T>& program) {
  constexpr std::size_t block_bytes = std::size_t{1} << 20;
  constexpr std::size_t most = std::clamp<std::size_t>(64 / lanes<T>, 1, 4);
  const std::size_t per_vector = (2 * program.slots() + program.partials) * lanes<T> * sizeof(T);
  return lanes<T> *
         std::clamp<std::size_t>(block_bytes / std::max<std::size_t>(per_vector, 1), 1, most);
}

/// Calls body(std::integral_constant<std::size_t, k>{}) for width = k
/// from 1 to 4, body(width) otherwise. A loop over a point's few values
/// whose count is known at compile time is unrolled into the loop over the
/// points, which then vectorises (loads and shuffles); with the count a
/// run-time number it stays a scalar loop of strided accesses, a large
/// part of the time of a batch whose program is short (trace_bench's
/// BM_MonteCarlo: two inputs and one datum per point).
template <class Body>
TINYGRAD_DETAIL_INLINE inline void with_small_width(std::size_t width, Body&& body) {
  switch (width) {
    case 1:
      return body(std::integral_constant<std::size_t, 1>{});
    case 2:
      return body(std::integral_constant<std::size_t, 2>{});
    case 3:
      return body(std::integral_constant<std::size_t, 3>{});
    case 4:
      return body(std::integral_constant<std::size_t, 4>{});
    default:
      return body(width);
  }
}

// Points of more than four values go into the lanes, and their gradients
// come out, in tiles where AVX2 is there to use (below): 4 x 4 doubles or
// 8 x 8 floats, each a few loads, register shuffles and stores, where the
// loop that moves one number at a time costs a load and a store per number
// (docs/design.md, "Traces").
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/// to[c * to_stride + r] = from[r * from_stride + c] for r, c < 4.
TINYGRAD_DETAIL_TARGET_AVX2 inline void transpose_tile_avx2(const double* from,
                                                            std::size_t from_stride, double* to,
                                                            std::size_t to_stride) {
  const __m256d r0 = _mm256_loadu_pd(from);
  const __m256d r1 = _mm256_loadu_pd(from + from_stride);
  const __m256d r2 = _mm256_loadu_pd(from + 2 * from_stride);
  const __m256d r3 = _mm256_loadu_pd(from + 3 * from_stride);
  // Columns 0 and 2 of rows 0 and 1 interleaved, then 1 and 3; the same for
  // rows 2 and 3. Each output row takes one 128-bit half of two of these.
  const __m256d even01 = _mm256_unpacklo_pd(r0, r1);
  const __m256d odd01 = _mm256_unpackhi_pd(r0, r1);
  const __m256d even23 = _mm256_unpacklo_pd(r2, r3);
  const __m256d odd23 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(to, _mm256_permute2f128_pd(even01, even23, 0x20));
  _mm256_storeu_pd(to + to_stride, _mm256_permute2f128_pd(odd01, odd23, 0x20));
  _mm256_storeu_pd(to + 2 * to_stride, _mm256_permute2f128_pd(even01, even23, 0x31));
  _mm256_storeu_pd(to + 3 * to_stride, _mm256_permute2f128_pd(odd01, odd23, 0x31));
}

/// Four registers, each row k of a 4 x 4 block of floats in its low half
/// and row k of another in its high half, transposed in both halves at once
/// into to[c * to_stride] for c < 4 (each output row holds the first
/// block's column c, then the second's).
TINYGRAD_DETAIL_TARGET_AVX2 inline void transpose_halves_avx2(const __m256 (&rows)[4], float* to,
                                                              std::size_t to_stride) {
  const __m256 low01 = _mm256_unpacklo_ps(rows[0], rows[1]);   // columns 0 and 1
  const __m256 high01 = _mm256_unpackhi_ps(rows[0], rows[1]);  // columns 2 and 3
  const __m256 low23 = _mm256_unpacklo_ps(rows[2], rows[3]);
  const __m256 high23 = _mm256_unpackhi_ps(rows[2], rows[3]);
  _mm256_storeu_ps(to, _mm256_shuffle_ps(low01, low23, 0x44));
  _mm256_storeu_ps(to + to_stride, _mm256_shuffle_ps(low01, low23, 0xEE));
  _mm256_storeu_ps(to + 2 * to_stride, _mm256_shuffle_ps(high01, high23, 0x44));
  _mm256_storeu_ps(to + 3 * to_stride, _mm256_shuffle_ps(high01, high23, 0xEE));
}

/// to[c * to_stride + r] = from[r * from_stride + c] for r, c < 8: rows r
/// and r + 4 loaded into the two halves of one register, so that the
/// in-lane shuffles of two 4 x 4 transposes finish the job, with no
/// shuffle across the halves.
TINYGRAD_DETAIL_TARGET_AVX2 inline void transpose_tile_avx2(const float* from,
                                                            std::size_t from_stride, float* to,
                                                            std::size_t to_stride) {
  __m256 left[4];   // columns 0 to 3
  __m256 right[4];  // columns 4 to 7
  for (std::size_t r = 0; r < 4; ++r) {
    const float* upper = from + r * from_stride;
    const float* lower = from + (r + 4) * from_stride;
    left[r] =
        _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(upper)), _mm_loadu_ps(lower), 1);
    right[r] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(upper + 4)),
                                    _mm_loadu_ps(lower + 4), 1);
  }
  transpose_halves_avx2(left, to, to_stride);
  transpose_halves_avx2(right, to + 4 * to_stride, to_stride);
}

/// to[c * to_stride + r] = from[r * from_stride + c] for r < rows and
/// c < columns: whole tiles with AVX2, the edges one number at a time.
template <class T>
TINYGRAD_DETAIL_TARGET_AVX2 void transpose_avx2(const T* __restrict from, std::size_t from_stride,
                                                T* __restrict to, std::size_t to_stride,
                                                std::size_t rows, std::size_t columns) {
  constexpr std::size_t tile = 32 / sizeof(T);
  const auto one_at_a_time = [&](std::size_t r, std::size_t c) {
    to[c * to_stride + r] = from[r * from_stride + c];
  };
  std::size_t r0 = 0;
  for (; r0 + tile <= rows; r0 += tile) {
    std::size_t c0 = 0;
    for (; c0 + tile <= columns; c0 += tile) {
      transpose_tile_avx2(from + r0 * from_stride + c0, from_stride, to + c0 * to_stride + r0,
                          to_stride);
    }
    for (std::size_t r = r0; r < r0 + tile; ++r) {
      for (std::size_t c = c0; c < columns; ++c) {
        one_at_a_time(r, c);
      }
    }
  }
  for (std::size_t r = r0; r < rows; ++r) {
    for (std::size_t c = 0; c < columns; ++c) {
      one_at_a_time(r, c);
    }
  }
}
#define TINYGRAD_DETAIL_WIDE_TRANSPOSES 1
#else
#define TINYGRAD_DETAIL_WIDE_TRANSPOSES 0
#endif

/// Whether a batch run with `set` moves points of T of more than four
/// values in tiles (transpose_avx2): for float and double, where the set
/// has AVX2 (AVX-512 implies it), and in the build's own copy where the
/// build targets AVX2.
template <class T>
bool transposes_in_tiles([[maybe_unused]] InstructionSet set) {
#if TINYGRAD_DETAIL_WIDE_TRANSPOSES
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) {
#ifdef __AVX2__
    return true;
#else
    return set != InstructionSet::compiled;
#endif
  }
#endif
  return false;
}

/// The transposes between a block of points, point l's `width` values in a
/// row (from or to points[l * width + i]), and the slots of a batch, point l
/// in lane l (lanes[i * stride + l]), for the first `count` points: into
/// the lanes (`into_lanes`), or the way back. `set` is the batch's
/// instruction set.
template <bool into_lanes, class T>
void transpose_block(const T* __restrict from, T* __restrict to, std::size_t stride,
                     std::size_t width, std::size_t count, InstructionSet set) {
#if TINYGRAD_DETAIL_WIDE_TRANSPOSES
  if (width > 4 && transposes_in_tiles<T>(set)) {
    if constexpr (into_lanes) {
      transpose_avx2(from, width, to, stride, count, width);
    } else {
      transpose_avx2(from, stride, to, width, width, count);
    }
    return;
  }
#endif
  with_small_width(width, [&](auto w) {
    for (std::size_t l = 0; l < count; ++l) {
      for (std::size_t i = 0; i < w; ++i) {
        if constexpr (into_lanes) {
          to[i * stride + l] = from[l * w + i];
        } else {
          to[l * w + i] = from[i * stride + l];
        }
      }
    }
  });
}

/// lanes[i * stride + l] = points[l * width + i] for the first `count`
/// points: a block of points into the slots of a batch.
template <class T>
void points_into_lanes(T* lanes, std::size_t stride, const T* points, std::size_t width,
                       std::size_t count, InstructionSet set) {
  transpose_block<true>(points, lanes, stride, width, count, set);
}

/// The way back: points[l * width + i] = lanes[i * stride + l].
template <class T>
void lanes_into_points(T* points, const T* lanes, std::size_t stride, std::size_t width,
                       std::size_t count, InstructionSet set) {
  transpose_block<false>(lanes, points, stride, width, count, set);
}

/// body(l) for the lanes l of one vector. In the AVX2 and AVX-512 copies
/// the loop stays a loop until the vectoriser sees it (`unroll 1`):
/// unrolled first, g++ 12 rebuilds some of these loops from scalar
/// operations and shuffles. The build's own copy (SSE2 without -march)
/// keeps the unrolled loop, which runs faster there. The callers pass
/// pointers to the vector, not an offset into the slot: indexed from an
/// offset, the build's copy stays scalar.
template <InstructionSet set, class T, class Body>
TINYGRAD_DETAIL_INLINE inline void for_each_lane(Body body) {
  if constexpr (set != InstructionSet::compiled) {
#pragma GCC unroll 1
    for (std::size_t l = 0; l < lanes<T>; ++l) {
      body(l);
    }
  } else {
    for (std::size_t l = 0; l < lanes<T>; ++l) {
      body(l);
    }
  }
}

/// result[l] = f(a[l], b[l]) over the lanes of one vector. The pointers
/// are declared not to overlap (a result's slot is never its operands'; a
/// and b may be the same, which only reads), or the compiler would not
/// vectorise the loop.
template <InstructionSet set, class T, class F>
TINYGRAD_DETAIL_INLINE inline void each_lane_of_vector(T* __restrict result, const T* __restrict a,
                                                       const T* __restrict b, F f) {
  for_each_lane<set, T>([&](std::size_t l) TINYGRAD_DETAIL_INLINE { result[l] = f(a[l], b[l]); });
}

/// The same over `count` lanes, a multiple of lanes<T>, a vector at a time.
template <InstructionSet set, class T, class F>
TINYGRAD_DETAIL_INLINE inline void each_lane(std::size_t count, T* result, const T* a, const T* b,
                                             F f) {
  for (std::size_t first = 0; first < count; first += lanes<T>) {
    each_lane_of_vector<set>(result + first, a + first, b + first, f);
  }
}

/// forward() over the first `count` lanes of each slot (a multiple of
/// lanes<T>); returns a mask of the lanes where a guard does not hold.
/// Forced inline, as reverse_lanes, so that each copy of replay_lanes
/// compiles it for its own instruction set.
template <InstructionSet set, class T>
TINYGRAD_DETAIL_INLINE inline std::uint64_t forward_lanes(const Program<T>& program,
                                                          LanesWorkspace<T>& ws,
                                                          std::size_t count) {
  const std::size_t W = ws.width;
  T* const values = ws.values.data();
  const std::uint32_t* operand = program.operands.data();
  const Callee<T>* const* callee = program.callees.data();
  T* partial = ws.partials.data();
  T* result = values + std::size_t{program.first_result} * W;
  for (const Op op : program.ops) {
    // Spelled out rather than operand_count(op): with that, g++ 12 keeps
    // the count live across the switch, and the batches of trace_bench
    // (BM_Batch_*) ran markedly slower.
    const bool one_operand = op == Op::negate || op == Op::call_unary;
    const T* const a = values + std::size_t{operand[0]} * W;
    const T* const b = values + std::size_t{operand[one_operand ? 0 : 1]} * W;
    switch (op) {
      case Op::add:
      case Op::add_constant:
        each_lane<set>(count, result, a, b, [](T x, T y) { return x + y; });
        break;
      case Op::subtract:
      case Op::subtract_constant:
        each_lane<set>(count, result, a, b, [](T x, T y) { return x - y; });
        break;
      case Op::constant_subtract:
        each_lane<set>(count, result, a, b, [](T x, T c) { return c - x; });
        break;
      case Op::negate:
        each_lane<set>(count, result, a, b, [](T x, T) { return -x; });
        break;
      case Op::multiply:
      case Op::multiply_constant:
        each_lane<set>(count, result, a, b, [](T x, T y) { return x * y; });
        break;
      case Op::divide:
        each_lane<set>(count, result, a, b, [](T x, T y) { return x / y; });
        each_lane<set>(count, partial, b, b, [](T y, T) { return T(1) / y; });
        each_lane<set>(count, partial + W, result, b, [](T q, T y) { return -q / y; });
        break;
      case Op::divide_constant:
        each_lane<set>(count, result, a, b, [](T x, T d) { return x / d; });
        each_lane<set>(count, partial, b, b, [](T d, T) { return T(1) / d; });
        break;
      case Op::constant_divide:
        each_lane<set>(count, result, a, b, [](T x, T c) { return c / x; });
        each_lane<set>(count, partial, result, a, [](T q, T x) { return -q / x; });
        break;
      case Op::call_unary:
      case Op::call_binary:
      case Op::call_with_constant:
        (*callee++)->many[static_cast<std::size_t>(set)](a, b, result, partial, count, W);
        break;
    }
    operand += one_operand ? 1 : 2;
    partial += partials_kept(op) * W;
    result += W;
  }
  std::uint64_t broken = 0;
  for (const Guard& g : program.guards) {
    for (std::size_t l = 0; l < count; ++l) {
      const bool holds_here = holds(g.predicate, values[std::size_t{g.left} * W + l],
                                    values[std::size_t{g.right} * W + l]);
      broken |= holds_here != g.outcome ? std::uint64_t{1} << l : 0;
    }
  }
  return broken;
}

// Whether no lane of a vector is +0 or -0, in the copies for wider
// instruction sets: one comparison of whole registers, where the loop
// below becomes a reduction over the lanes, a chain of shuffles and
// minimums, on every instruction of the sweep. A NaN is not zero. Target
// functions of their own, not forced inline: g++ and clang++ check an
// intrinsic's instruction set against its direct caller, and these are
// inlined only once their caller is, into a copy of the same set.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
TINYGRAD_DETAIL_TARGET_AVX512 TINYGRAD_DETAIL_ROUND_AS_BUILT inline bool none_zero_avx512(
    const double* a) {
  return _mm512_cmp_pd_mask(_mm512_loadu_pd(a), _mm512_setzero_pd(), _CMP_EQ_OQ) == 0;
}
TINYGRAD_DETAIL_TARGET_AVX512 TINYGRAD_DETAIL_ROUND_AS_BUILT inline bool none_zero_avx512(
    const float* a) {
  return _mm512_cmp_ps_mask(_mm512_loadu_ps(a), _mm512_setzero_ps(), _CMP_EQ_OQ) == 0;
}
TINYGRAD_DETAIL_TARGET_AVX2 TINYGRAD_DETAIL_ROUND_AS_BUILT inline bool none_zero_avx2(
    const double* a) {
  const __m256d zero = _mm256_setzero_pd();
  const __m256d equal = _mm256_or_pd(_mm256_cmp_pd(_mm256_loadu_pd(a), zero, _CMP_EQ_OQ),
                                     _mm256_cmp_pd(_mm256_loadu_pd(a + 4), zero, _CMP_EQ_OQ));
  return _mm256_testz_pd(equal, equal) != 0;  // no lane's sign bit set: none equal
}
TINYGRAD_DETAIL_TARGET_AVX2 TINYGRAD_DETAIL_ROUND_AS_BUILT inline bool none_zero_avx2(
    const float* a) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 equal = _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(a), zero, _CMP_EQ_OQ),
                                    _mm256_cmp_ps(_mm256_loadu_ps(a + 8), zero, _CMP_EQ_OQ));
  return _mm256_testz_ps(equal, equal) != 0;
}
#define TINYGRAD_DETAIL_WIDE_ZERO_TESTS 1
#else
#define TINYGRAD_DETAIL_WIDE_ZERO_TESTS 0
#endif

/// Whether no lane of `a` is +0 or -0, in the copy for `set`.
template <InstructionSet set, class T>
TINYGRAD_DETAIL_INLINE inline bool none_zero(const T* a) {
#if TINYGRAD_DETAIL_WIDE_ZERO_TESTS
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) {
    static_assert(lanes<T> * sizeof(T) == 64, "the tests read one 64-byte vector");
#ifdef __AVX512F__
    constexpr bool built_for_avx512 = true;
#else
    constexpr bool built_for_avx512 = false;
#endif
#ifdef __AVX2__
    constexpr bool built_for_avx2 = true;
#else
    constexpr bool built_for_avx2 = false;
#endif
    constexpr bool compiled = set == InstructionSet::compiled;
    if constexpr (set == InstructionSet::avx512 || (compiled && built_for_avx512)) {
      return none_zero_avx512(a);
    } else if constexpr (set == InstructionSet::avx2 || (compiled && built_for_avx2)) {
      return none_zero_avx2(a);
    }
  }
#endif
  // Elsewhere the smallest magnitude, on the bits: a minimum is a reduction
  // g++ vectorises here, inside the sweep's loop; an OR of the lanes' bits
  // it leaves scalar there.
  if constexpr (VectorReal<T>) {
    using U = UnsignedBits<T>;
    constexpr U magnitude = ~U(0) >> 1;
    U smallest = ~U(0);
    for (std::size_t l = 0; l < lanes<T>; ++l) {
      const U m = std::bit_cast<U>(a[l]) & magnitude;
      smallest = m < smallest ? m : smallest;
    }
    return smallest != 0;
  } else {
    bool none = true;
    for (std::size_t l = 0; l < lanes<T>; ++l) {
      none &= a[l] != T(0);
    }
    return none;
  }
}

/// What an operand's adjoint receives in the sweep over lanes: the result's
/// adjoint a[l] itself, negated, or times a partial.
enum class Share { same, negated, product };

/// target[l] += the share `kind` of lane l (factor[l] the partial of a
/// product, null for the others) over the lanes of one vector, in the
/// lanes whose adjoint a[l] is not zero: the one-point sweep skips an
/// instruction whose adjoint is zero, since 0 times an infinite partial
/// would be NaN.
/// - If no lane's adjoint is zero (the common case): a plain loop.
/// - Else, in the AVX2 and AVX-512 copies, the lanes whose adjoint is zero
///   add -0 instead, which leaves every number's bits as they are (x + -0
///   is x, for x = -0 too, which +0 would turn into +0). No branch, so the
///   loop vectorises: a kink such as max(x, 0) zeroes some lanes' adjoints
///   below it.
/// - Else lane by lane, with a branch: in the build's own copy (SSE2 where
///   there is no -march), whose blends cost more than the branches.
/// A share is formed in a statement of its own and added in the next, as
/// in the tape's sweep: a compiler that contracts a product and the sum it
/// feeds into one rounding (g++ by default, with FMA) then does so in both.
template <Share kind, InstructionSet set, class T>
TINYGRAD_DETAIL_INLINE inline void add_where_nonzero(
    T* __restrict target, const std::type_identity_t<T>* __restrict factor, const T* __restrict a,
    bool all_nonzero) {
  const auto share = [&](std::size_t l) TINYGRAD_DETAIL_INLINE {
    if constexpr (kind == Share::same) {
      return a[l];
    } else if constexpr (kind == Share::negated) {
      return -a[l];
    } else {
      return factor[l] * a[l];
    }
  };
  if (all_nonzero) [[likely]] {
    for_each_lane<set, T>([&](std::size_t l) TINYGRAD_DETAIL_INLINE {
      const T added = share(l);
      target[l] += added;
    });
  } else if constexpr (set != InstructionSet::compiled) {
    for_each_lane<set, T>([&](std::size_t l) TINYGRAD_DETAIL_INLINE {
      const T added = share(l);
      target[l] += select(a[l] != T(0), added, T(-0.0));
    });
  } else {
    for (std::size_t l = 0; l < lanes<T>; ++l) {
      if (a[l] != T(0)) {
        const T added = share(l);
        target[l] += added;
      }
    }
  }
}

/// reverse() over the first `count` lanes of each slot (a multiple of
/// lanes<T>) for a program of one output, its adjoint seeded with 1: per
/// lane the one-point sweep, an adjoint of zero passing nothing on. The
/// inputs' adjoints stay for the caller to read; as in reverse(), an
/// instruction's own adjoints are zeroed where the sweep has read them, so
/// only the inputs' need clearing, here, at the start of the next block's
/// sweep. Lanes past `count` are not touched, so their adjoints stay zero.
template <InstructionSet set, class T>
TINYGRAD_DETAIL_INLINE inline void reverse_lanes(const Program<T>& program, LanesWorkspace<T>& ws,
                                                 std::size_t count) {
  const std::size_t W = ws.width;
  const T* const values = ws.values.data();
  T* const adjoint = ws.adjoints.data();
  std::fill_n(adjoint, std::size_t{program.inputs} * W, T(0));
  std::fill_n(adjoint + std::size_t{program.outputs[0]} * W, count, T(1));
  const std::uint32_t* operand = program.operands.data() + program.operands.size();
  const T* partial = ws.partials.data() + ws.partials.size();
  T* result_adjoint = adjoint + program.slots() * W;
  for (std::size_t i = program.ops.size(); i-- > 0;) {
    const Op op = program.ops[i];
    const bool one_operand = op == Op::negate || op == Op::call_unary;
    result_adjoint -= W;
    operand -= one_operand ? 1 : 2;
    partial -= partials_kept(op) * W;
    // Read in place: the helpers take it as __restrict, which holds, since
    // a result's slot is never an operand's. (Copied into a local array,
    // g++ keeps the copy in scalar registers and stops vectorising.)
    const T* const a = result_adjoint;
    const std::size_t second = operand[one_operand ? 0 : 1];
    T* const to0 = adjoint + std::size_t{operand[0]} * W;
    T* const to1 = adjoint + second * W;
    const T* const value0 = values + std::size_t{operand[0]} * W;
    const T* const value1 = values + second * W;
    // Each case loops over the vectors, testing each one's adjoints, and
    // zeroes them once passed on. `at(p)` is slot p's vector.
    const auto each_vector = [&](auto shares) TINYGRAD_DETAIL_INLINE {
      for (std::size_t first = 0; first < count; first += lanes<T>) {
        const auto at = [first](auto* slot) TINYGRAD_DETAIL_INLINE { return slot + first; };
        shares(at, none_zero<set>(at(a)));
        T* const own = at(result_adjoint);
        for_each_lane<set, T>([own](std::size_t l) TINYGRAD_DETAIL_INLINE { own[l] = T(0); });
      }
    };
    switch (op) {
      case Op::add:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::same, set>(at(to0), nullptr, at(a), all_nonzero);
          add_where_nonzero<Share::same, set>(at(to1), nullptr, at(a), all_nonzero);
        });
        break;
      case Op::subtract:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::same, set>(at(to0), nullptr, at(a), all_nonzero);
          add_where_nonzero<Share::negated, set>(at(to1), nullptr, at(a), all_nonzero);
        });
        break;
      case Op::add_constant:
      case Op::subtract_constant:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::same, set>(at(to0), nullptr, at(a), all_nonzero);
        });
        break;
      case Op::constant_subtract:
      case Op::negate:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::negated, set>(at(to0), nullptr, at(a), all_nonzero);
        });
        break;
      case Op::multiply:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::product, set>(at(to0), at(value1), at(a), all_nonzero);
          add_where_nonzero<Share::product, set>(at(to1), at(value0), at(a), all_nonzero);
        });
        break;
      case Op::multiply_constant:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::product, set>(at(to0), at(value1), at(a), all_nonzero);
        });
        break;
      case Op::divide:
      case Op::call_binary:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::product, set>(at(to0), at(partial), at(a), all_nonzero);
          add_where_nonzero<Share::product, set>(at(to1), at(partial + W), at(a), all_nonzero);
        });
        break;
      case Op::divide_constant:
      case Op::constant_divide:
      case Op::call_unary:
      case Op::call_with_constant:
        each_vector([&](auto at, bool all_nonzero) TINYGRAD_DETAIL_INLINE {
          add_where_nonzero<Share::product, set>(at(to0), at(partial), at(a), all_nonzero);
        });
        break;
    }
  }
}

/// One block of a batch, its first `count` lanes (a multiple of lanes<T>):
/// the forward loop and, if asked, the reverse sweep; the mask of the
/// lanes where a guard does not hold.
template <InstructionSet set, class T>
TINYGRAD_DETAIL_INLINE inline std::uint64_t replay_lanes_body(const Program<T>& program,
                                                              LanesWorkspace<T>& ws,
                                                              std::size_t count,
                                                              bool with_gradients) {
  const std::uint64_t broken = forward_lanes<set>(program, ws, count);
  if (with_gradients) {
    reverse_lanes<set>(program, ws, count);
  }
  return broken;
}

// The batch's loops compiled for the build's target and, as the activation
// kernels are (instruction_set.hpp), for AVX2 and AVX-512, rounding as the
// build's copy does (config.hpp): every copy gives each lane the bits of a
// one-point replay. A call instruction calls its Callee's copy for the same
// instruction set.

template <class T>
TINYGRAD_DETAIL_VECTORIZE_LOOPS std::uint64_t replay_lanes_compiled(const Program<T>& program,
                                                                    LanesWorkspace<T>& ws,
                                                                    std::size_t count,
                                                                    bool with_gradients) {
  return replay_lanes_body<InstructionSet::compiled>(program, ws, count, with_gradients);
}

#if TINYGRAD_DETAIL_DISPATCH
template <class T>
TINYGRAD_DETAIL_TARGET_AVX2 TINYGRAD_DETAIL_ROUND_AS_BUILT std::uint64_t replay_lanes_avx2(
    const Program<T>& program, LanesWorkspace<T>& ws, std::size_t count, bool with_gradients) {
  return replay_lanes_body<InstructionSet::avx2>(program, ws, count, with_gradients);
}

template <class T>
TINYGRAD_DETAIL_TARGET_AVX512 TINYGRAD_DETAIL_ROUND_AS_BUILT std::uint64_t replay_lanes_avx512(
    const Program<T>& program, LanesWorkspace<T>& ws, std::size_t count, bool with_gradients) {
  return replay_lanes_body<InstructionSet::avx512>(program, ws, count, with_gradients);
}
#endif

/// One block with `set`, which the caller has found available.
template <class T>
std::uint64_t replay_lanes(const Program<T>& program, LanesWorkspace<T>& ws, std::size_t count,
                           bool with_gradients, [[maybe_unused]] InstructionSet set) {
#if TINYGRAD_DETAIL_DISPATCH
  switch (set) {
    case InstructionSet::avx512:
      return replay_lanes_avx512(program, ws, count, with_gradients);
    case InstructionSet::avx2:
      return replay_lanes_avx2(program, ws, count, with_gradients);
    case InstructionSet::compiled:
      break;
  }
#endif
  return replay_lanes_compiled(program, ws, count, with_gradients);
}

}  // namespace tinygrad::detail::tracing
