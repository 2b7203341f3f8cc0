// SPDX-License-Identifier: MIT
#pragma once

// A small SVG line chart for the examples: one line per series, linear x,
// linear or logarithmic y, a legend. Opens in any browser.
//
// What makes it readable: ticks at round values (1, 2 or 5 times a power of
// ten; whole numbers where every x is one; powers of ten on a log axis, every
// decade or every few), light grid lines at the ticks, and series that
// coincide told apart three ways: each series has its own dash pattern and
// marker, later series are drawn thinner on top of earlier ones, and the
// legend says which series another one coincides with.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <initializer_list>
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

/// Ticks of one axis, and the range they span (the axis's own range).
struct Ticks {
  std::vector<double> at;  // on a log axis: the exponents
  double low = 0;
  double high = 1;
};

/// Round ticks covering [low, high]: a step of 1, 2 or 5 times a power of
/// ten, the smallest that gives at most `most` intervals (at least 1 when
/// `whole` says every value is a whole number); the range is widened to
/// whole steps.
inline Ticks linear_ticks(double low, double high, bool whole, int most = 6) {
  if (!(low < high)) {
    high = low + 1;
  }
  const double raw = (high - low) / most;
  double step = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (step * factor >= raw * (1 - 1e-12)) {
      step *= factor;
      break;
    }
  }
  if (whole) {
    step = std::max(step, 1.0);
  }
  Ticks ticks;
  ticks.low = std::floor(low / step + 1e-9) * step;
  ticks.high = std::ceil(high / step - 1e-9) * step;
  const auto count = static_cast<long>(std::lround((ticks.high - ticks.low) / step));
  for (long k = 0; k <= count; ++k) {
    ticks.at.push_back(ticks.low + static_cast<double>(k) * step);
  }
  return ticks;
}

/// Decade ticks covering [low, high] (both > 0): exponents that are
/// multiples of 1, 2, 5, 10, ... decades, at most `most` intervals.
inline Ticks decade_ticks(double low, double high, int most = 7) {
  double first = std::floor(std::log10(low));
  double last = std::ceil(std::log10(high));
  if (!(first < last)) {
    last = first + 1;
  }
  return linear_ticks(first, last, true, most);
}

/// A tick label: whole numbers without a fraction, others to 3 digits.
inline std::string number_label(double value) {
  std::ostringstream text;
  if (value == std::round(value) && std::fabs(value) < 1e15) {
    text << static_cast<long long>(value);
  } else {
    text.precision(3);
    text << value;
  }
  return text.str();
}

/// The index of an earlier series that `series[k]` coincides with (same x,
/// y equal to a relative 1e-9), or -1.
inline long coincides_with(const std::vector<Series>& series, std::size_t k) {
  for (std::size_t j = 0; j < k; ++j) {
    if (series[j].x != series[k].x || series[j].y.size() != series[k].y.size()) {
      continue;
    }
    bool same = true;
    for (std::size_t i = 0; same && i < series[k].y.size(); ++i) {
      const double a = series[j].y[i];
      const double b = series[k].y[i];
      same = a == b || std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)) ||
             (std::isnan(a) && std::isnan(b));
    }
    if (same) {
      return static_cast<long>(j);
    }
  }
  return -1;
}

/// Series k's marker at (x, y): a circle, square, triangle, diamond,
/// inverted triangle or cross, white inside, so that markers on one point
/// stay apart.
inline std::string marker(std::size_t k, double x, double y, const char* color) {
  std::ostringstream m;
  const std::string paint = std::string("fill='white' stroke='") + color + "' stroke-width='1.5'";
  const auto polygon = [&](std::initializer_list<double> xy) {
    m << "<polygon " << paint << " points='";
    for (auto it = xy.begin(); it != xy.end(); it += 2) {
      m << x + *it << ',' << y + *(it + 1) << ' ';
    }
    m << "'/>";
  };
  switch (k % 6) {
    case 0:
      m << "<circle cx='" << x << "' cy='" << y << "' r='3.5' " << paint << "/>";
      break;
    case 1:
      polygon({-3.5, -3.5, 3.5, -3.5, 3.5, 3.5, -3.5, 3.5});
      break;
    case 2:
      polygon({0, -4.5, 4, 3, -4, 3});
      break;
    case 3:
      polygon({0, -4.5, 4.5, 0, 0, 4.5, -4.5, 0});
      break;
    case 4:
      polygon({0, 4.5, 4, -3, -4, -3});
      break;
    default:
      m << "<path d='M" << x - 4 << ',' << y - 4 << " L" << x + 4 << ',' << y + 4 << " M" << x - 4
        << ',' << y + 4 << " L" << x + 4 << ',' << y - 4 << "' stroke='" << color
        << "' stroke-width='1.5'/>";
  }
  return m.str();
}

