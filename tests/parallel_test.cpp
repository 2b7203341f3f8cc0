// SPDX-License-Identifier: MIT
// parallel_gradient: the same sum as one thread computes, any thread count,
// errors from workers rethrown, flat memory per worker.

#include <tinygrad/parallel.hpp>

#include "support/numeric.hpp"

#include <doctest/doctest.h>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

using tinygrad::Var;

namespace {

struct Sample {
  double x;
  double y;
};

// Least squares for a line: (a x + b - y)^2 per sample.
const auto squared_error = [](std::span<const Var<double>> p, const Sample& s) {
  const Var<double> error = p[0] * s.x + p[1] - s.y;
  return error * error;
};

std::vector<Sample> samples(std::size_t n) {
  std::vector<Sample> data;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = 0.01 * static_cast<double>(i);
    data.push_back({x, 2.0 * x - 1.0 + 0.1 * (static_cast<double>(i % 7) - 3.0)});
  }
  return data;
}

}  // namespace

TEST_CASE("parallel_gradient equals the hand-derived sum for every thread count") {
  const auto data = samples(1001);
  const std::vector<double> p{0.5, 0.25};
  double loss = 0;
  double da = 0;
  double db = 0;
  for (const Sample& s : data) {
    const double e = p[0] * s.x + p[1] - s.y;
    loss += e * e;
    da += 2 * e * s.x;
    db += 2 * e;
  }
  for (const unsigned threads : {1u, 2u, 3u, 8u, 0u}) {
    INFO("threads = ", threads);
    const auto [value, gradient] = tinygrad::parallel_gradient(
        squared_error, std::span<const double>(p), std::span<const Sample>(data), threads);
    tinygrad_test::check_close(value, loss, 1e-12);
    tinygrad_test::check_close(gradient[0], da, 1e-12);
    tinygrad_test::check_close(gradient[1], db, 1e-12);
  }
}

TEST_CASE("no samples: zero loss and zero gradient; more threads than samples is fine") {
  const std::vector<double> p{1.0, 2.0};
  const auto none = tinygrad::parallel_gradient(squared_error, std::span<const double>(p),
                                                std::span<const Sample>(), 4);
  CHECK(none.first == 0.0);
  CHECK(none.second == std::vector<double>{0.0, 0.0});
  const auto data = samples(2);
  const auto few = tinygrad::parallel_gradient(squared_error, std::span<const double>(p),
                                               std::span<const Sample>(data), 16);
  double loss = 0;
  std::vector<double> gradient{0.0, 0.0};
  for (const Sample& sample : data) {
    const double e = p[0] * sample.x + p[1] - sample.y;
    loss += e * e;
    gradient[0] += 2 * e * sample.x;
    gradient[1] += 2 * e;
  }
  tinygrad_test::check_close(few.first, loss, 1e-15);
  REQUIRE(few.second.size() == 2);
  tinygrad_test::check_close(few.second[0], gradient[0], 1e-15);
  tinygrad_test::check_close(few.second[1], gradient[1], 1e-15);
}

TEST_CASE("each worker's memory stays flat: every sample starts from the same tape") {
  // The loss looks at the tape it is recorded on (its worker's): before each
  // sample it must hold only the two parameter leaves, and its allocation
  // must not grow after the first sample.
  std::mutex mutex;
  std::map<std::thread::id, std::vector<std::size_t>> reserved_per_worker;
  std::size_t sizes_other_than_leaves = 0;
  const auto observing = [&](std::span<const Var<double>> q, const Sample& sample) {
    const auto& tape = tinygrad::Tape<double>::current();
    {
      const std::lock_guard<std::mutex> lock(mutex);
      sizes_other_than_leaves += tape.size() != 2 ? 1u : 0u;
      reserved_per_worker[std::this_thread::get_id()].push_back(tape.statistics().reserved_bytes);
    }
    return squared_error(q, sample);
  };
  const std::vector<double> p{0.5, 0.25};
  const auto data = samples(3000);
  (void)tinygrad::parallel_gradient(observing, std::span<const double>(p),
                                    std::span<const Sample>(data), 3);
  CHECK(sizes_other_than_leaves == 0);
  REQUIRE(reserved_per_worker.size() == 3);
  for (const auto& [worker, reserved] : reserved_per_worker) {
    REQUIRE(reserved.size() == 1000);
    // The first sample sizes the gradients, the second the scratch array of a
    // backward() that accumulates; from then on nothing grows.
    CHECK(reserved.back() == reserved[2]);
  }
}

TEST_CASE("an exception thrown by the loss in a worker reaches the caller") {
  const std::vector<double> p{1.0, 2.0};
  const auto data = samples(100);
  const auto throwing = [](std::span<const Var<double>> q, const Sample& s) {
    if (s.x > 0.9) {
      throw std::runtime_error("bad sample");
    }
    return q[0] * s.x;
  };
  CHECK_THROWS_WITH_AS(tinygrad::parallel_gradient(throwing, std::span<const double>(p),
                                                   std::span<const Sample>(data), 4),
                       "bad sample", std::runtime_error);
}
