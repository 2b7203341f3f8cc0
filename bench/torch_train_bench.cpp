// SPDX-License-Identifier: MIT
// A full training step (forward pass, mean softmax cross-entropy, backward,
// Adam) of a classifier, tinygrad against PyTorch's C++ API (libtorch) on one
// thread, interleaved in one run: the digits network 64-32-10 (Tanh) and a
// wider 784-256-256-10 (ReLU), float and double, batches of 1 to 1,024
// samples drawn in turn from 1,024 generated ones. Both networks start from
// the same weights; before timing, one step on each must give the same loss
// and gradients, or the benchmark reports an error. Counters: microseconds
// per sample for each (`tinygrad_us`, `torch_us`) and `tinygrad/torch`.
// Built only where libtorch is installed (Debian: libtorch-dev).

#include "harness.hpp"

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <tinygrad/tinygrad.hpp>
#include <type_traits>
#include <vector>

namespace {

namespace nn = tinygrad::nn;
using harness::Contender;
using tinygrad::Var;

constexpr std::size_t samples = 1024;
constexpr std::size_t classes = 10;
constexpr double learning_rate = 1e-3;

/// 1,024 inputs in [0, 1) and their classes, from a fixed seed.
template <class T>
struct Data {
  explicit Data(std::size_t inputs) : width(inputs) {
    std::mt19937_64 engine(42);
    for (std::size_t k = 0; k < samples * inputs; ++k) {
      x.push_back(static_cast<T>(static_cast<double>(engine() >> 11) * 0x1.0p-53));
    }
    for (std::size_t k = 0; k < samples; ++k) {
      labels.push_back(static_cast<std::int64_t>(engine() % classes));
    }
  }
  std::size_t width;
  std::vector<T> x;
  std::vector<std::int64_t> labels;
};

/// The same network in libtorch, its parameters copied from tinygrad's
/// layers (both keep a layer's weights as fan_out rows of fan_in).
struct TorchNet : torch::nn::Module {
  template <class Net>
  TorchNet(const Net& net, torch::Dtype dtype, bool relu) : relu_(relu) {
    net.for_each_layer([&](const auto& layer) {
      const auto fan_in = static_cast<std::int64_t>(layer.fan_in());
      const auto fan_out = static_cast<std::int64_t>(layer.fan_out());
      auto linear = register_module("linear" + std::to_string(layers_.size()),
                                    torch::nn::Linear(fan_in, fan_out));
      linear->to(dtype);
      const auto p = layer.parameters();
      torch::NoGradGuard no_grad;
      auto weight = linear->weight.data_ptr<typename Net::value_type>();
      auto bias = linear->bias.data_ptr<typename Net::value_type>();
      std::copy(p.begin(), p.begin() + fan_in * fan_out, weight);
      std::copy(p.begin() + fan_in * fan_out, p.end(), bias);
      layers_.push_back(linear);
    });
  }
  torch::Tensor forward(torch::Tensor x) {
    for (std::size_t k = 0; k + 1 < layers_.size(); ++k) {
      x = layers_[k]->forward(x);
      x = relu_ ? torch::relu(x) : torch::tanh(x);
    }
    return layers_.back()->forward(x);
  }
  bool relu_;
  std::vector<torch::nn::Linear> layers_;
};

/// One tinygrad training step on `count` samples from `first`.
template <class T, class Net>
T tinygrad_step(Net& net, nn::Adam<T>& adam, tinygrad::Tape<T>& tape, const Data<T>& data,
                std::size_t first, std::size_t count) {
  tape.clear();
  net.begin_step();
  const std::span<const Var<T>> logits =
      net(std::span<const T>(data.x).subspan(first * data.width, count * data.width));
  Var<T> loss = T(0);
  for (std::size_t s = 0; s < count; ++s) {
    loss += nn::softmax_cross_entropy(logits.subspan(s * classes, classes),
                                      static_cast<std::size_t>(data.labels[first + s]));
  }
  loss /= static_cast<T>(count);
  loss.backward();
  net.collect_gradients();
  adam.step(net);
  return loss.value();
}

template <class T>
torch::Dtype dtype_of() {
  return std::is_same_v<T, float> ? torch::kFloat32 : torch::kFloat64;
}

/// Whether one step of each, from the same weights on the same batch, gives
/// the same loss and parameter gradients (to the type's precision).
template <class T, class Net>
bool steps_agree(Net net, const Data<T>& data, bool relu, std::size_t batch) {
  TorchNet torch_net(net, dtype_of<T>(), relu);
  const auto x = torch::from_blob(
      const_cast<T*>(data.x.data()),
      {static_cast<std::int64_t>(samples), static_cast<std::int64_t>(data.width)}, dtype_of<T>());
  const auto y = torch::from_blob(const_cast<std::int64_t*>(data.labels.data()),
                                  {static_cast<std::int64_t>(samples)}, torch::kInt64);
  const auto n = static_cast<std::int64_t>(batch);
  auto torch_loss =
      torch::nn::functional::cross_entropy(torch_net.forward(x.narrow(0, 0, n)), y.narrow(0, 0, n));
  torch_loss.backward();
  nn::Adam<T> adam(static_cast<T>(learning_rate));
  tinygrad::Tape<T> tape;
  const T loss = tinygrad_step(net, adam, tape, data, 0, batch);
  const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-10;
  bool same = std::abs(static_cast<double>(loss) - torch_loss.template item<double>()) <=
              tolerance * std::abs(static_cast<double>(loss));
  std::size_t k = 0;
  net.for_each_layer([&](const auto& layer) {
    const auto& linear = torch_net.layers_[k++];
    const auto g = layer.gradients();
    const auto fan = layer.fan_in() * layer.fan_out();
    const T* weight = linear->weight.grad().template data_ptr<T>();
    const T* bias = linear->bias.grad().template data_ptr<T>();
    double largest = 0;
    for (const T value : g) {
      largest = std::max(largest, std::abs(static_cast<double>(value)));
    }
    for (std::size_t i = 0; i < g.size(); ++i) {
      const T theirs = i < fan ? weight[i] : bias[i - fan];
      same = same && std::abs(static_cast<double>(g[i] - theirs)) <= tolerance * largest;
    }
  });
  return same;
}

/// The digits network, 64-32-10 with Tanh, and the wider 784-256-256-10 with
/// ReLU.
template <class T>
auto digits_network() {
  return nn::Sequential(nn::Dense<T, tinygrad::Tanh>(64, 32, 1),
                        nn::Dense<T, tinygrad::Identity>(32, classes, 2));
}
template <class T>
auto wide_network() {
  return nn::Sequential(nn::Dense<T, tinygrad::ReLU>(784, 256, 1),
                        nn::Dense<T, tinygrad::ReLU>(256, 256, 2),
                        nn::Dense<T, tinygrad::Identity>(256, classes, 3));
}

template <class T, class Make>
void run(benchmark::State& state, Make make, bool relu) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  std::size_t inputs = 0;
  std::size_t parameters = 0;
  make().for_each_layer([&](const auto& layer) {
    inputs = inputs == 0 ? layer.fan_in() : inputs;
    parameters += layer.parameters().size();
  });
  const Data<T> data(inputs);
  auto net = make();
  if (!steps_agree(make(), data, relu, std::min<std::size_t>(batch, 64))) {
    state.SkipWithError("tinygrad and libtorch disagree on the first step's loss or gradients");
    return;
  }
  TorchNet torch_net(net, dtype_of<T>(), relu);
  torch::optim::Adam torch_adam(torch_net.parameters(), torch::optim::AdamOptions(learning_rate));
  const auto x = torch::from_blob(
      const_cast<T*>(data.x.data()),
      {static_cast<std::int64_t>(samples), static_cast<std::int64_t>(inputs)}, dtype_of<T>());
  const auto y = torch::from_blob(const_cast<std::int64_t*>(data.labels.data()),
                                  {static_cast<std::int64_t>(samples)}, torch::kInt64);
  nn::Adam<T> adam(static_cast<T>(learning_rate));
  tinygrad::Tape<T> tape;
  std::size_t torch_next = 0;
  std::size_t tinygrad_next = 0;
  const auto torch_step = [&] {
    const auto first = static_cast<std::int64_t>(torch_next);
    const auto n = static_cast<std::int64_t>(batch);
    torch_adam.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(torch_net.forward(x.narrow(0, first, n)),
                                                     y.narrow(0, first, n));
    loss.backward();
    torch_adam.step();
    torch_next = (torch_next + batch) % samples;
  };
  const auto tinygrad_training_step = [&] {
    benchmark::DoNotOptimize(tinygrad_step(net, adam, tape, data, tinygrad_next, batch));
    tinygrad_next = (tinygrad_next + batch) % samples;
  };
  const auto ns = harness::compare_to(state, harness::batch_for(batch * parameters / 50),
                                      Contender{"torch", torch_step},
                                      Contender{"tinygrad", tinygrad_training_step});
  const double per_sample = 1e-3 / static_cast<double>(batch);
  state.counters["torch_us"] = state.counters["torch_ns"] * per_sample;
  state.counters["tinygrad_us"] = ns[0] * per_sample;
}

