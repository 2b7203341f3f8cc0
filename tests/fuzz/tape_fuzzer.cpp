// SPDX-License-Identifier: MIT
// libFuzzer target: bytes become a small program over tinygrad's operations
// (elementary functions, operators with Vars and scalars, compound
// assignment, comparisons, dot and sum, products added in turn to a sum),
// its activation policies and their
// array kernels, which runs on plain doubles and on Vars. Checked on every
// input: no crash, no sanitizer report, the Var values equal the double values
// bit for bit (or both NaN). Checked where the program is smooth (every
// intermediate finite and below 10^3, every operation at least 0.01 from its
// kinks and the edges of its domain, every instruction on the same side of
// every kink at each point of a difference, and finite differences with h
// and h/2 agreeing): the gradient from backward() against central finite differences
// of the double program; tinygrad::gradient (functional API) against that
// gradient bit for bit; the Hessian from tinygrad::hessian (forward over
// reverse, with its sparsity from a nested recording) and a trace's Hessian
// (forward over reverse on the trace) against central differences of
// tinygrad::gradient; and forward mode: the program on
// Dual<double, 4>s, every input its own direction, whose values must equal
// the double values bit for bit (checked on every input) and whose tangents
// the tape's gradient to rounding; and tracing: the program traced at
// another point and replayed at the inputs, alone and in a batch, whose
// values and gradients must equal a fresh recording's bit for bit (checked
// on every input), guards that flip included, and a trace of several
// outputs whose Jacobian rows must equal fresh recordings' gradients.
//
// Build and run (clang): cmake --preset fuzz && cmake --build --preset fuzz &&
//   build/fuzz/tests/fuzz/tape_fuzzer -max_total_time=600 tests/fuzz/corpus
//
// With anomaly detection on (in record mode), the report must blame the first
// non-finite value, or in backward() appear exactly when a gradient is not
// finite.
//
// The encoding: byte 0 picks how many inputs (1..4) and, with its bit 4,
// whether anomaly detection is on; each input is two bytes,
// a value in [-4, 4]. Then each instruction is three bytes: the operation,
// and two operands chosen among the values computed so far. The output is the
// last value.

#include <tinygrad/functional.hpp>
#include <tinygrad/trace.hpp>
#include <tinygrad/var.hpp>

#include "../support/batch_formulas.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace {

using tinygrad::Var;

/// How far an operation's arguments are from where it is not smooth (a kink,
/// a pole, the edge of its domain); 1 where that cannot happen.
using Margin = double (*)(double, double);

struct Operation {
  const char* name;
  int arity;
  Margin margin;
};

double anywhere(double, double) {
  return 1;
}
double away_from_zero(double x, double) {
  return std::abs(x);
}
double away_from_equal(double x, double y) {
  return std::abs(x - y);
}
double away_from_plus_minus_one(double x, double) {
  return 1 - std::abs(x);
}
double away_from_origin(double x, double y) {
  return std::max(std::abs(x), std::abs(y));
}
/// atan2(y, x) jumps by 2 pi across the negative x axis (y = 0, x < 0): a
/// kink that abs() makes symmetric, so finite differences alone cannot see it.
double away_from_cut_of_atan2(double y, double x) {
  return x < 0 ? std::abs(y) : away_from_origin(y, x);
}
double away_from_minus_one(double x, double) {
  return x + 1;
}
double above_one(double x, double) {
  return x - 1;
}
double away_from_poles_of_tan(double x, double) {
  return std::abs(std::cos(x));
}
double positive_base(double x, double) {
  return x;
}

