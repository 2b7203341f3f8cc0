// SPDX-License-Identifier: MIT
#pragma once

// Neural-network layers whose activation is a policy template parameter, and
// a way to stack them. Parameters are plain T and never go on the tape: a
// layer's unit is one tape entry, and after backward() collect_gradients()
// turns the units' gradients into the parameters'. A Sequential on plain
// inputs records its last layer's units only and carries the gradient down
// through the layers below itself, as matrix-vector products:
//
//   nn::Sequential net(nn::Dense<double, Tanh>(2, 8, 1), nn::Dense<double, Identity>(8, 1, 2));
//   Tape<double> tape;
//   for (...) {
//     tape.clear();                // memory stays flat: nothing outlives the step
//     net.begin_step();
//     auto out = net(input);       // input: std::span<const double>
//     auto loss = half_squared_error(out[0], target);
//     loss.backward();
//     net.collect_gradients();
//     optimizer.step(net);         // optim.hpp
//   }
//   std::vector<double> y = net.predict(samples);  // no tape: plain values, kernels

#include <tinygrad/activation.hpp>
#include <tinygrad/activation_kernels.hpp>
#include <tinygrad/error.hpp>
#include <tinygrad/var.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinygrad::nn {

namespace detail {

/// A uniform double in [0, 1) from the top 53 bits of a 64-bit draw: unlike
/// std::uniform_real_distribution, the same on every standard library, so a
/// seed gives the same network everywhere.
inline double uniform01(std::mt19937_64& engine) {
  return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

template <class P>
constexpr Initialization initialization_of() {
  if constexpr (requires { P::initialization; }) {
    return P::initialization;
  } else {
    return Initialization::xavier;
  }
}

template <class P>
constexpr double gain_of() {
  if constexpr (requires { P::gain; }) {
    return P::gain;
  } else {
    return 1.0;
  }
}

template <class Layer>
inline constexpr bool is_dense = false;

}  // namespace detail

/// The half-width of the uniform distribution a layer draws its weights from:
/// Xavier/Glorot, gain * sqrt(6 / (fan_in + fan_out)), variance
/// gain^2 * 2 / (fan_in + fan_out); or He/Kaiming, gain * sqrt(3 / fan_in),
/// variance gain^2 / fan_in.
template <class Policy>
double initial_weight_bound(std::size_t fan_in, std::size_t fan_out) {
  const double gain = detail::gain_of<Policy>();
  const auto in = static_cast<double>(fan_in);
  const auto out = static_cast<double>(fan_out);
  if constexpr (detail::initialization_of<Policy>() == Initialization::he) {
    return gain * std::sqrt(3.0 / in);
  } else {
    return gain * std::sqrt(6.0 / (in + out));
  }
}

/// A fully connected layer: out_j = Policy(sum_i w_ji in_i + b_j).
template <class T, class Policy>
class Dense {
  static_assert(std::is_floating_point_v<T>, "nn::Dense<T, Policy>: T must be a floating type.");
  static_assert(ActivationPolicy<Policy, T>,
                "nn::Dense<T, Policy>: Policy must be an activation policy "
                "(static T value(T) and static T derivative(T)).");

 public:
  using value_type = T;
  using policy = Policy;

  /// Weights drawn uniformly as the policy's initialization asks (see
  /// initial_weight_bound), from a generator seeded with `seed`; biases 0.
  Dense(std::size_t fan_in, std::size_t fan_out, std::uint64_t seed)
      : fan_in_(fan_in),
        fan_out_(fan_out),
        parameters_(fan_out * fan_in + fan_out, T(0)),
        gradients_(parameters_.size(), T(0)) {
    if (fan_in == 0 || fan_out == 0) {
      throw std::invalid_argument("nn::Dense: fan_in and fan_out must be positive (got " +
                                  std::to_string(fan_in) + " and " + std::to_string(fan_out) + ")");
    }
    std::mt19937_64 engine(seed);
    const double bound = initial_weight_bound<Policy>(fan_in, fan_out);
    for (std::size_t k = 0; k < fan_out * fan_in; ++k) {
      parameters_[k] = static_cast<T>((2 * detail::uniform01(engine) - 1) * bound);
    }
  }

