// SPDX-License-Identifier: MIT
// Optimizers on a quadratic with a known minimum, their first steps worked
// out by hand, the parameters they step (models, blocks, spans), learning-rate
// schedules, and clipping by norm.

#include <tinygrad/optim.hpp>
#include <tinygrad/schedule.hpp>

#include <doctest/doctest.h>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <span>
#include <stdexcept>
#include <vector>

namespace nn = tinygrad::nn;

// Every allocation of this program is counted, so that a test can show that
// an optimizer's warm step allocates nothing.
namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

// Out of line, or g++ pairs the inlined free() with operator new and warns.
[[gnu::noinline]] void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* memory = std::malloc(size == 0 ? 1 : size)) {  // NOLINT(*-no-malloc, *-owning-memory)
    return memory;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* memory) noexcept {
  std::free(memory);  // NOLINT(*-no-malloc, *-owning-memory)
}
[[gnu::noinline]] void operator delete(void* memory, std::size_t) noexcept {
  std::free(memory);  // NOLINT(*-no-malloc, *-owning-memory)
}

namespace {

/// A one-layer "model" over f(p) = sum_i c_i (p_i - m_i)^2, gradient by hand.
struct Quadratic {
  std::vector<double> p{5.0, -3.0, 0.5};
  std::vector<double> g = std::vector<double>(3);
  std::vector<double> c{1.0, 10.0, 0.1};
  std::vector<double> m{1.0, 2.0, -1.0};

  std::span<double> parameters() { return p; }
  std::span<double> gradients() { return g; }
  template <class F>
  void for_each_layer(F&& f) {
    f(*this);
  }
  void compute_gradients() {
    for (std::size_t i = 0; i < p.size(); ++i) {
      g[i] = 2 * c[i] * (p[i] - m[i]);
    }
  }
};

template <class Optimizer>
void check_converges(Optimizer optimizer, int steps) {
  Quadratic q;
  for (int k = 0; k < steps; ++k) {
    q.compute_gradients();
    optimizer.step(q);
  }
  for (std::size_t i = 0; i < q.p.size(); ++i) {
    INFO("coordinate ", i);
    CHECK(q.p[i] == doctest::Approx(q.m[i]).epsilon(1e-6));
  }
}

}  // namespace

TEST_CASE("SGD, with and without momentum, converges to the minimum of a quadratic") {
  check_converges(nn::SGD<double>(0.04), 3000);
  check_converges(nn::SGD<double>(0.02, 0.9), 3000);
}

TEST_CASE("Adam converges to the minimum of a quadratic") {
  check_converges(nn::Adam<double>(0.05), 5000);
}

/// One parameter whose gradient the test sets before each step.
struct OneParameter {
  std::vector<double> p{1.0};
  std::vector<double> g{0.0};
  std::span<double> parameters() { return p; }
  std::span<double> gradients() { return g; }
  template <class F>
  void for_each_layer(F&& f) {
    f(*this);
  }
};

/// The parameter after each of three steps with gradients 1/2, -1, 2 from p = 1.
template <class Optimizer>
std::vector<double> three_steps(Optimizer optimizer) {
  OneParameter model;
  std::vector<double> after;
  for (const double g : {0.5, -1.0, 2.0}) {
    model.g[0] = g;
    optimizer.step(model);
    after.push_back(model.p[0]);
  }
  return after;
}

TEST_CASE("SGD with momentum: the first three steps, worked out by hand") {
  // v = 0.9 v + g, p = p - 0.1 v:
  //   v1 = 0.5,                  p1 = 1 - 0.05      = 0.95
  //   v2 = 0.45 - 1 = -0.55,     p2 = 0.95 + 0.055  = 1.005
  //   v3 = -0.495 + 2 = 1.505,   p3 = 1.005 - 0.1505 = 0.8545
  const std::vector<double> p = three_steps(nn::SGD<double>(0.1, 0.9));
  const double expected[] = {0.95, 1.005, 0.8545};
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("step ", k + 1);
    CHECK(std::abs(p[k] - expected[k]) <= 1e-15);
  }
}

