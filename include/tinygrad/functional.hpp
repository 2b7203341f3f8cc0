// SPDX-License-Identifier: MIT
#pragma once

// The functional API: gradients, Jacobians, Hessians and Hessian-vector
// products of a function, without managing a tape, and gradcheck() to verify
// a gradient against finite differences.
//
//   auto f = [](auto x) { return x[0] * x[0] + sin(x[1]); };
//   std::vector<double> g = tinygrad::gradient(f, std::vector<double>{1.0, 2.0});
//
// `f` takes a std::span<const Var<T>> (write it as a generic lambda) and
// returns a Var<T> (a range of Var<T> for jacobian). `x` is any contiguous
// range of T: a std::vector<T>, a std::array, a std::span<const T>.
//
// Forward mode (jvp, derivative, and jacobian where f has fewer inputs than
// outputs) calls f with Dual<T>s instead; second derivatives (hvp, hessian,
// sparse_hessian) with Var<Dual<T>>s, forward over reverse, and, to find
// the Hessian's sparsity, with Var<Var<T>>s. A generic lambda serves all.

#include <tinygrad/dual.hpp>
#include <tinygrad/matrix.hpp>
#include <tinygrad/sparsity.hpp>
#include <tinygrad/var.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinygrad {

namespace detail {

/// The element type of the point a functional-API call differentiates at.
template <class X>
using PointElement = std::remove_cv_t<std::ranges::range_value_t<X>>;

/// An Eigen matrix or vector (by its PlainObject): eigen.hpp has the
/// overloads for those, even where a future Eigen makes them contiguous.
template <class X>
concept EigenDense = requires {
  typename X::PlainObject;
};

template <class X>
concept Point =
    std::ranges::contiguous_range<X> && std::floating_point<PointElement<X>> && !EigenDense<X>;

/// Per thread and value type: a tape and leaves that the functional API
/// reuses, so that a warm call allocates nothing.
template <class T>
struct FunctionalWorkspace {
  Tape<T> tape{Dormant{}};
  std::vector<Var<T>> leaves;
  bool in_use = false;
};

template <class T>
FunctionalWorkspace<T>& functional_workspace() {
  thread_local FunctionalWorkspace<T> workspace;
  return workspace;
}

/// For one call: the per-thread workspace of value type T, cleared and with
/// its tape current; or, if f itself calls the functional API while the
/// workspace is taken, a fresh one.
template <class T>
class Lease {
 public:
  Lease() {
    FunctionalWorkspace<T>& shared = functional_workspace<T>();
    if (shared.in_use) {
      fresh_ = std::make_unique<FunctionalWorkspace<T>>();
      workspace_ = fresh_.get();
    } else {
      workspace_ = &shared;
    }
    workspace_->in_use = true;
    active_.emplace(workspace_->tape);
    workspace_->tape.clear();
  }
  ~Lease() {
    active_.reset();
    workspace_->in_use = false;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  /// Records x's coordinates as the leaves of this call.
  std::span<const Var<T>> record_leaves(std::span<const T> x) {
    tinygrad::record_leaves(x, workspace_->leaves);
    return workspace_->leaves;
  }

 private:
  std::unique_ptr<FunctionalWorkspace<T>> fresh_;
  FunctionalWorkspace<T>* workspace_ = nullptr;
  std::optional<CurrentTapeScope<T>> active_;
};

/// Records f at x on a leased tape, and returns use(leaves, f(leaves)).
template <class T, class F, class Use>
decltype(auto) with_recording(F& f, std::span<const T> x, Use&& use) {
  Lease<T> lease;
  const std::span<const Var<T>> leaves = lease.record_leaves(x);
  return use(leaves, f(leaves));
}

template <class T, class F>
void require_scalar_function() {
  static_assert(std::is_same_v<std::invoke_result_t<F&, std::span<const Var<T>>>, Var<T>>,
                "tinygrad: f must take a std::span<const Var<T>> and return a Var<T> "
                "(for several outputs, use jacobian)");
}

/// f(x), with its gradient written into `out` (x's size): gradient and
/// value_and_gradient.
template <class T, class F>
T value_and_gradient_into(F& f, std::span<const T> x, std::span<T> out, const char* function) {
  require_scalar_function<T, F>();
  require_same_size(function, "out", out.size(), "x", x.size());
  return with_recording<T>(f, x, [&](std::span<const Var<T>> leaves, const Var<T>& y) {
    y.backward();
    read_gradients(leaves, out);
    return y.value();
  });
}

/// Row i of the n-column `rows` (row-major) is the gradient of outputs[i]
/// with respect to `leaves`: one reverse sweep per output, on the current
/// tape (jacobian, and hessian on the gradient's entries).
template <class T, class Outputs>
void gradient_rows(const Outputs& outputs, std::span<const Var<T>> leaves, std::span<T> rows) {
  const std::size_t n = leaves.size();
  std::size_t row = 0;
  for (const Var<T>& output : outputs) {
    Tape<T>::current().zero_grad();
    output.backward();
    read_gradients(leaves, rows.subspan(row * n, n));
    ++row;
  }
}

}  // namespace detail

/// The gradient of f at x, written into `out` (any writable contiguous
/// range of T of x's size: a std::vector, std::array, C array or span).
/// Reuses a per-thread tape: once warm, no allocation.
template <class F, detail::Point X, class Out, class T = detail::PointElement<X>>
requires detail::WritableRangeOf<Out, T>
void gradient(F&& f, const X& x, Out&& out) {
  detail::value_and_gradient_into<T>(f, std::span<const T>(x), std::span<T>(out), "gradient");
}

/// The gradient of f at x.
template <class F, detail::Point X, class T = detail::PointElement<X>>
std::vector<T> gradient(F&& f, const X& x) {
  std::vector<T> out(std::ranges::size(x));
  gradient(f, x, std::span<T>(out));
  return out;
}

/// f(x) and its gradient at x, from one recording.
template <class F, detail::Point X, class T = detail::PointElement<X>>
std::pair<T, std::vector<T>> value_and_gradient(F&& f, const X& x) {
  std::vector<T> out(std::ranges::size(x));
  const T value = detail::value_and_gradient_into<T>(f, std::span<const T>(x), std::span<T>(out),
                                                     "value_and_gradient");
  return {value, std::move(out)};
}

namespace detail {

/// A range (of any kind) of E.
template <class R, class E>
concept RangeOf = std::ranges::input_range<R> && std::same_as<RangeElement<R>, E>;

/// Directions per forward pass: the tangents of the Dual<T, N> that
/// jacobian evaluates f with when it goes by columns.
inline constexpr std::size_t directions_per_pass = 4;

/// Whether f can be evaluated on Dual<T, N>s, returning a sized range of
/// them (jacobian then may use forward mode). Asking instantiates a generic
/// lambda's body with Duals: it must compile for them.
template <class F, class T, std::size_t N = directions_per_pass>
concept ForwardJacobianFunction = std::invocable<F&, std::span<const Dual<T, N>>> &&
    std::ranges::sized_range<std::invoke_result_t<F&, std::span<const Dual<T, N>>>> &&
    std::same_as<RangeElement<std::invoke_result_t<F&, std::span<const Dual<T, N>>>>, Dual<T, N>>;

/// The Jacobian of f at x (not empty) by forward mode: one evaluation of f
/// on Dual<T, N>s per N columns, each seeded with N unit directions.
template <class T, class F>
Matrix<T> forward_jacobian(F& f, std::span<const T> x) {
  constexpr std::size_t N = directions_per_pass;
  using D = Dual<T, N>;
  const std::size_t n = x.size();
  Matrix<T> result;
  std::vector<D> point(x.begin(), x.end());
  for (std::size_t first = 0; first < n; first += N) {
    const std::size_t width = std::min(N, n - first);
    for (std::size_t k = 0; k < width; ++k) {
      point[first + k].tangent(k) = T(1);
    }
    const auto outputs = f(std::span<const D>(point));
    if (first == 0) {
      result = Matrix<T>(std::ranges::size(outputs), n);
    }
    require_same_size("jacobian", "f(x) in this pass", std::ranges::size(outputs),
                      "f(x) in the first", result.rows());
    std::size_t i = 0;
    for (const D& y : outputs) {
      for (std::size_t k = 0; k < width; ++k) {
        result(i, first + k) = y.tangent(k);
      }
      ++i;
    }
    for (std::size_t k = 0; k < width; ++k) {
      point[first + k].tangent(k) = T(0);
    }
  }
  return result;
}

}  // namespace detail

/// How jacobian() forms a Jacobian: by rows, one reverse sweep per output
/// (f is evaluated on Vars only), or by columns, one forward pass per four
/// inputs (f is evaluated on Duals only).
struct ReverseMode {};
struct ForwardMode {};
inline constexpr ReverseMode reverse_mode{};
inline constexpr ForwardMode forward_mode{};

/// The Jacobian of f at x by rows: f recorded once on Vars, then one
/// reverse sweep per output. f returns a sized range of m Var<T>.
template <class F, detail::Point X, class T = detail::PointElement<X>>
Matrix<T> jacobian(F&& f, const X& x, ReverseMode) {
  using Outputs = std::invoke_result_t<F&, std::span<const Var<T>>>;
  static_assert(std::ranges::sized_range<Outputs> &&
                    std::is_same_v<std::ranges::range_value_t<Outputs>, Var<T>>,
                "tinygrad::jacobian: f must take a std::span<const Var<T>> and return a sized "
                "range of Var<T> (such as std::vector<Var<T>>)");
  Matrix<T> result;
  detail::with_recording<T>(
      f, std::span<const T>(x), [&](std::span<const Var<T>> leaves, const Outputs& outputs) {
        result = Matrix<T>(std::ranges::size(outputs), leaves.size());
        detail::gradient_rows(outputs, leaves, std::span<T>(result.data(), result.size()));
      });
  return result;
}

/// The Jacobian of f at x by columns: f evaluated on Dual<T, 4>s, one pass
/// per four inputs. f takes a std::span<const Dual<T, 4>> (a generic
/// lambda) and returns a sized range of them.
template <class F, detail::Point X, class T = detail::PointElement<X>>
Matrix<T> jacobian(F&& f, const X& x, ForwardMode) {
  constexpr std::size_t N = detail::directions_per_pass;
  static_assert(detail::ForwardJacobianFunction<F, T>,
                "tinygrad::jacobian(f, x, forward_mode): f must take a std::span<const Dual<T, "
                "4>> and return a sized range of them: write it as a generic lambda");
  const std::span<const T> point(x);
  if (point.empty()) {  // no pass to learn m from: evaluate f once on nothing
    return Matrix<T>(std::ranges::size(f(std::span<const Dual<T, N>>())), 0);
  }
  return detail::forward_jacobian<T>(f, point);
}

/// The Jacobian of f at x, where f returns a range of m Var<T>: an m x n
/// Matrix whose row i is the gradient of output i. Records f once; then
/// one reverse sweep per output (row) if m <= n, or, if f has fewer inputs
/// than outputs, one forward pass per four inputs (columns) instead. f
/// written as a generic lambda is then also evaluated on Duals: its body
/// must compile for them (no Var<double> spelt out in it); pass
/// reverse_mode to keep it to Vars.
template <class F, detail::Point X, class T = detail::PointElement<X>>
Matrix<T> jacobian(F&& f, const X& x) {
  if constexpr (detail::ForwardJacobianFunction<F, T>) {
    using Outputs = std::invoke_result_t<F&, std::span<const Var<T>>>;
    const std::span<const T> point(x);
    Matrix<T> result;
    bool by_columns = false;
    detail::with_recording<T>(
        f, point, [&](std::span<const Var<T>> leaves, const Outputs& outputs) {
          const std::size_t m = std::ranges::size(outputs);
          by_columns = leaves.size() < m;
          if (!by_columns) {
            result = Matrix<T>(m, leaves.size());
            detail::gradient_rows(outputs, leaves, std::span<T>(result.data(), result.size()));
          }
        });
    if (by_columns) {  // (n >= 1 here, as m > n)
      result = detail::forward_jacobian<T>(f, point);
    }
    return result;
  } else {
    return jacobian(f, x, reverse_mode);
  }
}

/// v^T J, the gradient of sum_i v_i f_i at x, for f returning m Var<T> in a
/// contiguous range (such as std::vector<Var<T>>) and v of m values: one
/// recording, one reverse sweep, whatever m is.
template <class F, detail::Point X, detail::Point V, class T = detail::PointElement<X>>
std::vector<T> vjp(F&& f, const X& x, const V& v) {
  static_assert(std::is_same_v<detail::PointElement<V>, T>,
                "tinygrad::vjp: x and v must have the same element type");
  using Outputs = std::invoke_result_t<F&, std::span<const Var<T>>>;
  static_assert(detail::ContiguousRangeOf<Outputs, Var<T>>,
                "tinygrad::vjp: f must take a std::span<const Var<T>> and return a contiguous "
                "range of Var<T> (such as std::vector<Var<T>>)");
  const std::span<const T> point(x);
  const std::span<const T> seeds(v);
  std::vector<T> result(point.size());
  detail::with_recording<T>(f, point, [&](std::span<const Var<T>> leaves, const Outputs& outputs) {
    detail::require_same_size("vjp", "v", seeds.size(), "f(x)", std::ranges::size(outputs));
    tinygrad::backward(outputs, seeds);
    read_gradients(leaves, std::span<T>(result));
  });
  return result;
}

// ---- Forward mode ----

namespace detail {

/// The point x as Duals whose tangents are v (of x's size, or
/// std::invalid_argument naming `function`), written into a per-thread
/// buffer that keeps its capacity from call to call, so that a warm jvp or
/// hvp allocates nothing for it; a fresh buffer where f itself calls jvp or
/// hvp on the same T while this one is taken.
template <class T>
class SeededPoint {
 public:
  template <class V>
  SeededPoint(const char* function, std::span<const T> x, const V& v) {
    const std::span<const T> direction(v);
    require_same_size(function, "v", direction.size(), "x", x.size());
    Buffer& shared = shared_buffer();
    if (shared.in_use) {
      fresh_ = std::make_unique<Buffer>();
      buffer_ = fresh_.get();
    } else {
      buffer_ = &shared;
    }
    buffer_->in_use = true;
    std::vector<Dual<T>>& duals = buffer_->duals;
    duals.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      duals[i] = Dual<T>(x[i], direction[i]);
    }
  }
  ~SeededPoint() { buffer_->in_use = false; }
  SeededPoint(const SeededPoint&) = delete;
  SeededPoint& operator=(const SeededPoint&) = delete;