  [[nodiscard]] std::size_t fan_in() const noexcept { return fan_in_; }
  [[nodiscard]] std::size_t fan_out() const noexcept { return fan_out_; }

  /// All parameters: the weights row by row (fan_out rows of fan_in), then
  /// the biases.
  [[nodiscard]] std::span<T> parameters() noexcept { return parameters_; }
  [[nodiscard]] std::span<const T> parameters() const noexcept { return parameters_; }
  /// d loss / d parameter, in the same order, as of the last collect_gradients().
  [[nodiscard]] std::span<T> gradients() noexcept { return gradients_; }
  [[nodiscard]] std::span<const T> gradients() const noexcept { return gradients_; }

  [[nodiscard]] T& weight(std::size_t out, std::size_t in) {
    return parameters_[out * fan_in_ + in];
  }
  [[nodiscard]] T& bias(std::size_t out) { return parameters_[fan_out_ * fan_in_ + out]; }

  /// Starts a step: forgets the forward passes of the last one. Call it once
  /// per step, after the tape was cleared (or rewound), before the forward
  /// passes. (The parameters themselves never go on the tape: see forward.)
  void begin_step() {
    step_started_ = true;
    plain_step_ = false;
    pass_outputs_.clear();
    pass_slopes_.clear();
    pass_inputs_.clear();
    pre_activations_.clear();
  }

  /// The forward pass on plain inputs (data: they get no gradient): one or
  /// more samples of fan_in values each, one after another (a mini-batch);
  /// returns fan_out outputs per sample, valid until the next pass. Each
  /// sample is one pass of the step (collect_gradients() sums over them).
  std::span<const Var<T>> operator()(std::span<const T> input) { return forward(input); }
  /// The forward pass on recorded inputs (another layer's outputs), one or
  /// more samples as above.
  std::span<const Var<T>> operator()(std::span<const Var<T>> input) { return forward(input); }

  /// After backward(): computes every parameter's gradient into gradients(),
  /// from each unit's gradient in every forward pass of the step:
  /// dL/dw_ji = sum over passes of dL/dz_j in_i, dL/db_j = sum of dL/dz_j,
  /// with dL/dz_j = dL/dout_j Policy'(z_j) (the same outer product a
  /// hand-written backward pass computes). After a step whose passes a
  /// Sequential ran on plain inputs, the Sequential collects (this is
  /// std::logic_error).
  void collect_gradients() {
    if (plain_step_) {
      throw std::logic_error(
          "nn::Dense: this step's passes ran inside a Sequential on plain inputs, which "
          "carries the gradient down through its layers: call the Sequential's "
          "collect_gradients()");
    }
    collect_recorded(std::span<T>());
  }

  /// Inference without a tape: `inputs` holds one or more samples of fan_in
  /// values each, one after another; `outputs` receives fan_out values per
  /// sample. The activation runs as one kernel over the whole batch
  /// (activation_kernels.hpp: within the kernels' stated accuracy of the
  /// taped forward pass). Records nothing and needs no begin_step(); const,
  /// so threads may predict with one layer at once. Sizes that are not a
  /// whole number of samples, and outputs that overlap the inputs, are
  /// std::invalid_argument.
  void predict(std::span<const T> inputs, std::span<T> outputs) const {
    const std::size_t samples = samples_in("predict's input", inputs.size());
    if (outputs.size() != samples * fan_out_) {
      throw std::invalid_argument(
          "nn::Dense: predict's output has " + std::to_string(outputs.size()) + " values, " +
          std::to_string(samples) + " samples need " + std::to_string(samples * fan_out_));
    }
    const std::less<const T*> before;
    if (!inputs.empty() && before(outputs.data(), inputs.data() + inputs.size()) &&
        before(inputs.data(), outputs.data() + outputs.size())) {
      throw std::invalid_argument("nn::Dense: predict's output overlaps its input");
    }
    pre_activations(inputs.data(), samples, outputs.data());
    tinygrad::forward<Policy>(std::span<const T>(outputs), outputs);
  }
  /// predict(inputs, outputs) into a new vector.
  [[nodiscard]] std::vector<T> predict(std::span<const T> inputs) const {
    std::vector<T> outputs(samples_in("predict's input", inputs.size()) * fan_out_);
    predict(inputs, outputs);
    return outputs;
  }

