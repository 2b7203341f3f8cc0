// SPDX-License-Identifier: MIT
// Anomaly detection (Tape::detect_anomalies, anomaly.hpp): the first
// non-finite value or adjoint is blamed on the operation that produced it,
// with its operand values, tape position and the file:line written here.

#include <tinygrad/var.hpp>

#include <doctest/doctest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

using tinygrad::Anomaly;
using tinygrad::OnAnomaly;
using tinygrad::Tape;
using tinygrad::Var;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

/// Runs f, which must throw numeric_error, and returns its report; the
/// message must say what the report says.
template <class F>
Anomaly anomaly_thrown_by(F&& f) {
  try {
    f();
  } catch (const tinygrad::numeric_error& e) {
    const Anomaly& a = e.anomaly();
    const std::string what = e.what();
    CHECK(what == a.describe());
    CHECK(what.find("'" + a.operation + "'") != std::string::npos);
    CHECK(what.find("tape entry #" + std::to_string(a.entry)) != std::string::npos);
    if (a.file) {
      CHECK(what.find(*a.file + ":" + std::to_string(a.line)) != std::string::npos);
    }
    return a;
  }
  FAIL("no numeric_error was thrown");
  return {};
}

/// A double as the report holds it.
long double wide(double x) {
  return x;
}

bool written_here(const Anomaly& a) {
  return a.file && a.file->ends_with("anomaly_test.cpp");
}

TEST_CASE("off by default: IEEE semantics, nothing thrown") {
  Tape<double> tape;
  CHECK_FALSE(tape.detecting_anomalies());
  const Var<double> x = -1.0;
  const Var<double> y = log(x) + x / 0.0;
  CHECK(std::isnan(y.value()));
  y.backward();
  CHECK(x.grad() == inf);  // log'(-1) + 1/0
  CHECK_FALSE(tape.anomaly().has_value());
}

TEST_CASE("a non-finite value at recording names the function, operands and line") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  CHECK(tape.detecting_anomalies());
  const Var<double> x = -1.0;
  const Var<double> ok = 2.0 * x;  // finite: nothing happens
  std::uint32_t line = 0;
  const Anomaly a = anomaly_thrown_by([&] {
    // clang-format off
    line = __LINE__; (void)log(ok);
    // clang-format on
  });
  CHECK(a.phase == Anomaly::Phase::recording);
  CHECK(a.operation == "log");
  CHECK(a.entry == 2);  // x, 2 * x, then log
  CHECK(written_here(a));
  CHECK(a.line == line);
  REQUIRE(a.operand_values.size() == 1);
  CHECK(a.operand_values[0] == -2.0L);
  CHECK(std::isnan(a.result));
  CHECK(tape.size() == 3);  // the entry is recorded before the check throws
}

TEST_CASE("operators report the line of the expression") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> x = 1.0;
  const Var<double> zero = 0.0;
  const Var<double> big = 1e300;
  std::uint32_t line = 0;

  // clang-format off
  Anomaly a = anomaly_thrown_by([&] { line = __LINE__; (void)(x / zero); });
  // clang-format on
  CHECK(a.operation == "/");
  CHECK(a.line == line);
  CHECK(written_here(a));
  CHECK(a.operand_values == std::vector<std::optional<long double>>{1.0L, 0.0L});
  CHECK(a.result == std::numeric_limits<long double>::infinity());
  CHECK(a.describe() == "tinygrad: anomaly while recording: '/' (tape entry #3, at " + *a.file +
                            ":" + std::to_string(line) + ") with operand values (1, 0) gave inf");

  // clang-format off
  a = anomaly_thrown_by([&] { line = __LINE__; (void)(big * big); });
  // clang-format on
  CHECK(a.operation == "*");
  CHECK(a.line == line);

  // clang-format off
  a = anomaly_thrown_by([&] { line = __LINE__; (void)(1.0 / zero); });
  // clang-format on
  CHECK(a.operation == "/");
  CHECK(a.line == line);
  CHECK(a.operand_values.size() == 1);  // the scalar is no operand

  // clang-format off
  a = anomaly_thrown_by([&] { line = __LINE__; (void)(-big - big * 1e10); });
  // clang-format on
  CHECK(a.operation == "*");  // big * 1e10 overflows first
  CHECK(a.line == line);

  // clang-format off
  a = anomaly_thrown_by([&] { Var<double> t = x; line = __LINE__; t /= 0.0; });
  // clang-format on
  CHECK(a.operation == "/");
  CHECK(a.line == line);

  // clang-format off
  a = anomaly_thrown_by([&] { Var<double> t = big; line = __LINE__; t *= big; });
  // clang-format on
  CHECK(a.operation == "*");
  CHECK(a.line == line);
}

