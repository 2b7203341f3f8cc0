// SPDX-License-Identifier: MIT
#pragma once

// Rosenbrock's function in n dimensions, written once for every number type
// the library differentiates, and its gradient derived by hand.

#include <cstddef>
#include <vector>

namespace tinygrad_test {

/// sum over i of 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2: 8 operations per
/// term, and one (0 * x[0]) to start the sum.
inline const auto rosenbrock = [](auto x) {
  auto sum = 0.0 * x[0];
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const auto t = x[i + 1] - x[i] * x[i];
    const auto u = 1.0 - x[i];
    sum = sum + 100.0 * t * t + u * u;
  }
  return sum;
};

/// Its gradient, by hand.
inline std::vector<double> rosenbrock_gradient(const std::vector<double>& x) {
  std::vector<double> g(x.size(), 0.0);
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double t = x[i + 1] - x[i] * x[i];
    g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i]);
    g[i + 1] += 200.0 * t;
  }
  return g;
}

}  // namespace tinygrad_test
