// The safetensors file layout, and the parser that checks a file against it.
//
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  header: a UTF-8 JSON object, possibly padded with trailing spaces
//   [rest]     data section: the tensors' bytes, little-endian, row-major, back to back
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, with
// offsets counted from the start of the data section, plus an optional "__metadata__" object
// of string to string. The rules below are those of the reference reader (huggingface/
// safetensors, safetensors/src/tensor.rs), with three deliberate differences, all stricter:
// duplicate keys are rejected (serde keeps the last one silently), a tensor entry may hold no
// field besides the three (serde ignores extras), and "dtype" must be a plain string.
// Beyond that the parser never accepts a file the reference rejects.
#pragma once
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ranklens/core/dtype.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/io/utf8.hpp"

namespace ranklens::io {

static_assert(std::endian::native == std::endian::little,
              "ranklens reads and writes safetensors data in place, which needs a little-endian host.");

inline constexpr std::size_t safetensors_length_prefix_bytes = 8;
// The reference refuses larger headers; a corrupt length would otherwise make us scan or
// allocate gigabytes before finding out.
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;
inline constexpr std::string_view safetensors_metadata_key = "__metadata__";

// The dtype spelled `name` in a header, if ranklens has it.
constexpr std::optional<dtype> dtype_from_safetensors_name(std::string_view name) noexcept {
  constexpr dtype all[] = {dtype::f16, dtype::bf16, dtype::f32, dtype::f64, dtype::i8,
                           dtype::u8,  dtype::i16,  dtype::i32, dtype::i64, dtype::boolean};
  for (dtype candidate : all)
    if (name_of(candidate) == name) return candidate;
  return std::nullopt;
}

// Dtypes that are valid safetensors but that ranklens cannot hold, so that an error can say
// "unsupported" rather than "unknown".
constexpr bool is_safetensors_dtype_ranklens_lacks(std::string_view name) noexcept {
  constexpr std::string_view others[] = {"U16",     "U32",         "U64",         "C64",
                                         "F4",      "F6_E2M3",     "F6_E3M2",     "F8_E5M2",
                                         "F8_E4M3", "F8_E8M0",     "F8_E4M3FNUZ", "F8_E5M2FNUZ"};
  return std::find(std::begin(others), std::end(others), name) != std::end(others);
}

// One tensor as the header describes it. Offsets are relative to the data section.
struct safetensors_entry {
  std::string name;
  dtype element_type{};
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  std::uint64_t byte_size() const noexcept { return end - begin; }
  // Valid once the entry has passed parsing: its size then equals this times the element size.
  std::uint64_t element_count() const noexcept {
    return static_cast<std::uint64_t>(byte_size() / size_of(element_type));
  }
};

// A parsed and validated header.
struct safetensors_header {
  std::vector<safetensors_entry> entries;  // ordered by data offset, as the bytes lie
  std::map<std::string, std::size_t, std::less<>> index_by_name;
  std::map<std::string, std::string, std::less<>> metadata;
  std::uint64_t header_bytes = 0;  // N, padding included
  std::uint64_t data_bytes = 0;    // size of the data section

  // File offset where the data section starts.
  std::uint64_t data_offset() const noexcept { return safetensors_length_prefix_bytes + header_bytes; }

  const safetensors_entry* find(std::string_view name) const noexcept {
    const auto found = index_by_name.find(name);
    return found == index_by_name.end() ? nullptr : &entries[found->second];
  }
};

namespace safetensors_detail {

inline io_error format_error(std::string_view source, std::string_view detail) {
  std::string message = "safetensors ";
  message += source;
  message += ": ";
  message += detail;
  return io_error(message);
}

// Text from the file, quoted for a message; cut short, because a hostile header can hold a
// name or a number megabytes long.
inline std::string in_quotes(std::string_view text) {
  constexpr std::size_t longest = 200;
  std::string result = "'";
  result += text.substr(0, longest);
  result += text.size() > longest ? "'..." : "'";
  return result;
}

inline std::string offsets_text(std::uint64_t begin, std::uint64_t end) {
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict, bug 105329) on "[" + string.
  std::string text(1, '[');
  text += std::to_string(begin);
  text += ", ";
  text += std::to_string(end);
  text += ']';
  return text;
}

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

inline std::uint64_t read_u64_le(std::span<const std::byte, 8> bytes) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i)
    value |= static_cast<std::uint64_t>(std::to_integer<unsigned char>(bytes[i])) << (8 * i);
  return value;
}

