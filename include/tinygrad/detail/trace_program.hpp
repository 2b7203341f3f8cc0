// SPDX-License-Identifier: MIT
#pragma once

// What a trace keeps (trace.hpp): the Program of instructions, guards and
// constants, and each instruction's step forward (value and partials) and
// back (shares to its operands' adjoints), for one point; the functions and
// policies an instruction calls. detail/replay.hpp runs the steps over a
// whole program. See docs/design.md, "Traces".

#include <tinygrad/activation.hpp>  // ValueAndDerivative, value_and_derivative(_of_one)
#include <tinygrad/detail/config.hpp>
#include <tinygrad/detail/derivatives.hpp>
#include <tinygrad/detail/vector_math.hpp>  // exponential and logarithm, for a batch
#include <tinygrad/dual.hpp>             // a call's second derivatives, from its Function on Duals
#include <tinygrad/instruction_set.hpp>  // which copy of a call a batch runs

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

namespace tinygrad::detail::tracing {

/// A function of derivatives.hpp or an activation policy, as a trace calls
/// it: from its arguments' values (the traced ones first, then the
/// constants), its value and a partial for each traced argument.
template <class T>
using Function = void (*)(const T* arguments, T& value, T* partial);

/// How many points a vector of a batched replay holds, in lanes: 64
/// bytes' worth (8 doubles, 16 floats), which one AVX-512 or two AVX2
/// registers hold. A batch runs one or more such vectors per instruction
/// (replay.hpp).
template <class T>
inline constexpr std::size_t lanes = 64 / sizeof(T) > 0 ? 64 / sizeof(T) : 1;

/// The same function over `count` points, a multiple of lanes<T>: the
/// arguments' values first[l] and second[l] (second unused by a
/// one-argument function), the values value[l] and the partials
/// partial[k * stride + l].
template <class T>
using LanesFunction = void (*)(const T* first, const T* second, T* value, T* partial,
                               std::size_t count, std::size_t stride);

/// A call's second derivatives at its arguments' values: second[2 * k + j]
/// is the derivative of partial k with respect to traced argument j
/// (detail/trace_hessian.hpp's forward over reverse needs them).
template <class T>
using Curvature = void (*)(const T* arguments, T* second);

/// What a call instruction calls: the function for one point and for a
/// batch of lanes, the latter compiled for each instruction set a batch
/// runs with (indexed by InstructionSet; the same function in each entry
/// where there are no such copies), and its second derivatives (null for a
/// policy without second_derivative).
template <class T>
struct Callee {
  Function<T> one;
  LanesFunction<T> many[3];
  Curvature<T> second;
};

/// The Curvature of a Function, from the same Function on Duals: one
/// evaluation per traced argument, seeded with that argument's unit
/// tangent, whose partials' tangents are the second derivatives. The
/// traced arguments come first; `arity` arguments in all.
template <class T, Function<Dual<T>> on_duals, std::size_t arity, std::size_t traced>
void curvature_of(const T* arguments, T* second) {
  for (std::size_t j = 0; j < traced; ++j) {
    Dual<T> x[arity];
    for (std::size_t k = 0; k < arity; ++k) {
      x[k] = Dual<T>(arguments[k], k == j ? T(1) : T(0));
    }
    Dual<T> value;
    Dual<T> partial[traced];
    on_duals(x, value, partial);
    for (std::size_t k = 0; k < traced; ++k) {
      second[2 * k + j] = partial[k].tangent();
    }
  }
}

/// `one` over `count` lanes (a LanesFunction's arguments), one point at a
/// time. `arity` arguments, `kept` partials.
template <class T, Function<T> one, std::size_t arity, std::size_t kept>
TINYGRAD_DETAIL_INLINE inline void call_each_lane(const T* first, const T* second, T* value,
                                                  T* partial, std::size_t count,
                                                  std::size_t stride) {
  for (std::size_t l = 0; l < count; ++l) {
    const T arguments[2] = {first[l], arity == 2 ? second[l] : T(0)};
    T p[2] = {};
    one(arguments, value[l], p);
    for (std::size_t k = 0; k < kept; ++k) {
      partial[k * stride + l] = p[k];
    }
  }
}

/// call_each_lane for the functions of derivatives.hpp, whose std:: calls
/// do not vectorise.
template <class T, Function<T> one, std::size_t arity, std::size_t kept>
void one_lane_at_a_time(const T* first, const T* second, T* value, T* partial, std::size_t count,
                        std::size_t stride) {
  call_each_lane<T, one, arity, kept>(first, second, value, partial, count, stride);
}

/// The Callee of a function of derivatives.hpp: `one` on T, `on_duals` the
/// same function on Dual<T> (for its second derivatives), `arity`
/// arguments of which `kept` are traced (one partial kept for each).
template <class T, Function<T> one, Function<Dual<T>> on_duals, std::size_t arity, std::size_t kept>
inline constexpr Callee<T> callee{
    one,
    {&one_lane_at_a_time<T, one, arity, kept>, &one_lane_at_a_time<T, one, arity, kept>,
     &one_lane_at_a_time<T, one, arity, kept>},
    &curvature_of<T, on_duals, arity, kept>};

// call_each_lane in a loop the compiler vectorises, for the functions made
// of comparisons and selects alone (min and max), which it inlines and
// turns into vector compares and blends: the same bits as one lane at a
// time, since a selection does not round. A copy per instruction set, as
// the activations have.

template <class T, Function<T> one, std::size_t arity, std::size_t kept>
TINYGRAD_DETAIL_VECTORIZE_LOOPS void selecting_lanes(const T* first, const T* second, T* value,
                                                     T* partial, std::size_t count,
                                                     std::size_t stride) {
  call_each_lane<T, one, arity, kept>(first, second, value, partial, count, stride);
}

#if TINYGRAD_DETAIL_DISPATCH
template <class T, Function<T> one, std::size_t arity, std::size_t kept>
TINYGRAD_DETAIL_TARGET_AVX2 TINYGRAD_DETAIL_ROUND_AS_BUILT void selecting_lanes_avx2(
    const T* first, const T* second, T* value, T* partial, std::size_t count, std::size_t stride) {
  call_each_lane<T, one, arity, kept>(first, second, value, partial, count, stride);
}

template <class T, Function<T> one, std::size_t arity, std::size_t kept>
TINYGRAD_DETAIL_TARGET_AVX512 TINYGRAD_DETAIL_ROUND_AS_BUILT void selecting_lanes_avx512(
    const T* first, const T* second, T* value, T* partial, std::size_t count, std::size_t stride) {
  call_each_lane<T, one, arity, kept>(first, second, value, partial, count, stride);
}

/// The Callee of a function of comparisons and selects (min and max): as
/// callee, with the lanes of a batch in vector loops, one per instruction
/// set.
template <class T, Function<T> one, Function<Dual<T>> on_duals, std::size_t arity, std::size_t kept>
inline constexpr Callee<T> selecting_callee{
    one,
    {&selecting_lanes<T, one, arity, kept>, &selecting_lanes_avx2<T, one, arity, kept>,
     &selecting_lanes_avx512<T, one, arity, kept>},
    &curvature_of<T, on_duals, arity, kept>};
#else
template <class T, Function<T> one, Function<Dual<T>> on_duals, std::size_t arity, std::size_t kept>
inline constexpr Callee<T> selecting_callee{
    one,
    {&selecting_lanes<T, one, arity, kept>, &selecting_lanes<T, one, arity, kept>,
     &selecting_lanes<T, one, arity, kept>},
    &curvature_of<T, on_duals, arity, kept>};
#endif

/// What an instruction does. Arithmetic is spelled out, so that a replay
/// runs it inline; the functions and policies are calls through a Function.
/// The suffix says where a constant operand is: `x op c` or `c op x` (the
/// traced operand always comes first among the operands).
enum class Op : std::uint8_t {
  add,                 // x + y
  add_constant,        // x + c, c + x (the same bits either way)
  subtract,            // x - y
  subtract_constant,   // x - c
  constant_subtract,   // c - x
  negate,              // -x
  multiply,            // x * y
  multiply_constant,   // x * c, c * x
  divide,              // x / y
  divide_constant,     // x / c
  constant_divide,     // c / x
  call_unary,          // f(x)
  call_binary,         // f(x, y)
  call_with_constant,  // f(x, c) or f(c, x): the Function knows which
};

/// What one dispatch of the one-point replay runs (replay.hpp): one
/// instruction, its Op's value; or two in a row that a residual makes
/// common, a product and the sum or difference after it, run back to back
/// exactly as they would be one at a time; or a dot product, a run of
/// products each added to the sum before it (plan_steps). The dispatch
/// (the loop's step, the jump through the switch's table) costs about as
/// many instructions as the arithmetic of an instruction; a pair shares
/// one, and a dot product one for all its terms, whose running sum stays
/// in a register. The batch and the second-order passes run the
/// instructions.
enum class Step : std::uint8_t {
  // One instruction: Op's names and values, in Op's order.
  add,
  add_constant,
  subtract,
  subtract_constant,
  constant_subtract,
  negate,
  multiply,
  multiply_constant,
  divide,
  divide_constant,
  constant_divide,
  call_unary,
  call_binary,
  call_with_constant,
  // Two.
  multiply_then_add,
  multiply_then_subtract,
  // A dot product (plan_steps; Program::dot_terms has its count of terms)
  // of products of two traced numbers, or of a traced one and a constant.
  dot,
  dot_constant,
};

/// The Step of one instruction.
constexpr Step step_of(Op op) noexcept {
  return static_cast<Step>(op);
}

/// Calls run(op) for each instruction of `step` in order, or in reverse
/// order `backwards`; `run` sees each op as a constant, so that a forced
/// inline step folds its switch away. A dot step calls dot(constant)
/// instead, constant for Step::dot_constant.
template <bool backwards, class Run, class Dot>
TINYGRAD_DETAIL_INLINE constexpr void for_each_op_of(Step step, Run run, Dot dot) {
  const auto pair = [&](Op first, Op second) TINYGRAD_DETAIL_INLINE {
    run(backwards ? second : first);
    run(backwards ? first : second);
  };
  switch (step) {
    case Step::add:
      return run(Op::add);
    case Step::add_constant:
      return run(Op::add_constant);
    case Step::subtract:
      return run(Op::subtract);
    case Step::subtract_constant:
      return run(Op::subtract_constant);
    case Step::constant_subtract:
      return run(Op::constant_subtract);
    case Step::negate:
      return run(Op::negate);
    case Step::multiply:
      return run(Op::multiply);
    case Step::multiply_constant:
      return run(Op::multiply_constant);
    case Step::divide:
      return run(Op::divide);
    case Step::divide_constant:
      return run(Op::divide_constant);
    case Step::constant_divide:
      return run(Op::constant_divide);
    case Step::call_unary:
      return run(Op::call_unary);
    case Step::call_binary:
      return run(Op::call_binary);
    case Step::call_with_constant:
      return run(Op::call_with_constant);
    case Step::multiply_then_add:
      return pair(Op::multiply, Op::add);
    case Step::multiply_then_subtract:
      return pair(Op::multiply, Op::subtract);
    case Step::dot:
      return dot(std::false_type{});
    case Step::dot_constant:
      return dot(std::true_type{});
  }
}

// Each Step of one instruction runs that instruction.
static_assert([] {
  for (int k = 0; k <= static_cast<int>(Op::call_with_constant); ++k) {
    const Op op = static_cast<Op>(k);
    int runs = 0;
    bool same = true;
    for_each_op_of<false>(
        step_of(op),
        [&](Op ran) {
          ++runs;
          same = same && ran == op;
        },
        [&](auto) { runs += 2; });
    if (runs != 1 || !same) {
      return false;
    }
  }
  return true;
}());

/// How many partials an instruction keeps in the workspace.
constexpr std::size_t partials_kept(Op op) noexcept {
  switch (op) {
    case Op::divide:
    case Op::call_binary:
      return 2;
    case Op::divide_constant:
    case Op::constant_divide:
    case Op::call_unary:
    case Op::call_with_constant:
      return 1;
    default:
      return 0;
  }
}
/// How many of an instruction's operands are traced: the ones that get a
/// share of its adjoint (a constant operand comes second and gets none).
constexpr std::size_t traced_operands(Op op) noexcept {
  switch (op) {
    case Op::add:
    case Op::subtract:
    case Op::multiply:
    case Op::divide:
    case Op::call_binary:
      return 2;
    default:
      return 1;
  }
}
/// How many operand slots an instruction has (a constant operand among
/// them).
constexpr std::size_t operand_count(Op op) noexcept {
  return op == Op::negate || op == Op::call_unary ? 1 : 2;
}

constexpr bool calls(Op op) noexcept {
  return op >= Op::call_unary;
}

/// The cursors of a pass over a program: the next instruction's operand
/// slots, its kept partials and its Function. forward_step moves them past
/// the instruction; reverse_step moves them back before it.
template <class T, class Partial>
struct Cursors {
  const std::uint32_t* operand;
  Partial* partial;  // T for the forward pass, which writes them; const T back
  const Callee<T>* const* callee;
};

/// Evaluates one instruction: its value into `result` and the partials it
/// keeps, from values[operand[k]]; then steps past it. The formulas are
/// var_type.hpp's, written the same way, so that a replay gives a
/// recording's bits; a partial that is an operand's value (x * y) or +-1
/// (sums) is not kept: the sweep reads or knows it, as the tape's does.
/// One switch, each case stepping by its own counts: a second switch on
/// the counts, or a table, costs as much as the arithmetic.
template <class T>
TINYGRAD_DETAIL_INLINE inline void forward_step(Op op, const T* values, Cursors<T, T>& at,
                                                T& result) {
  const std::uint32_t* const operand = at.operand;
  const T a = values[operand[0]];
  switch (op) {
    case Op::add:
    case Op::add_constant:
      result = a + values[operand[1]];
      at.operand += 2;
      return;
    case Op::subtract:
    case Op::subtract_constant:
      result = a - values[operand[1]];
      at.operand += 2;
      return;
    case Op::constant_subtract:
      result = values[operand[1]] - a;
      at.operand += 2;
      return;
    case Op::negate:
      result = -a;
      at.operand += 1;
      return;
    case Op::multiply:
    case Op::multiply_constant:
      result = a * values[operand[1]];
      at.operand += 2;
      return;
    case Op::divide: {
      // d(x/y)/dy = -(x/y)/y, as var_type.hpp's divide.
      const T b = values[operand[1]];
      const T q = a / b;
      result = q;
      at.partial[0] = T(1) / b;
      at.partial[1] = -q / b;
      at.operand += 2;
      at.partial += 2;
      return;
    }
    case Op::divide_constant: {
      const T d = values[operand[1]];
      result = a / d;
      at.partial[0] = T(1) / d;
      at.operand += 2;
      at.partial += 1;
      return;
    }
    case Op::constant_divide: {
      const T q = values[operand[1]] / a;
      result = q;
      at.partial[0] = -q / a;
      at.operand += 2;
      at.partial += 1;
      return;
    }
    case Op::call_unary: {
      const T argument[1] = {a};  // not &a, which would keep `a` in memory for every case
      (*at.callee++)->one(argument, result, at.partial);
      at.operand += 1;
      at.partial += 1;
      return;
    }
    case Op::call_binary:
    case Op::call_with_constant: {
      const T arguments[2] = {a, values[operand[1]]};
      (*at.callee++)->one(arguments, result, at.partial);
      at.operand += 2;
      at.partial += op == Op::call_binary ? 2 : 1;
      return;
    }
  }
}

/// The reverse step of one instruction whose result's adjoint is `a`: steps
/// back before it, and unless `a` is zero (0 times an infinite partial
/// would be NaN) adds each traced operand its partial times `a`, in operand
/// order. Each product is formed in a statement of its own, so that no
/// compiler contracts it with the sum into one rounding where the tape's
/// sweep has two.
template <class T>
TINYGRAD_DETAIL_INLINE inline void reverse_step(Op op, const T* values, Cursors<T, const T>& at,
                                                T a, T* adjoint) {
  const auto add = [&](std::size_t k, T share) { adjoint[at.operand[k]] += share; };
  const bool passes = a != T(0);
  switch (op) {
    case Op::add:
      at.operand -= 2;
      if (passes) {
        add(0, a);
        add(1, a);
      }
      return;
    case Op::subtract:
      at.operand -= 2;
      if (passes) {
        add(0, a);
        add(1, -a);
      }
      return;
    case Op::add_constant:
    case Op::subtract_constant:
      at.operand -= 2;
      if (passes) {
        add(0, a);
      }
      return;
    case Op::constant_subtract:
      at.operand -= 2;
      if (passes) {
        add(0, -a);
      }
      return;
    case Op::negate:
      at.operand -= 1;
      if (passes) {
        add(0, -a);
      }
      return;
    case Op::multiply:
      at.operand -= 2;
      if (passes) {
        const T first = values[at.operand[1]] * a;
        add(0, first);
        const T second = values[at.operand[0]] * a;
        add(1, second);
      }
      return;
    case Op::multiply_constant:
      at.operand -= 2;
      if (passes) {
        const T share = values[at.operand[1]] * a;
        add(0, share);
      }
      return;
    case Op::divide:
    case Op::call_binary:
      at.operand -= 2;
      at.partial -= 2;
      if (passes) {
        const T first = at.partial[0] * a;
        add(0, first);
        const T second = at.partial[1] * a;
        add(1, second);
      }
      return;
    case Op::divide_constant:
    case Op::constant_divide:
    case Op::call_with_constant:
    case Op::call_unary:
      at.operand -= op == Op::call_unary ? 1 : 2;
      at.partial -= 1;
      if (passes) {
        const T share = at.partial[0] * a;
        add(0, share);
      }
      return;
  }
}

/// A comparison made while tracing and its outcome then.
enum class Predicate : std::uint8_t {
  less,
  less_equal,
  greater,
  greater_equal,
  equal,
  not_equal,
  is_nan,
  is_inf,
  is_finite,
};

struct Guard {
  std::uint32_t left;
  std::uint32_t right;  // left again for the one-operand predicates
  Predicate predicate;
  bool outcome;
};

template <class T>
bool holds(Predicate p, T a, T b) noexcept {
  using std::isfinite, std::isinf, std::isnan;
  switch (p) {
    case Predicate::less:
      return a < b;
    case Predicate::less_equal:
      return a <= b;
    case Predicate::greater:
      return a > b;
    case Predicate::greater_equal:
      return a >= b;
    case Predicate::equal:
      return a == b;
    case Predicate::not_equal:
      return a != b;
    case Predicate::is_nan:
      return isnan(a);
    case Predicate::is_inf:
      return isinf(a);
    case Predicate::is_finite:
      return isfinite(a);
  }
  return false;
}

inline const char* spelling(Predicate p) noexcept {
  constexpr const char* names[] = {"<", "<=", ">", ">=", "==", "!=", "isnan", "isinf", "isfinite"};
  return names[static_cast<std::size_t>(p)];
}

/// Everything a replay needs, fixed once traced. Slots: the inputs
/// [0, inputs), the data [inputs, inputs + data), the constants, then one
/// per instruction, in order (first_result on). Instruction i is ops[i];
/// its operands' slots follow the previous instruction's in `operands`,
/// and a call's Callee follows the previous call's in `callees`.
template <class T>
struct Program {
  std::uint32_t inputs = 0;
  std::uint32_t data = 0;
  std::vector<T> constants;  // the values of slots [inputs + data, first_result)
  std::uint32_t first_result = 0;
  std::vector<Op> ops;
  std::vector<Step> steps;               // ops as the one-point replay dispatches them
  std::vector<std::uint32_t> dot_terms;  // per dot step, in order: its count of terms
  std::vector<std::uint32_t> operands;
  std::vector<const Callee<T>*> callees;
  std::size_t partials = 0;  // kept per evaluation, in all
  std::vector<Guard> guards;
  std::vector<std::uint32_t> outputs;  // a slot each: a result, an input or a constant

