// SPDX-License-Identifier: MIT
// libFuzzer target: bytes become a model file, loaded into a fixed network,
// once on its own and once with an Adam optimizer. Checked on every input: no
// crash, no sanitizer report, no hang; a refused file throws
// nn::model_file_error and leaves the network and the optimizer as they
// were; a file that loads saves again to the same bytes (modulo the two
// checksums, which this build does not compare: see model_file.hpp), and
// those bytes load again to the same parameters.
//
// Build and run (clang): cmake --preset fuzz && cmake --build --preset fuzz &&
//   build/fuzz/tests/fuzz/model_file_fuzzer -max_total_time=60 tests/fuzz/model_file_corpus
//
// The seeds in tests/fuzz/model_file_corpus are files of this network:
// without optimizer state, with the Adam state of three steps, and with an
// unstepped Adam's state. `model_file_fuzzer --write-seeds DIR` writes them.

#include <tinygrad/loss.hpp>
#include <tinygrad/model_file.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace nn = tinygrad::nn;

namespace {

using Net =
    nn::Sequential<nn::Dense<double, tinygrad::Tanh>, nn::Dense<double, tinygrad::Identity>>;

Net make_net() {
  return Net(nn::Dense<double, tinygrad::Tanh>(3, 4, 1),
             nn::Dense<double, tinygrad::Identity>(4, 2, 2));
}

std::vector<std::uint64_t> bits_of(const Net& net) {
  std::vector<std::uint64_t> bits;
  net.for_each_layer([&](const auto& layer) {
    for (const double value : layer.parameters()) {
      bits.push_back(std::bit_cast<std::uint64_t>(value));
    }
  });
  return bits;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "model_file_fuzzer: %s\n", what);
  std::abort();
}

/// Both checksums are 4 bytes: the header's ends where the parameters
/// begin. Bytes that load compare equal to their re-save except there.
bool same_but_checksums(const std::string& a, const std::string& b, std::size_t header_end) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool checksum = (i + 4 >= header_end && i < header_end) || i + 4 >= a.size();
    if (!checksum && a[i] != b[i]) {
      return false;
    }
  }
  return true;
}

template <class Load>
void check(const std::string& bytes, Net& net, const Load& load) {
  const std::vector<std::uint64_t> before = bits_of(net);
  std::istringstream in(bytes);
  try {
    load(in);
  } catch (const nn::model_file_error&) {
    if (bits_of(net) != before) {
      fail("a refused file changed the network");
    }
    throw;
  }
}

void train_step(Net& net, nn::Adam<double>& adam) {
  tinygrad::Tape<double> tape;
  net.begin_step();
  const std::vector<double> input{0.5, -1, 2};
  const auto outputs = net(input);
  nn::mean_squared_error(std::vector<tinygrad::Var<double>>(outputs.begin(), outputs.end()),
                         std::vector<double>{1, -1})
      .backward();
  net.collect_gradients();
  adam.step(net);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  Net net = make_net();
  try {
    check(bytes, net, [&](std::istream& in) { nn::load_model(in, net); });
    // It loaded: saved again (without optimizer state, as it was loaded) it
    // is the same file if it held none, and it loads to the same values.
    std::ostringstream again;
    nn::save_model(again, net);
    const std::size_t header_end = 8 + 4 + 1 + 4 + (8 + 8 + 1 + 4) + (8 + 8 + 1 + 8) + 1 + 4;
    const bool had_state = bytes[header_end - 5] != 0;
    if (!had_state && !same_but_checksums(bytes, again.str(), header_end)) {
      fail("a loaded file saves to other bytes");
    }
    Net reloaded = make_net();
    std::istringstream in(again.str());
    nn::load_model(in, reloaded);
    if (bits_of(reloaded) != bits_of(net)) {
      fail("a re-saved network loads to other values");
    }
  } catch (const nn::model_file_error&) {
  }

  Net with_state = make_net();
  nn::Adam<double> adam(0.01);
  try {
    check(bytes, with_state, [&](std::istream& in) { nn::load_model(in, with_state, adam); });
    // The restored state must be usable: one more step.
    train_step(with_state, adam);
  } catch (const nn::model_file_error&) {
    if (adam.steps() != 0) {
      fail("a refused file changed the optimizer");
    }
  }
  return 0;
}

// `--write-seeds DIR`: the seeds, written by the library itself.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (*argc == 3 && std::strcmp((*argv)[1], "--write-seeds") == 0) {
    const std::filesystem::path directory = (*argv)[2];
    Net net = make_net();
    nn::save_model(directory / "weights_only.tgm", net);
    nn::Adam<double> unstepped(0.01);
    nn::save_model(directory / "adam_unstepped.tgm", net, unstepped);
    nn::Adam<double> adam(0.01);
    for (int step = 0; step < 3; ++step) {
      train_step(net, adam);
    }
    nn::save_model(directory / "adam_three_steps.tgm", net, adam);
    std::exit(0);
  }
  return 0;
}
