// SPDX-License-Identifier: MIT
// nn::Dense and nn::Sequential: forward values and parameter gradients against
// finite differences, the notebook network rebuilt from layers, the
// initialisation statistics of each scheme, flat memory across steps, misuse,
// stale gradients refused by the optimizers, and predict (inference without
// a tape) against the taped forward pass.

#include <tinygrad/loss.hpp>
#include <tinygrad/nn.hpp>
#include <tinygrad/optim.hpp>

#include "support/numeric.hpp"

#include <doctest/doctest.h>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
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

TEST_CASE("a mini-batch in one call: the mean loss's gradients are the samples' summed") {
  constexpr std::size_t samples = 4;
  std::vector<double> batch;
  for (std::size_t k = 0; k < samples * 3; ++k) {
    batch.push_back(std::cos(0.9 * static_cast<double>(k)));
  }
  const std::vector<double> targets{0.2, 0.9, 0.5, 0.1};
  Net net(nn::Dense<double, tinygrad::Tanh>(3, 5, 1),
          nn::Dense<double, tinygrad::Sigmoid>(5, 1, 2));
  net.layer<0>().bias(2) = 0.4;
  Tape<double> tape;

  // One call over the batch, the mean of the samples' squared errors.
  net.begin_step();
  const auto outputs = net(batch);
  REQUIRE(outputs.size() == samples);
  const std::vector<Var<double>> batch_outputs(outputs.begin(), outputs.end());
  nn::mean_squared_error(batch_outputs, targets).backward();
  net.collect_gradients();
  std::vector<std::vector<double>> batch_gradients;
  net.for_each_layer([&](auto& layer) {
    batch_gradients.emplace_back(layer.gradients().begin(), layer.gradients().end());
  });

  // Each sample in a step of its own; its gradients, divided by the batch
  // size, summed.
  std::vector<std::vector<double>> summed;
  net.for_each_layer([&](auto& layer) { summed.emplace_back(layer.gradients().size(), 0.0); });
  for (std::size_t s = 0; s < samples; ++s) {
    tape.clear();
    net.begin_step();
    const std::vector<double> input(batch.begin() + static_cast<std::ptrdiff_t>(3 * s),
                                    batch.begin() + static_cast<std::ptrdiff_t>(3 * s + 3));
    const Var<double> output = net(input)[0];
    CHECK(output.value() == batch_outputs[s].value());  // the same arithmetic
    const Var<double> error = output - targets[s];
    (error * error).backward();
    net.collect_gradients();
    std::size_t k = 0;
    net.for_each_layer([&](auto& layer) {
      for (std::size_t i = 0; i < layer.gradients().size(); ++i) {
        summed[k][i] += layer.gradients()[i] / samples;
      }
      ++k;
    });
  }
  for (std::size_t k = 0; k < summed.size(); ++k) {
    for (std::size_t i = 0; i < summed[k].size(); ++i) {
      INFO("layer ", k, ", parameter ", i);
      tinygrad_test::check_close(batch_gradients[k][i], summed[k][i], 1e-14);
    }
  }
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
  CHECK_THROWS_WITH_AS(layer(one),
                       "nn::Dense: input has 1 values, not a whole number of samples of fan_in 2",
                       std::invalid_argument);
}

