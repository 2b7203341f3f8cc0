// SPDX-License-Identifier: MIT
#pragma once

// Saving a trained nn::Sequential and loading it into a network of the same
// architecture:
//
//   nn::save_model("digits.tgm", net);          // or (path, net, optimizer)
//   nn::load_model("digits.tgm", net);          // or (path, net, optimizer)
//
// A model file holds the architecture (each layer's shape and policy name),
// the parameters bit for bit, and optionally an optimizer's state, in a
// small versioned binary format (docs/nn.md, "Saving and loading"). Loading
// checks the whole file before it changes anything: a file of another
// architecture, value type or version, and a truncated or corrupted one,
// throw model_file_error naming what differs, and leave the network and the
// optimizer as they were.

#include <tinygrad/activation.hpp>
#include <tinygrad/nn.hpp>
#include <tinygrad/optim.hpp>

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinygrad::nn {

/// Thrown when a model file cannot be read into the network given, or
/// cannot be written: what() says which file part or which layer differs.
class model_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The format version save_model writes and load_model reads.
inline constexpr std::uint32_t model_file_version = 1;

namespace detail {

inline constexpr std::string_view model_file_magic = "tinygrad";
// Bounds on the counts a header may state, so that a corrupted count is
// reported as such instead of being read as a request for memory.
inline constexpr std::uint64_t max_model_layers = 1U << 16;
inline constexpr std::uint64_t max_state_vectors = 8;

/// CRC-32 as zlib, PNG and Ethernet compute it (reflected polynomial
/// 0xEDB88320, initial and final value all ones).
class Crc32 {
 public:
  void update(const unsigned char* data, std::size_t size) noexcept {
    for (std::size_t i = 0; i < size; ++i) {
      state_ = table[(state_ ^ data[i]) & 0xFFU] ^ (state_ >> 8);
    }
  }
  [[nodiscard]] std::uint32_t value() const noexcept { return ~state_; }

 private:
  static constexpr std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> entries{};
    for (std::uint32_t byte = 0; byte < 256; ++byte) {
      std::uint32_t crc = byte;
      for (int bit = 0; bit < 8; ++bit) {
        crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0xEDB88320U : crc >> 1;
      }
      entries[byte] = crc;
    }
    return entries;
  }();
  std::uint32_t state_ = 0xFFFFFFFFU;
};

template <class T>
using BitsOf = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

template <class T>
constexpr bool storable_value = std::numeric_limits<T>::is_iec559 &&
                                (sizeof(T) == 4 || sizeof(T) == 8);

/// What a model file says about one layer, and what a network's layer is.
struct LayerShape {
  std::uint64_t fan_in = 0;
  std::uint64_t fan_out = 0;
  std::string policy;

  [[nodiscard]] std::uint64_t parameters() const noexcept { return fan_out * fan_in + fan_out; }
  [[nodiscard]] std::string describe() const {
    return std::to_string(fan_in) + " -> " + std::to_string(fan_out) + " " + policy;
  }
  friend bool operator==(const LayerShape&, const LayerShape&) = default;
};

template <class Model>
std::vector<LayerShape> shapes_of(const Model& model) {
  std::vector<LayerShape> shapes;
  model.for_each_layer([&](const auto& layer) {
    using Layer = std::remove_cvref_t<decltype(layer)>;
    // A name is stored in at most 255 bytes.
    const std::string_view name = tinygrad::detail::policy_name<typename Layer::policy>();
    shapes.push_back({layer.fan_in(), layer.fan_out(), std::string(name.substr(0, 255))});
  });
  return shapes;
}

/// Builds a file in memory: little-endian integers, IEEE values by their
/// bits, and after each section the CRC-32 of its bytes.
class ModelWriter {
 public:
  void integer(std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) {
      bytes_.push_back(static_cast<char>((value >> (8 * i)) & 0xFFU));
    }
  }
  void text(std::string_view text) {
    integer(text.size(), 1);
    bytes_.append(text);
  }
  template <class T>
  void value(T x) {
    integer(std::bit_cast<BitsOf<T>>(x), sizeof(T));
  }
  void end_section() {
    Crc32 crc;
    crc.update(reinterpret_cast<const unsigned char*>(bytes_.data()) + section_start_,
               bytes_.size() - section_start_);
    integer(crc.value(), 4);
    section_start_ = bytes_.size();
  }
  [[nodiscard]] const std::string& bytes() const noexcept { return bytes_; }

 private:
  std::string bytes_;
  std::size_t section_start_ = 0;
};

