// SPDX-License-Identifier: MIT
#pragma once

// The sparsity pattern of a Hessian and a colouring of its columns: what
// lets hessian() and sparse_hessian() (functional.hpp, and a Trace's in
// trace.hpp) form a Hessian from one Hessian-vector product per colour
// instead of one per column. The pattern of Rosenbrock's function is
// tridiagonal and needs 3 colours, whatever its dimension. SparseHessian is
// the coordinate form they return.

#include <tinygrad/matrix.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tinygrad {

namespace detail {
/// Marks rows that are symmetric, ascending and without repeats already.
struct SymmetricRows {
  explicit SymmetricRows() = default;
};
}  // namespace detail

/// A symmetric n x n sparsity pattern, the positions (i, j) where a Hessian
/// may be nonzero, and a colouring of its columns in which no two columns of
/// one colour have a nonzero in the same row. H times the sum of a colour's
/// unit vectors then holds each of those columns' entries unmixed: row i of
/// the product is H(i, j) for the one column j of that colour that row i
/// has.
class HessianSparsity {
 public:
  /// The empty pattern of a function of no variables.
  HessianSparsity() = default;

  /// The pattern whose row i has nonzeros at the columns rows[i] (in any
  /// order; repeats count once), made symmetric: (j, i) wherever (i, j).
  /// Throws std::invalid_argument for a column index >= rows.size().
  explicit HessianSparsity(const std::vector<std::vector<std::uint32_t>>& rows) {
    std::vector<std::size_t> begin{0};
    std::vector<std::uint32_t> columns;
    for (const std::vector<std::uint32_t>& row : rows) {
      columns.insert(columns.end(), row.begin(), row.end());
      begin.push_back(columns.size());
    }
    *this = HessianSparsity(begin, columns);
  }

  /// The same from compressed rows: row i's columns are
  /// columns[row_begin[i], row_begin[i + 1]), for n = row_begin.size() - 1
  /// rows. Throws std::invalid_argument for a column index >= n or
  /// row_begin not ascending from 0 to columns.size().
  HessianSparsity(std::span<const std::size_t> row_begin, std::span<const std::uint32_t> columns)
      : n_(row_begin.empty() ? 0 : row_begin.size() - 1) {
    if (row_begin.empty() || row_begin.front() != 0 || row_begin.back() != columns.size() ||
        !std::is_sorted(row_begin.begin(), row_begin.end())) {
      throw std::invalid_argument(
          "tinygrad::HessianSparsity: row_begin must rise from 0 to the number of columns");
    }
    // Symmetric: each (i, j) also as (j, i). Count, place, then sort and
    // drop repeats row by row.
    std::vector<std::size_t> count(n_ + 1, 0);
    for (std::size_t i = 0; i < n_; ++i) {
      for (std::size_t k = row_begin[i]; k < row_begin[i + 1]; ++k) {
        const std::uint32_t j = columns[k];
        if (j >= n_) {
          throw std::invalid_argument("tinygrad::HessianSparsity: row " + std::to_string(i) +
                                      " names column " + std::to_string(j) + " of a " +
                                      std::to_string(n_) + " x " + std::to_string(n_) + " pattern");
        }
        ++count[i + 1];
        ++count[j + 1];
      }
    }
    for (std::size_t i = 0; i < n_; ++i) {
      count[i + 1] += count[i];
    }
    std::vector<std::uint32_t> both(count[n_]);
    std::vector<std::size_t> next(count.begin(), count.end() - 1);
    for (std::size_t i = 0; i < n_; ++i) {
      for (std::size_t k = row_begin[i]; k < row_begin[i + 1]; ++k) {
        const std::uint32_t j = columns[k];
        both[next[i]++] = j;
        both[next[j]++] = static_cast<std::uint32_t>(i);
      }
    }
    row_begin_.reserve(n_ + 1);
    column_.reserve(both.size());
    for (std::size_t i = 0; i < n_; ++i) {
      const auto first = both.begin() + static_cast<std::ptrdiff_t>(count[i]);
      const auto last = both.begin() + static_cast<std::ptrdiff_t>(count[i + 1]);
      std::sort(first, last);
      column_.insert(column_.end(), first, std::unique(first, last));
      row_begin_.push_back(column_.size());
    }
    colour_columns();
  }

  /// For the library's own passes (functional.hpp), which build their rows
  /// symmetric, ascending and without repeats: moved in without the checks,
  /// the symmetrising and the sort of the constructor above.
  HessianSparsity(detail::SymmetricRows /*unused*/, std::vector<std::size_t> row_begin,
                  std::vector<std::uint32_t> columns)
      : n_(row_begin.size() - 1), row_begin_(std::move(row_begin)), column_(std::move(columns)) {
    colour_columns();
  }

