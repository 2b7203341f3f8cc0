// SPDX-License-Identifier: MIT
// The notebook's lesson on real data: the UCI handwritten digits (8x8
// images, 10 classes; Debian's python3-sklearn ships them).
//
// 1. Trains a 64-32-10 network (Tanh, softmax cross-entropy, Adam, batches
//    of 32) on 80 % of the images, a progress line per epoch, checks that
//    it classifies the held-out 20 % to --min-accuracy, saves it, and loads
//    the file back into a fresh network.
// 2. The notebook's experiment: one deep network, 8 hidden layers of 32,
//    with Sigmoid, Tanh, ReLU and GELU. The mean |dL/dW| of each layer on
//    the first batch, before any step, and the held-out accuracy after each
//    epoch, as CSV files and SVG charts: sigmoid's gradient fades towards
//    the input, and it learns last.
//
// Usage: digits [OUT_DIR] [--data PATH] [--epochs N] [--deep-epochs N]
//               [--min-accuracy PERCENT]
//        digits --write-synthetic PATH COUNT   (a generated set, for tests)
// Exit status: 0, or 1 if the accuracy is below --min-accuracy, or 2 if
// the data cannot be read.

#include <tinygrad/tinygrad.hpp>

#include "digits_data.hpp"
#include "line_chart.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using tinygrad::Var;
namespace nn = tinygrad::nn;

