// SPDX-License-Identifier: MIT
#pragma once

// Replaces the global operator new of the test program that includes this
// (in one of its files only) with one that counts, so that a test can prove
// that a warm computation allocates nothing: read `allocations` before and
// after.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace tinygrad_test {
inline std::atomic<long> allocations{0};
}  // namespace tinygrad_test

// The replacements pair malloc with free, correctly; g++ cannot see that
// through the inlined allocator and warns.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  tinygrad_test::allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
