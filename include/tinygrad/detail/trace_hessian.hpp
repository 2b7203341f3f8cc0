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
#include <span>
#include <utility>
#include <vector>

namespace tinygrad::detail::tracing {

/// What forward over reverse writes into, for K directions: each slot's
/// value and K tangents, room for two partials per instruction and their
/// K tangents (filled where reverse_over reads them: not for a sum, whose
/// partials are +-1), and each slot's adjoint and its K tangents. Sized
/// for one program at a time.
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
    // The sums' partials (+-1) and a constant factor's are known to
    // reverse_over, which reads no partial and no partial tangent for them.
    switch (op) {
      case Op::add:
      case Op::add_constant:
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = ta[d] + tb[d];
        }
        break;
      case Op::subtract:
      case Op::subtract_constant:
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = ta[d] - tb[d];
        }
        break;
      case Op::constant_subtract:
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = tb[d] - ta[d];
        }
        break;
      case Op::negate:
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = -ta[d];
        }
        break;
      case Op::multiply:
        // d(a b) = b da + a db; the partials are b and a, their tangents db and da.
        p[0] = b;
        p[1] = a;
        tp[0] = tb;
        tp[1] = ta;
        for (std::size_t d = 0; d < K; ++d) {
          tr[d] = b * ta[d] + a * tb[d];
        }
        break;
      case Op::multiply_constant:
        p[0] = b;
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
/// be NaN): a sum's partials (+-1) and a constant factor have no tangent,
/// so their shares of the adjoint's value add nothing to its tangents.
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
    // Operand k's share: its partial times the adjoint, and its tangents,
    // the partial's tangents (where it has them) times the adjoint plus
    // the partial times the adjoint's tangents.
    // The tangents are summed in a copy, whose loads and stores the
    // compiler need not keep apart from the partials' tangents (which it
    // cannot tell from them): the loops then vectorise.
    const auto share = [&](std::size_t k, T partial, bool has_tangents) {
      Tangent to = adjoint_tangent[operand[k]];
      if (passes) {
        const T value = partial * a;
        adjoint[operand[k]] += value;
        if (has_tangents) {
          const Tangent& factor = tp[k];
          for (std::size_t d = 0; d < K; ++d) {
            to[d] += factor[d] * a;
          }
        }
      }
      if (tangent_passes) {
        for (std::size_t d = 0; d < K; ++d) {
          to[d] += partial * ta[d];
        }
      }
      adjoint_tangent[operand[k]] = to;
    };
    switch (op) {
      case Op::add:
        share(0, T(1), false);
        share(1, T(1), false);
        break;
      case Op::subtract:
        share(0, T(1), false);
        share(1, T(-1), false);
        break;
      case Op::add_constant:
      case Op::subtract_constant:
        share(0, T(1), false);
        break;
      case Op::constant_subtract:
      case Op::negate:
        share(0, T(-1), false);
        break;
      case Op::multiply_constant:
      case Op::divide_constant:
        share(0, p[0], false);
        break;
      case Op::multiply:
      case Op::divide:
      case Op::call_binary:
        share(0, p[0], true);
        share(1, p[1], true);
        break;
      case Op::constant_divide:
      case Op::call_unary:
      case Op::call_with_constant:
        share(0, p[0], true);
        break;
    }
  }
}

/// Which slots the sparsity detection below looks at: operand_begin[i] is
/// where instruction i's operands start; a slot is `needed` if output 0
/// depends on it, and `wanted` if its set of inputs is: it is an operand
/// of a product, a quotient or a call that output 0 depends on, or of an
/// operation whose set is wanted. A sum that only passes its value on (a
/// loop's running total) wants none, so its set, which grows with every
/// term, is never formed.
struct SlotsUsed {
  std::vector<std::size_t> operand_begin;
  std::vector<std::uint8_t> needed;  // bytes: std::vector<bool>'s bit access costs more
  std::vector<std::uint8_t> wanted;
};

/// Whether an instruction's second derivatives may be nonzero.
constexpr bool nonlinear(Op op) noexcept {
  return op == Op::multiply || op == Op::divide || op == Op::constant_divide || calls(op);
}

template <class T>
SlotsUsed slots_used(const Program<T>& program) {
  SlotsUsed used;
  used.operand_begin.assign(program.ops.size() + 1, 0);
  for (std::size_t i = 0; i < program.ops.size(); ++i) {
    used.operand_begin[i + 1] = used.operand_begin[i] + operand_count(program.ops[i]);
  }
  used.needed.assign(program.slots(), 0);
  used.wanted.assign(program.slots(), 0);
  used.needed[program.outputs[0]] = 1;
  for (std::size_t i = program.ops.size(); i-- > 0;) {
    const std::size_t r = std::size_t{program.first_result} + i;
    if (used.needed[r] == 0) {
      continue;
    }
    const bool wants = used.wanted[r] != 0 || nonlinear(program.ops[i]);
    for (std::size_t k = 0; k < traced_operands(program.ops[i]); ++k) {
      const std::uint32_t operand = program.operands[used.operand_begin[i] + k];
      used.needed[operand] = 1;
      used.wanted[operand] |= wants ? 1 : 0;
    }
  }
  return used;
}