namespace {

/// |a - b| in units of the last place of b (at least the smallest normal's).
template <class T>
double ulps_apart(T a, T b) {
  const T unit =
      std::max(std::abs(b), std::numeric_limits<T>::min()) * std::numeric_limits<T>::epsilon();
  return static_cast<double>(std::abs(a - b) / unit);
}

/// predict on a batch against the taped forward pass of each sample.
template <class T, class Network>
void check_predict_matches_the_taped_pass(Network& net, std::size_t fan_in, double ulps) {
  net.for_each_layer([](auto& layer) {  // biases start at 0: give them values
    for (std::size_t j = 0; j < layer.fan_out(); ++j) {
      layer.bias(j) = static_cast<T>(0.3 * std::cos(static_cast<double>(j)));
    }
  });
  std::vector<T> batch;
  for (std::size_t k = 0; k < 7 * fan_in; ++k) {  // 7 samples
    batch.push_back(static_cast<T>(std::sin(1.7 * static_cast<double>(k)) * 2));
  }
  Tape<T> tape;
  const std::size_t entries_before = tape.size();
  const std::vector<T> predicted = net.predict(batch);
  CHECK(tape.size() == entries_before);  // predict records nothing
  const std::size_t fan_out = predicted.size() / 7;
  REQUIRE(predicted.size() == 7 * fan_out);
  for (std::size_t sample = 0; sample < 7; ++sample) {
    tape.clear();
    net.begin_step();
    const std::vector<T> input(batch.begin() + static_cast<std::ptrdiff_t>(sample * fan_in),
                               batch.begin() + static_cast<std::ptrdiff_t>((sample + 1) * fan_in));
    const auto taped = net(input);
    const std::vector<T> alone = net.predict(input);
    for (std::size_t j = 0; j < fan_out; ++j) {
      INFO("sample ", sample, ", output ", j);
      CHECK(ulps_apart(predicted[sample * fan_out + j], taped[j].value()) <= ulps);
      CHECK(ulps_apart(alone[j], taped[j].value()) <= ulps);
    }
  }
}

}  // namespace

TEST_CASE("predict: a batch without a tape, as the taped forward pass computes each sample") {
  // The kernels are within 4 ulp of the exact activation (docs/reference.md),
  // and so are the scalar policies the tape uses; a hidden layer's difference
  // passes through the next layer's sum, hence a few ulp of slack.
  SUBCASE("double, Tanh then Sigmoid") {
    Net net(nn::Dense<double, tinygrad::Tanh>(3, 5, 1),
            nn::Dense<double, tinygrad::Sigmoid>(5, 1, 2));
    check_predict_matches_the_taped_pass<double>(net, 3, 8);
  }
  SUBCASE("float, GELU, SiLU, Softplus, ELU, ReLU and Identity") {
    nn::Sequential net(
        nn::Dense<float, tinygrad::GELU>(4, 9, 3), nn::Dense<float, tinygrad::SiLU>(9, 6, 4),
        nn::Dense<float, tinygrad::Softplus>(6, 6, 5), nn::Dense<float, tinygrad::ELU>(6, 5, 6),
        nn::Dense<float, tinygrad::ReLU>(5, 5, 7), nn::Dense<float, tinygrad::Identity>(5, 2, 8));
    check_predict_matches_the_taped_pass<float>(net, 4, 8);
  }
  SUBCASE("a layer alone, into a caller's buffer") {
    nn::Dense<double, tinygrad::Sigmoid> layer(2, 3, 9);
    layer.bias(1) = 0.75;
    const std::vector<double> inputs{0.5, -1.0, 2.0, 0.25};
    std::vector<double> outputs(6);
    layer.predict(inputs, outputs);
    for (std::size_t sample = 0; sample < 2; ++sample) {
      for (std::size_t j = 0; j < 3; ++j) {
        const double z = layer.bias(j) + layer.weight(j, 0) * inputs[2 * sample] +
                         layer.weight(j, 1) * inputs[2 * sample + 1];
        CHECK(ulps_apart(outputs[3 * sample + j], 1 / (1 + std::exp(-z))) <= 4);
      }
    }
  }
}

