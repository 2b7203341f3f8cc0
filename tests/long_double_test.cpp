// SPDX-License-Identifier: MIT
// long double, against 113-bit references (__float128 and libquadmath, so
// g++ only): every activation policy's value, derivative and second
// derivative, and every elementary function's value and gradient on
// Var<long double>, swept over their domains and over small magnitudes.
// Errors are in ulp of long double (64 bits) at the exact value, or, where
// the terms of a derivative cancel near a root, at the largest term.

#include <tinygrad/var.hpp>

#include <doctest/doctest.h>
#include <quadmath.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;

namespace {

using Long = long double;
using Quad = __float128;

// Constants without libquadmath's Q literals, which -std=c++20 (not gnu++20) lacks.
const Quad pi = acosq(Quad(-1));
const Quad ln2 = logq(Quad(2));
const Quad ln10 = logq(Quad(10));

Quad abs_of(Quad x) {
  return x < 0 ? -x : x;
}

/// |computed - exact| in ulp of long double at `scale` (the exact value's
/// magnitude, or more where terms cancel); 0 where the exact value is below
/// long double's normal range, where no bound is stated.
Long ulps(Long computed, Quad exact, Quad scale) {
  if (abs_of(exact) < Quad(std::numeric_limits<Long>::min())) {
    return 0;
  }
  int exponent = 0;
  std::frexp(static_cast<Long>(abs_of(scale)), &exponent);
  const Quad ulp = ldexpq(Quad(1), exponent - std::numeric_limits<Long>::digits);
  return static_cast<Long>(abs_of(Quad(computed) - exact) / ulp);
}

/// The points of a sweep: every 1/64 of [-limit, limit], and log-uniform
/// magnitudes from 2^-60 to 1 of both signs.
std::vector<Long> points(Long limit) {
  std::vector<Long> result;
  for (Long x = -limit; x <= limit; x += Long(1) / 64) {
    result.push_back(x + Long(1) / 1024);  // off the grid of exact binary fractions
  }
  for (int k = -600; k <= 0; ++k) {
    const Long magnitude = std::exp2(Long(k) / 10);
    result.push_back(magnitude);
    result.push_back(-magnitude);
  }
  return result;
}

Quad sigmoid(Quad x) {
  return x >= 0 ? 1 / (1 + expq(-x)) : expq(x) / (1 + expq(x));
}
Quad sigmoid_slope(Quad x) {
  const Quad e = expq(-abs_of(x));
  return e / ((1 + e) * (1 + e));
}
Quad normal_cdf(Quad x) {
  return erfcq(-x / sqrtq(Quad(2))) / 2;
}
Quad normal_pdf(Quad x) {
  return expq(-x * x / 2) / sqrtq(2 * pi);
}

/// The exact value, first and second derivative of a policy, and the scales
/// against which their errors count.
struct Exact {
  Quad value, first, second;
  Quad first_scale, second_scale;
};

template <class P>
Exact exact(Quad x) {
  if constexpr (std::is_same_v<P, tinygrad::Sigmoid>) {
    const Quad s = sigmoid(x), d = sigmoid_slope(x);
    return {s, d, d * (1 - 2 * s), d, d};
  } else if constexpr (std::is_same_v<P, tinygrad::Tanh>) {
    const Quad c = coshq(x), t = tanhq(x);
    return {t, 1 / (c * c), -2 * t / (c * c), 1 / (c * c), 2 / (c * c)};
  } else if constexpr (std::is_same_v<P, tinygrad::Softplus>) {
    const Quad value = (x > 0 ? x : 0) + log1pq(expq(-abs_of(x)));
    return {value, sigmoid(x), sigmoid_slope(x), sigmoid(x), sigmoid_slope(x)};
  } else if constexpr (std::is_same_v<P, tinygrad::SiLU>) {
    const Quad s = sigmoid(x), d = sigmoid_slope(x);
    return {x * s, s + x * d, d * (2 + x * (1 - 2 * s)), s + abs_of(x) * d, d * (2 + abs_of(x))};
  } else if constexpr (std::is_same_v<P, tinygrad::GELU>) {
    const Quad c = normal_cdf(x), p = normal_pdf(x);
    return {x * c, c + x * p, p * (2 - x * x), c + abs_of(x) * p, p * (2 + x * x)};
  } else {
    static_assert(std::is_same_v<P, tinygrad::ELU>);
    const Quad e = expq(x);
    return x > 0 ? Exact{x, 1, 0, 1, 1} : Exact{expm1q(x), e, e, e, e};
  }
}

}  // namespace

TEST_CASE_TEMPLATE("long double policies: values within 4 ulp, derivatives within 6", P,
                   tinygrad::Sigmoid, tinygrad::Tanh, tinygrad::Softplus, tinygrad::SiLU,
                   tinygrad::GELU, tinygrad::ELU) {
  Long worst[3] = {0, 0, 0};
  Long at[3] = {0, 0, 0};
  for (const Long x : points(60)) {
    const Exact e = exact<P>(Quad(x));
    const Long errors[3] = {ulps(P::value(x), e.value, e.value),
                            ulps(P::derivative(x), e.first, e.first_scale),
                            ulps(P::second_derivative(x), e.second, e.second_scale)};
    for (int k = 0; k < 3; ++k) {
      if (errors[k] > worst[k]) {
        worst[k] = errors[k];
        at[k] = x;
      }
    }
  }
  const std::string name = tinygrad::detail::policy_name<P>();
  const std::string what[3] = {"value", "derivative", "second derivative"};
  const Long bound[3] = {4, 6, 6};
  for (int k = 0; k < 3; ++k) {
    INFO(name, " ", what[k], ": worst ", static_cast<double>(worst[k]),
         " ulp at x = ", static_cast<double>(at[k]));
    CHECK(worst[k] <= bound[k]);
  }
  MESSAGE(name, " long double: worst value ", static_cast<double>(worst[0]), ", derivative ",
          static_cast<double>(worst[1]), ", second derivative ", static_cast<double>(worst[2]),
          " ulp");
}

