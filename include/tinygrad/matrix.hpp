// SPDX-License-Identifier: MIT
#pragma once

// Matrix<T>: the dense row-major matrix of values that the functional API's
// jacobian and hessian, and a trace's jacobian, return.

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tinygrad {

/// A dense matrix of values, row-major: what jacobian and hessian return, so
/// that the shape travels with the values. A contiguous range of its values
/// (row 0 first), so the standard algorithms and the library's range
/// functions take it as they take a std::vector.
template <class T>
class Matrix {
 public:
  Matrix() = default;
  /// rows x cols zeros.
  Matrix(std::size_t rows, std::size_t cols) : rows_(rows), cols_(cols), values_(rows * cols) {}

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
  [[nodiscard]] bool empty() const noexcept { return values_.empty(); }

  /// The entry in row i, column j (unchecked, as std::vector's []).
  [[nodiscard]] T& operator()(std::size_t i, std::size_t j) noexcept {
    return values_[i * cols_ + j];
  }
  [[nodiscard]] const T& operator()(std::size_t i, std::size_t j) const noexcept {
    return values_[i * cols_ + j];
  }
  /// The same, checked: std::out_of_range outside the matrix.
  [[nodiscard]] const T& at(std::size_t i, std::size_t j) const {
    if (i >= rows_ || j >= cols_) {
      throw std::out_of_range("tinygrad::Matrix::at(" + std::to_string(i) + ", " +
                              std::to_string(j) + ") of a " + std::to_string(rows_) + " x " +
                              std::to_string(cols_) + " matrix");
    }
    return (*this)(i, j);
  }

  /// Row i, as a span of cols() values.
  [[nodiscard]] std::span<T> row(std::size_t i) noexcept {
    return {values_.data() + i * cols_, cols_};
  }
  [[nodiscard]] std::span<const T> row(std::size_t i) const noexcept {
    return {values_.data() + i * cols_, cols_};
  }

  /// Every value, row-major.
  [[nodiscard]] const std::vector<T>& values() const noexcept { return values_; }
  [[nodiscard]] T* data() noexcept { return values_.data(); }
  [[nodiscard]] const T* data() const noexcept { return values_.data(); }
  [[nodiscard]] auto begin() noexcept { return values_.begin(); }
  [[nodiscard]] auto end() noexcept { return values_.end(); }
  [[nodiscard]] auto begin() const noexcept { return values_.begin(); }
  [[nodiscard]] auto end() const noexcept { return values_.end(); }

  friend bool operator==(const Matrix&, const Matrix&) = default;

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<T> values_;
};

}  // namespace tinygrad
