// SPDX-License-Identifier: MIT
// Tape annotations and the Graphviz export built on them.

#include <tinygrad/graphviz.hpp>
#include <tinygrad/var.hpp>

#include <doctest/doctest.h>
#include <sstream>
#include <string>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("an annotated tape keeps each entry's operation and value") {
  Tape<double> tape;
  tape.annotate(true);
  Var<double> x = 2.0;
  const auto s = tinygrad::sigmoid(x * 3.0);  // separate statements: a fixed order
  const auto e = exp(x);
  const auto y = s + e;
  y.backward();
  std::vector<std::string> operations;
  std::vector<double> values;
  tape.for_each_entry([&](const Tape<double>::EntryView& entry) {
    REQUIRE(entry.operation != nullptr);
    operations.emplace_back(entry.operation);
    values.push_back(*entry.value);
  });
  CHECK(operations == std::vector<std::string>{"leaf", "*", "sigmoid", "exp", "+"});
  CHECK(values[1] == 6.0);
  CHECK(values[4] == y.value());
}

TEST_CASE("write_dot: a node per entry with value and gradient, an edge per operand") {
  Tape<double> tape;
  tape.annotate(true);
  Var<double> w = 0.5;
  const auto loss = w * w;
  loss.backward();
  std::ostringstream dot;
  tinygrad::write_dot(dot, tape, "square");
  const std::string text = dot.str();
  CHECK(contains(text, "digraph \"square\" {"));
  CHECK(contains(text, "n0 [shape=box, label=\"#0 leaf\\nvalue 0.5\\ngrad 1\"];"));
  CHECK(contains(text, "n1 [shape=ellipse, label=\"#1 *\\nvalue 0.25\\ngrad 1\"];"));
  CHECK(contains(text, "n0 -> n1 [label=\"d 0.5\"];"));
  CHECK(text.back() == '\n');
}

TEST_CASE("entries recorded while not annotating are labelled by index only") {
  Tape<double> tape;
  Var<double> a = 1.0;
  tape.annotate(true);
  const auto b = a + 1.0;
  tape.annotate(false);
  const auto c = b * 2.0;
  std::vector<bool> annotated;
  tape.for_each_entry(
      [&](const Tape<double>::EntryView& e) { annotated.push_back(e.operation != nullptr); });
  CHECK(annotated == std::vector<bool>{false, true, false});
  std::ostringstream dot;
  tinygrad::write_dot(dot, tape);
  CHECK(contains(dot.str(), "n0 [shape=box, label=\"#0\\ngrad 0\"];"));
  (void)c;
}

TEST_CASE("rewind and clear drop the annotations of dropped entries") {
  Tape<double> tape;
  tape.annotate(true);
  Var<double> a = 1.0;
  const auto mark = tape.position();
  const auto b = exp(a);
  (void)b;
  tape.rewind(mark);
  const auto c = log(a);
  std::vector<std::string> operations;
  tape.for_each_entry(
      [&](const Tape<double>::EntryView& e) { operations.emplace_back(e.operation); });
  CHECK(operations == std::vector<std::string>{"leaf", "log"});
  (void)c;
}

TEST_CASE("for_each_entry and write_dot on a nested tape (second derivatives)") {
  Tape<double> inner;
  Tape<Var<double>> outer;
  outer.annotate(true);
  Var<Var<double>> x = Var<double>(1.5);
  const auto y = x * x + x;  // dy/dx = 2x + 1 = 4
  y.backward();
  std::vector<std::string> operations;
  std::vector<double> values;
  std::vector<double> grads;
  std::vector<std::vector<double>> partials;
  outer.for_each_entry([&](const Tape<Var<double>>::EntryView& entry) {
    REQUIRE(entry.operation != nullptr);
    operations.emplace_back(entry.operation);
    values.push_back(entry.value->value());
    grads.push_back(entry.grad.value());
    partials.emplace_back();
    for (const Var<double>& p : entry.operand_partial) {
      partials.back().push_back(p.value());
    }
  });
  CHECK(operations == std::vector<std::string>{"leaf", "*", "+"});
  CHECK(values == std::vector<double>{1.5, 2.25, 3.75});
  CHECK(grads == std::vector<double>{4.0, 1.0, 1.0});
  CHECK(partials == std::vector<std::vector<double>>{{}, {1.5, 1.5}, {1.0, 1.0}});
  // The gradient is a Var of the inner tape: differentiating it again gives
  // the second derivative, 2.
  const Var<double> dydx = x.grad();
  dydx.backward();
  CHECK(x.value().grad() == 2.0);

  std::ostringstream dot;
  tinygrad::write_dot(dot, outer, "nested");
  const std::string text = dot.str();
  CHECK(contains(text, "n0 [shape=box, label=\"#0 leaf\\nvalue 1.5\\ngrad 4\"];"));
  CHECK(contains(text, "n1 [shape=ellipse, label=\"#1 *\\nvalue 2.25\\ngrad 1\"];"));
  CHECK(contains(text, "n0 -> n1 [label=\"d 1.5\"];"));
  CHECK(contains(text, "n2 [shape=ellipse, label=\"#2 +\\nvalue 3.75\\ngrad 1\"];"));
}