TEST_CASE("Adam: the first three steps, worked out by hand") {
  // lr 0.1, beta1 0.9, beta2 0.999, and epsilon 0.1, large so that where it
  // goes shows: p -= lr m^ / (sqrt(v^) + epsilon), m^ = m / (1 - beta1^t),
  // v^ = v / (1 - beta2^t).
  //   t = 1: m = 0.05,   v = 0.00025:  m^ = 0.5, v^ = 0.25,
  //          p = 1 - 0.1 * 0.5 / (0.5 + 0.1) = 0.91666...
  //   t = 2: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975:
  //          m^ = -0.055 / 0.19 = -0.28947..., v^ = 0.00124975 / 0.001999 = 0.62518...
  //   t = 3: m = -0.0495 + 0.2 = 0.1505, v = 0.00124850025 + 0.004:
  //          m^ = 0.1505 / 0.271 = 0.55535..., v^ = 0.00524850025 / 0.002997001 = 1.75125...
  // (p to 20 digits by mpmath at 40 digits. Without bias correction p1 would
  // be 0.957, with epsilon under the root 0.915.)
  const std::vector<double> p = three_steps(nn::Adam<double>(0.1, 0.9, 0.999, 0.1));
  const double expected[] = {0.91666666666666666667, 0.9491666742648454808, 0.91014948153045102153};
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("step ", k + 1);
    CHECK(std::abs(p[k] - expected[k]) <= 1e-15);
  }
}

TEST_CASE("AdamW: the first three steps, worked out by hand") {
  // Adam's test above with weight decay 0.5: before each of Adam's updates
  // p = p (1 - lr weight_decay) = 0.95 p, the moments as there.
  //   t = 1: p = 0.95 - 0.1 * 0.5 / (0.5 + 0.1) = 0.86666...
  //   t = 2: p = 0.95 * 0.86666... + 0.0325000076... (Adam's second move)
  // (to 20 digits by Python's decimal at 40 digits)
  const std::vector<double> p = three_steps(nn::AdamW<double>(0.1, 0.5, 0.9, 0.999, 0.1));
  const double expected[] = {0.86666666666666666667, 0.85583334093151214747,
                             0.77402448115054208082};
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("step ", k + 1);
    CHECK(std::abs(p[k] - expected[k]) <= 1e-15);
  }
  // Without decay AdamW is Adam, bit for bit.
  CHECK(three_steps(nn::AdamW<double>(0.1, 0.0, 0.9, 0.999, 0.1)) ==
        three_steps(nn::Adam<double>(0.1, 0.9, 0.999, 0.1)));
}