  [[nodiscard]] std::size_t slots() const noexcept {
    return std::size_t{first_result} + ops.size();
  }
};

/// The fewest terms a dot step has: two run faster as two pairs (a loop of
/// two costs more than the second dispatch; trace_bench's BM_W3, whose
/// terms add two products each).
inline constexpr std::size_t dot_terms_least = 3;

/// The one-point replay's steps of a finished program (Step): a dot
/// product where dot_terms_least or more products in a row are each added
/// to the sum before them, z_k = z_(k-1) + p_k, every p_k and every z_k
/// but the last read by nothing else (no other instruction, guard or
/// output); else a product followed by a sum or difference as a pair;
/// else one instruction a step. A dot product's running sum and products are not
/// written: nothing reads them. In the sweep each p_k and z_(k-1) would
/// receive the last sum's adjoint a as their only share, 0 + a, which is a,
/// so the dot step passes a straight to the products' operands, in the
/// instructions' order and with their formulas: the same bits.
template <class T>
void plan_steps(Program<T>& program) {
  const std::vector<Op>& ops = program.ops;
  const std::uint32_t* const operands = program.operands.data();
  const std::uint32_t first = program.first_result;
  // Reads of each slot; a guard's or an output's counts as two, so that
  // such a result is never read only once.
  std::vector<std::uint32_t> reads(program.slots(), 0);
  for (const std::uint32_t slot : program.operands) {
    ++reads[slot];
  }
  for (const Guard& g : program.guards) {
    reads[g.left] += 2;
    reads[g.right] += 2;
  }
  for (const std::uint32_t output : program.outputs) {
    reads[output] += 2;
  }
  std::vector<std::size_t> operand_at(ops.size() + 1, 0);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    operand_at[i + 1] = operand_at[i] + operand_count(ops[i]);
  }
  const auto read_once = [&](std::size_t i) { return reads[first + i] == 1; };
  // Whether instructions i and i + 1 are term k of a dot product of
  // `product`s that starts at instruction start.
  const auto is_term = [&](std::size_t start, std::size_t k, Op product) {
    const std::size_t i = start + 2 * k;
    if (i + 1 >= ops.size() || ops[i] != product || ops[i + 1] != Op::add || !read_once(i)) {
      return false;
    }
    // The sum adds the product second (the product, read once, is not
    // also its first operand) to the sum before it.
    const std::uint32_t* const sum = operands + operand_at[i + 1];
    const bool adds_the_product = sum[1] == first + i;
    const bool continues = k == 0 || (sum[0] == first + i - 1 && read_once(i - 1));
    return adds_the_product && continues;
  };
  program.steps.clear();
  program.dot_terms.clear();
  for (std::size_t i = 0; i < ops.size();) {
    const Op op = ops[i];
    std::size_t terms = 0;
    if (op == Op::multiply || op == Op::multiply_constant) {
      while (is_term(i, terms, op)) {
        ++terms;
      }
    }
    if (terms >= dot_terms_least) {
      program.steps.push_back(op == Op::multiply ? Step::dot : Step::dot_constant);
      program.dot_terms.push_back(static_cast<std::uint32_t>(terms));
      i += 2 * terms;
      continue;
    }
    const Op next = i + 1 < ops.size() ? ops[i + 1] : op;
    if (op == Op::multiply && (next == Op::add || next == Op::subtract)) {
      program.steps.push_back(next == Op::add ? Step::multiply_then_add
                                              : Step::multiply_then_subtract);
      i += 2;
    } else {
      program.steps.push_back(step_of(op));
      i += 1;
    }
  }
}

