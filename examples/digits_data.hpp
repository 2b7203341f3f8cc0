// SPDX-License-Identifier: MIT
#pragma once

// The UCI handwritten digits as Debian's python3-sklearn ships them
// (sklearn/datasets/data/digits.csv.gz: 1,797 lines, each 64 pixel values
// 0-16 of an 8x8 image, row by row, then the class 0-9), read with zlib,
// which reads a file that is not compressed as it is. A deterministic split,
// and a small generated set of the same shape for the tests.

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

inline constexpr const char* debian_digits_path =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
inline constexpr std::size_t digit_pixels = 64;
inline constexpr std::size_t digit_classes = 10;

/// Images back to back (pixels scaled to [0, 1]) and their classes.
struct Digits {
  std::vector<double> pixels;  // digit_pixels per image
  std::vector<std::size_t> labels;
  [[nodiscard]] std::size_t size() const noexcept { return labels.size(); }
};

/// Reads a digits file (gzip or plain text). A file that cannot be opened,
/// or a line that is not 64 whole numbers 0-16 and a class 0-9, is
/// std::runtime_error naming the file and the line.
inline Digits read_digits(const std::string& path) {
  const std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
  if (!file) {
    throw std::runtime_error(path + ": cannot open");
  }
  Digits digits;
  std::string line;
  std::size_t line_number = 0;
  char buffer[4096];
  const auto fail = [&](const std::string& what) {
    throw std::runtime_error(path + ":" + std::to_string(line_number) + ": " + what);
  };
  while (gzgets(file.get(), buffer, sizeof buffer) != nullptr) {
    line = buffer;
    ++line_number;
    if (!line.empty() && line.back() != '\n' && gzeof(file.get()) == 0) {
      fail("line too long");
    }
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
      line.pop_back();
    }
    if (line.empty()) {
      continue;
    }
    std::vector<long> fields;
    const char* at = line.c_str();
    while (true) {
      char* end = nullptr;
      const long value = std::strtol(at, &end, 10);
      if (end == at) {
        fail("expected a whole number at column " + std::to_string(at - line.c_str() + 1));
      }
      fields.push_back(value);
      if (*end == '\0') {
        break;
      }
      if (*end != ',') {
        fail("expected ',' at column " + std::to_string(end - line.c_str() + 1));
      }
      at = end + 1;
    }
    if (fields.size() != digit_pixels + 1) {
      fail(std::to_string(fields.size()) + " fields, not 64 pixels and a class");
    }
    for (std::size_t i = 0; i < digit_pixels; ++i) {
      if (fields[i] < 0 || fields[i] > 16) {
        fail("pixel " + std::to_string(i) + " is " + std::to_string(fields[i]) + ", not 0-16");
      }
      digits.pixels.push_back(static_cast<double>(fields[i]) / 16.0);
    }
    if (fields.back() < 0 || fields.back() > 9) {
      fail("class " + std::to_string(fields.back()) + " is not 0-9");
    }
    digits.labels.push_back(static_cast<std::size_t>(fields.back()));
  }
  if (gzeof(file.get()) == 0) {
    int error = 0;
    fail(std::string("read error: ") + gzerror(file.get(), &error));
  }
  return digits;
}

/// A permutation of 0 .. n-1 from a seed, the same with every standard
/// library (std::shuffle's is not specified).
inline std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) {
    order[i] = i;
  }
  std::mt19937_64 engine(seed);
  for (std::size_t i = n; i > 1; --i) {  // Fisher-Yates
    const std::size_t j = static_cast<std::size_t>(engine() % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

/// The images at `indices`, in that order.
inline Digits subset(const Digits& all, const std::vector<std::size_t>& indices) {
  Digits part;
  for (const std::size_t k : indices) {
    part.pixels.insert(part.pixels.end(),
                       all.pixels.begin() + static_cast<std::ptrdiff_t>(k * digit_pixels),
                       all.pixels.begin() + static_cast<std::ptrdiff_t>((k + 1) * digit_pixels));
    part.labels.push_back(all.labels[k]);
  }
  return part;
}

/// Shuffles with `seed` and splits: the first `test_fraction` of the
/// shuffled images are the held-out set, the rest the training set.
inline std::pair<Digits, Digits> split(const Digits& all, double test_fraction,
                                       std::uint64_t seed) {
  const std::vector<std::size_t> order = permutation(all.size(), seed);
  const auto held_out = static_cast<std::size_t>(test_fraction * static_cast<double>(all.size()));
  const std::vector<std::size_t> test(order.begin(),
                                      order.begin() + static_cast<std::ptrdiff_t>(held_out));
  const std::vector<std::size_t> train(order.begin() + static_cast<std::ptrdiff_t>(held_out),
                                       order.end());
  return {subset(all, train), subset(all, test)};
}

/// Writes `count` generated images in the digits file format: each class a
/// fixed random stroke pattern, each image its class's pattern with noise.
/// For the tests, which must not need python3-sklearn.
inline void write_synthetic_digits(const std::string& path, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::vector<int> prototypes(digit_classes * digit_pixels);
  for (int& pixel : prototypes) {
    pixel = engine() % 3 == 0 ? static_cast<int>(8 + engine() % 9) : 0;
  }
  std::ofstream out(path);
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t label = k % digit_classes;
    for (std::size_t i = 0; i < digit_pixels; ++i) {
      const int noise = static_cast<int>(engine() % 7) - 3;
      const int pixel = std::min(16, std::max(0, prototypes[label * digit_pixels + i] + noise));
      out << pixel << ',';
    }
    out << label << '\n';
  }
  if (!out) {
    throw std::runtime_error(path + ": cannot write");
  }
}

}  // namespace examples
