// SPDX-License-Identifier: MIT
// Losses: values and gradients against their formulas and finite differences,
// and stability at extreme logits.

#include <tinygrad/loss.hpp>

#include "support/gradient_check.hpp"

#include <doctest/doctest.h>
#include <cmath>
#include <stdexcept>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;
namespace nn = tinygrad::nn;
using tinygrad_test::check_close;

/// nn::half_squared_error's value on a tape of its own, for finite differences.
double half_squared_error_value(double p, double target) {
  Tape<double> tape;
  return nn::half_squared_error(Var<double>(p), target).value();
}

TEST_CASE("half squared error and mean squared error") {
  for (const double p : {0.3, -2.5, 1.0, 7.0}) {
    for (const double target : {1.0, -0.25}) {
      INFO("p = ", p, ", target = ", target);
      Tape<double> tape;
      Var<double> prediction = p;
      const auto loss = nn::half_squared_error(prediction, target);
      loss.backward();
      check_close(loss.value(), 0.5 * (target - p) * (target - p), 1e-15);
      check_close(prediction.grad(), p - target, 1e-15);
      check_close(prediction.grad(),
                  tinygrad_test::central_difference(
                      [target](double q) { return half_squared_error_value(q, target); }, p),
                  1e-8);
    }
  }

  Tape<double> tape;
  std::vector<Var<double>> predictions{Var<double>(1.0), Var<double>(2.0), Var<double>(4.0)};
  const std::vector<double> targets{1.5, 2.0, 3.0};
  const auto mse = nn::mean_squared_error<double>(predictions, targets);
  mse.backward();
  check_close(mse.value(), (0.25 + 0 + 1) / 3, 1e-15);
  check_close(predictions[0].grad(), 2 * -0.5 / 3, 1e-15);
  CHECK(predictions[1].grad() == 0.0);
  check_close(predictions[2].grad(), 2 * 1.0 / 3, 1e-15);
  CHECK_THROWS_AS(nn::mean_squared_error<double>(predictions, std::vector<double>{1.0}),
                  std::invalid_argument);
}

TEST_CASE("binary cross-entropy on logits: formula, gradient sigmoid - y, finite at +-1000") {
  for (const double y : {0.0, 0.3, 1.0}) {
    for (const double z : {-3.0, -0.5, 0.0, 2.0}) {
      INFO("y = ", y, ", z = ", z);
      Tape<double> tape;
      Var<double> logit = z;
      const auto loss = nn::binary_cross_entropy_with_logits(logit, y);
      loss.backward();
      const double s = 1 / (1 + std::exp(-z));
      check_close(loss.value(), -(y * std::log(s) + (1 - y) * std::log(1 - s)), 1e-14);
      check_close(logit.grad(), s - y, 1e-15);
    }
  }
  Tape<double> tape;
  for (const double z : {-1000.0, 1000.0}) {
    Var<double> logit = z;
    const auto wrong = nn::binary_cross_entropy_with_logits(logit, z > 0 ? 0.0 : 1.0);
    const auto right = nn::binary_cross_entropy_with_logits(logit, z > 0 ? 1.0 : 0.0);
    wrong.backward();
    // softplus(1000) is 1000 and e^-1000 is 0 in double: exact.
    CHECK(wrong.value() == 1000.0);
    CHECK(right.value() == 0.0);
    CHECK(logit.grad() == (z > 0 ? 1.0 : -1.0));  // sigmoid(z) - target
  }
}

TEST_CASE("softmax cross-entropy: formula, gradient softmax - onehot, finite at +-1000") {
  Tape<double> tape;
  std::vector<Var<double>> logits{Var<double>(1.0), Var<double>(-0.5), Var<double>(2.0)};
  const auto loss = nn::softmax_cross_entropy<double>(logits, 1);
  loss.backward();
  const double sum = std::exp(1.0) + std::exp(-0.5) + std::exp(2.0);
  check_close(loss.value(), std::log(sum) + 0.5, 1e-15);
  check_close(logits[0].grad(), std::exp(1.0) / sum, 1e-15);
  check_close(logits[1].grad(), std::exp(-0.5) / sum - 1, 1e-15);
  check_close(logits[2].grad(), std::exp(2.0) / sum, 1e-15);

  std::vector<Var<double>> extreme{Var<double>(1000.0), Var<double>(-1000.0), Var<double>(0.0)};
  const auto far = nn::softmax_cross_entropy<double>(extreme, 1);
  far.backward();
  // log(1 + 2 e^-1000) + 1000 - (-1000), and softmax (1, 0, 0) - onehot(1),
  // with e^-1000 = 0 in double: exact.
  CHECK(far.value() == 2000.0);
  CHECK(extreme[0].grad() == 1.0);
  CHECK(extreme[1].grad() == -1.0);
  CHECK(extreme[2].grad() == 0.0);
  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy<double>(extreme, 3),
                       "nn::softmax_cross_entropy: class 3 out of range for 3 logits",
                       std::invalid_argument);
}