/// The first of the program's guards that does not hold at `values` (one
/// per slot, after a forward pass), or null if all hold. Inlined: as a
/// call after replay.hpp's forward loop, it slowed trace_bench's one-point
/// replay of W3.
template <class T>
TINYGRAD_DETAIL_INLINE inline const Guard* first_broken_guard(const Program<T>& program,
                                                              const T* values) {
  for (const Guard& g : program.guards) {
    if (holds(g.predicate, values[g.left], values[g.right]) != g.outcome) {
      return &g;
    }
  }
  return nullptr;
}

/// Which program a workspace is sized for. A weak_ptr: it does not keep
/// that program alive, but its count keeps the program's block (one
/// allocation, make_shared's) from being freed, so a later program never
/// comes to the same address and passes for it, as a retrace's third
/// program could with a plain pointer.
template <class T>
class SizedFor {
 public:
  [[nodiscard]] bool is(const std::shared_ptr<const Program<T>>& program) const noexcept {
    return !program_.owner_before(program) && !program.owner_before(program_);
  }
  void set(const std::shared_ptr<const Program<T>>& program) noexcept { program_ = program; }

 private:
  std::weak_ptr<const Program<T>> program_;
};

// ---- The functions and policies a trace calls: derivatives.hpp's, and
// math.hpp's way of taking a constant argument, so that a replay gives a
// recording's bits.