  [[nodiscard]] std::span<const Dual<T>> duals() const noexcept { return buffer_->duals; }

 private:
  struct Buffer {
    std::vector<Dual<T>> duals;
    bool in_use = false;
  };
  static Buffer& shared_buffer() {
    thread_local Buffer buffer;
    return buffer;
  }

  std::unique_ptr<Buffer> fresh_;
  Buffer* buffer_ = nullptr;
};

}  // namespace detail

/// df/dx at x, for f from one T to one T written generically (it is called
/// with a Dual<T> and returns one): one evaluation on a Dual.
template <class F, std::floating_point T>
T derivative(F&& f, T x) {
  static_assert(std::is_same_v<std::invoke_result_t<F&, Dual<T>>, Dual<T>>,
                "tinygrad::derivative: f must take a Dual<T> and return a Dual<T>: write it "
                "as a generic lambda, [](auto x) { ... }");
  return f(Dual<T>(x, T(1))).tangent();
}

/// The Jacobian of f at x times v, J v, without forming J: one evaluation
/// of f on Dual<T>s seeded with v (forward mode). f takes a
/// std::span<const Dual<T>> (write it as a generic lambda) and returns a
/// Dual<T>, whose directional derivative (a T) jvp then returns, or a range
/// of Dual<T>, for which it returns a std::vector<T>.
template <class F, detail::Point X, detail::Point V, class T = detail::PointElement<X>>
auto jvp(F&& f, const X& x, const V& v) {
  static_assert(std::is_same_v<detail::PointElement<V>, T>,
                "tinygrad::jvp: x and v must have the same element type");
  using Result = std::invoke_result_t<F&, std::span<const Dual<T>>>;
  constexpr bool scalar = std::is_same_v<Result, Dual<T>>;
  static_assert(scalar || detail::RangeOf<Result, Dual<T>>,
                "tinygrad::jvp: f must take a std::span<const Dual<T>> and return a Dual<T> or a "
                "range of Dual<T>: write it as a generic lambda, [](auto x) { ... }");
  const detail::SeededPoint<T> seeded("jvp", std::span<const T>(x), v);
  const Result y = f(seeded.duals());
  if constexpr (scalar) {
    return y.tangent();
  } else {
    std::vector<T> out;
    for (const Dual<T>& output : y) {
      out.push_back(output.tangent());
    }
    return out;
  }
}

