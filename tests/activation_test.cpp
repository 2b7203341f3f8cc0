// SPDX-License-Identifier: MIT
// Activation policies: value and derivative against textbook formulas
// evaluated in long double, derivative against finite differences of value,
// accuracy over the whole finite range, limits, NaN, kinks, and recording as
// one tape entry through activate<P>.

#include <tinygrad/dual.hpp>
#include <tinygrad/nn.hpp>
#include <tinygrad/var.hpp>

#include "support/numeric.hpp"
#include "support/square_policy.hpp"

#include <doctest/doctest.h>
#include <bit>
#include <cmath>
#include <limits>
#include <numbers>
#include <ratio>
#include <string>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;

namespace {

using Long = long double;
constexpr Long sqrt2 = std::numbers::sqrt2_v<Long>;
constexpr Long pi = std::numbers::pi_v<Long>;

Long sigmoid_ref(Long x) {
  return 1 / (1 + std::exp(-x));
}
// e^-x / (1 + e^-x)^2, computed from whichever side keeps e^(-|x|) finite.
Long sigmoid_derivative_ref(Long x) {
  const Long e = std::exp(-std::abs(x));
  return e / ((1 + e) * (1 + e));
}
Long normal_cdf_ref(Long x) {
  return std::erfc(-x / sqrt2) / 2;
}
Long normal_pdf_ref(Long x) {
  return std::exp(-x * x / 2) / std::sqrt(2 * pi);
}

constexpr double inf = std::numeric_limits<double>::infinity();

/// value and derivative at -infinity and +infinity.
struct Limits {
  double value_at_minus_inf;
  double value_at_plus_inf;
  double derivative_at_minus_inf;
  double derivative_at_plus_inf;
};

// Per policy: the textbook value and derivative in long double, and the
// magnitude of the largest term of the derivative (where terms of opposite
// sign cancel, near a root of the derivative, accuracy is relative to that).
struct SigmoidReference {
  using Policy = tinygrad::Sigmoid;
  static constexpr Limits limits{0.0, 1.0, 0.0, 0.0};
  static Long value(Long x) { return sigmoid_ref(x); }
  static Long derivative(Long x) { return sigmoid_derivative_ref(x); }
  static Long derivative_scale(Long x) { return derivative(x); }
};
struct TanhReference {
  using Policy = tinygrad::Tanh;
  static constexpr Limits limits{-1.0, 1.0, 0.0, 0.0};
  static Long value(Long x) { return std::tanh(x); }
  static Long derivative(Long x) { return 1 / (std::cosh(x) * std::cosh(x)); }
  static Long derivative_scale(Long x) { return derivative(x); }
};
struct SoftplusReference {
  using Policy = tinygrad::Softplus;
  static constexpr Limits limits{0.0, inf, 0.0, 1.0};
  static Long value(Long x) { return x > 40 ? x + std::exp(-x) : std::log1p(std::exp(x)); }
  static Long derivative(Long x) { return sigmoid_ref(x); }
  static Long derivative_scale(Long x) { return derivative(x); }
};
struct SiLUReference {
  using Policy = tinygrad::SiLU;
  static constexpr Limits limits{0.0, inf, 0.0, 1.0};
  static Long value(Long x) { return x * sigmoid_ref(x); }
  static Long derivative(Long x) { return sigmoid_ref(x) + x * sigmoid_derivative_ref(x); }
  static Long derivative_scale(Long x) {
    return sigmoid_ref(x) + std::abs(x) * sigmoid_derivative_ref(x);
  }
};
struct GELUReference {
  using Policy = tinygrad::GELU;
  static constexpr Limits limits{0.0, inf, 0.0, 1.0};
  static Long value(Long x) { return x * normal_cdf_ref(x); }
  static Long derivative(Long x) { return normal_cdf_ref(x) + x * normal_pdf_ref(x); }
  static Long derivative_scale(Long x) {
    return normal_cdf_ref(x) + std::abs(x) * normal_pdf_ref(x);
  }
};
struct ELUReference {
  using Policy = tinygrad::ELU;
  static constexpr Limits limits{-1.0, inf, 0.0, 1.0};
  static Long value(Long x) { return x > 0 ? x : std::expm1(x); }
  static Long derivative(Long x) { return x > 0 ? 1 : std::exp(x); }
  static Long derivative_scale(Long x) { return derivative(x); }
};
struct ReLUReference {
  using Policy = tinygrad::ReLU;
  static constexpr Limits limits{0.0, inf, 0.0, 1.0};
  static Long value(Long x) { return x > 0 ? x : 0; }
  static Long derivative(Long x) { return x > 0 ? 1 : 0; }
  static Long derivative_scale(Long x) { return derivative(x); }
};
struct LeakyReLUReference {
  using Policy = tinygrad::LeakyReLU;
  static constexpr Limits limits{-inf, inf, 0.01, 1.0};
  static Long value(Long x) { return x > 0 ? x : x / 100; }
  static Long derivative(Long x) { return x > 0 ? 1 : 0.01L; }
  static Long derivative_scale(Long x) { return derivative(x); }
};
struct IdentityReference {
  using Policy = tinygrad::Identity;
  static constexpr Limits limits{-inf, inf, 1.0, 1.0};
  static Long value(Long x) { return x; }
  static Long derivative(Long) { return 1; }
  static Long derivative_scale(Long) { return 1; }
};

/// Every input the accuracy sweep visits: the whole range where the
/// functions have something to say, coarsely, and the busy middle finely.
template <class T>
std::vector<T> sweep_points() {
  std::vector<T> points;
  // Just beyond where the smallest of the functions leaves the normal range.
  const T limit = std::is_same_v<T, float> ? T(104) : T(746);
  for (T x = -limit; x <= limit; x += T(0.37)) {
    points.push_back(x);
  }
  for (T x = -20; x <= 20; x += T(0.0097)) {
    points.push_back(x);
  }
  if constexpr (std::is_same_v<T, double>) {
    // Where e^(-x^2/2) is subnormal but x phi(x), in GELU's derivative, is not.
    for (T x = -37.8; x <= -37.5; x += 0.0005) {
      points.push_back(x);
    }
  }
  return points;
}

/// |computed - reference| in units of the last place of T at `scale` (the
/// reference's magnitude, or more where terms cancel). The bound is stated for
/// results that are normal numbers: a subnormal result has fewer bits to be
/// accurate in, so it counts as exact here (tests of the underflow region
/// check it separately).
template <class T>
Long ulps(T computed, Long reference, Long scale) {
  if (std::abs(reference) < Long(std::numeric_limits<T>::min())) {
    return 0;
  }
  const Long ulp = Long(std::numeric_limits<T>::epsilon()) * std::abs(scale);
  return std::abs(Long(computed) - reference) / ulp;
}

}  // namespace