/// A one-argument function of derivatives.hpp.
template <class T, ValueAndDerivative<T> (*f)(const T&)>
void unary(const T* x, T& value, T* p) {
  const ValueAndDerivative<T> r = f(x[0]);
  value = r.value;
  p[0] = r.derivative;
}

/// A two-argument function of derivatives.hpp, both arguments traced.
template <class T, derivatives::ValueAndPartials<T> (*f)(const T&, const T&)>
void binary(const T* x, T& value, T* p) {
  const derivatives::ValueAndPartials<T> r = f(x[0], x[1]);
  value = r.value;
  p[0] = r.first;
  p[1] = r.second;
}

// With one constant argument: x[0] is the traced one, x[1] the constant.
template <class T>
void pow_constant_exponent(const T* x, T& value, T* p) {  // pow(x, c)
  using std::pow;
  value = pow(x[0], x[1]);
  p[0] = derivatives::pow_partial_base(x[0], x[1]);
}
template <class T>
void pow_constant_base(const T* x, T& value, T* p) {  // pow(c, y)
  using std::pow;
  const T r = pow(x[1], x[0]);
  value = r;
  p[0] = derivatives::pow_partial_exponent(x[1], x[0], r);
}
template <class T>
void hypot_constant(const T* x, T& value, T* p) {  // hypot(x, c)
  using std::hypot;
  const T h = hypot(x[0], x[1]);
  value = h;
  p[0] = derivatives::hypot_partial(x[0], h);
}
template <class T>
void constant_hypot(const T* x, T& value, T* p) {  // hypot(c, y)
  using std::hypot;
  const T h = hypot(x[1], x[0]);
  value = h;
  p[0] = derivatives::hypot_partial(x[0], h);
}
template <class T>
void atan2_constant_x(const T* x, T& value, T* p) {  // atan2(y, c)
  const auto f = derivatives::atan2(x[0], x[1]);
  value = f.value;
  p[0] = f.first;
}
template <class T>
void atan2_constant_y(const T* x, T& value, T* p) {  // atan2(c, x)
  const auto f = derivatives::atan2(x[1], x[0]);
  value = f.value;
  p[0] = f.second;
}
template <class T>
void min_constant(const T* x, T& value, T* p) {  // min(x, c); math.hpp's min(c, y) is min(y, c)
  value = derivatives::nan_aware_min(x[0], x[1]);
  p[0] = derivatives::min_share_of_first(x[0], x[1]);
}
template <class T>
void max_constant(const T* x, T& value, T* p) {  // max(x, c); likewise
  value = -derivatives::nan_aware_min(-x[0], -x[1]);
  p[0] = derivatives::min_share_of_first(x[1], x[0]);
}

