// SPDX-License-Identifier: MIT
// One training step (forward, backward, SGD update) of an MLP with sigmoid
// hidden layers and a linear output, one sample, half squared error: nn layers
// on the tape against the same network with backpropagation written by hand
// in plain C++, interleaved in one run. Counter `library/hand`.

#include "harness.hpp"

#include <benchmark/benchmark.h>
#include <cmath>
#include <span>
#include <tinygrad/tinygrad.hpp>
#include <vector>

namespace {

namespace nn = tinygrad::nn;
using harness::Contender;

/// in-h-h-1 by hand: the layers' parameters as in nn::Dense (weights row by
/// row, then biases), forward, backward, SGD.
class HandMlp {
 public:
  HandMlp(std::size_t in, std::size_t hidden, std::span<const double> w1,
          std::span<const double> w2, std::span<const double> w3)
      : in_(in),
        hidden_(hidden),
        p1_(w1.begin(), w1.end()),
        p2_(w2.begin(), w2.end()),
        p3_(w3.begin(), w3.end()),
        h1_(hidden),
        h2_(hidden),
        d1_(hidden),
        d2_(hidden) {}

  void step(std::span<const double> x, double target, double learning_rate) {
    dense_sigmoid(p1_, x, h1_);
    dense_sigmoid(p2_, h1_, h2_);
    double out = p3_[hidden_];
    for (std::size_t i = 0; i < hidden_; ++i) {
      out += p3_[i] * h2_[i];
    }
    const double d_out = out - target;
    for (std::size_t i = 0; i < hidden_; ++i) {
      d2_[i] = d_out * p3_[i] * h2_[i] * (1 - h2_[i]);
      p3_[i] -= learning_rate * d_out * h2_[i];
    }
    p3_[hidden_] -= learning_rate * d_out;
    backward_dense(p2_, h1_, d2_, d1_, hidden_, learning_rate, true);
    backward_dense(p1_, x, d1_, d2_, in_, learning_rate, false);
  }

  [[nodiscard]] const std::vector<double>& output_layer() const { return p3_; }

 private:
  void dense_sigmoid(const std::vector<double>& p, std::span<const double> x,
                     std::vector<double>& h) const {
    const std::size_t n = x.size();
    for (std::size_t j = 0; j < hidden_; ++j) {
      double z = p[hidden_ * n + j];
      for (std::size_t i = 0; i < n; ++i) {
        z += p[j * n + i] * x[i];
      }
      h[j] = 1 / (1 + std::exp(-z));
    }
  }

  /// delta: d loss / d z of this layer's units; fills below (d loss / d z of
  /// the layer beneath, through its sigmoid) when `propagate`, then updates.
  void backward_dense(std::vector<double>& p, std::span<const double> x,
                      const std::vector<double>& delta, std::vector<double>& below, std::size_t n,
                      double learning_rate, bool propagate) {
    if (propagate) {
      for (std::size_t i = 0; i < n; ++i) {
        double sum = 0;
        for (std::size_t j = 0; j < hidden_; ++j) {
          sum += delta[j] * p[j * n + i];
        }
        below[i] = sum * x[i] * (1 - x[i]);
      }
    }
    for (std::size_t j = 0; j < hidden_; ++j) {
      for (std::size_t i = 0; i < n; ++i) {
        p[j * n + i] -= learning_rate * delta[j] * x[i];
      }
      p[hidden_ * n + j] -= learning_rate * delta[j];
    }
  }

  std::size_t in_, hidden_;
  std::vector<double> p1_, p2_, p3_, h1_, h2_, d1_, d2_;
};

void BM_training_step(benchmark::State& state) {
  const auto in = static_cast<std::size_t>(state.range(0));
  const auto hidden = static_cast<std::size_t>(state.range(1));
  using Hidden = nn::Dense<double, tinygrad::Sigmoid>;
  nn::Sequential net(Hidden(in, hidden, 1), Hidden(hidden, hidden, 2),
                     nn::Dense<double, tinygrad::Identity>(hidden, 1, 3));
  HandMlp hand(in, hidden, net.layer<0>().parameters(), net.layer<1>().parameters(),
               net.layer<2>().parameters());
  std::vector<double> x(in);
  for (std::size_t i = 0; i < in; ++i) {
    x[i] = std::cos(static_cast<double>(i));
  }
  nn::SGD<double> sgd(1e-3);
  tinygrad::Tape<double> tape;
  const auto library_step = [&] {
    tape.clear();
    net.begin_step();
    nn::half_squared_error(net(x)[0], 0.5).backward();
    net.collect_gradients();
    sgd.step(net);
  };
  const auto ns = harness::compare(
      state, harness::batch_for(2 * in * hidden + 2 * hidden * hidden),
      [&] { hand.step(x, 0.5, 1e-3); }, Contender{"library", library_step});
  state.counters["library/hand"] = ns[0] / state.counters["primal_ns"];
  // Both took the same steps from the same start: their parameters must agree,
  // or the comparison means nothing.
  const auto library = net.layer<2>().parameters();
  for (std::size_t i = 0; i < library.size(); ++i) {
    if (std::abs(library[i] - hand.output_layer()[i]) > 1e-9 * (1 + std::abs(library[i]))) {
      state.SkipWithError("the library's and the hand-written steps disagree");
      return;
    }
  }
}
BENCHMARK(BM_training_step)->Args({2, 32})->Args({16, 64});

}  // namespace

BENCHMARK_MAIN();
