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

TEST_CASE("half squared error and mean squared error") {
  tinygrad_test::check_gradient([](auto p) { return 0.5 * (1.0 - p) * (1.0 - p); },
                                [](double p) { return p - 1.0; }, 0.3);
  Tape<double> tape;
  Var<double> p = 0.3;
  const auto loss = nn::half_squared_error(p, 1.0);
  loss.backward();
  CHECK(loss.value() == doctest::Approx(0.245));
  CHECK(p.grad() == doctest::Approx(-0.7));

  std::vector<Var<double>> predictions{Var<double>(1.0), Var<double>(2.0), Var<double>(4.0)};
  const std::vector<double> targets{1.5, 2.0, 3.0};
  const auto mse = nn::mean_squared_error<double>(predictions, targets);
  mse.backward();
  CHECK(mse.value() == doctest::Approx((0.25 + 0 + 1) / 3));
  CHECK(predictions[0].grad() == doctest::Approx(2 * -0.5 / 3));
  CHECK(predictions[2].grad() == doctest::Approx(2 * 1.0 / 3));
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
    CHECK(wrong.value() == doctest::Approx(1000.0));
    CHECK(right.value() == 0.0);
    CHECK(std::isfinite(logit.grad()));
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
  CHECK(far.value() == doctest::Approx(2000.0));
  for (const auto& z : extreme) {
    CHECK(std::isfinite(z.grad()));
  }
  CHECK(extreme[1].grad() == doctest::Approx(-1.0));
  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy<double>(extreme, 3),
                       "nn::softmax_cross_entropy: class 3 out of range for 3 logits",
                       std::invalid_argument);
}
