// SPDX-License-Identifier: MIT
// The examples' chart: round ticks, decades on log axes, and coinciding
// series named in the legend.

#include "line_chart.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

TEST_CASE("linear ticks are 1, 2 or 5 times a power of ten, whole numbers where x is") {
  const examples::Ticks layers = examples::linear_ticks(1, 30, true);
  CHECK(layers.at == std::vector<double>{0, 5, 10, 15, 20, 25, 30});
  const examples::Ticks steps = examples::linear_ticks(0, 499, true);
  CHECK(steps.at == std::vector<double>{0, 100, 200, 300, 400, 500});
  const examples::Ticks depths = examples::linear_ticks(1, 4, true);
  CHECK(depths.at == std::vector<double>{1, 2, 3, 4});  // never a step below 1
  const examples::Ticks accuracy = examples::linear_ticks(0.31, 0.97, false);
  CHECK(accuracy.low == doctest::Approx(0.2));
  CHECK(accuracy.high == doctest::Approx(1.0));
  CHECK(accuracy.at.size() == 5);
}

TEST_CASE("log axes tick at decades, every few decades when they are many") {
  const examples::Ticks wide = examples::decade_ticks(3.6e-28, 0.06);
  CHECK(wide.at == std::vector<double>{-30, -25, -20, -15, -10, -5, 0});
  const examples::Ticks narrow = examples::decade_ticks(1.95e-4, 0.711);
  CHECK(narrow.at == std::vector<double>{-4, -3, -2, -1, 0});
  CHECK(examples::number_label(8.25) == "8.25");
  CHECK(examples::number_label(30) == "30");
}

TEST_CASE("a series equal to an earlier one is named in the legend") {
  const std::vector<examples::Series> series{{"ReLU", {1, 2, 3}, {0.5, 0.5, 0.5}},
                                             {"Tanh", {1, 2, 3}, {0.4, 0.45, 0.5}},
                                             {"LeakyReLU", {1, 2, 3}, {0.5, 0.5, 0.5}}};
  CHECK(examples::coincides_with(series, 0) == -1);
  CHECK(examples::coincides_with(series, 1) == -1);
  CHECK(examples::coincides_with(series, 2) == 0);
  const auto path = std::filesystem::temp_directory_path() / "tinygrad_line_chart_test.svg";
  examples::write_line_chart(path.string(), "title", "layer", "|g|", series, true);
  std::ifstream in(path);
  const std::string svg{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  CHECK(svg.find("LeakyReLU (= ReLU)") != std::string::npos);
  CHECK(svg.find("Tanh (=") == std::string::npos);
  CHECK(svg.find("stroke-dasharray") != std::string::npos);
  std::filesystem::remove(path);
}
