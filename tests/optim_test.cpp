// SPDX-License-Identifier: MIT
// Optimizers on a quadratic with a known minimum, and clipping by norm.

#include <tinygrad/optim.hpp>

#include <doctest/doctest.h>
#include <cmath>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

namespace nn = tinygrad::nn;

namespace {

/// A one-layer "model" over f(p) = sum_i c_i (p_i - m_i)^2, gradient by hand.
struct Quadratic {
  std::vector<double> p{5.0, -3.0, 0.5};
  std::vector<double> g = std::vector<double>(3);
  std::vector<double> c{1.0, 10.0, 0.1};
  std::vector<double> m{1.0, 2.0, -1.0};

  std::span<double> parameters() { return p; }
  std::span<double> gradients() { return g; }
  template <class F>
  void for_each_layer(F&& f) {
    f(*this);
  }
  void compute_gradients() {
    for (std::size_t i = 0; i < p.size(); ++i) {
      g[i] = 2 * c[i] * (p[i] - m[i]);
    }
  }
};

template <class Optimizer>
void check_converges(Optimizer optimizer, int steps) {
  Quadratic q;
  for (int k = 0; k < steps; ++k) {
    q.compute_gradients();
    optimizer.step(q);
  }
  for (std::size_t i = 0; i < q.p.size(); ++i) {
    INFO("coordinate ", i);
    CHECK(q.p[i] == doctest::Approx(q.m[i]).epsilon(1e-6));
  }
}

}  // namespace

TEST_CASE("SGD, with and without momentum, converges to the minimum of a quadratic") {
  check_converges(nn::SGD<double>(0.04), 3000);
  check_converges(nn::SGD<double>(0.02, 0.9), 3000);
}

TEST_CASE("Adam converges to the minimum of a quadratic") {
  check_converges(nn::Adam<double>(0.05), 5000);
}

TEST_CASE("clip_grad_norm scales the joint norm down to the limit and reports it") {
  Quadratic q;
  q.g = {3.0, 4.0, 0.0};  // norm 5
  CHECK(nn::clip_grad_norm(q, 10.0) == 5.0);
  CHECK(q.g[0] == 3.0);
  CHECK(nn::clip_grad_norm(q, 1.0) == 5.0);
  CHECK(q.g[0] == doctest::Approx(0.6));
  CHECK(q.g[1] == doctest::Approx(0.8));
  q.g = {NAN, 1.0, 0.0};
  CHECK(std::isnan(nn::clip_grad_norm(q, 1.0)));
  CHECK(q.g[1] == 1.0);  // not scaled by a NaN
  q.g = {3.0, 4.0, 0.0};
  CHECK(nn::clip_grad_norm(q, INFINITY) == 5.0);
  CHECK(q.g[0] == 3.0);
  CHECK(nn::clip_grad_norm(q, 0.0) == 5.0);
  CHECK(q.g[0] == 0.0);
}

TEST_CASE("hyperparameters that would corrupt training are std::invalid_argument") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS((void)nn::SGD<double>(-0.1),
                       "nn::SGD: learning_rate = -0.1 is outside [0, inf)", std::invalid_argument);
  CHECK_THROWS_AS((void)nn::SGD<double>(nan), std::invalid_argument);
  CHECK_THROWS_AS((void)nn::SGD<double>(inf), std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::SGD<double>(0.1, 1.0), "nn::SGD: momentum = 1 is outside [0, 1)",
                       std::invalid_argument);
  CHECK_THROWS_AS((void)nn::SGD<double>(0.1, -0.5), std::invalid_argument);
  CHECK_NOTHROW((void)nn::SGD<double>(0.0, 0.0));
  CHECK_THROWS_AS((void)nn::Adam<double>(nan), std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::Adam<double>(1e-3, 1.0), "nn::Adam: beta1 = 1 is outside [0, 1)",
                       std::invalid_argument);
  CHECK_THROWS_AS((void)nn::Adam<double>(1e-3, 0.9, 1.5), std::invalid_argument);
  CHECK_THROWS_AS((void)nn::Adam<double>(1e-3, 0.9, 0.999, -1e-8), std::invalid_argument);
  CHECK_NOTHROW((void)nn::Adam<float>(1e-3f, 0.0f, 0.0f, 0.0f));
  Quadratic q;
  q.g = {3.0, 4.0, 0.0};
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm(q, -1.0),
                       "nn::clip_grad_norm: max_norm = -1 is outside [0, inf]",
                       std::invalid_argument);
  CHECK_THROWS_AS(nn::clip_grad_norm(q, nan), std::invalid_argument);
  CHECK(q.g[0] == 3.0);  // untouched
}
