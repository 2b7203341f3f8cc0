// SPDX-License-Identifier: MIT
// Gradient-flow diagnostics: the notebook's 40x, dead and saturated units, the
// table and the CSV.

#include <tinygrad/diagnostics.hpp>
#include <tinygrad/loss.hpp>

#include <doctest/doctest.h>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

using tinygrad::Tape;
namespace nn = tinygrad::nn;

namespace {

/// The notebook's network from layers (every weight 0.5, biases 0, x = y = 1),
/// one step, and its report.
template <class Policy>
nn::GradientFlowReport notebook_report() {
  using Layer = nn::Dense<double, Policy>;
  Layer first(1, 1, 1), second(1, 1, 2), third(1, 1, 3);
  first.weight(0, 0) = second.weight(0, 0) = third.weight(0, 0) = 0.5;
  nn::Sequential net(first, second, third);
  Tape<double> tape;
  net.begin_step();
  const auto y_pred = net(std::vector<double>{1.0})[0];
  nn::half_squared_error(y_pred, 1.0).backward();
  net.collect_gradients();
  return nn::gradient_flow(net);
}

}  // namespace

TEST_CASE("the report says what the notebook shows: w1's gradient 40x smaller with Sigmoid") {
  const auto sigmoid = notebook_report<tinygrad::Sigmoid>();
  REQUIRE(sigmoid.layers.size() == 3);
  CHECK(sigmoid.layers[2].mean_abs_weight_grad == doctest::Approx(0.060540).epsilon(1e-4));
  CHECK(sigmoid.layers[0].mean_abs_weight_grad == doctest::Approx(0.001504).epsilon(1e-3));
  CHECK(1 / sigmoid.layers[0].ratio_to_last == doctest::Approx(40.25).epsilon(1e-3));
  CHECK(sigmoid.layers[2].ratio_to_last == 1.0);
  CHECK(sigmoid.layers[0].activation == "sigmoid");

  const auto relu = notebook_report<tinygrad::ReLU>();
  for (const auto& layer : relu.layers) {
    // a1 = 0.5, a2 = 0.25, y = 0.125: every gradient is -0.875 / 4, exactly.
    CHECK(layer.ratio_to_last == 1.0);
    CHECK(layer.mean_abs_weight_grad == 0.21875);
    CHECK(layer.dead_fraction == 0.0);
  }
}

TEST_CASE("dead ReLU units and saturated sigmoid units are counted over the step's passes") {
  nn::Dense<double, tinygrad::ReLU> relu(1, 4, 1);
  nn::Dense<double, tinygrad::Sigmoid> sigmoid(1, 4, 1);
  for (std::size_t j = 0; j < 4; ++j) {
    relu.weight(j, 0) = j < 3 ? -1.0 : 1.0;     // three units negative for a positive input
    sigmoid.weight(j, 0) = j < 1 ? 20.0 : 0.1;  // one unit far into the flat tail
  }
  nn::Sequential relu_net(relu);
  nn::Sequential sigmoid_net(sigmoid);
  Tape<double> tape;
  relu_net.begin_step();
  sigmoid_net.begin_step();
  for (const double x : {1.0, 2.0}) {  // two passes in one step
    (void)relu_net(std::vector<double>{x});
    (void)sigmoid_net(std::vector<double>{x});
  }
  const auto relu_report = nn::gradient_flow(relu_net);
  const auto sigmoid_report = nn::gradient_flow(sigmoid_net);
  CHECK(relu_report.layers[0].dead_fraction == 0.75);
  CHECK(relu_report.layers[0].saturated_fraction == 0.0);
  CHECK(sigmoid_report.layers[0].saturated_fraction == 0.25);  // sigmoid'(20) < 1 % of 0.25
  CHECK(sigmoid_report.layers[0].dead_fraction == 0.0);
}

namespace {

/// |dL/dw| of the notebook's sigmoid network for w1, w2, w3, by the chain
/// rule written out on plain doubles (as the notebook does).
std::vector<double> notebook_sigmoid_gradients() {
  const auto s = [](double z) { return 1 / (1 + std::exp(-z)); };
  const double a1 = s(0.5), a2 = s(0.5 * a1), y = s(0.5 * a2);
  const double d3 = (y - 1) * y * (1 - y);
  const double d2 = d3 * 0.5 * a2 * (1 - a2);
  const double d1 = d2 * 0.5 * a1 * (1 - a1);
  return {std::abs(d1 * 1.0), std::abs(d2 * a1), std::abs(d3 * a2)};
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> result;
  for (std::string word; in >> word;) {
    result.push_back(word);
  }
  return result;
}

std::string scientific(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3e", x);
  return text;
}

}  // namespace

