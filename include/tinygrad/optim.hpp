// SPDX-License-Identifier: MIT
#pragma once

// Optimizers over parameters and their gradients, and clipping by norm.
//
// An optimizer steps any number of parameter sources at once:
// - a model: anything with for_each_layer(f) whose layers have parameters()
//   and gradients() spans of equal size (nn::Sequential, nn::Dense);
// - a ParameterBlock: one span of values and one of their gradients;
// - a range of ParameterBlocks;
// or a plain pair of spans, step(values, gradients). The blocks of one step,
// in order, are the optimizer's parameters: its state (momentum, moments)
// belongs to them, so every later step must pass blocks of the same sizes.
// Everything is checked before any value changes.
//
// Optimizers read gradients and never reset them: a model's
// collect_gradients() overwrites its gradients, and spans belong to the
// caller (Tape::zero_grad() resets a tape's).

#include <tinygrad/detail/hyperparameters.hpp>

#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinygrad::nn {

/// One block of parameters: their values and their gradients, in the same
/// order and of the same length.
template <class T>
struct ParameterBlock {
  std::span<T> values;
  std::span<const T> gradients;
};

/// What an optimizer has learnt, apart from its hyperparameters: for saving
/// it with a model (model_file.hpp) and restoring it to continue training.
/// `vectors` are the optimizer's per-parameter state (SGD: the velocity;
/// Adam and AdamW: the first, then the second moment estimates), each as
/// long as all its blocks together, block after block. Before the first
/// step, steps is 0, block_sizes is empty and so is each vector.
template <class T>
struct OptimizerState {
  std::string optimizer;  // "SGD", "Adam", "AdamW"
  std::uint64_t steps = 0;
  std::vector<std::size_t> block_sizes;
  std::vector<std::vector<T>> vectors;
};

namespace detail {

template <class Model>
concept Layered = requires(Model& model) {
  model.for_each_layer([](auto&) {});
};

template <class Part, class T>
concept BlockRange = std::ranges::input_range<Part> &&
    std::convertible_to<std::ranges::range_reference_t<Part>, ParameterBlock<T>>;

/// What an optimizer over T can step: a model, a block, or a range of blocks.
template <class Part, class T>
concept ParameterSource = Layered<std::remove_cvref_t<Part>> ||
    std::convertible_to<Part, ParameterBlock<T>> || BlockRange<Part, T>;

/// Where a block's gradients come from, for the checks against stale ones:
/// a layer that reports gradient_status() (nn::Dense) gives how many times
/// its gradients were collected, and whether it ran forward passes but
/// never collected any. Blocks and spans report nothing.
struct Provenance {
  bool reported = false;
  bool never_collected = false;
  std::uint64_t collections = 0;
};

template <class Layer>
concept ReportsGradientStatus = requires(const Layer& layer) {
  { layer.gradient_status().never_collected } -> std::convertible_to<bool>;
  { layer.gradient_status().collections } -> std::convertible_to<std::uint64_t>;
};

/// The blocks of one step, and what the optimizer's state was made for.
/// gather() collects and checks the blocks; it throws, naming the optimizer
/// and the block, before anything changes.
template <class T>
class Blocks {
 public:
  template <class... Parts>
  std::span<const ParameterBlock<T>> gather(const char* optimizer, Parts&&... parts) {
    blocks_.clear();  // keep their capacity: a warm step allocates nothing
    provenances_.clear();
    (append(std::forward<Parts>(parts)), ...);
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const ParameterBlock<T>& block = blocks_[k];
      if (block.values.size() != block.gradients.size()) {
        throw std::invalid_argument(std::string("nn::") + optimizer + ": block " +
                                    std::to_string(k) + " has " +
                                    std::to_string(block.values.size()) + " values but " +
                                    std::to_string(block.gradients.size()) + " gradients");
      }
    }
    const bool first = sizes_.empty();
    if (!first) {
      check_same_parameters(optimizer);
    }
    check_fresh_gradients(optimizer, first);
    if (first) {
      for (const ParameterBlock<T>& block : blocks_) {
        sizes_.push_back(block.values.size());
      }
    }
    last_provenances_ = provenances_;
    return blocks_;
  }

