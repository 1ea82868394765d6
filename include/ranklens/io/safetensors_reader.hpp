// Reading tensors out of a safetensors file: raw bytes, or values converted to a C++ type.
//
// A reader validates the whole header when it is made (safetensors_format.hpp); after that,
// every tensor's byte range is known to lie inside the file, so access does no more checks
// than "is there a tensor of that name" and "can its dtype become this type".
#pragma once
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ranklens/core/dtype.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/io/half_float.hpp"
#include "ranklens/io/mapped_file.hpp"
#include "ranklens/io/safetensors_format.hpp"

namespace ranklens::io {

// The element types read_as converts to: floats take any floating dtype, integers any
// integer dtype whose values they can hold (checked value by value when narrowing).
template <class T>
concept safetensors_readable = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                               std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>;

class safetensors_reader {
 public:
  // Maps the file and validates its header.
  static safetensors_reader open(const std::filesystem::path& path) {
    mapped_file file(path);
    const std::span<const std::byte> bytes = file.bytes();
    return safetensors_reader(std::move(file), bytes, "file '" + path.string() + "'");
  }

  // Reads a safetensors image already in memory. The bytes are borrowed: they must outlive
  // the reader and every span it hands out.
  static safetensors_reader from_bytes(std::span<const std::byte> bytes, std::string source = "<memory>") {
    return safetensors_reader(std::nullopt, bytes, std::move(source));
  }

  const safetensors_header& header() const noexcept { return header_; }
  // In the order their bytes lie in the file.
  const std::vector<safetensors_entry>& entries() const noexcept { return header_.entries; }
  const std::map<std::string, std::string, std::less<>>& metadata() const noexcept { return header_.metadata; }
  const std::string& source() const noexcept { return source_; }

  bool contains(std::string_view name) const noexcept { return header_.find(name) != nullptr; }

  const safetensors_entry& entry(std::string_view name) const {
    if (const safetensors_entry* found = header_.find(name)) return *found;
    std::string message = "safetensors " + source_ + ": no tensor named '" + std::string(name) + "'; it has " +
                          std::to_string(header_.entries.size()) + " tensors";
    // A few names help spot a prefix mismatch ("model." vs none) without flooding the log.
    constexpr std::size_t names_to_show = 8;
    for (std::size_t i = 0; i < header_.entries.size() && i < names_to_show; ++i)
      message += (i == 0 ? ": '" : ", '") + header_.entries[i].name + "'";
    if (header_.entries.size() > names_to_show) message += ", ...";
    throw io_error(message);
  }

  // The tensor's bytes as stored: little-endian, row-major, possibly unaligned.
  std::span<const std::byte> bytes(const safetensors_entry& tensor) const noexcept {
    return file_bytes_.subspan(static_cast<std::size_t>(header_.data_offset() + tensor.begin),
                               static_cast<std::size_t>(tensor.byte_size()));
  }
  std::span<const std::byte> bytes(std::string_view name) const { return bytes(entry(name)); }

  // Converts the tensor's elements into `out`, which must hold exactly element_count() values.
  // A mapped file is read in chunks whose pages are given back as soon as they are copied
  // (mapped_file::release), so reading a whole model adds little more than one chunk to the
  // memory its weights take.
  template <safetensors_readable T>
  void read_into(std::string_view name, std::span<T> out) const {
    const safetensors_entry& tensor = entry(name);
    if (out.size() != tensor.element_count())
      fail(tensor, "needs room for " + std::to_string(tensor.element_count()) + " elements, but the output holds " +
                       std::to_string(out.size()));
    const std::span<const std::byte> stored = bytes(tensor);
    const std::size_t element_bytes = size_of(tensor.element_type);
    const std::size_t chunk = std::max<std::size_t>(1, chunk_bytes / element_bytes);
    if (out.empty()) return read_part(tensor, stored.data(), out, 0);  // still refuses a dtype of the other kind
    for (std::size_t first = 0; first < out.size(); first += chunk) {
      const std::size_t count = std::min(chunk, out.size() - first);
      const std::span<const std::byte> part = stored.subspan(first * element_bytes, count * element_bytes);
      read_part(tensor, part.data(), out.subspan(first, count), first);
      if (file_) file_->release(part);
    }
  }

  template <safetensors_readable T>
  std::vector<T> read_as(std::string_view name) const {
    std::vector<T> values(static_cast<std::size_t>(entry(name).element_count()));
    read_into(name, std::span<T>(values));
    return values;
  }

 private:
  safetensors_reader(std::optional<mapped_file> file, std::span<const std::byte> bytes, std::string source)
      : file_(std::move(file)),
        file_bytes_(bytes),
        source_(std::move(source)),
        header_(parse_safetensors_header(bytes, source_)) {}

  static constexpr std::size_t chunk_bytes = std::size_t{16} << 20;

