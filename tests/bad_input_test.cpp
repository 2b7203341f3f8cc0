// SPDX-License-Identifier: MIT
// Empty inputs, mismatched sizes and non-finite values at every public entry
// point: each has the outcome docs/reference.md states ("Bad input").

#include <tinygrad/tinygrad.hpp>

#include <doctest/doctest.h>
#include <cmath>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;
namespace nn = tinygrad::nn;

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
const double not_a_number = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST_CASE("empty inputs give empty or zero results, never a crash") {
  Tape<double> tape;
  const std::vector<Var<double>> none;
  const std::vector<double> no_values;
  CHECK(tinygrad::dot(none, no_values).value() == 0.0);
  CHECK(tinygrad::sum(none).value() == 0.0);
  std::vector<Var<double>> leaves{Var<double>(1.0)};
  tinygrad::record_leaves(std::span<const double>(no_values), leaves);
  CHECK(leaves.empty());
  std::vector<double> out;
  CHECK_NOTHROW(
      tinygrad::read_gradients(std::span<const Var<double>>(none), std::span<double>(out)));

  CHECK(tinygrad::gradient([](auto) { return Var<double>(3.0) * 2.0; }, no_values).empty());
  CHECK(tinygrad::jacobian([](auto) { return std::vector<Var<double>>{}; }, no_values).empty());
  const auto constant = [](auto x) {
    using S = typename decltype(x)::value_type;
    return S(2.0) * S(3.0);
  };
  CHECK(tinygrad::hessian(constant, no_values).empty());
  CHECK(tinygrad::hvp(constant, no_values, no_values).empty());
  const auto [value, gradient] = tinygrad::value_and_gradient(constant, no_values);
  CHECK(value == 6.0);
  CHECK(gradient.empty());
}

TEST_CASE("mismatched sizes are std::invalid_argument naming both sizes") {
  Tape<double> tape;
  const std::vector<Var<double>> two{Var<double>(1.0), Var<double>(2.0)};
  const std::vector<double> three{1.0, 2.0, 3.0};
  std::vector<double> one(1);
  CHECK_THROWS_WITH_AS(tinygrad::dot(two, three), "tinygrad::dot: a has 2 elements but b has 3",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      tinygrad::read_gradients(std::span<const Var<double>>(two), std::span<double>(one)),
      "tinygrad::read_gradients: vars has 2 elements but out has 1", std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::mean_squared_error<double>(two, three),
                       "tinygrad::nn::mean_squared_error: prediction has 2 elements but target "
                       "has 3",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      nn::mean_squared_error<double>(std::vector<Var<double>>{}, std::vector<double>{}),
      "tinygrad::nn::mean_squared_error: no predictions (the mean of none is undefined)",
      std::invalid_argument);
}

TEST_CASE("non-finite values follow IEEE semantics through values and gradients") {
  Tape<double> tape;
  Var<double> x = inf;
  const auto y = tinygrad::sigmoid(x) + tinygrad::tanh(-x);  // 1 + (-1)
  y.backward();
  CHECK(y.value() == 0.0);
  CHECK(x.grad() == 0.0);  // both derivatives are 0 at +-inf

  Var<double> n = not_a_number;
  const auto z = n * 2.0 + 1.0;
  z.backward();
  CHECK(std::isnan(z.value()));
  CHECK(n.grad() == 2.0);  // the partials do not depend on n: 2 is exact

  Var<double> w = 1.0;
  const auto through_nan = w * n;  // partial wrt w is n: NaN
  through_nan.backward();
  CHECK(std::isnan(w.grad()));

  const std::vector<double> point{not_a_number, 1.0};
  const auto g = tinygrad::gradient([](auto v) { return v[0] * v[1]; }, point);
  CHECK(g[0] == 1.0);
  CHECK(std::isnan(g[1]));
  CHECK_FALSE(tinygrad::gradcheck([](auto v) { return v[0] * v[1]; }, point).ok);
}