constexpr std::array operations = {
    Operation{"+", 2, anywhere},
    Operation{"-", 2, anywhere},
    Operation{"*", 2, anywhere},
    Operation{"/", 2, [](double, double y) { return std::abs(y); }},
    Operation{"neg", 1, anywhere},
    Operation{"+= scalar", 1, anywhere},
    Operation{"*= scalar", 1, anywhere},
    Operation{"exp", 1, anywhere},
    Operation{"exp2", 1, anywhere},
    Operation{"expm1", 1, anywhere},
    Operation{"log", 1, positive_base},
    Operation{"log2", 1, positive_base},
    Operation{"log10", 1, positive_base},
    Operation{"log1p", 1, away_from_minus_one},
    Operation{"sqrt", 1, positive_base},
    Operation{"cbrt", 1, away_from_zero},
    Operation{"pow", 2, positive_base},
    Operation{"hypot", 2, away_from_origin},
    Operation{"sin", 1, anywhere},
    Operation{"cos", 1, anywhere},
    Operation{"tan", 1, away_from_poles_of_tan},
    Operation{"asin", 1, away_from_plus_minus_one},
    Operation{"acos", 1, away_from_plus_minus_one},
    Operation{"atan", 1, anywhere},
    Operation{"atan2", 2, away_from_cut_of_atan2},
    Operation{"sinh", 1, anywhere},
    Operation{"cosh", 1, anywhere},
    Operation{"asinh", 1, anywhere},
    Operation{"acosh", 1, above_one},
    Operation{"atanh", 1, away_from_plus_minus_one},
    Operation{"erf", 1, anywhere},
    Operation{"erfc", 1, anywhere},
    Operation{"abs", 1, away_from_zero},
    Operation{"min", 2, away_from_equal},
    Operation{"max", 2, away_from_equal},
    Operation{"dot", 2, anywhere},
    Operation{"sum", 2, anywhere},
    Operation{"sigmoid", 1, anywhere},
    Operation{"tanh", 1, anywhere},
    Operation{"relu", 1, away_from_zero},
    Operation{"leaky_relu", 1, away_from_zero},
    Operation{"softplus", 1, anywhere},
    Operation{"silu", 1, anywhere},
    Operation{"gelu", 1, anywhere},
    Operation{"elu", 1, away_from_zero},
    Operation{"identity", 1, anywhere},
    Operation{"-= scalar", 1, anywhere},
    Operation{"/= scalar", 1, anywhere},
    Operation{"scalar -", 1, anywhere},
    Operation{"scalar /", 1, away_from_zero},
    Operation{"pow scalar", 1, positive_base},
    Operation{"scalar pow", 1, anywhere},
    Operation{"-= Var", 2, anywhere},
    Operation{"/= Var", 2, [](double, double y) { return std::abs(y); }},
    Operation{"select <", 2, away_from_equal},
    Operation{"select > 1", 2, [](double x, double) { return std::abs(x - 1); }},
    Operation{"sigmoid span", 2, anywhere},
    Operation{"tanh span", 2, anywhere},
    Operation{"dot of three", 2, anywhere},
};

struct Instruction {
  std::size_t operation;
  std::size_t a;
  std::size_t b;
};

struct Program {
  bool detect_anomalies = false;
  std::vector<double> inputs;
  std::vector<Instruction> instructions;
};

Program decode(const std::uint8_t* data, std::size_t size) {
  Program p;
  if (size == 0) {
    return p;
  }
  const std::size_t inputs = 1 + data[0] % 4;
  p.detect_anomalies = (data[0] & 0x10) != 0;
  std::size_t at = 1;
  for (std::size_t i = 0; i < inputs && at + 1 < size; ++i, at += 2) {
    const unsigned raw = (unsigned{data[at]} << 8) | data[at + 1];
    p.inputs.push_back(-4.0 + 8.0 * raw / 65535.0);
  }
  for (std::size_t values = p.inputs.size(); at + 2 < size && values > 0; at += 3, ++values) {
    p.instructions.push_back(
        {data[at] % operations.size(), data[at + 1] % values, data[at + 2] % values});
    if (p.instructions.size() == 64) {
      break;  // long enough to reach every interaction; keeps each run fast
    }
  }
  return p;
}

/// Whether S is a forward-mode number.
template <class S>
constexpr bool is_dual = tinygrad::detail::is_dual<S>;

/// The two operations that compare (and so make guards when traced).
constexpr std::size_t select_less = 54;
constexpr std::size_t select_greater_than_one = 55;

/// One operation on S = double, Var<double> (or a nesting of it),
/// Dual<double, 4> or Traced<double>, written once for all. `elementwise`
/// spells dot, sum and the array kernels out as the operations they are
/// made of: what Duals and Traced numbers do (they have no wide entries or
/// array kernels), and what a recording to compare with a trace must do.
template <class S, bool elementwise = is_dual<S> || tinygrad::detail::is_traced<S>,
          bool as_batched = false>