#define TINYGRAD_ALL_POLICY_REFERENCES                                                            \
  SigmoidReference, TanhReference, SoftplusReference, SiLUReference, GELUReference, ELUReference, \
      ReLUReference, LeakyReLUReference, IdentityReference

TEST_CASE_TEMPLATE("every policy satisfies the ActivationPolicy concept", R,
                   TINYGRAD_ALL_POLICY_REFERENCES) {
  using P = typename R::Policy;
  static_assert(tinygrad::ActivationPolicy<P, float>);
  static_assert(tinygrad::ActivationPolicy<P, double>);
  static_assert(tinygrad::ActivationPolicy<P, long double>);
  // A plain float, double and long double work directly: float and double
  // within the policies' bound of 4 ulp, long double within 16 of a long
  // double reference that rounds as much (tests/long_double_test.cpp sweeps
  // long double against 113-bit values).
  for (const Long x : {Long(0.5), Long(-1.25), Long(3.0)}) {
    CAPTURE(x);
    CHECK(ulps(P::value(static_cast<float>(x)), R::value(x), R::value(x)) <= 4);
    CHECK(ulps(P::value(static_cast<double>(x)), R::value(x), R::value(x)) <= 4);
    CHECK(ulps(P::derivative(static_cast<double>(x)), R::derivative(x), R::derivative_scale(x)) <=
          4);
    CHECK(ulps(P::value(x), R::value(x), R::value(x)) <= 16);
    CHECK(ulps(P::derivative(x), R::derivative(x), R::derivative_scale(x)) <= 16);
    CHECK(ulps(tinygrad::detail::value_and_derivative<P>(x).value, R::value(x), R::value(x)) <= 16);
  }
}

