// SPDX-License-Identifier: MIT
// Saving and loading a Sequential (model_file.hpp): bit-exact round trips of
// parameters and optimizer state, the byte layout docs/nn.md describes, and
// every way a file can be wrong (another architecture, value type or
// version; each truncation; each corrupted byte), each refused with
// model_file_error and with the network and optimizer left as they were.

#include <tinygrad/loss.hpp>
#include <tinygrad/model_file.hpp>
#include <tinygrad/nn.hpp>
#include <tinygrad/optim.hpp>

#include <doctest/doctest.h>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using tinygrad::Tape;
using tinygrad::Var;
namespace nn = tinygrad::nn;

namespace {

template <class T>
using Net = nn::Sequential<nn::Dense<T, tinygrad::Tanh>, nn::Dense<T, tinygrad::Identity>>;

template <class T>
Net<T> make_net(std::uint64_t seed) {
  return Net<T>(nn::Dense<T, tinygrad::Tanh>(3, 4, seed),
                nn::Dense<T, tinygrad::Identity>(4, 2, seed + 1));
}

/// Every parameter of a model, layer after layer.
template <class Model>
auto parameters_of(const Model& net) {
  std::vector<typename Model::value_type> values;
  net.for_each_layer([&](const auto& layer) {
    values.insert(values.end(), layer.parameters().begin(), layer.parameters().end());
  });
  return values;
}

/// Bit patterns, so that NaNs and signed zeros compare exactly.
template <class T>
std::vector<std::uint64_t> bits_of(const std::vector<T>& values) {
  std::vector<std::uint64_t> bits;
  for (const T value : values) {
    if constexpr (sizeof(T) == 4) {
      bits.push_back(std::bit_cast<std::uint32_t>(value));
    } else {
      bits.push_back(std::bit_cast<std::uint64_t>(value));
    }
  }
  return bits;
}

/// One training step on a fixed mini-batch of two samples.
template <class T, class Optimizer>
void train_step(Net<T>& net, Optimizer& optimizer) {
  const std::vector<T> inputs{T(0.5), T(-1), T(2), T(-0.25), T(0.75), T(1.5)};
  const std::vector<T> targets{T(1), T(-1), T(0.5), T(0)};
  Tape<T> tape;
  net.begin_step();
  const auto outputs = net(inputs);
  nn::mean_squared_error(std::vector<Var<T>>(outputs.begin(), outputs.end()), targets).backward();
  net.collect_gradients();
  optimizer.step(net);
}

std::string saved(const Net<double>& net) {
  std::ostringstream out;
  nn::save_model(out, net);
  return out.str();
}

/// Loads `bytes` into a network with other parameters; requires a
/// model_file_error and the network unchanged; returns the message.
std::string refused(const std::string& bytes) {
  Net<double> net = make_net<double>(99);
  const auto before = bits_of(parameters_of(net));
  std::istringstream in(bytes);
  std::string message;
  try {
    nn::load_model(in, net);
  } catch (const nn::model_file_error& error) {
    message = error.what();
  }
  CHECK(bits_of(parameters_of(net)) == before);
  return message;
}

}  // namespace

TEST_CASE("the checksum is CRC-32 as zlib computes it") {
  // The standard check value of CRC-32 for the nine ASCII digits.
  nn::detail::Crc32 crc;
  const std::string digits = "123456789";
  crc.update(reinterpret_cast<const unsigned char*>(digits.data()), digits.size());
  CHECK(crc.value() == 0xCBF43926U);
}

TEST_CASE_TEMPLATE("a saved network loads bit for bit, special values included", T, float, double) {
  Net<T> trained = make_net<T>(1);
  nn::Adam<T> adam(T(0.01));
  for (int step = 0; step < 3; ++step) {
    train_step(trained, adam);
  }
  // Values whose bits a text format could lose.
  const auto weights = trained.template layer<0>().parameters();
  weights[0] = -T(0);
  weights[1] = std::numeric_limits<T>::denorm_min();
  weights[2] = std::numeric_limits<T>::infinity();
  weights[3] = std::bit_cast<T>(
      std::bit_cast<std::conditional_t<sizeof(T) == 4, std::uint32_t,
                                       std::uint64_t>>(std::numeric_limits<T>::quiet_NaN()) |
      1U);  // a NaN with a payload
  weights[4] = std::numeric_limits<T>::max();
  weights[5] = -std::numeric_limits<T>::min();

  std::stringstream file;
  nn::save_model(file, trained);
  Net<T> loaded = make_net<T>(2);
  REQUIRE(bits_of(parameters_of(loaded)) != bits_of(parameters_of(trained)));
  nn::load_model(file, loaded);
  CHECK(bits_of(parameters_of(loaded)) == bits_of(parameters_of(trained)));
}