/// Writes `series` as an SVG chart to `path`; throws std::runtime_error if the
/// file cannot be written. The labels should carry the units. With `log_y`,
/// values <= 0 are left out.
inline void write_line_chart(const std::string& path, const std::string& title,
                             const std::string& x_label, const std::string& y_label,
                             const std::vector<Series>& series, bool log_y) {
  const double width = 780, height = 470, left = 90, right = 230, top = 40, bottom = 60;
  const auto drawn = [&](double y) { return std::isfinite(y) && !(log_y && y <= 0); };
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  bool whole_x = true;
  for (const Series& s : series) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!drawn(s.y[i])) {
        continue;
      }
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
      whole_x = whole_x && s.x[i] == std::round(s.x[i]);
    }
  }
  if (!(x_min <= x_max)) {  // nothing to draw
    x_min = 0;
    x_max = 1;
    y_min = 1;
    y_max = 10;
  }
  const Ticks x_ticks = linear_ticks(x_min, x_max, whole_x);
  const Ticks y_ticks = log_y ? decade_ticks(y_min, y_max) : linear_ticks(y_min, y_max, false);
  const auto px = [&](double x) {
    return left + (x - x_ticks.low) / (x_ticks.high - x_ticks.low) * (width - left - right);
  };
  const auto py_axis = [&](double t) {  // t: a value, or on a log axis its exponent
    return top + (y_ticks.high - t) / (y_ticks.high - y_ticks.low) * (height - top - bottom);
  };
  const auto py = [&](double y) { return py_axis(log_y ? std::log10(y) : y); };

  static const char* const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  static const char* const dashes[] = {"", "9,4", "3,3", "12,4,3,4", "6,3,2,3,2,3", "2,6"};
  std::ofstream out(path);
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
  out << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif' font-size='12'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='" << (left + width - right) / 2 << "' y='22' text-anchor='middle' "
      << "font-size='15'>" << title << "</text>\n";
  // Grid and ticks.
  for (const double t : y_ticks.at) {
    const double y = py_axis(t);
    out << "<line x1='" << left << "' y1='" << y << "' x2='" << width - right << "' y2='" << y
        << "' stroke='#e4e4e4'/><text x='" << left - 6 << "' y='" << y + 4
        << "' text-anchor='end'>";
    if (log_y) {
      out << "10<tspan dy='-6' font-size='9'>" << number_label(t) << "</tspan>";
    } else {
      out << number_label(t);
    }
    out << "</text>\n";
  }
  for (const double t : x_ticks.at) {
    const double x = px(t);
    out << "<line x1='" << x << "' y1='" << top << "' x2='" << x << "' y2='" << height - bottom
        << "' stroke='#e4e4e4'/><text x='" << x << "' y='" << height - bottom + 16
        << "' text-anchor='middle'>" << number_label(t) << "</text>\n";
  }
  out << "<rect x='" << left << "' y='" << top << "' width='" << width - left - right
      << "' height='" << height - top - bottom << "' fill='none' stroke='black'/>\n"
      << "<text x='" << (left + width - right) / 2 << "' y='" << height - 18
      << "' text-anchor='middle'>" << x_label << "</text>\n"
      << "<text transform='translate(20," << (top + height - bottom) / 2
      << ") rotate(-90)' text-anchor='middle'>" << y_label << (log_y ? " (log scale)" : "")
      << "</text>\n";

  // Lines, thinner for later series so that one drawn over another leaves
  // the other's edges visible; markers at up to about 12 points of each,
  // staggered between series.
  const double thickest = 1.2 + 0.8 * static_cast<double>(series.size());
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const char* color = colors[k % std::size(colors)];
    const char* dash = dashes[k % std::size(dashes)];
    const double stroke = thickest - 0.8 * static_cast<double>(k);
    out << "<polyline fill='none' stroke='" << color << "' stroke-width='" << stroke << "'";
    if (*dash != '\0') {
      out << " stroke-dasharray='" << dash << "'";
    }
    out << " points='";
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (drawn(s.y[i])) {
        out << px(s.x[i]) << ',' << py(s.y[i]) << ' ';
      }
    }
    out << "'/>\n";
    const std::size_t every = std::max<std::size_t>(1, s.x.size() / 12);
    const std::size_t offset = every * k / std::max<std::size_t>(1, series.size());
    for (std::size_t i = offset; i < s.x.size(); i += every) {
      if (drawn(s.y[i])) {
        out << marker(k, px(s.x[i]), py(s.y[i]), color);
      }
    }
  }

  // Legend: each series' line, marker and name; "= <name>" where it
  // coincides with an earlier one.
  for (std::size_t k = 0; k < series.size(); ++k) {
    const char* color = colors[k % std::size(colors)];
    const char* dash = dashes[k % std::size(dashes)];
    const double y = top + 12 + 22 * static_cast<double>(k);
    const double x = width - right + 15;
    out << "<line x1='" << x << "' y1='" << y << "' x2='" << x + 36 << "' y2='" << y << "' stroke='"
        << color << "' stroke-width='2'";
    if (*dash != '\0') {
      out << " stroke-dasharray='" << dash << "'";
    }
    out << "/>" << marker(k, x + 18, y, color) << "<text x='" << x + 44 << "' y='" << y + 4 << "'>"
        << series[k].name;
    const long same = coincides_with(series, k);
    if (same >= 0) {
      out << " (= " << series[static_cast<std::size_t>(same)].name << ")";
    }
    out << "</text>\n";
  }
  out << "</svg>\n";
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

/// The directory an example writes into: its first argument, or "."; made
/// if it does not exist.
inline std::string output_directory(int argc, char** argv) {
  const std::string directory = argc > 1 ? std::string(argv[1]) : std::string(".");
  std::filesystem::create_directories(directory);
  return directory;
}

}  // namespace examples