  /// What optimizers check before they step on gradients() (optim.hpp):
  /// whether the layer ran forward passes but never collected their
  /// gradients, and how many times collect_gradients() has run.
  struct GradientStatus {
    bool never_collected;
    std::uint64_t collections;
  };
  [[nodiscard]] GradientStatus gradient_status() const noexcept {
    return {ran_forward_ && collections_ == 0, collections_};
  }

  /// The pre-activations z_j of every forward pass since begin_step(),
  /// fan_out per pass (gradient-flow diagnostics read them).
  [[nodiscard]] std::span<const T> pre_activations() const noexcept { return pre_activations_; }

  /// The gradients of the weights alone (the biases' follow them).
  [[nodiscard]] std::span<const T> weight_gradients() const noexcept {
    return std::span<const T>(gradients_).first(fan_out_ * fan_in_);
  }

 private:
  /// Each unit is ONE tape entry: out_j = Policy(z_j), z_j = sum_i w_ji in_i
  /// + b_j. Its operands are the inputs when they are Vars (partials
  /// Policy'(z_j) w_ji); data inputs give it none. The parameters are not on
  /// the tape at all: the pass keeps its inputs and each unit's slope
  /// Policy'(z_j), and collect_gradients() turns the units' gradients into
  /// the parameters' with one outer product, as a hand-written layer does.
  /// Recorded operation by operation, a unit would take 2 fan_in + 1 entries.
  template <class Input>
  std::span<const Var<T>> forward(std::span<const Input> input) {
    require_step_started("a forward pass");
    const std::size_t samples = samples_in("input", input.size());
    ran_forward_ = true;
    constexpr bool input_is_var = std::is_same_v<Input, Var<T>>;
    const std::size_t input_start = pass_inputs_.size();
    for (const Input& x : input) {
      if constexpr (input_is_var) {
        pass_inputs_.push_back(x.value());
      } else {
        pass_inputs_.push_back(x);
      }
    }
    outputs_.clear();
    const std::size_t z_start = pre_activations_.size();
    pre_activations_.resize(z_start + samples * fan_out_);
    pre_activations(pass_inputs_.data() + input_start, samples, pre_activations_.data() + z_start);
    for (std::size_t sample = 0; sample < samples; ++sample) {
      const Input* recorded = input.data() + sample * fan_in_;
      for (std::size_t j = 0; j < fan_out_; ++j) {
        const T* w = parameters_.data() + j * fan_in_;
        const T z = pre_activations_[z_start + sample * fan_out_ + j];
        // Not a structured binding: clang 14 cannot capture those in the lambda.
        const ValueAndDerivative<T> activation =
            tinygrad::detail::value_and_derivative_of_one<Policy>(z);
        const T slope = activation.derivative;
        const Var<T> out = tinygrad::detail::Recorder<T>::many(
            tinygrad::detail::SourceLocation::current(), tinygrad::detail::policy_name<Policy>(),
            activation.value, input_is_var ? fan_in_ : 0, [&](auto& operands) {
              if constexpr (input_is_var) {
                for (std::size_t i = 0; i < fan_in_; ++i) {
                  operands.add(recorded[i], slope * w[i]);
                }
              }
            });
        outputs_.push_back(out);
        pass_outputs_.push_back(out);
        pass_slopes_.push_back(slope);
      }
    }
    return outputs_;
  }

