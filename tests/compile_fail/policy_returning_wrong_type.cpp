// Must not compile: value(T) must return T, not something convertible to it.
#include <tinygrad/var.hpp>

struct Broken {
#ifdef TINYGRAD_COMPILE_FAIL_CONTROL
  static double value(double x) {
    return x;
  }
#else
  static int value(double x) {
    return static_cast<int>(x);
  }
#endif
  static double derivative(double) {
    return 1.0;
  }
};

int main() {
  tinygrad::Var<double> x = 1.0;
  return tinygrad::activate<Broken>(x).value() > 0 ? 0 : 1;
}
