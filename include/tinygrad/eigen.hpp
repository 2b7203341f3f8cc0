// SPDX-License-Identifier: MIT
#pragma once

// Eigen with Var<T> (and Dual<T>) scalars: Eigen::Matrix<Var<double>, ...> in expressions,
// products with plain matrices in either order, decompositions and printing;
// and the functional API on Eigen vectors and matrices. Eigen is the user's
// dependency, never tinygrad's: include this header only where Eigen is
// available (3.4 is tested). See docs/eigen.md.

#include <tinygrad/dual.hpp>
#include <tinygrad/functional.hpp>
#include <tinygrad/var.hpp>

#include <Eigen/Core>
#include <Eigen/SparseCore>

#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace Eigen {

/// What Eigen needs to know about Var<T> as a scalar. Its numeric limits are
/// T's, as constants (no tape entries). Literal is T: the numbers Eigen's
/// algorithms write into their formulas record as plain numbers do.
template <class T>
struct NumTraits<tinygrad::Var<T>> : NumTraits<T> {
  using Real = tinygrad::Var<T>;
  using NonInteger = tinygrad::Var<T>;
  using Nested = tinygrad::Var<T>;
  using Literal = T;

  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    // Default construction is cheap (a constant, no entry) but not nothing.
    RequireInitialization = 1,
    ReadCost = 1,
    // Every operation records an entry: more than T's arithmetic costs, so
    // that Eigen's cost model evaluates a nested expression once into a
    // temporary instead of recomputing (and re-recording) it per use.
    AddCost = 8,
    MulCost = 8,
  };

  static Real epsilon() { return tinygrad::constant(NumTraits<T>::epsilon()); }
  static Real dummy_precision() { return tinygrad::constant(NumTraits<T>::dummy_precision()); }
  static Real highest() { return tinygrad::constant(NumTraits<T>::highest()); }
  static Real lowest() { return tinygrad::constant(NumTraits<T>::lowest()); }
  static Real infinity() { return tinygrad::constant(NumTraits<T>::infinity()); }
  static Real quiet_NaN() { return tinygrad::constant(NumTraits<T>::quiet_NaN()); }
};

/// Var<T> with a plain number (T, or any arithmetic type as Var's operators
/// take), in either order, gives a Var<T>: `MatrixXd * VectorX<Var>`,
/// `x.array() * 2.0` and friends, as `Var<T> * double` does; for a
/// Var<Var<double>> (hessian) too.
template <class T, tinygrad::detail::Scalar S, class BinaryOp>
struct ScalarBinaryOpTraits<tinygrad::Var<T>, S, BinaryOp> {
  using ReturnType = tinygrad::Var<T>;
};
template <class T, tinygrad::detail::Scalar S, class BinaryOp>
struct ScalarBinaryOpTraits<S, tinygrad::Var<T>, BinaryOp> {
  using ReturnType = tinygrad::Var<T>;
};

/// Dual<T, N> as a scalar (forward mode: jacobian by columns; hvp, and the
/// Hessians formed from hvps, on Var<Dual<T>>): T's limits as constants,
/// and an operation costs about N + 1 of T's.
template <class T, std::size_t N>
struct NumTraits<tinygrad::Dual<T, N>> : NumTraits<T> {
  using Real = tinygrad::Dual<T, N>;
  using NonInteger = tinygrad::Dual<T, N>;
  using Nested = tinygrad::Dual<T, N>;
  using Literal = T;

  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = static_cast<int>(N) + 1,
    AddCost = static_cast<int>(N) + 1,
    MulCost = 2 * static_cast<int>(N) + 1,
  };

  static Real epsilon() { return Real(NumTraits<T>::epsilon()); }
  static Real dummy_precision() { return Real(NumTraits<T>::dummy_precision()); }
  static Real highest() { return Real(NumTraits<T>::highest()); }
  static Real lowest() { return Real(NumTraits<T>::lowest()); }
  static Real infinity() { return Real(NumTraits<T>::infinity()); }
  static Real quiet_NaN() { return Real(NumTraits<T>::quiet_NaN()); }
};

