// Named CPU tensors to and from safetensors files: the bridge between Tensor / Parameter and
// the byte-level reader and writer.
//
//   io::tensor_writer out;
//   out.add("wte", model.token_embedding.weight);          // stored as it is (F32): bytes borrowed
//   out.add("wte_half", model.token_embedding.weight, dtype::bf16);   // converted: a copy is kept
//   out.save("weights.safetensors");                        // replaces the file atomically
//
//   auto file = io::safetensors_reader::open("weights.safetensors");
//   auto rows = io::read_tensor<float, Shape<dyn, 64>>(file, "wte");    // dyn extents from the file
//   io::read_into(file, "wte", model.token_embedding.weight);           // every extent must match
//
// Saving converts float and double to any floating dtype (F16 and BF16 round to nearest even,
// through float for a double); int32 and int64 are stored as they are. Loading converts
// F16/BF16/F32/F64 to float or double and integer dtypes to int32/int64 (safetensors_reader).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/io/half_float.hpp"
#include "ranklens/io/safetensors_reader.hpp"
#include "ranklens/io/safetensors_writer.hpp"

namespace ranklens::io {

// The element types of the tensors that a tensor_writer saves and read_tensor fills.
template <class T>
concept tensor_element = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int32_t> ||
                         std::is_same_v<T, std::int64_t>;

// Called during a save with (bytes written so far, bytes in the whole file), after each piece.
// It may throw to abandon the save; the target file is then left as it was.
using save_progress = std::function<void(std::uint64_t written, std::uint64_t total)>;

// The extents of a shape as safetensors stores them.
template <ShapeType S>
std::vector<std::int64_t> stored_dims(const S& shape) {
  return std::vector<std::int64_t>(shape.dims.begin(), shape.dims.end());
}

// "(dyn, 64)": a shape type as a reader expects it, dynamic extents unknown.
template <ShapeType S>
std::string expected_shape_text() {
  std::string text = "(";
  for (std::size_t i = 0; i < S::rank; ++i) {
    if (i > 0) text += ", ";
    text += S::static_extents[i] == dyn ? std::string("dyn") : std::to_string(S::static_extents[i]);
  }
  return text + ")";
}

// Bytes of one safetensors tensor, streamed to an atomic file (or anywhere) with progress.
// Shared by tensor_writer and the writers built on it.
inline void save_safetensors(const safetensors_writer& writer, const std::filesystem::path& path,
                             const save_progress& progress = {}) {
  const std::uint64_t total = writer.file_size();  // also refuses an oversized header before any file exists
  write_file_atomically(path, [&](atomic_file& file) {
    std::uint64_t written = 0;
    writer.write([&](std::span<const std::byte> bytes) {
      file.write(bytes);
      written += bytes.size();
      if (progress) progress(written, total);
    });
  });
}

class tensor_writer {
 public:
  tensor_writer() = default;
  // The borrowed spans point into converted_, whose buffers a copy would not share.
  tensor_writer(const tensor_writer&) = delete;
  tensor_writer& operator=(const tensor_writer&) = delete;

  // Adds `values` under `name`, stored as `stored_as` (default: the element type's own dtype).
  // A contiguous tensor stored as its own dtype is borrowed, not copied: it must stay alive and
  // unchanged until the last save or to_bytes. Anything converted or gathered is copied here.
  template <class T, ShapeType S>
    requires tensor_element<std::remove_const_t<T>>
  void add(std::string name, TensorView<T, S, cpu_t> values, std::optional<dtype> stored_as = std::nullopt) {
    using E = std::remove_const_t<T>;
    const dtype target = stored_as.value_or(dtype_of<E>);
    check_conversion<E>(name, target);
    const std::size_t count = static_cast<std::size_t>(values.numel());
    if (target == dtype_of<E> && values.is_contiguous()) {
      writer_.add(std::move(name), target, stored_dims(values.shape()), std::as_bytes(std::span<const E>(values.data(), count)));
      return;
    }
    std::vector<E> contiguous(count);
    gather_contiguous<E, S>(values, contiguous.data());
    const std::vector<std::byte>& stored = converted_.emplace_back(encode<E>(contiguous, target));
    writer_.add(std::move(name), target, stored_dims(values.shape()), std::span<const std::byte>(stored));
  }

  template <class T, ShapeType S>
    requires tensor_element<T>
  void add(std::string name, const Tensor<T, S, cpu_t>& values, std::optional<dtype> stored_as = std::nullopt) {
    add(std::move(name), values.view(), stored_as);
  }
  // A temporary tensor would be gone before the bytes are written; keep it in a variable.
  template <class T, ShapeType S>
  void add(std::string name, Tensor<T, S, cpu_t>&& values, std::optional<dtype> stored_as = std::nullopt) = delete;

  // A parameter's value (not its gradient): borrowed on the CPU (as a tensor is), copied to the
  // host here from another device, so the file is the same whatever the device.
  template <class T, ShapeType S>
    requires tensor_element<T>
  void add(std::string name, const Parameter<T, S, cpu_t>& parameter, std::optional<dtype> stored_as = std::nullopt) {
    add(std::move(name), parameter.value().view(), stored_as);
  }
  template <class T, ShapeType S, Device D>
    requires(tensor_element<T> && !std::same_as<D, cpu_t>)
  void add(std::string name, const Parameter<T, S, D>& parameter, std::optional<dtype> stored_as = std::nullopt) {
    const dtype target = stored_as.value_or(dtype_of<T>);
    check_conversion<T>(name, target);
    const auto host = to_host(parameter.value().view());
    const std::vector<T> values(host.data(), host.data() + host.numel());
    const std::vector<std::byte>& stored = converted_.emplace_back(encode<T>(values, target));
    writer_.add(std::move(name), target, stored_dims(parameter.shape()), std::span<const std::byte>(stored));
  }

