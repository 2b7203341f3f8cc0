// Must not compile: second derivatives through a policy need second_derivative.
#include <tinygrad/var.hpp>

struct FirstOrderOnly {
  template <class T>
  static T value(T x) {
    return x * x;
  }
  template <class T>
  static T derivative(T x) {
    return 2 * x;
  }
#ifdef TINYGRAD_COMPILE_FAIL_CONTROL
  template <class T>
  static T second_derivative(T) {
    return T(2);
  }
#endif
};

int main() {
  tinygrad::Tape<double> inner;
  tinygrad::Var<double> a = 1.0;
  tinygrad::Tape<tinygrad::Var<double>> outer;
  tinygrad::Var<tinygrad::Var<double>> x = a;
  return tinygrad::activate<FirstOrderOnly>(x).value().value() > 0 ? 0 : 1;
}
