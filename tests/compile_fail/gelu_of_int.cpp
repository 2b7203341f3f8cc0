// Must not compile: GELU of an int (it has float overloads an int would
// otherwise convert to; every other policy rejects an int by deduction).
#include <tinygrad/var.hpp>

#ifdef TINYGRAD_COMPILE_FAIL_CONTROL
constexpr double x = 1.0;
#else
constexpr int x = 1;
#endif

int main() {
  return tinygrad::GELU::value(x) > 0 ? 0 : 1;
}