TEST_CASE_TEMPLATE("value and derivative are within 4 ulp of the textbook formula in long double",
                   R, TINYGRAD_ALL_POLICY_REFERENCES) {
  using P = typename R::Policy;
  const auto sweep = [](auto zero) {
    using T = decltype(zero);
    Long worst_value = 0;
    Long worst_derivative = 0;
    T worst_value_at = 0;
    T worst_derivative_at = 0;
    for (const T x : sweep_points<T>()) {
      const Long v = ulps(P::value(x), R::value(x), R::value(x));
      const Long d = ulps(P::derivative(x), R::derivative(x), R::derivative_scale(x));
      if (v > worst_value) {
        worst_value = v;
        worst_value_at = x;
      }
      if (d > worst_derivative) {
        worst_derivative = d;
        worst_derivative_at = x;
      }
    }
    INFO("worst value error ", static_cast<double>(worst_value), " ulp at x = ", worst_value_at);
    INFO("worst derivative error ", static_cast<double>(worst_derivative),
         " ulp at x = ", worst_derivative_at);
    CHECK(worst_value <= 4);
    CHECK(worst_derivative <= 4);
  };
  SUBCASE("double") {
    sweep(0.0);
  }
  SUBCASE("float") {
    sweep(0.0f);
  }
}

TEST_CASE_TEMPLATE("derivative agrees with finite differences of value", R,
                   TINYGRAD_ALL_POLICY_REFERENCES) {
  using P = typename R::Policy;
  for (const double x : {-6.0, -2.0, -0.7, -0.1, 0.3, 1.0, 2.5, 8.0}) {
    INFO("x = ", x);
    tinygrad_test::check_close(
        P::derivative(x),
        tinygrad_test::central_difference([](double t) { return P::value(t); }, x), 1e-8);
  }
}

TEST_CASE_TEMPLATE("activate<P> records one entry whose gradient is P::derivative", R,
                   TINYGRAD_ALL_POLICY_REFERENCES) {
  using P = typename R::Policy;
  for (const double at : {-3.0, -0.25, 0.0, 0.5, 4.0}) {
    Tape<double> tape;
    Var<double> x = at;
    const auto y = tinygrad::activate<P>(x);
    CHECK(tape.size() == 2);
    y.backward();
    CHECK(y.value() == P::value(at));
    CHECK(x.grad() == P::derivative(at));
  }
}