S apply(std::size_t op, const S& x, const S& y) {
  using std::abs, std::acos, std::acosh, std::asin, std::asinh, std::atan, std::atan2, std::atanh,
      std::cbrt, std::cos, std::cosh, std::erf, std::erfc, std::exp, std::exp2, std::expm1,
      std::hypot, std::log, std::log10, std::log1p, std::log2, std::max, std::min, std::pow,
      std::sin, std::sinh, std::sqrt, std::tan;
  const auto policy = [&](auto p) {
    using P = decltype(p);
    if constexpr (std::is_same_v<S, double>) {
      return P::value(x);
    } else {
      return tinygrad::activate<P>(x);
    }
  };
  // The array kernels: forward<P> on doubles, activate<P> over a span of
  // Vars; the two outputs summed. forward runs the compiled copy, the one
  // whose results the tape's equal bit for bit (instruction_set.hpp).
  const auto policy_over_span = [](auto p, const S& a, const S& b) {
    using P = decltype(p);
    const std::array<S, 2> in = {a, b};
    std::array<S, 2> out = in;  // copies record nothing; Var() would record leaves
    if constexpr (elementwise) {
      out = {tinygrad::activate<P>(a), tinygrad::activate<P>(b)};
    } else if constexpr (std::is_same_v<S, double>) {
      tinygrad::forward<P>(std::span<const S>(in), std::span<S>(out),
                           tinygrad::InstructionSet::compiled);
    } else {
      tinygrad::activate<P>(std::span<const S>(in), std::span<S>(out));
    }
    return out[0] + out[1];
  };
  switch (op) {
    case 0:
      return x + y;
    case 1:
      return x - y;
    case 2:
      return x * y;
    case 3:
      return x / y;
    case 4:
      return -x;
    case 5: {
      S z = x;
      z += 1.5;
      return z;
    }
    case 6: {
      S z = x;
      z *= -0.75;
      return z;
    }
    case 7:
      if constexpr (as_batched) {
        return tinygrad::activate<tinygrad_test::BatchExponential>(x);
      } else {
        return exp(x);
      }
    case 8:
      return exp2(x);
    case 9:
      return expm1(x);
    case 10:
      if constexpr (as_batched) {
        return tinygrad::activate<tinygrad_test::BatchLogarithm>(x);
      } else {
        return log(x);
      }
    case 11:
      return log2(x);
    case 12:
      return log10(x);
    case 13:
      return log1p(x);
    case 14:
      return sqrt(x);
    case 15:
      return cbrt(x);
    case 16:
      return pow(x, y);
    case 17:
      return hypot(x, y);
    case 18:
      return sin(x);
    case 19:
      return cos(x);
    case 20:
      return tan(x);
    case 21:
      return asin(x);
    case 22:
      return acos(x);
    case 23:
      return atan(x);
    case 24:
      return atan2(x, y);
    case 25:
      return sinh(x);
    case 26:
      return cosh(x);
    case 27:
      return asinh(x);
    case 28:
      return acosh(x);
    case 29:
      return atanh(x);
    case 30:
      return erf(x);
    case 31:
      return erfc(x);
    case 32:
      return abs(x);
    case 33:  // tinygrad's min and max propagate NaN (std::min and std::max do not)
      if constexpr (std::is_same_v<S, double>) {
        return std::isnan(x) || std::isnan(y) ? x + y : min(x, y);
      } else {
        return min(x, y);
      }
    case 34:
      if constexpr (std::is_same_v<S, double>) {
        return std::isnan(x) || std::isnan(y) ? x + y : max(x, y);
      } else {
        return max(x, y);
      }
    case 35:  // a wide entry with two terms: x*y + y*x
      if constexpr (std::is_same_v<S, double> || elementwise) {
        return x * y + y * x;
      } else {
        const std::array<S, 2> left = {x, y};
        const std::array<S, 2> right = {y, x};
        return tinygrad::dot(left, right);
      }
    case 36:
      if constexpr (std::is_same_v<S, double> || elementwise) {
        return x + y + x;
      } else {
        const std::array<S, 3> terms = {x, y, x};
        return tinygrad::sum(terms);
      }
    case 37:
      return policy(tinygrad::Sigmoid{});
    case 38:
      return policy(tinygrad::Tanh{});
    case 39:
      return policy(tinygrad::ReLU{});
    case 40:
      return policy(tinygrad::LeakyReLU{});
    case 41:
      return policy(tinygrad::Softplus{});
    case 42:
      return policy(tinygrad::SiLU{});
    case 43:
      return policy(tinygrad::GELU{});
    case 44:
      return policy(tinygrad::ELU{});
    case 45:
      return policy(tinygrad::Identity{});
    case 46: {
      S z = x;
      z -= 2.5;
      return z;
    }
    case 47: {
      S z = x;
      z /= 3.0;
      return z;
    }
    case 48:
      return 2.0 - x;
    case 49:
      return 2.0 / x;
    case 50:
      return pow(x, 1.7);
    case 51:
      return pow(1.3, x);
    case 52: {
      S z = x;
      z -= y;
      return z;
    }
    case 53: {
      S z = x;
      z /= y;
      return z;
    }
    case select_less:  // comparisons of two Vars select a branch, as on doubles
      return x < y ? x : y;
    case select_greater_than_one:
      return x > 1.0 ? x : y;
    case 56:
      return policy_over_span(tinygrad::Sigmoid{}, x, y);
    case 57:
      return policy_over_span(tinygrad::Tanh{}, x, y);
    default: {  // products added in turn to a sum: one dot step of a trace's replay
      S z = x;
      z += x * y;
      z += y * y;
      z += y * x;
      return z;
    }
  }
}

