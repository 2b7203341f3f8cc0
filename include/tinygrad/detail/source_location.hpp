// SPDX-License-Identifier: MIT
#pragma once

// Where the user wrote a recording operation, for anomaly reports. See
// docs/design.md, "Anomaly detection".

#include <cstdint>
#include <type_traits>
#if __has_include(<source_location>)
#include <source_location>
#endif

namespace tinygrad::detail {

/// A file and line, captured as a default argument: `void f(SourceLocation
/// where = SourceLocation::current())` sees the line that called f.
///
/// With std::source_location (g++) it is one pointer to a static record, so
/// passing it down the recording path costs one register. clang++ 14 with
/// libstdc++ 12 has no std::source_location; there the compilers' builtins
/// give the same, as two words. Default-constructed: not known (file name "").
#if defined(__cpp_lib_source_location)
class SourceLocation {
 public:
  constexpr SourceLocation() noexcept = default;
  [[nodiscard]] static constexpr SourceLocation current(
      std::source_location location = std::source_location::current()) noexcept {
    return SourceLocation(location);
  }
  [[nodiscard]] constexpr const char* file_name() const noexcept { return location_.file_name(); }
  [[nodiscard]] constexpr std::uint32_t line() const noexcept { return location_.line(); }

 private:
  constexpr explicit SourceLocation(std::source_location location) noexcept : location_(location) {}
  std::source_location location_{};
};
#else
class SourceLocation {
 public:
  constexpr SourceLocation() noexcept = default;
  [[nodiscard]] static constexpr SourceLocation current(
      const char* file = __builtin_FILE(), std::uint32_t line = __builtin_LINE()) noexcept {
    return SourceLocation(file, line);
  }
  [[nodiscard]] constexpr const char* file_name() const noexcept { return file_; }
  [[nodiscard]] constexpr std::uint32_t line() const noexcept { return line_; }

 private:
  constexpr SourceLocation(const char* file, std::uint32_t line) noexcept
      : file_(file), line_(line) {}
  const char* file_ = "";
  std::uint32_t line_ = 0;
};
#endif

/// An argument together with where the call was written. Operators cannot
/// have default arguments, so an operator takes its Var operand as a Located
/// (var_type.hpp): the implicit conversion at the call site runs the
/// constructor, whose default argument captures the caller's line.
///
/// V is `const Var` for an operand, which may be an rvalue: `rvalue` then
/// points to it, and the operation may take over its tape entry (fusion,
/// docs/design.md). V is `Var` for the left side of a compound assignment,
/// which rebinds it: an lvalue.
template <class V>
struct Located {
  using Mutable = std::remove_const_t<V>;

  Located(V& value,  // NOLINT(google-explicit-constructor): the conversion is the point
          SourceLocation location = SourceLocation::current()) noexcept
      : argument(value), where(location) {}
  Located(Mutable&& value,  // NOLINT(google-explicit-constructor)
          SourceLocation location = SourceLocation::current()) noexcept requires std::is_const_v<V>
      : argument(value), rvalue(&value), where(location) {}

  V& argument;
  Mutable* rvalue = nullptr;
  SourceLocation where;
};

}  // namespace tinygrad::detail
