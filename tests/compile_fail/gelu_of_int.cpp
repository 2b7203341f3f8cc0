// Must not compile: GELU of an int (rejected by deduction, like every policy;
// GELU once had float overloads an int would have converted to).
#include <tinygrad/var.hpp>

#ifdef TINYGRAD_COMPILE_FAIL_CONTROL
constexpr double x = 1.0;
#else
constexpr int x = 1;
#endif

int main() {
  return tinygrad::GELU::value(x) > 0 ? 0 : 1;
}
