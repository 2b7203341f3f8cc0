// SPDX-License-Identifier: MIT
// Every entry point that takes many values takes any contiguous range of the
// right element type: a std::vector, a std::array, a C array or a std::span,
// with the same result as the span that views it. And a number of any
// arithmetic type where a T is meant.

#include <tinygrad/functional.hpp>
#include <tinygrad/loss.hpp>
#include <tinygrad/parallel.hpp>
#include <tinygrad/var.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <vector>

using tinygrad::InstructionSet;
using tinygrad::Var;
namespace nn = tinygrad::nn;

namespace {

constexpr InstructionSet compiled = InstructionSet::compiled;

/// The same values as a std::vector, a std::array, a C array and a span:
/// f(values) is called with each, and must return what it returns for the
/// vector.
template <class T, std::size_t N, class F>
void for_each_kind_of_range(const std::array<T, N>& values, F&& f) {
  std::vector<T> vector(values.begin(), values.end());
  std::array<T, N> array = values;
  T c_array[N];
  for (std::size_t i = 0; i < N; ++i) {
    c_array[i] = values[i];
  }
  const auto expected = f(vector);
  CHECK(f(array) == expected);
  CHECK(f(c_array) == expected);
  CHECK(f(std::span<const T>(vector)) == expected);
}

}  // namespace

TEST_CASE("forward and backward take vectors, arrays, C arrays and spans") {
  const std::array<float, 4> x{-2.0f, -0.5f, 0.0f, 1.5f};
  std::vector<float> reference(4);
  tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(x), std::span<float>(reference),
                                       compiled);
  for_each_kind_of_range(x, [&](const auto& in) {
    std::vector<float> y(4);
    tinygrad::forward<tinygrad::Sigmoid>(in, y, compiled);
    CHECK(y == reference);
    std::array<float, 4> y_array{};
    tinygrad::forward<tinygrad::Sigmoid>(in, y_array, compiled);
    float y_c[4];
    tinygrad::forward<tinygrad::Sigmoid>(in, y_c, compiled);
    CHECK(std::vector<float>(y_c, y_c + 4) == reference);
    std::vector<float> dx(4);
    tinygrad::backward<tinygrad::Sigmoid>(in, y, std::vector<float>(4, 1.0f), dx, compiled);
    return std::pair(std::vector<float>(y_array.begin(), y_array.end()), dx);
  });
  // The output may be a span over writable elements, and the input a span
  // over writable ones too.
  std::vector<float> data(x.begin(), x.end());
  tinygrad::forward<tinygrad::Sigmoid>(std::span<float>(data), std::span<float>(data), compiled);
  CHECK(data == reference);
  // Sizes are still checked.
  std::vector<float> short_output(3);
  CHECK_THROWS_AS(tinygrad::forward<tinygrad::Sigmoid>(x, short_output), std::invalid_argument);
}

TEST_CASE("record_leaves, read_gradients and activate over any range") {
  const std::array<double, 3> values{0.5, -1.0, 2.0};
  for_each_kind_of_range(values, [&](const auto& v) {
    tinygrad::Tape<double> tape;
    std::vector<Var<double>> leaves;
    tinygrad::record_leaves(v, leaves);
    std::array<Var<double>, 3> activated{};
    tinygrad::activate<tinygrad::Tanh>(leaves, activated);
    tinygrad::sum(activated).backward();
    std::array<double, 3> gradients{};
    tinygrad::read_gradients(leaves, gradients);
    double c_gradients[3];
    tinygrad::read_gradients(leaves, c_gradients);
    CHECK(std::vector<double>(c_gradients, c_gradients + 3) ==
          std::vector<double>(gradients.begin(), gradients.end()));
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(gradients[i] == doctest::Approx(tinygrad::Tanh::derivative(values[i])));
    }
    return std::vector<double>(gradients.begin(), gradients.end());
  });
}

TEST_CASE("losses take any range, and targets of any arithmetic type") {
  tinygrad::Tape<double> tape;
  const std::vector<Var<double>> predictions{Var<double>(0.5), Var<double>(2.0)};
  const std::array<double, 2> targets{1.0, 1.0};
  const Var<double> from_spans = nn::mean_squared_error<double>(
      std::span<const Var<double>>(predictions), std::span<const double>(targets));
  for_each_kind_of_range(
      targets, [&](const auto& t) { return nn::mean_squared_error(predictions, t).value(); });
  CHECK(nn::mean_squared_error(predictions, targets).value() == from_spans.value());
  const std::array<Var<double>, 2> logits{Var<double>(1.0), Var<double>(-1.0)};
  CHECK(nn::softmax_cross_entropy(logits, 0).value() ==
        nn::softmax_cross_entropy<double>(std::span<const Var<double>>(logits), 0).value());

  tinygrad::Tape<float> float_tape;
  const Var<float> p = 0.25f;
  // 1.0 is a double, 1 an int: both are converted to float.
  CHECK(nn::half_squared_error(p, 1.0).value() == nn::half_squared_error(p, 1.0f).value());
  CHECK(nn::half_squared_error(p, 1).value() == 0.28125f);
  CHECK(nn::binary_cross_entropy_with_logits(p, 1).value() ==
        nn::binary_cross_entropy_with_logits(p, 1.0f).value());
}

TEST_CASE("parallel_gradient takes any range of parameters and samples") {
  const auto loss = [](std::span<const Var<double>> w, double sample) {
    return w[0] * sample + w[1] * w[1];
  };
  const std::array<double, 2> parameters{0.5, -1.5};
  const std::vector<double> samples{1.0, 2.0, 3.0};
  const auto expected = tinygrad::parallel_gradient<double>(
      loss, std::span<const double>(parameters), std::span<const double>(samples), 2);
  for_each_kind_of_range(parameters, [&](const auto& w) {
    auto result = tinygrad::parallel_gradient(loss, w, samples, 2);
    CHECK(result == expected);
    return result;
  });
  CHECK(expected.second == std::vector<double>{6.0, -9.0});
}

TEST_CASE("gradient writes into any writable range") {
  // f(x) = x0^2 x1: gradient (2 x0 x1, x0^2) = (12, 9) at (3, 2).
  const auto f = [](auto x) { return x[0] * x[0] * x[1]; };
  const std::vector<double> x{3.0, 2.0};
  const std::vector<double> expected{12.0, 9.0};
  std::vector<double> into_vector(2);
  tinygrad::gradient(f, x, into_vector);
  CHECK(into_vector == expected);
  std::array<double, 2> into_array{};
  tinygrad::gradient(f, x, into_array);
  CHECK(std::vector<double>(into_array.begin(), into_array.end()) == expected);
  double into_c_array[2] = {};
  tinygrad::gradient(f, x, into_c_array);
  CHECK(std::vector<double>(into_c_array, into_c_array + 2) == expected);
  std::vector<double> storage(2);
  tinygrad::gradient(f, x, std::span<double>(storage));
  CHECK(storage == expected);
  std::vector<double> wrong_size(3);
  CHECK_THROWS_AS(tinygrad::gradient(f, x, wrong_size), std::invalid_argument);
}
