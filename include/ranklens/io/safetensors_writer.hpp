// Building a safetensors file from named tensors (dtype, shape, raw bytes) and metadata.
//
// The output is byte for byte what the Python package writes (safetensors.numpy.save_file,
// checked against safetensors 0.8.0 by tests/io/fixtures), so files from either side diff
// clean:
//   - tensors sorted by dtype, in descending order of the reference's Dtype enum (I64, F64,
//     F32, I32, BF16, F16, I16, I8, U8, BOOL), then by name bytewise. With sizes going down
//     in powers of two from an 8-aligned start, every tensor lands aligned to its element size.
//   - header JSON compact, "__metadata__" first, each tensor's fields in the order dtype,
//     shape, data_offsets, strings escaped the way serde_json escapes them.
//   - header padded with spaces to a multiple of 8 bytes.
// One thing cannot match: the reference keeps metadata in a Rust HashMap, so with two or more
// metadata keys its key order changes from run to run. We write them sorted.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ranklens/core/dtype.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/io/atomic_file.hpp"
#include "ranklens/io/safetensors_format.hpp"
#include "ranklens/io/utf8.hpp"

namespace ranklens::io {

namespace safetensors_detail {

// Position of a dtype in the reference's `Dtype` enum, whose order the writer sorts by.
constexpr int reference_enum_rank(dtype element_type) noexcept {
  switch (element_type) {
    case dtype::boolean: return 0;
    case dtype::u8: return 1;
    case dtype::i8: return 2;
    case dtype::i16: return 3;
    case dtype::f16: return 4;
    case dtype::bf16: return 5;
    case dtype::i32: return 6;
    case dtype::f32: return 7;
    case dtype::f64: return 8;
    case dtype::i64: return 9;
  }
  return -1;
}

// JSON string escaping as serde_json does it: quote, backslash and the C0 controls only,
// the five with short forms (\b \t \n \f \r) that way and the rest as lowercase \u00xx; all
// other bytes, DEL and non-ASCII UTF-8 included, are copied as they are.
inline void append_json_string(std::string& out, std::string_view text) {
  constexpr char hex_digits[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out += hex_digits[byte >> 4];
          out += hex_digits[byte & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace safetensors_detail

// C++ element types with a dtype tag (float, double, the fixed-width integers, bool); F16 and
// BF16 data have none and go through the byte form of add().
template <class T>
concept element_with_dtype = requires { dtype_of_t<std::remove_cv_t<T>>::value; };

class safetensors_writer {
 public:
  // Adds a tensor. The bytes are borrowed, not copied (a model's weights should not exist
  // twice in memory): they must stay alive and unchanged until the last write, to_bytes or
  // save call. They are little-endian, row-major, exactly product(shape) * size_of(type) long.
  void add(std::string name, dtype element_type, std::vector<std::int64_t> shape,
           std::span<const std::byte> bytes) {
    check_text(name, "tensor name");
    if (name == safetensors_metadata_key)
      fail("the tensor name " + std::string(safetensors_metadata_key) + " is reserved for metadata");
    if (names_.contains(name)) fail("tensor '" + name + "' is added twice");
    if (std::any_of(shape.begin(), shape.end(), [](std::int64_t d) { return d < 0; }))
      fail("tensor '" + name + "' has a negative dimension in shape " + safetensors_detail::shape_text(shape));
    const std::optional<std::uint64_t> expected = safetensors_detail::checked_byte_size(element_type, shape);
    if (!expected)
      fail("tensor '" + name + "' of shape " + safetensors_detail::shape_text(shape) + " has a byte size over 64 bits");
    if (*expected != bytes.size())
      fail("tensor '" + name + "' of dtype " + std::string(name_of(element_type)) + " and shape " +
           safetensors_detail::shape_text(shape) + " needs " + std::to_string(*expected) + " bytes, but " +
           std::to_string(bytes.size()) + " were given");
    names_.insert(name);
    tensors_.push_back({std::move(name), element_type, std::move(shape), bytes});
  }

  // Typed form of add() for the element types that have a C++ type.
  template <element_with_dtype T>
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const T> values) {
    add(std::move(name), dtype_of<T>, std::move(shape), std::as_bytes(values));
  }

  // A temporary vector would be gone before the bytes are written; keep it in a variable.
  template <class T>
  void add(std::string name, std::vector<std::int64_t> shape, std::vector<T>&& values) = delete;

  // Free-form text stored under "__metadata__"; a key set twice keeps the last value.
  void set_metadata(std::string key, std::string value) {
    check_text(key, "metadata key");
    check_text(value, "metadata value");
    metadata_.insert_or_assign(std::move(key), std::move(value));
  }

  // The header as it will be written: JSON padded with spaces to a multiple of 8 bytes.
  std::string header() const { return plan().header; }

  std::uint64_t file_size() const {
    const file_plan layout = plan();
    return safetensors_length_prefix_bytes + layout.header.size() + layout.data_bytes;
  }

  // Streams the file to `sink`, a callable taking std::span<const std::byte>, in order.
  template <class Sink>
  void write(Sink&& sink) const {
    const file_plan layout = plan();
    std::byte length_prefix[safetensors_length_prefix_bytes];
    const std::uint64_t header_length = layout.header.size();
    for (std::size_t i = 0; i < safetensors_length_prefix_bytes; ++i)
      length_prefix[i] = static_cast<std::byte>((header_length >> (8 * i)) & 0xFF);
    sink(std::span<const std::byte>(length_prefix));
    sink(std::as_bytes(std::span<const char>(layout.header.data(), layout.header.size())));
    for (const std::size_t index : layout.order) sink(tensors_[index].bytes);
  }

  std::vector<std::byte> to_bytes() const {
    std::vector<std::byte> file;
    file.reserve(static_cast<std::size_t>(file_size()));
    write([&](std::span<const std::byte> bytes) { file.insert(file.end(), bytes.begin(), bytes.end()); });
    return file;
  }

  // Writes the file at `path`, replacing any file there only once the new one is complete.
  void save(const std::filesystem::path& path) const {
    plan();  // an oversized header is refused before any file is created
    write_file_atomically(path, [&](atomic_file& file) {
      write([&](std::span<const std::byte> bytes) { file.write(bytes); });
    });
  }

 private:
  struct pending_tensor {
    std::string name;
    dtype element_type;
    std::vector<std::int64_t> shape;
    std::span<const std::byte> bytes;
  };

  [[noreturn]] static void fail(const std::string& detail) { throw value_error("safetensors_writer: " + detail); }

  // Invalid UTF-8 would make the header unreadable JSON, to us and to everyone else.
  static void check_text(std::string_view text, const char* what) {
    if (const auto bad = first_invalid_utf8(text))
      fail(std::string(what) + " is not valid UTF-8 (bad byte at offset " + std::to_string(*bad) + ")");
  }

  struct file_plan {
    std::vector<std::size_t> order;  // indices into tensors_, in file order
    std::string header;              // padded
    std::uint64_t data_bytes = 0;
  };

  // The order of the tensors and the header that describes them; one function, so that
  // header(), file_size() and write() cannot disagree.
  file_plan plan() const {
    file_plan layout;
    std::vector<std::size_t>& order = layout.order;
    order.resize(tensors_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const int rank_a = safetensors_detail::reference_enum_rank(tensors_[a].element_type);
      const int rank_b = safetensors_detail::reference_enum_rank(tensors_[b].element_type);
      if (rank_a != rank_b) return rank_a > rank_b;
      return tensors_[a].name < tensors_[b].name;
    });

    std::string json = "{";
    bool first = true;
    if (!metadata_.empty()) {
      safetensors_detail::append_json_string(json, safetensors_metadata_key);
      json += ":{";
      for (const auto& [key, value] : metadata_) {
        if (!first) json += ',';
        first = false;
        safetensors_detail::append_json_string(json, key);
        json += ':';
        safetensors_detail::append_json_string(json, value);
      }
      json += '}';
    }
    std::uint64_t offset = 0;
    for (const std::size_t index : order) {
      const pending_tensor& tensor = tensors_[index];
      if (json.size() > 1) json += ',';
      safetensors_detail::append_json_string(json, tensor.name);
      json += ":{\"dtype\":";
      safetensors_detail::append_json_string(json, name_of(tensor.element_type));
      json += ",\"shape\":[";
      for (std::size_t d = 0; d < tensor.shape.size(); ++d) {
        if (d > 0) json += ',';
        json += std::to_string(tensor.shape[d]);
      }
      json += "],\"data_offsets\":[" + std::to_string(offset) + ",";
      offset += tensor.bytes.size();
      json += std::to_string(offset) + "]}";
    }
    json += '}';
    json.resize((json.size() + safetensors_length_prefix_bytes - 1) / safetensors_length_prefix_bytes *
                    safetensors_length_prefix_bytes,
                ' ');
    if (json.size() > safetensors_max_header_bytes)
      fail("the header would be " + std::to_string(json.size()) + " bytes, over the limit of " +
           std::to_string(safetensors_max_header_bytes) + " that readers accept");
    layout.header = std::move(json);
    layout.data_bytes = offset;
    return layout;
  }

  std::vector<pending_tensor> tensors_;
  std::set<std::string, std::less<>> names_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ranklens::io
