// SPDX-License-Identifier: MIT
#pragma once

// Second derivatives of a trace (trace.hpp's Trace::hvp, hessian,
// sparse_hessian): forward over reverse on a Program (detail/
// trace_program.hpp), K directions at once, and the sparsity pattern of
// the Hessian read from the Program's operations. See docs/design.md,
// "Second derivatives of a trace".

#include <tinygrad/detail/trace_program.hpp>
#include <tinygrad/error.hpp>
#include <tinygrad/sparsity.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace tinygrad::detail::tracing {

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
constexpr std::size_t operand_count(Op op) noexcept {
  return op == Op::negate || op == Op::call_unary ? 1 : 2;
}

/// What forward over reverse writes into, for K directions: each slot's
/// value and K tangents, each instruction's two partials (the second is 0
/// where it has one traced operand) and their K tangents, and each slot's
/// adjoint and its K tangents. Sized for one program at a time.
template <class T, std::size_t K>
struct SecondOrderWorkspace {
  using Tangent = std::array<T, K>;
  SizedFor<T> sized_for;
  std::vector<T> values;
  std::vector<Tangent> tangents;
  std::vector<T> partials;                // 2 per instruction
  std::vector<Tangent> partial_tangents;  // likewise
  std::vector<T> adjoints;
  std::vector<Tangent> adjoint_tangents;

  void prepare(const std::shared_ptr<const Program<T>>& shared) {
    if (sized_for.is(shared)) {
      return;
    }
    const Program<T>& program = *shared;
    values.assign(program.slots(), T(0));
    std::copy(program.constants.begin(), program.constants.end(),
              values.begin() + std::ptrdiff_t{program.inputs} + program.data);
    tangents.assign(program.slots(), Tangent{});
    partials.assign(2 * program.ops.size(), T(0));
    partial_tangents.assign(2 * program.ops.size(), Tangent{});
    adjoints.assign(program.slots(), T(0));
    adjoint_tangents.assign(program.slots(), Tangent{});
    sized_for.set(shared);
  }
};

/// The values, partials and their tangents of every instruction, in order,
/// from the values and tangents of the inputs and data already in `ws`
/// (the data's and constants' tangents are 0). Values and partials are
/// forward_step's, bit for bit; the tangents are their derivatives along
/// each direction. Throws trace_error for a call without second
/// derivatives (an activation policy without second_derivative). Its loops
/// over the directions vectorise at -O2 too (config.hpp), as
/// reverse_over's do.
template <class T, std::size_t K>
TINYGRAD_DETAIL_VECTORIZE_LOOPS void forward_over(const Program<T>& program,
                                                  SecondOrderWorkspace<T, K>& ws) {
  using Tangent = std::array<T, K>;
  T* const value = ws.values.data();
  Tangent* const tangent = ws.tangents.data();
  const std::uint32_t* operand = program.operands.data();
  const Callee<T>* const* callee = program.callees.data();
  for (std::size_t i = 0; i < program.ops.size(); ++i) {
    const Op op = program.ops[i];
    const std::size_t r = std::size_t{program.first_result} + i;
    const std::uint32_t o0 = operand[0];
    const std::uint32_t o1 = operand[operand_count(op) - 1];
    const T a = value[o0];
    const T b = value[o1];
    const Tangent& ta = tangent[o0];
    const Tangent& tb = tangent[o1];
    T* const p = &ws.partials[2 * i];
    Tangent* const tp = &ws.partial_tangents[2 * i];
    // The partials' values as forward_step's (the cursors of one step).
    {
      Cursors<T, T> at{operand, p, callee};
      forward_step(op, value, at, value[r]);
    }
    Tangent& tr = tangent[r];
    switch (op) {
      case Op::add:
      case Op::add_constant:
        p[0] = T(1);
        p[1] = T(1);
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = ta[d] + tb[d];
        }
        break;
      case Op::subtract:
      case Op::subtract_constant:
        p[0] = T(1);
        p[1] = T(-1);
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = ta[d] - tb[d];
        }
        break;
      case Op::constant_subtract:
        p[0] = T(-1);
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = tb[d] - ta[d];
        }
        break;
      case Op::negate:
        p[0] = T(-1);
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = -ta[d];
        }
        break;
      case Op::multiply:
      case Op::multiply_constant:
        // d(a b) = b da + a db; the partials are b and a, their tangents db and da.
        p[0] = b;
        p[1] = a;
        tp[0] = tb;
        tp[1] = ta;
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = b * ta[d] + a * tb[d];
        }
        break;
      case Op::divide:
        // q = a / b, p0 = 1 / b, p1 = -q / b: dp0 = -p0 p0 db, dp1 = -p0 (dq + p1 db).
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = p[0] * ta[d] + p[1] * tb[d];
          tp[0][d] = -p[0] * p[0] * tb[d];
          tp[1][d] = -p[0] * (tr[d] + p[1] * tb[d]);
        }
        break;
      case Op::divide_constant:
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = p[0] * ta[d];
        }
        break;
      case Op::constant_divide:
        // q = c / a, p0 = -q / a: dp0 = -2 p0 da / a.
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = p[0] * ta[d];
          tp[0][d] = T(-2) * p[0] * ta[d] / a;
        }
        break;
      case Op::call_unary:
      case Op::call_with_constant:
      case Op::call_binary: {
        const Callee<T>& called = **callee++;
        if (called.second == nullptr) {
          throw trace_error(
              "tinygrad::Trace: the trace calls an activation policy without "
              "second_derivative(x), which second derivatives (hvp, hessian) need");
        }
        const T arguments[2] = {a, b};
        T second[4] = {};
        called.second(arguments, second);
        if (op == Op::call_binary) {
          for (std::size_t d = 0; d < K; ++d) {
            tr[d] = p[0] * ta[d] + p[1] * tb[d];
            tp[0][d] = second[0] * ta[d] + second[1] * tb[d];
            tp[1][d] = second[2] * ta[d] + second[3] * tb[d];
          }
        } else {
          for (std::size_t d = 0; d < K; ++d) {
            tr[d] = p[0] * ta[d];
            tp[0][d] = second[0] * ta[d];
          }
        }
        break;
      }
    }
    operand += operand_count(op);
  }
}