/// Calls meet(x, y) for every instruction that output 0 depends on and
/// whose second derivatives may be nonzero, with the sets of inputs x and y
/// whose every pair (i in x, j in y) it makes a position of the Hessian:
/// a product's operands; a quotient's, and its divisor's with itself; a
/// call's traced operands together, with themselves. The sets are formed
/// upwards with `single(i)` for input i and `merge(x, y)`, only for the
/// wanted slots, and meet returns false to stop.
template <class T, class Set, class Single, class Merge, class Meet>
void for_each_meeting(const Program<T>& program, const SlotsUsed& used, Single&& single,
                      Merge&& merge, Meet&& meet) {
  std::vector<Set> sets(program.slots());
  for (std::uint32_t i = 0; i < program.inputs; ++i) {
    sets[i] = single(i);
  }
  for (std::size_t i = 0; i < program.ops.size(); ++i) {
    const Op op = program.ops[i];
    const std::size_t r = std::size_t{program.first_result} + i;
    if (used.needed[r] == 0 || (used.wanted[r] == 0 && !nonlinear(op))) {
      continue;
    }
    const std::size_t first = used.operand_begin[i];
    const Set x = sets[program.operands[first]];
    const Set y = traced_operands(op) == 2 ? sets[program.operands[first + 1]] : Set{};
    const Set both = merge(x, y);
    if (used.wanted[r] != 0) {
      sets[r] = both;
    }
    bool more = true;
    switch (op) {
      case Op::multiply:
        more = meet(x, y);
        break;
      case Op::divide:
        more = meet(x, y) && meet(y, y);
        break;
      case Op::constant_divide:
      case Op::call_unary:
      case Op::call_with_constant:
      case Op::call_binary:
        more = meet(both, both);
        break;
      default:
        break;
    }
    if (!more) {
      return;
    }
  }
}

/// hessian_sparsity_of for at most 64 * words inputs: the sets as bits,
/// and a meeting of x and y ORs y into the row of each input in x.
template <std::size_t words, class T>
HessianSparsity hessian_sparsity_from_bit_sets(const Program<T>& program, const SlotsUsed& used) {
  using Bits = BitSet<words>;
  std::vector<Bits> rows(program.inputs);
  for_each_meeting<T, Bits>(
      program, used,
      [](std::uint32_t i) {
        Bits set{};
        set[i / 64] = std::uint64_t{1} << (i % 64);
        return set;
      },
      [](const Bits& x, const Bits& y) {
        Bits set = x;
        for (std::size_t w = 0; w < words; ++w) {
          set[w] |= y[w];
        }
        return set;
      },
      [&](const Bits& x, const Bits& y) {
        for_each_index<words>(x, [&](std::size_t i) {
          for (std::size_t w = 0; w < words; ++w) {
            rows[i][w] |= y[w];
          }
        });
        return true;
      });
  return pattern_of_bit_rows<words>(std::span<Bits>(rows));
}

/// hessian_sparsity_of beyond 256 inputs: the sets sorted in an IndexSets
/// pool, and the pairs listed, row by row. Dense past 64 pairs, or 64
/// indices, per slot on average.
template <class T>
HessianSparsity hessian_sparsity_from_index_sets(const Program<T>& program, const SlotsUsed& used) {
  using Set = IndexSets::Set;
  const std::size_t n = program.inputs;
  IndexSets pool;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
  const std::size_t budget = 64 * (program.slots() + n);
  bool dense = false;
  for_each_meeting<T, Set>(
      program, used, [&](std::uint32_t i) { return pool.single(i); },
      [&](Set x, Set y) {
        if (dense) {
          return Set{};  // the rest is not read: the pattern is dense
        }
        const Set both = pool.merge(x, y);
        dense = pool.size() > budget;
        return both;
      },
      [&](Set x, Set y) {
        if (dense || pairs.size() + x.size * y.size > budget) {
          dense = true;
          return false;
        }
        for (const std::uint32_t i : pool.of(x)) {
          for (const std::uint32_t j : pool.of(y)) {
            pairs.emplace_back(i, j);
          }
        }
        return true;
      });
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

/// The sparsity pattern of the Hessian of a Program's output 0: every pair
/// of inputs that meet in an operation whose second derivative may be
/// nonzero (a product, a quotient, a call), among the operations that the
/// output depends on. It holds wherever the trace's branches hold, and
/// contains the exact pattern (it does not look for cancellations). Up to
/// 256 inputs from bit sets; beyond, from sorted sets, and dense past 64
/// indices, or 64 pairs, per slot on average.
template <class T>
HessianSparsity hessian_sparsity_of(const Program<T>& program) {
  const SlotsUsed used = slots_used(program);
  if (program.inputs <= 64) {
    return hessian_sparsity_from_bit_sets<1>(program, used);
  }
  if (program.inputs <= 128) {
    return hessian_sparsity_from_bit_sets<2>(program, used);
  }
  if (program.inputs <= 256) {
    return hessian_sparsity_from_bit_sets<4>(program, used);
  }
  return hessian_sparsity_from_index_sets(program, used);
}

}  // namespace tinygrad::detail::tracing
