// SPDX-License-Identifier: MIT
// The digits example's data: reading (gzip and plain), each malformed line
// refused with its number, and a split that is a seeded partition.

#include "digits_data.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::filesystem::path scratch(const std::string& name) {
  static const std::filesystem::path directory = [] {
    auto path = std::filesystem::temp_directory_path() /
                ("tinygrad_digits_test_" + std::to_string(std::random_device()()));
    std::filesystem::create_directories(path);
    return path;
  }();
  return directory / name;
}

std::string image_line(int pixel, int label) {
  std::string line;
  for (int i = 0; i < 64; ++i) {
    line += std::to_string(pixel) + ",";
  }
  return line + std::to_string(label) + "\n";
}

std::string refusal(const std::string& text) {
  const auto path = scratch("bad.csv");
  std::ofstream(path) << text;
  try {
    examples::read_digits(path.string());
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a gzip file and a plain one read the same, pixels scaled to [0, 1]") {
  const std::string text = image_line(16, 3) + image_line(4, 9);
  const auto plain = scratch("digits.csv");
  std::ofstream(plain) << text;
  const auto packed = scratch("digits.csv.gz");
  gzFile file = gzopen(packed.string().c_str(), "wb");
  REQUIRE(file != nullptr);
  gzputs(file, text.c_str());
  gzclose(file);
  for (const auto& path : {plain, packed}) {
    const examples::Digits digits = examples::read_digits(path.string());
    REQUIRE(digits.size() == 2);
    CHECK(digits.labels == std::vector<std::size_t>{3, 9});
    CHECK(digits.pixels.size() == 128);
    CHECK(digits.pixels[0] == 1.0);
    CHECK(digits.pixels[64] == 0.25);
  }
}

TEST_CASE("a malformed line is refused with its number") {
  const std::string good = image_line(1, 1);
  const std::string path = scratch("bad.csv").string();
  CHECK(refusal(good + "1,2,3\n") == path + ":2: 3 fields, not 64 pixels and a class");
  CHECK(refusal(good + image_line(17, 1)) == path + ":2: pixel 0 is 17, not 0-16");
  CHECK(refusal(image_line(2, 10)) == path + ":1: class 10 is not 0-9");
  CHECK(refusal("a,b\n") == path + ":1: expected a whole number at column 1");
  CHECK(refusal("1;2\n") == path + ":1: expected ',' at column 2");
  CHECK_THROWS_AS(examples::read_digits(scratch("missing.csv").string()), std::runtime_error);
}

TEST_CASE("the split is a partition, the same for the same seed") {
  examples::Digits all;
  for (std::size_t k = 0; k < 50; ++k) {
    all.pixels.insert(all.pixels.end(), 64, static_cast<double>(k));
    all.labels.push_back(k % 10);
  }
  const auto [train, test] = examples::split(all, 0.2, 5);
  CHECK(test.size() == 10);
  CHECK(train.size() == 40);
  std::vector<double> seen;
  for (const auto* part : {&train, &test}) {
    for (std::size_t k = 0; k < part->size(); ++k) {
      seen.push_back(part->pixels[k * 64]);
      CHECK(part->labels[k] == static_cast<std::size_t>(part->pixels[k * 64]) % 10);
    }
  }
  std::sort(seen.begin(), seen.end());
  for (std::size_t k = 0; k < 50; ++k) {
    CHECK(seen[k] == static_cast<double>(k));
  }
  const auto [train_again, test_again] = examples::split(all, 0.2, 5);
  CHECK(test_again.pixels == test.pixels);
  const auto [other_train, other_test] = examples::split(all, 0.2, 6);
  CHECK(other_test.pixels != test.pixels);
}