namespace {

/// Whether a and b are the same number to the bit (so -0 differs from +0),
/// or both NaN: which NaN an operation passes on may differ from one
/// compilation of a formula to another.
template <class T>
bool same_bits(T a, T b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<tinygrad::detail::UnsignedBits<T>>(a) ==
             std::bit_cast<tinygrad::detail::UnsignedBits<T>>(b);
}

/// The sweep's points, and those where a choice between two results could
/// go either way: both zeros, the infinities, NaN, subnormal and huge values.
template <class T>
std::vector<T> points_with_edges() {
  using limits = std::numeric_limits<T>;
  std::vector<T> points = sweep_points<T>();
  for (const T x : {T(0), T(-0.0), limits::infinity(), -limits::infinity(), limits::quiet_NaN(),
                    limits::denorm_min(), -limits::denorm_min(), limits::min(), -limits::min(),
                    limits::max(), -limits::max()}) {
    points.push_back(x);
  }
  return points;
}

template <class T, class P>
void check_one_at_a_time_against_the_loops_formula() {
  for (const T x : points_with_edges<T>()) {
    CAPTURE(x);
    const auto of_one = tinygrad::detail::value_and_derivative_of_one<P>(x);
    const auto of_many = tinygrad::detail::value_and_derivative<P>(x);
    CHECK(same_bits(of_one.value, of_many.value));
    CHECK(same_bits(of_one.derivative, of_many.derivative));
    CHECK(same_bits(of_one.value, P::value(x)));
    // The tape and a Dual compute it one number at a time. (The gradient is
    // a sum, 0 + partial, which turns a partial of -0 into +0.)
    Tape<T> tape;
    Var<T> v = x;
    const Var<T> y = tinygrad::activate<P>(v);
    y.backward();
    CHECK(same_bits(y.value(), of_many.value));
    CHECK(same_bits(v.grad() + T(0), of_many.derivative + T(0)));
    const auto d = tinygrad::activate<P>(tinygrad::Dual<T>(x, T(1)));
    CHECK(same_bits(d.value(), of_many.value));
    CHECK(same_bits(d.tangent(), of_many.derivative));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("one number at a time, an activation gives the bits of the loops' formula", R,
                   TINYGRAD_ALL_POLICY_REFERENCES) {
  using P = typename R::Policy;
  check_one_at_a_time_against_the_loops_formula<double, P>();
  check_one_at_a_time_against_the_loops_formula<float, P>();
}

TEST_CASE_TEMPLATE("finite everywhere finite, the right limits at infinity, NaN stays NaN", R,
                   TINYGRAD_ALL_POLICY_REFERENCES) {
  using P = typename R::Policy;
  // float and double take different paths (GELU's float one is in double).
  const auto check = [](auto zero) {
    using T = decltype(zero);
    constexpr T big = std::numeric_limits<T>::max();
    for (const T x : {-big, T(-1e30), T(-1000), T(-40), T(40), T(1000), T(1e30), big}) {
      INFO("x = ", x);
      CHECK(std::isfinite(P::value(x)));
      CHECK(std::isfinite(P::derivative(x)));
    }
    constexpr T infinity = std::numeric_limits<T>::infinity();
    CHECK(P::value(-infinity) == T(R::limits.value_at_minus_inf));
    CHECK(P::value(infinity) == T(R::limits.value_at_plus_inf));
    CHECK(P::derivative(-infinity) == T(R::limits.derivative_at_minus_inf));
    CHECK(P::derivative(infinity) == T(R::limits.derivative_at_plus_inf));
    const T nan = std::numeric_limits<T>::quiet_NaN();
    CHECK(std::isnan(P::value(nan)));
    CHECK(std::isnan(P::derivative(nan)));
  };
  SUBCASE("double") {
    check(0.0);
  }
  SUBCASE("float") {
    check(0.0F);
  }
}

TEST_CASE("the unbounded policies stay finite for finite input") {
  constexpr double big = std::numeric_limits<double>::max();
  CHECK(tinygrad::Softplus::value(big) == big);
  CHECK(tinygrad::SiLU::value(big) == big);
  CHECK(tinygrad::GELU::value(big) == big);
  CHECK(tinygrad::SiLU::value(-big) == 0.0);
  CHECK(tinygrad::GELU::value(-big) == 0.0);
  CHECK(tinygrad::ELU::value(-big) == -1.0);
}

TEST_CASE("exact values the issue names") {
  CHECK(tinygrad::Sigmoid::value(1000.0) == 1.0);
  CHECK(tinygrad::Sigmoid::value(-1000.0) == 0.0);
  CHECK(tinygrad::Sigmoid::derivative(1000.0) == 0.0);
  CHECK(tinygrad::Softplus::value(1000.0) == 1000.0);
  CHECK(tinygrad::Softplus::value(-1000.0) == 0.0);
  CHECK(tinygrad::Tanh::value(1000.0) == 1.0);
  CHECK(tinygrad::Tanh::value(-1000.0) == -1.0);
  CHECK(tinygrad::GELU::value(-40.0) == 0.0);
  CHECK(tinygrad::GELU::value(40.0) == 40.0);
  // Gradual underflow, not flush: sigmoid(-740) is subnormal but not zero.
  CHECK(tinygrad::Sigmoid::value(-740.0) > 0.0);
  CHECK(tinygrad::Sigmoid::value(-740.0) < std::numeric_limits<double>::min());
  // Tails keep full relative precision where 1 - s or 1 - t^2 would be 0.
  tinygrad_test::check_relative(
      tinygrad::Sigmoid::derivative(40.0),
      std::exp(-40.0L) / ((1 + std::exp(-40.0L)) * (1 + std::exp(-40.0L))), 1e-15L);
  tinygrad_test::check_relative(tinygrad::Tanh::derivative(25.0),
                                1 / (std::cosh(25.0L) * std::cosh(25.0L)), 1e-15L);
}

TEST_CASE("kinks follow PyTorch for +0 and -0 alike") {
  for (const double zero : {0.0, -0.0}) {
    CHECK(tinygrad::ReLU::derivative(zero) == 0.0);
    CHECK(tinygrad::LeakyReLU::derivative(zero) == 0.01);
    CHECK(tinygrad::ELU::derivative(zero) == 1.0);
    CHECK(tinygrad::ReLU::value(zero) == 0.0);
    CHECK(tinygrad::ELU::value(zero) == 0.0);
  }
  CHECK_FALSE(std::signbit(tinygrad::ReLU::value(-0.0)));
}

TEST_CASE("the shorthands are the policies") {
  // The policies see 0.3 as a run-time value, as the tape does: with a
  // constant argument clang (without FMA in the flags) may fold a * b + c
  // fused where run time rounds twice (docs/reference.md).
  const volatile double opaque = 0.3;
  const double v = opaque;
  Tape<double> tape;
  Var<double> x = v;
  CHECK(tinygrad::sigmoid(x).value() == tinygrad::Sigmoid::value(v));
  CHECK(tinygrad::tanh(x).value() == tinygrad::Tanh::value(v));
  CHECK(tinygrad::relu(x).value() == tinygrad::ReLU::value(v));
  CHECK(tinygrad::leaky_relu(-x).value() == tinygrad::LeakyReLU::value(-v));
  CHECK(tinygrad::softplus(x).value() == tinygrad::Softplus::value(v));
  CHECK(tinygrad::silu(x).value() == tinygrad::SiLU::value(v));
  CHECK(tinygrad::gelu(x).value() == tinygrad::GELU::value(v));
  CHECK(tinygrad::elu(-x).value() == tinygrad::ELU::value(-v));
}

namespace {

/// shorthand(x) on a plain number against the value the same shorthand
/// records on a tape and computes on a Dual, bit for bit, over points
/// across the range and its specials. The points are read through a
/// volatile, as the tape reads them: run-time values (see above).
template <class F, class Shorthand>
void check_plain_number_against_tape(Shorthand shorthand) {
  const volatile F points[] = {F(0),
                               -F(0),
                               F(0.3),
                               F(-0.3),
                               F(2.5),
                               F(-2.5),
                               F(17),
                               F(-40),
                               F(700),
                               F(-700),
                               std::numeric_limits<F>::denorm_min(),
                               std::numeric_limits<F>::infinity(),
                               -std::numeric_limits<F>::infinity(),
                               std::numeric_limits<F>::quiet_NaN()};
  for (const volatile F& point : points) {
    const F x = point;
    INFO("x = ", x);
    Tape<F> tape;
    const Var<F> v = x;
    const F plain = shorthand(x);
    static_assert(std::same_as<decltype(shorthand(x)), F>);
    CHECK(same_bits(plain, shorthand(v).value()));
    CHECK(same_bits(plain, shorthand(tinygrad::Dual<F>(x, F(1))).value()));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("on a plain number the shorthands give the tape's bits", F, float, double) {
  // So that one function, written once, runs on plain numbers, Vars and Duals.
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::sigmoid(x); });
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::tanh(x); });
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::relu(x); });
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::leaky_relu(x); });
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::softplus(x); });
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::silu(x); });
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::gelu(x); });
  check_plain_number_against_tape<F>([](auto x) { return tinygrad::elu(x); });
}

