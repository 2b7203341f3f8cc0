// SPDX-License-Identifier: MIT
// nn::Dense and nn::Sequential: forward values and parameter gradients against
// finite differences, the notebook network rebuilt from layers, the
// initialisation statistics of each scheme, flat memory across steps, misuse.

#include <tinygrad/nn.hpp>

#include "support/numeric.hpp"

#include <doctest/doctest.h>
#include <cmath>
#include <stdexcept>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;
namespace nn = tinygrad::nn;

namespace {

using Net = nn::Sequential<nn::Dense<double, tinygrad::Tanh>, nn::Dense<double, tinygrad::Sigmoid>>;

/// The network's output on plain doubles, written out by hand from the
/// parameters: the independent yardstick for forward and finite differences.
double by_hand(Net& net, const std::vector<double>& x) {
  auto& first = net.layer<0>();
  auto& second = net.layer<1>();
  std::vector<double> hidden(first.fan_out());
  for (std::size_t j = 0; j < first.fan_out(); ++j) {
    double z = first.bias(j);
    for (std::size_t i = 0; i < first.fan_in(); ++i) {
      z += first.weight(j, i) * x[i];
    }
    hidden[j] = std::tanh(z);
  }
  double z = second.bias(0);
  for (std::size_t i = 0; i < second.fan_in(); ++i) {
    z += second.weight(0, i) * hidden[i];
  }
  return 1 / (1 + std::exp(-z));
}

/// Every parameter's collected gradient against central differences of
/// `loss()`, the loss written out by hand from the parameters.
template <class Loss>
void check_against_finite_differences(Net& net, Loss loss) {
  net.for_each_layer([&](auto& layer) {
    for (std::size_t k = 0; k < layer.parameters().size(); ++k) {
      INFO("parameter ", k);
      double& p = layer.parameters()[k];
      const double saved = p;
      const double numeric = tinygrad_test::central_difference(
          [&](double t) {
            p = t;
            return loss();
          },
          saved);
      p = saved;
      tinygrad_test::check_close(layer.gradients()[k], numeric, 1e-8);
    }
  });
}

}  // namespace

TEST_CASE("Sequential's forward pass and parameter gradients match a hand-written network") {
  Net net(nn::Dense<double, tinygrad::Tanh>(3, 4, 7),
          nn::Dense<double, tinygrad::Sigmoid>(4, 1, 8));
  net.layer<0>().bias(2) = 0.3;  // nonzero biases, so their gradients are tested too
  net.layer<1>().bias(0) = -0.2;
  const std::vector<double> x{0.5, -1.0, 2.0};
  Tape<double> tape;
  net.begin_step();
  const auto out = net(x);
  REQUIRE(out.size() == 1);
  tinygrad_test::check_close(out[0].value(), by_hand(net, x), 1e-15);
  out[0].backward();
  net.collect_gradients();
  check_against_finite_differences(net, [&] { return by_hand(net, x); });
}

TEST_CASE("several forward passes in one step: the gradients are the sum over the passes") {
  // loss = sum over three samples of the network's output, one backward():
  // each parameter's gradient is the sum of its gradients per sample, each
  // checked here against finite differences of the hand-written network.
  Net net(nn::Dense<double, tinygrad::Tanh>(3, 4, 11),
          nn::Dense<double, tinygrad::Sigmoid>(4, 1, 12));
  const std::vector<std::vector<double>> samples{{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}, {0, 0, 1}};
  Tape<double> tape;
  net.begin_step();
  Var<double> loss = 0.0;
  for (const auto& x : samples) {
    loss = loss + net(x)[0];
  }
  loss.backward();
  net.collect_gradients();
  const auto summed_by_hand = [&] {
    double sum = 0;
    for (const auto& x : samples) {
      sum += by_hand(net, x);
    }
    return sum;
  };
  tinygrad_test::check_close(loss.value(), summed_by_hand(), 1e-15);
  check_against_finite_differences(net, summed_by_hand);
}

