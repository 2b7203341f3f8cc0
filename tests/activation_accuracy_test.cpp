// SPDX-License-Identifier: MIT
// The accuracy the activation kernels promise, measured in ulp of the exact
// result: sigmoid and tanh within 2, softplus, SiLU, GELU and ELU within 4,
// wherever the result is a normal number; outputs inside the function's
// range. Each policy and type is measured over regions of inputs:
//
// - the whole range: every float of [-100, 100]; 3 x 10^7 doubles, half
//   uniform in [-750, 750] and half in [-20, 20];
// - small magnitudes: |x| log-uniform from the smallest subnormal to 1,
//   both signs, 10^6 points;
// - around each point where a kernel switches formula or clamps (listed with
//   each policy below), 10^6 points: half within 2^16 ulp of it, half within
//   1/16 of it.
//
// By default a subset runs (every 61st float of the range, 10^5 doubles and
// 10^5 points per region). The test case "full sweep" (ctest label "full",
// which CI runs) visits them all, prints the table of worst cases that
// docs/reference.md shows, and fails if the table there differs from it in a
// build like the one the table names. After changing a formula, rewrite the
// table with
//
//   TINYGRAD_WRITE_ACCURACY_TABLE=1 build/gcc/tests/activation_accuracy_test -tc='full*'
//
// References: float results against the double formulas of the C library
// (their error, about 2^-52, is invisible at float's 2^-24), double results
// against the long double formulas.
//
// Every instruction set the kernels can run with here is measured against
// the same reference values (instruction_set.hpp): the compiled copy and,
// where the processor has them, the AVX2 and AVX-512 copies.

#include <tinygrad/var.hpp>

#include "support/instruction_sets.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <numbers>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Long = long double;

template <class R>
R sigmoid_reference(R x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}

/// The exact function in the reference type R (double for float inputs, long
/// double for double inputs).
template <class P, class R>
R reference(R x) {
  using std::abs;
  if constexpr (std::is_same_v<P, tinygrad::Sigmoid>) {
    return sigmoid_reference(x);
  } else if constexpr (std::is_same_v<P, tinygrad::Tanh>) {
    return std::tanh(x);
  } else if constexpr (std::is_same_v<P, tinygrad::Softplus>) {
    return (x > 0 ? x : R(0)) + std::log1p(std::exp(-abs(x)));
  } else if constexpr (std::is_same_v<P, tinygrad::SiLU>) {
    return x * sigmoid_reference(x);
  } else if constexpr (std::is_same_v<P, tinygrad::GELU>) {
    return x * std::erfc(-x / std::sqrt(R(2))) / 2;
  } else {
    static_assert(std::is_same_v<P, tinygrad::ELU>);
    return x > 0 ? x : std::expm1(x);
  }
}

template <class P>
constexpr Long ulp_bound =
    std::is_same_v<P, tinygrad::Sigmoid> || std::is_same_v<P, tinygrad::Tanh> ? 2 : 4;

/// The unit in the last place of T at the exact value (given in the wider
/// type R); 0 where the exact value is below T's normal range (no bound is
/// stated there).
template <class T, class R>
R ulp_at(R exact) {
  if (std::abs(exact) < R(std::numeric_limits<T>::min())) {
    return 0;
  }
  // exact = m 2^e with m in [0.5, 1), so its ulp in T is 2^(e - digits).
  constexpr int digits = std::numeric_limits<T>::digits;
  if constexpr (std::is_same_v<R, double>) {  // the hot path of the float sweep: no libm
    const int e = static_cast<int>((std::bit_cast<std::uint64_t>(exact) >> 52) & 0x7ff) - 1022;
    return std::bit_cast<double>(static_cast<std::uint64_t>(e - digits + 1023) << 52);
  } else {
    int e = 0;
    std::frexp(exact, &e);
    return std::ldexp(R(1), e - digits);
  }
}