  // Bytes already in safetensors form (little-endian, row-major), borrowed like a tensor.
  void add_bytes(std::string name, dtype element_type, std::vector<std::int64_t> shape, std::span<const std::byte> bytes) {
    writer_.add(std::move(name), element_type, std::move(shape), bytes);
  }

  void set_metadata(std::string key, std::string value) { writer_.set_metadata(std::move(key), std::move(value)); }

  // Writes the file atomically (atomic_file.hpp): a reader of `path` sees the old file or the
  // new one, never a mix, and a failed save leaves no temporary file behind.
  void save(const std::filesystem::path& path, const save_progress& progress = {}) const {
    save_safetensors(writer_, path, progress);
  }
  std::vector<std::byte> to_bytes() const { return writer_.to_bytes(); }
  std::uint64_t file_size() const { return writer_.file_size(); }

 private:
  template <class E>
  static void check_conversion(const std::string& name, dtype target) {
    const bool floating_target = target == dtype::f16 || target == dtype::bf16 || target == dtype::f32 || target == dtype::f64;
    if constexpr (std::is_floating_point_v<E>) {
      if (floating_target) return;
    } else {
      if (target == dtype_of<E>) return;
    }
    throw value_error("tensor_writer: tensor '" + name + "' holds " + std::string(name_of(dtype_of<E>)) + " values and cannot be stored as " +
                      std::string(name_of(target)) + (std::is_floating_point_v<E> ? "; expected F16, BF16, F32 or F64"
                                                                                   : "; integers are stored as they are"));
  }

  // The values in the stored dtype's little-endian bytes.
  template <class E>
  static std::vector<std::byte> encode(const std::vector<E>& values, dtype target) {
    std::vector<std::byte> bytes(values.size() * size_of(target));
    auto put = [&](std::size_t i, auto stored) { std::memcpy(bytes.data() + i * sizeof(stored), &stored, sizeof(stored)); };
    for (std::size_t i = 0; i < values.size(); ++i) {
      if constexpr (std::is_floating_point_v<E>) {
        switch (target) {
          case dtype::f16: put(i, float_to_f16_bits(static_cast<float>(values[i]))); break;
          case dtype::bf16: put(i, float_to_bf16_bits(static_cast<float>(values[i]))); break;
          case dtype::f32: put(i, static_cast<float>(values[i])); break;
          default: put(i, static_cast<double>(values[i])); break;
        }
      } else {
        put(i, values[i]);
      }
    }
    return bytes;
  }

  safetensors_writer writer_;
  std::deque<std::vector<std::byte>> converted_;  // a deque never moves its elements
};

// The shape of the stored tensor `entry` as an S, or an io_error naming the source, the tensor,
// the stored shape and the expected one.
template <ShapeType S>
S stored_shape(const safetensors_reader& reader, const safetensors_entry& entry) {
  bool fits = entry.shape.size() == S::rank;
  for (std::size_t i = 0; fits && i < S::rank; ++i)
    fits = S::static_extents[i] == dyn || S::static_extents[i] == entry.shape[i];
  if (!fits)
    throw io_error("safetensors " + reader.source() + ": tensor '" + entry.name + "' has shape " +
                   safetensors_detail::shape_text(entry.shape) + ", but shape " + expected_shape_text<S>() + " was expected");
  S shape;
  for (std::size_t i = 0; i < S::rank; ++i) shape.dims[i] = static_cast<index_t>(entry.shape[i]);
  return shape;
}

// The tensor `name`, converted to T; its dynamic extents come from the file.
template <tensor_element T, ShapeType S>
Tensor<T, S> read_tensor(const safetensors_reader& reader, std::string_view name) {
  Tensor<T, S> out(stored_shape<S>(reader, reader.entry(name)));
  reader.read_into(name, out.span());
  return out;
}

template <tensor_element T, ShapeType S>
Tensor<T, S> read_tensor(const std::filesystem::path& path, std::string_view name) {
  return read_tensor<T, S>(safetensors_reader::open(path), name);
}

// Throws unless the stored tensor has exactly the extents of `expected`, dynamic ones included.
template <ShapeType S>
void require_stored_shape(const safetensors_reader& reader, const safetensors_entry& entry, const S& expected) {
  bool same = entry.shape.size() == S::rank;
  for (std::size_t i = 0; same && i < S::rank; ++i) same = entry.shape[i] == expected.dims[i];
  if (!same)
    throw io_error("safetensors " + reader.source() + ": tensor '" + entry.name + "' has shape " +
                   safetensors_detail::shape_text(entry.shape) + ", but shape " + to_string(expected) + " was expected");
}

// Overwrites `out` with the tensor `name`, which must have exactly out's shape.
template <tensor_element T, ShapeType S>
void read_into(const safetensors_reader& reader, std::string_view name, Tensor<T, S, cpu_t>& out) {
  require_stored_shape(reader, reader.entry(name), out.shape());
  reader.read_into(name, out.span());
}

template <tensor_element T, ShapeType S>
void read_into(const safetensors_reader& reader, std::string_view name, Parameter<T, S, cpu_t>& out) {
  read_into(reader, name, out.value());
}

// A parameter on another device: read on the host, then copied there.
template <tensor_element T, ShapeType S, Device D>
  requires(!std::same_as<D, cpu_t>)
void read_into(const safetensors_reader& reader, std::string_view name, Parameter<T, S, D>& out) {
  Tensor<T, S, cpu_t> host(out.shape());
  read_into(reader, name, host);
  device_memory<D>::copy_from_host(out.value().data(), host.data(), host.bytes());
}

}  // namespace ranklens::io