TEST_CASE("the report prints as a table and exports as CSV, with the notebook's numbers") {
  const auto report = notebook_report<tinygrad::Sigmoid>();
  const std::vector<double> g = notebook_sigmoid_gradients();
  std::ostringstream table;
  table << report;
  std::istringstream lines(table.str());
  std::string line;
  std::getline(lines, line);
  CHECK(words(line) == std::vector<std::string>{"layer", "activation", "shape", "mean", "|grad|",
                                                "max", "|grad|", "vs", "last", "saturated",
                                                "dead"});
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("layer ", k);
    REQUIRE(std::getline(lines, line));
    // One weight per layer: mean and max |grad| are both |dL/dw|.
    CHECK(words(line) == std::vector<std::string>{std::to_string(k), "sigmoid", "1x1",
                                                  scientific(g[k]), scientific(g[k]),
                                                  scientific(g[k] / g[2]), "0.0%", "0.0%"});
  }
  CHECK_FALSE(std::getline(lines, line));

  std::ostringstream csv;
  report.write_csv(csv);
  std::istringstream csv_lines(csv.str());
  std::getline(csv_lines, line);
  CHECK(line ==
        "layer,activation,fan_in,fan_out,mean_abs_weight_grad,max_abs_weight_grad,ratio_to_last,"
        "saturated_fraction,dead_fraction");
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("layer ", k);
    REQUIRE(std::getline(csv_lines, line));
    std::istringstream fields(line);
    std::vector<std::string> field;
    for (std::string f; std::getline(fields, f, ',');) {
      field.push_back(f);
    }
    REQUIRE(field.size() == 9);
    CHECK(field[0] == std::to_string(k));
    CHECK(field[1] == "sigmoid");
    CHECK(field[2] == "1");
    CHECK(field[3] == "1");
    // Nine significant digits: within half a unit of the ninth, 5e-9 relative.
    CHECK(std::abs(std::stod(field[4]) - g[k]) <= 5e-9 * g[k]);
    CHECK(std::abs(std::stod(field[5]) - g[k]) <= 5e-9 * g[k]);
    CHECK(std::abs(std::stod(field[6]) - g[k] / g[2]) <= 5e-9 * g[k] / g[2]);
    CHECK(field[7] == "0");
    CHECK(field[8] == "0");
  }
}

TEST_CASE("a last layer whose gradient is exactly 0: the ratios follow IEEE division") {
  // The target equals the prediction, so every gradient is exactly 0; a
  // first layer with a nonzero gradient would give +inf.
  using Layer = nn::Dense<double, tinygrad::Identity>;
  Layer first(1, 1, 1), second(1, 1, 2);
  first.weight(0, 0) = 2.0;
  second.weight(0, 0) = 3.0;
  nn::Sequential net(first, second);
  Tape<double> tape;
  net.begin_step();
  const auto y = net(std::vector<double>{1.0})[0];
  nn::half_squared_error(y, y.value()).backward();
  net.collect_gradients();
  const auto report = nn::gradient_flow(net);
  REQUIRE(report.layers.size() == 2);
  CHECK(report.layers[1].mean_abs_weight_grad == 0.0);
  CHECK(std::isnan(report.layers[0].ratio_to_last));  // 0 / 0
  CHECK(std::isnan(report.layers[1].ratio_to_last));
  std::ostringstream table;
  CHECK_NOTHROW(table << report);
  CHECK(table.str().find("nan") != std::string::npos);

  // The same network with only the last layer's weight gradient cut to 0:
  // the first layer's ratio is +inf.
  nn::Dense<double, tinygrad::ReLU> relu_first(1, 1, 1);
  nn::Dense<double, tinygrad::ReLU> relu_last(1, 1, 2);
  relu_first.weight(0, 0) = 1.0;
  relu_last.weight(0, 0) = 1.0;
  nn::Sequential relu_net(relu_first, relu_last);
  relu_net.begin_step();
  const auto out = relu_net(std::vector<double>{1.0})[0];
  nn::half_squared_error(out, 3.0).backward();
  relu_net.collect_gradients();
  const auto relu_report = nn::gradient_flow(relu_net);
  CHECK(relu_report.layers[1].mean_abs_weight_grad == 2.0);  // (1 - 3) * a1 = -2
  CHECK(relu_report.layers[0].ratio_to_last == 1.0);
}
