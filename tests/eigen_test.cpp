// SPDX-License-Identifier: MIT
// <tinygrad/eigen.hpp>: Var<double> as an Eigen scalar, and the functional
// API on Eigen vectors. Every gradient is checked against central finite
// differences of the same generic function evaluated on plain Eigen doubles.

#include <tinygrad/eigen.hpp>

#include <doctest/doctest.h>
#include <Eigen/Dense>
#include <Eigen/SparseCholesky>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;

namespace {

template <class S>
using VectorX = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <class S>
using MatrixX = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

template <class X>
using ScalarOf = typename std::remove_cvref_t<X>::Scalar;

// A fixed symmetric positive definite matrix and a point.
Eigen::MatrixXd spd() {
  Eigen::MatrixXd a(3, 3);
  a << 4.0, 1.0, 0.5,  //
      1.0, 3.0, 0.2,   //
      0.5, 0.2, 2.0;
  return a;
}

Eigen::VectorXd point() {
  Eigen::VectorXd x(3);
  x << 0.7, -0.4, 1.3;
  return x;
}

// K(x) = A + x x^T: symmetric positive definite, a function of every x_i.
template <class X>
MatrixX<ScalarOf<X>> k_of(const X& x) {
  using S = ScalarOf<X>;
  return (spd().cast<S>() + x * x.transpose()).eval();
}

// Central differences of f (a generic function) on plain doubles.
template <class F>
Eigen::VectorXd finite_difference_gradient(const F& f, const Eigen::VectorXd& x) {
  const double h = 1e-6;
  Eigen::VectorXd g(x.size());
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    Eigen::VectorXd up = x;
    Eigen::VectorXd down = x;
    up(i) += h;
    down(i) -= h;
    g(i) = (f(up) - f(down)) / (2 * h);
  }
  return g;
}

template <class F>
void check_against_finite_differences(const F& f, const Eigen::VectorXd& x, double tolerance) {
  const Eigen::VectorXd g = tinygrad::gradient(f, x);
  const Eigen::VectorXd reference = finite_difference_gradient(f, x);
  REQUIRE(g.size() == x.size());
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    CAPTURE(i);
    CHECK(g(i) == doctest::Approx(reference(i)).epsilon(tolerance).scale(1.0));
  }
  // The value on Vars is the value on doubles (Eigen may order the
  // arithmetic differently for a scalar it cannot vectorise).
  const auto [value, slope] = tinygrad::value_and_gradient(f, x);
  CHECK(value == doctest::Approx(f(x)).epsilon(1e-13));
  CHECK(slope == g);
}

}  // namespace

TEST_CASE("Eigen: matrices of Vars print as the values do") {
  Tape<double> tape;
  MatrixX<Var<double>> m(2, 2);
  m << 1.5, -2.0, 0.25, 1e-9;
  Eigen::MatrixXd values(2, 2);
  values << 1.5, -2.0, 0.25, 1e-9;
  std::ostringstream with_vars;
  std::ostringstream with_doubles;
  with_vars << m;
  with_doubles << values;
  CHECK(with_vars.str() == with_doubles.str());
  CHECK(with_vars.str().find("-2") != std::string::npos);
}

TEST_CASE("Eigen: allFinite and hasNaN look at values") {
  Tape<double> tape;
  VectorX<Var<double>> v(3);
  v << 1.0, 2.0, 3.0;
  CHECK(v.allFinite());
  CHECK_FALSE(v.hasNaN());
  v(1) = std::numeric_limits<double>::infinity();
  CHECK_FALSE(v.allFinite());
  CHECK_FALSE(v.hasNaN());
  v(2) = std::numeric_limits<double>::quiet_NaN();
  CHECK(v.hasNaN());
}

TEST_CASE("Eigen: default-constructed elements record nothing") {
  Tape<double> tape;
  const MatrixX<Var<double>> m(50, 50);
  const VectorX<Var<double>> v = VectorX<Var<double>>::Zero(50);
  CHECK(m(3, 4).is_constant());
  CHECK(tape.size() == 1);  // Zero() converts one literal 0: one leaf for all
  CHECK(v.sum().value() == 0.0);
}

