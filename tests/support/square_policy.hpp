// SPDX-License-Identifier: MIT
#pragma once

namespace tinygrad_test {

/// A user-defined activation policy, as a user would write one: x^2.
struct Square {
  template <class T>
  static T value(T x) {
    return x * x;
  }
  template <class T>
  static T derivative(T x) {
    return 2 * x;
  }
};

}  // namespace tinygrad_test