/// Reads a file section by section, keeping the CRC-32 of the section so far.
/// Every failure is a model_file_error that begins with `where`.
class ModelReader {
 public:
  ModelReader(std::istream& in, std::string where) : in_(in), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw model_file_error(where_ + ": " + what);
  }

  void read(unsigned char* to, std::size_t size, const char* what) {
    in_.read(reinterpret_cast<char*>(to), static_cast<std::streamsize>(size));
    const auto got = static_cast<std::size_t>(in_.gcount());
    offset_ += got;
    if (got != size) {
      fail("the file ends early, after " + std::to_string(offset_) + " bytes, in " + what);
    }
    crc_.update(to, size);
  }
  std::uint64_t integer(int bytes, const char* what) {
    std::array<unsigned char, 8> buffer{};
    read(buffer.data(), static_cast<std::size_t>(bytes), what);
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) {
      value |= static_cast<std::uint64_t>(buffer[static_cast<std::size_t>(i)]) << (8 * i);
    }
    return value;
  }
  std::string text(const char* what) {
    std::string text(integer(1, what), '\0');
    read(reinterpret_cast<unsigned char*>(text.data()), text.size(), what);
    return text;
  }
  /// `count` values of type T, appended to `values`.
  template <class T>
  void values(std::size_t count, std::vector<T>& values, const char* what) {
    std::vector<unsigned char> bytes(count * sizeof(T));
    read(bytes.data(), bytes.size(), what);
    for (std::size_t k = 0; k < count; ++k) {
      BitsOf<T> bits = 0;
      for (std::size_t i = 0; i < sizeof(T); ++i) {
        bits |= static_cast<BitsOf<T>>(static_cast<BitsOf<T>>(bytes[k * sizeof(T) + i]) << (8 * i));
      }
      values.push_back(std::bit_cast<T>(bits));
    }
  }
  /// Reads the section's stored CRC-32 and compares it with the bytes read.
  void end_section([[maybe_unused]] const char* section) {
    [[maybe_unused]] const std::uint32_t computed = crc_.value();
    [[maybe_unused]] const auto stored = static_cast<std::uint32_t>(integer(4, "a checksum"));
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    // (A fuzzing build, by libFuzzer's convention, skips the comparison, so
    // that mutated files reach the checks behind it.)
    if (stored != computed) {
      fail(std::string("the checksum of the ") + section +
           " does not match its bytes: the file is corrupted");
    }
#endif
    crc_ = Crc32();
  }
  void expect_end() {
    if (in_.peek() != std::istream::traits_type::eof()) {
      fail("the file goes on after the model's last checksum, at byte " + std::to_string(offset_));
    }
  }

 private:
  std::istream& in_;
  std::string where_;
  std::uint64_t offset_ = 0;
  Crc32 crc_;
};

template <class Optimizer, class T>
concept SavableOptimizer = requires(Optimizer& optimizer, const OptimizerState<T>& state) {
  { std::as_const(optimizer).state() } -> std::same_as<OptimizerState<T>>;
  optimizer.restore(state);
};

/// The optimizer a load or save without one passes: it has no state.
struct NoOptimizer {};