  // Elements [first, first + out.size()) of `tensor`, stored from `stored` on.
  template <safetensors_readable T>
  void read_part(const safetensors_entry& tensor, const std::byte* stored, std::span<T> out, std::size_t first) const {
    if constexpr (std::is_floating_point_v<T>) {
      switch (tensor.element_type) {
        case dtype::f16: return convert<std::uint16_t>(stored, out, [](std::uint16_t h) { return T(f16_bits_to_float(h)); });
        case dtype::bf16: return convert<std::uint16_t>(stored, out, [](std::uint16_t b) { return T(bf16_bits_to_float(b)); });
        case dtype::f32: return convert<float>(stored, out, [](float v) { return T(v); });
        case dtype::f64: return convert_f64(tensor, stored, out, first);
        default: break;
      }
      fail(tensor, "cannot be read as " + std::string(type_name<T>()) + "; expected dtype F16, BF16, F32 or F64");
    } else {
      switch (tensor.element_type) {
        case dtype::i8: return convert<std::int8_t>(stored, out, [](std::int8_t v) { return T(v); });
        case dtype::u8: return convert<std::uint8_t>(stored, out, [](std::uint8_t v) { return T(v); });
        case dtype::i16: return convert<std::int16_t>(stored, out, [](std::int16_t v) { return T(v); });
        case dtype::i32: return convert<std::int32_t>(stored, out, [](std::int32_t v) { return T(v); });
        case dtype::i64: return convert_i64(tensor, stored, out, first);
        default: break;
      }
      fail(tensor, "cannot be read as " + std::string(type_name<T>()) + "; expected dtype I8, U8, I16, I32 or I64");
    }
  }

  template <class T>
  static constexpr std::string_view type_name() {
    if constexpr (std::is_same_v<T, float>) return "float";
    else if constexpr (std::is_same_v<T, double>) return "double";
    else if constexpr (std::is_same_v<T, std::int32_t>) return "int32";
    else return "int64";
  }

  [[noreturn]] void fail(const safetensors_entry& tensor, const std::string& detail) const {
    throw io_error("safetensors " + source_ + ": tensor '" + tensor.name + "' (" +
                   std::string(name_of(tensor.element_type)) + ", shape " +
                   safetensors_detail::shape_text(tensor.shape) + ") " + detail);
  }

  // Loads stored elements one at a time through memcpy, since data need not be aligned for
  // Stored, and maps them with `to_output`. When nothing changes but the address, one copy.
  template <class Stored, class T, class Convert>
  static void convert(const std::byte* stored, std::span<T> out, Convert to_output) {
    if constexpr (std::is_same_v<Stored, T>) {
      if (!out.empty()) std::memcpy(out.data(), stored, out.size_bytes());  // memcpy(nullptr, ..., 0) is UB
    } else {
      for (std::size_t i = 0; i < out.size(); ++i) {
        Stored value;
        std::memcpy(&value, stored + i * sizeof(Stored), sizeof(Stored));
        out[i] = to_output(value);
      }
    }
  }

  // F64 to float rounds, as any narrowing does, but a finite value beyond float's range would
  // silently become infinity; that is refused. NaN and infinities pass through.
  template <class T>
  void convert_f64(const safetensors_entry& tensor, const std::byte* stored, std::span<T> out, std::size_t first) const {
    if constexpr (std::is_same_v<T, double>) {
      convert<double>(stored, out, [](double v) { return v; });
    } else {
      for (std::size_t i = 0; i < out.size(); ++i) {
        double value;
        std::memcpy(&value, stored + i * sizeof(double), sizeof(double));
        out[i] = static_cast<T>(value);
        if (std::isinf(out[i]) && std::isfinite(value))
          fail(tensor, "element " + std::to_string(first + i) + " is " + shortest_text(value) + ", beyond the range of " +
                           std::string(type_name<T>()));
      }
    }
  }

  // The shortest text that reads back as `value` (std::to_string would print 1e300 in full).
  static std::string shortest_text(double value) {
    char text[32];
    const auto result = std::to_chars(text, text + sizeof text, value);
    return std::string(text, result.ptr);
  }

  // I64 to int32 is checked element by element; a silent wrap would turn an index into
  // another valid-looking index.
  template <class T>
  void convert_i64(const safetensors_entry& tensor, const std::byte* stored, std::span<T> out, std::size_t first) const {
    if constexpr (std::is_same_v<T, std::int64_t>) {
      convert<std::int64_t>(stored, out, [](std::int64_t v) { return v; });
    } else {
      for (std::size_t i = 0; i < out.size(); ++i) {
        std::int64_t value;
        std::memcpy(&value, stored + i * sizeof(std::int64_t), sizeof(std::int64_t));
        if (value < std::numeric_limits<T>::min() || value > std::numeric_limits<T>::max())
          fail(tensor, "element " + std::to_string(first + i) + " is " + std::to_string(value) + ", beyond the range of " +
                           std::string(type_name<T>()));
        out[i] = static_cast<T>(value);
      }
    }
  }

  std::optional<mapped_file> file_;  // empty when reading borrowed bytes
  std::span<const std::byte> file_bytes_;
  std::string source_;
  safetensors_header header_;
};

}  // namespace ranklens::io