  // ---- For Sequential on plain inputs: its layers below the last run
  // without recording, and collect_gradients() carries the gradient down
  // through them (the layer above hands each one its outputs' gradients).
  template <class... Layers>
  friend class Sequential;

  /// The forward pass on data without recording: what operator() computes,
  /// as plain values (valid until the next pass). The pass is kept for
  /// collect_from_above() as a recorded one is for collect_gradients().
  std::span<const T> forward_values(std::span<const T> input) {
    require_step_started("a forward pass");
    const std::size_t samples = samples_in("input", input.size());
    ran_forward_ = true;
    plain_step_ = true;
    const std::size_t input_start = pass_inputs_.size();
    pass_inputs_.insert(pass_inputs_.end(), input.begin(), input.end());
    const std::size_t units = samples * fan_out_;
    const std::size_t z_start = pre_activations_.size();
    pre_activations_.resize(z_start + units);
    pre_activations(pass_inputs_.data() + input_start, samples, pre_activations_.data() + z_start);
    // The activations and their slopes by the array kernels (within their
    // stated accuracy of Policy::value and Policy::derivative).
    const std::span<const T> z = std::span<const T>(pre_activations_).subspan(z_start, units);
    values_.resize(units);
    tinygrad::forward<Policy>(z, std::span<T>(values_));
    ones_.resize(units, T(1));
    const std::size_t slopes_start = pass_slopes_.size();
    pass_slopes_.resize(slopes_start + units);
    tinygrad::backward<Policy>(z, std::span<const T>(values_), std::span<const T>(ones_),
                               std::span<T>(pass_slopes_).subspan(slopes_start, units));
    return values_;
  }

  /// collect_gradients() from the tape, and with `input_gradients` not
  /// empty, also dL/din of every pass into it (fan_in per pass).
  void collect_recorded(std::span<T> input_gradients) {
    require_step_started("collect_gradients");
    unit_gradients_.resize(pass_outputs_.size());
    try {
      read_gradients(std::span<const Var<T>>(pass_outputs_), std::span<T>(unit_gradients_));
    } catch (const tape_error& error) {
      // Most often the tape was cleared after this step's first pass.
      throw tape_error(std::string("nn::Dense: collect_gradients() cannot read this step's "
                                   "forward passes (each step: clear the tape, then "
                                   "begin_step(), then the passes): ") +
                       error.what());
    }
    accumulate(unit_gradients_, input_gradients);
  }

  /// collect_gradients() for passes run by forward_values(): the gradients
  /// of the outputs come from the layer above.
  void collect_from_above(std::span<const T> output_gradients, std::span<T> input_gradients) {
    require_step_started("collect_gradients");
    if (output_gradients.size() != pass_slopes_.size() ||
        (!input_gradients.empty() && input_gradients.size() != pass_inputs_.size())) {
      throw std::logic_error(
          "nn::Sequential: its layers ran different numbers of passes this step (a layer "
          "called on its own between begin_step() and collect_gradients()?)");
    }
    accumulate(output_gradients, input_gradients);
  }