/// The reverse sweep over forward_over's values: the adjoints of output 0
/// (seeded with 1) and their tangents, from the last instruction down to
/// the first. An input's adjoint is then the gradient, and its tangent d
/// the Hessian times direction d. A share whose factor is zero is not
/// added, as in the first-order sweep (0 times an infinite partial would
/// be NaN).
template <class T, std::size_t K>
TINYGRAD_DETAIL_VECTORIZE_LOOPS void reverse_over(const Program<T>& program,
                                                  SecondOrderWorkspace<T, K>& ws) {
  using Tangent = std::array<T, K>;
  std::fill(ws.adjoints.begin(), ws.adjoints.end(), T(0));
  std::fill(ws.adjoint_tangents.begin(), ws.adjoint_tangents.end(), Tangent{});
  T* const adjoint = ws.adjoints.data();
  Tangent* const adjoint_tangent = ws.adjoint_tangents.data();
  adjoint[program.outputs[0]] += T(1);
  const std::uint32_t* operand = program.operands.data() + program.operands.size();
  for (std::size_t i = program.ops.size(); i-- > 0;) {
    const Op op = program.ops[i];
    operand -= operand_count(op);
    const std::size_t r = std::size_t{program.first_result} + i;
    const T a = adjoint[r];
    const Tangent ta = adjoint_tangent[r];
    bool tangent_passes = false;
    for (std::size_t d = 0; d < K; ++d) {
      tangent_passes |= ta[d] != T(0);
    }
    const bool passes = a != T(0);
    if (!passes && !tangent_passes) {
      continue;
    }
    const T* const p = &ws.partials[2 * i];
    const Tangent* const tp = &ws.partial_tangents[2 * i];
    for (std::size_t k = 0; k < traced_operands(op); ++k) {
      const std::uint32_t j = operand[k];
      if (passes) {
        const T share = p[k] * a;
        adjoint[j] += share;
        for (std::size_t d = 0; d < K; ++d) {
          adjoint_tangent[j][d] += tp[k][d] * a;
        }
      }
      if (tangent_passes) {
        for (std::size_t d = 0; d < K; ++d) {
          adjoint_tangent[j][d] += p[k] * ta[d];
        }
      }
    }
  }
}

