// SPDX-License-Identifier: MIT
// Tape<T>: the reverse sweep, gradient accumulation, nesting, position and
// rewind, threads, and every misuse that must throw tape_error.

#include <tinygrad/var.hpp>

#include "support/numeric.hpp"

#include <doctest/doctest.h>
#include <bit>
#include <cmath>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using tinygrad::Tape;
using tinygrad::tape_error;
using tinygrad::Var;

namespace {

/// Checks that `use()` throws tape_error whose message contains `part`.
template <class F>
void check_tape_error(F use, const std::string& part) {
  try {
    use();
    FAIL("expected tinygrad::tape_error containing: ", part);
  } catch (const tape_error& e) {
    INFO("message: ", e.what());
    CHECK(std::string(e.what()).find(part) != std::string::npos);
  }
}

/// check_tape_error for a Var used where it does not belong (another tape,
/// dropped, consumed): the checks that TINYGRAD_NO_CHECKS compiles out. That
/// build does not try the misuse at all, whose outcome is then undefined.
template <class F>
void check_var_rejected([[maybe_unused]] F use, [[maybe_unused]] const std::string& part) {
#ifndef TINYGRAD_NO_CHECKS
  check_tape_error(use, part);
#endif
}

}  // namespace

TEST_CASE("fan-out: one node read many times sums its contributions") {
  Tape<double> tape;
  Var<double> x = 1.5;
  const auto y = x * x * x + x * 2 + tinygrad::sin(x) * x;  // 3x^2 + 2 + cos(x) x + sin(x)
  y.backward();
  tinygrad_test::check_close(x.grad(), 3 * 1.5 * 1.5 + 2 + std::cos(1.5) * 1.5 + std::sin(1.5),
                             1e-15);
}

TEST_CASE("a chain of 10^6 operations records and sweeps back without recursion") {
  Tape<double> tape;
  Var<double> x = 1.0;
  Var<double> y = x;
  constexpr int length = 1'000'000;
  for (int i = 0; i < length; ++i) {
    y = 0.5 * y + x;  // dy/dx = 1 + 0.5 + 0.25 + ... = 2 - 0.5^length
  }
  CHECK(tape.size() == length + 1);  // `+ x` fused into the entry of 0.5 * y
  y.backward();
  tinygrad_test::check_close(x.grad(), 2.0, 1e-12);
  tinygrad_test::check_close(y.value(), 2.0, 1e-12);
}

TEST_CASE("gradients accumulate: a second backward() doubles every gradient, intermediates too") {
  Tape<double> tape;
  Var<double> x = 2.0;
  Var<double> y = 3.0;
  const auto h = x * y;        // intermediate
  const auto out = h * h + x;  // d/dh = 2h = 12, d/dx = 2h y + 1 = 37, d/dy = 2h x = 24
  out.backward();
  CHECK(h.grad() == 12.0);
  CHECK(x.grad() == 37.0);
  CHECK(y.grad() == 24.0);
  CHECK(out.grad() == 1.0);
  out.backward();
  CHECK(h.grad() == 24.0);
  CHECK(x.grad() == 74.0);
  CHECK(y.grad() == 48.0);
  CHECK(out.grad() == 2.0);

  SUBCASE("zero_grad() resets every gradient and keeps the recording") {
    tape.zero_grad();
    CHECK(x.grad() == 0.0);
    CHECK(h.grad() == 0.0);
    out.backward();
    CHECK(h.grad() == 12.0);
    CHECK(x.grad() == 37.0);
  }
  SUBCASE("backward() on another output adds its derivatives") {
    h.backward();  // dh/dx = y = 3, dh/dy = x = 2, dh/dh = 1
    CHECK(x.grad() == 77.0);
    CHECK(y.grad() == 50.0);
    CHECK(h.grad() == 25.0);
    CHECK(out.grad() == 2.0);  // out comes after h: untouched
  }
  SUBCASE("backward() on a leaf adds 1 to that leaf only") {
    x.backward();
    CHECK(x.grad() == 75.0);
    CHECK(y.grad() == 48.0);
  }
}

TEST_CASE("operations recorded after a backward() start with gradient 0") {
  Tape<double> tape;
  Var<double> x = 2.0;
  const auto a = x * x;
  a.backward();
  const auto b = x * 3;
  CHECK(b.grad() == 0.0);
  b.backward();
  CHECK(x.grad() == 4.0 + 3.0);
}

TEST_CASE("an entry that does not reach the output does not poison gradients with NaN") {
  Tape<double> tape;
  Var<double> x = 0.0;
  const auto unused = tinygrad::sqrt(x);  // partial 1/(2 sqrt 0) = inf
  const auto out = x * 2;
  out.backward();
  CHECK(x.grad() == 2.0);
  CHECK(unused.grad() == 0.0);
}

TEST_CASE("runs of leaves of every length, anywhere on the tape, get their gradients") {
  // y <- 2 y + sum_k (k + 1) p_k, block after block, each block's p_k a run
  // of leaves recorded together, with one more leaf after them that the
  // sum leaves out. Below them all, x and a run that nothing uses.
  // dy/dx = 2^blocks, dy/dp_k = (k + 1) 2^(blocks after p_k's), 0 unused.
  struct Block {
    std::vector<Var<double>> summed;
    Var<double> left_out;
  };
  for (std::size_t longest = 0; longest < 20; ++longest) {
    CAPTURE(longest);
    Tape<double> tape;
    const auto leaf_run = [](std::size_t length) {
      Block block;
      for (std::size_t k = 0; k < length; ++k) {
        block.summed.emplace_back(0.25 * static_cast<double>(k));
      }
      block.left_out = Var<double>(-1.0);
      return block;
    };
    const Block unused = leaf_run(longest);
    Var<double> x = 1.5;
    Var<double> y = x;
    std::vector<Block> blocks;
    for (std::size_t length = 0; length <= longest; ++length) {
      blocks.push_back(leaf_run(length));
      Var<double> sum = 2.0 * y;
      for (std::size_t k = 0; k < length; ++k) {
        sum = sum + static_cast<double>(k + 1) * blocks.back().summed[k];
      }
      y = sum;
    }
    for (const int sweep : {1, 2}) {  // the second backward() accumulates
      CAPTURE(sweep);
      y.backward();
      const double times = sweep;
      CHECK(x.grad() == times * std::ldexp(1.0, static_cast<int>(blocks.size())));
      for (const Var<double>& p : unused.summed) {
        CHECK(p.grad() == 0.0);
      }
      CHECK(unused.left_out.grad() == 0.0);
      for (std::size_t b = 0; b < blocks.size(); ++b) {
        const double later = std::ldexp(1.0, static_cast<int>(blocks.size() - 1 - b));
        for (std::size_t k = 0; k < blocks[b].summed.size(); ++k) {
          CHECK(blocks[b].summed[k].grad() == times * static_cast<double>(k + 1) * later);
        }
        CHECK(blocks[b].left_out.grad() == 0.0);
      }
    }
  }
}