TEST_CASE("predict: no samples give no outputs; a partial sample or output is refused") {
  Net net(nn::Dense<double, tinygrad::Tanh>(3, 5, 1),
          nn::Dense<double, tinygrad::Sigmoid>(5, 1, 2));
  CHECK(net.predict(std::vector<double>{}).empty());
  CHECK_THROWS_WITH_AS((void)net.predict(std::vector<double>{1.0, 2.0, 3.0, 4.0}),
                       "nn::Dense: predict's input has 4 values, not a whole number of samples "
                       "of fan_in 3",
                       std::invalid_argument);
  const std::vector<double> one_sample{1.0, 2.0, 3.0};
  std::vector<double> too_small(4);
  CHECK_THROWS_WITH_AS(net.layer<0>().predict(one_sample, too_small),
                       "nn::Dense: predict's output has 4 values, 1 samples need 5",
                       std::invalid_argument);
  std::vector<double> shared{1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0};
  nn::Dense<double, tinygrad::Tanh> square(2, 2, 3);
  CHECK_THROWS_WITH_AS(square.predict(std::span<const double>(shared).first(4),
                                      std::span<double>(shared).subspan(2, 4)),
                       "nn::Dense: predict's output overlaps its input", std::invalid_argument);
  CHECK_NOTHROW(square.predict(std::span<const double>(shared).first(4),
                               std::span<double>(shared).subspan(4, 4)));  // adjacent: fine
}

TEST_CASE("stale gradients: never collected, or already stepped on, is a logic_error") {
  Net net(nn::Dense<double, tinygrad::Tanh>(2, 3, 1),
          nn::Dense<double, tinygrad::Sigmoid>(3, 1, 2));
  nn::Adam<double> adam(0.1);
  Tape<double> tape;
  const std::vector<double> x{0.5, -1.0};
  const auto pass = [&] {
    tape.clear();
    net.begin_step();
    nn::half_squared_error(net(x)[0], 1.0).backward();
  };
  const std::vector<double> before(net.layer<0>().parameters().begin(),
                                   net.layer<0>().parameters().end());
  const auto unchanged = [&] {
    return std::equal(before.begin(), before.end(), net.layer<0>().parameters().begin());
  };
  pass();
  CHECK_THROWS_WITH_AS(adam.step(net),
                       "nn::Adam: block 0 is a layer that ran forward passes but never collected "
                       "their gradients: call collect_gradients() after backward(), before step()",
                       std::logic_error);
  CHECK(unchanged());
  net.collect_gradients();
  adam.step(net);
  CHECK_FALSE(unchanged());
  const std::vector<double> after_one(net.layer<0>().parameters().begin(),
                                      net.layer<0>().parameters().end());
  CHECK_THROWS_WITH_AS(adam.step(net),
                       "nn::Adam: block 0 is a layer whose gradients the last step already used: "
                       "call collect_gradients() after the next backward(), before step()",
                       std::logic_error);
  CHECK(std::equal(after_one.begin(), after_one.end(), net.layer<0>().parameters().begin()));
  pass();  // forgot collect_gradients() this time: the last step's gradients
  CHECK_THROWS_AS(adam.step(net), std::logic_error);
  net.collect_gradients();
  CHECK_NOTHROW(adam.step(net));
  // Plain spans carry no such record: stepping twice on them is the caller's choice.
  std::vector<double> p{1.0};
  const std::vector<double> g{1.0};
  nn::SGD<double> sgd(0.5);
  sgd.step(p, g);
  sgd.step(p, g);
  CHECK(p[0] == 0.0);
}

#ifndef TINYGRAD_NO_CHECKS  // the tape's check of dropped Vars, compiled out there
TEST_CASE("a step whose tape was cleared after its first pass says what to call") {
  Net net(nn::Dense<double, tinygrad::Tanh>(2, 3, 1),
          nn::Dense<double, tinygrad::Sigmoid>(3, 1, 2));
  Tape<double> tape;
  const std::vector<double> x{0.5, -1.0};
  net.begin_step();
  (void)net(x);
  tape.clear();  // drops the first pass's units; begin_step() should follow
  nn::half_squared_error(net(x)[0], 1.0).backward();
  try {
    net.collect_gradients();
    FAIL("collect_gradients() read units that the clear dropped");
  } catch (const tinygrad::tape_error& error) {
    const std::string message = error.what();
    CHECK(message.find("nn::Dense: collect_gradients() cannot read this step's forward passes "
                       "(each step: clear the tape, then begin_step(), then the passes)") == 0);
    CHECK(message.find("clear() or rewind() has since dropped it") != std::string::npos);
  }
  CHECK(net.layer<0>().gradient_status().collections == 0);  // not counted as collected
}
#endif