template <class T, class... Layers, class Optimizer>
std::string model_file_bytes(const Sequential<Layers...>& net, const Optimizer* optimizer) {
  static_assert(storable_value<T>,
                "nn::save_model: a model file stores float and double parameters only.");
  const std::vector<LayerShape> shapes = shapes_of(net);
  ModelWriter file;
  for (const char c : model_file_magic) {
    file.integer(static_cast<unsigned char>(c), 1);
  }
  file.integer(model_file_version, 4);
  file.integer(sizeof(T), 1);
  file.integer(shapes.size(), 4);
  for (const LayerShape& shape : shapes) {
    file.integer(shape.fan_in, 8);
    file.integer(shape.fan_out, 8);
    file.text(shape.policy);
  }
  OptimizerState<T> state;
  if constexpr (!std::is_same_v<Optimizer, NoOptimizer>) {
    state = optimizer->state();
    if (!state.block_sizes.empty()) {
      bool same = state.block_sizes.size() == shapes.size();
      for (std::size_t k = 0; same && k < shapes.size(); ++k) {
        same = state.block_sizes[k] == shapes[k].parameters();
      }
      if (!same) {
        throw std::invalid_argument(
            "nn::save_model: the " + state.optimizer + " state belongs to " +
            std::to_string(state.block_sizes.size()) +
            " parameter blocks that are not this network's layers; save an optimizer that steps "
            "this network alone");
      }
    }
    file.integer(1, 1);
    file.text(state.optimizer);
    file.integer(state.steps, 8);
    file.integer(state.vectors.size(), 1);
    file.integer(state.block_sizes.size(), 4);
    for (const std::size_t size : state.block_sizes) {
      file.integer(size, 8);
    }
  } else {
    file.integer(0, 1);
  }
  file.end_section();
  net.for_each_layer([&](const auto& layer) {
    for (const auto value : layer.parameters()) {
      file.value<T>(value);
    }
  });
  for (const std::vector<T>& vector : state.vectors) {
    for (const T value : vector) {
      file.value<T>(value);
    }
  }
  file.end_section();
  return file.bytes();
}

inline std::string value_type_name(std::uint64_t bytes) {
  const char* name = bytes == 4 ? " (float)" : bytes == 8 ? " (double)" : "";
  return std::to_string(bytes) + "-byte" + name;
}