template <class P, class T>
void activation(const T* x, T& value, T* p) {
  const ValueAndDerivative<T> r = value_and_derivative_of_one<P>(x[0]);
  value = r.value;
  p[0] = r.derivative;
}

template <class P, class T>
void activation_curvature(const T* x, T* second) {
  second[0] = P::second_derivative(x[0]);
}

/// P's Curvature, or null where P has no second_derivative: a trace of it
/// then has first derivatives only (Trace::hessian says so).
template <class P, class T>
inline constexpr Curvature<T> activation_second = [] {
  if constexpr (requires(T v) {
                  { P::second_derivative(v) } -> std::same_as<T>;
                }) {
    return &activation_curvature<P, T>;
  } else {
    return static_cast<Curvature<T>>(nullptr);
  }
}();

/// An activation over `count` lanes with the kernels' formula for many
/// numbers at once, which vectorises and gives value_and_derivative_of_one's
/// bits: a vector's worth of lanes at a time, a loop of fixed count. P is an
/// activation policy, or a formula shaped as one (ExpInLanes, LogInLanes).
template <class P, class T>
TINYGRAD_DETAIL_INLINE inline void activation_lanes_body(const T* x, T* value, T* p,
                                                         std::size_t count) {
  for (; count > 0; count -= lanes<T>, x += lanes<T>, value += lanes<T>, p += lanes<T>) {
    for (std::size_t l = 0; l < lanes<T>; ++l) {
      const ValueAndDerivative<T> r = value_and_derivative<P>(x[l]);
      value[l] = r.value;
      p[l] = r.derivative;
    }
  }
}