TEST_CASE("the file is laid out as docs/nn.md describes") {
  const Net<double> net = make_net<double>(3);
  const std::string bytes = saved(net);
  // Header: magic, version, value size, layer count, per layer fan_in,
  // fan_out and the policy name with its length, the optimizer flag, CRC.
  const std::size_t header = 8 + 4 + 1 + 4 + (8 + 8 + 1 + 4) + (8 + 8 + 1 + 8) + 1 + 4;
  const std::size_t body = (3 * 4 + 4 + 4 * 2 + 2) * 8 + 4;
  REQUIRE(bytes.size() == header + body);
  CHECK(bytes.substr(0, 8) == "tinygrad");
  CHECK(bytes.substr(8, 4) == std::string("\x01\x00\x00\x00", 4));     // version 1, little-endian
  CHECK(bytes[12] == 8);                                               // double
  CHECK(bytes.substr(13, 4) == std::string("\x02\x00\x00\x00", 4));    // two layers
  CHECK(bytes.substr(17, 8) == std::string("\x03\0\0\0\0\0\0\0", 8));  // fan_in 3
  CHECK(bytes.substr(25, 8) == std::string("\x04\0\0\0\0\0\0\0", 8));  // fan_out 4
  CHECK(bytes.substr(33, 5) == "\x04tanh");
  CHECK(bytes.substr(54, 9) == "\x08identity");
  CHECK(bytes[63] == 0);  // no optimizer state
  // The first parameter, w_00, after the header's checksum, little-endian.
  const auto w00 = std::bit_cast<std::uint64_t>(net.layer<0>().parameters()[0]);
  for (std::size_t i = 0; i < 8; ++i) {
    CHECK(static_cast<unsigned char>(bytes[header + i]) == ((w00 >> (8 * i)) & 0xFFU));
  }
}

TEST_CASE("a file of another architecture or value type is refused, naming the difference") {
  std::ostringstream other;
  SUBCASE("another shape") {
    nn::save_model(other, Net<double>(nn::Dense<double, tinygrad::Tanh>(3, 5, 1),
                                      nn::Dense<double, tinygrad::Identity>(5, 2, 2)));
    CHECK(refused(other.str()) ==
          "nn::load_model: layer 0 is 3 -> 5 tanh in the file, 3 -> 4 tanh in this network");
  }
  SUBCASE("another policy") {
    nn::save_model(other, nn::Sequential(nn::Dense<double, tinygrad::Sigmoid>(3, 4, 1),
                                         nn::Dense<double, tinygrad::Identity>(4, 2, 2)));
    CHECK(refused(other.str()) ==
          "nn::load_model: layer 0 is 3 -> 4 sigmoid in the file, 3 -> 4 tanh in this network");
  }
  SUBCASE("another number of layers") {
    nn::save_model(other, nn::Sequential(nn::Dense<double, tinygrad::Tanh>(3, 4, 1)));
    CHECK(refused(other.str()) == "nn::load_model: the file holds 1 layers, this network 2");
  }
  SUBCASE("float values") {
    nn::save_model(other, make_net<float>(1));
    CHECK(refused(other.str()) ==
          "nn::load_model: the file holds 4-byte (float) values, this network 8-byte (double)");
  }
}

