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

/// One parameter whose gradient the test sets before each step.
struct OneParameter {
  std::vector<double> p{1.0};
  std::vector<double> g{0.0};
  std::span<double> parameters() { return p; }
  std::span<double> gradients() { return g; }
  template <class F>
  void for_each_layer(F&& f) {
    f(*this);
  }
};

/// The parameter after each of three steps with gradients 1/2, -1, 2 from p = 1.
template <class Optimizer>
std::vector<double> three_steps(Optimizer optimizer) {
  OneParameter model;
  std::vector<double> after;
  for (const double g : {0.5, -1.0, 2.0}) {
    model.g[0] = g;
    optimizer.step(model);
    after.push_back(model.p[0]);
  }
  return after;
}

TEST_CASE("SGD with momentum: the first three steps, worked out by hand") {
  // v = 0.9 v + g, p = p - 0.1 v:
  //   v1 = 0.5,                  p1 = 1 - 0.05      = 0.95
  //   v2 = 0.45 - 1 = -0.55,     p2 = 0.95 + 0.055  = 1.005
  //   v3 = -0.495 + 2 = 1.505,   p3 = 1.005 - 0.1505 = 0.8545
  const std::vector<double> p = three_steps(nn::SGD<double>(0.1, 0.9));
  const double expected[] = {0.95, 1.005, 0.8545};
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("step ", k + 1);
    CHECK(std::abs(p[k] - expected[k]) <= 1e-15);
  }
}

TEST_CASE("Adam: the first three steps, worked out by hand") {
  // lr 0.1, beta1 0.9, beta2 0.999, and epsilon 0.1, large so that where it
  // goes shows: p -= lr m^ / (sqrt(v^) + epsilon), m^ = m / (1 - beta1^t),
  // v^ = v / (1 - beta2^t).
  //   t = 1: m = 0.05,   v = 0.00025:  m^ = 0.5, v^ = 0.25,
  //          p = 1 - 0.1 * 0.5 / (0.5 + 0.1) = 0.91666...
  //   t = 2: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975:
  //          m^ = -0.055 / 0.19 = -0.28947..., v^ = 0.00124975 / 0.001999 = 0.62518...
  //   t = 3: m = -0.0495 + 0.2 = 0.1505, v = 0.00124850025 + 0.004:
  //          m^ = 0.1505 / 0.271 = 0.55535..., v^ = 0.00524850025 / 0.002997001 = 1.75125...
  // (p to 20 digits by mpmath at 40 digits. Without bias correction p1 would
  // be 0.957, with epsilon under the root 0.915.)
  const std::vector<double> p = three_steps(nn::Adam<double>(0.1, 0.9, 0.999, 0.1));
  const double expected[] = {0.91666666666666666667, 0.9491666742648454808, 0.91014948153045102153};
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("step ", k + 1);
    CHECK(std::abs(p[k] - expected[k]) <= 1e-15);
  }
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