template <class P, class T>
TINYGRAD_DETAIL_VECTORIZE_LOOPS void activation_lanes(const T* x, const T* /*unused*/, T* value,
                                                      T* p, std::size_t count,
                                                      std::size_t /*one partial*/) {
  activation_lanes_body<P>(x, value, p, count);
}

// Copies for AVX2 and AVX-512, rounding as the build's copy does
// (config.hpp). With g++ only: clang fuses the formulas' a * b + c (one
// expression each) wherever the target has FMA, which the build's copy
// does not, so with clang a batch calls the build's copy.
#if TINYGRAD_DETAIL_DISPATCH && !defined(__clang__)
template <class P, class T>
TINYGRAD_DETAIL_TARGET_AVX2 TINYGRAD_DETAIL_ROUND_AS_BUILT void activation_lanes_avx2(
    const T* x, const T* /*unused*/, T* value, T* p, std::size_t count,
    std::size_t /*one partial*/) {
  activation_lanes_body<P>(x, value, p, count);
}

template <class P, class T>
TINYGRAD_DETAIL_TARGET_AVX512 TINYGRAD_DETAIL_ROUND_AS_BUILT void activation_lanes_avx512(
    const T* x, const T* /*unused*/, T* value, T* p, std::size_t count,
    std::size_t /*one partial*/) {
  activation_lanes_body<P>(x, value, p, count);
}