/// Which side of every kink in the operation list an instruction's operands
/// are on: x and y against 0, each other, +-1, and tan's poles. The same
/// sides at the points of a finite difference mean that no kink lies
/// between them (steep intermediates can cross one within a step of 10^-5,
/// and in both directions alike, which the margins alone would not see).
std::uint8_t sides_of(double x, double y) {
  const bool bits[] = {x > 0, y > 0, x > y, x > 1, x > -1, x<1, std::cos(x)> 0};
  std::uint8_t sides = 0;
  for (std::size_t k = 0; k < std::size(bits); ++k) {
    sides = static_cast<std::uint8_t>(sides | (bits[k] ? 1u << k : 0u));
  }
  return sides;
}

/// Runs the program on doubles; `smooth` says whether finite differences
/// can be trusted there; `sides` (if given) gets sides_of each instruction.
double run_double(const Program& p, std::span<const double> inputs, bool* smooth,
                  std::vector<std::uint8_t>* sides = nullptr) {
  std::vector<double> values(inputs.begin(), inputs.end());
  bool ok = true;
  if (sides != nullptr) {
    sides->clear();
  }
  for (const Instruction& i : p.instructions) {
    const double x = values[i.a];
    const double y = values[i.b];
    const double v = apply<double>(i.operation, x, y);
    ok = ok && std::isfinite(v) && std::abs(v) < 1e3 && operations[i.operation].margin(x, y) > 1e-2;
    values.push_back(v);
    if (sides != nullptr) {
      sides->push_back(sides_of(x, y));
    }
  }
  if (smooth != nullptr) {
    *smooth = ok;
  }
  return values.back();
}

/// The program's value at `inputs`, or NaN (which the callers skip) if some
/// instruction is on another side of a kink than at the base point.
double run_same_sides(const Program& p, std::span<const double> inputs,
                      const std::vector<std::uint8_t>& base_sides) {
  std::vector<std::uint8_t> sides;
  const double v = run_double(p, inputs, nullptr, &sides);
  return sides == base_sides ? v : std::numeric_limits<double>::quiet_NaN();
}

[[noreturn]] void fail(const char* what, const Program& p, double a, double b) {
  std::fprintf(stderr, "tape_fuzzer: %s: %.17g vs %.17g\nprogram:", what, a, b);
  for (const double x : p.inputs) {
    std::fprintf(stderr, " %.17g", x);
  }
  for (const Instruction& i : p.instructions) {
    std::fprintf(stderr, " [%s %zu %zu]", operations[i.operation].name, i.a, i.b);
  }
  std::fprintf(stderr, "%s\n", p.detect_anomalies ? " (anomaly detection on)" : "");
  std::abort();
}

bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

/// Anomaly detection (record mode) must blame exactly the first instruction
/// whose value is not finite (every input is finite; an instruction's value
/// is the last entry it records), and if every value is finite,
/// report an anomaly in backward() exactly when some gradient is not finite.
void check_anomaly(const Program& p, const std::vector<Var<double>>& values,
                   const std::vector<std::size_t>& entry_of,
                   const std::optional<tinygrad::Anomaly>& anomaly) {
  const auto first_bad =
      std::ranges::find_if(values, [](const Var<double>& v) { return !std::isfinite(v.value()); });
  if (first_bad != values.end()) {
    const auto entry =
        static_cast<double>(entry_of[static_cast<std::size_t>(first_bad - values.begin())]);
    if (!anomaly || anomaly->phase != tinygrad::Anomaly::Phase::recording) {
      fail("no anomaly reported at recording for the first non-finite value (entry)", p, entry, -1);
    }
    if (static_cast<double>(anomaly->entry) != entry) {
      fail("anomaly blamed on the wrong entry", p, static_cast<double>(anomaly->entry), entry);
    }
    return;
  }
  const bool bad_gradient =
      std::ranges::any_of(values, [](const Var<double>& v) { return !std::isfinite(v.grad()); });
  if (bad_gradient != anomaly.has_value()) {
    fail("anomaly in backward() reported (1) or not (0) against a non-finite gradient", p,
         anomaly.has_value() ? 1 : 0, bad_gradient ? 1 : 0);
  }
  if (anomaly && anomaly->phase != tinygrad::Anomaly::Phase::backward) {
    fail("anomaly at recording though every value is finite", p, 0, 0);
  }
}