// Builds the entry table from nlohmann's SAX events. Going event by event, rather than
// through a json DOM, is what lets duplicate keys be seen at all (the DOM keeps one) and
// lets anything off-schema be refused at the first token, before a hostile header can nest
// deep or grow large.
class header_reader {
 public:
  explicit header_reader(std::string_view source) : source_(source) {}

  safetensors_header take() && { return std::move(header_); }

  bool start_object(std::size_t) {
    switch (next_) {
      case expecting::root_object: next_ = expecting::root_key; return true;
      case expecting::metadata_value: next_ = expecting::metadata_key; return true;
      case expecting::tensor_object: next_ = expecting::tensor_field; return true;
      default: return unexpected("an object");
    }
  }

  bool key(std::string& key) {
    switch (next_) {
      case expecting::root_key: return root_key(key);
      case expecting::metadata_key:
        if (header_.metadata.contains(key))
          fail("__metadata__ has key " + in_quotes(key) + " twice; keys must be unique");
        metadata_key_ = std::move(key);
        next_ = expecting::metadata_string;
        return true;
      case expecting::tensor_field: return tensor_field(key);
      default: return unexpected("a key");
    }
  }

  bool end_object() {
    switch (next_) {
      case expecting::root_key: next_ = expecting::nothing; return true;
      case expecting::metadata_key: next_ = expecting::root_key; return true;
      case expecting::tensor_field: finish_tensor(); return true;
      default: return unexpected("the end of an object");
    }
  }

  bool start_array(std::size_t) {
    switch (next_) {
      case expecting::shape_array: next_ = expecting::dimension; return true;
      case expecting::offsets_array: next_ = expecting::offset; return true;
      default: return unexpected("an array");
    }
  }

  bool end_array() {
    switch (next_) {
      case expecting::dimension: next_ = expecting::tensor_field; return true;
      case expecting::offset:
        if (offset_count_ != 2)
          fail("data_offsets of tensor " + in_quotes(tensor_.name) + " has " +
               std::to_string(offset_count_) + " numbers; expected exactly two, [begin, end]");
        next_ = expecting::tensor_field;
        return true;
      default: return unexpected("the end of an array");
    }
  }

  bool number_unsigned(std::uint64_t value) {
    if (next_ == expecting::dimension) {
      if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail("dimension " + std::to_string(tensor_.shape.size()) + " of tensor " +
             in_quotes(tensor_.name) + " is " + std::to_string(value) +
             ", more than a shape can hold (2^63 - 1)");
      tensor_.shape.push_back(static_cast<std::int64_t>(value));
      return true;
    }
    if (next_ == expecting::offset) {
      if (offset_count_ == 0) tensor_.begin = value;
      if (offset_count_ == 1) tensor_.end = value;
      if (++offset_count_ > 2)
        fail("data_offsets of tensor " + in_quotes(tensor_.name) +
             " has more than two numbers; expected exactly two, [begin, end]");
      return true;
    }
    return unexpected("the number " + std::to_string(value));
  }

  // nlohmann reports every number written with a minus sign here, "-0" included, which the
  // reference rejects too.
  bool number_integer(std::int64_t value) {
    if (next_ == expecting::dimension || next_ == expecting::offset)
      fail(std::string(next_ == expecting::dimension ? "shape" : "data_offsets") + " of tensor " +
           in_quotes(tensor_.name) + " holds the negative number " + std::to_string(value) +
           "; expected non-negative integers");
    return unexpected("the number " + std::to_string(value));
  }

  bool number_float(double, const std::string& text) {
    if (next_ == expecting::dimension || next_ == expecting::offset)
      fail(std::string(next_ == expecting::dimension ? "shape" : "data_offsets") + " of tensor " +
           in_quotes(tensor_.name) + " holds " + in_quotes(text) +
           ", which is not written as an integer (or does not fit 64 bits)");
    return unexpected("the number " + in_quotes(text));
  }

