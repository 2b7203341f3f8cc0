// SPDX-License-Identifier: MIT
#pragma once

// The tape benchmark's workloads, each written once as a template over the
// scalar type S, so that the same code runs on double (the primal), on
// tinygrad::Var<double> and on other AD libraries' types. `sigmoid` is passed
// in because every library spells it differently.
//
//   W1  the notebook network with L layers: a_0 = 1, z_i = w_i a_(i-1) + b_i,
//       a_i = sigmoid(z_i), loss = 0.5 (1 - a_L)^2; w_i = 0.5, b_i = 0.
//   W2  an MLP 16-64-64-1, sigmoid hidden layers, linear output, half squared
//       error against 0.5; parameters w_k = 0.1 sin(k), inputs x_k = cos(k);
//       every dot product recorded scalar operation by scalar operation.
//   W3  Rosenbrock, sum of 100 (x_(i+1) - x_i^2)^2 + (1 - x_i)^2, N = 10^4,
//       x_i = 0.5 + 0.3 sin(i).
//   W4  sum of sigmoid(w_i x_i), N = 10^5, w_i = 0.5 sin(i), x_i = cos(0.37 i);
//       the x_i are data, the gradient is with respect to the w_i.

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace workloads {

// ---- W1 ----

template <class S, class Sigmoid>
S w1_loss(std::span<const S> w, std::span<const S> b, Sigmoid sigmoid) {
  S a = 1.0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    a = sigmoid(w[i] * a + b[i]);
  }
  const S error = 1.0 - a;
  return 0.5 * error * error;
}

/// W1's gradient by hand: the chain rule written out, as the notebook did.
struct W1HandAdjoint {
  explicit W1HandAdjoint(std::size_t layers) : activations(layers + 1), dw(layers), db(layers) {}

  void operator()(std::span<const double> w, std::span<const double> b) {
    activations[0] = 1.0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      activations[i + 1] = 1.0 / (1.0 + std::exp(-(w[i] * activations[i] + b[i])));
    }
    double da = -(1.0 - activations[w.size()]);
    for (std::size_t i = w.size(); i-- > 0;) {
      const double a = activations[i + 1];
      const double dz = da * a * (1.0 - a);
      dw[i] = dz * activations[i];
      db[i] = dz;
      da = dz * w[i];
    }
  }

  std::vector<double> activations, dw, db;
};

// ---- W2 ----

inline constexpr std::size_t w2_inputs = 16, w2_hidden = 64;
inline constexpr std::size_t w2_parameters =
    w2_hidden * w2_inputs + w2_hidden + w2_hidden * w2_hidden + w2_hidden + w2_hidden + 1;

inline std::vector<double> w2_initial_parameters() {
  std::vector<double> p(w2_parameters);
  for (std::size_t k = 0; k < p.size(); ++k) {
    p[k] = 0.1 * std::sin(static_cast<double>(k));
  }
  return p;
}

inline std::vector<double> w2_input() {
  std::vector<double> x(w2_inputs);
  for (std::size_t k = 0; k < x.size(); ++k) {
    x[k] = std::cos(static_cast<double>(k));
  }
  return x;
}

/// How W2's dot products add up their terms: `z = z + term`, or `z += term`
/// (which a tape may record as one entry per sum: design.md, "Accumulating
/// into one entry").
enum class Sums { plus, compound };

/// Parameter layout: W1 (64 x 16), b1, W2 (64 x 64), b2, w3 (64), b3.
/// `h1` and `h2` are the caller's scratch (64 each), reused across calls.
template <class S, Sums sums = Sums::plus, class Sigmoid>
S w2_loss(std::span<const S> p, std::span<const double> x, std::span<S> h1, std::span<S> h2,
          Sigmoid sigmoid) {
  std::size_t k = 0;
  const std::size_t b1 = w2_hidden * w2_inputs;
  for (std::size_t j = 0; j < w2_hidden; ++j) {
    S z = p[b1 + j];
    for (std::size_t i = 0; i < w2_inputs; ++i) {
      if constexpr (sums == Sums::compound) {
        z += p[k++] * x[i];
      } else {
        z = z + p[k++] * x[i];
      }
    }
    h1[j] = sigmoid(z);
  }
  k = b1 + w2_hidden;
  const std::size_t b2 = k + w2_hidden * w2_hidden;
  for (std::size_t j = 0; j < w2_hidden; ++j) {
    S z = p[b2 + j];
    for (std::size_t i = 0; i < w2_hidden; ++i) {
      if constexpr (sums == Sums::compound) {
        z += p[k++] * h1[i];
      } else {
        z = z + p[k++] * h1[i];
      }
    }
    h2[j] = sigmoid(z);
  }
  k = b2 + w2_hidden;
  S out = p[k + w2_hidden];
  for (std::size_t i = 0; i < w2_hidden; ++i) {
    if constexpr (sums == Sums::compound) {
      out += p[k + i] * h2[i];
    } else {
      out = out + p[k + i] * h2[i];
    }
  }
  const S error = out - 0.5;
  return 0.5 * error * error;
}