/// The sparsity pattern of the Hessian of a Program's output 0: every pair
/// of inputs that meet in an operation whose second derivative may be
/// nonzero (a product, a quotient, a call), among the operations that the
/// output depends on. It holds wherever the trace's branches hold, and
/// contains the exact pattern (it does not look for cancellations). Dense
/// past 64 indices, or 64 pairs, per slot on average.
template <class T>
HessianSparsity hessian_sparsity_of(const Program<T>& program) {
  const std::size_t n = program.inputs;
  const std::size_t slots = program.slots();
  const std::size_t first = program.first_result;
  std::vector<std::size_t> operand_begin(program.ops.size() + 1, 0);
  for (std::size_t i = 0; i < program.ops.size(); ++i) {
    operand_begin[i + 1] = operand_begin[i] + operand_count(program.ops[i]);
  }
  // Which slots' input sets are wanted: the operands of a product, a
  // quotient or a call that output 0 depends on, and the operands of the
  // operations whose sets are wanted. A sum that only passes its value on
  // (a loop's running total) wants none, so its set, which grows with
  // every term, is never formed.
  const auto nonlinear = [](Op op) {
    return op == Op::multiply || op == Op::divide || op == Op::constant_divide || calls(op);
  };
  std::vector<std::uint8_t> needed(slots, 0);  // output 0 depends on the slot
  std::vector<std::uint8_t> wanted(slots, 0);
  needed[program.outputs[0]] = 1;
  for (std::size_t i = program.ops.size(); i-- > 0;) {
    if (needed[first + i] == 0) {
      continue;
    }
    const bool wants = wanted[first + i] != 0 || nonlinear(program.ops[i]);
    for (std::size_t k = 0; k < traced_operands(program.ops[i]); ++k) {
      const std::uint32_t operand = program.operands[operand_begin[i] + k];
      needed[operand] = 1;
      wanted[operand] |= wants ? 1 : 0;
    }
  }
  // The inputs each slot depends on: sorted, in one pool.
  using Set = IndexSets::Set;
  std::vector<Set> sets(slots);
  IndexSets pool;
  for (std::uint32_t i = 0; i < n; ++i) {
    sets[i] = pool.single(i);
  }
  // Row i's columns, before symmetry and without removing repeats; past 64
  // pairs per slot on average the pattern is as good as dense.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
  const std::size_t budget = 64 * (slots + n);
  bool dense = false;
  const auto meet = [&](Set x, Set y) {
    if (pairs.size() + x.size * y.size > budget) {
      dense = true;
      return;
    }
    for (const std::uint32_t i : pool.of(x)) {
      for (const std::uint32_t j : pool.of(y)) {
        pairs.emplace_back(i, j);
      }
    }
  };
  for (std::size_t i = 0; i < program.ops.size() && !dense; ++i) {
    const Op op = program.ops[i];
    if (needed[first + i] == 0 || (wanted[first + i] == 0 && !nonlinear(op))) {
      continue;
    }
    const Set x = sets[program.operands[operand_begin[i]]];
    const Set y = traced_operands(op) == 2 ? sets[program.operands[operand_begin[i] + 1]] : Set{};
    const Set both = pool.merge(x, y);
    if (wanted[first + i] != 0) {
      sets[first + i] = both;
    }
    switch (op) {
      case Op::multiply:
        meet(x, y);
        break;
      case Op::divide:
        meet(x, y);
        meet(y, y);
        break;
      case Op::constant_divide:
      case Op::call_unary:
      case Op::call_with_constant:
      case Op::call_binary:
        meet(both, both);
        break;
      default:
        break;
    }
    dense = dense || pool.size() > budget;
  }
  if (dense) {
    return HessianSparsity::dense(n);
  }
  std::vector<std::size_t> row_begin(n + 1, 0);
  for (const auto& [row, column] : pairs) {
    ++row_begin[row + 1];
  }
  for (std::size_t i = 0; i < n; ++i) {
    row_begin[i + 1] += row_begin[i];
  }
  std::vector<std::uint32_t> columns(pairs.size());
  std::vector<std::size_t> next(row_begin.begin(), row_begin.end() - 1);
  for (const auto& [row, column] : pairs) {
    columns[next[row]++] = column;
  }
  return {row_begin, columns};
}

}  // namespace tinygrad::detail::tracing