  /// Sizes of the blocks the state belongs to (empty before the first step).
  [[nodiscard]] std::span<const std::size_t> sizes() const noexcept { return sizes_; }

  /// For a restored state: the next step must pass blocks of these sizes,
  /// and has no last step whose gradients it could repeat.
  void restore(std::vector<std::size_t> sizes) noexcept {
    sizes_ = std::move(sizes);
    last_provenances_.clear();
  }

 private:
  /// Appends the blocks of `part`, in order.
  template <class Part>
  void append(Part&& part) {
    if constexpr (std::convertible_to<Part, ParameterBlock<T>>) {
      blocks_.push_back(static_cast<ParameterBlock<T>>(part));
      provenances_.emplace_back();
    } else if constexpr (Layered<std::remove_cvref_t<Part>>) {
      part.for_each_layer([&](auto& layer) {
        blocks_.push_back(ParameterBlock<T>{layer.parameters(), layer.gradients()});
        Provenance provenance;
        if constexpr (ReportsGradientStatus<std::remove_cvref_t<decltype(layer)>>) {
          const auto status = layer.gradient_status();
          provenance = {true, static_cast<bool>(status.never_collected),
                        static_cast<std::uint64_t>(status.collections)};
        }
        provenances_.push_back(provenance);
      });
    } else {
      for (auto&& block : part) {
        blocks_.push_back(static_cast<ParameterBlock<T>>(block));
        provenances_.emplace_back();
      }
    }
  }

  void check_same_parameters(const char* optimizer) const {
    const auto mismatch = [&](const std::string& what) {
      throw std::invalid_argument(std::string("nn::") + optimizer + ": " + what +
                                  "; an optimizer's state belongs to the parameters of its "
                                  "first step (make another optimizer for others)");
    };
    if (blocks_.size() != sizes_.size()) {
      mismatch("this step has " + std::to_string(blocks_.size()) +
               " parameter blocks, the first had " + std::to_string(sizes_.size()));
    }
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      if (blocks_[k].values.size() != sizes_[k]) {
        mismatch("block " + std::to_string(k) + " has " + std::to_string(blocks_[k].values.size()) +
                 " values, in the first step " + std::to_string(sizes_[k]));
      }
    }
  }

  /// A layer's gradients are stale if it ran forward passes but never
  /// collected them, or if this optimizer's last step already used them
  /// (no collect_gradients() since): both are std::logic_error.
  void check_fresh_gradients(const char* optimizer, bool first) const {
    for (std::size_t k = 0; k < provenances_.size(); ++k) {
      const Provenance& now = provenances_[k];
      if (!now.reported) {
        continue;
      }
      // Built only to throw: a warm step allocates nothing.
      const auto block = [&] {
        return std::string("nn::") + optimizer + ": block " + std::to_string(k);
      };
      if (now.never_collected) {
        throw std::logic_error(block() +
                               " is a layer that ran forward passes but never collected their "
                               "gradients: call collect_gradients() after backward(), before "
                               "step()");
      }
      if (!first && k < last_provenances_.size() && last_provenances_[k].reported &&
          last_provenances_[k].collections == now.collections) {
        throw std::logic_error(block() +
                               " is a layer whose gradients the last step already used: call "
                               "collect_gradients() after the next backward(), before step()");
      }
    }
  }

  std::vector<ParameterBlock<T>> blocks_;
  std::vector<Provenance> provenances_;
  std::vector<Provenance> last_provenances_;
  std::vector<std::size_t> sizes_;
};

