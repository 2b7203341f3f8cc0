// SPDX-License-Identifier: MIT
// A very large recording: N operations (default 10^8) in one chain,
// y <- sin(y) * x (N / 2 entries: the product fuses into sin's), then
// backward(). It checks the gradient against the same
// derivative carried forward by hand, and prints the tape's own statistics
// next to the process's peak resident memory (VmHWM), so that the peak can be
// compared with what the tape needs at the end. Run it under
// `/usr/bin/time -v` for an outside view of the same peak.
//
//   build/bench/bench/large_tape 100000000

#include <tinygrad/var.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

/// The process's peak resident set size in bytes, from /proc (0 elsewhere).
std::size_t peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stoull(line.substr(6)) * 1024;  // the line is in kB
    }
  }
  return 0;
}

double gigabytes(std::size_t bytes) {
  return static_cast<double>(bytes) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t operations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000'000;
  const std::size_t before = peak_resident_bytes();

  tinygrad::Tape<double> tape;
  const double x_value = 1.0001;
  const tinygrad::Var<double> x = x_value;
  tinygrad::Var<double> y = 0.5;
  double y_value = 0.5;
  double dy_dx = 0.0;  // forward-mode derivative of y with respect to x, by hand
  for (std::size_t i = 0; i + 1 < operations; i += 2) {
    y = tinygrad::sin(y) * x;  // one entry: sin's, which the product fuses into (two operands)
    dy_dx = std::cos(y_value) * dy_dx * x_value + std::sin(y_value);
    y_value = std::sin(y_value) * x_value;
  }
  y.backward();

  const auto s = tape.statistics();
  const std::size_t peak = peak_resident_bytes();
  const double error = std::abs(x.grad() - dy_dx) / std::max(1.0, std::abs(dy_dx));
  std::printf("entries          %zu\n", s.entries);
  std::printf("operands         %zu\n", s.operands);
  std::printf("recording        %.3f GB (%.1f bytes per entry)\n", gigabytes(s.recording_bytes),
              static_cast<double>(s.recording_bytes) / static_cast<double>(s.entries));
  std::printf("gradients        %.3f GB\n", gigabytes(s.gradient_bytes));
  std::printf("reserved         %.3f GB (capacity, touched or not)\n", gigabytes(s.reserved_bytes));
  const std::size_t needed = s.recording_bytes + s.gradient_bytes;
  std::printf("peak resident    %.3f GB (%.3f GB before recording)\n", gigabytes(peak),
              gigabytes(before));
  std::printf("peak / needed    %.3f\n",
              static_cast<double>(peak - before) / static_cast<double>(needed));
  std::printf("dy/dx            %.17g (by hand %.17g, relative difference %.1e)\n", x.grad(), dy_dx,
              error);
  return error < 1e-9 && y.value() == y_value ? 0 : 1;
}
