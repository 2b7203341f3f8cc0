// SPDX-License-Identifier: MIT
// Train the same 2-8-1 network on XOR with a Sigmoid, a ReLU and a Tanh hidden
// layer (Adam, binary cross-entropy on the logit), print progress, write the
// loss curves as an SVG chart, and say which converged fastest.
//
//   train_xor [output directory]     writes xor_loss.svg there (default: .)
//
// Exits non-zero unless at least one of them classifies all four points.

#include <tinygrad/tinygrad.hpp>

#include "line_chart.hpp"

#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace nn = tinygrad::nn;
using tinygrad::Var;

namespace {

struct Run {
  std::string name;
  examples::Series curve;
  int converged_at = -1;  // first step with mean loss below 0.01, or -1
  int correct = 0;        // of 4, after training
};

template <class Hidden>
Run train(const char* name, int steps) {
  const std::array<std::vector<double>, 4> inputs{{{0, 0}, {0, 1}, {1, 0}, {1, 1}}};
  const std::array<double, 4> targets{0, 1, 1, 0};

  // The same seeds for every policy: only the activation differs.
  nn::Sequential net(nn::Dense<double, Hidden>(2, 8, 2024),
                     nn::Dense<double, tinygrad::Identity>(8, 1, 2025));
  nn::Adam<double> adam(0.05);
  tinygrad::Tape<double> tape;
  Run run{name, {name, {}, {}}};

  std::printf("\n%s hidden layer:\n", name);
  for (int step = 0; step <= steps; ++step) {
    tape.clear();  // nothing of the last step is kept: memory stays flat
    net.begin_step();
    Var<double> loss = 0.0;
    int correct = 0;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const Var<double> logit = net(inputs[k])[0];
      loss += nn::binary_cross_entropy_with_logits(logit, targets[k]);
      correct += (logit.value() > 0) == (targets[k] > 0.5) ? 1 : 0;
    }
    loss /= 4;
    loss.backward();
    net.collect_gradients();
    adam.step(net);

    run.curve.x.push_back(step);
    run.curve.y.push_back(loss.value());
    run.correct = correct;
    if (run.converged_at < 0 && loss.value() < 0.01) {
      run.converged_at = step;
    }
    if (step % 100 == 0) {
      std::printf("  step %4d  loss %.5f  accuracy %d/4\n", step, loss.value(), correct);
    }
  }
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr int steps = 500;
  const std::vector<Run> runs{train<tinygrad::Sigmoid>("Sigmoid", steps),
                              train<tinygrad::ReLU>("ReLU", steps),
                              train<tinygrad::Tanh>("Tanh", steps)};

  std::printf("\nSummary (converged = mean loss below 0.01):\n");
  const Run* fastest = nullptr;
  bool any_perfect = false;
  for (const Run& run : runs) {
    any_perfect = any_perfect || run.correct == 4;
    if (run.converged_at >= 0) {
      std::printf("  %-8s accuracy %d/4, converged at step %d\n", run.name.c_str(), run.correct,
                  run.converged_at);
      if (fastest == nullptr || run.converged_at < fastest->converged_at) {
        fastest = &run;
      }
    } else {
      std::printf("  %-8s accuracy %d/4, did not converge in %d steps\n", run.name.c_str(),
                  run.correct, steps);
    }
  }
  if (fastest != nullptr) {
    std::printf("Fastest: %s.\n", fastest->name.c_str());
  }

  const std::string path = examples::output_directory(argc, argv) + "/xor_loss.svg";
  std::vector<examples::Series> curves;
  curves.reserve(runs.size());
  for (const Run& run : runs) {
    curves.push_back(run.curve);
  }
  examples::write_line_chart(path, "XOR: training loss by hidden activation",
                             "step (one Adam update on all four points)",
                             "mean binary cross-entropy (nats)", curves, true);
  std::printf("Wrote %s\n", path.c_str());
  return any_perfect ? 0 : 1;
}
