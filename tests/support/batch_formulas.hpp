// SPDX-License-Identifier: MIT
#pragma once

#include <tinygrad/detail/vector_math.hpp>

namespace tinygrad_test {

/// e^x and log x as a batched trace replay computes them (vector_math.hpp's
/// exponential and logarithm), as policies: a recording that calls
/// activate on them in place of exp and log gives the bits a batch gives
/// for a trace that calls exp and log.
struct BatchExponential {
  template <class T>
  static T value(T x) {
    return tinygrad::detail::exponential(x);
  }
  template <class T>
  static T derivative(T x) {
    return tinygrad::detail::exponential(x);
  }
};

struct BatchLogarithm {
  template <class T>
  static T value(T x) {
    return tinygrad::detail::logarithm(x);
  }
  template <class T>
  static T derivative(T x) {
    return T(1) / x;
  }
};

}  // namespace tinygrad_test
