// SPDX-License-Identifier: MIT
#pragma once

// Optimizers over a model's plain parameters and collected gradients (nn.hpp),
// and clipping by norm. A model is anything with for_each_layer(f) whose
// layers have parameters() and gradients() spans of equal size.

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tinygrad::nn {

namespace detail {

/// Calls f(k, parameters, gradients) for each layer k of the model.
template <class Model, class F>
void for_each_parameter_block(Model& model, F&& f) {
  std::size_t k = 0;
  model.for_each_layer([&](auto& layer) {
    auto parameters = layer.parameters();
    auto gradients = layer.gradients();
    if (parameters.size() != gradients.size()) {
      throw std::invalid_argument("nn optimizer: layer " + std::to_string(k) + " has " +
                                  std::to_string(parameters.size()) + " parameters but " +
                                  std::to_string(gradients.size()) + " gradients");
    }
    f(k++, parameters, gradients);
  });
}

/// One state vector per layer, sized on first use.
template <class T>
std::span<T> state_for(std::vector<std::vector<T>>& states, std::size_t layer, std::size_t size) {
  if (states.size() <= layer) {
    states.resize(layer + 1);
  }
  if (states[layer].size() != size) {
    states[layer].assign(size, T(0));
  }
  return states[layer];
}

/// Throws std::invalid_argument unless low <= value < high (NaN fails), so
/// that a hyperparameter that would quietly corrupt training is refused.
/// `high_open` false makes the upper bound inclusive.
inline void require_in_range(const char* what, const char* name, long double value, long double low,
                             long double high, bool high_open = true) {
  const bool ok = value >= low && (high_open ? value < high : value <= high);
  if (!ok) {
    std::ostringstream message;
    message << "nn::" << what << ": " << name << " = " << value << " is outside [" << low << ", "
            << high << (high_open ? ")" : "]");
    throw std::invalid_argument(message.str());
  }
}

inline constexpr long double infinity = std::numeric_limits<long double>::infinity();

}  // namespace detail

/// Stochastic gradient descent with (heavy-ball) momentum:
/// v = momentum v + g, p = p - learning_rate v. A learning rate that is
/// negative, infinite or NaN, or a momentum outside [0, 1), is
/// std::invalid_argument.
template <class T>
class SGD {
 public:
  explicit SGD(T learning_rate, T momentum = T(0))
      : learning_rate_(learning_rate), momentum_(momentum) {
    detail::require_in_range("SGD", "learning_rate", learning_rate, 0, detail::infinity);
    detail::require_in_range("SGD", "momentum", momentum, 0, 1);
  }

  template <class Model>
  void step(Model& model) {
    detail::for_each_parameter_block(
        model, [&](std::size_t k, std::span<T> p, std::span<const T> g) {
          const std::span<T> velocity = detail::state_for(velocity_, k, p.size());
          for (std::size_t i = 0; i < p.size(); ++i) {
            velocity[i] = momentum_ * velocity[i] + g[i];
            p[i] -= learning_rate_ * velocity[i];
          }
        });
  }

 private:
  T learning_rate_;
  T momentum_;
  std::vector<std::vector<T>> velocity_;
};

/// Adam (Kingma and Ba, 2015) with bias-corrected moment estimates. A
/// learning rate or epsilon that is negative, infinite or NaN, or a beta
/// outside [0, 1), is std::invalid_argument (beta = 1 would divide by a zero
/// bias correction).
template <class T>
class Adam {
 public:
  explicit Adam(T learning_rate = T(1e-3), T beta1 = T(0.9), T beta2 = T(0.999),
                T epsilon = T(1e-8))
      : learning_rate_(learning_rate), beta1_(beta1), beta2_(beta2), epsilon_(epsilon) {
    detail::require_in_range("Adam", "learning_rate", learning_rate, 0, detail::infinity);
    detail::require_in_range("Adam", "beta1", beta1, 0, 1);
    detail::require_in_range("Adam", "beta2", beta2, 0, 1);
    detail::require_in_range("Adam", "epsilon", epsilon, 0, detail::infinity);
  }

  template <class Model>
  void step(Model& model) {
    ++steps_;
    const T correction1 = T(1) - std::pow(beta1_, static_cast<T>(steps_));
    const T correction2 = T(1) - std::pow(beta2_, static_cast<T>(steps_));
    detail::for_each_parameter_block(model, [&](std::size_t k, std::span<T> p,
                                                std::span<const T> g) {
      const std::span<T> m = detail::state_for(first_moment_, k, p.size());
      const std::span<T> v = detail::state_for(second_moment_, k, p.size());
      for (std::size_t i = 0; i < p.size(); ++i) {
        m[i] = beta1_ * m[i] + (T(1) - beta1_) * g[i];
        v[i] = beta2_ * v[i] + (T(1) - beta2_) * g[i] * g[i];
        p[i] -= learning_rate_ * (m[i] / correction1) / (std::sqrt(v[i] / correction2) + epsilon_);
      }
    });
  }

 private:
  T learning_rate_;
  T beta1_;
  T beta2_;
  T epsilon_;
  long steps_ = 0;
  std::vector<std::vector<T>> first_moment_;
  std::vector<std::vector<T>> second_moment_;
};

/// Scales every gradient of the model by max_norm / norm when their joint
/// Euclidean norm exceeds max_norm; returns the norm before clipping. A
/// non-finite norm is returned as it is and nothing is scaled. A max_norm
/// that is negative or NaN is std::invalid_argument (a negative one would
/// flip the gradients); +inf clips nothing.
template <class Model>
auto clip_grad_norm(Model& model, double max_norm) {
  detail::require_in_range("clip_grad_norm", "max_norm", max_norm, 0, detail::infinity, false);
  double squares = 0;
  detail::for_each_parameter_block(model, [&](std::size_t, auto, auto g) {
    for (const auto value : g) {
      squares += static_cast<double>(value) * static_cast<double>(value);
    }
  });
  const double norm = std::sqrt(squares);
  if (std::isfinite(norm) && norm > max_norm) {
    const double scale = max_norm / norm;
    model.for_each_layer([&](auto& layer) {
      for (auto& value : layer.gradients()) {
        value = static_cast<std::remove_reference_t<decltype(value)>>(value * scale);
      }
    });
  }
  return norm;
}

}  // namespace tinygrad::nn