/// Whether y lies in the closure of the function's range.
template <class P, class T>
bool in_range(T y, T x) {
  if constexpr (std::is_same_v<P, tinygrad::Sigmoid>) {
    return y >= 0 && y <= 1;
  } else if constexpr (std::is_same_v<P, tinygrad::Tanh>) {
    return y >= -1 && y <= 1 && (y == 0 || std::signbit(y) == std::signbit(x));
  } else if constexpr (std::is_same_v<P, tinygrad::Softplus>) {
    return y >= 0 && y >= x;
  } else if constexpr (std::is_same_v<P, tinygrad::ELU>) {
    return y >= -1;
  } else {  // SiLU and GELU have minima of about -0.2785 and -0.1700
    return y >= T(-0.28) && (x < 0 || y <= x);
  }
}

struct Worst {
  double ulps = 0;
  double at = 0;
  std::size_t normal_results = 0;  // the inputs whose exact result is normal: those measured
  std::size_t out_of_range = 0;
  double out_of_range_at = 0;
  void merge(const Worst& other) {
    normal_results += other.normal_results;
    if (other.ulps > ulps) {
      ulps = other.ulps;
      at = other.at;
    }
    if (other.out_of_range > 0) {
      out_of_range += other.out_of_range;
      out_of_range_at = other.out_of_range_at;
    }
  }
};

/// The worst found for each instruction set, indexed by its value.
using Worsts = std::array<Worst, 3>;

void merge(Worsts& into, const Worsts& other) {
  for (std::size_t set = 0; set < into.size(); ++set) {
    into[set].merge(other[set]);
  }
}

/// Runs the forward kernel over `inputs` with every available instruction
/// set and compares each output with the one reference value.
template <class P, class T>
void measure(std::span<const T> inputs, std::vector<std::vector<T>>& outputs, Worsts& worsts) {
  using R = std::conditional_t<std::is_same_v<T, float>, double, Long>;
  static const std::vector<tinygrad::InstructionSet> sets =
      tinygrad_test::available_instruction_sets();
  outputs.resize(sets.size());
  for (std::size_t k = 0; k < sets.size(); ++k) {
    outputs[k].resize(inputs.size());
    tinygrad::forward<P>(inputs, std::span<T>(outputs[k]), sets[k]);
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const T x = inputs[i];
    const R exact = reference<P>(R(x));
    const R ulp = ulp_at<T>(exact);
    for (std::size_t k = 0; k < sets.size(); ++k) {
      Worst& worst = worsts[static_cast<std::size_t>(sets[k])];
      const T y = outputs[k][i];
      // |y - exact| > worst * ulp: a division only for a new worst. A NaN y
      // never counts here; in_range reports it.
      const R deviation = std::abs(R(y) - exact);
      worst.normal_results += ulp != 0 ? 1 : 0;
      if (ulp != 0 && deviation > R(worst.ulps) * ulp) {
        worst.ulps = double(deviation / ulp);
        worst.at = double(x);
      }
      if (!in_range<P>(y, x)) {
        ++worst.out_of_range;
        worst.out_of_range_at = double(x);
      }
    }
  }
}

/// Every stride-th float of [-100, 100], split over two threads.
template <class P>
Worsts float_sweep(std::uint32_t stride) {
  static constexpr std::uint32_t last = std::bit_cast<std::uint32_t>(100.0f);  // -100 less its sign
  const auto run = [stride](std::uint32_t sign, Worsts& result) {
    std::vector<float> inputs;
    std::vector<std::vector<float>> outputs;
    Worsts worst;  // this thread's own, written back once
    for (std::uint64_t bits = 0; bits <= last;) {
      inputs.clear();
      for (; inputs.size() < 65536 && bits <= last; bits += stride) {
        inputs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(bits) | sign));
      }
      measure<P>(std::span<const float>(inputs), outputs, worst);
    }
    result = worst;
  };
  Worsts positive;
  Worsts negative;
  std::thread other(run, 0x80000000u, std::ref(negative));
  run(0, positive);
  other.join();
  merge(positive, negative);
  return positive;
}

/// Measures `count` inputs drawn by `draw(random, i)`, in batches.
template <class P, class T, class Draw>
Worsts sample(std::size_t count, std::uint64_t seed, Draw draw) {
  std::mt19937_64 random(seed);
  std::vector<T> inputs;
  std::vector<std::vector<T>> outputs;
  Worsts worst;
  for (std::size_t done = 0; done < count;) {
    inputs.clear();
    for (; inputs.size() < 65536 && done < count; ++done) {
      inputs.push_back(draw(random, done));
    }
    measure<P>(std::span<const T>(inputs), outputs, worst);
  }
  return worst;
}