TEST_CASE("on a plain long double the shorthands give the tape's values") {
  const volatile long double opaque = -1.25L;
  const long double x = opaque;
  Tape<long double> tape;
  const Var<long double> v = x;
  CHECK(tinygrad::sigmoid(x) == tinygrad::sigmoid(v).value());
  CHECK(tinygrad::tanh(x) == tinygrad::tanh(v).value());
  CHECK(tinygrad::relu(x) == tinygrad::relu(v).value());
  CHECK(tinygrad::leaky_relu(x) == tinygrad::leaky_relu(v).value());
  CHECK(tinygrad::softplus(x) == tinygrad::softplus(v).value());
  CHECK(tinygrad::silu(x) == tinygrad::silu(v).value());
  CHECK(tinygrad::gelu(x) == tinygrad::gelu(v).value());
  CHECK(tinygrad::elu(x) == tinygrad::elu(v).value());
}

using tinygrad_test::Square;

TEST_CASE("a user-defined policy plugs in the same way") {
  static_assert(tinygrad::ActivationPolicy<Square, double>);
  Tape<double> tape;
  Var<double> x = 3.0;
  const auto y = tinygrad::activate<Square>(x * 2);  // (2x)^2, d/dx = 8x
  y.backward();
  CHECK(y.value() == 36.0);
  CHECK(x.grad() == 24.0);
}