namespace {

/// Three steps of `optimizer` on two blocks, a (3 values) and b (2), with
/// fixed gradients, passed as `how` says; returns a then b.
template <class Optimizer, class Step>
std::vector<double> steps_on_two_blocks(Optimizer optimizer, Step how) {
  std::vector<double> a{1.0, -2.0, 0.5};
  std::vector<double> b{3.0, 0.25};
  const std::vector<double> da{0.5, -1.0, 2.0};
  const std::vector<double> db{-0.75, 4.0};
  for (int k = 0; k < 3; ++k) {
    how(optimizer, a, da, b, db);
  }
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// A model whose two layers are the blocks a and b.
struct TwoLayers {
  struct Layer {
    std::span<double> values;
    std::span<const double> grads;
    [[nodiscard]] std::span<double> parameters() const { return values; }
    [[nodiscard]] std::span<const double> gradients() const { return grads; }
  };
  std::array<Layer, 2> layers;
  template <class F>
  void for_each_layer(F&& f) {
    for (Layer& layer : layers) {
      f(layer);
    }
  }
};

/// A model of one layer, held elsewhere.
struct OneLayer {
  TwoLayers::Layer* layer;
  template <class F>
  void for_each_layer(F&& f) {
    f(*layer);
  }
};

template <class Optimizer>
void check_every_way_of_passing_blocks_agrees(const Optimizer& optimizer) {
  using Block = nn::ParameterBlock<double>;
  const std::vector<double> as_list =
      steps_on_two_blocks(optimizer, [](auto& o, auto& a, auto& da, auto& b, auto& db) {
        o.step({{a, da}, {b, db}});
      });
  const std::vector<double> as_blocks =
      steps_on_two_blocks(optimizer, [](auto& o, auto& a, auto& da, auto& b, auto& db) {
        o.step(Block{a, da}, Block{b, db});
      });
  const std::vector<double> as_range =
      steps_on_two_blocks(optimizer, [](auto& o, auto& a, auto& da, auto& b, auto& db) {
        const std::vector<Block> blocks{{a, da}, {b, db}};
        o.step(blocks);
      });
  const std::vector<double> as_model =
      steps_on_two_blocks(optimizer, [](auto& o, auto& a, auto& da, auto& b, auto& db) {
        TwoLayers model{{{{a, da}, {b, db}}}};
        o.step(model);
      });
  const std::vector<double> model_and_block =
      steps_on_two_blocks(optimizer, [](auto& o, auto& a, auto& da, auto& b, auto& db) {
        TwoLayers::Layer layer{a, da};
        OneLayer model{&layer};
        o.step(model, Block{b, db});
      });
  // Each block alone, by its own optimizer: the state is per block.
  const std::vector<double> separately = steps_on_two_blocks(
      optimizer, [other = optimizer](auto& o, auto& a, auto& da, auto& b, auto& db) mutable {
        o.step(a, da);
        other.step(std::span<double>(b), std::span<const double>(db));
      });
  CHECK(as_list == as_blocks);
  CHECK(as_list == as_range);
  CHECK(as_list == as_model);
  CHECK(as_list == model_and_block);
  CHECK(as_list == separately);
  CHECK(as_list[0] != 1.0);  // it did step
}

}  // namespace

TEST_CASE("a model, blocks, a range of blocks and plain spans step alike") {
  SUBCASE("SGD") {
    check_every_way_of_passing_blocks_agrees(nn::SGD<double>(0.1, 0.9));
  }
  SUBCASE("Adam") {
    check_every_way_of_passing_blocks_agrees(nn::Adam<double>(0.1));
  }
  SUBCASE("AdamW") {
    check_every_way_of_passing_blocks_agrees(nn::AdamW<double>(0.1, 0.01));
  }
}

TEST_CASE("parameters that do not match their gradients or the first step are refused") {
  std::vector<double> a{1.0, 2.0};
  std::vector<double> b{3.0};
  const std::vector<double> da{0.5, 0.5};
  const std::vector<double> db{1.0};
  const std::vector<double> too_short{1.0};
  nn::Adam<double> adam(0.1);
  CHECK_THROWS_WITH_AS(adam.step({{a, da}, {b, too_short}, {a, too_short}}),
                       "nn::Adam: block 2 has 2 values but 1 gradients", std::invalid_argument);
  CHECK(a[0] == 1.0);  // nothing stepped, not even the blocks before
  adam.step({{a, da}, {b, db}});
  const double a0 = a[0];
  CHECK_THROWS_WITH_AS(adam.step(a, da),
                       "nn::Adam: this step has 1 parameter blocks, the first had 2; an "
                       "optimizer's state belongs to the parameters of its first step (make "
                       "another optimizer for others)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(adam.step({{a, da}, {a, da}}),
                       "nn::Adam: block 1 has 2 values, in the first step 1; an optimizer's "
                       "state belongs to the parameters of its first step (make another "
                       "optimizer for others)",
                       std::invalid_argument);
  CHECK(a[0] == a0);
  nn::SGD<double> sgd(0.1);
  CHECK_THROWS_WITH_AS(sgd.step(a, too_short), "nn::SGD: block 0 has 2 values but 1 gradients",
                       std::invalid_argument);
}

TEST_CASE("the learning rate can be read and set; a bad one is refused") {
  nn::SGD<double> sgd(0.1);
  CHECK(sgd.learning_rate() == 0.1);
  sgd.set_learning_rate(0.5);
  CHECK(sgd.learning_rate() == 0.5);
  std::vector<double> p{1.0};
  const std::vector<double> g{2.0};
  sgd.step(p, g);
  CHECK(p[0] == 0.0);  // 1 - 0.5 * 2
  CHECK_THROWS_WITH_AS(sgd.set_learning_rate(-1.0),
                       "nn::SGD: learning_rate = -1 is outside [0, inf)", std::invalid_argument);
  CHECK(sgd.learning_rate() == 0.5);
  nn::AdamW<double> adamw;
  CHECK(adamw.learning_rate() == 1e-3);
  CHECK_THROWS_AS(adamw.set_learning_rate(std::numeric_limits<double>::quiet_NaN()),
                  std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::AdamW<double>(1e-3, -0.1),
                       "nn::AdamW: weight_decay = -0.1 is outside [0, inf)", std::invalid_argument);
}

TEST_CASE("schedules: step, exponential and cosine decay, and a warm-up before any") {
  const nn::StepDecay<double> step(0.1, 2, 0.5);
  CHECK(step(0) == 0.1);
  CHECK(step(1) == 0.1);
  CHECK(step(2) == 0.05);
  CHECK(step(3) == 0.05);
  CHECK(step(4) == 0.025);
  const nn::ExponentialDecay<double> exponential(1.0, 0.5);
  CHECK(exponential(0) == 1.0);
  CHECK(exponential(3) == 0.125);
  // 0.25 + 0.75 (1 + cos(pi s / 4)) / 2: (2 + sqrt 2) / 4 at s = 1, 1/2 at 2.
  const nn::CosineDecay<double> cosine(1.0, 4, 0.25);
  CHECK(cosine(0) == 1.0);
  CHECK(cosine(1) == doctest::Approx(0.25 + 0.75 * (2 + std::sqrt(2.0)) / 4).epsilon(1e-15));
  CHECK(cosine(2) == doctest::Approx(0.625).epsilon(1e-15));
  CHECK(cosine(3) == doctest::Approx(0.25 + 0.75 * (2 - std::sqrt(2.0)) / 4).epsilon(1e-15));
  CHECK(cosine(4) == 0.25);
  CHECK(cosine(1000) == 0.25);  // stays at the final rate
  // Two warm-up steps reach the schedule's first rate, then the schedule.
  const auto warm = nn::warm_up(2, cosine);
  CHECK(warm(0) == 0.5);
  CHECK(warm(1) == 1.0);
  CHECK(warm(2) == 1.0);
  CHECK(warm(3) == cosine(1));
  // Any callable from a step to a rate composes.
  const auto constant = nn::warm_up(4, [](std::size_t) { return 2.0f; });
  CHECK(constant(0) == 0.5f);
  CHECK(constant(9) == 2.0f);
}

TEST_CASE("schedules with bad parameters are std::invalid_argument") {
  CHECK_THROWS_WITH_AS((void)nn::StepDecay<double>(0.1, 0, 0.5), "nn::StepDecay: every is 0",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::ExponentialDecay<double>(-1.0, 0.5),
                       "nn::ExponentialDecay: initial = -1 is outside [0, inf)",
                       std::invalid_argument);
  CHECK_THROWS_AS((void)nn::ExponentialDecay<double>(1.0, std::numeric_limits<double>::infinity()),
                  std::invalid_argument);
  CHECK_THROWS_AS((void)nn::CosineDecay<double>(std::numeric_limits<double>::quiet_NaN(), 10),
                  std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::CosineDecay<double>(1.0, 0), "nn::CosineDecay: steps is 0",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::warm_up(0, nn::ExponentialDecay<double>(1.0, 0.5)),
                       "nn::WarmUp: steps is 0", std::invalid_argument);
}

TEST_CASE("clip_grad_norm scales the joint norm down to the limit and reports it") {
  Quadratic q;
  q.g = {3.0, 4.0, 0.0};  // norm 5
  CHECK(nn::clip_grad_norm(q, 10.0) == 5.0);
  CHECK(q.g[0] == 3.0);
  CHECK(nn::clip_grad_norm(q, 1.0) == 5.0);
  CHECK(q.g[0] == doctest::Approx(0.6));
  CHECK(q.g[1] == doctest::Approx(0.8));
  q.g = {NAN, 1.0, 0.0};
  CHECK(std::isnan(nn::clip_grad_norm(q, 1.0)));
  CHECK(q.g[1] == 1.0);  // not scaled by a NaN
  q.g = {3.0, 4.0, 0.0};
  CHECK(nn::clip_grad_norm(q, INFINITY) == 5.0);
  CHECK(q.g[0] == 3.0);
  CHECK(nn::clip_grad_norm(q, 0.0) == 5.0);
  CHECK(q.g[0] == 0.0);
}

TEST_CASE("hyperparameters that would corrupt training are std::invalid_argument") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS((void)nn::SGD<double>(-0.1),
                       "nn::SGD: learning_rate = -0.1 is outside [0, inf)", std::invalid_argument);
  CHECK_THROWS_AS((void)nn::SGD<double>(nan), std::invalid_argument);
  CHECK_THROWS_AS((void)nn::SGD<double>(inf), std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::SGD<double>(0.1, 1.0), "nn::SGD: momentum = 1 is outside [0, 1)",
                       std::invalid_argument);
  CHECK_THROWS_AS((void)nn::SGD<double>(0.1, -0.5), std::invalid_argument);
  CHECK_NOTHROW((void)nn::SGD<double>(0.0, 0.0));
  CHECK_THROWS_AS((void)nn::Adam<double>(nan), std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)nn::Adam<double>(1e-3, 1.0), "nn::Adam: beta1 = 1 is outside [0, 1)",
                       std::invalid_argument);
  CHECK_THROWS_AS((void)nn::Adam<double>(1e-3, 0.9, 1.5), std::invalid_argument);
  CHECK_THROWS_AS((void)nn::Adam<double>(1e-3, 0.9, 0.999, -1e-8), std::invalid_argument);
  CHECK_NOTHROW((void)nn::Adam<float>(1e-3f, 0.0f, 0.0f, 0.0f));
  Quadratic q;
  q.g = {3.0, 4.0, 0.0};
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm(q, -1.0),
                       "nn::clip_grad_norm: max_norm = -1 is outside [0, inf]",
                       std::invalid_argument);
  CHECK_THROWS_AS(nn::clip_grad_norm(q, nan), std::invalid_argument);
  CHECK(q.g[0] == 3.0);  // untouched
}