/// Dual<T, N> with a plain number, in either order, gives a Dual<T, N>.
template <class T, std::size_t N, tinygrad::detail::Scalar S, class BinaryOp>
struct ScalarBinaryOpTraits<tinygrad::Dual<T, N>, S, BinaryOp> {
  using ReturnType = tinygrad::Dual<T, N>;
};
template <class T, std::size_t N, tinygrad::detail::Scalar S, class BinaryOp>
struct ScalarBinaryOpTraits<S, tinygrad::Dual<T, N>, BinaryOp> {
  using ReturnType = tinygrad::Dual<T, N>;
};

}  // namespace Eigen

namespace tinygrad {

/// A column vector of Vars, the type `f` receives from the functional API
/// when x is an Eigen vector (as a read-only Map of it; a parameter of type
/// `const VectorX<Var<T>>&` takes it too, by a copy that records nothing).
template <class T>
using VectorX = Eigen::Matrix<Var<T>, Eigen::Dynamic, 1>;

namespace detail {

/// An Eigen column vector of float, double or long double (an expression
/// too: it is evaluated once).
template <class D>
concept EigenVector = std::derived_from<D, Eigen::MatrixBase<D>> && D::ColsAtCompileTime == 1 &&
                      std::floating_point<typename D::Scalar>;

/// x evaluated into a plain vector, whose storage the span-based functions
/// read.
template <class D>
Eigen::Matrix<typename D::Scalar, Eigen::Dynamic, 1> evaluated(const Eigen::MatrixBase<D>& x) {
  return x;
}

template <class T>
std::span<const T> as_span(const Eigen::Matrix<T, Eigen::Dynamic, 1>& x) {
  return {x.data(), static_cast<std::size_t>(x.size())};
}

/// The Vars of a span as the Eigen column f receives.
template <class V>
Eigen::Map<const Eigen::Matrix<V, Eigen::Dynamic, 1>> as_eigen(std::span<const V> x) {
  return {x.data(), static_cast<Eigen::Index>(x.size())};
}

/// f as the span-based functional API calls it: the leaves as an Eigen
/// column; a scalar result as a Var.
template <class F>
auto with_eigen_argument(F& f) {
  return [&f](auto leaves) {
    using V = typename decltype(leaves)::value_type;
    return V(f(as_eigen<V>(leaves)));
  };
}

/// f returning an Eigen vector of Vars (or an expression of one), as
/// jacobian calls it: the outputs as a std::vector.
template <class F>
auto with_eigen_argument_and_outputs(F& f) {
  return [&f](auto leaves) {
    using V = typename decltype(leaves)::value_type;
    const Eigen::Matrix<V, Eigen::Dynamic, 1> outputs = f(as_eigen<V>(leaves));
    return std::vector<V>(outputs.data(), outputs.data() + outputs.size());
  };
}

/// A vector of values as an Eigen column.
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, 1> to_eigen(const std::vector<T>& values) {
  return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(
      values.data(), static_cast<Eigen::Index>(values.size()));
}

/// A tinygrad::Matrix (row-major) as an Eigen matrix.
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> to_eigen(const Matrix<T>& m) {
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(m.data(), static_cast<Eigen::Index>(m.rows()),
                                    static_cast<Eigen::Index>(m.cols()));
}

}  // namespace detail

// The functional API at an Eigen vector x: f receives the variables as an
// Eigen column of Vars (write it as a generic lambda, `[](const auto& x)`),
// and the results are Eigen vectors and matrices.

/// The gradient of f at x.
template <class F, detail::EigenVector D, class T = typename D::Scalar>
Eigen::Matrix<T, Eigen::Dynamic, 1> gradient(F&& f, const Eigen::MatrixBase<D>& x) {
  const auto point = detail::evaluated(x);
  Eigen::Matrix<T, Eigen::Dynamic, 1> out(point.size());
  auto g = detail::with_eigen_argument(f);
  gradient(g, detail::as_span(point),
           std::span<T>(out.data(), static_cast<std::size_t>(out.size())));
  return out;
}

/// f(x) and its gradient at x, from one recording.
template <class F, detail::EigenVector D, class T = typename D::Scalar>
std::pair<T, Eigen::Matrix<T, Eigen::Dynamic, 1>> value_and_gradient(
    F&& f, const Eigen::MatrixBase<D>& x) {
  const auto point = detail::evaluated(x);
  auto g = detail::with_eigen_argument(f);
  const auto [value, slope] = value_and_gradient(g, detail::as_span(point));
  return {value, detail::to_eigen(slope)};
}

/// The Jacobian of f at x, for f returning an Eigen vector of m Vars: an
/// m x n matrix whose row i is the gradient of output i.
template <class F, detail::EigenVector D, class T = typename D::Scalar>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> jacobian(F&& f, const Eigen::MatrixBase<D>& x) {
  const auto point = detail::evaluated(x);
  auto g = detail::with_eigen_argument_and_outputs(f);
  return detail::to_eigen(jacobian(g, detail::as_span(point)));
}

/// The Hessian of f at x: an n x n matrix (f receives Var<Var<T>>s, and
/// below 9 columns Var<Dual<T>>s, as functional.hpp's hessian).
template <class F, detail::EigenVector D, class T = typename D::Scalar>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> hessian(F&& f, const Eigen::MatrixBase<D>& x) {
  const auto point = detail::evaluated(x);
  auto g = detail::with_eigen_argument(f);
  return detail::to_eigen(hessian(g, detail::as_span(point)));
}

/// The Hessian of f at x times v, without forming the Hessian.
template <class F, detail::EigenVector D, detail::EigenVector E, class T = typename D::Scalar>
Eigen::Matrix<T, Eigen::Dynamic, 1> hvp(F&& f, const Eigen::MatrixBase<D>& x,
                                        const Eigen::MatrixBase<E>& v) {
  static_assert(std::is_same_v<typename E::Scalar, T>,
                "tinygrad::hvp: x and v must have the same scalar type");
  auto g = detail::with_eigen_argument(f);
  return detail::to_eigen(
      hvp(g, detail::as_span(detail::evaluated(x)), detail::as_span(detail::evaluated(v))));
}

/// A sparse Hessian (sparse_hessian) as an Eigen sparse matrix, both
/// triangles, for Eigen's sparse solvers (SimplicialLDLT, ConjugateGradient).
template <class T>
Eigen::SparseMatrix<T> to_eigen(const SparseHessian<T>& h) {
  std::vector<Eigen::Triplet<T>> triplets;
  triplets.reserve(h.entries.size());
  for (const SparseEntry<T>& e : h.entries) {
    triplets.emplace_back(static_cast<Eigen::Index>(e.row), static_cast<Eigen::Index>(e.col),
                          e.value);
  }
  Eigen::SparseMatrix<T> matrix(static_cast<Eigen::Index>(h.size),
                                static_cast<Eigen::Index>(h.size));
  matrix.setFromTriplets(triplets.begin(), triplets.end());
  return matrix;
}

/// v^T J at x, for f returning an Eigen vector of m Vars and v of m values.
template <class F, detail::EigenVector D, detail::EigenVector E, class T = typename D::Scalar>
Eigen::Matrix<T, Eigen::Dynamic, 1> vjp(F&& f, const Eigen::MatrixBase<D>& x,
                                        const Eigen::MatrixBase<E>& v) {
  static_assert(std::is_same_v<typename E::Scalar, T>,
                "tinygrad::vjp: x and v must have the same scalar type");
  auto g = detail::with_eigen_argument_and_outputs(f);
  return detail::to_eigen(
      vjp(g, detail::as_span(detail::evaluated(x)), detail::as_span(detail::evaluated(v))));
}

}  // namespace tinygrad