/// One state vector per block, as long as the block, zero at first.
template <class T>
class BlockState {
 public:
  std::span<T> operator()(std::span<const std::size_t> sizes, std::size_t block) {
    if (offsets_.empty()) {
      std::size_t total = 0;
      for (const std::size_t size : sizes) {
        offsets_.push_back(total);
        total += size;
      }
      offsets_.push_back(total);
      values_.assign(total, T(0));
    }
    return std::span<T>(values_).subspan(offsets_[block], offsets_[block + 1] - offsets_[block]);
  }

  /// Every block's state, block after block (empty before the first step).
  [[nodiscard]] const std::vector<T>& values() const noexcept { return values_; }

  /// Replaces the state; `values` is as long as `sizes` together (checked
  /// by the caller), or empty for the state before the first step.
  void restore(std::span<const std::size_t> sizes, std::vector<T> values) {
    offsets_.clear();
    values_ = std::move(values);
    if (values_.empty()) {
      return;  // made afresh, zero, by the next step
    }
    std::size_t total = 0;
    for (const std::size_t size : sizes) {
      offsets_.push_back(total);
      total += size;
    }
    offsets_.push_back(total);
  }

 private:
  std::vector<std::size_t> offsets_;
  std::vector<T> values_;
};

/// What every optimizer shares: its name, its learning rate, and the ways
/// to pass it parameters. `Update` is the optimizer, whose update(blocks)
/// changes the parameters (CRTP).
template <class T, class Update>
class Optimizer {
 public:
  /// Steps models, ParameterBlocks and ranges of them, all at once.
  template <class... Parts>
  requires(sizeof...(Parts) >= 1 &&
           (ParameterSource<Parts, T> && ...)) void step(Parts&&... parts) {
    const std::span<const ParameterBlock<T>> blocks =
        blocks_.gather(name_, std::forward<Parts>(parts)...);
    ++steps_;
    static_cast<Update&>(*this).update(blocks);
  }
  /// Steps one plain block.
  void step(std::span<T> values, std::span<const T> gradients) {
    step(ParameterBlock<T>{values, gradients});
  }
  /// Steps several blocks: `adam.step({{w, dw}, {b, db}})`.
  void step(std::initializer_list<ParameterBlock<T>> blocks) {
    step(std::span<const ParameterBlock<T>>(blocks.begin(), blocks.size()));
  }

  [[nodiscard]] T learning_rate() const noexcept { return learning_rate_; }

  /// How many steps the optimizer has taken (a restored state's included).
  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }

  /// The optimizer's state (see OptimizerState).
  [[nodiscard]] OptimizerState<T> state() const {
    OptimizerState<T> state{name_, steps_, {sizes().begin(), sizes().end()}, {}};
    for (const BlockState<T>* vector : Update::state_vectors(static_cast<const Update&>(*this))) {
      state.vectors.push_back(vector->values());
    }
    return state;
  }

  /// Continues from a saved state: the next step must pass blocks of the
  /// state's sizes. A state of another optimizer, or whose vectors are not
  /// as many as this optimizer keeps or not as long as its blocks together,
  /// is std::invalid_argument, and the optimizer is left as it was.
  /// Hyperparameters are not state: the optimizer keeps its own.
  void restore(const OptimizerState<T>& state) {
    const auto vectors = Update::state_vectors(static_cast<Update&>(*this));
    const std::string who = std::string("nn::") + name_ + ": restore: ";
    if (state.optimizer != name_) {
      throw std::invalid_argument(who + "the state is " + state.optimizer + "'s");
    }
    if (state.vectors.size() != vectors.size()) {
      throw std::invalid_argument(who + "the state has " + std::to_string(state.vectors.size()) +
                                  " vectors, " + name_ + " keeps " +
                                  std::to_string(vectors.size()));
    }
    std::size_t total = 0;
    for (const std::size_t size : state.block_sizes) {
      total += size;
    }
    for (std::size_t k = 0; k < vectors.size(); ++k) {
      if (!state.vectors[k].empty() && state.vectors[k].size() != total) {
        throw std::invalid_argument(who + "state vector " + std::to_string(k) + " has " +
                                    std::to_string(state.vectors[k].size()) +
                                    " values, its blocks together " + std::to_string(total));
      }
    }
    std::vector<std::size_t> sizes = state.block_sizes;
    std::vector<std::vector<T>> values = state.vectors;
    for (std::size_t k = 0; k < vectors.size(); ++k) {
      vectors[k]->restore(sizes, std::move(values[k]));
    }
    blocks_.restore(std::move(sizes));
    steps_ = state.steps;
  }

  /// For a schedule: `optimizer.set_learning_rate(schedule(step))`. A
  /// rate that is negative, infinite or NaN is std::invalid_argument.
  void set_learning_rate(T learning_rate) {
    require_in_range(name_, "learning_rate", learning_rate, 0, infinity);
    learning_rate_ = learning_rate;
  }

 protected:
  Optimizer(const char* name, T learning_rate) : name_(name), learning_rate_(learning_rate) {
    require_in_range(name_, "learning_rate", learning_rate, 0, infinity);
  }

  [[nodiscard]] std::span<const std::size_t> sizes() const noexcept { return blocks_.sizes(); }

  const char* name_;
  T learning_rate_;
  std::uint64_t steps_ = 0;

 private:
  Blocks<T> blocks_;
};