void BM_digits_64_32_10_float(benchmark::State& state) {
  run<float>(state, digits_network<float>, false);
}
void BM_digits_64_32_10_double(benchmark::State& state) {
  run<double>(state, digits_network<double>, false);
}
void BM_wide_784_256_256_10_float(benchmark::State& state) {
  run<float>(state, wide_network<float>, true);
}
void BM_wide_784_256_256_10_double(benchmark::State& state) {
  run<double>(state, wide_network<double>, true);
}
BENCHMARK(BM_digits_64_32_10_float)->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_digits_64_32_10_double)->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_wide_784_256_256_10_float)->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_wide_784_256_256_10_double)->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);

/// Which BLAS libtorch's matrix products run on: the file name of the
/// loaded libblas (Debian switches it with update-alternatives), e.g. the
/// reference implementation or OpenBLAS.
std::string loaded_blas() {
  std::string found = "unknown";
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        const std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (name.find("blas") != std::string::npos) {
          std::error_code error;
          const auto real = std::filesystem::canonical(name, error);
          *static_cast<std::string*>(data) = error ? name : real.string();
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  // One thread for libtorch's own loops and for its BLAS: OpenBLAS keeps a
  // thread pool of its own, which torch::set_num_threads does not reach.
  using SetThreads = void (*)(int);
  if (const auto set_blas_threads =
          reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set_blas_threads(1);
  }
  torch::set_num_threads(1);
  benchmark::AddCustomContext("libtorch", TORCH_VERSION);
  benchmark::AddCustomContext("blas", loaded_blas());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