template <class T, class... Layers, class Optimizer>
void load_model_from(std::istream& in, Sequential<Layers...>& net, Optimizer* optimizer,
                     const std::string& where) {
  static_assert(storable_value<T>,
                "nn::load_model: a model file stores float and double parameters only.");
  constexpr bool with_optimizer = !std::is_same_v<Optimizer, NoOptimizer>;
  ModelReader file(in, where);

  // The header, checked against its checksum before anything in it is
  // compared with the network, so that corruption is not reported as a
  // different architecture.
  std::string magic(model_file_magic.size(), '\0');
  file.read(reinterpret_cast<unsigned char*>(magic.data()), magic.size(), "the magic number");
  if (magic != model_file_magic) {
    file.fail("not a tinygrad model file (it does not begin with \"tinygrad\")");
  }
  const std::uint64_t version = file.integer(4, "the format version");
  if (version != model_file_version) {
    file.fail("the file is format version " + std::to_string(version) + "; this tinygrad reads " +
              std::to_string(model_file_version));
  }
  const std::uint64_t value_bytes = file.integer(1, "the value size");
  const std::uint64_t layer_count = file.integer(4, "the layer count");
  if (layer_count > max_model_layers) {
    file.fail("the header is corrupted (it states " + std::to_string(layer_count) + " layers)");
  }
  std::vector<LayerShape> file_shapes(static_cast<std::size_t>(layer_count));
  for (LayerShape& shape : file_shapes) {
    shape.fan_in = file.integer(8, "a layer's shape");
    shape.fan_out = file.integer(8, "a layer's shape");
    shape.policy = file.text("a layer's policy name");
  }
  const std::uint64_t has_state = file.integer(1, "the optimizer flag");
  if (has_state > 1) {
    file.fail("the header is corrupted (optimizer flag " + std::to_string(has_state) + ")");
  }
  OptimizerState<T> state;
  std::uint64_t state_vectors = 0;
  if (has_state == 1) {
    state.optimizer = file.text("the optimizer's name");
    state.steps = file.integer(8, "the optimizer's step count");
    state_vectors = file.integer(1, "the optimizer's vector count");
    const std::uint64_t blocks = file.integer(4, "the optimizer's block count");
    if (state_vectors > max_state_vectors || blocks > max_model_layers) {
      file.fail("the header is corrupted (an optimizer state of " + std::to_string(state_vectors) +
                " vectors over " + std::to_string(blocks) + " blocks)");
    }
    for (std::uint64_t k = 0; k < blocks; ++k) {
      state.block_sizes.push_back(
          static_cast<std::size_t>(file.integer(8, "the optimizer's block sizes")));
    }
  }
  file.end_section("header");

  // The header against the network (and the optimizer).
  if (value_bytes != sizeof(T)) {
    file.fail("the file holds " + value_type_name(value_bytes) + " values, this network " +
              value_type_name(sizeof(T)));
  }
  const std::vector<LayerShape> shapes = shapes_of(net);
  if (file_shapes.size() != shapes.size()) {
    file.fail("the file holds " + std::to_string(file_shapes.size()) + " layers, this network " +
              std::to_string(shapes.size()));
  }
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    if (file_shapes[k] != shapes[k]) {
      file.fail("layer " + std::to_string(k) + " is " + file_shapes[k].describe() +
                " in the file, " + shapes[k].describe() + " in this network");
    }
  }
  if (has_state == 1 && !state.block_sizes.empty()) {
    bool same = state.block_sizes.size() == shapes.size();
    for (std::size_t k = 0; same && k < shapes.size(); ++k) {
      same = state.block_sizes[k] == shapes[k].parameters();
    }
    if (!same) {
      file.fail("the optimizer state in the file is not over this network's layers");
    }
  }
  if constexpr (with_optimizer) {
    const OptimizerState<T> current = optimizer->state();
    if (has_state == 0) {
      file.fail("the file holds no optimizer state (it was saved without an optimizer)");
    }
    if (state.optimizer != current.optimizer) {
      file.fail("the file holds " + state.optimizer + " state, the optimizer given is " +
                current.optimizer);
    }
    if (state_vectors != current.vectors.size()) {
      file.fail("the file's " + state.optimizer + " state has " + std::to_string(state_vectors) +
                " vectors, " + current.optimizer + " keeps " +
                std::to_string(current.vectors.size()));
    }
  }

  // The values, checked against their checksum and the end of the file
  // before any of them is used.
  std::vector<T> parameters;
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const std::string what = "layer " + std::to_string(k) + "'s parameters";
    file.values(static_cast<std::size_t>(shapes[k].parameters()), parameters, what.c_str());
  }
  std::size_t state_length = 0;
  for (const std::size_t size : state.block_sizes) {
    state_length += size;
  }
  for (std::uint64_t k = 0; k < state_vectors; ++k) {
    state.vectors.emplace_back();
    file.values(state.block_sizes.empty() ? 0 : state_length, state.vectors.back(),
                "the optimizer's state");
  }
  file.end_section("parameters");
  file.expect_end();

  if constexpr (with_optimizer) {
    optimizer->restore(state);  // checked above: it does not throw
  }
  std::size_t next = 0;
  net.for_each_layer([&](auto& layer) {
    for (auto& value : layer.parameters()) {
      value = parameters[next++];
    }
  });
}

template <class Bytes>
void write_model_file(const std::filesystem::path& path, const Bytes& bytes) {
  // Written beside the target and renamed over it, so that a failed write
  // leaves an older model file whole.
  std::filesystem::path partial = path;
  partial += ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(partial, ignored);
      throw model_file_error("nn::save_model(\"" + path.string() + "\"): cannot write " +
                             partial.string());
    }
  }
  std::error_code error;
  std::filesystem::rename(partial, path, error);
  if (error) {
    std::filesystem::remove(partial, error);
    throw model_file_error("nn::save_model(\"" + path.string() + "\"): cannot replace it (" +
                           error.message() + ")");
  }
}

