// SPDX-License-Identifier: MIT
#pragma once

// Writes a tape's recording as a Graphviz DOT graph, for teaching: one node
// per entry labelled with its operation, value and gradient, one edge per
// operand labelled with the local partial derivative.
//
//   tape.annotate(true);          // before recording: keep names and values
//   ... record, backward() ...
//   tinygrad::write_dot(std::cout, tape);     // then: dot -Tsvg graph.dot
//
// Keep it to small computations: every entry becomes a node.

#include <tinygrad/tape.hpp>

#include <cstddef>
#include <ostream>
#include <sstream>
#include <string>

namespace tinygrad {

namespace detail {

template <class T>
std::string dot_number(const T& value) {
  std::ostringstream text;
  text.precision(6);
  if constexpr (is_var<T>) {
    text << value.value();
  } else {
    text << value;
  }
  return text.str();
}

/// DOT wants quotes and backslashes escaped inside a label.
inline std::string dot_escape(const std::string& text) {
  std::string escaped;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      escaped += '\\';
    }
    escaped += c;
  }
  return escaped;
}

}  // namespace detail

/// Writes the recording of `tape` as a DOT digraph named `name`. Entries
/// recorded while the tape was not annotating are labelled by index only.
template <class T>
void write_dot(std::ostream& out, const Tape<T>& tape, const std::string& name = "tape") {
  out << "digraph \"" << detail::dot_escape(name) << "\" {\n"
      << "  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  tape.for_each_entry([&](const typename Tape<T>::EntryView& entry) {
    std::string label = "#" + std::to_string(entry.index);
    if (entry.operation != nullptr) {
      label += " " + detail::dot_escape(entry.operation) + "\\nvalue " +
               detail::dot_number(*entry.value);
    }
    label += "\\ngrad " + detail::dot_number(entry.grad);
    const bool leaf = entry.operand_index.empty();
    out << "  n" << entry.index << " [shape=" << (leaf ? "box" : "ellipse") << ", label=\"" << label
        << "\"];\n";
    for (std::size_t k = 0; k < entry.operand_index.size(); ++k) {
      out << "  n" << entry.operand_index[k] << " -> n" << entry.index << " [label=\"d "
          << detail::dot_number(entry.operand_partial[k]) << "\"];\n";
    }
  });
  out << "}\n";
}

}  // namespace tinygrad
