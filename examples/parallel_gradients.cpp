// SPDX-License-Identifier: MIT
// Data-parallel gradients: the gradient of a 16-32-1 network's loss summed
// over 4000 samples, computed on one thread and on every hardware thread
// (tinygrad::parallel_gradient: a tape per thread, gradients summed), timed,
// and checked against each other.
//
//   parallel_gradients
//
// Prints the speed-up; exits non-zero if the two gradients differ.

#include <tinygrad/parallel.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <span>
#include <thread>
#include <vector>

using tinygrad::Var;

namespace {

constexpr std::size_t inputs = 16;
constexpr std::size_t hidden = 32;
constexpr std::size_t parameter_count = hidden * inputs + hidden + hidden + 1;

struct Sample {
  std::vector<double> x;
  double y = 0;
};

/// Half squared error of a 16-32-1 tanh network; parameters: the hidden
/// weights row by row, the hidden biases, the output weights, the output bias.
Var<double> loss(std::span<const Var<double>> p, const Sample& s) {
  std::vector<Var<double>> h;
  h.reserve(hidden);
  for (std::size_t j = 0; j < hidden; ++j) {
    h.push_back(
        tinygrad::tanh(tinygrad::dot(p.subspan(j * inputs, inputs), s.x) + p[hidden * inputs + j]));
  }
  const auto out = tinygrad::dot(p.subspan(hidden * inputs + hidden, hidden), h) + p.back();
  const auto error = out - s.y;
  return 0.5 * error * error;
}

template <class F>
double best_seconds(F&& f) {
  double best = 1e300;
  for (int repeat = 0; repeat < 3; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace

int main() {
  std::vector<double> parameters(parameter_count);
  for (std::size_t k = 0; k < parameters.size(); ++k) {
    parameters[k] = 0.2 * std::sin(static_cast<double>(k));
  }
  std::vector<Sample> samples(4000);
  for (std::size_t n = 0; n < samples.size(); ++n) {
    samples[n].x.resize(inputs);
    for (std::size_t i = 0; i < inputs; ++i) {
      samples[n].x[i] = std::cos(0.1 * static_cast<double>(n) + static_cast<double>(i));
    }
    samples[n].y = std::sin(0.05 * static_cast<double>(n));
  }
  const std::span<const double> p(parameters);
  const std::span<const Sample> data(samples);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());

  std::pair<double, std::vector<double>> serial, parallel;
  const double serial_seconds =
      best_seconds([&] { serial = tinygrad::parallel_gradient(loss, p, data, 1); });
  const double parallel_seconds =
      best_seconds([&] { parallel = tinygrad::parallel_gradient(loss, p, data, threads); });

  double largest_difference = std::abs(serial.first - parallel.first) / std::abs(serial.first);
  for (std::size_t k = 0; k < parameter_count; ++k) {
    largest_difference =
        std::max(largest_difference, std::abs(serial.second[k] - parallel.second[k]) /
                                         (1e-12 + std::abs(serial.second[k])));
  }
  std::printf("loss over %zu samples: %.10f\n", samples.size(), serial.first);
  std::printf("1 thread:   %.2f ms\n", 1e3 * serial_seconds);
  std::printf("%u threads: %.2f ms  (speed-up %.2fx)\n", threads, 1e3 * parallel_seconds,
              serial_seconds / parallel_seconds);
  std::printf("largest relative difference between the two gradients: %.2e\n", largest_difference);
  return largest_difference < 1e-9 ? 0 : 1;
}