  /// Every position: the pattern of a dense Hessian, one colour per column.
  static HessianSparsity dense(std::size_t n) {
    HessianSparsity pattern;
    pattern.n_ = n;
    pattern.row_begin_.reserve(n + 1);
    pattern.column_.reserve(n * n);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        pattern.column_.push_back(static_cast<std::uint32_t>(j));
      }
      pattern.row_begin_.push_back(pattern.column_.size());
    }
    pattern.colour_.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      pattern.colour_[j] = static_cast<std::uint32_t>(j);
    }
    pattern.colours_ = n;
    return pattern;
  }

  /// n, the Hessian's order.
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  /// How many positions the pattern has (both triangles and the diagonal).
  [[nodiscard]] std::size_t nonzeros() const noexcept { return column_.size(); }
  /// The columns of row i's positions, ascending.
  [[nodiscard]] std::span<const std::uint32_t> row(std::size_t i) const noexcept {
    return {column_.data() + row_begin_[i], row_begin_[i + 1] - row_begin_[i]};
  }
  /// How many colours the columns have: the Hessian-vector products needed.
  [[nodiscard]] std::size_t colours() const noexcept { return colours_; }
  /// The colour of column j, below colours().
  [[nodiscard]] std::uint32_t colour_of(std::size_t j) const noexcept { return colour_[j]; }

  friend bool operator==(const HessianSparsity&, const HessianSparsity&) = default;

 private:
  /// Greedy, column by column: the smallest colour that no column sharing a
  /// row with this one has yet. Columns j and k share a row where the
  /// pattern has (i, j) and (i, k); the pattern is symmetric, so the rows
  /// with a position in column j are row j's columns. O(sum of row
  /// lengths squared); a full pattern takes its shortcut above.
  void colour_columns() {
    colour_.assign(n_, 0);
    colours_ = 0;
    if (nonzeros() == n_ * n_) {
      *this = dense(n_);
      return;
    }
    std::vector<std::size_t> taken_by(
        n_, std::numeric_limits<std::size_t>::max());  // taken_by[c] == j: column j may not use
                                                       // colour c
    for (std::size_t j = 0; j < n_; ++j) {
      for (const std::uint32_t i : row(j)) {
        for (const std::uint32_t k : row(i)) {
          if (k < j) {
            taken_by[colour_[k]] = j;
          }
        }
      }
      std::uint32_t c = 0;
      while (taken_by[c] == j) {
        ++c;
      }
      colour_[j] = c;
      colours_ = std::max<std::size_t>(colours_, c + 1);
    }
  }

  std::size_t n_ = 0;
  std::vector<std::size_t> row_begin_{
      0};  // row i's columns: column_[row_begin_[i], row_begin_[i + 1])
  std::vector<std::uint32_t> column_;
  std::vector<std::uint32_t> colour_;
  std::size_t colours_ = 0;
};

/// One nonzero of a sparse matrix: row, column, value.
template <class T>
struct SparseEntry {
  std::size_t row;
  std::size_t col;
  T value;
};

/// A Hessian in coordinate form: an entry for every position of its
/// sparsity pattern (both triangles, row by row), as sparse solvers take it
/// (Eigen's setFromTriplets; to_eigen in eigen.hpp).
template <class T>
struct SparseHessian {
  std::size_t size = 0;  ///< n: the Hessian is n x n
  std::vector<SparseEntry<T>> entries;

  /// The same Hessian as a dense n x n Matrix.
  [[nodiscard]] Matrix<T> to_dense() const {
    Matrix<T> dense(size, size);
    for (const SparseEntry<T>& e : entries) {
      dense(e.row, e.col) = e.value;
    }
    return dense;
  }
};

namespace detail {

/// Sorted sets of indices (the inputs something depends on) in one pool, as
/// the Hessians' sparsity detection builds them (functional.hpp from a
/// recording, detail/trace_hessian.hpp from a trace). A set is a range of
/// the pool; a union that adds nothing to one of its sets is that set, so
/// a chain of operations stores nothing new. The pool keeps its capacity
/// across clear().
class IndexSets {
 public:
  struct Set {
    std::size_t begin = 0;
    std::size_t size = 0;
  };

  void clear() noexcept { pool_.clear(); }
  /// Indices held in all.
  [[nodiscard]] std::size_t size() const noexcept { return pool_.size(); }

  /// The set {i}.
  Set single(std::uint32_t i) {
    pool_.push_back(i);
    return {pool_.size() - 1, 1};
  }

