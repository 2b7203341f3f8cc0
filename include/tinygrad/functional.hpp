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

#include <tinygrad/var.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
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

/// The Jacobian of f at x, where f returns a range of m Var<T>: an m x n
/// Matrix whose row i is the gradient of output i. One recording, one
/// reverse sweep per output.
template <class F, detail::Point X, class T = detail::PointElement<X>>
Matrix<T> jacobian(F&& f, const X& x) {
  using Outputs = std::invoke_result_t<F&, std::span<const Var<T>>>;
  static_assert(std::ranges::sized_range<Outputs> &&
                    std::is_same_v<std::ranges::range_value_t<Outputs>, Var<T>>,
                "tinygrad::jacobian: f must take a std::span<const Var<T>> and return a sized "
                "range of Var<T> (such as std::vector<Var<T>>)");
  const std::span<const T> point(x);
  Matrix<T> result;
  detail::with_recording<T>(f, point, [&](std::span<const Var<T>> leaves, const Outputs& outputs) {
    result = Matrix<T>(std::ranges::size(outputs), leaves.size());
    detail::gradient_rows(outputs, leaves, std::span<T>(result.data(), result.size()));
  });
  return result;
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

namespace detail {

/// Records f at x twice nested: leaves on a Tape<T>, and Var<Var<T>> leaves
/// over them on a Tape<Var<T>>; sweeps the outer tape, whose arithmetic
/// records on the inner one, and passes the inner leaves and the gradient
/// (as Var<T>s: functions of the inner leaves) to `use`.
template <class T, class F, class Use>
void with_gradient_recorded(F& f, std::span<const T> x, Use&& use) {
  static_assert(
      std::is_same_v<std::invoke_result_t<F&, std::span<const Var<Var<T>>>>, Var<Var<T>>>,
      "tinygrad::hessian and hvp: f must accept a std::span<const Var<Var<T>>> and return a "
      "Var<Var<T>>: write it as a generic lambda, [](auto x) { ... }");
  Lease<T> inner;
  const std::span<const Var<T>> leaves = inner.record_leaves(x);
  std::vector<Var<T>> gradient(leaves.size());
  {
    Lease<Var<T>> outer;
    const std::span<const Var<Var<T>>> nested = outer.record_leaves(leaves);
    f(nested).backward();
    for (std::size_t i = 0; i < nested.size(); ++i) {
      gradient[i] = nested[i].grad();
    }
  }
  use(leaves, std::span<const Var<T>>(gradient));
}

}  // namespace detail

/// The Hessian of f at x: an n x n Matrix. Reverse over reverse: one
/// recording on Var<Var<T>>, one outer sweep (recorded), then one inner sweep
/// per row. Exact through every elementary function and built-in policy.
template <class F, detail::Point X, class T = detail::PointElement<X>>
Matrix<T> hessian(F&& f, const X& x) {
  const std::span<const T> point(x);
  const std::size_t n = point.size();
  Matrix<T> result(n, n);
  detail::with_gradient_recorded<T>(
      f, point, [&](std::span<const Var<T>> leaves, std::span<const Var<T>> gradient) {
        detail::gradient_rows(gradient, leaves, std::span<T>(result.data(), result.size()));
      });
  return result;
}

/// The Hessian of f at x times v, without forming the Hessian: the gradient
/// of (gradient . v), so one nested recording and two sweeps.
template <class F, detail::Point X, detail::Point V, class T = detail::PointElement<X>>
std::vector<T> hvp(F&& f, const X& x, const V& v) {
  static_assert(std::is_same_v<detail::PointElement<V>, T>,
                "tinygrad::hvp: x and v must have the same element type");
  const std::span<const T> point(x);
  const std::span<const T> direction(v);
  detail::require_same_size("hvp", "v", direction.size(), "x", point.size());
  std::vector<T> result(point.size());
  detail::with_gradient_recorded<T>(
      f, point, [&](std::span<const Var<T>> leaves, std::span<const Var<T>> gradient) {
        if (gradient.empty()) {
          return;
        }
        Var<T> gradient_dot_v = gradient[0] * direction[0];
        for (std::size_t i = 1; i < gradient.size(); ++i) {
          gradient_dot_v += gradient[i] * direction[i];
        }
        gradient_dot_v.backward();
        for (std::size_t i = 0; i < leaves.size(); ++i) {
          result[i] = leaves[i].grad();
        }
      });
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