namespace {

/// The notebook's network on plain doubles with activation P.
template <class P>
double notebook_loss(double w1, double w2, double w3) {
  const double a1 = P::value(w1 * 1.0);
  const double a2 = P::value(w2 * a1);
  const double y_pred = P::value(w3 * a2);
  return 0.5 * (1.0 - y_pred) * (1.0 - y_pred);
}

/// backward() on the notebook's network against the notebook's own chain rule
/// (its cells 14 and 16, on plain doubles) and against finite differences.
template <class P>
void check_notebook_network() {
  const double w1 = 0.5, w2 = 0.5, w3 = 0.5, x = 1.0, y = 1.0;

  Tape<double> tape;
  Var<double> vw1 = w1, vw2 = w2, vw3 = w3;
  const auto a1 = tinygrad::activate<P>(vw1 * x);
  const auto a2 = tinygrad::activate<P>(vw2 * a1);
  const auto loss = 0.5 * tinygrad::pow(y - tinygrad::activate<P>(vw3 * a2), 2);
  loss.backward();

  const double z1 = w1 * x, a1_value = P::value(z1);
  const double z2 = w2 * a1_value, a2_value = P::value(z2);
  const double z3 = w3 * a2_value, y_pred = P::value(z3);
  const double dl_dy = -(y - y_pred);
  const double dw3 = dl_dy * P::derivative(z3) * a2_value;
  const double dl_da2 = dl_dy * P::derivative(z3) * w3;
  const double dw2 = dl_da2 * P::derivative(z2) * a1_value;
  const double dl_da1 = dl_da2 * P::derivative(z2) * w2;
  const double dw1 = dl_da1 * P::derivative(z1) * x;

  tinygrad_test::check_close(vw1.grad(), dw1, 1e-15);
  tinygrad_test::check_close(vw2.grad(), dw2, 1e-15);
  tinygrad_test::check_close(vw3.grad(), dw3, 1e-15);
  using tinygrad_test::central_difference;
  tinygrad_test::check_close(
      vw1.grad(), central_difference([&](double t) { return notebook_loss<P>(t, w2, w3); }, w1),
      1e-9);
  tinygrad_test::check_close(
      vw2.grad(), central_difference([&](double t) { return notebook_loss<P>(w1, t, w3); }, w2),
      1e-9);
  tinygrad_test::check_close(
      vw3.grad(), central_difference([&](double t) { return notebook_loss<P>(w1, w2, t); }, w3),
      1e-9);
}

}  // namespace

TEST_CASE("the notebook's network: backward() equals its hand-written chain rule") {
  check_notebook_network<tinygrad::Sigmoid>();
  check_notebook_network<tinygrad::ReLU>();
}

TEST_CASE_TEMPLATE("second_derivative agrees with finite differences of derivative", R,
                   TINYGRAD_ALL_POLICY_REFERENCES) {
  using P = typename R::Policy;
  for (const double x : {-6.0, -2.0, -0.7, -0.1, 0.3, 1.0, 2.5, 8.0}) {
    INFO("x = ", x);
    tinygrad_test::check_close(
        P::second_derivative(x),
        tinygrad_test::central_difference([](double t) { return P::derivative(t); }, x), 1e-8);
  }
  constexpr double big = std::numeric_limits<double>::max();
  for (const double x : {-big, -1000.0, 1000.0, big, -inf, inf}) {
    INFO("x = ", x);
    CHECK(std::isfinite(P::second_derivative(x)));
  }
  CHECK(std::isnan(P::second_derivative(std::numeric_limits<double>::quiet_NaN())));
}