TEST_CASE("the notebook's network built from layers gives the notebook's gradients") {
  const auto run = [](auto first, auto second, auto third) {
    first.weight(0, 0) = 0.5;
    second.weight(0, 0) = 0.5;
    third.weight(0, 0) = 0.5;
    nn::Sequential net(first, second, third);
    Tape<double> tape;
    net.begin_step();
    const auto y_pred = net(std::vector<double>{1.0});
    const auto error = 1.0 - y_pred[0];
    (0.5 * error * error).backward();
    net.collect_gradients();
    return std::vector<double>{net.template layer<0>().gradients()[0],
                               net.template layer<1>().gradients()[0],
                               net.template layer<2>().gradients()[0]};
  };
  using S = nn::Dense<double, tinygrad::Sigmoid>;
  using R = nn::Dense<double, tinygrad::ReLU>;
  const auto sigmoid = run(S(1, 1, 1), S(1, 1, 2), S(1, 1, 3));
  const auto relu = run(R(1, 1, 1), R(1, 1, 2), R(1, 1, 3));
  // The notebook's printed numbers, to its 6 decimals.
  CHECK(sigmoid[2] == doctest::Approx(-0.060540).epsilon(1e-4));
  CHECK(sigmoid[1] == doctest::Approx(-0.007967).epsilon(1e-3));
  CHECK(sigmoid[0] == doctest::Approx(-0.001504).epsilon(1e-3));
  for (const double g : relu) {
    CHECK(g == doctest::Approx(-0.218750).epsilon(1e-12));
  }
}

TEST_CASE("initialisation: the scheme and gain of the policy, reproducible from the seed") {
  const auto statistics = [](const auto& layer) {
    double sum = 0;
    double squares = 0;
    const std::size_t n = layer.fan_in() * layer.fan_out();
    for (std::size_t k = 0; k < n; ++k) {
      sum += layer.parameters()[k];
      squares += layer.parameters()[k] * layer.parameters()[k];
    }
    const double mean = sum / static_cast<double>(n);
    return std::pair{mean, squares / static_cast<double>(n) - mean * mean};
  };
  const std::size_t in = 400;
  const std::size_t out = 300;
  // Xavier, gain 5/3: variance gain^2 * 2 / (in + out).
  const auto [tanh_mean, tanh_variance] = statistics(nn::Dense<double, tinygrad::Tanh>(in, out, 1));
  CHECK(std::abs(tanh_mean) < 0.002);
  CHECK(tanh_variance == doctest::Approx(25.0 / 9.0 * 2.0 / (in + out)).epsilon(0.02));
  // He, gain sqrt 2: variance 2 / in.
  const auto [relu_mean, relu_variance] = statistics(nn::Dense<double, tinygrad::ReLU>(in, out, 1));
  CHECK(std::abs(relu_mean) < 0.003);
  CHECK(relu_variance == doctest::Approx(2.0 / in).epsilon(0.02));
  // Biases start at 0; the same seed gives the same weights, another seed others.
  nn::Dense<double, tinygrad::ReLU> a(5, 4, 42);
  nn::Dense<double, tinygrad::ReLU> b(5, 4, 42);
  nn::Dense<double, tinygrad::ReLU> c(5, 4, 43);
  CHECK(a.bias(3) == 0.0);
  CHECK(std::vector<double>(a.parameters().begin(), a.parameters().end()) ==
        std::vector<double>(b.parameters().begin(), b.parameters().end()));
  CHECK(a.weight(0, 0) != c.weight(0, 0));
}

TEST_CASE("training steps do not grow the tape: its size is the same after every step") {
  nn::Sequential net(nn::Dense<double, tinygrad::ReLU>(2, 8, 1),
                     nn::Dense<double, tinygrad::Identity>(8, 1, 2));
  Tape<double> tape;
  std::size_t size_after_first = 0;
  for (int step = 0; step < 10'000; ++step) {
    tape.clear();
    net.begin_step();
    const auto out = net(std::vector<double>{0.5, -0.25});
    out[0].backward();
    net.collect_gradients();
    if (step == 0) {
      size_after_first = tape.size();
    }
    REQUIRE(tape.size() == size_after_first);
  }
  CHECK(tape.statistics().reserved_bytes < 64 * 1024);
}

TEST_CASE("misuse of layers is a clear exception") {
  using ReluLayer = nn::Dense<double, tinygrad::ReLU>;  // no commas inside the macros
  CHECK_THROWS_AS(ReluLayer(0, 3, 1), std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::Sequential(ReluLayer(2, 3, 1), ReluLayer(4, 1, 1)),
                       "nn::Sequential: layer 0 has 3 outputs but layer 1 takes 4 inputs",
                       std::invalid_argument);
  ReluLayer layer(2, 3, 1);
  Tape<double> tape;
  const std::vector<double> two{1.0, 2.0};
  const std::vector<double> one{1.0};
  CHECK_THROWS_WITH_AS(layer(two),
                       "nn::Dense: a forward pass needs begin_step() first, in this step",
                       std::logic_error);
  layer.begin_step();
  CHECK_THROWS_WITH_AS(layer(one), "nn::Dense: input has 1 values but the layer's fan_in is 2",
                       std::invalid_argument);
}