  bool string(std::string& text) {
    if (next_ == expecting::dtype_string) {
      const std::optional<dtype> parsed = dtype_from_safetensors_name(text);
      if (!parsed) {
        fail("tensor " + in_quotes(tensor_.name) + " has dtype " + in_quotes(text) +
             (is_safetensors_dtype_ranklens_lacks(text)
                  ? ", a safetensors type that ranklens does not support"
                  : ", which is not a safetensors dtype") +
             "; expected one of F16, BF16, F32, F64, I8, U8, I16, I32, I64, BOOL");
      }
      tensor_.element_type = *parsed;
      next_ = expecting::tensor_field;
      return true;
    }
    if (next_ == expecting::metadata_string) {
      header_.metadata.emplace(std::move(metadata_key_), std::move(text));
      next_ = expecting::metadata_key;
      return true;
    }
    return unexpected("a string");
  }

  // The reference reads `"__metadata__": null` as "no metadata"; so do we.
  bool null() {
    if (next_ == expecting::metadata_value) {
      next_ = expecting::root_key;
      return true;
    }
    return unexpected("null");
  }

  bool boolean(bool value) { return unexpected(value ? "true" : "false"); }
  bool binary(nlohmann::json::binary_t&) { return unexpected("binary data"); }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& error) {
    // nlohmann counts characters read, so the offending byte is the one before `position`.
    const std::uint64_t file_offset = safetensors_length_prefix_bytes + (position > 0 ? position - 1 : 0);
    std::string_view what = error.what();
    if (const auto bracket = what.find("] "); bracket != std::string_view::npos) what.remove_prefix(bracket + 2);
    // nlohmann quotes the whole last token, which in a hostile header can be megabytes long.
    constexpr std::size_t longest_detail = 300;
    std::string detail(what.substr(0, longest_detail));
    if (what.size() > longest_detail) detail += "...";
    fail("header is not valid JSON near file byte offset " + std::to_string(file_offset) + ": " + detail);
  }

  bool complete() const noexcept { return next_ == expecting::nothing; }

 private:
  enum class expecting {
    root_object, root_key, metadata_value, metadata_key, metadata_string, tensor_object,
    tensor_field, dtype_string, shape_array, dimension, offsets_array, offset, nothing
  };

  [[noreturn]] void fail(const std::string& detail) const { throw format_error(source_, detail); }

  bool root_key(std::string& key) {
    if (key == safetensors_metadata_key) {
      if (seen_metadata_) fail("header has the key __metadata__ twice; it may appear once");
      seen_metadata_ = true;
      next_ = expecting::metadata_value;
      return true;
    }
    if (header_.index_by_name.contains(key))
      fail("header names tensor " + in_quotes(key) + " twice; tensor names must be unique");
    // Reserve the name now so that a second entry with it is caught at its key.
    header_.index_by_name.emplace(key, header_.entries.size());
    tensor_ = safetensors_entry{};
    tensor_.name = std::move(key);
    fields_seen_ = 0;
    next_ = expecting::tensor_object;
    return true;
  }

  bool tensor_field(const std::string& field) {
    unsigned bit = 0;
    if (field == "dtype") {
      bit = 1;
      next_ = expecting::dtype_string;
    } else if (field == "shape") {
      bit = 2;
      next_ = expecting::shape_array;
    } else if (field == "data_offsets") {
      bit = 4;
      offset_count_ = 0;
      next_ = expecting::offsets_array;
    } else {
      fail("tensor " + in_quotes(tensor_.name) + " has the unknown field " + in_quotes(field) +
           "; expected exactly dtype, shape and data_offsets");
    }
    if (fields_seen_ & bit) fail("tensor " + in_quotes(tensor_.name) + " has the field " + field + " twice");
    fields_seen_ |= bit;
    return true;
  }

  void finish_tensor() {
    constexpr std::pair<unsigned, const char*> required[] = {{1u, "dtype"}, {2u, "shape"}, {4u, "data_offsets"}};
    for (const auto& [bit, field] : required)
      if (!(fields_seen_ & bit))
        fail("tensor " + in_quotes(tensor_.name) + " lacks the field " + field +
             "; expected dtype, shape and data_offsets");
    header_.entries.push_back(std::move(tensor_));
    next_ = expecting::root_key;
  }

  [[noreturn]] bool unexpected(const std::string& found) const {
    std::string wanted;
    switch (next_) {
      case expecting::root_object: wanted = "the header to be a JSON object"; break;
      case expecting::metadata_value: wanted = "__metadata__ to be an object of strings"; break;
      case expecting::metadata_string:
        wanted = "__metadata__ value for key " + in_quotes(metadata_key_) + " to be a string";
        break;
      case expecting::tensor_object:
        wanted = "tensor " + in_quotes(tensor_.name) + " to be an object {dtype, shape, data_offsets}";
        break;
      case expecting::dtype_string:
        wanted = "dtype of tensor " + in_quotes(tensor_.name) + " to be a string such as \"F32\"";
        break;
      case expecting::shape_array:
      case expecting::dimension:
        wanted = "shape of tensor " + in_quotes(tensor_.name) + " to be an array of non-negative integers";
        break;
      case expecting::offsets_array:
      case expecting::offset:
        wanted = "data_offsets of tensor " + in_quotes(tensor_.name) + " to be [begin, end]";
        break;
      default: wanted = "well-formed header JSON"; break;
    }
    fail("expected " + wanted + ", found " + found);
  }

  std::string_view source_;
  safetensors_header header_;
  expecting next_ = expecting::root_object;
  safetensors_entry tensor_;
  unsigned fields_seen_ = 0;
  std::size_t offset_count_ = 0;
  std::string metadata_key_;
  bool seen_metadata_ = false;
};

