// A user's program: the whole public API of the core, as the README shows it.
#include <tinygrad/var.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <iostream>

using tinygrad::Var;

int main() {
  tinygrad::Tape<double> tape;
  Var<double> x = 1.5;
  Var<double> y(2.0);
  auto z = x * y + 3.0 - x / y;
  z += x;
  z -= 1;
  z *= y;
  z /= 2.0;
  auto a = tinygrad::activate<tinygrad::Sigmoid>(z);
  auto b = tinygrad::sigmoid(z) + tinygrad::relu(z);
  a.backward();
  const double gx = x.grad();
  const double vx = x.value();
  tape.zero_grad();
  auto mark = tape.position();
  auto m = exp(x) + log(y) + sqrt(x) + sin(x) + cos(x) + tan(x) + tanh(x) + abs(x) + pow(x, y) +
           pow(x, 2) + pow(2, x) + exp2(x) + expm1(x) + log2(x) + log10(x) + log1p(x) + cbrt(x) +
           asin(x / 4) + acos(x / 4) + atan(x) + atan2(x, y) + sinh(x) + cosh(x) + asinh(x) +
           acosh(y) + atanh(x / 4) + hypot(x, y) + erf(x) + erfc(x) + min(x, y) + max(x, y);
  m.backward();
  tape.rewind(mark);
  tape.clear();
  std::array<Var<float>, 64> many;
  const Var<float> f = 0.5f * many[0] * 2;
  const Var<long double> l = 3;
  std::cout << "consumer: z = " << z << ", b = " << b << ", f = " << f << ", l = " << l << '\n';
  // d sigmoid(z)/dx at the values above, by hand: z = ((x*y + 3 - x/y + x - 1) * y) / 2.
  const double zv = ((1.5 * 2 + 3 - 0.75 + 1.5 - 1) * 2) / 2;
  const double s = 1 / (1 + std::exp(-zv));
  const double expected = s * (1 - s) * (2 - 0.5 + 1) * 2 / 2;
  const bool ok = std::abs(gx - expected) < 1e-12 && vx == 1.5 && (x < y) && !(x == y);
  std::printf("consumer: dsigmoid/dx = %.12f (expected %.12f): %s\n", gx, expected,
              ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