TEST_CASE("a non-finite leaf is blamed on the line that made it") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  std::uint32_t line = 0;
  // clang-format off
  const Anomaly a = anomaly_thrown_by([&] { line = __LINE__; const Var<double> x = nan; (void)x; });
  // clang-format on
  CHECK(a.operation == "leaf");
  CHECK(a.line == line);
  CHECK(a.operand_values.empty());

  std::vector<Var<double>> leaves;
  const std::array values{1.0, inf};
  // clang-format off
  const Anomaly b = anomaly_thrown_by([&] { line = __LINE__; tinygrad::record_leaves(std::span<const double>(values), leaves); });
  // clang-format on
  CHECK(b.operation == "leaf");
  CHECK(b.line == line);
  CHECK(b.result == std::numeric_limits<long double>::infinity());
}

TEST_CASE("the producer is blamed, not the operations that read its result") {
  Tape<double> tape;
  tape.detect_anomalies(true, OnAnomaly::record);
  const Var<double> big = 1e300;
  const Var<double> product = big * big;  // inf: the anomaly
  REQUIRE(tape.anomaly().has_value());
  CHECK(tape.anomaly()->operation == "*");
  CHECK(tape.anomaly()->entry == 1);

  tape.clear_anomaly();
  CHECK_FALSE(tape.anomaly().has_value());
  const Var<double> later = product - product;  // NaN, but from a non-finite operand
  CHECK(std::isnan(later.value()));
  CHECK_FALSE(tape.anomaly().has_value());
}

TEST_CASE("record mode keeps the first anomaly and goes on with IEEE semantics") {
  Tape<double> tape;
  tape.detect_anomalies(true, OnAnomaly::record);
  const Var<double> x = 0.0;
  const Var<double> a = log(x);         // -inf: the first
  const Var<double> b = sqrt(x - 1.0);  // NaN: a second, not kept
  const Var<double> y = a + b;
  REQUIRE(tape.anomaly().has_value());
  CHECK(tape.anomaly()->operation == "log");
  y.backward();  // no throw; the sweep's own anomalies are not kept either
  CHECK(tape.anomaly()->operation == "log");
  CHECK(std::isnan(x.grad()));
  tape.clear();  // the report outlives the recording it describes
  CHECK(tape.anomaly().has_value());
}

TEST_CASE("an infinite adjoint in backward() is blamed on the partial that made it") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> x = 0.0;
  std::uint32_t line = 0;
  // clang-format off
  line = __LINE__; const Var<double> root = sqrt(x);  // finite value, infinite partial
  // clang-format on
  const Var<double> y = 3.0 * root;
  const Anomaly a = anomaly_thrown_by([&] { y.backward(); });
  CHECK(a.phase == Anomaly::Phase::backward);
  CHECK(a.operation == "sqrt");
  CHECK(a.line == line);
  CHECK(a.entry == 1);
  CHECK(a.operand == 0);
  CHECK(a.operand_entry == 0);
  CHECK(a.operand_values == std::vector<std::optional<long double>>{0.0L});
  CHECK(a.partial == std::numeric_limits<long double>::infinity());
  CHECK(a.adjoint == 3.0L);
  CHECK(a.result == std::numeric_limits<long double>::infinity());
  REQUIRE(a.file.has_value());
  CHECK(a.describe() == "tinygrad: anomaly in backward(): 'sqrt' (tape entry #1, at " + *a.file +
                            ":" + std::to_string(line) +
                            ") with operand values (0): its partial derivative inf with respect "
                            "to operand 0 (tape entry #0) times its adjoint 3 made that "
                            "operand's adjoint inf");
}

TEST_CASE("an infinite partial whose adjoint is 0 is no anomaly") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> x = 0.0;
  const Var<double> y = sqrt(x) * 0.0 + x;
  y.backward();
  CHECK(x.grad() == 1.0);
}

TEST_CASE("an adjoint that overflows from finite factors is an anomaly too") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> w = 1e-300;
  const Var<double> big = 1e200;
  const Var<double> z = w * big;    // 1e-100, d/dw = 1e200
  const Var<double> out = z * big;  // 1e100, d/dz = 1e200: adjoint of w 1e400
  const Anomaly a = anomaly_thrown_by([&] { out.backward(); });
  CHECK(a.operation == "*");
  CHECK(a.entry == 2);
  CHECK(a.operand_entry == 0);
  CHECK(a.partial == wide(1e200));
  CHECK(a.adjoint == wide(1e200));
  CHECK(a.result == std::numeric_limits<long double>::infinity());
}

