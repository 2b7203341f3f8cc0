// SPDX-License-Identifier: MIT
#pragma once

// Independent yardsticks for gradients: central finite differences and
// tolerance checks. Nothing here uses tinygrad.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

namespace tinygrad_test {

/// d f / dx at x by central differences with one Richardson step, so the
/// truncation error is O(h^4): below 1e-8 relative for f smooth within 100 h
/// of x (so within 0.01 of x near 0); rounding adds about 1e-12.
template <class F>
double central_difference(F f, double x) {
  const double h = 1e-4 * std::max(1.0, std::abs(x));
  const auto estimate = [&](double step) { return (f(x + step) - f(x - step)) / (2 * step); };
  return (4 * estimate(h / 2) - estimate(h)) / 3;
}

/// Checks |actual - expected| <= tolerance * max(1, |expected|).
inline void check_close(double actual, double expected, double tolerance) {
  INFO("actual = ", actual, ", expected = ", expected);
  CHECK(std::abs(actual - expected) <= tolerance * std::max(1.0, std::abs(expected)));
}

/// Checks |actual - expected| <= tolerance * |expected| (pure relative), for
/// values whose magnitude matters down to the last bit, such as tails.
inline void check_relative(long double actual, long double expected, long double tolerance) {
  INFO("actual = ", static_cast<double>(actual), ", expected = ", static_cast<double>(expected));
  CHECK(std::abs(actual - expected) <= tolerance * std::abs(expected));
}

}  // namespace tinygrad_test
