// SPDX-License-Identifier: MIT
#pragma once

// A small SVG line chart for the examples: one polyline per series, linear x,
// linear or logarithmic y, a legend. Opens in any browser.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

struct Series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

/// Writes `series` as an SVG chart to `path`; throws std::runtime_error if the
/// file cannot be written. With `log_y`, values <= 0 are left out.
inline void write_line_chart(const std::string& path, const std::string& title,
                             const std::string& x_label, const std::string& y_label,
                             const std::vector<Series>& series, bool log_y) {
  const double width = 760, height = 460, left = 100, right = 170, top = 40, bottom = 60;
  const auto transform_y = [&](double y) { return log_y ? std::log10(y) : y; };
  const auto label = [](double value) {  // 3 significant digits
    std::ostringstream text;
    text << std::setprecision(3) << value;
    return text.str();
  };
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const Series& s : series) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (log_y && s.y[i] <= 0)) {
        continue;
      }
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, transform_y(s.y[i]));
      y_max = std::max(y_max, transform_y(s.y[i]));
    }
  }
  if (!(x_min < x_max)) {
    x_max = x_min + 1;
  }
  if (!(y_min < y_max)) {
    y_max = y_min + 1;
  }
  const auto px = [&](double x) {
    return left + (x - x_min) / (x_max - x_min) * (width - left - right);
  };
  const auto py = [&](double y) {
    return top + (y_max - transform_y(y)) / (y_max - y_min) * (height - top - bottom);
  };
  static const char* const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  std::ofstream out(path);
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
  out << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif' font-size='12'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='" << width / 2 << "' y='22' text-anchor='middle' font-size='15'>" << title
      << "</text>\n"
      << "<line x1='" << left << "' y1='" << height - bottom << "' x2='" << width - right
      << "' y2='" << height - bottom << "' stroke='black'/>\n"
      << "<line x1='" << left << "' y1='" << top << "' x2='" << left << "' y2='" << height - bottom
      << "' stroke='black'/>\n"
      << "<text x='" << (left + width - right) / 2 << "' y='" << height - 18
      << "' text-anchor='middle'>" << x_label << "</text>\n"
      << "<text transform='translate(18," << (top + height - bottom) / 2
      << ") rotate(-90)' text-anchor='middle'>" << y_label << (log_y ? " (log scale)" : "")
      << "</text>\n";
  for (int tick = 0; tick <= 4; ++tick) {  // y ticks
    const double t = y_min + (y_max - y_min) * tick / 4.0;
    const double value = log_y ? std::pow(10.0, t) : t;
    const double y = py(value);
    out << "<line x1='" << left - 4 << "' y1='" << y << "' x2='" << left << "' y2='" << y
        << "' stroke='black'/><text x='" << left - 6 << "' y='" << y + 4 << "' text-anchor='end'>"
        << label(value) << "</text>\n";
  }
  for (int tick = 0; tick <= 4; ++tick) {  // x ticks
    const double value = x_min + (x_max - x_min) * tick / 4.0;
    out << "<text x='" << px(value) << "' y='" << height - bottom + 16 << "' text-anchor='middle'>"
        << label(value) << "</text>\n";
  }
  for (std::size_t k = 0; k < series.size(); ++k) {
    const char* color = colors[k % std::size(colors)];
    const double legend_y = top + 20 * static_cast<double>(k);
    out << "<polyline fill='none' stroke='" << color << "' stroke-width='2' points='";
    for (std::size_t i = 0; i < series[k].x.size(); ++i) {
      if (std::isfinite(series[k].y[i]) && !(log_y && series[k].y[i] <= 0)) {
        out << px(series[k].x[i]) << ',' << py(series[k].y[i]) << ' ';
      }
    }
    out << "'/>\n<rect x='" << width - right + 15 << "' y='" << legend_y
        << "' width='14' height='3' fill='" << color << "'/><text x='" << width - right + 35
        << "' y='" << legend_y + 5 << "'>" << series[k].name << "</text>\n";
  }
  out << "</svg>\n";
}

/// The directory an example writes into: its first argument, or ".".
inline std::string output_directory(int argc, char** argv) {
  return argc > 1 ? std::string(argv[1]) : std::string(".");
}

}  // namespace examples
