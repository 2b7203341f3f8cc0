// SPDX-License-Identifier: MIT
// Minimise Rosenbrock's function in 2 and 100 dimensions, by gradient descent
// and by Newton's method, each with a backtracking line search; gradients from
// tinygrad::value_and_gradient, Hessians from tinygrad::hessian. Newton's
// method runs a second time on a trace of the function, made once, which
// gives every step's value, gradient and Hessian without recording again.
// First, gradcheck() confirms the gradient against finite differences.
// Exits non-zero if the gradient check fails or a run does not converge.

#include <tinygrad/functional.hpp>
#include <tinygrad/trace.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace {

// f(x) = sum over i of 100 (x_(i+1) - x_i^2)^2 + (1 - x_i)^2; minimum 0 at (1, ..., 1).
const auto rosenbrock = [](auto x) {
  auto sum = 0.0 * x[0];
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const auto t = x[i + 1] - x[i] * x[i];
    const auto u = 1.0 - x[i];
    sum = sum + 100.0 * t * t + u * u;
  }
  return sum;
};

double norm(const std::vector<double>& v) {
  return std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
}

/// Steepest descent; each step halves its length until f decreases enough
/// (Armijo's condition). Returns whether |gradient| fell below `tolerance`.
bool minimise(std::vector<double> x, int max_steps, double tolerance) {
  std::vector<double> g(x.size());
  std::vector<double> trial(x.size());
  double step = 1e-3;
  for (int k = 0; k <= max_steps; ++k) {
    const auto [f, gradient] = tinygrad::value_and_gradient(rosenbrock, x);
    g = gradient;
    const double g_norm = norm(g);
    if (k % 5000 == 0 || g_norm < tolerance) {
      std::printf("  step %6d  f = %.6e  |grad| = %.3e  x[0] = %.6f\n", k, f, g_norm, x[0]);
    }
    if (g_norm < tolerance) {
      return true;
    }
    step *= 2;  // try a longer step first, then backtrack
    while (true) {
      for (std::size_t i = 0; i < x.size(); ++i) {
        trial[i] = x[i] - step * g[i];
      }
      const double f_trial = tinygrad::value_and_gradient(rosenbrock, trial).first;
      if (f_trial <= f - 0.5 * step * g_norm * g_norm) {
        break;
      }
      step /= 2;
    }
    x = trial;
  }
  return false;
}

/// Solves A d = b (A n x n, row-major) by Gaussian elimination with partial
/// pivoting; returns false if A is singular.
bool solve(std::vector<double> a, std::vector<double> b, std::vector<double>& d) {
  const std::size_t n = b.size();
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t pivot = col;
    for (std::size_t row = col + 1; row < n; ++row) {
      if (std::abs(a[row * n + col]) > std::abs(a[pivot * n + col])) {
        pivot = row;
      }
    }
    if (a[pivot * n + col] == 0.0) {
      return false;
    }
    for (std::size_t k = 0; k < n; ++k) {
      std::swap(a[col * n + k], a[pivot * n + k]);
    }
    std::swap(b[col], b[pivot]);
    for (std::size_t row = col + 1; row < n; ++row) {
      const double factor = a[row * n + col] / a[col * n + col];
      for (std::size_t k = col; k < n; ++k) {
        a[row * n + k] -= factor * a[col * n + k];
      }
      b[row] -= factor * b[col];
    }
  }
  d.assign(n, 0.0);
  for (std::size_t row = n; row-- > 0;) {
    double sum = b[row];
    for (std::size_t k = row + 1; k < n; ++k) {
      sum -= a[row * n + k] * d[k];
    }
    d[row] = sum / a[row * n + row];
  }
  return true;
}

/// What Newton's method needs of f, from recordings: f(x); f(x) and its
/// gradient; its Hessian, row-major.
struct FromRecordings {
  static double value(const std::vector<double>& x) {
    return tinygrad::value_and_gradient(rosenbrock, x).first;
  }
  static std::pair<double, std::vector<double>> value_and_gradient(const std::vector<double>& x) {
    return tinygrad::value_and_gradient(rosenbrock, x);
  }
  static std::vector<double> hessian(const std::vector<double>& x) {
    return tinygrad::hessian(rosenbrock, x).values();
  }
};

/// The same from a trace of f, made once at the starting point.
struct FromTrace {
  tinygrad::Trace<double> trace;
  double value(const std::vector<double>& x) { return trace.value(x); }
  std::pair<double, std::vector<double>> value_and_gradient(const std::vector<double>& x) {
    std::vector<double> g(x.size());
    const double f = trace.value_and_gradient(x, g);
    return {f, g};
  }
  std::vector<double> hessian(const std::vector<double>& x) { return trace.hessian(x).values(); }
};

/// Newton's method: step along -H^-1 g when that descends, along -g when it
/// does not, halving the step until f decreases enough.
template <class Derivatives>
bool minimise_newton(std::vector<double> x, int max_steps, double tolerance,
                     Derivatives&& derivatives) {
  std::vector<double> direction;
  std::vector<double> trial(x.size());
  for (int k = 0; k <= max_steps; ++k) {
    const auto [f, g] = derivatives.value_and_gradient(x);
    const double g_norm = norm(g);
    std::printf("  step %3d  f = %.6e  |grad| = %.3e  x[0] = %.6f\n", k, f, g_norm, x[0]);
    if (g_norm < tolerance) {
      return true;
    }
    std::vector<double> negative_g(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) {
      negative_g[i] = -g[i];
    }
    const bool newton = solve(derivatives.hessian(x), negative_g, direction) &&
                        std::inner_product(direction.begin(), direction.end(), g.begin(), 0.0) < 0;
    if (!newton) {
      direction = negative_g;
    }
    const double slope = std::inner_product(direction.begin(), direction.end(), g.begin(), 0.0);
    double step = 1.0;
    while (true) {
      for (std::size_t i = 0; i < x.size(); ++i) {
        trial[i] = x[i] + step * direction[i];
      }
      const double f_trial = derivatives.value(trial);
      if (f_trial <= f + 1e-4 * step * slope || step < 1e-12) {
        break;
      }
      step /= 2;
    }
    x = trial;
  }
  return false;
}

}  // namespace

int main() {
  const std::vector<double> start2{-1.2, 1.0};
  const auto report = tinygrad::gradcheck(rosenbrock, start2);
  std::cout << report;
  bool ok = report.ok;

  std::printf("\nRosenbrock, 2 dimensions, from (-1.2, 1):\n");
  ok &= minimise(start2, 100'000, 1e-6);

  std::vector<double> start100(100);
  for (std::size_t i = 0; i < start100.size(); ++i) {
    start100[i] = i % 2 == 0 ? -1.2 : 1.0;
  }
  std::printf("\nRosenbrock, 100 dimensions, from (-1.2, 1, -1.2, 1, ...):\n");
  ok &= minimise(start100, 200'000, 1e-4);

  std::printf("\nNewton's method, 2 dimensions, from (-1.2, 1):\n");
  ok &= minimise_newton(start2, 100, 1e-10, FromRecordings{});
  std::printf("\nNewton's method, 100 dimensions, from (-1.2, 1, -1.2, 1, ...):\n");
  ok &= minimise_newton(start100, 200, 1e-10, FromRecordings{});
  std::printf("\nNewton's method on a trace, 100 dimensions, from (-1.2, 1, -1.2, 1, ...):\n");
  ok &= minimise_newton(start100, 200, 1e-10, FromTrace{tinygrad::trace(rosenbrock, start100)});

  std::printf("\n%s\n", ok ? "Converged." : "Did not converge.");
  return ok ? 0 : 1;
}
