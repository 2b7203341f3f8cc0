// SPDX-License-Identifier: MIT
// The notebook's activations over a whole batch: forward<Sigmoid> and
// backward<Sigmoid> over a million floats, with the instruction set tinygrad
// chose for this processor and with the build's own (compiled) code, and the
// same layer recorded on the tape. The program checks that the three agree
// (values: the compiled kernel with the tape bit for bit, the chosen one
// within a few ulp; gradients: within a few ulp of 1 times dy, the accuracy
// of a derivative formed from y), and prints how long each kernel took (one
// run: for orientation only; bench/activation_bench.cpp measures properly).
//
//   batch_activations            # exit status 0 if everything agrees

#include <tinygrad/var.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <vector>

namespace {

using tinygrad::InstructionSet;

/// |a - b| in units of the last place of b (float).
double ulps_apart(float a, float b) {
  if (a == b) {
    return 0;
  }
  const float ulp =
      std::nextafter(std::abs(b), std::numeric_limits<float>::infinity()) - std::abs(b);
  return std::abs(double(a) - double(b)) / double(ulp);
}

/// |a - b| in units of float's epsilon times |scale|: how a backward pass from
/// y is accurate (sigmoid's y (1 - y) keeps y's absolute error, not a
/// relative one, where y is near 1).
double epsilons_apart(float a, float b, float scale) {
  return std::abs(double(a) - double(b)) /
         (double(std::numeric_limits<float>::epsilon()) * std::abs(double(scale)));
}

/// Runs `kernel` once and returns its time in milliseconds.
template <class F>
double milliseconds(F kernel) {
  const auto start = std::chrono::steady_clock::now();
  kernel();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main() {
  // The notebook's first layer, z = w x + b with w = 0.5 and b = 0, over a
  // batch of inputs spread across [-8, 8], and an upstream gradient dL/da.
  constexpr std::size_t n = 1 << 20;
  std::vector<float> z(n);
  std::vector<float> upstream(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float x = -16.0f + 32.0f * float(i) / float(n);
    z[i] = 0.5f * x;
    upstream[i] = 1.0f - 0.5f * std::cos(0.001f * float(i));
  }

  const InstructionSet chosen = tinygrad::kernel_instruction_set();
  std::printf("kernels run with: %s\n", tinygrad::instruction_set_name(chosen));

  std::vector<float> a(n);
  std::vector<float> dz(n);
  const double forward_ms = milliseconds([&] {
    tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(z), std::span<float>(a));
  });
  const double backward_ms = milliseconds([&] {
    tinygrad::backward<tinygrad::Sigmoid>(std::span<const float>(z), std::span<const float>(a),
                                          std::span<const float>(upstream), std::span<float>(dz));
  });

  // The build's own code: what P::value gives, and what the tape records.
  std::vector<float> a_compiled(n);
  std::vector<float> dz_compiled(n);
  const double forward_compiled_ms = milliseconds([&] {
    tinygrad::forward<tinygrad::Sigmoid>(std::span<const float>(z), std::span<float>(a_compiled),
                                         InstructionSet::compiled);
  });
  const double backward_compiled_ms = milliseconds([&] {
    tinygrad::backward<tinygrad::Sigmoid>(
        std::span<const float>(z), std::span<const float>(a_compiled),
        std::span<const float>(upstream), std::span<float>(dz_compiled), InstructionSet::compiled);
  });
  std::printf("forward  %8.3f ms chosen, %8.3f ms compiled\n", forward_ms, forward_compiled_ms);
  std::printf("backward %8.3f ms chosen, %8.3f ms compiled\n", backward_ms, backward_compiled_ms);

  bool ok = true;
  double worst_forward = 0;
  double worst_backward = 0;
  for (std::size_t i = 0; i < n; ++i) {
    worst_forward = std::max(worst_forward, ulps_apart(a[i], a_compiled[i]));
    worst_backward = std::max(worst_backward, epsilons_apart(dz[i], dz_compiled[i], upstream[i]));
  }
  std::printf("chosen vs compiled: forward within %.2f ulp, backward within %.2f eps * dy\n",
              worst_forward, worst_backward);
  // Each forward is within 2 ulp of the exact sigmoid, so within 4 of the
  // other; each backward within a few eps * dy of the exact derivative.
  if (worst_forward > 4 || worst_backward > 8) {
    std::printf("FAIL: the chosen kernels are further from the compiled ones than promised\n");
    ok = false;
  }

  // The same layer on the tape, for every 256th element of the batch
  // (across the whole range of z): activate<Sigmoid>
  // over a span of Vars, and a loss whose gradient with respect to a is the
  // upstream gradient. The values must equal the compiled kernel's bit for
  // bit; the tape's dL/dz is upstream * Sigmoid::derivative(z), which the
  // kernel's upstream * y (1 - y) approaches within a few eps * upstream.
  constexpr std::size_t stride = 256;
  constexpr std::size_t slice = n / stride;
  tinygrad::Tape<float> tape;
  std::vector<tinygrad::Var<float>> z_vars;
  for (std::size_t i = 0; i < slice; ++i) {
    z_vars.emplace_back(z[i * stride]);
  }
  std::vector<tinygrad::Var<float>> a_vars(slice);
  tinygrad::activate<tinygrad::Sigmoid>(std::span<const tinygrad::Var<float>>(z_vars),
                                        std::span<tinygrad::Var<float>>(a_vars));
  tinygrad::Var<float> loss = 0.0f;
  for (std::size_t i = 0; i < slice; ++i) {
    loss = loss + upstream[i * stride] * a_vars[i];
  }
  loss.backward();
  std::size_t value_mismatches = 0;
  double worst_gradient = 0;
  for (std::size_t i = 0; i < slice; ++i) {
    if (a_vars[i].value() != a_compiled[i * stride]) {
      ++value_mismatches;
    }
    worst_gradient =
        std::max(worst_gradient,
                 epsilons_apart(dz_compiled[i * stride], z_vars[i].grad(), upstream[i * stride]));
  }
  std::printf(
      "tape vs compiled kernel, %zu elements: %zu values differ, gradients within %.2f "
      "eps * dy\n",
      slice, value_mismatches, worst_gradient);
  if (value_mismatches != 0 || worst_gradient > 4) {
    std::printf("FAIL: the tape and the compiled kernels disagree\n");
    ok = false;
  }
  std::printf(ok ? "All checks passed.\n" : "Some checks failed.\n");
  return ok ? 0 : 1;
}
