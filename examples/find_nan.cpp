// SPDX-License-Identifier: MIT
// Where did the infinity come from? Anomaly detection names the operation
// and the line.
//
// A hand-written binary cross-entropy, -(y log a + (1 - y) log(1 - a)), works
// until the sigmoid saturates: for target y = 0 and z = 40, a rounds to
// exactly 1 and log(1 - a) is -inf, although the true loss is 40 and the true
// gradient 1. Without detection all one learns is that the loss and the
// gradient are infinite; with it, the report names `log` and this file's
// line. (The cure: tinygrad::binary_cross_entropy_with_logits, which takes z.)

#include <tinygrad/var.hpp>

#include <cmath>
#include <cstdio>
#include <string>

namespace {

using tinygrad::Var;

constexpr unsigned log_of_one_minus_a_line = __LINE__ + 2;
Var<double> cross_entropy(const Var<double>& a, double y) {
  return -(y * log(a) + (1 - y) * log(1.0 - a));  // log(0) when a rounds to 1
}

Var<double> loss(const Var<double>& w, const Var<double>& b) {
  const double x = 1.0;
  const double y = 0.0;
  return cross_entropy(tinygrad::sigmoid(w * x + b), y);
}

}  // namespace

int main() {
  {
    tinygrad::Tape<double> tape;
    const Var<double> w = 40.0;
    const Var<double> b = 0.0;
    const Var<double> l = loss(w, b);
    l.backward();
    std::printf("without detection: loss = %g, dloss/dw = %g\n", l.value(), w.grad());
    if (std::isfinite(l.value()) || std::isfinite(w.grad())) {
      std::printf("expected an infinite loss and gradient\n");
      return 1;
    }
  }
  tinygrad::Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> w = 40.0;
  const Var<double> b = 0.0;
  try {
    loss(w, b).backward();
  } catch (const tinygrad::numeric_error& e) {
    std::printf("with detection:\n%s\n", e.what());
    const tinygrad::Anomaly& anomaly = e.anomaly();
    const bool right = anomaly.operation == "log" && anomaly.file &&
                       anomaly.file->ends_with("find_nan.cpp") &&
                       anomaly.line == log_of_one_minus_a_line;
    if (!right) {
      std::printf("expected the report to blame log at line %u\n", log_of_one_minus_a_line);
      return 1;
    }
    return 0;
  }
  std::printf("expected a numeric_error\n");
  return 1;
}
