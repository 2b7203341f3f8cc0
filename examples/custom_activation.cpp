// SPDX-License-Identifier: MIT
// A user-defined activation policy. A policy is a plain class with two static
// member function templates, value and derivative; tinygrad records it as one
// tape entry like its own Sigmoid or ReLU.

#include <tinygrad/var.hpp>

#include <cmath>
#include <cstdio>

// Softsign: x / (1 + |x|), with derivative 1 / (1 + |x|)^2.
struct Softsign {
  template <class T>
  static T value(T x) {
    return x / (1 + std::abs(x));
  }
  template <class T>
  static T derivative(T x) {
    const T d = 1 + std::abs(x);
    return 1 / (d * d);
  }
};

static_assert(tinygrad::ActivationPolicy<Softsign, double>,
              "Softsign provides value and derivative");

int main() {
  tinygrad::Tape<double> tape;
  tinygrad::Var<double> w = 0.8;
  tinygrad::Var<double> x = 2.0;

  const auto out = tinygrad::activate<Softsign>(w * x) * 3;  // 3 softsign(w x)
  out.backward();

  // d out / d w = 3 softsign'(w x) x, checked by central differences.
  const auto f = [](double wv) { return 3 * Softsign::value(wv * 2.0); };
  const double h = 1e-6;
  const double finite_difference = (f(0.8 + h) - f(0.8 - h)) / (2 * h);

  std::printf("out = %.6f\n", out.value());
  std::printf("d out / d w = %.9f (finite differences: %.9f)\n", w.grad(), finite_difference);
  std::printf("d out / d x = %.9f\n", x.grad());
  return std::abs(w.grad() - finite_difference) < 1e-7 ? 0 : 1;
}