TEST_CASE("a sum whose terms were all constants has a gradient that accumulates") {
  // Its entry has unit partials and no operands: the sweep passes nothing
  // on from it, but a second backward() still adds its adjoint.
  const std::vector<Var<double>> constants{tinygrad::constant(1.0), tinygrad::constant(2.0)};
  const std::vector<Var<double>> no_terms;
  for (const std::vector<Var<double>>* terms : {&constants, &no_terms}) {
    Tape<double> tape;
    const Var<double> s = tinygrad::sum(*terms);
    s.backward();
    CHECK(s.grad() == 1.0);
    s.backward();
    CHECK(s.grad() == 2.0);
  }
}

TEST_CASE("a NaN adjoint propagates rather than vanishing") {
  Tape<double> tape;
  Var<double> x = 0.0;
  const auto out = tinygrad::sqrt(x) * 0.0;  // adjoint of sqrt is 0 -> skipped: d/dx = 0 * inf
  out.backward();
  CHECK(x.grad() == 0.0);  // the skipped zero adjoint: the documented convention
  Var<double> n = std::nan("");
  const auto bad = n * 2;
  bad.backward();
  CHECK(std::isnan(bad.value()));
  CHECK(n.grad() == 2.0);
  const auto through_nan = tinygrad::log(Var<double>(-1.0)) * x;  // value NaN
  through_nan.backward();
  CHECK(std::isnan(x.grad()));
}

TEST_CASE("nested tapes: the inner one records, and the outer one is current again after") {
  Tape<double> outer;
  Var<double> a = 1.0;
  {
    Tape<double> inner;
    CHECK(&Tape<double>::current() == &inner);
    Var<double> b = 2.0;
    const auto c = b * b;
    c.backward();
    CHECK(b.grad() == 4.0);
    CHECK(inner.size() == 2);
    check_var_rejected([&] { (void)(a * b); },
                       "an outer tape of this thread: tape #");  // and what to do
    check_var_rejected([&] { (void)(a * b); }, "pass its value() (a plain number)");
#ifndef TINYGRAD_NO_CHECKS
    CHECK(a.grad() == 0.0);  // read on its own tape, which has had no backward() yet
#endif
  }
  CHECK(&Tape<double>::current() == &outer);
  Var<double> d = 3.0;  // lands on the outer tape
  CHECK(outer.size() == 2);
  const auto e = a * d;
  e.backward();
  CHECK(a.grad() == 3.0);
}

TEST_CASE("a Var from a destroyed tape throws wherever it is used") {
  Tape<double> outer;
  std::unique_ptr<Var<double>> stale;
  {
    Tape<double> inner;
    stale = std::make_unique<Var<double>>(4.0);
  }
  Var<double> x = 1.0;
  check_var_rejected([&] { (void)(*stale + x); }, "Var #0 (value 4)");
  check_var_rejected([&] { stale->backward(); }, "backward()");
  check_var_rejected([&] { (void)stale->grad(); }, "grad()");
  CHECK(stale->value() == 4.0);  // the value is the Var's own: always readable
}

TEST_CASE("tapes destroyed out of order leave no dangling current tape") {
  Tape<double> base;
  auto first = std::make_unique<Tape<double>>();
  auto second = std::make_unique<Tape<double>>();
  first.reset();  // not the innermost: unlinked
  CHECK(&Tape<double>::current() == second.get());
  second.reset();
  CHECK(&Tape<double>::current() == &base);
}

TEST_CASE("without any Tape, a thread-local default tape records") {
  std::thread worker([] {
    Var<double> x = 2.0;
    const auto y = x * x;
    y.backward();
    CHECK(x.grad() == 4.0);
    CHECK(Tape<double>::current().size() == 2);
  });
  worker.join();
}

TEST_CASE("position and rewind: earlier Vars stay valid, later ones are dropped") {
  Tape<double> tape;
  Var<double> w = 0.5;
  const auto mark = tape.position();
  CHECK(mark.entries() == 1);
  for (int step = 0; step < 1000; ++step) {
    Var<double> x = static_cast<double>(step);
    const auto loss = w * x * x;
    loss.backward();
    CHECK(w.grad() == static_cast<double>(step) * step);  // x * x, exact below 2^53
    tape.zero_grad();
    tape.rewind(mark);
    CHECK(tape.size() == 1);
    check_var_rejected([&] { (void)(loss + w); }, "clear() or rewind() has since dropped it");
  }
  Var<double> y = w * 2;  // w, recorded before the mark, is still usable
  y.backward();
  CHECK(w.grad() == 2.0);
}

TEST_CASE("rewinds to earlier and later marks keep exactly the entries below every cut") {
  Tape<double> tape;
  Var<double> a = 1.0;  // #0
  const auto after_a = tape.position();
  Var<double> b = 2.0;  // #1
  const auto after_b = tape.position();
  Var<double> c = 3.0;  // #2
  tape.rewind(after_b);
  Var<double> d = 4.0;  // #2 again, a new epoch
  CHECK_NOTHROW((void)(a + b + d));
  check_var_rejected([&] { (void)(c + a); }, "dropped");
  tape.rewind(after_a);
  check_var_rejected([&] { (void)(b + a); }, "dropped");
  check_var_rejected([&] { (void)(d + a); }, "dropped");
  check_tape_error([&] { tape.rewind(after_b); }, "has dropped");
  Var<double> e = 5.0;
  CHECK_NOTHROW((void)(a * e));
  CHECK_NOTHROW(tape.rewind(after_a));
}

TEST_CASE("clear() drops everything; the tape records again from 0") {
  Tape<double> tape;
  Var<double> x = 1.0;
  const auto y = x * 2;
  y.backward();
  const auto mark = tape.position();
  tape.clear();
  CHECK(tape.size() == 0);
  check_var_rejected([&] { (void)x.grad(); }, "dropped");
  check_tape_error([&] { tape.rewind(mark); }, "dropped");
  Var<double> z = 3.0;
  const auto w = z * z;
  w.backward();
  CHECK(z.grad() == 6.0);
  tape.shrink_to_fit();
  CHECK(z.grad() == 6.0);
}

TEST_CASE("rewind to a position of another tape throws") {
  Tape<double> first;
  const auto mark = first.position();
  Tape<double> second;
  check_tape_error([&] { second.rewind(mark); }, "taken on tape #");
}

TEST_CASE("two threads record on their own tapes at the same time") {
  constexpr int operations = 100'000;
  const auto work = [](double seed, double& gradient, bool& foreign_var_rejected,
                       const Var<double>* foreign) {
    Tape<double> tape;
    Var<double> x = seed;
    Var<double> y = 0.0;
    for (int i = 0; i < operations; ++i) {
      y = y + x * 1e-5;  // dy/dx = operations * 1e-5 = 1
    }
    y.backward();
    gradient = x.grad();
#ifndef TINYGRAD_NO_CHECKS
    try {
      (void)(*foreign + x);
    } catch (const tape_error&) {
      foreign_var_rejected = true;
    }
#else
    (void)foreign, (void)foreign_var_rejected;  // the check is compiled out: nothing to try
#endif
  };
  Tape<double> main_tape;
  Var<double> main_var = 7.0;
  double g1 = 0;
  double g2 = 0;
  bool rejected1 = false;
  bool rejected2 = false;
  std::thread t1(work, 1.0, std::ref(g1), std::ref(rejected1), &main_var);
  std::thread t2(work, 2.0, std::ref(g2), std::ref(rejected2), &main_var);
  t1.join();
  t2.join();
  // 10^5 additions of 1e-5 (rounded): within 10^5 roundings of 1.
  tinygrad_test::check_close(g1, 1.0, 1e-10);
  tinygrad_test::check_close(g2, 1.0, 1e-10);
#ifndef TINYGRAD_NO_CHECKS
  CHECK(rejected1);
  CHECK(rejected2);
#endif
  CHECK(main_tape.size() == 1);  // nothing leaked onto this thread's tape
}