/// The program on a tape of its own with anomaly detection on or off: the
/// bits of its value, of the inputs' gradients after backward(), and after a
/// second backward() that accumulates. Every NaN counts as the same: which
/// operand's NaN an addition passes on is the compiler's choice of operand
/// order (IEEE 754 leaves it open), not the tape's.
std::vector<std::uint64_t> bits_of_run(const Program& p, bool detecting) {
  tinygrad::Tape<double> tape;
  tape.detect_anomalies(detecting, tinygrad::OnAnomaly::record);
  std::vector<Var<double>> values(p.inputs.begin(), p.inputs.end());
  for (const Instruction& i : p.instructions) {
    values.push_back(apply<Var<double>>(i.operation, values[i.a], values[i.b]));
  }
  const auto bits_of = [](double x) {
    return std::isnan(x) ? std::uint64_t{0x7ff8000000000000} : std::bit_cast<std::uint64_t>(x);
  };
  std::vector<std::uint64_t> bits{bits_of(values.back().value())};
  for (int pass = 0; pass < 2; ++pass) {
    values.back().backward();
    for (std::size_t k = 0; k < p.inputs.size(); ++k) {
      bits.push_back(bits_of(values[k].grad()));
    }
  }
  return bits;
}

/// Anomaly detection is a debugging switch that changes nothing but the
/// speed: values and gradients are the same with it on and off, bit for bit.
void check_detection_changes_nothing(const Program& p) {
  if (bits_of_run(p, true) != bits_of_run(p, false)) {
    fail("anomaly detection changed a value or a gradient's bits", p, 0, 0);
  }
}

/// Runs the program on S = Var<double>, Var<Var<double>> or Traced<double>,
/// as the functional API and trace() hand the inputs over: every value,
/// the inputs first.
template <class S, bool elementwise = tinygrad::detail::is_traced<S>, bool as_batched = false>
std::vector<S> run_all(const Program& p, std::span<const S> inputs) {
  std::vector<S> values(inputs.begin(), inputs.end());
  for (const Instruction& i : p.instructions) {
    values.push_back(apply<S, elementwise, as_batched>(i.operation, values[i.a], values[i.b]));
  }
  return values;
}

/// The program's output (its last value) on S, as run_all.
template <class S, bool elementwise = tinygrad::detail::is_traced<S>>
S run_vars(const Program& p, std::span<const S> inputs) {
  return run_all<S, elementwise>(p, inputs).back();
}