namespace {

struct Options {
  std::string out = ".";
  std::string data = examples::debian_digits_path;
  int epochs = 30;
  int deep_epochs = 15;
  double min_accuracy = 96;
};

constexpr std::size_t batch_size = 32;
constexpr std::uint64_t split_seed = 2024;
constexpr double learning_rate = 0.003;

/// One epoch of mini-batch training in a seeded order; returns the mean loss.
template <class Net>
double train_epoch(Net& net, nn::Adam<double>& adam, const examples::Digits& train,
                   std::uint64_t seed) {
  const std::vector<std::size_t> order = examples::permutation(train.size(), seed);
  tinygrad::Tape<double> tape;
  std::vector<double> inputs;
  double loss_sum = 0;
  for (std::size_t start = 0; start < train.size(); start += batch_size) {
    const std::size_t count = std::min(batch_size, train.size() - start);
    inputs.clear();
    for (std::size_t s = 0; s < count; ++s) {
      const auto image = train.pixels.begin() +
                         static_cast<std::ptrdiff_t>(order[start + s] * examples::digit_pixels);
      inputs.insert(inputs.end(), image, image + examples::digit_pixels);
    }
    tape.clear();
    net.begin_step();
    const std::span<const Var<double>> logits = net(inputs);
    Var<double> loss = 0.0;
    for (std::size_t s = 0; s < count; ++s) {
      loss += nn::softmax_cross_entropy(
          logits.subspan(s * examples::digit_classes, examples::digit_classes),
          train.labels[order[start + s]]);
    }
    loss /= static_cast<double>(count);
    loss.backward();
    net.collect_gradients();
    adam.step(net);
    loss_sum += loss.value() * static_cast<double>(count);
  }
  return loss_sum / static_cast<double>(train.size());
}

/// Classes predicted without a tape, one per image.
template <class Net>
std::vector<std::size_t> classify(const Net& net, const examples::Digits& data) {
  const std::vector<double> scores = net.predict(data.pixels);
  std::vector<std::size_t> classes;
  for (std::size_t k = 0; k < data.size(); ++k) {
    const auto first = scores.begin() + static_cast<std::ptrdiff_t>(k * examples::digit_classes);
    classes.push_back(
        static_cast<std::size_t>(std::max_element(first, first + examples::digit_classes) - first));
  }
  return classes;
}

/// Percentage of images classified correctly.
template <class Net>
double accuracy(const Net& net, const examples::Digits& data) {
  const std::vector<std::size_t> classes = classify(net, data);
  std::size_t correct = 0;
  for (std::size_t k = 0; k < data.size(); ++k) {
    correct += classes[k] == data.labels[k] ? 1U : 0U;
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(data.size());
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

using Small =
    nn::Sequential<nn::Dense<double, tinygrad::Tanh>, nn::Dense<double, tinygrad::Identity>>;

Small make_small(std::uint64_t seed) {
  return Small(nn::Dense<double, tinygrad::Tanh>(64, 32, seed),
               nn::Dense<double, tinygrad::Identity>(32, 10, seed + 1));
}

/// Trains the 64-32-10 network; returns its held-out accuracy.
double train_small(const Options& options, const examples::Digits& train,
                   const examples::Digits& test) {
  std::printf("64-32-10 Tanh network, Adam (learning rate %g), batches of %zu:\n", learning_rate,
              batch_size);
  Small net = make_small(1);
  nn::Adam<double> adam(learning_rate);
  double held_out = 0;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const double loss = train_epoch(net, adam, train, static_cast<std::uint64_t>(epoch));
    const double elapsed = milliseconds_since(start);
    held_out = accuracy(net, test);
    std::printf("epoch %3d/%d  loss %.4f  train %5.1f %%  held-out %5.1f %%  %6.1f ms\n", epoch,
                options.epochs, loss, accuracy(net, train), held_out, elapsed);
  }

  const std::string path = options.out + "/digits_64_32_10.tgm";
  nn::save_model(path, net);
  Small loaded = make_small(99);
  nn::load_model(path, loaded);
  const bool same = classify(loaded, test) == classify(net, test) &&
                    loaded.predict(test.pixels) == net.predict(test.pixels);
  std::printf("saved %s (%ju bytes); loaded into a fresh network: %s\n", path.c_str(),
              static_cast<std::uintmax_t>(std::filesystem::file_size(path)),
              same ? "the same outputs" : "DIFFERENT outputs");
  if (!same) {
    throw std::runtime_error("the loaded model differs from the saved one");
  }
  return held_out;
}

/// 64 -> 8 hidden layers of 32 (policy P) -> 10.
template <class P>
auto make_deep(std::uint64_t seed) {
  using Hidden = nn::Dense<double, P>;
  return nn::Sequential(Hidden(64, 32, seed), Hidden(32, 32, seed + 1), Hidden(32, 32, seed + 2),
                        Hidden(32, 32, seed + 3), Hidden(32, 32, seed + 4),
                        Hidden(32, 32, seed + 5), Hidden(32, 32, seed + 6),
                        Hidden(32, 32, seed + 7),
                        nn::Dense<double, tinygrad::Identity>(32, 10, seed + 8));
}

struct DeepRun {
  examples::Series gradient_flow;
  examples::Series accuracy;
};

template <class P>
DeepRun run_deep(const char* name, const Options& options, const examples::Digits& train,
                 const examples::Digits& test, std::ofstream& flow_csv,
                 std::ofstream& accuracy_csv) {
  auto net = make_deep<P>(11);
  DeepRun run{{name, {}, {}}, {name, {}, {}}};

  // The gradient of the first batch, before any step.
  {
    tinygrad::Tape<double> tape;
    net.begin_step();
    const std::size_t count = std::min(batch_size, train.size());
    const std::vector<double> inputs(
        train.pixels.begin(),
        train.pixels.begin() + static_cast<std::ptrdiff_t>(count * examples::digit_pixels));
    const std::span<const Var<double>> logits = net(inputs);
    Var<double> loss = 0.0;
    for (std::size_t s = 0; s < count; ++s) {
      loss += nn::softmax_cross_entropy(
          logits.subspan(s * examples::digit_classes, examples::digit_classes), train.labels[s]);
    }
    (loss / static_cast<double>(count)).backward();
    net.collect_gradients();
  }
  const nn::GradientFlowReport report = nn::gradient_flow(net);
  for (std::size_t layer = 0; layer < report.layers.size(); ++layer) {
    const double gradient = report.layers[layer].mean_abs_weight_grad;
    run.gradient_flow.x.push_back(static_cast<double>(layer + 1));
    run.gradient_flow.y.push_back(gradient);
    flow_csv << name << ',' << layer + 1 << ',' << gradient << ','
             << report.layers[layer].ratio_to_last << '\n';
  }

  nn::Adam<double> adam(learning_rate);
  for (int epoch = 1; epoch <= options.deep_epochs; ++epoch) {
    const double loss = train_epoch(net, adam, train, static_cast<std::uint64_t>(epoch));
    const double held_out = accuracy(net, test);
    run.accuracy.x.push_back(epoch);
    run.accuracy.y.push_back(held_out);
    accuracy_csv << name << ',' << epoch << ',' << loss << ',' << held_out << '\n';
  }
  std::printf("%-8s %12.3e %12.3e %12.3e %10.1f %%\n", name, run.gradient_flow.y.front(),
              run.gradient_flow.y.back(), run.gradient_flow.y.front() / run.gradient_flow.y.back(),
              run.accuracy.y.empty() ? 0.0 : run.accuracy.y.back());
  return run;
}

void run_deep_experiment(const Options& options, const examples::Digits& train,
                         const examples::Digits& test) {
  std::printf(
      "\nThe notebook's experiment: 64 -> 8 hidden layers of 32 -> 10, the same seeds and\n"
      "training for each activation. Mean |dL/dW| on the first batch, before any step:\n\n"
      "%-8s %12s %12s %12s %12s\n",
      "", "layer 1", "layer 9", "1 / 9", "held-out");
  std::ofstream flow_csv(options.out + "/deep_gradient_flow.csv");
  flow_csv << "activation,layer,mean_abs_weight_grad,ratio_to_last\n";
  std::ofstream accuracy_csv(options.out + "/deep_accuracy.csv");
  accuracy_csv << "activation,epoch,train_loss,held_out_accuracy_percent\n";
  const std::vector<DeepRun> runs{
      run_deep<tinygrad::Sigmoid>("Sigmoid", options, train, test, flow_csv, accuracy_csv),
      run_deep<tinygrad::Tanh>("Tanh", options, train, test, flow_csv, accuracy_csv),
      run_deep<tinygrad::ReLU>("ReLU", options, train, test, flow_csv, accuracy_csv),
      run_deep<tinygrad::GELU>("GELU", options, train, test, flow_csv, accuracy_csv)};
  std::printf("(held-out accuracy after %d epochs)\n", options.deep_epochs);

  std::vector<examples::Series> flow;
  std::vector<examples::Series> learning;
  for (const DeepRun& run : runs) {
    flow.push_back(run.gradient_flow);
    learning.push_back(run.accuracy);
  }
  examples::write_line_chart(options.out + "/deep_gradient_flow.svg",
                             "Digits, 8 hidden layers of 32: gradient per layer before training",
                             "layer (1 = next to the input, 9 = output)",
                             "mean |dL/dW| (loss per unit weight)", flow, true);
  examples::write_line_chart(options.out + "/deep_accuracy.svg",
                             "Digits, 8 hidden layers of 32: held-out accuracy",
                             "epoch (one pass over the training images)",
                             "held-out accuracy (% of images)", learning, false);
  std::printf("wrote deep_gradient_flow.csv/.svg and deep_accuracy.csv/.svg in %s\n",
              options.out.c_str());
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        throw std::invalid_argument(arg + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--data") {
      options.data = value();
    } else if (arg == "--epochs") {
      options.epochs = std::stoi(value());
    } else if (arg == "--deep-epochs") {
      options.deep_epochs = std::stoi(value());
    } else if (arg == "--min-accuracy") {
      options.min_accuracy = std::stod(value());
    } else if (!arg.empty() && arg[0] != '-') {
      options.out = arg;
    } else {
      throw std::invalid_argument("unknown option " + arg);
    }
  }
  if (options.epochs < 1 || options.deep_epochs < 0) {
    throw std::invalid_argument("--epochs must be at least 1, --deep-epochs at least 0");
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--write-synthetic") {
    examples::write_synthetic_digits(argv[2], static_cast<std::size_t>(std::stoul(argv[3])), 7);
    return 0;
  }
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "digits: %s\n", error.what());
    return 2;
  }
  std::filesystem::create_directories(options.out);
  if (!std::filesystem::exists(options.data)) {
    std::fprintf(stderr,
                 "digits: %s does not exist.\n"
                 "Install Debian's python3-sklearn, which ships the digits there "
                 "(apt-get install python3-sklearn),\n"
                 "or pass --data PATH to a copy of digits.csv.gz or digits.csv.\n",
                 options.data.c_str());
    return 2;
  }
  examples::Digits all;
  try {
    all = examples::read_digits(options.data);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "digits: %s\n", error.what());
    return 2;
  }
  const auto [train, test] = examples::split(all, 0.2, split_seed);
  std::printf("%zu images from %s: %zu to train on, %zu held out (split with seed %d)\n\n",
              all.size(), options.data.c_str(), train.size(), test.size(),
              static_cast<int>(split_seed));

  const double held_out = train_small(options, train, test);
  if (options.deep_epochs > 0) {
    run_deep_experiment(options, train, test);
  }
  if (held_out < options.min_accuracy) {
    std::printf("\nheld-out accuracy %.1f %% is below the %.1f %% asked for\n", held_out,
                options.min_accuracy);
    return 1;
  }
  std::printf("\nheld-out accuracy %.1f %% (at least %.1f %% asked for)\n", held_out,
              options.min_accuracy);
  return 0;
}