  /// The union of two sets: one of them if it holds the other.
  Set merge(Set a, Set b) {
    if (b.size == 0 || (a.begin == b.begin && a.size == b.size)) {
      return a;
    }
    if (a.size == 0) {
      return b;
    }
    const std::size_t begin = pool_.size();
    std::size_t i = a.begin;
    std::size_t j = b.begin;
    const std::size_t a_end = a.begin + a.size;
    const std::size_t b_end = b.begin + b.size;
    // pool_ grows (and may move) while the merge appends to it: indices only.
    while (i < a_end && j < b_end) {
      const std::uint32_t u = pool_[i];
      const std::uint32_t w = pool_[j];
      i += u <= w ? 1 : 0;
      j += w <= u ? 1 : 0;
      pool_.push_back(u <= w ? u : w);
    }
    for (; i < a_end; ++i) {
      const std::uint32_t u = pool_[i];
      pool_.push_back(u);
    }
    for (; j < b_end; ++j) {
      const std::uint32_t w = pool_[j];
      pool_.push_back(w);
    }
    const Set merged{begin, pool_.size() - begin};
    if (merged.size == a.size) {  // b was within a: keep a, drop the copy
      pool_.resize(begin);
      return a;
    }
    if (merged.size == b.size) {
      pool_.resize(begin);
      return b;
    }
    return merged;
  }

  [[nodiscard]] std::span<const std::uint32_t> of(Set s) const noexcept {
    return {pool_.data() + s.begin, s.size};
  }

 private:
  std::vector<std::uint32_t> pool_;
};

/// A set of at most 64 * words indices, as bits: the sparsity detections'
/// sets below a few hundred inputs, where a union costs `words` ORs and
/// no allocation, against a sorted set's per-element merge.
template <std::size_t words>
using BitSet = std::array<std::uint64_t, words>;

/// Calls visit(j) for each index j in `set`, ascending.
template <std::size_t words, class Visit>
void for_each_index(const BitSet<words>& set, Visit&& visit) {
  for (std::size_t w = 0; w < words; ++w) {
    for (std::uint64_t bits = set[w]; bits != 0; bits &= bits - 1) {
      visit(64 * w + static_cast<std::size_t>(std::countr_zero(bits)));
    }
  }
}

/// The pattern whose row i holds the columns in rows[i], made symmetric on
/// the bits (row j gets column i wherever row i has column j), so that the
/// rows read out ascending, symmetric and without repeats (SymmetricRows)
/// with no sort. `rows` is changed.
template <std::size_t words>
HessianSparsity pattern_of_bit_rows(std::span<BitSet<words>> rows) {
  const std::size_t n = rows.size();
  for (std::size_t i = 0; i < n; ++i) {
    for_each_index<words>(rows[i],
                          [&](std::size_t j) { rows[j][i / 64] |= std::uint64_t{1} << (i % 64); });
  }
  std::vector<std::size_t> row_begin{0};
  std::vector<std::uint32_t> columns;
  row_begin.reserve(n + 1);
  for (std::size_t i = 0; i < n; ++i) {
    for_each_index<words>(rows[i],
                          [&](std::size_t j) { columns.push_back(static_cast<std::uint32_t>(j)); });
    row_begin.push_back(columns.size());
  }
  return {SymmetricRows{}, std::move(row_begin), std::move(columns)};
}

/// Puts `entries`, one for each position of `pattern` in any order, in row
/// order and in column order within a row (SparseHessian's order). Each
/// entry goes straight to its place, its row's offset plus its column's rank
/// in the row (rows are ascending): linear in the entries where a sort
/// would cost their logarithm too, which grows with the Hessian's order.
/// Entries written row by row already (a Hessian formed in one pass) stay
/// as they are.
template <class T>
void order_by_pattern(std::vector<SparseEntry<T>>& entries, const HessianSparsity& pattern) {
  const auto before = [](const SparseEntry<T>& a, const SparseEntry<T>& b) {
    return a.row != b.row ? a.row < b.row : a.col < b.col;
  };
  if (std::is_sorted(entries.begin(), entries.end(), before)) {
    return;
  }
  assert(entries.size() == pattern.nonzeros() && "one entry per position of the pattern");
  std::vector<std::size_t> offset(pattern.size());
  std::size_t positions = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    offset[i] = positions;
    positions += pattern.row(i).size();
  }
  std::vector<SparseEntry<T>> ordered(entries.size());
  for (const SparseEntry<T>& e : entries) {
    const std::span<const std::uint32_t> row = pattern.row(e.row);
    const auto rank = std::lower_bound(row.begin(), row.end(), e.col) - row.begin();
    ordered[offset[e.row] + static_cast<std::size_t>(rank)] = e;
  }
  entries = std::move(ordered);
}

}  // namespace detail

}  // namespace tinygrad