TEST_CASE("after a numeric_error in backward() the gradients are as they were") {
  Tape<double> tape;
  const Var<double> x = 0.0;
  const Var<double> w = 2.0;
  const Var<double> fine = w * x;
  const Var<double> bad = sqrt(x) + w;
  fine.backward();
  tape.detect_anomalies(true);
  CHECK_THROWS_AS(bad.backward(), tinygrad::numeric_error);
  CHECK(x.grad() == 2.0);
  CHECK(w.grad() == 0.0);
  // Recorded while detection was off: the report says what it knows.
  tape.detect_anomalies(true);
  const Anomaly a = anomaly_thrown_by([&] { bad.backward(); });
  CHECK(a.operation == "?");
  CHECK_FALSE(a.file.has_value());
  CHECK(a.describe().find("recorded while anomaly detection was off") != std::string::npos);
  // sqrt(x) + w was fused into one entry (sqrt's entry, taken over by +):
  // it has the operands x and w, whose values were not kept either.
  CHECK(a.operand_values == std::vector<std::optional<long double>>{std::nullopt, std::nullopt});
  CHECK(a.describe().find("(?, ?)") != std::string::npos);
}

TEST_CASE("wide entries and batches of activations report the caller's line") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const std::vector<Var<double>> v{1e300, 1e300};
  std::uint32_t line = 0;
  // clang-format off
  Anomaly a = anomaly_thrown_by([&] { line = __LINE__; (void)tinygrad::dot(v, v); });
  // clang-format on
  CHECK(a.operation == "dot");
  CHECK(a.line == line);
  CHECK(a.operand_values.size() == 4);
  CHECK(a.operand_values[0] == wide(1e300));

  // clang-format off
  a = anomaly_thrown_by([&] { line = __LINE__; (void)tinygrad::sum(std::vector<Var<double>>{1e308, 1e308}); });
  // clang-format on
  CHECK(a.operation == "sum");
  CHECK(a.line == line);

  struct Reciprocal {
    static double value(double x) { return 1.0 / x; }
    static double derivative(double x) { return -1.0 / (x * x); }
  };
  const std::vector<Var<double>> in{1.0, 0.0};
  std::vector<Var<double>> out(2);
  // clang-format off
  a = anomaly_thrown_by([&] { line = __LINE__; tinygrad::activate<Reciprocal>(std::span<const Var<double>>(in), std::span<Var<double>>(out)); });
  // clang-format on
  CHECK(a.line == line);
  CHECK(a.operand_values == std::vector<std::optional<long double>>{0.0L});

  // clang-format off
  a = anomaly_thrown_by([&] { line = __LINE__; (void)tinygrad::activate<Reciprocal>(in[1]); });
  // clang-format on
  CHECK(a.line == line);
}

TEST_CASE("each tape has its own switch") {
  Tape<double> outer;
  outer.detect_anomalies(true);
  {
    Tape<double> inner;  // a new tape starts with detection off
    CHECK_FALSE(inner.detecting_anomalies());
    const Var<double> x = 0.0;
    CHECK_NOTHROW((void)log(x));
  }
  const Var<double> x = 0.0;
  CHECK_THROWS_AS((void)log(x), tinygrad::numeric_error);
  outer.detect_anomalies(false);
  CHECK_NOTHROW((void)log(x));
}

TEST_CASE("for_each_entry shows where each entry was recorded") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  // clang-format off
  const std::uint32_t line = __LINE__; const Var<double> x = 2.0; const Var<double> y = exp(x);
  // clang-format on
  (void)y;
  std::vector<std::string> seen;
  tape.for_each_entry([&](const auto& e) {
    seen.push_back(std::string(e.operation) + "@" + std::to_string(e.line));
    CHECK(std::string(e.file).ends_with("anomaly_test.cpp"));
  });
  CHECK(seen ==
        std::vector<std::string>{"leaf@" + std::to_string(line), "exp@" + std::to_string(line)});
}