TEST_CASE("a file that is not a model, of another version, or with bytes after it, is refused") {
  std::string bytes = saved(make_net<double>(1));
  CHECK(refused("") == "nn::load_model: the file ends early, after 0 bytes, in the magic number");
  CHECK(refused("# a text file, not a model\n") ==
        "nn::load_model: not a tinygrad model file (it does not begin with \"tinygrad\")");
  std::string version_2 = bytes;
  version_2[8] = 2;
  CHECK(refused(version_2) ==
        "nn::load_model: the file is format version 2; this tinygrad reads 1");
  CHECK(refused(bytes + "x") ==
        "nn::load_model: the file goes on after the model's last checksum, at byte " +
            std::to_string(bytes.size()));
}

TEST_CASE("every truncation and every corrupted byte is refused, the network unchanged") {
  const std::string bytes = saved(make_net<double>(1));
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    INFO("the first ", length, " bytes");
    CHECK(refused(bytes.substr(0, length)).find("the file ends early") != std::string::npos);
  }
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    for (const unsigned flip : {0x01U, 0x80U, 0xFFU}) {
      INFO("byte ", at, " xor ", flip);
      std::string corrupted = bytes;
      corrupted[at] = static_cast<char>(static_cast<unsigned char>(corrupted[at]) ^ flip);
      CHECK_FALSE(refused(corrupted).empty());
    }
  }
  // Past the magic and the version, corruption is reported as such.
  std::string corrupted = bytes;
  corrupted[20] = static_cast<char>(corrupted[20] ^ 0x10);  // in layer 0's fan_in
  CHECK(refused(corrupted) ==
        "nn::load_model: the checksum of the header does not match its bytes: the file is "
        "corrupted");
  corrupted = bytes;
  corrupted[bytes.size() - 10] =
      static_cast<char>(corrupted[bytes.size() - 10] ^ 0x10);  // in the last bias
  CHECK(refused(corrupted) ==
        "nn::load_model: the checksum of the parameters does not match its bytes: the file is "
        "corrupted");
}

TEST_CASE_TEMPLATE("an optimizer's state saved with the model continues training exactly",
                   Optimizer, nn::Adam<double>, nn::AdamW<double>, nn::SGD<double>) {
  const auto make_optimizer = [] {
    if constexpr (std::is_same_v<Optimizer, nn::SGD<double>>) {
      return nn::SGD<double>(0.05, 0.9);
    } else {
      return Optimizer(0.01);
    }
  };
  Net<double> original = make_net<double>(1);
  Optimizer original_optimizer = make_optimizer();
  for (int step = 0; step < 3; ++step) {
    train_step(original, original_optimizer);
  }
  std::stringstream file;
  nn::save_model(file, original, original_optimizer);

  Net<double> resumed = make_net<double>(7);
  Optimizer resumed_optimizer = make_optimizer();
  nn::load_model(file, resumed, resumed_optimizer);
  CHECK(resumed_optimizer.steps() == 3);
  for (int step = 0; step < 2; ++step) {
    train_step(original, original_optimizer);
    train_step(resumed, resumed_optimizer);
  }
  CHECK(bits_of(parameters_of(resumed)) == bits_of(parameters_of(original)));

  // Without an optimizer, the state in the file is skipped.
  file.clear();
  file.seekg(0);
  Net<double> weights_only = make_net<double>(8);
  nn::load_model(file, weights_only);
}

TEST_CASE("an optimizer state that does not fit is refused, network and optimizer unchanged") {
  Net<double> net = make_net<double>(1);
  nn::Adam<double> adam(0.01);
  train_step(net, adam);
  std::ostringstream with_adam;
  nn::save_model(with_adam, net, adam);

  Net<double> other = make_net<double>(5);
  const auto before = bits_of(parameters_of(other));
  SUBCASE("a file without optimizer state") {
    nn::Adam<double> fresh(0.01);
    std::istringstream in(saved(net));
    CHECK_THROWS_WITH_AS(nn::load_model(in, other, fresh),
                         "nn::load_model: the file holds no optimizer state (it was saved "
                         "without an optimizer)",
                         nn::model_file_error);
    CHECK(fresh.steps() == 0);
  }
  SUBCASE("another optimizer's state") {
    nn::SGD<double> sgd(0.1, 0.9);
    std::istringstream in(with_adam.str());
    CHECK_THROWS_WITH_AS(nn::load_model(in, other, sgd),
                         "nn::load_model: the file holds Adam state, the optimizer given is SGD",
                         nn::model_file_error);
    CHECK(sgd.steps() == 0);
  }
  CHECK(bits_of(parameters_of(other)) == before);

  SUBCASE("saving the state of an optimizer that steps other parameters too") {
    std::vector<double> extra(5, 1.0);
    const std::vector<double> extra_gradients(5, 0.5);
    nn::Adam<double> shared(0.01);
    net.begin_step();
    Tape<double> tape;
    const std::vector<double> input{1, 2, 3};
    const auto outputs = net(input);
    nn::mean_squared_error(std::vector<Var<double>>(outputs.begin(), outputs.end()),
                           std::vector<double>{0, 0})
        .backward();
    net.collect_gradients();
    shared.step(net, nn::ParameterBlock<double>{extra, extra_gradients});
    std::ostringstream out;
    CHECK_THROWS_AS(nn::save_model(out, net, shared), std::invalid_argument);
  }
}