TEST_CASE("each element type has its own current tape") {
  Tape<float> float_tape;
  Tape<double> double_tape;
  Var<float> f = 1.0f;
  Var<double> d = 1.0;
  CHECK(float_tape.size() == 1);
  CHECK(double_tape.size() == 1);
  (void)f;
  (void)d;
}

TEST_CASE("EpochFloors: one segment per distinct rewind position still in force") {
  tinygrad::detail::EpochFloors floors;
  floors.rewind(0, 5);  // epoch 0 ends at 5
  CHECK(floors.keeps_entry(0, 4));
  CHECK_FALSE(floors.keeps_entry(0, 5));
  floors.rewind(1, 3);  // epoch 1 ends at 3: epochs 0 and 1 now keep < 3
  CHECK_FALSE(floors.keeps_entry(0, 4));
  CHECK(floors.keeps_entry(1, 2));
  floors.rewind(2, 7);  // epoch 2 keeps < 7, the older ones still < 3
  CHECK(floors.keeps_entry(2, 6));
  CHECK_FALSE(floors.keeps_entry(1, 6));
  CHECK(floors.keeps_position(2, 7));
  CHECK_FALSE(floors.keeps_position(2, 8));
  for (std::uint32_t epoch = 3; epoch < 100'003; ++epoch) {
    floors.rewind(epoch, 7);  // a training loop: the same mark every step
  }
  CHECK(floors.segments() == 2);
  CHECK(floors.keeps_entry(50'000, 6));
  CHECK_FALSE(floors.keeps_entry(1, 5));
  floors.rewind(100'003, 0);  // clear()
  CHECK(floors.segments() == 1);
  CHECK_FALSE(floors.keeps_entry(100'003, 0));
}

TEST_CASE("statistics() counts entries, operands and bytes as design.md states") {
  Tape<double> tape;
  tape.fuse_operations(false);  // one entry per operation, as the comments count
  Var<double> x = 1.0;          // leaf: no operand
  const auto y = x * x;         // 2 operands, 2 partials
  const auto z = exp(y) + 1;    // 1 operand and partial, then 1 operand with a unit partial
  auto s = tape.statistics();
  CHECK(s.entries == 4);
  CHECK(s.operands == 4);
  // A byte per entry, 4 bytes per operand, 8 per stored partial.
  CHECK(s.recording_bytes == 4 + 4 * 4 + 8 * 3);
  CHECK(s.gradient_bytes == 0);
  CHECK(s.reserved_bytes >= s.recording_bytes);
  z.backward();
  s = tape.statistics();
  CHECK(s.gradient_bytes == 8 * 4);

  // Wide entries keep their count (4 bytes).
  const std::vector<Var<double>> terms{x, y, z};
  const auto total = tinygrad::sum(terms);         // 3 operands, unit partials
  const auto inner = tinygrad::dot(terms, terms);  // 6 operands, 6 partials
  s = tape.statistics();
  CHECK(s.entries == 6);
  CHECK(s.operands == 4 + 3 + 6);
  CHECK(s.recording_bytes == 6 + 4 * 13 + 8 * (3 + 6) + 4 * 2);
  (void)total, (void)inner;

  tape.clear();
  tape.shrink_to_fit();
  s = tape.statistics();
  CHECK(s.entries == 0);
  CHECK(s.recording_bytes == 0);
}

TEST_CASE("for_each_entry shows the partials a unit entry does not store") {
  Tape<double> tape;
  Var<double> x = 3.0, y = 5.0;
  const std::vector<Var<double>> three{x, y, x};
  const std::vector<Var<double>> results{
      x + y, x - y, -x, 2.0 - x, x + 2.0, x - 2.0, tinygrad::sum(three), x * y};
  const std::vector<std::vector<double>> expected{{1, 1}, {1, -1}, {-1},      {-1},
                                                  {1},    {1},     {1, 1, 1}, {5, 3}};
  std::vector<std::vector<double>> shown;
  tape.for_each_entry([&](const Tape<double>::EntryView& entry) {
    if (!entry.operand_index.empty()) {
      CHECK(entry.operand_partial.size() == entry.operand_index.size());
      shown.emplace_back(entry.operand_partial.begin(), entry.operand_partial.end());
    }
  });
  CHECK(shown == expected);
  (void)results;
}

namespace {

/// Step k of a program that mixes every kind of entry: leaves, unit and
/// stored partials, one and two operands, wide entries. `variant` changes
/// which operands it reads.
void record_step(std::vector<Var<double>>& v, std::size_t k, std::size_t variant) {
  const std::size_t n = v.size();
  const Var<double>& a = v[(k * 7 + variant) % n];
  const Var<double>& b = v[n - 1 - (k + variant) % std::min<std::size_t>(n, 3)];
  switch ((k + variant) % 9) {
    case 0:
      v.push_back(a + b);
      break;
    case 1:
      v.push_back(a - b);
      break;
    case 2:
      v.push_back(a * b);
      break;
    case 3:
      v.push_back(-a);
      break;
    case 4:
      v.push_back(1.5 - a);
      break;
    case 5:
      v.push_back(tinygrad::sin(a));
      break;
    case 6:
      v.push_back(Var<double>(0.25 * static_cast<double>(k)));
      break;
    case 7:
      v.push_back(tinygrad::sum(std::vector<Var<double>>{a, b, a, v.back()}));
      break;
    default:
      v.push_back(tinygrad::dot(std::vector<Var<double>>{a, b, v.back()},
                                std::vector<Var<double>>{b, v.back(), a}));
  }
}

/// The gradients of the program's last value with respect to its leaves,
/// recorded on a fresh tape: steps [0, cut) with variant 0, the rest with
/// variant 1.
std::vector<double> fresh_gradients(std::size_t cut, std::size_t steps) {
  Tape<double> tape;
  std::vector<Var<double>> v{Var<double>(0.5), Var<double>(-1.25), Var<double>(2.0)};
  for (std::size_t k = 0; k < steps; ++k) {
    record_step(v, k, k < cut ? 0 : 1);
  }
  v.back().backward();
  return {v[0].grad(), v[1].grad(), v[2].grad()};
}

}  // namespace

TEST_CASE(
    "rewind at every position of a mixed recording, then record again: a fresh tape's gradients") {
  // The layout finds where operands end by walking the entries' shapes back:
  // rewinding to any entry, before and after wide ones, must leave exactly
  // the recording of the entries kept (and the sweep, which goes two
  // entries at a time, must handle an odd count as well as an even one).
  constexpr std::size_t steps = 40;
  for (std::size_t cut = 0; cut <= steps; ++cut) {
    CAPTURE(cut);
    Tape<double> tape;
    std::vector<Var<double>> v{Var<double>(0.5), Var<double>(-1.25), Var<double>(2.0)};
    for (std::size_t k = 0; k < cut; ++k) {
      record_step(v, k, 0);
    }
    const auto mark = tape.position();
    const std::size_t kept = v.size();
    for (std::size_t k = cut; k < steps; ++k) {
      record_step(v, k, 2);  // a different program, then dropped
    }
    tape.rewind(mark);
    v.resize(kept);
    for (std::size_t k = cut; k < steps; ++k) {
      record_step(v, k, 1);
    }
    v.back().backward();
    const std::vector<double> rewound{v[0].grad(), v[1].grad(), v[2].grad()};
    CHECK(rewound == fresh_gradients(cut, steps));
  }
}

TEST_CASE("backward() from an entry with later entries after it ignores them") {
  Tape<double> tape;
  Var<double> x = 0.75, y = -2.0;
  const auto out = x * y + tinygrad::sum(std::vector<Var<double>>{x, y, x}) - tinygrad::exp(x);
  for (int k = 0; k < 5; ++k) {  // later entries of every shape, odd and even in number
    (void)tinygrad::dot(std::vector<Var<double>>{x, y, out}, std::vector<Var<double>>{y, x, x});
    (void)(out - x);
    (void)Var<double>(1.0);
  }
  out.backward();
  // d/dx = y + 2 - e^x, d/dy = x + 1, by hand.
  tinygrad_test::check_close(x.grad(), -2.0 + 2.0 - std::exp(0.75), 1e-15);
  tinygrad_test::check_close(y.grad(), 0.75 + 1.0, 1e-15);
}

// The epoch counter's end, reached without 2^32 rewinds.
struct tinygrad::detail::TapeInternals {
  template <class T>
  static void exhaust_epochs(Tape<T>& tape) {
    tape.generation_ |= 0xFFFF'FFFFu;
  }
  /// Makes the recording claim `entries` entries and `operands` operands, as
  /// if it held them, without the memory (the capacity stays small, so the
  /// next append asks to grow and meets the limit first). Returns the real
  /// counts, for restore().
  template <class T>
  static std::pair<std::size_t, std::uint32_t> pretend_counts(Tape<T>& tape, std::size_t entries,
                                                              std::uint32_t operands) {
    auto& recording = tape.recording_;
    const std::pair<std::size_t, std::uint32_t> real{recording.entries_, recording.end_.operand};
    recording.entries_ = entries;
    recording.end_.operand = operands;
    return real;
  }
  template <class T>
  static void restore(Tape<T>& tape, std::pair<std::size_t, std::uint32_t> real) {
    pretend_counts(tape, real.first, real.second);
  }
};

TEST_CASE("a full tape: 2^32 - 2 entries or operands, then tape_error and nothing recorded") {
  using Internals = tinygrad::detail::TapeInternals;
  constexpr std::size_t limit = 0xFFFF'FFFEu;  // 2^32 - 2
  Tape<double> tape;
  const Var<double> x = 1.0;
  const Var<double> y = 2.0;
  const std::vector<Var<double>> v{x, y};
  const auto every_kind_of_recording = [&] {
    check_tape_error([&] { (void)Var<double>(3.0); }, "is full (2^32 - 2 entries or operands)");
    check_tape_error([&] { (void)(x * y); }, "is full");
    check_tape_error([&] { (void)exp(x); }, "is full");
    check_tape_error([&] { (void)(x + 1.0); }, "is full");
    check_tape_error([&] { (void)tinygrad::dot(v, v); }, "is full");
    check_tape_error([&] { (void)tinygrad::sigmoid(x); }, "is full");
    std::vector<Var<double>> leaves;
    check_tape_error(
        [&] { tinygrad::record_leaves(std::span<const double>(std::vector<double>{1.0}), leaves); },
        "is full");
  };
  SUBCASE("entries") {
    const auto real = Internals::pretend_counts(tape, limit, 4);
    every_kind_of_recording();
    CHECK(tape.size() == limit);  // nothing was appended
    Internals::restore(tape, real);
  }
  SUBCASE("operands") {
    const auto real = Internals::pretend_counts(tape, 4, static_cast<std::uint32_t>(limit));
    check_tape_error([&] { (void)(x * y); }, "is full");
    check_tape_error([&] { (void)exp(x); }, "is full");
    CHECK(tape.size() == 4);
    Internals::restore(tape, real);
  }
  // One below the limit is not full: the same recording works once the
  // counts are real again.
  const auto z = x * y + 1.0;
  z.backward();
  CHECK(x.grad() == 2.0);
}

#ifndef TINYGRAD_NO_CHECKS  // the check is what finds the Var's tape
TEST_CASE("grad() of an outer tape's Var inside a nested tape's scope reads its own tape") {
  Tape<double> outer;
  const Var<double> w = 3.0;
  (w * w).backward();
  {
    Tape<double> inner;
    const Var<double> u = 1.0;
    (u + u).backward();
    CHECK(w.grad() == 6.0);
    CHECK(u.grad() == 2.0);
    Tape<double> innermost;  // two levels down
    CHECK(w.grad() == 6.0);
    CHECK(u.grad() == 2.0);
  }
}

#endif

TEST_CASE("misuse messages say where the Var's tape is, and what to do") {
  SUBCASE("its tape was destroyed") {
    Tape<double> current;
    std::optional<Var<double>> escaped;
    {
      Tape<double> short_lived;
      escaped = Var<double>(2.0);
    }
    check_var_rejected([&] { (void)(*escaped * 2.0); }, "which no longer exists");
    check_var_rejected([&] { (void)escaped->grad(); },
                       "Create the Tape before the Vars and keep it alive while you use them");
  }
  SUBCASE("its tape belongs to another thread") {
    std::promise<Var<double>> made;
    std::promise<void> done;
    std::thread owner([&] {
      Tape<double> theirs;
      made.set_value(Var<double>(5.0));
      done.get_future().wait();  // the tape lives until the main thread has tried
    });
    const Var<double> foreign = made.get_future().get();
    Tape<double> mine;
    check_var_rejected([&] { (void)(foreign + 1.0); }, "which belongs to another thread");
    check_var_rejected([&] { (void)foreign.grad(); }, "use a Var on the thread that recorded it");
    done.set_value();
    owner.join();
    // Its tape is gone now.
    check_var_rejected([&] { (void)(foreign + 1.0); }, "which no longer exists");
  }
  SUBCASE("a live tape of this thread that is not current") {
    // As the functional API keeps its per-thread tape between calls.
    Tape<double> dormant{tinygrad::detail::Dormant{}};
    std::optional<Var<double>> v;
    {
      const tinygrad::detail::CurrentTapeScope<double> scope(dormant);
      v = Var<double>(1.0);
    }
    check_var_rejected([&] { (void)(*v + 1.0); }, "a tape of this thread that is not current");
  }
  SUBCASE("a heap tape destroyed out of order") {
    auto heap = std::make_unique<Tape<double>>();  // current now
    const Var<double> v = 1.0;
    const Tape<double> nested;
    heap.reset();  // unlinked from the stack
    check_var_rejected([&] { (void)(v + 1.0); }, "which no longer exists");
  }
}

TEST_CASE("a nested tape's sweep may throw: its arithmetic records on the tape below") {
  // Declared noexcept, a full tape below (or no memory) during the sweep
  // would end the program instead of throwing tape_error.
  using tinygrad::detail::RecordingView;
  const auto sweep_of = [](auto* adjoint) {
    using T = std::remove_pointer_t<decltype(adjoint)>;
    return noexcept(
        tinygrad::detail::reverse_sweep(std::declval<const RecordingView<T>&>(), adjoint, 0U));
  };
  CHECK(sweep_of(static_cast<double*>(nullptr)));
  CHECK_FALSE(sweep_of(static_cast<Var<double>*>(nullptr)));
  Var<double>* const none = nullptr;
  CHECK_FALSE(noexcept(tinygrad::detail::reverse_sweep_accumulating(
      std::declval<const RecordingView<Var<double>>&>(), none, 0U, none)));
}

TEST_CASE("a nested tape's gradient has the first-order tape's values, signed zeros too") {
  // The nested sweep forms shares and sums with as few entries on the tape
  // below as it can (a * 1 is a, a * -1 added is a subtracted, 0 + s is s):
  // each shortcut must give the number the first-order sweep computes. The
  // terms exercise them: constant factors 1 and -1, subtractions whose
  // shares reach an adjoint still 0 and one already summed into, and at
  // x1 = -0 the only share of x7, -0, which the first-order sweep adds to
  // a 0 adjoint: +0.
  const auto f = [](const auto& x) {
    return x[0] * x[1] - x[2] + -1.0 * x[3] + x[4] * 1.0 - (x[5] - x[0]) * x[6] +
           1.0 * (x[2] - x[5]) * x[2] - x[6] * -1.0 + x[7] * x[1];
  };
  const std::vector<double> point{0.75, -0.0, 1.5, -2.0, 3.0, 0.25, -1.25, 2.0};
  std::vector<double> first_order;
  {
    Tape<double> tape;
    std::vector<Var<double>> x(point.begin(), point.end());
    f(x).backward();
    for (const Var<double>& xi : x) {
      first_order.push_back(xi.grad());
    }
  }
  Tape<double> inner;
  std::vector<Var<double>> leaves(point.begin(), point.end());
  Tape<Var<double>> outer;
  std::vector<Var<Var<double>>> x(leaves.begin(), leaves.end());
  f(x).backward();
  for (std::size_t i = 0; i < point.size(); ++i) {
    INFO("coordinate ", i);
    CHECK(std::bit_cast<std::uint64_t>(x[i].grad().value()) ==
          std::bit_cast<std::uint64_t>(first_order[i]));
  }
  // And the second derivatives through the shortcuts: d/dx of df/dx0 =
  // x1 + x6 is (0, 1, 0, 0, 0, 0, 1, 0); of df/dx2 = -1 + 2 x2 - x5 it
  // is (0, 0, 2, 0, 0, -1, 0, 0).
  const Var<double> df_dx0 = x[0].grad();
  const Var<double> df_dx2 = x[2].grad();
  df_dx0.backward();
  const std::vector<double> row0{0, 1, 0, 0, 0, 0, 1, 0};
  for (std::size_t j = 0; j < point.size(); ++j) {
    INFO("d2f/dx0 dx", j);
    CHECK(leaves[j].grad() == row0[j]);
  }
  inner.zero_grad();
  df_dx2.backward();
  const std::vector<double> row2{0, 0, 2, 0, 0, -1, 0, 0};
  for (std::size_t j = 0; j < point.size(); ++j) {
    INFO("d2f/dx2 dx", j);
    CHECK(leaves[j].grad() == row2[j]);
  }
}

TEST_CASE("out of epochs: clear() goes on (a new identity), rewind() throws") {
  Tape<double> tape;
  Var<double> old = 1.0;
  tinygrad::detail::TapeInternals::exhaust_epochs(tape);
  const auto mark = tape.position();
  Var<double> x = 2.0;
  check_tape_error([&] { tape.rewind(mark); }, "rewound 2^32 - 1 times without a clear()");
  CHECK_NOTHROW(tape.clear());
  check_var_rejected([&] { (void)(old + 1.0); }, "the current tape of this thread is tape #");
  check_var_rejected([&] { (void)x.grad(); }, "tape #");
  Var<double> y = 3.0;
  const auto z = y * y;
  z.backward();
  CHECK(y.grad() == 6.0);
}

TEST_CASE("record_leaves and read_gradients: bulk versions of Var(value) and grad()") {
  Tape<double> tape;
  const std::vector<double> values{1.0, 2.0, 3.0};
  std::vector<Var<double>> leaves;
  tinygrad::record_leaves(std::span<const double>(values), leaves);
  REQUIRE(leaves.size() == 3);
  CHECK(tape.size() == 3);
  CHECK(leaves[2].value() == 3.0);
  const auto y = leaves[0] * leaves[1] + leaves[2] * leaves[2];
  y.backward();
  std::vector<double> grads(3);
  tinygrad::read_gradients(std::span<const Var<double>>(leaves), std::span<double>(grads));
  CHECK(grads == std::vector<double>{2.0, 1.0, 6.0});
  std::vector<double> too_small(2);
  CHECK_THROWS_AS(
      tinygrad::read_gradients(std::span<const Var<double>>(leaves), std::span<double>(too_small)),
      std::invalid_argument);
  tape.clear();
  check_var_rejected(
      [&] {
        tinygrad::read_gradients(std::span<const Var<double>>(leaves), std::span<double>(grads));
      },
      "dropped");
}

TEST_CASE("a wide entry checks every operand like any operation") {
  Tape<double> tape;
  std::vector<Var<double>> a{Var<double>(1.0), Var<double>(2.0)};
  const auto mark = tape.position();
  std::vector<Var<double>> later{Var<double>(3.0), Var<double>(4.0)};
  tape.rewind(mark);
  check_var_rejected([&] { (void)tinygrad::dot(a, later); }, "dropped");
  CHECK(tape.size() == 2);  // the failed dot recorded nothing
  check_var_rejected([&] { (void)tinygrad::sum(later); }, "dropped");
  CHECK_NOTHROW((void)tinygrad::sum(a));
}

TEST_CASE("eight threads, each 10^5 operations on its own tape, gradients checked") {
  constexpr int threads = 8;
  constexpr int operations = 100'000;
  std::vector<double> gradients(threads, 0.0);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([t, &gradients] {
      Tape<double> tape;
      Var<double> x = 1.0 + t;
      Var<double> y = 0.0;
      for (int i = 0; i < operations / 2; ++i) {
        y = y + x * 1e-5;  // two operations; dy/dx = (operations / 2) * 1e-5 = 0.5
      }
      y.backward();
      gradients[static_cast<std::size_t>(t)] = x.grad();
    });
  }
  for (auto& worker : workers) {
    worker.join();
  }
  for (const double g : gradients) {
    tinygrad_test::check_close(g, 0.5, 1e-10);
  }
}

// ---- Fusion (docs/design.md, "Fusing an operation into its operand's entry")

namespace {

/// Gradients of f(a, b, c) at (a, b, c), recorded with fusion on or off.
template <class F>
std::vector<double> gradients_of(F f, bool fuse, const std::vector<double>& at) {
  Tape<double> tape;
  tape.fuse_operations(fuse);
  std::vector<Var<double>> leaves;
  tinygrad::record_leaves(std::span<const double>(at), leaves);
  f(leaves[0], leaves[1], leaves[2]).backward();
  std::vector<double> grads(at.size());
  tinygrad::read_gradients(std::span<const Var<double>>(leaves), std::span<double>(grads));
  return grads;
}

/// Checks `got`, the gradients of f(a, b, c) at `at`, against `separate`
/// (the same recorded with fusion off), a hand-derived formula and central
/// differences.
template <class F>
void check_three_ways(F f, const std::vector<double>& at, const std::vector<double>& got,
                      const std::vector<double>& separate, const std::vector<double>& expected) {
  for (std::size_t i = 0; i < at.size(); ++i) {
    CAPTURE(i);
    tinygrad_test::check_close(got[i], separate[i], 4e-16);
    tinygrad_test::check_close(got[i], expected[i], 1e-14);
    const auto along = [&](double h) {
      std::vector<double> p = at;
      p[i] = h;
      Tape<double> scratch;
      return f(Var<double>(p[0]), Var<double>(p[1]), Var<double>(p[2])).value();
    };
    tinygrad_test::check_close(got[i], tinygrad_test::central_difference(along, at[i]), 1e-8);
  }
}

}  // namespace

TEST_CASE("fusion: x[1] - x[0] * x[0] is one entry with the chain rule's partials") {
  Tape<double> tape;
  Var<double> x0 = 0.5, x1 = 0.75;
  const auto t = x1 - x0 * x0;
  CHECK(tape.size() == 3);  // two leaves and one entry
  int seen = 0;
  tape.for_each_entry([&](const auto& e) {
    if (e.index == 2) {
      ++seen;
      REQUIRE(e.operand_index.size() == 2);
      CHECK(e.operand_index[0] == 0);
      CHECK(e.operand_partial[0] == -2 * 0.5);  // d(x1 - x0^2)/dx0
      CHECK(e.operand_index[1] == 1);
      CHECK(e.operand_partial[1] == 1.0);
    }
  });
  CHECK(seen == 1);
  t.backward();
  CHECK(x0.grad() == -1.0);
  CHECK(x1.grad() == 1.0);
}

TEST_CASE("fusion: the gradients of fused entries equal those of separate entries") {
  using V = const Var<double>&;
  const std::vector<double> at{0.7, -1.3, 2.1};
  // Each lambda builds temporaries of every kind and consumes them every way:
  // stored and unit entries, scaled, negated, merged with an equal operand.
  const auto check = [&](auto f, auto formula) {
    check_three_ways(f, at, gradients_of(f, true, at), gradients_of(f, false, at),
                     formula(at[0], at[1], at[2]));
  };
  SUBCASE("Rosenbrock's term") {
    check([](V a, V b, V) { return 100.0 * (b - a * a) * (b - a * a) + (1.0 - a) * (1.0 - a); },
          [](double a, double b, double) {
            return std::vector<double>{-400 * a * (b - a * a) - 2 * (1 - a), 200 * (b - a * a), 0};
          });
  }
  SUBCASE("unit temporaries scaled: (a + b) * c, c - (a - b), -(a + 2)") {
    check([](V a, V b, V c) { return (a + b) * c + (c - (a - b)) * 3.0 - (-(a + 2.0)); },
          [](double a, double b, double c) {
            return std::vector<double>{c - 3 + 1, c + 3, a + b + 3};
          });
  }
  SUBCASE("both operands temporaries: (a * b) * (b * c), (a * b) / (a + c)") {
    check([](V a, V b, V c) { return (a * b) * (b * c) + (a * b) / (a + c); },
          [](double a, double b, double c) {
            const double q = a * b / (a + c);
            return std::vector<double>{b * b * c + b / (a + c) - q / (a + c),
                                       2 * a * b * c + a / (a + c), a * b * b - q / (a + c)};
          });
  }
  SUBCASE("scalars on temporaries: 2 / (a * b), (a * b) / 4, 5 - a * c, (b + c) - 1") {
    check([](V a, V b,
             V c) { return 2.0 / (a * b) + (a * b) / 4.0 + (5.0 - a * c) * ((b + c) - 1.0); },
          [](double a, double b, double c) {
            const double u = 5 - a * c, w = b + c - 1;
            return std::vector<double>{-2 / (a * a * b) + b / 4 - c * w,
                                       -2 / (a * b * b) + a / 4 + u, -a * w + u};
          });
  }
  SUBCASE("a long sum of temporaries, and activations of them") {
    check(
        [](V a, V b, V c) {
          Var<double> sum = 0.0;
          for (int k = 1; k <= 20; ++k) {
            sum = sum + tinygrad::sigmoid(a * static_cast<double>(k) + b) * c;
          }
          return sum;
        },
        [](double a, double b, double c) {
          std::vector<double> g(3, 0.0);
          for (int k = 1; k <= 20; ++k) {
            const double s = 1 / (1 + std::exp(-(a * k + b)));
            g[0] += s * (1 - s) * k * c;
            g[1] += s * (1 - s) * c;
            g[2] += s;
          }
          return g;
        });
  }
}

TEST_CASE("fusion: t + std::move(t) and std::move(t) * t read t twice, not its own entry") {
  // Fusing t's entry into itself would make the entry its own operand, and
  // the sweep would lose the share sent there.
  Tape<double> tape;
  Var<double> a = 3.0, b = 2.0;
  Var<double> t = a * b;
  const Var<double> r = t + std::move(t);  // 2ab
  r.backward();
  CHECK(r.value() == 12.0);
  CHECK(a.grad() == 4.0);  // 2b
  CHECK(b.grad() == 6.0);  // 2a

  Tape<double> second;
  Var<double> c = 3.0, d = 2.0;
  Var<double> u = c * d;
  // (cd)^2, the rvalue first: std::move only casts, u is read twice.
  // NOLINTNEXTLINE(bugprone-use-after-move)
  const Var<double> square = std::move(u) * u;
  square.backward();
  CHECK(c.grad() == 2 * 3.0 * 2.0 * 2.0);  // 2 c d^2
  CHECK(d.grad() == 2 * 3.0 * 3.0 * 2.0);  // 2 c^2 d
}

TEST_CASE("fusion: a Var moved from or into is no longer fresh, so neither is consumed") {
  // After a move two Vars refer to the product's entry. Were either still
  // fresh, an operation on it as an rvalue would take the entry over, and
  // the other Var would then read the fused result's gradient.
  Tape<double> tape;
  Var<double> a = 3.0, b = 2.0;
  Var<double> product = a * b;
  Var<double> moved = std::move(product);  // the move constructor
  // NOLINTNEXTLINE(bugprone-use-after-move): the moved-from Var stays usable
  const Var<double> from_source = std::move(product) * 5.0;
  const Var<double> from_target = std::move(moved) + 1.0;
  (from_source + from_target).backward();
  CHECK(tape.size() == 6);       // a, b, a b, 5 a b, a b + 1, their sum: nothing fused
  CHECK(a.grad() == 6.0 * 2.0);  // d(6 a b + 1)/da
  CHECK(b.grad() == 6.0 * 3.0);

  Tape<double> second;
  Var<double> c = 3.0, d = 2.0;
  Var<double> target = 1.0;
  Var<double> source = c * d;
  target = std::move(source);  // the move assignment
  // NOLINTNEXTLINE(bugprone-use-after-move)
  const Var<double> via_source = std::move(source) * 5.0;
  const Var<double> via_target = std::move(target) + 1.0;
  (via_source + via_target).backward();
  CHECK(second.size() == 7);  // c, d, 1, c d, 5 c d, c d + 1, the sum
  CHECK(c.grad() == 6.0 * 2.0);
  CHECK(d.grad() == 6.0 * 3.0);
}

// ---- Accumulating into one entry (docs/design.md)

namespace {

/// The operand count of every entry after the leaves, in order.
std::vector<std::size_t> operand_counts(const Tape<double>& tape, std::size_t leaves) {
  std::vector<std::size_t> counts;
  tape.for_each_entry([&](const auto& e) {
    if (e.index >= leaves) {
      counts.push_back(e.operand_index.size());
    }
  });
  return counts;
}

}  // namespace

TEST_CASE("accumulation: s += w[i] * x[i] records one entry for the whole sum") {
  Tape<double> tape;
  std::vector<Var<double>> w;
  tinygrad::record_leaves(std::vector<double>{0.25, 0.5, 0.75, 1.0, 1.25, 1.5}, w);
  Var<double> b = 0.5;
  Var<double> s = b;  // a copy of a leaf: the first += fuses into w[0] * 1's entry
  for (int i = 0; i < 6; ++i) {
    s += w[static_cast<std::size_t>(i)] * static_cast<double>(i + 1);
  }
  CHECK(operand_counts(tape, 7) == std::vector<std::size_t>{7});  // w[0..5] and b
  s.backward();
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(w[i].grad() == static_cast<double>(i + 1));
  }
  CHECK(b.grad() == 1.0);
  CHECK(s.value() == 0.5 + 0.25 * (1 + 4 + 9 + 16 + 25 + 36));
}

TEST_CASE("accumulation: the gradients equal those of s = s + t, by formula and differences") {
  using V = const Var<double>&;
  const std::vector<double> at{0.7, -1.3, 2.1};
  // Every kind of right-hand side: stored and unit entries, one to three
  // operands, += and -=, a term that repeats an operand of an earlier term.
  const auto accumulated = [](V a, V b, V c) {
    Var<double> s = a * b;
    s += b * c;
    s -= a * 3.0;
    s += a + c;
    s -= b - c;
    s += tinygrad::sigmoid(a * c + b);
    s -= a * a;
    return s;
  };
  const auto plain = [](V a, V b, V c) {
    Var<double> s = a * b;
    s = s + b * c;
    s = s - a * 3.0;
    s = s + (a + c);
    s = s - (b - c);
    s = s + tinygrad::sigmoid(a * c + b);
    s = s - a * a;
    return s;
  };
  const auto merged = gradients_of(accumulated, true, at);
  const auto unmerged = gradients_of(plain, true, at);
  const auto separate = gradients_of(plain, false, at);
  const double a = at[0], b = at[1], c = at[2];
  const double sig = 1 / (1 + std::exp(-(a * c + b))), slope = sig * (1 - sig);
  const std::vector<double> expected{b - 3 + 1 + slope * c - 2 * a, a + c - 1 + slope,
                                     b + 1 + 1 + slope * a};
  CHECK(merged == unmerged);  // bit for bit
  check_three_ways(accumulated, at, merged, separate, expected);
  // Merged: the seven statements are one entry, whose operands are the
  // terms' (a, b; b, c; a; a, c; b, c; a, c, b; a).
  Tape<double> tape;
  const Var<double> x = a, y = b, z = c;
  const Var<double> s = accumulated(x, y, z);
  CHECK(operand_counts(tape, 3) == std::vector<std::size_t>{13});
  CHECK(s.value() == plain(x, y, z).value());
}

TEST_CASE("accumulation: s += s * w keeps s's entry below its own") {
  // t's operand is s's entry: merging would make the entry its own operand.
  Tape<double> tape;
  Var<double> w = 3.0, x = 2.0;
  Var<double> s = w * x;  // fresh
  s += s * w;             // s (1 + w) = w x (1 + w)
  s.backward();
  CHECK(s.value() == 24.0);
  CHECK(w.grad() == x * (1 + 2 * 3.0));  // d(x w + x w^2)/dw = x (1 + 2w)
  CHECK(x.grad() == 3.0 * 4.0);          // w (1 + w)
}

TEST_CASE(
    "accumulation never merges into an entry that another Var, a Position or a gradient "
    "refers to") {
  Tape<double> tape;
  Var<double> a = 1.5, b = -2.0;
  SUBCASE("a copy of s keeps its value and gradient") {
    Var<double> s = a * b;
    const Var<double> before = s;  // s is no longer the only Var of its entry
    s += a * a;
    CHECK(before.value() == -3.0);
    before.backward();
    CHECK(a.grad() == -2.0);
    CHECK(b.grad() == 1.5);
  }
  SUBCASE("a Position taken after s's entry") {
    Var<double> s = a * b;
    const auto mark = tape.position();
    s += a * 4.0;
    CHECK(operand_counts(tape, 2) == std::vector<std::size_t>{2, 2});  // s's entry as it was
    tape.rewind(mark);
    CHECK(operand_counts(tape, 2) == std::vector<std::size_t>{2});
  }
  SUBCASE("a gradient computed for s's entry") {
    Var<double> s = a * b;
    s.backward();
    s += a * 4.0;
    CHECK(operand_counts(tape, 2) == std::vector<std::size_t>{2, 2});
    CHECK(a.grad() == -2.0);
  }
  SUBCASE("a term that is not the last entry") {
    Var<double> s = a * b;
    Var<double> t = a * 2.0;
    const Var<double> unrelated = b * 3.0;
    s += std::move(t);  // t's entry is not last: recorded as s + t
    s.backward();
    CHECK(a.grad() == -2.0 + 2.0);
    CHECK(unrelated.value() == -6.0);
  }
}

TEST_CASE("fusion: a zero chain factor does not turn an infinite partial into NaN") {
  Tape<double> tape;
  Var<double> x = 0.0;
  const auto out = tinygrad::sqrt(x) * 0.0;  // fused, sqrt's partial inf times 0 would be NaN
  out.backward();
  CHECK(x.grad() == 0.0);  // as with separate entries: sqrt's zero adjoint is skipped
}

TEST_CASE("fusion never rewrites an entry that another Var, a Position or a gradient refers to") {
  Tape<double> tape;
  Var<double> a = 1.5, b = -2.0;
  SUBCASE("a copy of the temporary keeps its meaning") {
    Var<double> product = a * b;
    const Var<double> copy = product;  // two Vars of one entry
    const auto sum = std::move(product) + a;
    copy.backward();
    CHECK(a.grad() == -2.0);  // d(a b)/da, not d(a b + a)/da
    CHECK(b.grad() == 1.5);
    tape.zero_grad();
    sum.backward();
    CHECK(a.grad() == -1.0);
  }
  SUBCASE("a Var moved into an operation that took its entry is invalid") {
    Var<double> product = a * b;
    const auto sum = std::move(product) + a;
    CHECK(tape.size() == 3);  // fused
    // Using the moved-from Var is the point: it must be rejected.
    // NOLINTNEXTLINE(bugprone-use-after-move)
    check_var_rejected([&] { (void)(product * 2.0); }, "was consumed");
    // NOLINTNEXTLINE(bugprone-use-after-move)
    check_var_rejected([&] { (void)product.grad(); }, "was consumed");
    sum.backward();
    CHECK(a.grad() == -1.0);
  }
  SUBCASE("a Position taken after the temporary: rewind finds it as it was") {
    Var<double> product = a * b;
    const auto mark = tape.position();
    const auto sum = std::move(product) + a;  // not fused: the mark pins the product
    CHECK(tape.size() == 4);
    tape.rewind(mark);
    // product was consumed even so; the entry it named is the product still:
    // a new temporary of the same operation gives its gradients.
    const auto again = a * b;
    again.backward();
    CHECK(a.grad() == -2.0);
    CHECK(b.grad() == 1.5);
    (void)sum;
  }
  SUBCASE("gradients computed for the temporary stay its own") {
    Var<double> product = a * b;
    product.backward();
    const auto sum = std::move(product) + a;  // not fused: the product has a gradient
    CHECK(tape.size() == 4);
    CHECK(sum.grad() == 0.0);
    sum.backward();
    CHECK(a.grad() == -2.0 + -1.0);  // both backward() calls accumulate
  }
  SUBCASE("annotating or fusion off: one entry per operation; detecting changes nothing") {
    const auto count_entries = [&](auto configure) {
      Tape<double> inner;
      configure(inner);
      Var<double> x = 1.5, y = 2.0;
      (void)(y - x * x);
      return inner.size();
    };
    CHECK(count_entries([](Tape<double>&) {}) == 3);
    CHECK(count_entries([](Tape<double>& t) { t.annotate(true); }) == 4);
    CHECK(count_entries([](Tape<double>& t) { t.detect_anomalies(true); }) == 3);
    CHECK(count_entries([](Tape<double>& t) { t.fuse_operations(false); }) == 4);
    CHECK(count_entries([](Tape<double>& t) {
            t.annotate(true);
            t.annotate(false);
          }) == 3);
  }
}

TEST_CASE("fusion: nested tapes record one entry per operation") {
  Tape<double> inner;
  Tape<Var<double>> outer;
  Var<Var<double>> x = Var<double>(1.5);
  const auto y = 2.0 - x * x;  // would fuse on a tape of doubles
  CHECK(outer.size() == 3);
  y.backward();
  const Var<double> dy = x.grad();  // -2x, a Var on the inner tape
  CHECK(dy.value() == -3.0);
  dy.backward();
  CHECK(x.value().grad() == -2.0);
}

TEST_CASE("fusion: sigmoid(w * a + b) is one entry of three operands") {
  Tape<double> tape;
  Var<double> w = 0.5, a = 1.0, b = 0.25;
  const auto z = tinygrad::sigmoid(w * a + b);
  CHECK(tape.size() == 4);
  const double s = 1 / (1 + std::exp(-0.75));
  tape.for_each_entry([&](const auto& e) {
    if (e.index == 3) {
      REQUIRE(e.operand_index.size() == 3);
      CHECK(e.operand_index[0] == 0);
      CHECK(e.operand_index[1] == 1);
      CHECK(e.operand_index[2] == 2);
      tinygrad_test::check_close(e.operand_partial[0], s * (1 - s) * 1.0, 1e-15);  // * a
      tinygrad_test::check_close(e.operand_partial[1], s * (1 - s) * 0.5, 1e-15);  // * w
      tinygrad_test::check_close(e.operand_partial[2], s * (1 - s), 1e-15);
    }
  });
  z.backward();
  tinygrad_test::check_close(w.grad(), s * (1 - s), 1e-15);
  tinygrad_test::check_close(a.grad(), s * (1 - s) * 0.5, 1e-15);
  tinygrad_test::check_close(b.grad(), s * (1 - s), 1e-15);
}

TEST_CASE("fusion: three-operand entries in a chain, swept from the end and from the middle") {
  // The notebook's network, 40 layers: fused, one entry per layer.
  const auto run = [](bool fuse, int from_layer) {
    Tape<double> tape;
    tape.fuse_operations(fuse);
    std::vector<Var<double>> w, b;
    std::vector<Var<double>> a{Var<double>(1.0)};
    for (int i = 0; i < 40; ++i) {
      w.emplace_back(0.5 + 0.01 * i);
      b.emplace_back(-0.1 * (i % 3));
      a.push_back(tinygrad::sigmoid(w.back() * a.back() + b.back()));
    }
    // backward() from layer `from_layer`: the entries after it are walked
    // over (begin_of), not swept.
    a[static_cast<std::size_t>(from_layer)].backward();
    std::vector<double> g;
    g.reserve(w.size() + b.size());
    for (const auto& v : w) {
      g.push_back(v.grad());
    }
    for (const auto& v : b) {
      g.push_back(v.grad());
    }
    return std::make_pair(g, tape.size());
  };
  for (const int from : {40, 23, 1}) {
    CAPTURE(from);
    const auto [fused, fused_entries] = run(true, from);
    const auto [separate, separate_entries] = run(false, from);
    CHECK(fused_entries == 81 + 40);         // 81 leaves (a_0, w, b), one entry per layer
    CHECK(separate_entries == 81 + 40 * 3);  // *, +, sigmoid
    for (std::size_t k = 0; k < fused.size(); ++k) {
      CAPTURE(k);
      tinygrad_test::check_close(fused[k], separate[k], 1e-15);
    }
  }
}

TEST_CASE("copies of one shared const Var, made from several threads at once") {
  // Copying a Var clears the `fresh` flag of its source through an atomic_ref,
  // so that a const Var shared between threads can be copied from all of
  // them (ThreadSanitizer runs this test in CI). The copies come back to the
  // tape's thread and are summed there.
  Tape<double> tape;
  const Var<double> x = 1.5;
  const Var<double> shared = x * 2.0;  // fresh: copying it takes the store path once
  constexpr int threads = 4;
  constexpr int copies = 10'000;
  std::vector<std::vector<Var<double>>> made(threads);
  {
    std::vector<std::thread> workers;
    workers.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&shared, &made, t] {
        std::vector<Var<double>>& mine = made[static_cast<std::size_t>(t)];
        mine.reserve(copies);
        for (int k = 0; k < copies; ++k) {
          mine.push_back(shared);
        }
      });
    }
    for (auto& worker : workers) {
      worker.join();
    }
  }
  std::vector<Var<double>> all;
  for (const auto& mine : made) {
    all.insert(all.end(), mine.begin(), mine.end());
  }
  const Var<double> total = tinygrad::sum(all);
  CHECK(total.value() == 3.0 * threads * copies);
  total.backward();
  CHECK(x.grad() == 2.0 * threads * copies);
  CHECK(shared.grad() == double(threads * copies));
}
