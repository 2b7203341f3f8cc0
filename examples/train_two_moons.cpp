// SPDX-License-Identifier: MIT
// Two interleaved half-moons, generated here from a fixed seed, classified by
// the same 2-16-16-1 network with Sigmoid, ReLU and Tanh hidden layers (Adam,
// binary cross-entropy on the logit, full batch). Prints progress, writes the
// loss curves as an SVG chart, and says which reached 97 % accuracy first.
//
//   train_two_moons [output directory]    writes two_moons_loss.svg there
//
// Exits non-zero unless at least one of them reaches 97 % on the data.

#include <tinygrad/tinygrad.hpp>

#include "line_chart.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <random>
#include <string>
#include <vector>

namespace nn = tinygrad::nn;
using tinygrad::Var;

namespace {

struct Dataset {
  std::vector<std::vector<double>> points;
  std::vector<double> labels;
};

/// `per_moon` points on each of two half circles, the second shifted and
/// flipped so that they interleave, with uniform noise of +-`noise`.
Dataset two_moons(std::size_t per_moon, double noise, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  const auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-53; };
  Dataset data;
  for (std::size_t i = 0; i < per_moon; ++i) {
    const double angle =
        std::numbers::pi * static_cast<double>(i) / static_cast<double>(per_moon - 1);
    data.points.push_back({std::cos(angle) + noise * (2 * uniform() - 1),
                           std::sin(angle) + noise * (2 * uniform() - 1)});
    data.labels.push_back(0);
    data.points.push_back({1 - std::cos(angle) + noise * (2 * uniform() - 1),
                           0.5 - std::sin(angle) + noise * (2 * uniform() - 1)});
    data.labels.push_back(1);
  }
  return data;
}

struct Run {
  std::string name;
  examples::Series curve;
  int reached_97_at = -1;
  double accuracy = 0;
};

template <class Hidden>
Run train(const char* name, const Dataset& data, int steps) {
  nn::Sequential net(nn::Dense<double, Hidden>(2, 16, 7), nn::Dense<double, Hidden>(16, 16, 8),
                     nn::Dense<double, tinygrad::Identity>(16, 1, 9));
  nn::Adam<double> adam(0.02);
  tinygrad::Tape<double> tape;
  Run run{name, {name, {}, {}}};
  const auto n = static_cast<double>(data.points.size());

  std::printf("\n%s hidden layers:\n", name);
  for (int step = 0; step <= steps; ++step) {
    tape.clear();
    net.begin_step();
    Var<double> loss = 0.0;
    int correct = 0;
    for (std::size_t k = 0; k < data.points.size(); ++k) {
      const Var<double> logit = net(data.points[k])[0];
      loss += nn::binary_cross_entropy_with_logits(logit, data.labels[k]);
      correct += (logit.value() > 0) == (data.labels[k] > 0.5) ? 1 : 0;
    }
    loss /= n;
    loss.backward();
    net.collect_gradients();
    adam.step(net);

    run.accuracy = correct / n;
    run.curve.x.push_back(step);
    run.curve.y.push_back(loss.value());
    if (run.reached_97_at < 0 && run.accuracy >= 0.97) {
      run.reached_97_at = step;
    }
    if (step % 100 == 0) {
      std::printf("  step %4d  loss %.5f  accuracy %5.1f %%\n", step, loss.value(),
                  100 * run.accuracy);
    }
  }
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  const Dataset data = two_moons(60, 0.15, 42);
  constexpr int steps = 400;
  const std::vector<Run> runs{train<tinygrad::Sigmoid>("Sigmoid", data, steps),
                              train<tinygrad::ReLU>("ReLU", data, steps),
                              train<tinygrad::Tanh>("Tanh", data, steps)};

  std::printf("\nSummary (%zu points):\n", data.points.size());
  const Run* fastest = nullptr;
  bool any_reached = false;
  for (const Run& run : runs) {
    std::printf("  %-8s final accuracy %5.1f %%, ", run.name.c_str(), 100 * run.accuracy);
    if (run.reached_97_at >= 0) {
      std::printf("97 %% first at step %d\n", run.reached_97_at);
      if (fastest == nullptr || run.reached_97_at < fastest->reached_97_at) {
        fastest = &run;
      }
    } else {
      std::printf("never 97 %% in %d steps\n", steps);
    }
    any_reached = any_reached || run.accuracy >= 0.97;
  }
  if (fastest != nullptr) {
    std::printf("Fastest to 97 %%: %s.\n", fastest->name.c_str());
  }

  const std::string path = examples::output_directory(argc, argv) + "/two_moons_loss.svg";
  std::vector<examples::Series> curves;
  curves.reserve(runs.size());
  for (const Run& run : runs) {
    curves.push_back(run.curve);
  }
  examples::write_line_chart(path, "Two moons: training loss by hidden activation",
                             "step (one Adam update on all 120 points)",
                             "mean binary cross-entropy (nats)", curves, true);
  std::printf("Wrote %s\n", path.c_str());
  return any_reached ? 0 : 1;
}
