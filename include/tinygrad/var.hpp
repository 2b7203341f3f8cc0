// SPDX-License-Identifier: MIT
#pragma once

// The entry point of tinygrad. Var<T> is a value that records every operation
// on it onto the current Tape<T>; backward() then fills in the gradients.
//
//   tinygrad::Var<double> x = 1.5, y = 2.0;
//   auto z = x * y + tinygrad::sigmoid(x);
//   z.backward();                       // x.grad() == dz/dx, y.grad() == dz/dy
//
// One include is enough for all of it: Var and its arithmetic, the
// elementary functions and activations on Vars (and on Duals, forward mode),
// and the activations' array kernels. docs/design.md maps the headers.

#include <tinygrad/activation_kernels.hpp>  // forward/backward<Policy> over arrays
#include <tinygrad/dual.hpp>                // Dual<T, N>: forward mode
#include <tinygrad/math.hpp>                // exp, log, ..., activate<Policy>
#include <tinygrad/tape.hpp>                // Tape<T>: the recording
#include <tinygrad/var_type.hpp>            // Var<T>, + - * /, comparisons