/// Second order, through nested tapes and the functional API: the Hessian from
/// tinygrad::hessian against central differences of tinygrad::gradient (two
/// step sizes, trusted where they agree); and tinygrad::gradient against the
/// gradient of the tape run, bit for bit.
void check_second_order(const Program& p, std::span<const double> tape_gradient,
                        const std::vector<std::uint8_t>& base_sides) {
  const auto f = [&p](auto inputs) {
    using S = std::remove_cv_t<typename decltype(inputs)::element_type>;
    return run_vars<S>(p, inputs);
  };
  const std::vector<double>& x = p.inputs;
  const std::vector<double> g = tinygrad::gradient(f, x);
  for (std::size_t k = 0; k < x.size(); ++k) {
    if (!same(g[k], tape_gradient[k])) {
      fail("tinygrad::gradient differs from the tape's gradient", p, g[k], tape_gradient[k]);
    }
  }
  const std::size_t n = x.size();
  const std::vector<double> h = tinygrad::hessian(f, x).values();
  // A trace's Hessian (forward over reverse on the trace), judged as the
  // nested tapes' is. The two agree to rounding, but not to a tolerance of
  // their own entries: where huge intermediates cancel (tan near a pole,
  // then x / x), one sum of them may come out 0 and another 1e-5.
  const std::vector<double> traced = tinygrad::trace(f, x).hessian(x).values();
  // Steep or sharply curved anywhere (any |gradient| or |Hessian entry| of
  // 10^3 or more), steps of 10^-5 leave the region where a central
  // difference is accurate to 10^-4: not judged. (Kinks between the points
  // of a difference are caught separately, by run_same_sides.)
  const auto steep = [](const std::vector<double>& v) {
    return std::ranges::any_of(v, [](double e) { return !(std::abs(e) < 1e3); });
  };
  if (steep(g) || steep(h) || steep(traced)) {
    return;
  }
  std::vector<double> shifted = x;
  for (std::size_t j = 0; j < n; ++j) {
    const auto difference = [&](double step) {
      shifted[j] = x[j] + step;
      const std::vector<double> up = tinygrad::gradient(f, shifted);
      const bool up_same = std::isfinite(run_same_sides(p, shifted, base_sides));
      shifted[j] = x[j] - step;
      const std::vector<double> down = tinygrad::gradient(f, shifted);
      const bool down_same = std::isfinite(run_same_sides(p, shifted, base_sides));
      shifted[j] = x[j];
      std::vector<double> column(n, std::numeric_limits<double>::quiet_NaN());
      for (std::size_t k = 0; k < n && up_same && down_same; ++k) {
        column[k] = (up[k] - down[k]) / (2 * step);
      }
      return column;  // NaN, and so not judged, if a kink lies in between
    };
    const std::vector<double> coarse = difference(1e-5);
    const std::vector<double> fine = difference(5e-6);
    for (std::size_t k = 0; k < n; ++k) {
      const double exact = h[k * n + j];
      const double scale = std::max({1.0, std::abs(coarse[k]), std::abs(exact)});
      if (!std::isfinite(coarse[k]) || !std::isfinite(fine[k]) ||
          std::abs(coarse[k] - fine[k]) > 1e-5 * scale) {
        continue;  // not smooth enough at the scale of the steps to judge
      }
      if (!(std::abs(exact - fine[k]) <= 1e-4 * scale)) {
        fail("Hessian differs from finite differences of the gradient", p, exact, fine[k]);
      }
      const double from_trace = traced[k * n + j];
      if (!(std::abs(from_trace - fine[k]) <= 1e-4 * std::max(scale, std::abs(from_trace)))) {
        fail("a trace's Hessian differs from finite differences of the gradient", p, from_trace,
             fine[k]);
      }
    }
  }
}

/// Forward mode against the tape: the program on Dual<double, 4>s, input k
/// seeded with direction k. The value must equal the double program's bit
/// for bit (the same formulas); where the program is smooth, tangent k must
/// equal the tape's gradient k to rounding (the same partials, summed in
/// another order).
void check_forward_mode(const Program& p, double expected, std::span<const double> tape_gradient,
                        bool smooth) {
  using D = tinygrad::Dual<double, 4>;
  std::vector<D> values;
  for (std::size_t k = 0; k < p.inputs.size(); ++k) {
    D input(p.inputs[k]);
    input.tangent(k) = 1.0;
    values.push_back(input);
  }
  for (const Instruction& i : p.instructions) {
    values.push_back(apply<D>(i.operation, values[i.a], values[i.b]));
  }
  const D& output = values.back();
  if (!same(output.value(), expected)) {
    fail("Dual value differs from double value", p, output.value(), expected);
  }
  if (!smooth) {
    return;
  }
  for (std::size_t k = 0; k < p.inputs.size(); ++k) {
    const double forward = output.tangent(k);
    const double reverse = tape_gradient[k];
    if (!(std::abs(forward - reverse) <= 1e-8 * std::max(1.0, std::abs(reverse)))) {
      fail("forward-mode derivative differs from the tape's gradient", p, forward, reverse);
    }
  }
}

/// Which way each comparison of the program goes at `inputs`, in order.
std::vector<bool> branches_taken(const Program& p, std::span<const double> inputs) {
  std::vector<double> values(inputs.begin(), inputs.end());
  std::vector<bool> taken;
  for (const Instruction& i : p.instructions) {
    const double x = values[i.a];
    const double y = values[i.b];
    if (i.operation == select_less) {
      taken.push_back(x < y);
    } else if (i.operation == select_greater_than_one) {
      taken.push_back(x > 1.0);
    }
    values.push_back(apply<double>(i.operation, x, y));
  }
  return taken;
}