  /// From dL/dout of every pass (fan_out each, in pass order): the
  /// parameters' gradients, and dL/din_i = sum_j dL/dz_j w_ji into
  /// `input_gradients` unless it is empty. Each sum runs over passes, or
  /// over j, in increasing order whatever the blocking below, which keeps
  /// the rows and inputs it works on in cache.
  void accumulate(std::span<const T> output_gradients, std::span<T> input_gradients) {
    const std::size_t passes = pass_slopes_.size() / fan_out_;
    unit_slopes_.resize(pass_slopes_.size());
    for (std::size_t k = 0; k < pass_slopes_.size(); ++k) {
      unit_slopes_[k] = output_gradients[k] * pass_slopes_[k];  // dL/dz
    }
    const T* dz = unit_slopes_.data();
    std::fill(gradients_.begin(), gradients_.end(), T(0));
    T* bias_gradients = gradients_.data() + fan_out_ * fan_in_;
    constexpr std::size_t pass_block = 64;
    for (std::size_t first = 0; first < passes; first += pass_block) {
      const std::size_t last = std::min(passes, first + pass_block);
      for (std::size_t j = 0; j < fan_out_; ++j) {
        T* row = gradients_.data() + j * fan_in_;
        for (std::size_t pass = first; pass < last; ++pass) {
          const T g = dz[pass * fan_out_ + j];
          if (g == T(0)) {
            continue;  // nothing to add (a NaN is not 0, and propagates)
          }
          const T* input = pass_inputs_.data() + pass * fan_in_;
          for (std::size_t i = 0; i < fan_in_; ++i) {
            row[i] += g * input[i];
          }
          bias_gradients[j] += g;
        }
      }
    }
    if (!input_gradients.empty()) {
      std::fill(input_gradients.begin(), input_gradients.end(), T(0));
      constexpr std::size_t input_block = 8;
      for (std::size_t first = 0; first < passes; first += input_block) {
        const std::size_t last = std::min(passes, first + input_block);
        for (std::size_t j = 0; j < fan_out_; ++j) {
          const T* w = parameters_.data() + j * fan_in_;
          for (std::size_t pass = first; pass < last; ++pass) {
            const T g = dz[pass * fan_out_ + j];
            if (g == T(0)) {
              continue;
            }
            T* to = input_gradients.data() + pass * fan_in_;
            for (std::size_t i = 0; i < fan_in_; ++i) {
              to[i] += g * w[i];
            }
          }
        }
      }
    }
    ++collections_;
  }

  /// z_j = b_j + sum_i w_ji in_i of every sample, fan_out per sample into
  /// `z`: the taped pass and predict alike. Each z_j is summed in this one
  /// order (b_j, then i = 0, 1, ...), one sample or a batch: a batch runs
  /// `lanes` samples side by side, so that their sums are independent chains
  /// of additions the processor overlaps (and the compiler may put in vector
  /// lanes) instead of one chain waiting on each addition, with the same
  /// operations, and so the same bits, for each sample.
  void pre_activations(const T* in, std::size_t samples, T* z) const noexcept {
    constexpr std::size_t lanes = 8;
    const T* bias = parameters_.data() + fan_out_ * fan_in_;
    std::size_t first = 0;
    for (; first + lanes <= samples; first += lanes) {
      const T* block = in + first * fan_in_;
      for (std::size_t j = 0; j < fan_out_; ++j) {
        const T* w = parameters_.data() + j * fan_in_;
        std::array<T, lanes> sums{};
        sums.fill(bias[j]);
        for (std::size_t i = 0; i < fan_in_; ++i) {
          const T weight = w[i];
          for (std::size_t lane = 0; lane < lanes; ++lane) {
            sums[lane] += weight * block[lane * fan_in_ + i];
          }
        }
        for (std::size_t lane = 0; lane < lanes; ++lane) {
          z[(first + lane) * fan_out_ + j] = sums[lane];
        }
      }
    }
    for (; first < samples; ++first) {
      const T* sample = in + first * fan_in_;
      for (std::size_t j = 0; j < fan_out_; ++j) {
        const T* w = parameters_.data() + j * fan_in_;
        T sum = bias[j];
        for (std::size_t i = 0; i < fan_in_; ++i) {
          sum += w[i] * sample[i];
        }
        z[first * fan_out_ + j] = sum;
      }
    }
  }

  /// How many samples of fan_in values `size` values are.
  [[nodiscard]] std::size_t samples_in(const char* what, std::size_t size) const {
    if (size % fan_in_ != 0) {
      throw std::invalid_argument(
          std::string("nn::Dense: ") + what + " has " + std::to_string(size) +
          " values, not a whole number of samples of fan_in " + std::to_string(fan_in_));
    }
    return size / fan_in_;
  }