// ---- Second derivatives ----

namespace detail {

template <class T, class F, class D>
void require_forward_over_reverse_function() {
  static_assert(std::is_same_v<std::invoke_result_t<F&, std::span<const Var<D>>>, Var<D>>,
                "tinygrad::hvp, hessian (below 9 columns) and sparse_hessian on a given "
                "pattern: f must accept a "
                "std::span<const Var<Dual<T>>> and return a Var<Dual<T>>: write it as a "
                "generic lambda, [](auto x) { ... }");
}

/// Read access to a finished recording, for the passes over the recorded
/// gradient below (a Tape shows its entries only through for_each_entry,
/// which builds a view of each and costs several times as much).
struct RecordingReader {
  template <class T>
  static RecordingView<T> view(const Tape<T>& tape) noexcept {
    return tape.recording_.view();
  }
  /// The adjoints of the entries up to `out` on `tape` (Tape::sweep_into).
  template <class T>
  static void sweep_into(Tape<T>& tape, const Var<T>& out, std::vector<T>& adjoint) {
    tape.sweep_into(EntryOf<T>::stamp(out), out.value(), adjoint);
  }
};

/// Records f at x twice nested: leaves on a Tape<T>, and Var<Var<T>> leaves
/// over them on a Tape<Var<T>>; sweeps the outer tape, whose arithmetic
/// records on the inner one, and passes the inner leaves and the gradient
/// (as Var<T>s: functions of the inner leaves) to `use`.
template <class T, class F, class Use>
void with_gradient_recorded(F& f, std::span<const T> x, Use&& use) {
  static_assert(
      std::is_same_v<std::invoke_result_t<F&, std::span<const Var<Var<T>>>>, Var<Var<T>>>,
      "tinygrad::hessian_sparsity, sparse_hessian and hessian: f must accept a "
      "std::span<const Var<Var<T>>> and return a Var<Var<T>>: write it as a generic lambda, "
      "[](auto x) { ... }");
  Lease<T> inner;
  const std::span<const Var<T>> leaves = inner.record_leaves(x);
  std::vector<Var<T>> gradient(leaves.size());
  {
    Lease<Var<T>> outer;
    const std::span<const Var<Var<T>>> nested = outer.record_leaves(leaves);
    thread_local std::vector<Var<T>> adjoint;  // f runs before it is used: no reentry
    RecordingReader::sweep_into(Tape<Var<T>>::current(), f(nested), adjoint);
    for (std::size_t i = 0; i < nested.size(); ++i) {
      // A leaf above the output (f returned an input) has a zero gradient.
      const std::size_t entry = EntryOf<Var<T>>::index(nested[i]);
      gradient[i] = entry < adjoint.size() ? adjoint[entry] : Var<T>();
    }
  }
  use(leaves, std::span<const Var<T>>(gradient));
}

/// Which inputs entries of a recording depend on, as sorted index sets in
/// one pool. Only the entries that the wanted ones read, directly or not,
/// get a set: a running sum of the primal (which depends on every input)
/// costs nothing unless a wanted entry reads it. An entry with one operand,
/// or with one operand that depends on anything, shares that operand's set,
/// so a chain stores nothing new. Gives up (returns false) once the pool
/// exceeds `budget` indices: the Hessian is then as good as dense.
class DependencySets {
 public:
  using Set = IndexSets::Set;