/// The bits of a value and a gradient, every NaN counted as the same (see
/// bits_of_run).
std::vector<std::uint64_t> bits_of(double value, std::span<const double> gradient) {
  const auto bits = [](double x) {
    return std::isnan(x) ? std::uint64_t{0x7ff8000000000000} : std::bit_cast<std::uint64_t>(x);
  };
  std::vector<std::uint64_t> out{bits(value)};
  for (const double g : gradient) {
    out.push_back(bits(g));
  }
  return out;
}

/// A fresh recording at x, with the operations a trace keeps: fusion off,
/// dot, sum and the array kernels spelled out; with exp and log as a batch
/// computes them where `as_batched`. Value `which` of the program (by
/// default its output, the last).
std::vector<std::uint64_t> recorded_at(const Program& p, std::span<const double> x,
                                       std::size_t which = std::size_t(-1),
                                       bool as_batched = false) {
  tinygrad::Tape<double> tape;
  tape.fuse_operations(false);
  const std::vector<Var<double>> inputs(x.begin(), x.end());
  const std::span<const Var<double>> on(inputs);
  const std::vector<Var<double>> values =
      as_batched ? run_all<Var<double>, true, true>(p, on) : run_all<Var<double>, true>(p, on);
  const Var<double> y = values[std::min(which, values.size() - 1)];
  y.backward();
  std::vector<double> gradient;
  for (const Var<double>& v : inputs) {
    gradient.push_back(v.grad());
  }
  return bits_of(y.value(), gradient);
}