TEST_CASE("Eigen: products with plain matrices, in both orders") {
  const Eigen::MatrixXd a = spd();
  const auto f = [&](const auto& x) {
    using S = ScalarOf<decltype(x)>;
    const VectorX<S> left = a * x;                             // MatrixXd * VectorX<Var>
    const VectorX<S> right = (x.transpose() * a).transpose();  // and the other way round
    const VectorX<S> scaled = 2.0 * x + x * 0.5;
    return (left.array() * right.array()).sum() + scaled.squaredNorm();
  };
  check_against_finite_differences(f, point(), 1e-7);
  // By hand: f = (A x).(A^T x) + (2.5)^2 |x|^2, A symmetric: grad = 2 A^2 x + 12.5 x.
  const Eigen::VectorXd x = point();
  const Eigen::VectorXd expected = 2.0 * a * a * x + 12.5 * x;
  const Eigen::VectorXd g = tinygrad::gradient(f, x);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    CHECK(g(i) == doctest::Approx(expected(i)).epsilon(1e-14));
  }
}

TEST_CASE("Eigen: decompositions and solvers differentiate correctly") {
  const Eigen::VectorXd b = (Eigen::VectorXd(3) << 1.0, -2.0, 0.5).finished();
  SUBCASE("llt().solve") {
    check_against_finite_differences(
        [&](const auto& x) { return b.dot(k_of(x).llt().solve(b.cast<ScalarOf<decltype(x)>>())); },
        point(), 1e-7);
  }
  SUBCASE("log-determinant through the Cholesky factor") {
    check_against_finite_differences(
        [](const auto& x) {
          using S = ScalarOf<decltype(x)>;
          const MatrixX<S> l = k_of(x).llt().matrixL();
          return VectorX<S>(l.diagonal()).array().log().sum() * 2.0;
        },
        point(), 1e-7);
  }
  SUBCASE("ldlt().solve") {
    check_against_finite_differences(
        [&](const auto& x) { return b.dot(k_of(x).ldlt().solve(b.cast<ScalarOf<decltype(x)>>())); },
        point(), 1e-7);
  }
  SUBCASE("partialPivLu().solve and determinant") {
    check_against_finite_differences(
        [&](const auto& x) {
          using S = ScalarOf<decltype(x)>;
          // Not symmetric, so that the pivoting has something to do.
          MatrixX<S> m = k_of(x);
          m(0, 2) += x(1) * 3.0;
          const auto lu = m.partialPivLu();
          return lu.solve(b.cast<S>()).sum() + lu.determinant();
        },
        point(), 1e-7);
  }
  SUBCASE("inverse and determinant (fixed-size and dynamic)") {
    check_against_finite_differences(
        [](const auto& x) {
          using S = ScalarOf<decltype(x)>;
          const MatrixX<S> k = k_of(x);
          const Eigen::Matrix<S, 3, 3> fixed = k;
          return k.inverse().sum() + k.determinant() + fixed.inverse().trace() +
                 fixed.determinant();
        },
        point(), 1e-7);
  }
  SUBCASE("householderQr().solve and the eigenvalues of a symmetric matrix") {
    check_against_finite_differences(
        [&](const auto& x) {
          using S = ScalarOf<decltype(x)>;
          const MatrixX<S> k = k_of(x);
          const Eigen::SelfAdjointEigenSolver<MatrixX<S>> eigen(k);
          // Distinct eigenvalues here, so each is differentiable.
          return k.householderQr().solve(b.cast<S>()).sum() + eigen.eigenvalues()(2) +
                 eigen.eigenvalues()(0) * 0.5;
        },
        point(), 1e-6);
  }
  SUBCASE("norms") {
    check_against_finite_differences(
        [](const auto& x) {
          return x.norm() + x.squaredNorm() + x.template lpNorm<1>() +
                 x.template lpNorm<Eigen::Infinity>() + x.stableNorm();
        },
        point(), 1e-7);
  }
  SUBCASE("coefficient-wise functions") {
    check_against_finite_differences(
        [](const auto& x) {
          const auto a = x.array();
          return (a.exp() + a.abs().log() + a.square() + a.sin() * a.cos() + a.abs().sqrt() +
                  a.tanh() + a.abs().pow(1.5))
              .sum();
        },
        point(), 1e-7);
  }
}