  void require_step_started(const char* what) const {
    if (!step_started_) {
      throw std::logic_error(std::string("nn::Dense: ") + what +
                             " needs begin_step() first, in this step");
    }
  }

  std::size_t fan_in_;
  std::size_t fan_out_;
  std::vector<T> parameters_;
  std::vector<T> gradients_;
  std::vector<Var<T>> outputs_;  // the last forward pass's, returned by it
  // Every forward pass of the step, for collect_gradients():
  bool step_started_ = false;
  std::vector<Var<T>> pass_outputs_;  // fan_out per pass
  std::vector<T> pass_slopes_;        // Policy'(z_j), fan_out per pass
  std::vector<T> pass_inputs_;        // input values, fan_in per pass
  std::vector<T> unit_gradients_;     // scratch for collect_gradients(): dL/dout
  std::vector<T> unit_slopes_;        // and dL/dz
  std::vector<T> values_;             // forward_values()'s outputs
  std::vector<T> ones_;               // dy = 1, for the slopes' kernel
  std::vector<T> pre_activations_;
  bool plain_step_ = false;        // this step's passes ran by forward_values()
  bool ran_forward_ = false;       // for gradient_status()
  std::uint64_t collections_ = 0;  // collect_gradients() calls
};

namespace detail {
template <class T, class Policy>
inline constexpr bool is_dense<Dense<T, Policy>> = true;
}  // namespace detail

/// Layers applied in order; each layer's output feeds the next. The layer
/// types, and so their activation policies, are template arguments.
template <class... Layers>
class Sequential {
  static_assert(sizeof...(Layers) > 0, "nn::Sequential needs at least one layer.");

 public:
  using value_type = typename std::tuple_element_t<0, std::tuple<Layers...>>::value_type;

  explicit Sequential(Layers... layers) : layers_(std::move(layers)...) {
    check_shapes(std::index_sequence_for<Layers...>{});
  }

  static constexpr std::size_t size() noexcept { return sizeof...(Layers); }

  template <std::size_t I>
  [[nodiscard]] auto& layer() noexcept {
    return std::get<I>(layers_);
  }
  template <std::size_t I>
  [[nodiscard]] const auto& layer() const noexcept {
    return std::get<I>(layers_);
  }

  /// Calls f(layer) for each layer, first to last.
  template <class F>
  void for_each_layer(F&& f) {
    std::apply([&](auto&... layer) { (f(layer), ...); }, layers_);
  }
  template <class F>
  void for_each_layer(F&& f) const {
    std::apply([&](const auto&... layer) { (f(layer), ...); }, layers_);
  }

  void begin_step() {
    for_each_layer([](auto& layer) { layer.begin_step(); });
    step_inputs_ = StepInputs::none;
  }

  /// After backward(): every layer's parameter gradients (Dense::
  /// collect_gradients). After passes on plain inputs, the last layer reads
  /// its units' gradients from the tape and each layer hands the gradients
  /// of its inputs to the layer beneath: dL/din_i = sum_j dL/dz_j w_ji.
  void collect_gradients() {
    if (step_inputs_ == StepInputs::plain) {
      collect_down<sizeof...(Layers) - 1>();
    } else {
      for_each_layer([](auto& layer) { layer.collect_gradients(); });
    }
  }