TEST_CASE("operations fused into one entry are checked and reported one by one") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> x = 0.0;
  const Var<double> w = 2.0;
  const Var<double> big = 1e300;
  std::uint32_t sqrt_line = 0;
  std::uint32_t plus_line = 0;
  // clang-format off
  sqrt_line = __LINE__; Var<double> root = sqrt(x);
  plus_line = __LINE__; const Var<double> y = std::move(root) + w;  // fuses into sqrt's entry
  // clang-format on
  CHECK(tape.size() == 4);  // x, w, big, then one entry for sqrt and +
  std::vector<std::string> seen;
  tape.for_each_entry([&](const auto& e) { seen.push_back(e.operation); });
  CHECK(seen == std::vector<std::string>{"leaf", "leaf", "leaf", "+"});

  // In backward(): the entry's partial for x is sqrt's (inf) times +'s (1),
  // so the report names both operations.
  Anomaly a = anomaly_thrown_by([&] { y.backward(); });
  CHECK(a.phase == Anomaly::Phase::backward);
  CHECK(a.entry == 3);
  CHECK(a.operation == "+");
  CHECK(a.line == plus_line);
  REQUIRE(a.fused_before.size() == 1);
  CHECK(a.fused_before[0].name == "sqrt");
  CHECK(a.fused_before[0].line == sqrt_line);
  REQUIRE(a.fused_before[0].file.has_value());
  CHECK(a.describe().find("; fused into the entry of 'sqrt' at " + *a.fused_before[0].file + ":" +
                          std::to_string(sqrt_line) + ")") != std::string::npos);

  // At recording: a fused operation whose value overflows is blamed itself,
  // with its own operands, though it records no entry of its own.
  std::uint32_t line = 0;
  // clang-format off
  a = anomaly_thrown_by([&] { line = __LINE__; (void)(big * 10.0 * big); });
  // clang-format on
  CHECK(a.phase == Anomaly::Phase::recording);
  CHECK(a.operation == "*");
  CHECK(a.line == line);
  CHECK(a.entry == 4);  // big * 10.0's entry, which the second * took over
  CHECK(a.operand_values ==
        std::vector<std::optional<long double>>{wide(1e300 * 10.0), wide(1e300)});
  REQUIRE(a.fused_before.size() == 1);
  CHECK(a.fused_before[0].name == "*");
}

TEST_CASE("an accumulation s += t merged into s's entry is checked and reported") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> big = 1e308;
  const Var<double> one = 1.0;
  std::uint32_t first_line = 0;
  std::uint32_t sum_line = 0;
  // clang-format off
  first_line = __LINE__; Var<double> s = big * one;
  s += one * 2.0;  // merged: s's entry takes one * 2.0's operand
  CHECK(tape.size() == 3);
  const Anomaly a = anomaly_thrown_by([&] { sum_line = __LINE__; s += big * one; });
  // clang-format on
  CHECK(a.phase == Anomaly::Phase::recording);
  CHECK(a.operation == "+");
  CHECK(a.line == sum_line);
  CHECK(a.entry == 2);  // s's entry, which the sum merged into
  CHECK(a.operand_values ==
        std::vector<std::optional<long double>>{wide(1e308 + 2.0), wide(1e308)});
  // Before it, in the order they ran: s's product, the first term, the
  // first sum, the second term.
  REQUIRE(a.fused_before.size() == 4);
  CHECK(a.fused_before[0].name == "*");
  CHECK(a.fused_before[0].line == first_line);
  CHECK(a.fused_before[1].name == "*");
  CHECK(a.fused_before[1].line == first_line + 1);
  CHECK(a.fused_before[2].name == "+");
  CHECK(a.fused_before[2].line == first_line + 1);
  CHECK(a.fused_before[3].name == "*");
  CHECK(a.fused_before[3].line == sum_line);
  CHECK(tape.size() == 3);
}

TEST_CASE("a term of s += t that overflows is blamed on s's entry, which it merges into") {
  // In record mode t's entry is reported, then merged into s's: the report
  // names s's entry, and t's index goes to the next entry recorded.
  Tape<double> tape;
  tape.detect_anomalies(true, OnAnomaly::record);
  const Var<double> big = 1e200;
  const Var<double> two = 2.0;
  Var<double> s = two * two;  // entry 2
  s += big * big;             // 1e400: entry 3, merged into entry 2
  CHECK(tape.size() == 3);
  CHECK(std::isinf(s.value()));
  REQUIRE(tape.anomaly().has_value());
  CHECK(tape.anomaly()->entry == 2);
  CHECK(tape.anomaly()->operation == "*");
  const Var<double> next = two * big;  // entry 3 now: no anomaly of its own
  CHECK(next.value() == 2e200);
  CHECK(tape.size() == 4);
  CHECK(tape.anomaly()->entry == 2);
}