TEST_CASE("Eigen: the functional API's shapes and values") {
  const Eigen::MatrixXd a = spd();
  const Eigen::VectorXd x = point();
  SUBCASE("jacobian of x -> (A x, |x|^2) is 4 x 3") {
    const auto f = [&](const auto& v) {
      using S = ScalarOf<decltype(v)>;
      VectorX<S> out(4);
      out.head(3) = a * v;
      out(3) = v.squaredNorm();
      return out;
    };
    const Eigen::MatrixXd j = tinygrad::jacobian(f, x);
    REQUIRE(j.rows() == 4);
    REQUIRE(j.cols() == 3);
    CHECK(j.topRows(3) == a);  // each entry a single partial: exact
    for (Eigen::Index i = 0; i < 3; ++i) {
      CHECK(j(3, i) == 2.0 * x(i));
    }
    // v^T J in one sweep.
    const Eigen::VectorXd v = (Eigen::VectorXd(4) << 1.0, 0.5, -1.0, 2.0).finished();
    const Eigen::VectorXd product = tinygrad::vjp(f, x, v);
    const Eigen::VectorXd expected = j.transpose() * v;
    for (Eigen::Index i = 0; i < 3; ++i) {
      CHECK(product(i) == doctest::Approx(expected(i)).epsilon(1e-15));
    }
  }
  SUBCASE("hessian and hvp of x^T A x + sum exp(x) are 2A + diag(exp(x))") {
    const auto f = [&](const auto& v) {
      using S = ScalarOf<decltype(v)>;
      const VectorX<S> av = a * v;
      return v.dot(av) + v.array().exp().sum();
    };
    const Eigen::MatrixXd h = tinygrad::hessian(f, x);
    REQUIRE(h.rows() == 3);
    REQUIRE(h.cols() == 3);
    const Eigen::MatrixXd expected =
        2.0 * a + Eigen::MatrixXd(x.array().exp().matrix().asDiagonal());
    for (Eigen::Index i = 0; i < 3; ++i) {
      for (Eigen::Index k = 0; k < 3; ++k) {
        CHECK(h(i, k) == doctest::Approx(expected(i, k)).epsilon(1e-14));
      }
    }
    const Eigen::VectorXd v = (Eigen::VectorXd(3) << 0.3, -1.0, 2.0).finished();
    const Eigen::VectorXd hv = tinygrad::hvp(f, x, v);
    const Eigen::VectorXd reference = expected * v;
    for (Eigen::Index i = 0; i < 3; ++i) {
      CHECK(hv(i) == doctest::Approx(reference(i)).epsilon(1e-14));
    }
  }
  SUBCASE("an expression as the point, and a parameter of type VectorX<Var<double>>") {
    const auto f = [](const tinygrad::VectorX<double>& v) { return v.squaredNorm(); };
    const Eigen::VectorXd g = tinygrad::gradient(f, 2.0 * x);
    for (Eigen::Index i = 0; i < 3; ++i) {
      CHECK(g(i) == 4.0 * x(i));
    }
  }
}

TEST_CASE("Eigen: a sparse Hessian as an Eigen sparse matrix, solved by a sparse solver") {
  // A chain: f = sum (x_(i+1) - x_i^2)^2 + x_i^2, tridiagonal Hessian.
  const auto f = [](auto x) {
    auto sum = x[0] * x[0];
    for (std::size_t i = 0; i + 1 < x.size(); ++i) {
      const auto t = x[i + 1] - x[i] * x[i];
      sum = sum + t * t + x[i + 1] * x[i + 1];
    }
    return sum;
  };
  const std::vector<double> x{0.3, -0.2, 0.5, 0.1, -0.4, 0.2};
  const tinygrad::SparseHessian<double> h = tinygrad::sparse_hessian(f, x);
  const Eigen::SparseMatrix<double> sparse = tinygrad::to_eigen(h);
  CHECK(sparse.rows() == 6);
  CHECK(sparse.nonZeros() == 3 * 6 - 2);
  const tinygrad::Matrix<double> dense = tinygrad::hessian(f, x);
  for (std::size_t i = 0; i < 6; ++i) {
    for (std::size_t j = 0; j < 6; ++j) {
      CHECK(sparse.coeff(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) ==
            dense(i, j));
    }
  }
  // H d = b by a sparse Cholesky factorisation, checked by multiplying back.
  const Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> solver(sparse);
  REQUIRE(solver.info() == Eigen::Success);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(6, 1.0, 2.0);
  const Eigen::VectorXd d = solver.solve(b);
  CHECK((sparse * d - b).norm() < 1e-12);
}