/// `count` doubles: half uniform in [-750, 750] (the whole range where the
/// functions are not yet constant or linear), half in [-20, 20].
template <class P>
Worsts double_sample(std::size_t count) {
  std::uniform_real_distribution<double> wide(-750.0, 750.0);
  std::uniform_real_distribution<double> middle(-20.0, 20.0);
  return sample<P, double>(count, 20261126, [&](std::mt19937_64& random, std::size_t i) {
    return i % 2 == 0 ? wide(random) : middle(random);
  });
}

/// |x| = 2^u, u uniform between the exponents of the smallest subnormal and
/// of 1 for half the points, and between -60 and 0 for the other half: most
/// of the first range is so small that the formulas see a constant (x^2
/// rounds away), where the second is where their errors still vary. The
/// signs alternate.
template <class P, class T>
Worsts small_magnitudes(std::size_t count) {
  const double lowest = std::log2(static_cast<double>(std::numeric_limits<T>::denorm_min()));
  std::uniform_real_distribution<double> exponent(lowest, 0.0);
  std::uniform_real_distribution<double> nearer(-60.0, 0.0);
  return sample<P, T>(count, 20261204, [&](std::mt19937_64& random, std::size_t i) {
    const T magnitude = static_cast<T>(std::exp2(i % 4 < 2 ? exponent(random) : nearer(random)));
    return i % 2 == 0 ? magnitude : -magnitude;
  });
}

/// Around a switch at `at` (and at -at, alternately, if `both_signs`): half
/// the points within 2^16 ulp of it, half within |at| / 16.
template <class P, class T>
Worsts around(T at, bool both_signs, std::size_t count) {
  using Bits = tinygrad::detail::UnsignedBits<T>;
  std::uniform_int_distribution<std::int64_t> ulps(-65536, 65536);
  std::uniform_real_distribution<double> relative(-1.0 / 16, 1.0 / 16);
  return sample<P, T>(count, 20261205, [&](std::mt19937_64& random, std::size_t i) {
    const T centre = both_signs && i % 4 >= 2 ? -at : at;
    if (i % 2 == 0) {
      return std::bit_cast<T>(
          static_cast<Bits>(std::bit_cast<Bits>(centre) + static_cast<Bits>(ulps(random))));
    }
    return static_cast<T>(static_cast<double>(centre) * (1.0 + relative(random)));
  });
}

/// A switch inside a kernel: where a formula changes or an argument is
/// clamped, and why.
template <class T>
struct Switch {
  T at;
  bool both_signs;  // at and -at
  const char* what;
};

/// The switches of each policy's kernel in T (beyond x = 0, which the small
/// magnitudes cover).
template <class P, class T>
std::vector<Switch<T>> switches() {
  using C = tinygrad::detail::ExpConstants<T>;
  const T half_ln2 = static_cast<T>(std::numbers::ln2 / 2);
  if constexpr (std::is_same_v<P, tinygrad::Sigmoid>) {
    return {{half_ln2, true, "ln(2)/2: the exponent of exp(-abs(x)) leaves 0"},
            {-C::lowest_nonzero, true, "exp(-abs(x)) held at its lowest"}};
  } else if constexpr (std::is_same_v<P, tinygrad::Tanh>) {
    if constexpr (std::is_same_v<T, float>) {
      return {{T(9.1), true, "held: tanh rounds to 1"}};
    } else {
      return {{half_ln2 / 2, true, "ln(2)/4: the exponent of exp(-2 abs(x)) leaves 0"},
              {T(20), true, "exp(-2 abs(x)) held: 1 plus it rounds to 1"}};
    }
  } else if constexpr (std::is_same_v<P, tinygrad::Softplus> || std::is_same_v<P, tinygrad::SiLU>) {
    return {{-C::lowest_nonzero, true, "exp(-abs(x)) held at its lowest"}};
  } else if constexpr (std::is_same_v<P, tinygrad::GELU>) {
    if constexpr (std::is_same_v<T, float>) {
      return {{T(40), true, "x held: Q and phi are 0"}};
    } else {
      return {{T(tinygrad::detail::gelu_series_bound), true, "Taylor series inside"},
              {T(40), true, "x held: Q and phi are 0"}};
    }
  } else {
    static_assert(std::is_same_v<P, tinygrad::ELU>);
    return {{C::negligible_next_to_one, false, "exp(x) held: 1 plus it rounds to 1"}};
  }
}

