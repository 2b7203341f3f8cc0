// SPDX-License-Identifier: MIT
#pragma once

// Gradient-flow diagnostics: after backward() and collect_gradients(), how
// large each layer's weight gradients are, relative to the last layer's, and
// how many of its units were saturated or dead in the forward passes of the
// step. The notebook's question, "do gradients vanish toward the input?",
// answered for any network built from nn layers.

#include <tinygrad/activation.hpp>
#include <tinygrad/nn.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iomanip>
#include <ostream>
#include <string>
#include <vector>

namespace tinygrad::nn {

/// One layer's line of the report.
struct LayerGradientStats {
  std::size_t layer = 0;
  std::string activation;
  std::size_t fan_in = 0;
  std::size_t fan_out = 0;
  double mean_abs_weight_grad = 0;
  double max_abs_weight_grad = 0;
  double ratio_to_last = 0;       ///< mean |grad| over the last layer's mean |grad|
  double saturated_fraction = 0;  ///< units whose derivative was below 1 % of its value at 0
  double dead_fraction = 0;       ///< units whose derivative was exactly 0
};

struct GradientFlowReport {
  std::vector<LayerGradientStats> layers;

  /// The report as CSV, a header line then one line per layer.
  void write_csv(std::ostream& out) const {
    out << "layer,activation,fan_in,fan_out,mean_abs_weight_grad,max_abs_weight_grad,"
           "ratio_to_last,saturated_fraction,dead_fraction\n";
    const auto flags = out.flags();
    const auto precision = out.precision();
    out << std::setprecision(9);
    for (const LayerGradientStats& s : layers) {
      out << s.layer << ',' << s.activation << ',' << s.fan_in << ',' << s.fan_out << ','
          << s.mean_abs_weight_grad << ',' << s.max_abs_weight_grad << ',' << s.ratio_to_last << ','
          << s.saturated_fraction << ',' << s.dead_fraction << '\n';
    }
    out.flags(flags);
    out.precision(precision);
  }
};

/// The report as a table.
inline std::ostream& operator<<(std::ostream& out, const GradientFlowReport& report) {
  const auto flags = out.flags();
  const auto precision = out.precision();
  out << std::setw(6) << "layer" << std::setw(12) << "activation" << std::setw(10) << "shape"
      << std::setw(14) << "mean |grad|" << std::setw(14) << "max |grad|" << std::setw(12)
      << "vs last" << std::setw(11) << "saturated" << std::setw(8) << "dead" << '\n';
  for (const LayerGradientStats& s : report.layers) {
    const std::string shape = std::to_string(s.fan_in) + "x" + std::to_string(s.fan_out);
    out << std::setw(6) << s.layer << std::setw(12) << s.activation << std::setw(10) << shape
        << std::scientific << std::setprecision(3) << std::setw(14) << s.mean_abs_weight_grad
        << std::setw(14) << s.max_abs_weight_grad << std::setw(12) << s.ratio_to_last << std::fixed
        << std::setprecision(1) << std::setw(10) << 100 * s.saturated_fraction << '%'
        << std::setw(7) << 100 * s.dead_fraction << "%\n";
    out.flags(flags);
    out.precision(precision);
  }
  return out;
}

namespace detail {

template <class T, class Policy>
LayerGradientStats layer_stats(const Dense<T, Policy>& layer) {
  LayerGradientStats stats;
  stats.activation = tinygrad::detail::policy_name<Policy>();
  stats.fan_in = layer.fan_in();
  stats.fan_out = layer.fan_out();
  const auto grads = layer.weight_gradients();
  for (const T g : grads) {
    const double magnitude = std::abs(static_cast<double>(g));
    stats.mean_abs_weight_grad += magnitude;
    if (std::isnan(magnitude) || magnitude > stats.max_abs_weight_grad) {
      stats.max_abs_weight_grad = magnitude;  // a NaN, once in, stays (std::max would drop it)
    }
  }
  stats.mean_abs_weight_grad /= static_cast<double>(grads.size());
  const auto z = layer.pre_activations();
  const T slope_at_zero = Policy::derivative(T(0));
  std::size_t saturated = 0;
  std::size_t dead = 0;
  for (const T value : z) {
    const T slope = Policy::derivative(value);
    if (slope == T(0)) {
      ++dead;
    } else if (slope_at_zero > T(0) && slope < T(0.01) * slope_at_zero) {
      ++saturated;
    }
  }
  if (!z.empty()) {
    stats.saturated_fraction = static_cast<double>(saturated) / static_cast<double>(z.size());
    stats.dead_fraction = static_cast<double>(dead) / static_cast<double>(z.size());
  }
  return stats;
}

}  // namespace detail

/// The report for a model of nn::Dense layers, from the gradients of its last
/// collect_gradients() and the forward passes since its last
/// begin_step().
template <class Model>
GradientFlowReport gradient_flow(const Model& model) {
  GradientFlowReport report;
  model.for_each_layer(
      [&](const auto& layer) { report.layers.push_back(detail::layer_stats(layer)); });
  for (std::size_t k = 0; k < report.layers.size(); ++k) {
    report.layers[k].layer = k;
    const double last = report.layers.back().mean_abs_weight_grad;
    report.layers[k].ratio_to_last = report.layers[k].mean_abs_weight_grad / last;
  }
  return report;
}

}  // namespace tinygrad::nn