/// Adam's update, with AdamW's decoupled weight decay when it is nonzero.
template <class T>
class AdaptiveMoments : public Optimizer<T, AdaptiveMoments<T>> {
 protected:
  AdaptiveMoments(const char* name, T learning_rate, T beta1, T beta2, T epsilon, T weight_decay)
      : Optimizer<T, AdaptiveMoments>(name, learning_rate),
        beta1_(beta1),
        beta2_(beta2),
        epsilon_(epsilon),
        weight_decay_(weight_decay) {
    require_in_range(name, "beta1", beta1, 0, 1);
    require_in_range(name, "beta2", beta2, 0, 1);
    require_in_range(name, "epsilon", epsilon, 0, infinity);
    require_in_range(name, "weight_decay", weight_decay, 0, infinity);
  }

 private:
  friend Optimizer<T, AdaptiveMoments>;
  template <class Self>
  static auto state_vectors(Self& self) {
    return std::array{&self.first_moment_, &self.second_moment_};
  }

  void update(std::span<const ParameterBlock<T>> blocks) {
    const T correction1 = T(1) - std::pow(beta1_, static_cast<T>(this->steps_));
    const T correction2 = T(1) - std::pow(beta2_, static_cast<T>(this->steps_));
    const T rate = this->learning_rate_;
    const T shrink = T(1) - rate * weight_decay_;  // decoupled: not through the moments
    for (std::size_t k = 0; k < blocks.size(); ++k) {
      const std::span<T> p = blocks[k].values;
      const std::span<const T> g = blocks[k].gradients;
      const std::span<T> m = first_moment_(this->sizes(), k);
      const std::span<T> v = second_moment_(this->sizes(), k);
      for (std::size_t i = 0; i < p.size(); ++i) {
        m[i] = beta1_ * m[i] + (T(1) - beta1_) * g[i];
        v[i] = beta2_ * v[i] + (T(1) - beta2_) * g[i] * g[i];
        if (weight_decay_ != T(0)) {
          p[i] *= shrink;
        }
        p[i] -= rate * (m[i] / correction1) / (std::sqrt(v[i] / correction2) + epsilon_);
      }
    }
  }

  T beta1_;
  T beta2_;
  T epsilon_;
  T weight_decay_;
  BlockState<T> first_moment_;
  BlockState<T> second_moment_;
};

}  // namespace detail