// Number of bytes a tensor of this dtype and shape occupies, or nothing on 64-bit overflow.
// Multiplies left to right like the reference, so [0, 2^32, 2^32] is a valid empty tensor
// while [2^32, 2^32, 0] overflows.
inline std::optional<std::uint64_t> checked_byte_size(dtype element_type,
                                                      const std::vector<std::int64_t>& shape) noexcept {
  std::uint64_t count = 1;
  for (std::int64_t dimension : shape)
    if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(dimension), &count)) return std::nullopt;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(size_of(element_type)), &bytes))
    return std::nullopt;
  return bytes;
}

// The tensors, in offset order, must tile the data section: each starts where the previous
// one ended, the first at 0, and the last ends exactly at the end of the file.
inline void check_data_layout(safetensors_header& header, std::string_view source) {
  auto& entries = header.entries;
  std::stable_sort(entries.begin(), entries.end(), [](const safetensors_entry& a, const safetensors_entry& b) {
    return std::pair{a.begin, a.end} < std::pair{b.begin, b.end};
  });
  for (std::size_t i = 0; i < entries.size(); ++i) header.index_by_name[entries[i].name] = i;

  std::uint64_t covered = 0;
  const safetensors_entry* previous = nullptr;
  for (const safetensors_entry& entry : entries) {
    const std::string offsets = offsets_text(entry.begin, entry.end);
    if (entry.end < entry.begin)
      throw format_error(source, "tensor " + in_quotes(entry.name) + " has data_offsets " + offsets +
                                     ", which end before they begin");
    if (entry.begin > covered)
      throw format_error(source, "tensor " + in_quotes(entry.name) + " starts at data byte " +
                                     std::to_string(entry.begin) + " (data_offsets " + offsets + "), but " +
                                     (previous ? "the tensor before it, " + in_quotes(previous->name) + ", ends"
                                               : "the data section starts") +
                                     " at " + std::to_string(covered) +
                                     "; expected tensors back to back with no hole");
    if (entry.begin < covered)
      throw format_error(source, "tensor " + in_quotes(entry.name) + " (data_offsets " + offsets +
                                     ") overlaps tensor " + in_quotes(previous->name) + ", which ends at data byte " +
                                     std::to_string(covered) + "; expected tensors back to back with no overlap");
    const std::optional<std::uint64_t> expected_bytes = checked_byte_size(entry.element_type, entry.shape);
    if (!expected_bytes)
      throw format_error(source, "tensor " + in_quotes(entry.name) + " has shape " + shape_text(entry.shape) +
                                     " and dtype " + std::string(name_of(entry.element_type)) +
                                     ", whose byte size overflows 64 bits");
    if (*expected_bytes != entry.byte_size())
      throw format_error(source, "tensor " + in_quotes(entry.name) + " of dtype " +
                                     std::string(name_of(entry.element_type)) + " and shape " +
                                     shape_text(entry.shape) + " needs " + std::to_string(*expected_bytes) +
                                     " bytes, but its data_offsets " + offsets + " span " +
                                     std::to_string(entry.byte_size()));
    if (entry.end > header.data_bytes)
      throw format_error(source, "tensor " + in_quotes(entry.name) + " (data_offsets " + offsets +
                                     ") runs past the end of the file, whose data section holds " +
                                     std::to_string(header.data_bytes) + " bytes (from file byte offset " +
                                     std::to_string(header.data_offset()) + ")");
    covered = entry.end;
    previous = &entry;
  }
  if (covered != header.data_bytes)
    throw format_error(source, "the tensors cover " + std::to_string(covered) + " data bytes, but " +
                                   std::to_string(header.data_bytes - covered) +
                                   " more follow, from file byte offset " +
                                   std::to_string(header.data_offset() + covered) +
                                   "; expected the last tensor to end the file");
}

}  // namespace safetensors_detail