  /// Walks `tape`, where entries [first_leaf, first_leaf + n) are the inputs
  /// 0 to n - 1, for the sets of the entries `wanted`.
  template <class T>
  bool build(const Tape<T>& tape, std::size_t first_leaf, std::size_t n,
             std::span<const std::uint32_t> wanted, std::size_t budget) {
    const std::size_t entries = tape.size();
    // Where each entry's operands begin in the recording's operand array,
    // read in place: one forward walk over the shapes.
    const RecordingView<T> view = RecordingReader::view(tape);
    const std::uint32_t* const operands = view.operand_index;
    operand_begin_.resize(entries + 1);
    Cursor at;
    for (std::size_t e = 0; e < entries; ++e) {
      operand_begin_[e] = at.operand;
      view.template step<Direction::forward>(at, view.shape_of(e));
    }
    operand_begin_[entries] = at.operand;
    // The entries the wanted ones read, walking down.
    needed_.assign(entries, 0);
    for (const std::uint32_t w : wanted) {
      needed_[w] = 1;
    }
    for (std::size_t e = entries; e-- > 0;) {
      if (needed_[e] != 0) {
        for (std::size_t k = operand_begin_[e]; k < operand_begin_[e + 1]; ++k) {
          needed_[operands[k]] = 1;
        }
      }
    }
    // Their sets, walking up.
    sets_.assign(entries, Set{});
    pool_.clear();
    for (std::size_t k = 0; k < n; ++k) {
      sets_[first_leaf + k] = pool_.single(static_cast<std::uint32_t>(k));
    }
    for (std::size_t e = 0; e < entries; ++e) {
      const std::size_t begin = operand_begin_[e];
      const std::size_t end = operand_begin_[e + 1];
      if (needed_[e] == 0 || begin == end) {
        continue;
      }
      Set merged = sets_[operands[begin]];
      for (std::size_t k = begin + 1; k < end; ++k) {
        merged = pool_.merge(merged, sets_[operands[k]]);
      }
      sets_[e] = merged;
      if (pool_.size() > budget) {
        return false;
      }
    }
    return true;
  }

  [[nodiscard]] std::span<const std::uint32_t> of(std::size_t entry) const noexcept {
    return pool_.of(sets_[entry]);
  }

