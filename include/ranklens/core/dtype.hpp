// Element types known to ranklens, as run-time tags (files, dispatch) and their C++ types.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace ranklens {

// Storage formats. f16/bf16 are storage-only on the CPU (converted on load); the CUDA
// backend may compute in them.
enum class dtype : std::uint8_t { f16, bf16, f32, f64, i8, u8, i16, i32, i64, boolean };

constexpr std::size_t size_of(dtype t) noexcept {
  switch (t) {
    case dtype::i8:
    case dtype::u8:
    case dtype::boolean: return 1;
    case dtype::f16:
    case dtype::bf16:
    case dtype::i16: return 2;
    case dtype::f32:
    case dtype::i32: return 4;
    case dtype::f64:
    case dtype::i64: return 8;
  }
  return 0;
}

// Names as the safetensors format spells them.
constexpr std::string_view name_of(dtype t) noexcept {
  switch (t) {
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::f32: return "F32";
    case dtype::f64: return "F64";
    case dtype::i8: return "I8";
    case dtype::u8: return "U8";
    case dtype::i16: return "I16";
    case dtype::i32: return "I32";
    case dtype::i64: return "I64";
    case dtype::boolean: return "BOOL";
  }
  return "?";
}

template <class T> struct dtype_of_t;
template <> struct dtype_of_t<float> : std::integral_constant<dtype, dtype::f32> {};
template <> struct dtype_of_t<double> : std::integral_constant<dtype, dtype::f64> {};
template <> struct dtype_of_t<std::int8_t> : std::integral_constant<dtype, dtype::i8> {};
template <> struct dtype_of_t<std::uint8_t> : std::integral_constant<dtype, dtype::u8> {};
template <> struct dtype_of_t<std::int16_t> : std::integral_constant<dtype, dtype::i16> {};
template <> struct dtype_of_t<std::int32_t> : std::integral_constant<dtype, dtype::i32> {};
template <> struct dtype_of_t<std::int64_t> : std::integral_constant<dtype, dtype::i64> {};
template <> struct dtype_of_t<bool> : std::integral_constant<dtype, dtype::boolean> {};

template <class T> inline constexpr dtype dtype_of = dtype_of_t<std::remove_cv_t<T>>::value;

// The floating types autodiff computes in on the CPU.
template <class T>
concept Real = std::is_same_v<T, float> || std::is_same_v<T, double>;

}  // namespace ranklens