/// "around +-0.5 (why)".
template <class T>
std::string region_name(const Switch<T>& at) {
  char number[32];
  std::snprintf(number, sizeof number, "%.4g", static_cast<double>(at.at));
  return std::string("around ") + (at.both_signs ? "+-" : "") + number + " (" + at.what + ")";
}

/// One row of the table: a policy, a type, a region, and the worst case per
/// instruction set.
struct Row {
  std::string policy;
  std::string type;
  std::string region;
  std::size_t points;
  Worsts worsts;
};

/// Checks a row against the policy's bound for every instruction set.
template <class P>
void check(const Row& row) {
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    const Worst& worst = row.worsts[static_cast<std::size_t>(set)];
    INFO(row.policy, " ", row.type, " (", std::string(tinygrad::instruction_set_name(set)), "), ",
         row.region, ": worst ", worst.ulps, " ulp at x = ", worst.at, "; ", worst.out_of_range,
         " outputs out of range (last at x = ", worst.out_of_range_at, ")");
    CHECK(worst.ulps <= ulp_bound<P>);
    CHECK(worst.out_of_range == 0);
  }
}

/// Every region of one policy and type: `full` for the whole sweep, else
/// the subset.
template <class P, class T>
std::vector<Row> measure_regions(bool full) {
  const std::string policy = tinygrad::detail::policy_name<P>();
  const std::string type = std::is_same_v<T, float> ? "float" : "double";
  const std::size_t per_region = full ? 1'000'000 : 100'000;
  std::vector<Row> rows;
  if constexpr (std::is_same_v<T, float>) {
    const std::uint32_t stride = full ? 1 : 61;
    rows.push_back({policy, type,
                    full ? "every float of [-100, 100]" : "every 61st float of [-100, 100]",
                    2 * (std::size_t{std::bit_cast<std::uint32_t>(100.0f)} / stride + 1),
                    float_sweep<P>(stride)});
  } else {
    const std::size_t count = full ? 30'000'000 : 100'000;
    rows.push_back(
        {policy, type, "uniform in [-750, 750] and [-20, 20]", count, double_sample<P>(count)});
  }
  rows.push_back({policy, type, "small magnitudes (subnormal to 1; half above 2^-60)", per_region,
                  small_magnitudes<P, T>(per_region)});
  for (const Switch<T>& at : switches<P, T>()) {
    rows.push_back({policy, type, region_name(at), per_region,
                    around<P, T>(at.at, at.both_signs, per_region)});
  }
  for (const Row& row : rows) {
    check<P>(row);
  }
  return rows;
}

/// The build the figures describe: compiler, whether it was built for FMA or
/// AVX-512 itself, and the instruction sets measured.
std::string configuration() {
  std::string built_for = "the x86-64 baseline";
#if defined(__AVX512F__)
  built_for = "AVX-512 (-march)";
#elif defined(__FMA__)
  built_for = "FMA (-march)";
#endif
#if defined(__clang__)
  const std::string compiler = std::string("clang++ ") + __clang_version__;
#else
  const std::string compiler = std::string("g++ ") + __VERSION__;
#endif
  std::string sets;
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    sets += (sets.empty() ? "" : ", ") + std::string(tinygrad::instruction_set_name(set));
  }
  return "Built by " + compiler + " for " + built_for + "; copies measured: " + sets + ".";
}

std::string table(const std::vector<Row>& rows) {
  std::ostringstream out;
  out << configuration() << "\n\n| policy | type | inputs | points | normal results |";
  const auto sets = tinygrad_test::available_instruction_sets();
  for (const tinygrad::InstructionSet set : sets) {
    out << ' ' << tinygrad::instruction_set_name(set) << " |";
  }
  out << "\n|---|---|---|---:|---:|";
  for (std::size_t k = 0; k < sets.size(); ++k) {
    out << "---:|";
  }
  out << '\n';
  for (const Row& row : rows) {
    const auto compiled = static_cast<std::size_t>(tinygrad::InstructionSet::compiled);
    out << "| " << row.policy << " | " << row.type << " | " << row.region << " | " << row.points
        << " | " << row.worsts[compiled].normal_results << " |";
    for (const tinygrad::InstructionSet set : sets) {
      char figure[32];
      std::snprintf(figure, sizeof figure, " %.2f |",
                    row.worsts[static_cast<std::size_t>(set)].ulps);
      out << figure;
    }
    out << '\n';
  }
  return out.str();
}