 private:
  // The arrays keep their capacity from call to call (one DependencySets per
  // thread: detect_hessian_sparsity), so that a warm detection allocates
  // little. Entry e's operands are the recording's operand indices
  // [operand_begin_[e], operand_begin_[e + 1]).
  std::vector<std::size_t> operand_begin_;
  std::vector<std::uint8_t> needed_;  // bytes: std::vector<bool>'s bit access costs more
  std::vector<Set> sets_;
  IndexSets pool_;
};

/// The pattern whose row i holds the columns append_row(entry, columns)
/// appends for the entry of gradient component i: empty where that
/// component is a constant.
template <class T, class AppendRow>
HessianSparsity pattern_of_rows(std::span<const Var<T>> gradient, AppendRow&& append_row) {
  std::vector<std::size_t> row_begin{0};
  std::vector<std::uint32_t> columns;
  row_begin.reserve(gradient.size() + 1);
  for (const Var<T>& g : gradient) {
    if (!g.is_constant()) {
      append_row(EntryOf<T>::index(g), columns);
    }
    row_begin.push_back(columns.size());
  }
  return {row_begin, columns};
}

/// The inputs each entry of a recording depends on as bit sets of `words`
/// 64-bit words, for at most 64 * words inputs: one pass upwards, each
/// entry the union of its operands'. Below a few hundred inputs this costs
/// less than DependencySets, whose sorted sets pay per element and per merge.
/// Row i of the pattern is the set of gradient component i's entry
/// (pattern_of_bit_rows makes the rows symmetric).
template <std::size_t words, class T>
HessianSparsity pattern_from_bit_sets(const RecordingView<T>& view, std::size_t first_leaf,
                                      std::span<const Var<T>> gradient) {
  using Bits = BitSet<words>;
  const std::size_t n = gradient.size();
  thread_local std::vector<Bits> storage;  // no user code runs meanwhile
  storage.resize(view.entries + n);
  Bits* const sets = storage.data();
  // Only the operands matter here: their indices, read in entry order.
  const std::uint32_t* operand = view.operand_index;
  const std::uint32_t* wide_count = view.wide_count;
  // The union formed in registers and stored once: or-ing into the set in
  // memory would read back the store just made, which stalls the loop.
  const auto united = [](const Bits& a, const Bits& b) {
    Bits u;
    for (std::size_t w = 0; w < words; ++w) {
      u[w] = a[w] | b[w];
    }
    return u;
  };
  for (std::size_t e = 0; e < view.entries; ++e) {
    // One and two operands, the commonest counts, read from the shape's
    // low bits; the table for the rest.
    const unsigned code = view.shape_of(e);
    std::size_t count = code & shape::count_mask;
    Bits& set = sets[e];  // written in place: an operand's set lies below
    if (count == 1) {
      set = sets[operand[0]];
    } else if (count == 2) {
      set = united(sets[operand[0]], sets[operand[1]]);
    } else {
      count = shape_steps.operands[code];
      if (count == ShapeSteps::wide) {
        count = *wide_count++;
      }
      if (count == 0) {
        set = Bits{};
        if (e - first_leaf < n) {  // input e - first_leaf
          set[(e - first_leaf) / 64] = std::uint64_t{1} << ((e - first_leaf) % 64);
        }
      } else {
        Bits u = sets[operand[0]];
        for (std::size_t k = 1; k < count; ++k) {
          u = united(u, sets[operand[k]]);
        }
        set = u;
      }
    }
    operand += count;
  }
  // The rows, after the entries' sets.
  const std::span<Bits> rows(sets + view.entries, n);
  for (std::size_t i = 0; i < n; ++i) {
    rows[i] = gradient[i].is_constant() ? Bits{} : sets[EntryOf<T>::index(gradient[i])];
  }
  return pattern_of_bit_rows<words>(rows);
}

/// The sparsity pattern of a Hessian whose gradient is recorded on the
/// current tape (with_gradient_recorded): row i holds the inputs that
/// gradient component i depends on in that recording, which is exact up to
/// cancellation and, where f branches on values, valid where f takes the
/// same branches. Up to 256 inputs from bit sets; beyond, from
/// DependencySets, and dense when the dependencies outgrow 64 indices per
/// entry on average.
template <class T>
HessianSparsity pattern_of_recorded_gradient(std::span<const Var<T>> leaves,
                                             std::span<const Var<T>> gradient) {
  const std::size_t n = leaves.size();
  if (n == 0) {
    return {};
  }
  const Tape<T>& tape = Tape<T>::current();
  const std::size_t first_leaf = EntryOf<T>::index(leaves[0]);
  if (n <= 64) {
    return pattern_from_bit_sets<1>(RecordingReader::view(tape), first_leaf, gradient);
  }
  if (n <= 128) {
    return pattern_from_bit_sets<2>(RecordingReader::view(tape), first_leaf, gradient);
  }
  if (n <= 256) {
    return pattern_from_bit_sets<4>(RecordingReader::view(tape), first_leaf, gradient);
  }
  std::vector<std::uint32_t> wanted;
  for (const Var<T>& g : gradient) {
    if (!g.is_constant()) {
      wanted.push_back(EntryOf<T>::index(g));
    }
  }
  thread_local DependencySets depends;  // build() calls no user code: no reentry
  if (!depends.build(tape, first_leaf, n, wanted, 64 * (tape.size() + n))) {
    return HessianSparsity::dense(n);
  }
  return pattern_of_rows(gradient, [&](std::size_t entry, std::vector<std::uint32_t>& columns) {
    const auto row = depends.of(entry);
    columns.insert(columns.end(), row.begin(), row.end());
  });
}

/// The sparsity pattern of f's Hessian at x (pattern_of_recorded_gradient).
template <class T, class F>
HessianSparsity detect_hessian_sparsity(F& f, std::span<const T> x) {
  HessianSparsity pattern;
  with_gradient_recorded<T>(f, x,
                            [&](std::span<const Var<T>> leaves, std::span<const Var<T>> gradient) {
                              pattern = pattern_of_recorded_gradient(leaves, gradient);
                            });
  return pattern;
}

/// Directional derivatives of every entry of a recording along `lanes`
/// directions at once: entry e's tangent is the sum over its operands k of
/// partial_k times operand k's tangent, entry by entry upwards (an entry's
/// operands lie below it). An entry without operands gets seed(e): the
/// seeds of the inputs, zero for other leaves.
template <std::size_t lanes, class T, class Seed>
void sweep_tangents_forward(const RecordingView<T>& view, std::span<std::array<T, lanes>> tangent,
                            Seed&& seed) {
  using Tangent = std::array<T, lanes>;
  // The cursors as pointers, as in the reverse sweep, and the commonest
  // shapes spelled out with their operand counts: the sums are the general
  // case's, term by term in operand order, from 0.
  const std::uint32_t* operand = view.operand_index;
  const T* partial = view.operand_partial;
  const std::uint32_t* wide_count = view.wide_count;
  const auto stored = [&]<std::size_t... k>(std::index_sequence<k...>) {
    Tangent sum{};
    for (std::size_t l = 0; l < lanes; ++l) {
      ((sum[l] += partial[k] * tangent[operand[k]][l]), ...);
    }
    operand += sizeof...(k);
    partial += sizeof...(k);
    return sum;
  };
  const auto unit = [&]<std::size_t... k>(bool negated_last, std::index_sequence<k...>) {
    constexpr std::size_t last = sizeof...(k) - 1;
    Tangent sum{};
    for (std::size_t l = 0; l < lanes; ++l) {
      ((negated_last && k == last ? sum[l] -= tangent[operand[k]][l]
                                  : sum[l] += tangent[operand[k]][l]),
       ...);
    }
    operand += sizeof...(k);
    return sum;
  };
  for (std::size_t e = 0; e < view.entries; ++e) {
    const unsigned code = view.shape_of(e);
    switch (code) {
      case 0:
        tangent[e] = seed(e);
        continue;
      case shape::stored(1):
        tangent[e] = stored(std::make_index_sequence<1>{});
        continue;
      case shape::stored(2):
        tangent[e] = stored(std::make_index_sequence<2>{});
        continue;
      case shape::unit | 1:
        tangent[e] = unit(false, std::make_index_sequence<1>{});
        continue;
      case shape::unit | 2:
        tangent[e] = unit(false, std::make_index_sequence<2>{});
        continue;
      case shape::unit | shape::negated_last | 1:
        tangent[e] = unit(true, std::make_index_sequence<1>{});
        continue;
      case shape::unit | shape::negated_last | 2:
        tangent[e] = unit(true, std::make_index_sequence<2>{});
        continue;
      default:
        break;
    }
    // Three stored operands, or wide.
    std::size_t count = shape_steps.operands[code];
    if (count == ShapeSteps::wide) {
      count = *wide_count++;
    }
    Tangent sum{};
    if ((code & shape::unit) != 0) {
      const std::size_t added = (code & shape::negated_last) != 0 ? count - 1 : count;
      for (std::size_t k = 0; k < added; ++k) {
        for (std::size_t l = 0; l < lanes; ++l) {
          sum[l] += tangent[operand[k]][l];
        }
      }
      for (std::size_t k = added; k < count; ++k) {
        for (std::size_t l = 0; l < lanes; ++l) {
          sum[l] -= tangent[operand[k]][l];
        }
      }
    } else {
      for (std::size_t k = 0; k < count; ++k) {
        for (std::size_t l = 0; l < lanes; ++l) {
          sum[l] += partial[k] * tangent[operand[k]][l];
        }
      }
      partial += count;
    }
    operand += count;
    tangent[e] = sum;
  }
}

/// The Hessian of f at x from one recording of its gradient
/// (with_gradient_recorded): the sparsity pattern read from that recording
/// (pattern_of_recorded_gradient), and then H as the Jacobian of the
/// recorded gradient, column by colour: forward sweeps over the same
/// recording whose inputs are seeded with the sum of a colour's unit
/// vectors, four colours a sweep. Calls write(i, j, H(i, j)) for each
/// position of the pattern and returns it.
template <class T, class F, class Write>
HessianSparsity hessian_of_recorded_gradient(F& f, std::span<const T> x, Write&& write) {
  constexpr std::size_t lanes = 4;
  const std::size_t n = x.size();
  HessianSparsity pattern;
  with_gradient_recorded<T>(
      f, x, [&](std::span<const Var<T>> leaves, std::span<const Var<T>> gradient) {
        pattern = pattern_of_recorded_gradient(leaves, gradient);
        if (n == 0) {
          return;
        }
        const RecordingView<T> view = RecordingReader::view(Tape<T>::current());
        thread_local std::vector<std::array<T, lanes>> tangents;  // no user code runs meanwhile
        tangents.resize(view.entries);
        const std::span<std::array<T, lanes>> tangent(tangents);
        const std::size_t first_leaf = EntryOf<T>::index(leaves[0]);
        for (std::size_t first = 0; first < pattern.colours(); first += lanes) {
          const auto lane = [&](std::size_t j) { return pattern.colour_of(j) - first; };
          sweep_tangents_forward<lanes>(view, tangent, [&](std::size_t e) {
            std::array<T, lanes> seed{};
            if (e - first_leaf < n && lane(e - first_leaf) < lanes) {
              seed[lane(e - first_leaf)] = T(1);  // input e - first_leaf, seeded with its colour
            }
            return seed;
          });
          for (std::size_t i = 0; i < n; ++i) {
            // A constant component of the gradient has a zero row (its positions
            // come from the pattern's symmetry only).
            const std::array<T, lanes>* row =
                gradient[i].is_constant() ? nullptr : &tangent[EntryOf<T>::index(gradient[i])];
            for (const std::uint32_t j : pattern.row(i)) {
              if (lane(j) < lanes) {
                write(i, j, row != nullptr ? (*row)[lane(j)] : T(0));
              }
            }
          }
        }
      });
  return pattern;
}

/// Evaluates the Hessian of f at x on `pattern`'s positions, calling
/// write(i, j, H(i, j)) for each: per colour, f recorded on Var<Dual<T>>s
/// whose tangents are the sum of that colour's unit vectors, and one reverse
/// sweep, whose gradient's tangents are H times that sum (an hvp). Several
/// colours per pass, on Dual<T, N> with N > 1, cost as much per colour as
/// one per pass in functional_bench, and waste lanes where the colours do
/// not fill the last pass.
template <class T, class F, class Write>
void hessian_on_pattern(F& f, std::span<const T> x, const HessianSparsity& pattern, Write&& write) {
  constexpr std::size_t N = 1;  // one colour per pass: see the comment above
  using D = Dual<T, N>;
  require_forward_over_reverse_function<T, F, D>();
  const std::size_t n = x.size();
  require_same_size("hessian", "the sparsity pattern", pattern.size(), "x", n);
  std::vector<D> point(n);
  for (std::size_t first = 0; first < pattern.colours(); first += N) {
    const auto lane = [&](std::size_t j) { return pattern.colour_of(j) - first; };
    for (std::size_t j = 0; j < n; ++j) {
      point[j] = D(x[j]);
      if (lane(j) < N) {
        point[j].tangent(lane(j)) = T(1);
      }
    }
    Lease<D> lease;
    const std::span<const Var<D>> leaves = lease.record_leaves(point);
    f(leaves).backward();
    for (std::size_t i = 0; i < n; ++i) {
      const D g = leaves[i].grad();
      for (const std::uint32_t j : pattern.row(i)) {
        if (lane(j) < N) {
          write(i, j, g.tangent(lane(j)));
        }
      }
    }
  }
}

}  // namespace detail