template <class T, class... Layers, class Optimizer>
void load_model_file(const std::filesystem::path& path, Sequential<Layers...>& net,
                     Optimizer* optimizer) {
  const std::string where = "nn::load_model(\"" + path.string() + "\")";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw model_file_error(where + ": cannot open the file");
  }
  load_model_from<T>(in, net, optimizer, where);
}

inline void write_model_stream(std::ostream& out, const std::string& bytes) {
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    throw model_file_error("nn::save_model: writing the model failed");
  }
}

}  // namespace detail

/// Writes the network's architecture and parameters to `out` in the model
/// file format. A failed write is model_file_error.
template <class... Layers>
void save_model(std::ostream& out, const Sequential<Layers...>& net) {
  using T = typename Sequential<Layers...>::value_type;
  detail::write_model_stream(
      out, detail::model_file_bytes<T>(net, static_cast<const detail::NoOptimizer*>(nullptr)));
}

/// The same, with the state of an optimizer that steps this network (and
/// nothing else), so that training can continue after load_model. An
/// optimizer whose state belongs to other parameters is std::invalid_argument.
template <class... Layers, class Optimizer>
requires detail::SavableOptimizer<Optimizer, typename Sequential<Layers...>::value_type>
void save_model(std::ostream& out, const Sequential<Layers...>& net, const Optimizer& optimizer) {
  using T = typename Sequential<Layers...>::value_type;
  detail::write_model_stream(out, detail::model_file_bytes<T>(net, &optimizer));
}

/// save_model into the file at `path`, replacing it only once the whole
/// model is written.
template <class... Layers>
void save_model(const std::filesystem::path& path, const Sequential<Layers...>& net) {
  using T = typename Sequential<Layers...>::value_type;
  detail::write_model_file(
      path, detail::model_file_bytes<T>(net, static_cast<const detail::NoOptimizer*>(nullptr)));
}
template <class... Layers, class Optimizer>
requires detail::SavableOptimizer<Optimizer, typename Sequential<Layers...>::value_type>
void save_model(const std::filesystem::path& path, const Sequential<Layers...>& net,
                const Optimizer& optimizer) {
  using T = typename Sequential<Layers...>::value_type;
  detail::write_model_file(path, detail::model_file_bytes<T>(net, &optimizer));
}

/// Reads a model saved by save_model into `net`, which must have the same
/// layers (shapes and policy names) and value type; an optimizer state in
/// the file is skipped. Everything is checked before anything changes:
/// model_file_error names the first difference, truncation or corruption,
/// and `net` is left as it was.
template <class... Layers>
void load_model(std::istream& in, Sequential<Layers...>& net) {
  using T = typename Sequential<Layers...>::value_type;
  detail::load_model_from<T>(in, net, static_cast<detail::NoOptimizer*>(nullptr), "nn::load_model");
}

/// The same, restoring the optimizer's state too: the file must hold the
/// state of an optimizer of the same kind (its hyperparameters are the
/// optimizer's own, not the file's).
template <class... Layers, class Optimizer>
requires detail::SavableOptimizer<Optimizer, typename Sequential<Layers...>::value_type>
void load_model(std::istream& in, Sequential<Layers...>& net, Optimizer& optimizer) {
  using T = typename Sequential<Layers...>::value_type;
  detail::load_model_from<T>(in, net, &optimizer, "nn::load_model");
}

/// load_model from the file at `path`; a file that cannot be opened is
/// model_file_error too.
template <class... Layers>
void load_model(const std::filesystem::path& path, Sequential<Layers...>& net) {
  using T = typename Sequential<Layers...>::value_type;
  detail::load_model_file<T>(path, net, static_cast<detail::NoOptimizer*>(nullptr));
}
template <class... Layers, class Optimizer>
requires detail::SavableOptimizer<Optimizer, typename Sequential<Layers...>::value_type>
void load_model(const std::filesystem::path& path, Sequential<Layers...>& net,
                Optimizer& optimizer) {
  using T = typename Sequential<Layers...>::value_type;
  detail::load_model_file<T>(path, net, &optimizer);
}

}  // namespace tinygrad::nn
