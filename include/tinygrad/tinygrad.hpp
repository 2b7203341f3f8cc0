// SPDX-License-Identifier: MIT
#pragma once

// Everything tinygrad offers, in one include. <tinygrad/var.hpp> is enough for
// Var, Tape, the elementary functions and the activation policies.

#include <tinygrad/activation.hpp>
#include <tinygrad/activation_kernels.hpp>
#include <tinygrad/diagnostics.hpp>
#include <tinygrad/dual.hpp>
#include <tinygrad/error.hpp>
#include <tinygrad/functional.hpp>
#include <tinygrad/graphviz.hpp>
#include <tinygrad/instruction_set.hpp>
#include <tinygrad/loss.hpp>
#include <tinygrad/math.hpp>
#include <tinygrad/model_file.hpp>
#include <tinygrad/nn.hpp>
#include <tinygrad/optim.hpp>
#include <tinygrad/parallel.hpp>
#include <tinygrad/schedule.hpp>
#include <tinygrad/sparsity.hpp>
#include <tinygrad/tape.hpp>
#include <tinygrad/trace.hpp>
#include <tinygrad/var.hpp>