/// The Hessian of f at x times v, without forming the Hessian: forward over
/// reverse, f recorded once on Var<Dual<T>>s whose tangents are v, and one
/// reverse sweep, whose gradient's tangents are H v.
template <class F, detail::Point X, detail::Point V, class T = detail::PointElement<X>>
std::vector<T> hvp(F&& f, const X& x, const V& v) {
  static_assert(std::is_same_v<detail::PointElement<V>, T>,
                "tinygrad::hvp: x and v must have the same element type");
  detail::require_forward_over_reverse_function<T, F, Dual<T>>();
  const detail::SeededPoint<T> seeded("hvp", std::span<const T>(x), v);
  std::vector<T> result(seeded.duals().size());
  detail::Lease<Dual<T>> lease;
  const std::span<const Var<Dual<T>>> leaves = lease.record_leaves(seeded.duals());
  f(leaves).backward();
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    result[i] = leaves[i].grad().tangent();
  }
  return result;
}

/// The sparsity pattern of f's Hessian at x, and a colouring of its columns
/// (sparsity.hpp), from one recording of f's gradient. Valid wherever f
/// takes the branches it takes at x: keep it and pass it to
/// sparse_hessian(f, x, pattern) to skip the detection at later points.
template <class F, detail::Point X, class T = detail::PointElement<X>>
HessianSparsity hessian_sparsity(F&& f, const X& x) {
  return detail::detect_hessian_sparsity<T>(f, std::span<const T>(x));
}