TEST_CASE("on plain inputs only the last layer records; the gradients are the recorded path's") {
  const auto make = [] {
    return nn::Sequential(nn::Dense<double, tinygrad::Tanh>(3, 5, 21),
                          nn::Dense<double, tinygrad::ReLU>(5, 4, 22),
                          nn::Dense<double, tinygrad::Sigmoid>(4, 2, 23));
  };
  // Ten samples: a block of 8 summed side by side, and 2 one by one.
  std::vector<double> batch;
  for (std::size_t k = 0; k < 30; ++k) {
    batch.push_back(std::sin(1.3 * static_cast<double>(k)));
  }
  const auto gradients_of = [](auto& net) {
    std::vector<double> all;
    net.for_each_layer([&](const auto& layer) {
      all.insert(all.end(), layer.gradients().begin(), layer.gradients().end());
    });
    return all;
  };

  auto plain = make();
  Tape<double> tape;
  plain.begin_step();
  const std::size_t before = tape.size();
  const auto plain_out = plain(batch);
  CHECK(tape.size() - before == 10 * 2);  // the last layer's units, nothing below
  Var<double> plain_loss = 0.0;
  for (const Var<double>& y : plain_out) {
    plain_loss += y * y;
  }
  plain_loss.backward();
  plain.collect_gradients();

  // The same network fed with Vars records every layer's units on the tape.
  auto recorded = make();
  tape.clear();
  recorded.begin_step();
  const std::vector<Var<double>> inputs(batch.begin(), batch.end());
  const auto recorded_out = recorded(std::span<const Var<double>>(inputs));
  Var<double> recorded_loss = 0.0;
  for (const Var<double>& y : recorded_out) {
    recorded_loss += y * y;
  }
  recorded_loss.backward();
  recorded.collect_gradients();

  tinygrad_test::check_close(plain_loss.value(), recorded_loss.value(), 1e-15);
  const std::vector<double> a = gradients_of(plain);
  const std::vector<double> b = gradients_of(recorded);
  REQUIRE(a.size() == b.size());
  double largest = 0;
  for (const double g : b) {
    largest = std::max(largest, std::abs(g));
  }
  for (std::size_t k = 0; k < a.size(); ++k) {
    INFO("parameter ", k);
    CHECK(std::abs(a[k] - b[k]) <= 1e-14 * largest);
  }
}

TEST_CASE("plain and recorded passes in one step, or a layer collected on its own, are refused") {
  Net net(nn::Dense<double, tinygrad::Tanh>(2, 3, 1),
          nn::Dense<double, tinygrad::Sigmoid>(3, 1, 2));
  Tape<double> tape;
  const std::vector<double> x{0.5, -1.0};
  const std::vector<Var<double>> recorded_x(x.begin(), x.end());
  net.begin_step();
  (void)net(x);
  CHECK_THROWS_WITH_AS(
      (void)net(std::span<const Var<double>>(recorded_x)),
      "nn::Sequential: one step's forward passes take plain inputs or Vars, not both",
      std::logic_error);
  nn::half_squared_error(net(x)[0], 1.0).backward();
  CHECK_THROWS_WITH_AS(net.layer<0>().collect_gradients(),
                       "nn::Dense: this step's passes ran inside a Sequential on plain inputs, "
                       "which carries the gradient down through its layers: call the "
                       "Sequential's collect_gradients()",
                       std::logic_error);
  // The last layer run once more on its own: the layers' passes disagree.
  (void)net.layer<1>()(std::vector<double>{0.1, 0.2, 0.3});
  CHECK_THROWS_AS(net.collect_gradients(), std::logic_error);
  // A new step may take the other kind of input.
  tape.clear();
  net.begin_step();
  const std::vector<Var<double>> new_x(x.begin(), x.end());
  nn::half_squared_error(net(std::span<const Var<double>>(new_x))[0], 1.0).backward();
  net.collect_gradients();
  CHECK(net.layer<0>().gradient_status().collections == 1);
}