namespace {

// A policy with a parameter fixed at compile time and every member a policy
// may have: Swish, x sigmoid(beta x) (SiLU is beta = 1). beta is a
// std::ratio: a template parameter of floating type is C++20, but clang 14
// does not accept one.
template <class Beta>
struct Swish {
  static constexpr double beta = static_cast<double>(Beta::num) / static_cast<double>(Beta::den);
  static constexpr const char* name = "swish";  // in annotations and anomaly reports
  static constexpr tinygrad::Initialization initialization = tinygrad::Initialization::he;
  static constexpr double gain = 1.4142135623730951;  // sqrt 2, as for SiLU

  template <class T>
  static T value(T x) {
    return x * tinygrad::Sigmoid::value(static_cast<T>(beta) * x);
  }
  template <class T>
  static T derivative(T x) {
    const T b = static_cast<T>(beta);
    const T s = tinygrad::Sigmoid::value(b * x);
    return s + b * x * s * (1 - s);
  }
  template <class T>
  static T second_derivative(T x) {
    const T b = static_cast<T>(beta);
    const T s = tinygrad::Sigmoid::value(b * x);
    const T slope = s * (1 - s);  // sigmoid'
    return 2 * b * slope + b * b * x * slope * (1 - 2 * s);
  }
};

using Swish15 = Swish<std::ratio<3, 2>>;

// The textbook formula in long double, for beta = 3/2.
Long swish15_ref(Long x) {
  return x * sigmoid_ref(1.5L * x);
}

}  // namespace

TEST_CASE("a parameterised policy with every member: Swish<beta>") {
  static_assert(tinygrad::ActivationPolicy<Swish15, double>);
  static_assert(tinygrad::ActivationPolicy<Swish15, float>);
  const double h = 1e-5;
  for (const double x : {-6.0, -1.3, -0.2, 0.0, 0.4, 2.5, 9.0}) {
    CAPTURE(x);
    CHECK(Swish15::value(x) == doctest::Approx(static_cast<double>(swish15_ref(x))).epsilon(1e-15));
    const double derivative =
        static_cast<double>((swish15_ref(x + h) - swish15_ref(x - h)) / (2 * h));
    CHECK(Swish15::derivative(x) == doctest::Approx(derivative).epsilon(1e-9).scale(1.0));
    const double second = (Swish15::derivative(x + h) - Swish15::derivative(x - h)) / (2 * h);
    CHECK(Swish15::second_derivative(x) == doctest::Approx(second).epsilon(1e-8).scale(1.0));
  }
  SUBCASE("on the tape, to first and second order") {
    Tape<double> tape;
    tape.annotate(true);
    Var<double> x = 0.7;
    const auto y = tinygrad::activate<Swish15>(x);
    y.backward();
    CHECK(x.grad() == Swish15::derivative(0.7));
    const char* name = nullptr;
    tape.for_each_entry([&](const auto& entry) { name = entry.operation; });
    CHECK(std::string(name) == "swish");
    const Var<double> inner = 0.7;
    Tape<Var<double>> outer;
    const Var<Var<double>> z = inner;
    const auto w = tinygrad::activate<Swish15>(z);
    w.backward();
    const Var<double> first = z.grad();  // a Var on the inner tape
    CHECK(first.value() == Swish15::derivative(0.7));
    first.backward();
    CHECK(inner.grad() == doctest::Approx(Swish15::second_derivative(0.7)).epsilon(1e-15));
  }
  SUBCASE("in the batched kernels") {
    const std::vector<double> in{-2.0, -0.5, 0.0, 1.5};
    std::vector<double> out(in.size());
    tinygrad::forward<Swish15>(in, out);
    const std::vector<double> dy(in.size(), 1.0);
    std::vector<double> dx(in.size());
    tinygrad::backward<Swish15>(in, out, dy, dx);
    for (std::size_t i = 0; i < in.size(); ++i) {
      CHECK(out[i] == Swish15::value(in[i]));
      CHECK(dx[i] == Swish15::derivative(in[i]));
    }
  }
  SUBCASE("a layer draws its weights as initialization and gain say: He, sqrt 2") {
    CHECK(tinygrad::nn::initial_weight_bound<Swish15>(12, 5) ==
          doctest::Approx(std::sqrt(2.0) * std::sqrt(3.0 / 12.0)).epsilon(1e-15));
  }
}