/// Stochastic gradient descent with (heavy-ball) momentum:
/// v = momentum v + g, p = p - learning_rate v. A learning rate that is
/// negative, infinite or NaN, or a momentum outside [0, 1), is
/// std::invalid_argument.
template <class T>
class SGD : public detail::Optimizer<T, SGD<T>> {
 public:
  explicit SGD(T learning_rate, T momentum = T(0))
      : detail::Optimizer<T, SGD>("SGD", learning_rate), momentum_(momentum) {
    detail::require_in_range("SGD", "momentum", momentum, 0, 1);
  }

 private:
  friend detail::Optimizer<T, SGD>;
  template <class Self>
  static auto state_vectors(Self& self) {
    return std::array{&self.velocity_};
  }

  void update(std::span<const ParameterBlock<T>> blocks) {
    for (std::size_t k = 0; k < blocks.size(); ++k) {
      const std::span<T> p = blocks[k].values;
      const std::span<const T> g = blocks[k].gradients;
      const std::span<T> velocity = velocity_(this->sizes(), k);
      for (std::size_t i = 0; i < p.size(); ++i) {
        velocity[i] = momentum_ * velocity[i] + g[i];
        p[i] -= this->learning_rate_ * velocity[i];
      }
    }
  }

  T momentum_;
  detail::BlockState<T> velocity_;
};

/// Adam (Kingma and Ba, 2015) with bias-corrected moment estimates:
/// m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
/// p = p - learning_rate m^ / (sqrt(v^) + epsilon), m^ = m / (1 - beta1^t),
/// v^ = v / (1 - beta2^t). A learning rate or epsilon that is negative,
/// infinite or NaN, or a beta outside [0, 1), is std::invalid_argument
/// (beta = 1 would divide by a zero bias correction). Steps what SGD steps.
template <class T>
class Adam : public detail::AdaptiveMoments<T> {
 public:
  explicit Adam(T learning_rate = T(1e-3), T beta1 = T(0.9), T beta2 = T(0.999),
                T epsilon = T(1e-8))
      : detail::AdaptiveMoments<T>("Adam", learning_rate, beta1, beta2, epsilon, T(0)) {}
};

/// Adam with decoupled weight decay (AdamW, Loshchilov and Hutter, 2019):
/// before Adam's update, p = p (1 - learning_rate weight_decay), so the
/// decay does not pass through the moment estimates as an L2 term in the
/// loss would. A weight decay that is negative, infinite or NaN is
/// std::invalid_argument, as are Adam's bad hyperparameters.
template <class T>
class AdamW : public detail::AdaptiveMoments<T> {
 public:
  explicit AdamW(T learning_rate = T(1e-3), T weight_decay = T(1e-2), T beta1 = T(0.9),
                 T beta2 = T(0.999), T epsilon = T(1e-8))
      : detail::AdaptiveMoments<T>("AdamW", learning_rate, beta1, beta2, epsilon, weight_decay) {}
};

/// Scales every gradient of the model by max_norm / norm when their joint
/// Euclidean norm exceeds max_norm; returns the norm before clipping. A
/// non-finite norm is returned as it is and nothing is scaled. A max_norm
/// that is negative or NaN is std::invalid_argument (a negative one would
/// flip the gradients); +inf clips nothing.
template <class Model>
auto clip_grad_norm(Model& model, double max_norm) {
  detail::require_in_range("clip_grad_norm", "max_norm", max_norm, 0, detail::infinity, false);
  double squares = 0;
  model.for_each_layer([&](auto& layer) {
    for (const auto value : layer.gradients()) {
      squares += static_cast<double>(value) * static_cast<double>(value);
    }
  });
  const double norm = std::sqrt(squares);
  if (std::isfinite(norm) && norm > max_norm) {
    const double scale = max_norm / norm;
    model.for_each_layer([&](auto& layer) {
      for (auto& value : layer.gradients()) {
        value = static_cast<std::remove_reference_t<decltype(value)>>(value * scale);
      }
    });
  }
  return norm;
}

}  // namespace tinygrad::nn
