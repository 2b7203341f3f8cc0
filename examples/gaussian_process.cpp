// SPDX-License-Identifier: MIT
// Maximum-likelihood hyperparameters of a Gaussian process, with Eigen.
//
// 40 noisy samples of sin(x) on [0, 5]; a squared-exponential kernel
//   k(a, b) = sf^2 exp(-(a - b)^2 / (2 l^2)),   K = k(X, X) + sn^2 I,
// and the negative log marginal likelihood
//   NLL = 1/2 y^T K^-1 y + 1/2 log det K + n/2 log(2 pi),
// computed through a Cholesky factorisation (Eigen's llt()) on Var<double>.
// tinygrad::value_and_gradient gives NLL and its gradient with respect to
// theta = (log l, log sf, log sn); gradient descent fits theta.
//
// The gradient is checked against the textbook formula, derived by hand and
// computed with plain Eigen doubles:
//   dNLL/dtheta_j = 1/2 tr((K^-1 - alpha alpha^T) dK/dtheta_j),  alpha = K^-1 y.
// The program exits non-zero if they differ by more than 1e-8 (relative), or
// if the fit does not converge to a noise level near the data's.

#include <tinygrad/eigen.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>

namespace {

struct Data {
  Eigen::VectorXd x;
  Eigen::VectorXd y;
};

Data samples() {
  const int n = 40;
  std::mt19937 generator(7);
  std::normal_distribution<double> noise(0.0, 0.1);
  Data d{Eigen::VectorXd(n), Eigen::VectorXd(n)};
  for (int i = 0; i < n; ++i) {
    d.x(i) = 5.0 * i / (n - 1);
    d.y(i) = std::sin(d.x(i)) + noise(generator);
  }
  return d;
}

// The kernel matrix for theta = (log l, log sf, log sn); S is double or a Var.
template <class Theta>
auto kernel_matrix(const Theta& theta, const Eigen::VectorXd& x) {
  using S = typename Theta::Scalar;
  using std::exp;
  const S inverse_two_l2 = exp(-2.0 * theta(0)) * 0.5;  // 1 / (2 l^2)
  const S sf2 = exp(2.0 * theta(1));
  const S sn2 = exp(2.0 * theta(2));
  const Eigen::Index n = x.size();
  Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> k(n, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j <= i; ++j) {
      const double r = x(i) - x(j);
      k(i, j) = sf2 * exp(-(r * r) * inverse_two_l2);
      k(j, i) = k(i, j);
    }
    k(i, i) += sn2;
  }
  return k;
}

// The negative log marginal likelihood.
template <class Theta>
typename Theta::Scalar negative_log_likelihood(const Theta& theta, const Data& d) {
  using S = typename Theta::Scalar;
  using std::log;
  const Eigen::LLT<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>> cholesky(
      kernel_matrix(theta, d.x));
  const Eigen::Matrix<S, Eigen::Dynamic, 1> y = d.y.cast<S>();
  const Eigen::Matrix<S, Eigen::Dynamic, 1> alpha = cholesky.solve(y);
  const Eigen::Matrix<S, Eigen::Dynamic, 1> diagonal = cholesky.matrixLLT().diagonal();
  const S half_log_det = diagonal.array().log().sum();
  const double n = static_cast<double>(d.y.size());
  return 0.5 * y.dot(alpha) + half_log_det + 0.5 * n * std::log(2.0 * std::numbers::pi);
}

// The textbook gradient, on doubles.
Eigen::Vector3d textbook_gradient(const Eigen::Vector3d& theta, const Data& d) {
  const Eigen::MatrixXd k = kernel_matrix(theta, d.x);
  const Eigen::LLT<Eigen::MatrixXd> cholesky(k);
  const Eigen::VectorXd alpha = cholesky.solve(d.y);
  const Eigen::Index n = d.x.size();
  const Eigen::MatrixXd w =
      cholesky.solve(Eigen::MatrixXd::Identity(n, n)) - alpha * alpha.transpose();
  const double l2 = std::exp(2.0 * theta(0));
  const double sn2 = std::exp(2.0 * theta(2));
  Eigen::MatrixXd d_log_l(n, n);
  Eigen::MatrixXd d_log_sf(n, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < n; ++j) {
      const double r = d.x(i) - d.x(j);
      const double signal = k(i, j) - (i == j ? sn2 : 0.0);  // sf^2 exp(-r^2 / (2 l^2))
      d_log_l(i, j) = signal * r * r / l2;
      d_log_sf(i, j) = 2.0 * signal;
    }
  }
  const Eigen::MatrixXd d_log_sn = 2.0 * sn2 * Eigen::MatrixXd::Identity(n, n);
  return {0.5 * (w * d_log_l).trace(), 0.5 * (w * d_log_sf).trace(), 0.5 * (w * d_log_sn).trace()};
}

bool gradient_matches(const Eigen::Vector3d& theta, const Data& d) {
  const auto nll = [&](const auto& t) { return negative_log_likelihood(t, d); };
  const Eigen::VectorXd tape = tinygrad::gradient(nll, theta);
  const Eigen::Vector3d textbook = textbook_gradient(theta, d);
  const double error = (tape - textbook).norm() / textbook.norm();
  std::printf("  gradient by the tape     %12.8f %12.8f %12.8f\n", tape(0), tape(1), tape(2));
  std::printf("  gradient by the formula  %12.8f %12.8f %12.8f   relative difference %.1e\n",
              textbook(0), textbook(1), textbook(2), error);
  return error < 1e-8;
}

}  // namespace

int main() {
  const Data d = samples();
  const auto nll = [&](const auto& theta) { return negative_log_likelihood(theta, d); };

  Eigen::Vector3d theta(std::log(2.0), std::log(0.5), std::log(0.5));  // l, sf, sn
  std::printf("start: l %.4f  sf %.4f  sn %.4f  NLL %.6f\n", std::exp(theta(0)), std::exp(theta(1)),
              std::exp(theta(2)), negative_log_likelihood(theta, d));
  bool ok = gradient_matches(theta, d);

  // Gradient descent; a step that would increase the NLL is halved.
  double step = 0.05;
  auto [value, slope] = tinygrad::value_and_gradient(nll, theta);
  int iterations = 0;
  for (; iterations < 1000 && slope.norm() > 1e-5; ++iterations) {
    const Eigen::Vector3d trial = theta - step * slope;
    const auto [trial_value, trial_slope] = tinygrad::value_and_gradient(nll, trial);
    if (trial_value < value) {
      theta = trial;
      value = trial_value;
      slope = trial_slope;
      step *= 1.2;
    } else {
      step *= 0.5;
    }
  }
  std::printf("after %d steps: l %.4f  sf %.4f  sn %.4f  NLL %.6f  |gradient| %.1e\n", iterations,
              std::exp(theta(0)), std::exp(theta(1)), std::exp(theta(2)), value, slope.norm());
  // Checked again at a point where every component of the gradient is far
  // from 0 (at the optimum both sides are rounding noise).
  ok = gradient_matches(Eigen::Vector3d(0.0, 0.0, std::log(0.2)), d) && ok;

  // The fitted noise level should be near the 0.1 the data were made with.
  const double noise = std::exp(theta(2));
  ok = ok && slope.norm() < 1e-4 && noise > 0.05 && noise < 0.2;
  std::printf(ok ? "ok\n" : "FAILED\n");
  return ok ? 0 : 1;
}
