// Must not compile: a policy without value(T) is rejected with a sentence.
#include <tinygrad/var.hpp>

struct Broken {
#ifdef TINYGRAD_COMPILE_FAIL_CONTROL
  template <class T>
  static T value(T x) {
    return x;
  }
#endif
  template <class T>
  static T derivative(T) {
    return T(1);
  }
};

int main() {
  tinygrad::Var<double> x = 1.0;
  return tinygrad::activate<Broken>(x).value() > 0 ? 0 : 1;
}