/// W2's gradient by hand: backpropagation written out for this network.
struct W2HandAdjoint {
  W2HandAdjoint()
      : h1(w2_hidden), h2(w2_hidden), d1(w2_hidden), d2(w2_hidden), grad(w2_parameters) {}

  void operator()(std::span<const double> p, std::span<const double> x) {
    const auto logistic = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
    const std::size_t w1 = 0, b1 = w2_hidden * w2_inputs, w2 = b1 + w2_hidden,
                      b2 = w2 + w2_hidden * w2_hidden, w3 = b2 + w2_hidden, b3 = w3 + w2_hidden;
    for (std::size_t j = 0; j < w2_hidden; ++j) {
      double z = p[b1 + j];
      for (std::size_t i = 0; i < w2_inputs; ++i) {
        z += p[w1 + j * w2_inputs + i] * x[i];
      }
      h1[j] = logistic(z);
    }
    for (std::size_t j = 0; j < w2_hidden; ++j) {
      double z = p[b2 + j];
      for (std::size_t i = 0; i < w2_hidden; ++i) {
        z += p[w2 + j * w2_hidden + i] * h1[i];
      }
      h2[j] = logistic(z);
    }
    double out = p[b3];
    for (std::size_t i = 0; i < w2_hidden; ++i) {
      out += p[w3 + i] * h2[i];
    }
    const double dout = out - 0.5;
    grad[b3] = dout;
    for (std::size_t i = 0; i < w2_hidden; ++i) {
      grad[w3 + i] = dout * h2[i];
      d2[i] = dout * p[w3 + i] * h2[i] * (1.0 - h2[i]);
      grad[b2 + i] = d2[i];
    }
    for (std::size_t i = 0; i < w2_hidden; ++i) {
      d1[i] = 0.0;
    }
    for (std::size_t j = 0; j < w2_hidden; ++j) {
      for (std::size_t i = 0; i < w2_hidden; ++i) {
        grad[w2 + j * w2_hidden + i] = d2[j] * h1[i];
        d1[i] += d2[j] * p[w2 + j * w2_hidden + i];
      }
    }
    for (std::size_t j = 0; j < w2_hidden; ++j) {
      const double dz = d1[j] * h1[j] * (1.0 - h1[j]);
      grad[b1 + j] = dz;
      for (std::size_t i = 0; i < w2_inputs; ++i) {
        grad[w1 + j * w2_inputs + i] = dz * x[i];
      }
    }
  }

  std::vector<double> h1, h2, d1, d2, grad;
};

// ---- W3 ----

inline std::vector<double> w3_point(std::size_t n) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = 0.5 + 0.3 * std::sin(static_cast<double>(i));
  }
  return x;
}

template <class S>
S w3_rosenbrock(std::span<const S> x) {
  S sum = 0.0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const S t = x[i + 1] - x[i] * x[i];
    const S u = 1.0 - x[i];
    sum = sum + 100.0 * t * t + u * u;
  }
  return sum;
}

// ---- W4 ----

inline std::vector<double> w4_weights(std::size_t n) {
  std::vector<double> w(n);
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = 0.5 * std::sin(static_cast<double>(i));
  }
  return w;
}

inline std::vector<double> w4_data(std::size_t n) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = std::cos(0.37 * static_cast<double>(i));
  }
  return x;
}

template <class S, class Sigmoid>
S w4_sum(std::span<const S> w, std::span<const double> x, Sigmoid sigmoid) {
  S sum = 0.0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    sum = sum + sigmoid(w[i] * x[i]);
  }
  return sum;
}

}  // namespace workloads
