// SPDX-License-Identifier: MIT
// The notebook's sigmoid network, recorded on an annotated tape and written as
// a Graphviz graph: every operation with its value and gradient, every edge
// with its local derivative. Render it with `dot -Tsvg notebook.dot`.
//
//   notebook_graph [output directory]     writes notebook.dot there (default: .)
//
// Exits non-zero if w1's gradient is not the notebook's -0.001504.

#include <tinygrad/graphviz.hpp>
#include <tinygrad/var.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

using tinygrad::Var;

int main(int argc, char** argv) {
  tinygrad::Tape<double> tape;
  tape.annotate(true);  // keep each entry's operation and value for the graph

  Var<double> w1 = 0.5, w2 = 0.5, w3 = 0.5;
  const double x = 1;
  const double y = 1;
  const auto a1 = tinygrad::sigmoid(w1 * x);
  const auto a2 = tinygrad::sigmoid(w2 * a1);
  const auto y_pred = tinygrad::sigmoid(w3 * a2);
  const auto loss = 0.5 * tinygrad::pow(y - y_pred, 2);
  loss.backward();

  const std::string path = (argc > 1 ? std::string(argv[1]) : std::string(".")) + "/notebook.dot";
  std::ofstream out(path);
  tinygrad::write_dot(out, tape, "notebook");
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
  tinygrad::write_dot(std::cout, tape, "notebook");
  std::printf("Wrote %s (%zu entries); dL/dw1 = %.6f\n", path.c_str(), tape.size(), w1.grad());
  char printed[32];
  std::snprintf(printed, sizeof printed, "%.6f", w1.grad());
  return std::string(printed) == "-0.001504" ? 0 : 1;
}