template <class P, class T>
inline constexpr Callee<T> activation_callee{
    &activation<P, T>,
    {&activation_lanes<P, T>, &activation_lanes_avx2<P, T>, &activation_lanes_avx512<P, T>},
    activation_second<P, T>};
#else
template <class P, class T>
inline constexpr Callee<T> activation_callee{
    &activation<P, T>,
    {&activation_lanes<P, T>, &activation_lanes<P, T>, &activation_lanes<P, T>},
    activation_second<P, T>};
#endif

// exp and log over the lanes of a batch with vector formulas of their own
// (vector_math.hpp's exponential and logarithm, within 1.1 and 1 ulp)
// where one lane at a time would call std::exp or std::log for each: such
// a call is one of a batch's costliest instructions otherwise (trace_bench's
// BM_MonteCarlo). They run in the activations' copies for wider
// instruction sets, which round as the build's copy does, so that every
// instruction set gives the same bits; the bits are the formulas', not
// std::exp's or std::log's, so where a trace calls exp or log a point's
// value and gradient from a batch may differ from its one-point replay in
// the last bits (docs/tracing.md).

/// exp in lanes, shaped as an activation policy (activation_lanes): the
/// formula's value, which is its own derivative.
struct ExpInLanes {
  template <VectorReal T>
  TINYGRAD_DETAIL_INLINE static ValueAndDerivative<T> value_and_derivative(T x) noexcept {
    const T e = exponential(x);
    return {e, e};
  }
};

/// log in lanes, likewise: the formula's value, and 1 / x as at one point.
struct LogInLanes {
  template <VectorReal T>
  TINYGRAD_DETAIL_INLINE static ValueAndDerivative<T> value_and_derivative(T x) noexcept {
    return {logarithm(x), T(1) / x};
  }
};

/// The Callee of a function of derivatives.hpp (`one` on T, `on_duals` on
/// Dual<T>) whose batch runs the vector formula F, in the activations'
/// copies for each instruction set.
#if TINYGRAD_DETAIL_DISPATCH && !defined(__clang__)
template <class F, class T, Function<T> one, Function<Dual<T>> on_duals>
inline constexpr Callee<T> formula_callee{
    one,
    {&activation_lanes<F, T>, &activation_lanes_avx2<F, T>, &activation_lanes_avx512<F, T>},
    &curvature_of<T, on_duals, 1, 1>};
#else
template <class F, class T, Function<T> one, Function<Dual<T>> on_duals>
inline constexpr Callee<T> formula_callee{
    one,
    {&activation_lanes<F, T>, &activation_lanes<F, T>, &activation_lanes<F, T>},
    &curvature_of<T, on_duals, 1, 1>};
#endif

}  // namespace tinygrad::detail::tracing