namespace {

// A layer that reports a fresh collection before every step, as nn::Dense
// does after collect_gradients().
struct ReportingLayer {
  std::vector<double> p = std::vector<double>(40, 1.0);
  std::vector<double> g = std::vector<double>(40, 0.5);
  std::uint64_t collections = 0;
  std::span<double> parameters() { return p; }
  std::span<double> gradients() { return g; }
  struct Status {
    bool never_collected;
    std::uint64_t collections;
  };
  [[nodiscard]] Status gradient_status() const { return {false, collections}; }
};
struct ReportingModel {
  std::array<ReportingLayer, 3> layers;
  template <class F>
  void for_each_layer(F&& f) {
    for (ReportingLayer& layer : layers) {
      f(layer);
    }
  }
};
}  // namespace

TEST_CASE("a warm step allocates nothing, with models that report their gradients' status") {
  ReportingModel model;
  nn::Adam<double> adam(0.01);
  nn::SGD<double> sgd(0.01, 0.9);
  std::vector<double> extra(7, 2.0);
  const std::vector<double> extra_gradients(7, 0.25);
  const auto step = [&] {
    for (ReportingLayer& layer : model.layers) {
      ++layer.collections;
    }
    adam.step(model, nn::ParameterBlock<double>{extra, extra_gradients});
    sgd.step(model);
  };
  step();  // the first step makes the state
  step();
  const std::size_t before = allocations.load();
  for (int k = 0; k < 10; ++k) {
    step();
  }
  CHECK(allocations.load() - before == 0);
}
