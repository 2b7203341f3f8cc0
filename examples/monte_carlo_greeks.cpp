// SPDX-License-Identifier: MIT
// A European call priced by Monte Carlo, with its delta and vega computed
// pathwise by a trace, checked against the Black-Scholes formulas.
//
// Each path draws z ~ N(0, 1) and ends at
//   S_T = S0 exp((r - sigma^2 / 2) T + sigma sqrt(T) z),
// paying exp(-r T) max(S_T - K, 0). The payoff is traced once, with (S0,
// sigma) as inputs and z as data; then one batched replay evaluates it and
// its gradient on every path, the paths in SIMD lanes. The means of the
// gradients are the pathwise estimates of delta (d/dS0) and vega
// (d/dsigma). Each estimate must lie within 4 standard errors of the
// closed form; the program says so and exits 1 otherwise.
//
//   monte_carlo_greeks [--paths N]     (default 200000; other arguments,
//                                       such as the directory the tests
//                                       pass to every example, are ignored)

#include <tinygrad/trace.hpp>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace {

constexpr double strike = 100.0;
constexpr double rate = 0.05;
constexpr double maturity = 1.0;

/// The discounted payoff of one path: x = (S0, sigma), data = (z).
const auto discounted_payoff = [](auto x, auto data) {
  using tinygrad::exp;
  using tinygrad::max;
  using tinygrad::sqrt;
  const auto s0 = x[0];
  const auto sigma = x[1];
  const auto end =
      s0 * exp((rate - 0.5 * sigma * sigma) * maturity + sigma * std::sqrt(maturity) * data[0]);
  return std::exp(-rate * maturity) * max(end - strike, 0.0);
};

double normal_cdf(double x) {
  return 0.5 * std::erfc(-x / std::numbers::sqrt2);
}

double normal_pdf(double x) {
  return std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
}

/// Mean and standard error of `n` samples, every `stride`-th of `values`
/// from `first` on.
struct Estimate {
  double mean;
  double standard_error;
};
Estimate estimate(const std::vector<double>& values, std::size_t first, std::size_t stride) {
  const std::size_t n = values.size() / stride;
  double sum = 0.0;
  double sum_of_squares = 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    const double v = values[first + k * stride];
    sum += v;
    sum_of_squares += v * v;
  }
  const double mean = sum / static_cast<double>(n);
  const double variance =
      (sum_of_squares - static_cast<double>(n) * mean * mean) / static_cast<double>(n - 1);
  return {mean, std::sqrt(variance / static_cast<double>(n))};
}

bool report(const char* name, Estimate mc, double exact) {
  const double errors = std::abs(mc.mean - exact) / mc.standard_error;
  const bool ok = errors <= 4.0;
  std::printf("%-6s Monte Carlo %10.6f +- %.6f   Black-Scholes %10.6f   %.2f standard errors %s\n",
              name, mc.mean, mc.standard_error, exact, errors, ok ? "ok" : "TOO FAR");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t paths = 200'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--paths") {
      char* end = nullptr;
      paths = std::strtoul(argv[i + 1], &end, 10);
      if (end == argv[i + 1] || *end != '\0' || paths < 2) {
        std::fprintf(stderr, "monte_carlo_greeks: --paths takes a whole number of 2 or more\n");
        return 2;
      }
    }
  }
  const double s0 = 100.0;
  const double sigma = 0.2;

  // Traced at one path that ends in the money; max() is an operation of the
  // trace, so paths that end out of the money need no other trace.
  tinygrad::Trace<double> payoff =
      tinygrad::trace(discounted_payoff, std::vector<double>{s0, sigma}, std::vector<double>{0.5});

  std::mt19937_64 generator(20261206);
  std::normal_distribution<double> normal;
  std::vector<double> z(paths);
  for (double& draw : z) {
    draw = normal(generator);
  }
  std::vector<double> points(2 * paths);
  for (std::size_t k = 0; k < paths; ++k) {
    points[2 * k] = s0;
    points[2 * k + 1] = sigma;
  }
  std::vector<double> values(paths);
  std::vector<double> gradients(2 * paths);
  payoff.values_and_gradients(points, values, gradients, z);

  const double d1 = (std::log(s0 / strike) + (rate + 0.5 * sigma * sigma) * maturity) /
                    (sigma * std::sqrt(maturity));
  const double d2 = d1 - sigma * std::sqrt(maturity);
  const double price = s0 * normal_cdf(d1) - strike * std::exp(-rate * maturity) * normal_cdf(d2);
  const double delta = normal_cdf(d1);
  const double vega = s0 * normal_pdf(d1) * std::sqrt(maturity);

  std::printf("European call, S0 = %g, K = %g, r = %g, sigma = %g, T = %g, %zu paths\n", s0, strike,
              rate, sigma, maturity, paths);
  bool ok = report("price", estimate(values, 0, 1), price);
  ok = report("delta", estimate(gradients, 0, 2), delta) && ok;
  ok = report("vega", estimate(gradients, 1, 2), vega) && ok;
  std::printf("%zu operations traced once, %zu traces made again\n", payoff.operations(),
              payoff.retraces());
  return ok ? 0 : 1;
}
