// SPDX-License-Identifier: MIT
// Per-sample gradients of the notebook's network over 100,000 samples: one
// trace, one batched replay.
//
// The network is the notebook's: a = sigmoid(w_i a + b_i) for three layers
// from a = x, loss 0.5 (y - a)^2. Its six parameters (w1..w3, b1..b3) are
// the trace's inputs, the same for every sample; each sample's (x, y) is
// data. values_and_gradients then gives every sample's loss and gradient,
// which is what per-sample clipping (differential privacy) or influence
// estimates need, and what a tape gets only by recording once per sample.
//
// The program checks itself and exits 1 if a check fails:
// - sample 0 is the notebook's (x = 1, y = 1, weights 0.5, biases 0): its
//   gradient is the notebook's, -0.001504, -0.007967 and -0.060540 for w1,
//   w2 and w3 to the notebook's 6 decimals;
// - every 997th sample's gradient equals a fresh tape recording's to 1e-12.
//
//   per_sample_gradients [--samples N]   (default 100000; other arguments,
//                                        such as the directory the tests
//                                        pass to every example, are ignored)

#include <tinygrad/trace.hpp>
#include <tinygrad/var.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

/// The notebook's network: p = (w1, w2, w3, b1, b2, b3), sample = (x, y).
const auto loss = [](auto p, auto sample) {
  auto a = tinygrad::activate<tinygrad::Sigmoid>(p[0] * sample[0] + p[3]);
  a = tinygrad::activate<tinygrad::Sigmoid>(p[1] * a + p[4]);
  a = tinygrad::activate<tinygrad::Sigmoid>(p[2] * a + p[5]);
  const auto error = sample[1] - a;
  return 0.5 * error * error;
};

bool check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t samples = 100'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--samples") {
      char* end = nullptr;
      samples = std::strtoul(argv[i + 1], &end, 10);
      if (end == argv[i + 1] || *end != '\0' || samples < 1) {
        std::fprintf(stderr, "per_sample_gradients: --samples takes a whole number of 1 or more\n");
        return 2;
      }
    }
  }
  const std::vector<double> parameters{0.5, 0.5, 0.5, 0.0, 0.0, 0.0};
  // Sample 0 is the notebook's; the others spread x over [-2, 2] with
  // targets 0 and 1.
  std::vector<double> data(2 * samples);
  data[0] = 1.0;
  data[1] = 1.0;
  for (std::size_t k = 1; k < samples; ++k) {
    data[2 * k] = 2.0 * std::sin(0.731 * static_cast<double>(k));
    data[2 * k + 1] = k % 2 == 0 ? 1.0 : 0.0;
  }

  tinygrad::Trace<double> trace = tinygrad::trace(loss, parameters, std::vector<double>{1.0, 1.0});
  std::vector<double> losses(samples);
  std::vector<double> gradients(6 * samples);
  trace.values_and_gradients(parameters, losses, gradients, data);

  bool ok = true;
  const auto near = [](double a, double b, double tolerance) {
    return std::abs(a - b) <= tolerance;
  };
  std::printf("sample 0 (the notebook's): dL/dw1 = %.6f, dL/dw2 = %.6f, dL/dw3 = %.6f\n",
              gradients[0], gradients[1], gradients[2]);
  ok = check(near(gradients[0], -0.001504, 5e-7), "dL/dw1 is the notebook's -0.001504") && ok;
  ok = check(near(gradients[1], -0.007967, 5e-7), "dL/dw2 is the notebook's -0.007967") && ok;
  ok = check(near(gradients[2], -0.060540, 5e-7), "dL/dw3 is the notebook's -0.060540") && ok;

  std::size_t compared = 0;
  double worst = 0.0;
  for (std::size_t k = 0; k < samples; k += 997) {
    tinygrad::Tape<double> tape;
    std::vector<tinygrad::Var<double>> p;
    tinygrad::record_leaves(parameters, p);
    const tinygrad::Var<double> y = loss(std::span<const tinygrad::Var<double>>(p),
                                         std::span<const double>(data).subspan(2 * k, 2));
    y.backward();
    for (std::size_t i = 0; i < 6; ++i) {
      worst = std::max(worst, std::abs(gradients[6 * k + i] - p[i].grad()));
    }
    worst = std::max(worst, std::abs(losses[k] - y.value()));
    ++compared;
  }
  std::printf("%zu samples against a tape recording each: largest difference %.3g\n", compared,
              worst);
  ok = check(worst <= 1e-12, "the batch agrees with a tape recording per sample") && ok;

  double norm_sum = 0.0;
  double largest_norm = 0.0;
  for (std::size_t k = 0; k < samples; ++k) {
    double squares = 0.0;
    for (std::size_t i = 0; i < 6; ++i) {
      squares += gradients[6 * k + i] * gradients[6 * k + i];
    }
    norm_sum += std::sqrt(squares);
    largest_norm = std::max(largest_norm, std::sqrt(squares));
  }
  std::printf("%zu samples: mean gradient norm %.6f, largest %.6f\n", samples,
              norm_sum / static_cast<double>(samples), largest_norm);
  return ok ? 0 : 1;
}
