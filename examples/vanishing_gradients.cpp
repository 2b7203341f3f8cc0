// SPDX-License-Identifier: MIT
// The notebook's question for deeper networks and five activations.
//
// 1. The notebook's chain (x = 1, y = 1, every weight 0.5, biases 0) at depth
//    30: |dL/dw_i| for every layer i, for Sigmoid, Tanh, ReLU, LeakyReLU and
//    GELU, as a table, a CSV and an SVG chart (log scale, one line each); and
//    at every depth from 1 to 30, w1's gradient against the last layer's.
// 2. A 10-layer MLP (8 inputs, 16 units per hidden layer, 1 linear output,
//    initialised for its activation) after one backward pass: the per-layer
//    gradient-flow report of each activation, printed and written as CSV.
//
//   vanishing_gradients [output directory]   writes chain_gradients.csv,
//     chain_gradients.svg, depth_gradients.csv (depths 1..30), mlp_gradient_flow.csv
//
// Checks that the depth-3 chain reproduces the notebook (w1's gradient 40x
// smaller than w3's with Sigmoid, equal with ReLU) and exits non-zero if not.

#include <tinygrad/tinygrad.hpp>

#include "line_chart.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace nn = tinygrad::nn;
using tinygrad::Var;

namespace {

/// |dL/dw_i| for i = 1..depth of the notebook's chain with activation P.
template <class P>
std::vector<double> chain_gradients(int depth) {
  tinygrad::Tape<double> tape;
  std::vector<Var<double>> weights;
  weights.reserve(static_cast<std::size_t>(depth));
  for (int i = 0; i < depth; ++i) {
    weights.emplace_back(0.5);
  }
  Var<double> a = 1.0;  // x
  for (const Var<double>& w : weights) {
    a = tinygrad::activate<P>(w * a + 0.0);
  }
  nn::half_squared_error(a, 1.0).backward();
  std::vector<double> magnitudes;
  magnitudes.reserve(weights.size());
  for (const Var<double>& w : weights) {
    magnitudes.push_back(std::abs(w.grad()));
  }
  return magnitudes;
}

template <class P>
examples::Series chain_series(const char* name, int depth, std::ofstream& csv) {
  examples::Series series{name, {}, {}};
  const auto gradients = chain_gradients<P>(depth);
  for (std::size_t i = 0; i < gradients.size(); ++i) {
    series.x.push_back(static_cast<double>(i + 1));
    series.y.push_back(gradients[i]);
    csv << name << ',' << i + 1 << ',' << gradients[i] << '\n';
  }
  std::printf("  %-10s |dL/dw1| = %.3e  |dL/dw30| = %.3e  ratio w1/w30 = %.3e\n", name,
              gradients.front(), gradients.back(), gradients.front() / gradients.back());
  return series;
}

/// The 10-layer MLP's report after one backward pass.
template <class P>
nn::GradientFlowReport mlp_report() {
  using Hidden = nn::Dense<double, P>;
  nn::Sequential net(Hidden(8, 16, 1), Hidden(16, 16, 2), Hidden(16, 16, 3), Hidden(16, 16, 4),
                     Hidden(16, 16, 5), Hidden(16, 16, 6), Hidden(16, 16, 7), Hidden(16, 16, 8),
                     Hidden(16, 16, 9), nn::Dense<double, tinygrad::Identity>(16, 1, 10));
  std::vector<double> input(8);
  for (std::size_t i = 0; i < input.size(); ++i) {
    input[i] = std::sin(1.0 + static_cast<double>(i));  // a fixed input in [-1, 1]
  }
  tinygrad::Tape<double> tape;
  net.begin_step();
  nn::half_squared_error(net(input)[0], 1.0).backward();
  net.collect_gradients();
  return nn::gradient_flow(net);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string directory = examples::output_directory(argc, argv);
  constexpr int depth = 30;

  std::printf("The notebook's chain at depth %d (every weight 0.5, x = y = 1):\n", depth);
  std::ofstream chain_csv(directory + "/chain_gradients.csv");
  chain_csv << "activation,layer,abs_gradient\n";
  const std::vector<examples::Series> series{
      chain_series<tinygrad::Sigmoid>("Sigmoid", depth, chain_csv),
      chain_series<tinygrad::Tanh>("Tanh", depth, chain_csv),
      chain_series<tinygrad::ReLU>("ReLU", depth, chain_csv),
      chain_series<tinygrad::LeakyReLU>("LeakyReLU", depth, chain_csv),
      chain_series<tinygrad::GELU>("GELU", depth, chain_csv)};
  examples::write_line_chart(
      directory + "/chain_gradients.svg", "|dL/dw| per layer, the notebook's chain at depth 30",
      "layer (1 = next to the input)", "|dL/dw| (loss per unit weight)", series, true);

  // The chain at every depth from 1 to 30: how w1's gradient compares with
  // the last layer's as the network deepens.
  std::ofstream depth_csv(directory + "/depth_gradients.csv");
  depth_csv << "activation,depth,abs_gradient_first,abs_gradient_last,first_over_last\n";
  const auto by_depth = [&](const char* name, auto gradients_at) {
    for (int d = 1; d <= depth; ++d) {
      const std::vector<double> g = gradients_at(d);
      depth_csv << name << ',' << d << ',' << g.front() << ',' << g.back() << ','
                << g.front() / g.back() << '\n';
    }
  };
  by_depth("Sigmoid", chain_gradients<tinygrad::Sigmoid>);
  by_depth("Tanh", chain_gradients<tinygrad::Tanh>);
  by_depth("ReLU", chain_gradients<tinygrad::ReLU>);
  by_depth("LeakyReLU", chain_gradients<tinygrad::LeakyReLU>);
  by_depth("GELU", chain_gradients<tinygrad::GELU>);

  std::printf("\nA 10-layer MLP (8-16-...-16-1), one backward pass:\n");
  std::ofstream mlp_csv(directory + "/mlp_gradient_flow.csv");
  const auto report_for = [&](const char* name, const nn::GradientFlowReport& report) {
    std::cout << '\n' << name << ":\n" << report;
    std::ostringstream rows;
    report.write_csv(rows);
    std::string line;
    std::istringstream lines(rows.str());
    std::getline(lines, line);  // the header, written once below
    while (std::getline(lines, line)) {
      mlp_csv << name << ',' << line << '\n';
    }
  };
  mlp_csv << "network,layer,activation,fan_in,fan_out,mean_abs_weight_grad,max_abs_weight_grad,"
             "ratio_to_last,saturated_fraction,dead_fraction\n";
  report_for("Sigmoid", mlp_report<tinygrad::Sigmoid>());
  report_for("Tanh", mlp_report<tinygrad::Tanh>());
  report_for("ReLU", mlp_report<tinygrad::ReLU>());
  report_for("LeakyReLU", mlp_report<tinygrad::LeakyReLU>());
  report_for("GELU", mlp_report<tinygrad::GELU>());

  // The notebook, as a check: depth 3.
  const auto sigmoid3 = chain_gradients<tinygrad::Sigmoid>(3);
  const auto relu3 = chain_gradients<tinygrad::ReLU>(3);
  const double ratio = sigmoid3[2] / sigmoid3[0];
  const bool ok = std::abs(ratio - 40.25) < 0.05 && relu3[0] == relu3[2] &&
                  std::abs(relu3[0] - 0.21875) < 1e-15;
  std::printf("\nDepth 3, as in the notebook: Sigmoid |dL/dw3| / |dL/dw1| = %.2f, ReLU %s: %s\n",
              ratio, relu3[0] == relu3[2] ? "equal" : "NOT equal", ok ? "ok" : "MISMATCH");
  std::printf(
      "Wrote %s/chain_gradients.csv, chain_gradients.svg, depth_gradients.csv, "
      "mlp_gradient_flow.csv\n",
      directory.c_str());
  return ok && chain_csv && depth_csv && mlp_csv ? 0 : 1;
}