TEST_CASE("NaN and infinite logits in the losses: documented, finite where the math is") {
  Tape<double> tape;
  Var<double> z = inf;
  const auto right = nn::binary_cross_entropy_with_logits(z, 1.0);
  CHECK(std::isnan(right.value()));  // inf - inf: the limit 0 is not taken for infinite logits
  Var<double> big = 1e300;
  const auto finite = nn::binary_cross_entropy_with_logits(big, 1.0);
  finite.backward();
  CHECK(finite.value() == 0.0);
  CHECK(big.grad() == 0.0);
}

TEST_CASE("softmax_cross_entropy: -inf logits are exact zeros, +inf and NaN give NaN") {
  Tape<double> tape;
  const std::vector<Var<double>> logits{Var<double>(1.0), Var<double>(-inf), Var<double>(2.0)};
  const auto loss = nn::softmax_cross_entropy<double>(logits, 0);
  loss.backward();
  CHECK(std::isfinite(loss.value()));
  CHECK(loss.value() == doctest::Approx(std::log(1.0 + std::exp(1.0))));
  CHECK(logits[1].grad() == 0.0);  // its softmax weight is exactly 0
  CHECK(nn::softmax_cross_entropy<double>(logits, 1).value() == inf);  // the impossible class

  const std::vector<Var<double>> with_inf{Var<double>(1.0), Var<double>(inf)};
  CHECK(std::isnan(nn::softmax_cross_entropy<double>(with_inf, 0).value()));  // inf - inf
  const std::vector<Var<double>> with_nan{Var<double>(1.0), Var<double>(not_a_number)};
  CHECK(std::isnan(nn::softmax_cross_entropy<double>(with_nan, 0).value()));
  const std::vector<Var<double>> with_nan_first{Var<double>(not_a_number), Var<double>(1.0)};
  CHECK(std::isnan(nn::softmax_cross_entropy<double>(with_nan_first, 1).value()));

  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy<double>(std::vector<Var<double>>{}, 0),
                       "nn::softmax_cross_entropy: class 0 out of range for 0 logits",
                       std::invalid_argument);
}

TEST_CASE("gradient_flow: a NaN weight gradient shows as NaN in the mean and the maximum") {
  // Two units; the first has a NaN weight, so its row of weight gradients is
  // NaN and the second row finite: the NaN comes first and must not be lost.
  nn::Dense<double, tinygrad::Sigmoid> layer(1, 2, 1);
  layer.weight(0, 0) = not_a_number;
  layer.weight(1, 0) = 0.5;
  nn::Sequential net(layer);
  Tape<double> tape;
  net.begin_step();
  const auto out = net(std::vector<double>{1.0});
  (nn::half_squared_error(out[0], 1.0) + nn::half_squared_error(out[1], 1.0)).backward();
  net.collect_gradients();
  std::vector<double> grads;  // the Sequential holds its own copy of the layer
  net.for_each_layer([&](const auto& l) {
    grads.assign(l.weight_gradients().begin(), l.weight_gradients().end());
  });
  REQUIRE(grads.size() == 2);
  REQUIRE(std::isnan(grads[0]));
  REQUIRE(std::isfinite(grads[1]));
  const auto report = nn::gradient_flow(net);
  CHECK(std::isnan(report.layers[0].mean_abs_weight_grad));
  CHECK(std::isnan(report.layers[0].max_abs_weight_grad));
}

TEST_CASE("write_dot of an empty tape is a valid empty graph") {
  Tape<double> tape;
  std::ostringstream dot;
  tinygrad::write_dot(dot, tape);
  const std::string text = dot.str();
  CHECK(text.starts_with("digraph \"tape\" {\n"));
  CHECK(text.ends_with("}\n"));
  CHECK(text.find(" n0 ") == std::string::npos);  // no node
  CHECK(text.find("->") == std::string::npos);    // no edge
}
