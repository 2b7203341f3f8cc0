// SPDX-License-Identifier: MIT
// Gradient-flow diagnostics: the notebook's 40x, dead and saturated units, the
// table and the CSV.

#include <tinygrad/diagnostics.hpp>
#include <tinygrad/loss.hpp>

#include <doctest/doctest.h>
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
    CHECK(layer.ratio_to_last == doctest::Approx(1.0));
    CHECK(layer.mean_abs_weight_grad == doctest::Approx(0.21875));
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

TEST_CASE("the report prints as a table and exports as CSV") {
  const auto report = notebook_report<tinygrad::Sigmoid>();
  std::ostringstream table;
  table << report;
  CHECK(table.str().find("mean |grad|") != std::string::npos);
  CHECK(table.str().find("sigmoid") != std::string::npos);
  std::ostringstream csv;
  report.write_csv(csv);
  std::istringstream lines(csv.str());
  std::string header;
  std::string first;
  std::getline(lines, header);
  std::getline(lines, first);
  CHECK(header ==
        "layer,activation,fan_in,fan_out,mean_abs_weight_grad,max_abs_weight_grad,ratio_to_last,"
        "saturated_fraction,dead_fraction");
  CHECK(first.rfind("0,sigmoid,1,1,0.0015038", 0) == 0);
}