/// Tracing against recording: the program traced at another point, then
/// replayed at the inputs, must give a fresh recording's value and gradient
/// there bit for bit: by the trace's own instructions where its guards
/// hold, by a trace at the inputs where a comparison goes the other way
/// (BranchChange::retrace). With BranchChange::report the replay throws
/// branch_changed exactly where some comparison goes the other way. A batch
/// (the inputs, the traced point and one between, in lanes) gives each
/// point the same bits, but for exp and log, whose formulas in lanes are
/// not std::exp's and std::log's: the recording it is compared with
/// computes them as the batch does at that point. And several outputs (the
/// last value, one in the middle and the first input, which may coincide),
/// as a VectorTrace: row k of its Jacobian at the inputs has the bits of a
/// fresh recording's gradient of output k.
void check_trace(const Program& p) {
  const std::size_t n = p.inputs.size();
  std::vector<double> traced_at(n);
  for (std::size_t k = 0; k < n; ++k) {
    traced_at[k] = 0.5 - 0.75 * p.inputs[(k + 1) % n];
  }
  const auto f = [&p](std::span<const tinygrad::Traced<double>> x) { return run_vars(p, x); };
  const std::vector<std::uint64_t> expected = recorded_at(p, p.inputs);
  std::vector<double> gradient(n);

  auto strict = tinygrad::trace(f, traced_at, tinygrad::BranchChange::report);
  const bool flips = branches_taken(p, traced_at) != branches_taken(p, p.inputs);
  bool reported = false;
  try {
    const double value = strict.value_and_gradient(p.inputs, gradient);
    if (bits_of(value, gradient) != expected) {
      fail("a replay (guards holding) differs from a fresh recording", p, value,
           std::bit_cast<double>(expected[0]));
    }
  } catch (const tinygrad::branch_changed&) {
    reported = true;
  }
  if (reported != flips) {
    fail("branch_changed thrown (1) or not (0) against a comparison that flips", p,
         reported ? 1 : 0, flips ? 1 : 0);
  }

  auto retracing = tinygrad::trace(f, traced_at);
  const double value = retracing.value_and_gradient(p.inputs, gradient);
  if (bits_of(value, gradient) != expected) {
    fail("a replay (retracing where a guard flips) differs from a fresh recording", p, value,
         std::bit_cast<double>(expected[0]));
  }

  const std::size_t last = n + p.instructions.size() - 1;
  const std::array<std::size_t, 3> chosen = {last, last / 2, 0};
  auto several = tinygrad::trace(
      [&p, &chosen](std::span<const tinygrad::Traced<double>> x) {
        const std::vector<tinygrad::Traced<double>> all = run_all(p, x);
        return std::vector<tinygrad::Traced<double>>{all[chosen[0]], all[chosen[1]],
                                                     all[chosen[2]]};
      },
      traced_at);
  std::vector<double> outputs(3);
  std::vector<double> jacobian(3 * n);
  several.value_and_jacobian(p.inputs, outputs, jacobian);
  for (std::size_t k = 0; k < 3; ++k) {
    if (bits_of(outputs[k], std::span<const double>(jacobian).subspan(k * n, n)) !=
        recorded_at(p, p.inputs, chosen[k])) {
      fail(
          "a row of a VectorTrace's Jacobian differs from a fresh recording's gradient (row, "
          "value)",
          p, static_cast<double>(k), static_cast<double>(chosen[k]));
    }
  }

  std::vector<double> points = p.inputs;
  points.insert(points.end(), traced_at.begin(), traced_at.end());
  for (std::size_t k = 0; k < n; ++k) {
    points.push_back(0.5 * (p.inputs[k] + traced_at[k]));
  }
  std::vector<double> values(3);
  std::vector<double> gradients(3 * n);
  auto batched = tinygrad::trace(f, traced_at);
  batched.values_and_gradients(points, values, gradients);
  const std::vector<bool> traced_branches = branches_taken(p, traced_at);
  for (std::size_t point = 0; point < 3; ++point) {
    const std::span<const double> x = std::span<const double>(points).subspan(point * n, n);
    // A point where a comparison flips gets a trace of its own, replayed
    // at that point alone: std::exp's and std::log's bits, not the lanes'
    // formulas'.
    const bool in_lanes = branches_taken(p, x) == traced_branches;
    if (bits_of(values[point], std::span<const double>(gradients).subspan(point * n, n)) !=
        recorded_at(p, x, std::size_t(-1), in_lanes)) {
      fail("a batched replay differs from a fresh recording at point (of 3)", p,
           static_cast<double>(point), 3);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Program p = decode(data, size);
  if (p.inputs.empty()) {
    return 0;
  }
  bool smooth = false;
  std::vector<std::uint8_t> base_sides;
  const double expected = run_double(p, p.inputs, &smooth, &base_sides);

  tinygrad::Tape<double> tape;
  if (p.detect_anomalies) {
    tape.detect_anomalies(true, tinygrad::OnAnomaly::record);
  }
  std::vector<Var<double>> values;
  for (const double x : p.inputs) {
    values.emplace_back(x);
  }
  std::vector<std::size_t> entry_of;  // the tape entry holding each value
  for (std::size_t k = 0; k < p.inputs.size(); ++k) {
    entry_of.push_back(k);
  }
  for (const Instruction& i : p.instructions) {
    values.push_back(apply<Var<double>>(i.operation, values[i.a], values[i.b]));
    entry_of.push_back(tape.size() - 1);
  }
  const Var<double> output = values.back();
  if (!same(output.value(), expected)) {
    fail("Var value differs from double value", p, output.value(), expected);
  }
  output.backward();  // must not crash whatever the values
  if (p.detect_anomalies) {
    check_anomaly(p, values, entry_of, tape.anomaly());
  }
  check_detection_changes_nothing(p);
  std::vector<double> tape_gradient;
  for (std::size_t k = 0; k < p.inputs.size(); ++k) {
    tape_gradient.push_back(values[k].grad());
  }
  check_forward_mode(p, expected, tape_gradient, smooth);
  check_trace(p);

  if (!smooth) {
    return 0;
  }
  // Central differences with h and h/2: trusted only where they agree, which a
  // kink closer than the margins allow would break.
  std::vector<double> shifted = p.inputs;
  for (std::size_t k = 0; k < p.inputs.size(); ++k) {
    const auto difference = [&](double h) {
      shifted[k] = p.inputs[k] + h;
      const double up = run_same_sides(p, shifted, base_sides);
      shifted[k] = p.inputs[k] - h;
      const double down = run_same_sides(p, shifted, base_sides);
      shifted[k] = p.inputs[k];
      return (up - down) / (2 * h);
    };
    const double gradient = values[k].grad();
    if (!(std::abs(gradient) < 1e3)) {
      continue;  // so steep that h = 1e-5 already leaves the linear regime
    }
    const double coarse = difference(1e-5);
    const double fine = difference(5e-6);
    const double scale = std::max({1.0, std::abs(coarse), std::abs(gradient)});
    if (!std::isfinite(coarse) || !std::isfinite(fine) || std::abs(coarse - fine) > 1e-5 * scale) {
      continue;  // not smooth enough at the scale of h to judge
    }
    if (!(std::abs(gradient - fine) <= 1e-4 * scale)) {
      fail("gradient differs from finite differences", p, gradient, fine);
    }
  }
  check_second_order(p, tape_gradient, base_sides);
  return 0;
}
