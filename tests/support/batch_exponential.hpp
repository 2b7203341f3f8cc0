// SPDX-License-Identifier: MIT
#pragma once

#include <tinygrad/detail/vector_math.hpp>

namespace tinygrad_test {

/// e^x as a batched trace replay computes it (vector_math.hpp's
/// exponential), as a policy: a recording that calls activate on it in
/// place of exp gives the bits a batch gives for a trace that calls exp.
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

}  // namespace tinygrad_test