TEST_CASE("restore refuses a state that is not this optimizer's, and changes nothing") {
  Net<double> net = make_net<double>(1);
  nn::Adam<double> adam(0.01);
  train_step(net, adam);
  nn::OptimizerState<double> state = adam.state();
  REQUIRE(state.vectors.size() == 2);
  REQUIRE(state.steps == 1);

  nn::Adam<double> other(0.01);
  nn::OptimizerState<double> short_vector = state;
  short_vector.vectors[1].pop_back();
  CHECK_THROWS_WITH_AS(other.restore(short_vector),
                       "nn::Adam: restore: state vector 1 has 25 values, its blocks together 26",
                       std::invalid_argument);
  nn::OptimizerState<double> sgd_state = state;
  sgd_state.optimizer = "SGD";
  CHECK_THROWS_AS(other.restore(sgd_state), std::invalid_argument);
  CHECK(other.steps() == 0);
  CHECK(other.state().vectors[0].empty());

  other.restore(state);
  CHECK(other.state().vectors == state.vectors);
  // The restored state belongs to the network's blocks: others are refused.
  std::vector<double> values(3, 0.0);
  const std::vector<double> gradients(3, 1.0);
  CHECK_THROWS_AS(other.step(values, gradients), std::invalid_argument);
}

TEST_CASE("saving to and loading from a path") {
  // A directory of its own, so that builds testing at once do not collide.
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() /
      ("tinygrad_model_file_test_" + std::to_string(std::random_device()()));
  std::filesystem::create_directories(directory);
  const std::filesystem::path path = directory / "net.tgm";
  const Net<double> net = make_net<double>(1);
  nn::save_model(path, net);
  CHECK_FALSE(std::filesystem::exists(directory / "net.tgm.partial"));
  Net<double> loaded = make_net<double>(2);
  nn::load_model(path, loaded);
  CHECK(bits_of(parameters_of(loaded)) == bits_of(parameters_of(net)));

  const std::filesystem::path missing = directory / "missing.tgm";
  CHECK_THROWS_WITH_AS(
      nn::load_model(missing, loaded),
      ("nn::load_model(\"" + missing.string() + "\"): cannot open the file").c_str(),
      nn::model_file_error);
  CHECK_THROWS_AS(nn::save_model(directory / "no such directory" / "net.tgm", net),
                  nn::model_file_error);
  // A file that is not a model names its path.
  std::ofstream(directory / "text.tgm") << "hello";
  CHECK_THROWS_WITH_AS(nn::load_model(directory / "text.tgm", loaded),
                       ("nn::load_model(\"" + (directory / "text.tgm").string() +
                        "\"): the file ends early, after 5 bytes, in the magic number")
                           .c_str(),
                       nn::model_file_error);
  std::filesystem::remove_all(directory);
}

TEST_CASE("a stream that cannot be written is model_file_error") {
  std::ostringstream broken;
  broken.setstate(std::ios::badbit);
  CHECK_THROWS_WITH_AS(nn::save_model(broken, make_net<double>(1)),
                       "nn::save_model: writing the model failed", nn::model_file_error);
  nn::Adam<double> adam(0.01);
  CHECK_THROWS_AS(nn::save_model(broken, make_net<double>(1), adam), nn::model_file_error);
}
