// SPDX-License-Identifier: MIT
// A fixed amount of work for instruction counting, which repeats exactly on a
// noisy machine where timings do not:
//
//   valgrind --tool=callgrind build/bench/bench/tape_profile w3 20
//
// runs 20 gradients of workload w1 (L = 10000), w2, w3 or w4 the way
// tape_bench does; `wrapper` runs 10 W3 gradients through
// tinygrad::gradient, `by-hand` the same 10 on a Tape by hand. Build it with
// -DTINYGRAD_NO_CHECKS (target tape_profile_unchecked) to count the checks.

#include "harness.hpp"
#include "workloads.hpp"

#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <tinygrad/functional.hpp>
#include <vector>

namespace {

using harness::TinygradGradient;
using harness::TinygradSigmoid;
using tinygrad::Var;

template <class Gradient>
double repeat(Gradient& gradient, int count) {
  double checksum = 0;
  for (int i = 0; i < count; ++i) {
    gradient();
    checksum += gradient.grads[1];
  }
  return checksum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s w1|w2|w3|w4|wrapper|by-hand COUNT\n", argv[0]);
    return 2;
  }
  const std::string workload = argv[1];
  const int count = std::atoi(argv[2]);
  double checksum = 0;
  if (workload == "w1") {
    constexpr std::size_t layers = 10'000;
    std::vector<double> parameters(2 * layers, 0.0);
    std::fill_n(parameters.begin(), layers, 0.5);
    TinygradGradient gradient(parameters, [](std::span<const Var<double>> p) {
      return workloads::w1_loss(p.first(layers), p.subspan(layers), TinygradSigmoid{});
    });
    checksum = repeat(gradient, count);
  } else if (workload == "w2") {
    const auto x = workloads::w2_input();
    std::vector<Var<double>> h1(workloads::w2_hidden), h2(workloads::w2_hidden);
    TinygradGradient gradient(
        workloads::w2_initial_parameters(), [&](std::span<const Var<double>> p) {
          return workloads::w2_loss<Var<double>>(p, x, h1, h2, TinygradSigmoid{});
        });
    checksum = repeat(gradient, count);
  } else if (workload == "w3" || workload == "by-hand") {
    TinygradGradient gradient(workloads::w3_point(10'000), [](std::span<const Var<double>> p) {
      return workloads::w3_rosenbrock(p);
    });
    checksum = repeat(gradient, count);
  } else if (workload == "w4") {
    const auto x = workloads::w4_data(100'000);
    TinygradGradient gradient(workloads::w4_weights(100'000), [&](std::span<const Var<double>> p) {
      return workloads::w4_sum(p, x, TinygradSigmoid{});
    });
    checksum = repeat(gradient, count);
  } else if (workload == "wrapper") {
    const auto x = workloads::w3_point(10'000);
    std::vector<double> out(x.size());
    for (int i = 0; i < count; ++i) {
      tinygrad::gradient([](auto p) { return workloads::w3_rosenbrock(p); }, x,
                         std::span<double>(out));
      checksum += out[1];
    }
  } else {
    std::fprintf(stderr, "unknown workload '%s'\n", workload.c_str());
    return 2;
  }
  std::printf("checksum %.17g\n", checksum);
  return 0;
}
