// SPDX-License-Identifier: MIT
// std::formatter<Var<T>>: std::format formats a Var as its innermost value,
// with that value's own format specification, and records nothing. Built
// only where the standard library defines __cpp_lib_format (tests/CMakeLists
// checks; CI builds it with clang++ 19 and libc++ 19, whose library has it).

#include <tinygrad/var.hpp>

#include <doctest/doctest.h>
#include <format>
#include <stdexcept>
#include <string>
#include <version>

#if !defined(__cpp_lib_format)
#error "format_test needs a standard library that defines __cpp_lib_format"
#endif

using tinygrad::Tape;
using tinygrad::Var;

TEST_CASE("std::format of a Var<double> uses the number's format specification") {
  Tape<double> tape;
  const Var<double> x = 2.0 / 3.0;
  CHECK(std::format("{}", x) == "0.6666666666666666");
  CHECK(std::format("{:.3f}", x) == "0.667");
  CHECK(std::format("{:>9.2e}|", x) == " 6.67e-01|");
  CHECK(std::format("{:+.1f} and {:08.3f}", Var<double>(-1.25), x) == "-1.2 and 0000.667");
  CHECK(std::format("{:a}", Var<double>(1.0)) == "1p+0");
}

TEST_CASE("std::format of a result, a float and a constant") {
  Tape<double> tape;
  const Var<double> x = 1.5;
  const Var<double> y = x * x + 1.0;
  CHECK(std::format("{:.2f}", y) == "3.25");
  CHECK(std::format("{:g}", tinygrad::constant(1e-7)) == "1e-07");

  Tape<float> float_tape;
  CHECK(std::format("{}", Var<float>(0.1F)) == "0.1");
  CHECK(std::format("{:.9f}", Var<float>(0.1F)) == "0.100000001");
}

TEST_CASE("std::format of a nested Var formats the innermost value") {
  Tape<double> inner;
  Tape<Var<double>> outer;
  const Var<Var<double>> x{Var<double>(0.5)};
  CHECK(std::format("{:.1f}", x) == "0.5");
  CHECK(std::format("{:6.2f}", x * x) == "  0.25");
}

TEST_CASE("std::format to a wide string") {
  Tape<double> tape;
  CHECK(std::format(L"{:.2f}", Var<double>(3.14159)) == L"3.14");
}

TEST_CASE("formatting records nothing, and a bad specification is std::format_error") {
  Tape<double> tape;
  const Var<double> x = 4.0;
  const std::size_t entries = tape.size();
  (void)std::format("{} {:.3e} {:>10}", x, x, x);
  CHECK(tape.size() == entries);
  // A format string checked at run time: an integer presentation type is
  // not one a double has.
  std::string spec = "{:d}";
  CHECK_THROWS_AS((void)std::vformat(spec, std::make_format_args(x)), std::format_error);
}