/// The Hessian of f at x on the positions of `pattern` (hessian_sparsity of
/// f at a point where f takes the same branches as at x): one
/// Hessian-vector product per colour of the pattern.
/// Throws std::invalid_argument if the pattern's order is not x's size.
template <class F, detail::Point X, class T = detail::PointElement<X>>
SparseHessian<T> sparse_hessian(F&& f, const X& x, const HessianSparsity& pattern) {
  SparseHessian<T> result;
  result.size = pattern.size();
  result.entries.reserve(pattern.nonzeros());
  detail::hessian_on_pattern<T>(f, std::span<const T>(x), pattern,
                                [&](std::size_t i, std::size_t j, T value) {
                                  result.entries.push_back({i, j, value});
                                });
  detail::order_by_pattern(result.entries, pattern);
  return result;
}

/// The Hessian of f at x in coordinate form: f's gradient recorded once,
/// its sparsity detected in that recording, and the entries formed from it
/// by forward sweeps, four colours a sweep.
template <class F, detail::Point X, class T = detail::PointElement<X>>
SparseHessian<T> sparse_hessian(F&& f, const X& x) {
  SparseHessian<T> result;
  const HessianSparsity pattern = detail::hessian_of_recorded_gradient<T>(
      f, std::span<const T>(x), [&](std::size_t i, std::size_t j, T value) {
        result.entries.push_back({i, j, value});
      });
  result.size = pattern.size();
  detail::order_by_pattern(result.entries, pattern);
  return result;
}

