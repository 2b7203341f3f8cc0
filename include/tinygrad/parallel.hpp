// SPDX-License-Identifier: MIT
#pragma once

// Data-parallel gradients: the gradient of a sum of per-sample losses, with
// the samples split across threads, each recording on its own tape, and the
// per-thread gradients summed at the end.
//
//   auto [loss, gradient] = tinygrad::parallel_gradient(
//       [&](std::span<const Var<double>> p, const Sample& s) { return model_loss(p, s); },
//       parameters, samples);
//
// Tapes are per thread by construction (each worker creates its own), so the
// loss function needs no locking as long as it only reads shared data.

#include <tinygrad/var.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <ranges>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace tinygrad {

/// The sum over `samples` of loss(parameters, sample) and its gradient with
/// respect to `parameters`, computed by `threads` threads (0: one per
/// hardware thread, and never more threads than samples). Each thread records
/// the parameters once as leaves, then per sample records the loss, calls
/// backward() (which adds into the leaves' gradients) and rewinds, so its
/// memory does not grow with the number of samples. An exception thrown by
/// `loss` in any thread is rethrown here after all threads have stopped.
template <class T, class Loss, class Sample>
std::pair<T, std::vector<T>> parallel_gradient(Loss&& loss, std::span<const T> parameters,
                                               std::span<const Sample> samples,
                                               unsigned threads = 0) {
  if (threads == 0) {
    threads = std::max(1u, std::thread::hardware_concurrency());
  }
  const std::size_t workers =
      std::max<std::size_t>(1, std::min<std::size_t>(threads, samples.size()));
  std::vector<std::vector<T>> gradients(workers, std::vector<T>(parameters.size(), T(0)));
  std::vector<T> losses(workers, T(0));
  std::vector<std::exception_ptr> errors(workers);

  const auto work = [&](std::size_t w) {
    try {
      const std::size_t begin = samples.size() * w / workers;
      const std::size_t end = samples.size() * (w + 1) / workers;
      Tape<T> tape;
      std::vector<Var<T>> leaves;
      record_leaves(parameters, leaves);
      const auto after_leaves = tape.position();
      for (std::size_t k = begin; k < end; ++k) {
        const Var<T> value = loss(std::span<const Var<T>>(leaves), samples[k]);
        losses[w] += value.value();
        value.backward();
        tape.rewind(after_leaves);
      }
      read_gradients(std::span<const Var<T>>(leaves), std::span<T>(gradients[w]));
    } catch (...) {
      errors[w] = std::current_exception();
    }
  };

  std::vector<std::thread> pool;
  for (std::size_t w = 1; w < workers; ++w) {
    pool.emplace_back(work, w);
  }
  work(0);  // the calling thread takes the first share
  for (std::thread& t : pool) {
    t.join();
  }
  for (const std::exception_ptr& error : errors) {
    if (error) {
      std::rethrow_exception(error);
    }
  }
  std::pair<T, std::vector<T>> result{T(0), std::vector<T>(parameters.size(), T(0))};
  for (std::size_t w = 0; w < workers; ++w) {  // summed in a fixed order: reproducible
    result.first += losses[w];
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      result.second[i] += gradients[w][i];
    }
  }
  return result;
}

/// parallel_gradient over any contiguous ranges of parameters and samples
/// (std::vector, std::array, C arrays, spans).
template <detail::FloatingRange Parameters, class Samples, class Loss>
requires std::ranges::contiguous_range<Samples> && std::ranges::sized_range<Samples>
auto parallel_gradient(Loss&& loss, const Parameters& parameters, const Samples& samples,
                       unsigned threads = 0) {
  using T = detail::RangeElement<Parameters>;
  using Sample = detail::RangeElement<Samples>;
  return parallel_gradient<T>(std::forward<Loss>(loss), std::span<const T>(parameters),
                              std::span<const Sample>(samples), threads);
}

}  // namespace tinygrad