TEST_CASE("anomaly detection does not change how accumulations record") {
  const auto operands_per_entry = [](bool detect) {
    Tape<double> tape;
    tape.detect_anomalies(detect);
    std::vector<Var<double>> w;
    tinygrad::record_leaves(std::vector<double>{0.5, 1.5, 2.5, 3.5, 4.5}, w);
    Var<double> s = w[0] * w[1];
    for (std::size_t i = 0; i < 5; ++i) {
      s += w[i] * 2.0;
      s -= tinygrad::sigmoid(w[i] * w[(i + 1) % 5]);
    }
    s.backward();
    std::vector<std::size_t> counts;
    tape.for_each_entry([&](const auto& e) { counts.push_back(e.operand_index.size()); });
    std::vector<double> grads(w.size());
    tinygrad::read_gradients(w, grads);
    return std::pair(counts, grads);
  };
  const auto off = operands_per_entry(false);
  const auto on = operands_per_entry(true);
  CHECK(on.first == off.first);
  CHECK(on.second == off.second);
  CHECK(off.first.size() == 6);  // five leaves and one entry
}

TEST_CASE("switching detection off while the last entry may still fuse forgets its name") {
  Tape<double> tape;
  tape.detect_anomalies(true);
  const Var<double> x = 0.0;
  Var<double> root = sqrt(x);
  tape.detect_anomalies(false);
  const Var<double> y = std::move(root) + 1.0;  // fuses: the entry is no longer sqrt alone
  tape.detect_anomalies(true);
  const Anomaly a = anomaly_thrown_by([&] { y.backward(); });
  CHECK(a.entry == 1);
  CHECK(a.operation == "?");  // not a stale "sqrt"
  CHECK(tape.size() == 2);
}

TEST_CASE("second derivatives: the outer tape checks the innermost values") {
  Tape<double> inner;
  Tape<Var<double>> outer;
  outer.detect_anomalies(true);
  const Var<Var<double>> x = Var<double>(-1.0);
  const Anomaly a = anomaly_thrown_by([&] { (void)log(x); });
  CHECK(a.operation == "log");
  CHECK(a.operand_values == std::vector<std::optional<long double>>{-1.0L});
  CHECK(std::isnan(a.result));
}

}  // namespace

namespace {

/// The values and gradients of one program, as bits.
struct Bits {
  std::vector<std::uint64_t> values;
  std::vector<std::uint64_t> gradients;
  bool operator==(const Bits&) const = default;
};

/// The seed notebook's sigmoid network (x = 1, y = 1, weights 0.5, biases 0)
/// with a tail through every kind of operation, backward() twice.
Bits notebook_with_tail(bool detecting) {
  Tape<double> tape;
  tape.detect_anomalies(detecting);
  Var<double> w1 = 0.5, b1 = 0.0, w2 = 0.5, b2 = 0.0, w3 = 0.5, b3 = 0.0;
  const double x = 1.0, y = 1.0;
  const auto h1 = tinygrad::sigmoid(w1 * x + b1);
  const auto h2 = tinygrad::sigmoid(w2 * h1 + b2);
  const auto out = tinygrad::sigmoid(w3 * h2 + b3);
  const auto tail = exp(h2) + log(out + 2) + sqrt(h1 + 1) + tanh(w1 - 3 * w2) + pow(h1, 1.5) +
                    pow(out, h2) + pow(2.0, w3) + 1 / (h2 + 0.25) + tinygrad::relu(w1 - 0.1);
  const auto loss = 0.5 * pow(y - out, 2) + 0.125 * tail;
  loss.backward();
  loss.backward();
  Bits bits;
  for (const auto* v : {&h1, &h2, &out, &tail, &loss}) {
    bits.values.push_back(std::bit_cast<std::uint64_t>(v->value()));
  }
  for (const auto* v : {&w1, &b1, &w2, &b2, &w3, &b3}) {
    bits.gradients.push_back(std::bit_cast<std::uint64_t>(v->grad()));
  }
  return bits;
}

}  // namespace

TEST_CASE("anomaly detection changes no value and no gradient, bit for bit") {
  const Bits off = notebook_with_tail(false);
  const Bits on = notebook_with_tail(true);
  CHECK(on.values == off.values);
  CHECK(on.gradients == off.gradients);
  // The figure that showed the difference: d loss / d w2 with detection off.
  CHECK(std::bit_cast<double>(off.gradients[2]) == -0.32895039150573857);
}