constexpr const char* table_begin = "<!-- accuracy table: begin -->\n";
constexpr const char* table_end = "<!-- accuracy table: end -->";

/// Compares the table with the one in docs/reference.md, or writes it there
/// when TINYGRAD_WRITE_ACCURACY_TABLE is set. Only a build like the one the
/// docs describe can compare: other compilers and flags round differently.
void compare_with_docs(const std::string& measured) {
  const std::string path = std::string(TINYGRAD_SOURCE_DIR) + "/docs/reference.md";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string doc = buffer.str();
  const std::size_t begin = doc.find(table_begin);
  const std::size_t end = doc.find(table_end);
  REQUIRE_MESSAGE((begin != std::string::npos && end != std::string::npos && begin < end), path,
                  " has no accuracy table between its markers");
  const std::size_t body = begin + std::string(table_begin).size();
  const std::string documented = doc.substr(body, end - body);
  if (std::getenv("TINYGRAD_WRITE_ACCURACY_TABLE") != nullptr) {
    doc.replace(body, end - body, measured);
    std::ofstream(path) << doc;
    MESSAGE("wrote the table into ", path);
    return;
  }
  const std::string documented_configuration = documented.substr(0, documented.find('\n'));
  REQUIRE_MESSAGE(documented_configuration.starts_with("Built by "), path,
                  "'s accuracy table does not name the build it describes");
  if (documented_configuration != configuration()) {
    MESSAGE("docs/reference.md describes another build; not compared. This build's table:\n",
            measured);
    return;
  }
  INFO("docs/reference.md:\n", documented, "\nmeasured:\n", measured,
       "\nRewrite it with TINYGRAD_WRITE_ACCURACY_TABLE=1 (see the top of this file).");
  CHECK(documented == measured);
}

template <class... Policies>
std::vector<Row> measure_all(bool full) {
  std::vector<Row> rows;
  const auto append = [&rows](std::vector<Row> more) {
    rows.insert(rows.end(), more.begin(), more.end());
  };
  (append(measure_regions<Policies, float>(full)), ...);
  (append(measure_regions<Policies, double>(full)), ...);
  return rows;
}

}  // namespace

#define TINYGRAD_SMOOTH_POLICIES                                                         \
  tinygrad::Sigmoid, tinygrad::Tanh, tinygrad::Softplus, tinygrad::SiLU, tinygrad::GELU, \
      tinygrad::ELU

TEST_CASE("every region within the stated ulp, a subset") {
  const std::vector<Row> rows = measure_all<TINYGRAD_SMOOTH_POLICIES>(false);
  CHECK(rows.size() == 40);  // 19 float and 21 double regions
  MESSAGE(table(rows));
}

TEST_CASE("GELU near 0 in double: the input an independent check found at 4.1 ulp") {
  // x = 1.14044505e-10, where GELU(x) = 5.70222525051887015e-11 (mpmath);
  // the general formula gave 5.7022252505188728e-11. Now within an ulp.
  const double x = 1.14044505e-10;
  const Long exact = reference<tinygrad::GELU>(Long(x));
  const Long ulp = ulp_at<double>(exact);
  CHECK(std::abs(Long(tinygrad::GELU::value(x)) - exact) <= ulp);
  for (const tinygrad::InstructionSet set : tinygrad_test::available_instruction_sets()) {
    INFO(std::string(tinygrad::instruction_set_name(set)));
    double y = 0;
    tinygrad::forward<tinygrad::GELU>(std::span<const double>(&x, 1), std::span<double>(&y, 1),
                                      set);
    CHECK(std::abs(Long(y) - exact) <= ulp);
  }
}

TEST_CASE("full sweep: every region within the stated ulp, and the table of docs/reference.md") {
  const std::string measured = table(measure_all<TINYGRAD_SMOOTH_POLICIES>(true));
  MESSAGE(measured);
  compare_with_docs(measured);
}