  /// The forward pass: plain inputs (data) or recorded ones, one or more
  /// samples of the first layer's fan_in values each (a mini-batch); returns
  /// the last layer's fan_out outputs per sample. On plain inputs only the
  /// last layer records its units (entries without operands): the layers
  /// below compute plain values, and collect_gradients() carries the
  /// gradient down through them. The passes of one step take plain inputs
  /// or Vars, not both (std::logic_error).
  template <class Input>
  std::span<const Var<value_type>> operator()(std::span<const Input> input) {
    constexpr bool plain = runs_plain && std::is_same_v<Input, value_type>;
    if constexpr (runs_plain) {
      const StepInputs inputs = plain ? StepInputs::plain : StepInputs::recorded;
      if (step_inputs_ != StepInputs::none && step_inputs_ != inputs) {
        throw std::logic_error(
            "nn::Sequential: one step's forward passes take plain inputs or Vars, not both");
      }
      step_inputs_ = inputs;
    }
    if constexpr (plain) {
      return forward_plain<0>(input);
    } else {
      return forward<0>(input);
    }
  }
  std::span<const Var<value_type>> operator()(const std::vector<value_type>& input) {
    return (*this)(std::span<const value_type>(input));
  }

  /// Inference without a tape, layer by layer (Dense::predict): one or more
  /// samples of the first layer's fan_in values each, one after another;
  /// returns the last layer's fan_out values per sample.
  [[nodiscard]] std::vector<value_type> predict(std::span<const value_type> inputs) const {
    std::vector<value_type> from(inputs.begin(), inputs.end());
    std::vector<value_type> to;
    for_each_layer([&](const auto& layer) {
      to.resize(from.size() / layer.fan_in() * layer.fan_out());
      layer.predict(from, to);
      from.swap(to);
    });
    return from;
  }

 private:
  /// Whether every layer can run without recording (nn::Dense can).
  static constexpr bool runs_plain = (detail::is_dense<Layers> && ...);
  enum class StepInputs { none, plain, recorded };

  template <std::size_t I>
  std::span<const Var<value_type>> forward_plain(std::span<const value_type> input) {
    if constexpr (I + 1 < sizeof...(Layers)) {
      return forward_plain<I + 1>(std::get<I>(layers_).forward_values(input));
    } else {
      return std::get<I>(layers_)(input);
    }
  }

  /// Layer I's gradients, its inputs' into scratch_[I % 2] for layer I - 1.
  template <std::size_t I>
  void collect_down() {
    auto& layer = std::get<I>(layers_);
    std::span<value_type> input_gradients;
    if constexpr (I > 0) {
      scratch_[I % 2].resize(layer.pass_inputs_.size());
      input_gradients = scratch_[I % 2];
    }
    if constexpr (I + 1 == sizeof...(Layers)) {
      layer.collect_recorded(input_gradients);
    } else {
      layer.collect_from_above(scratch_[(I + 1) % 2], input_gradients);
    }
    if constexpr (I > 0) {
      collect_down<I - 1>();
    }
  }

  template <std::size_t I, class Input>
  std::span<const Var<value_type>> forward(std::span<const Input> input) {
    const std::span<const Var<value_type>> output = std::get<I>(layers_)(input);
    if constexpr (I + 1 < sizeof...(Layers)) {
      return forward<I + 1>(output);
    } else {
      return output;
    }
  }

  template <std::size_t... I>
  void check_shapes(std::index_sequence<I...>) const {
    (check_shape<I>(), ...);
  }
  template <std::size_t I>
  void check_shape() const {
    if constexpr (I + 1 < sizeof...(Layers)) {
      const auto& from = std::get<I>(layers_);
      const auto& to = std::get<I + 1>(layers_);
      if (from.fan_out() != to.fan_in()) {
        throw std::invalid_argument("nn::Sequential: layer " + std::to_string(I) + " has " +
                                    std::to_string(from.fan_out()) + " outputs but layer " +
                                    std::to_string(I + 1) + " takes " +
                                    std::to_string(to.fan_in()) + " inputs");
      }
    }
  }

  std::tuple<Layers...> layers_;
  StepInputs step_inputs_ = StepInputs::none;
  std::array<std::vector<value_type>, 2> scratch_;  // dL/din, handed down between layers
};

}  // namespace tinygrad::nn