namespace {

/// A function on Var<long double> and its exact value and derivative.
struct Elementary {
  const char* name;
  Var<Long> (*on_var)(const Var<Long>&);
  Quad (*value)(Quad);
  Quad (*derivative)(Quad);
  Long low;
  Long high;
};

// Each function's textbook derivative, in 113 bits.
const Elementary elementary[] = {
    {"exp", [](const Var<Long>& x) { return exp(x); }, expq, expq, -40, 40},
    {"exp2", [](const Var<Long>& x) { return exp2(x); }, exp2q,
     [](Quad x) { return ln2 * exp2q(x); }, -40, 40},
    {"expm1", [](const Var<Long>& x) { return expm1(x); }, expm1q, expq, -40, 40},
    {"log", [](const Var<Long>& x) { return log(x); }, logq, [](Quad x) { return 1 / x; }, 0, 100},
    {"log2", [](const Var<Long>& x) { return log2(x); }, log2q,
     [](Quad x) { return 1 / (x * ln2); }, 0, 100},
    {"log10", [](const Var<Long>& x) { return log10(x); }, log10q,
     [](Quad x) { return 1 / (x * ln10); }, 0, 100},
    {"log1p", [](const Var<Long>& x) { return log1p(x); }, log1pq,
     [](Quad x) { return 1 / (1 + x); }, -0.99L, 100},
    {"sqrt", [](const Var<Long>& x) { return sqrt(x); }, sqrtq,
     [](Quad x) { return 1 / (2 * sqrtq(x)); }, 0, 100},
    {"cbrt", [](const Var<Long>& x) { return cbrt(x); }, cbrtq,
     [](Quad x) { return 1 / (3 * cbrtq(x) * cbrtq(x)); }, -100, 100},
    {"sin", [](const Var<Long>& x) { return sin(x); }, sinq, cosq, -10, 10},
    {"cos", [](const Var<Long>& x) { return cos(x); }, cosq, [](Quad x) { return -sinq(x); }, -10,
     10},
    {"tan", [](const Var<Long>& x) { return tan(x); }, tanq,
     [](Quad x) { return 1 / (cosq(x) * cosq(x)); }, -1.5L, 1.5L},
    {"asin", [](const Var<Long>& x) { return asin(x); }, asinq,
     [](Quad x) { return 1 / sqrtq(1 - x * x); }, -0.99L, 0.99L},
    {"acos", [](const Var<Long>& x) { return acos(x); }, acosq,
     [](Quad x) { return -1 / sqrtq(1 - x * x); }, -0.99L, 0.99L},
    {"atan", [](const Var<Long>& x) { return atan(x); }, atanq,
     [](Quad x) { return 1 / (1 + x * x); }, -50, 50},
    {"sinh", [](const Var<Long>& x) { return sinh(x); }, sinhq, coshq, -40, 40},
    {"cosh", [](const Var<Long>& x) { return cosh(x); }, coshq, sinhq, -40, 40},
    {"tanh", [](const Var<Long>& x) { return tanh(x); }, tanhq,
     [](Quad x) { return 1 / (coshq(x) * coshq(x)); }, -40, 40},
    {"asinh", [](const Var<Long>& x) { return asinh(x); }, asinhq,
     [](Quad x) { return 1 / sqrtq(x * x + 1); }, -50, 50},
    {"acosh", [](const Var<Long>& x) { return acosh(x); }, acoshq,
     [](Quad x) { return 1 / sqrtq(x * x - 1); }, 1.01L, 50},
    {"atanh", [](const Var<Long>& x) { return atanh(x); }, atanhq,
     [](Quad x) { return 1 / (1 - x * x); }, -0.99L, 0.99L},
    {"erf", [](const Var<Long>& x) { return erf(x); }, erfq,
     [](Quad x) { return 2 / sqrtq(pi) * expq(-x * x); }, -6, 6},
    {"erfc", [](const Var<Long>& x) { return erfc(x); }, erfcq,
     [](Quad x) { return -2 / sqrtq(pi) * expq(-x * x); }, -6, 6},
};

}  // namespace

TEST_CASE("Var<long double>: every elementary function's value and gradient within 8 ulp") {
  for (const Elementary& f : elementary) {
    Long worst_value = 0;
    Long worst_gradient = 0;
    Long at_value = 0;
    Long at_gradient = 0;
    for (const Long x : points(100)) {
      if (!(x > f.low && x < f.high)) {
        continue;
      }
      Tape<Long> tape;
      const Var<Long> v = x;
      const Var<Long> y = f.on_var(v);
      y.backward();
      const Long value_error = ulps(y.value(), f.value(Quad(x)), f.value(Quad(x)));
      const Quad slope = f.derivative(Quad(x));
      const Long gradient_error = ulps(v.grad(), slope, slope);
      if (value_error > worst_value) {
        worst_value = value_error;
        at_value = x;
      }
      if (gradient_error > worst_gradient) {
        worst_gradient = gradient_error;
        at_gradient = x;
      }
    }
    INFO(f.name, ": worst value ", static_cast<double>(worst_value),
         " ulp at x = ", static_cast<double>(at_value), ", gradient ",
         static_cast<double>(worst_gradient), " ulp at x = ", static_cast<double>(at_gradient));
    CHECK(worst_value <= 8);
    CHECK(worst_gradient <= 8);
  }
}