/// The Hessian of f at x: an n x n Matrix. From 9 columns on, f's gradient
/// is recorded once (on Var<Var<T>>, the outer sweep recording on the inner
/// tape), the Hessian's sparsity is detected in that recording, and H is
/// the Jacobian of the recorded gradient, formed by forward sweeps over it,
/// one tangent per colour of the pattern (3 for a tridiagonal Hessian, n
/// for a dense one), four a sweep. Below 9 columns, one Hessian-vector
/// product (forward over reverse) per column. Exact through every
/// elementary function and built-in policy.
template <class F, detail::Point X, class T = detail::PointElement<X>>
Matrix<T> hessian(F&& f, const X& x) {
  const std::span<const T> point(x);
  Matrix<T> result(point.size(), point.size());
  const auto write = [&](std::size_t i, std::size_t j, T value) { result(i, j) = value; };
  // For so few columns the nested recording of the gradient costs more than
  // one hvp per column.
  constexpr std::size_t nesting_pays_from = 9;
  if (point.size() < nesting_pays_from) {
    detail::hessian_on_pattern<T>(f, point, HessianSparsity::dense(point.size()), write);
  } else {
    detail::hessian_of_recorded_gradient<T>(f, point, write);
  }
  return result;
}

/// What gradcheck() found, coordinate by coordinate.
template <class T>
struct GradcheckReport {
  bool ok = true;
  T max_abs_error = 0;
  T max_rel_error = 0;
  std::size_t worst_index = 0;  ///< the coordinate whose error is largest against its tolerance
  T relative_tolerance = 0;
  T absolute_tolerance = 0;
  std::vector<T> analytic;  ///< reverse-mode gradient
  std::vector<T> numeric;   ///< central finite differences
  std::vector<T> abs_error;
  std::vector<T> rel_error;
};

/// Tolerances for gradcheck(). The defaults suit central differences with
/// the step gradcheck chooses: 100 sqrt(epsilon) of T (1.5e-6 for double,
/// 3.5e-2 for float), relative and absolute.
template <class T>
struct GradcheckOptions {
  T relative_tolerance = 100 * std::sqrt(std::numeric_limits<T>::epsilon());
  T absolute_tolerance = 100 * std::sqrt(std::numeric_limits<T>::epsilon());
};

/// Compares the reverse-mode gradient of f at x with central finite
/// differences. Coordinate i passes when |analytic - numeric| <=
/// absolute_tolerance + relative_tolerance * |numeric|. The step for
/// coordinate i is cbrt(epsilon) * max(1, |x_i|), which balances truncation
/// against rounding error for central differences.
template <class F, detail::Point X, class T = detail::PointElement<X>>
GradcheckReport<T> gradcheck(F&& f, const X& x, GradcheckOptions<T> options = {}) {
  detail::require_scalar_function<T, F>();
  GradcheckReport<T> report;
  report.relative_tolerance = options.relative_tolerance;
  report.absolute_tolerance = options.absolute_tolerance;
  report.analytic = gradient(f, x);
  std::vector<T> point(std::ranges::begin(x), std::ranges::end(x));
  const auto value_at = [&] {
    return detail::with_recording<T>(
        f, std::span<const T>(point),
        [](std::span<const Var<T>>, const Var<T>& y) { return y.value(); });
  };
  const T cbrt_epsilon = std::cbrt(std::numeric_limits<T>::epsilon());
  T worst_badness = 0;
  for (std::size_t i = 0; i < point.size(); ++i) {
    const T x_i = point[i];
    const T h = cbrt_epsilon * std::max(T(1), std::abs(x_i));
    point[i] = x_i + h;
    const T forward = value_at();
    const T step_up = point[i] - x_i;  // the step actually taken, after rounding
    point[i] = x_i - h;
    const T backward = value_at();
    const T step_down = x_i - point[i];
    point[i] = x_i;
    const T numeric = (forward - backward) / (step_up + step_down);
    const T analytic = report.analytic[i];
    const T abs_error = std::abs(analytic - numeric);
    const T scale = std::max(std::abs(analytic), std::abs(numeric));
    const T rel_error = scale == 0 ? T(0) : abs_error / scale;
    report.numeric.push_back(numeric);
    report.abs_error.push_back(abs_error);
    report.rel_error.push_back(rel_error);
    report.max_abs_error = std::max(report.max_abs_error, abs_error);
    report.max_rel_error = std::max(report.max_rel_error, rel_error);
    // The worst coordinate is the one with the largest error relative to
    // what it is allowed; NaN counts as infinitely bad.
    const T allowed = options.absolute_tolerance + options.relative_tolerance * std::abs(numeric);
    const T badness = abs_error == 0                          ? T(0)
                      : std::isnan(abs_error) || allowed == 0 ? std::numeric_limits<T>::infinity()
                                                              : abs_error / allowed;
    if (i == 0 || badness > worst_badness) {
      worst_badness = badness;
      report.worst_index = i;
    }
    if (!(abs_error <= allowed)) {
      report.ok = false;
    }
  }
  return report;
}

/// Prints the verdict, the largest errors and every coordinate.
template <class T>
std::ostream& operator<<(std::ostream& out, const GradcheckReport<T>& report) {
  const auto flags = out.flags();
  const auto precision = out.precision();
  out << "gradcheck: " << (report.ok ? "passed" : "FAILED") << " (" << report.analytic.size()
      << " coordinates, max abs error " << report.max_abs_error << ", max rel error "
      << report.max_rel_error << ", tolerance abs " << report.absolute_tolerance << " + rel "
      << report.relative_tolerance << ")\n";
  out << std::setw(8) << "index" << std::setw(16) << "analytic" << std::setw(16) << "numeric"
      << std::setw(12) << "abs error" << std::setw(12) << "rel error" << '\n';
  for (std::size_t i = 0; i < report.analytic.size(); ++i) {
    out << std::setw(8) << i << std::setprecision(8) << std::setw(16) << report.analytic[i]
        << std::setw(16) << report.numeric[i] << std::setprecision(3) << std::setw(12)
        << report.abs_error[i] << std::setw(12) << report.rel_error[i]
        << (!report.ok && i == report.worst_index ? "  <- worst" : "") << '\n';
  }
  out.flags(flags);
  out.precision(precision);
  return out;
}

}  // namespace tinygrad
