// SPDX-License-Identifier: MIT
#pragma once

// Learning-rate schedules: small values that map a step number (0, 1, ...)
// to a learning rate, for any optimizer of optim.hpp:
//
//   const auto schedule = nn::warm_up(100, nn::CosineDecay<double>(1e-3, 900));
//   for (std::size_t step = 0; step < 1000; ++step) {
//     adam.set_learning_rate(schedule(step));
//     ...
//   }
//
// A step may count batches or epochs: the schedule does not know which.
// warm_up composes with any callable from a step to a rate. Bad parameters
// are std::invalid_argument, thrown by the constructor.

#include <tinygrad/detail/hyperparameters.hpp>

#include <cmath>
#include <cstddef>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>

namespace tinygrad::nn {

namespace detail {

/// Throws std::invalid_argument unless `value` is finite and at least 0.
inline void require_rate(const char* schedule, const char* name, long double value) {
  require_in_range(schedule, name, value, 0, infinity);
}

inline void require_steps(const char* schedule, const char* name, std::size_t value) {
  if (value == 0) {
    throw std::invalid_argument(std::string("nn::") + schedule + ": " + name + " is 0");
  }
}

}  // namespace detail

/// initial gamma^floor(step / every): the rate falls by gamma every `every`
/// steps.
template <class T>
class StepDecay {
 public:
  StepDecay(T initial, std::size_t every, T gamma)
      : initial_(initial), every_(every), gamma_(gamma) {
    detail::require_rate("StepDecay", "initial", initial);
    detail::require_steps("StepDecay", "every", every);
    detail::require_rate("StepDecay", "gamma", gamma);
  }
  T operator()(std::size_t step) const {
    const std::size_t decays = step / every_;  // whole periods: floor(step / every)
    return initial_ * std::pow(gamma_, static_cast<T>(decays));
  }

 private:
  T initial_;
  std::size_t every_;
  T gamma_;
};

/// initial gamma^step.
template <class T>
class ExponentialDecay {
 public:
  ExponentialDecay(T initial, T gamma) : initial_(initial), gamma_(gamma) {
    detail::require_rate("ExponentialDecay", "initial", initial);
    detail::require_rate("ExponentialDecay", "gamma", gamma);
  }
  T operator()(std::size_t step) const { return initial_ * std::pow(gamma_, static_cast<T>(step)); }

 private:
  T initial_;
  T gamma_;
};

/// From `initial` down to `final` along half a cosine over `steps` steps,
/// then `final`: final + (initial - final) (1 + cos(pi step / steps)) / 2.
template <class T>
class CosineDecay {
 public:
  CosineDecay(T initial, std::size_t steps, T final = T(0))
      : initial_(initial), steps_(steps), final_(final) {
    detail::require_rate("CosineDecay", "initial", initial);
    detail::require_steps("CosineDecay", "steps", steps);
    detail::require_rate("CosineDecay", "final", final);
  }
  T operator()(std::size_t step) const {
    if (step >= steps_) {
      return final_;
    }
    const T phase = std::numbers::pi_v<T> * static_cast<T>(step) / static_cast<T>(steps_);
    return final_ + (initial_ - final_) * (T(1) + std::cos(phase)) / T(2);
  }

 private:
  T initial_;
  std::size_t steps_;
  T final_;
};

/// A linear warm-up of `steps` steps before `schedule`: step s < steps has
/// schedule(0) (s + 1) / steps, so the last warm-up step reaches the
/// schedule's first rate; step s >= steps has schedule(s - steps).
template <class Schedule>
class WarmUp {
 public:
  WarmUp(std::size_t steps, Schedule schedule) : steps_(steps), schedule_(std::move(schedule)) {
    detail::require_steps("WarmUp", "steps", steps);
  }
  auto operator()(std::size_t step) const {
    if (step >= steps_) {
      return schedule_(step - steps_);
    }
    using Rate = decltype(schedule_(std::size_t{0}));
    return schedule_(0) * static_cast<Rate>(step + 1) / static_cast<Rate>(steps_);
  }

 private:
  std::size_t steps_;
  Schedule schedule_;
};

/// `steps` steps of linear warm-up, then `schedule`.
template <class Schedule>
WarmUp<Schedule> warm_up(std::size_t steps, Schedule schedule) {
  return WarmUp<Schedule>(steps, std::move(schedule));
}

}  // namespace tinygrad::nn
