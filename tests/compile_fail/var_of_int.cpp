// Must not compile: Var<int> cannot be differentiated.
#include <tinygrad/var.hpp>

#ifdef TINYGRAD_COMPILE_FAIL_CONTROL
using Element = double;
#else
using Element = int;
#endif

int main() {
  tinygrad::Var<Element> x;
  return x.value() == 0 ? 0 : 1;
}