// Parses and validates the header of the safetensors file whose every byte is `file`.
// `source` names the file in error messages ("file '/path/model.safetensors'", "<memory>").
// Throws io_error naming the rule broken; the returned offsets are safe to slice `file` with.
inline safetensors_header parse_safetensors_header(std::span<const std::byte> file, std::string_view source) {
  using namespace safetensors_detail;
  if (file.size() < safetensors_length_prefix_bytes)
    throw format_error(source, "file is " + std::to_string(file.size()) +
                                   " bytes long; expected at least the 8-byte header length");
  const std::uint64_t header_bytes = read_u64_le(file.first<safetensors_length_prefix_bytes>());
  if (header_bytes > safetensors_max_header_bytes)
    throw format_error(source, "header length is " + std::to_string(header_bytes) + " bytes, over the limit of " +
                                   std::to_string(safetensors_max_header_bytes) +
                                   " (is this a safetensors file?)");
  const std::uint64_t after_prefix = file.size() - safetensors_length_prefix_bytes;
  if (header_bytes > after_prefix)
    throw format_error(source, "header length is " + std::to_string(header_bytes) + " bytes, but only " +
                                   std::to_string(after_prefix) + " bytes follow the length (truncated file?)");

  const std::string_view text(reinterpret_cast<const char*>(file.data()) + safetensors_length_prefix_bytes,
                              static_cast<std::size_t>(header_bytes));
  if (const auto bad = first_invalid_utf8(text))
    throw format_error(source, "header is not valid UTF-8 at file byte offset " +
                                   std::to_string(safetensors_length_prefix_bytes + *bad));
  // nlohmann takes a NUL byte for the end of input, so "{}\0junk" would pass; JSON has no
  // place for one.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    throw format_error(source, "header holds a NUL byte at file byte offset " +
                                   std::to_string(safetensors_length_prefix_bytes + nul) +
                                   "; expected JSON text padded with spaces");

  // nlohmann skips a leading UTF-8 byte order mark; JSON text may not start with one, and the
  // reference refuses it.
  if (text.starts_with("\xEF\xBB\xBF"))
    throw format_error(source, "header starts with a UTF-8 byte order mark at file byte offset 8; "
                               "expected JSON text");

  header_reader reader(source);
  // Strict: after the object only whitespace may follow, which is how writers pad the
  // header to a multiple of 8 bytes.
  const bool parsed = nlohmann::json::sax_parse(text.begin(), text.end(), &reader,
                                                nlohmann::json::input_format_t::json,
                                                /*strict=*/true, /*ignore_comments=*/false);
  if (!parsed || !reader.complete())
    throw format_error(source, "header is not a complete JSON object");

  safetensors_header header = std::move(reader).take();
  header.header_bytes = header_bytes;
  header.data_bytes = after_prefix - header_bytes;
  check_data_layout(header, source);
  return header;
}

}  // namespace ranklens::io
