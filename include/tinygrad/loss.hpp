// SPDX-License-Identifier: MIT
#pragma once

// Loss functions on Vars. The two on logits are written in the forms that
// stay finite, with finite gradients, for any finite logit (±1000 included).

#include <tinygrad/var.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

namespace tinygrad::nn {

/// The notebook's loss: 0.5 (target - prediction)^2. The target is a number
/// of any arithmetic type (converted to T).
template <class T, tinygrad::detail::Scalar S>
Var<T> half_squared_error(const Var<T>& prediction, S target) {
  const Var<T> error = target - prediction;
  return 0.5 * error * error;
}

/// The mean of (prediction_i - target_i)^2.
template <class T>
Var<T> mean_squared_error(std::span<const Var<T>> prediction, std::span<const T> target) {
  tinygrad::detail::require_same_size("nn::mean_squared_error", "prediction", prediction.size(),
                                      "target", target.size());
  if (prediction.empty()) {
    throw std::invalid_argument(
        "tinygrad::nn::mean_squared_error: no predictions (the mean of "
        "none is undefined)");
  }
  Var<T> sum = (prediction[0] - target[0]) * (prediction[0] - target[0]);
  for (std::size_t i = 1; i < prediction.size(); ++i) {
    const Var<T> error = prediction[i] - target[i];
    sum += error * error;
  }
  return sum / static_cast<T>(prediction.size());
}

/// Binary cross-entropy of sigmoid(logit) against a target in [0, 1], written
/// as softplus(logit) - target * logit: no sigmoid that rounds to 0 or 1, no
/// log(0), gradient sigmoid(logit) - target.
template <class T, tinygrad::detail::Scalar S>
Var<T> binary_cross_entropy_with_logits(const Var<T>& logit, S target) {
  return softplus(logit) - target * logit;
}

/// Cross-entropy of softmax(logits) against class `target`:
/// log(sum_i e^(logit_i)) - logit_target, with the largest logit taken out of
/// the sum first so that no exponential overflows. (Subtracting that maximum
/// as a constant is exact: it cancels, in the value and in the gradient.)
template <class T>
Var<T> softmax_cross_entropy(std::span<const Var<T>> logits, std::size_t target) {
  if (target >= logits.size()) {
    throw std::invalid_argument("nn::softmax_cross_entropy: class " + std::to_string(target) +
                                " out of range for " + std::to_string(logits.size()) + " logits");
  }
  T largest = logits[0].value();
  for (const Var<T>& z : logits) {
    largest = std::max(largest, z.value());
  }
  Var<T> sum = exp(logits[0] - largest);
  for (std::size_t i = 1; i < logits.size(); ++i) {
    sum += exp(logits[i] - largest);
  }
  return log(sum) + largest - logits[target];
}

/// mean_squared_error and softmax_cross_entropy over any contiguous ranges
/// (std::vector, std::array, C arrays, spans).
template <tinygrad::detail::VarRange Predictions, class Targets>
requires tinygrad::detail::ContiguousRangeOf<Targets, tinygrad::detail::VarRangeValue<Predictions>>
auto mean_squared_error(const Predictions& prediction, const Targets& target) {
  using T = tinygrad::detail::VarRangeValue<Predictions>;
  return mean_squared_error<T>(std::span<const Var<T>>(prediction), std::span<const T>(target));
}

template <tinygrad::detail::VarRange Logits>
auto softmax_cross_entropy(const Logits& logits, std::size_t target) {
  using T = tinygrad::detail::VarRangeValue<Logits>;
  return softmax_cross_entropy<T>(std::span<const Var<T>>(logits), target);
}

}  // namespace tinygrad::nn
