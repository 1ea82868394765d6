// IEEE binary16 (F16) and bfloat16 (BF16) bit patterns to and from float.
//
// Widening to float is exact for both formats. Narrowing rounds to nearest, ties to even (the
// IEEE default, and what numpy's astype(float16) and PyTorch's .to(bfloat16) do), overflows
// to infinity, keeps the sign of zero, produces subnormals where the target has them, and maps
// NaN to a quiet NaN of the same sign. Everything is integer arithmetic on bits, so the result
// does not depend on the floating-point environment or on -ffast-math.
#pragma once
#include <bit>
#include <cstdint>

namespace ranklens::io {

namespace half_float_detail {
inline constexpr std::uint32_t float_sign = 0x8000'0000u;
inline constexpr std::uint32_t float_abs_mask = 0x7FFF'FFFFu;
inline constexpr std::uint32_t float_infinity = 0x7F80'0000u;
inline constexpr std::uint32_t float_mantissa_mask = 0x007F'FFFFu;
// Float and binary16 exponent biases are 127 and 15.
inline constexpr std::uint32_t exponent_bias_difference = 127 - 15;
}  // namespace half_float_detail

// ---- binary16: 1 sign bit, 5 exponent bits, 10 mantissa bits ----

constexpr float f16_bits_to_float(std::uint16_t half) noexcept {
  using namespace half_float_detail;
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1Fu;
  const std::uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0x1F) {
    // Infinity or NaN; the payload moves to the top of the float mantissa, so a quiet NaN
    // stays quiet.
    return std::bit_cast<float>(sign | float_infinity | (mantissa << 13));
  }
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, which a float holds exactly.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<std::uint32_t>(magnitude));
  }
  return std::bit_cast<float>(sign | ((exponent + exponent_bias_difference) << 23) |
                              (mantissa << 13));
}

constexpr std::uint16_t float_to_f16_bits(float value) noexcept {
  using namespace half_float_detail;
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits & float_sign) >> 16);
  const std::uint32_t magnitude = bits & float_abs_mask;

  if (magnitude > float_infinity) {
    // NaN: keep the top payload bits and force the quiet bit, which also keeps the result
    // from turning into infinity when the payload lived only in the low bits.
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((magnitude & float_mantissa_mask) >> 13));
  }
  // 65520 is halfway between the largest finite half (65504, odd mantissa) and 65536, so it
  // and everything above round to infinity.
  constexpr std::uint32_t overflow_threshold = 0x477F'F000u;  // 65520.0f
  if (magnitude >= overflow_threshold) return static_cast<std::uint16_t>(sign | 0x7C00u);

  constexpr std::uint32_t smallest_normal_half = 0x3880'0000u;  // 2^-14
  if (magnitude < smallest_normal_half) {
    // Subnormal half: the result is round(value / 2^-24). Anything at or below 2^-25 (half
    // the smallest subnormal; the tie goes to the even zero) becomes zero.
    const std::uint32_t exponent = magnitude >> 23;
    constexpr std::uint32_t exponent_of_2_pow_minus_25 = 127 - 25;
    if (exponent < exponent_of_2_pow_minus_25) return sign;
    const std::uint32_t significand = (magnitude & float_mantissa_mask) | 0x0080'0000u;
    // value = significand * 2^(exponent - 150), so value / 2^-24 = significand >> (126 - exponent).
    const std::uint32_t shift = 126 - exponent;
    std::uint32_t rounded = significand >> shift;
    const std::uint32_t remainder = significand & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (rounded & 1u))) ++rounded;
    // A carry out of the 10 mantissa bits lands in the exponent field as the smallest
    // normal number, which is the right answer.
    return static_cast<std::uint16_t>(sign | rounded);
  }

  // Normal half: rebias the exponent, drop 13 mantissa bits, round on what was dropped. A
  // mantissa carry walks into the exponent, which is again the right answer.
  std::uint32_t rounded = (magnitude - (exponent_bias_difference << 23)) >> 13;
  const std::uint32_t dropped = magnitude & 0x1FFFu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (rounded & 1u))) ++rounded;
  return static_cast<std::uint16_t>(sign | rounded);
}

// ---- bfloat16: the top 16 bits of a float ----

constexpr float bf16_bits_to_float(std::uint16_t brain) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(brain) << 16);
}

constexpr std::uint16_t float_to_bf16_bits(float value) noexcept {
  using namespace half_float_detail;
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & float_abs_mask) > float_infinity) {
    // NaN: truncate and force the quiet bit, so that a payload held only in the low 16 bits
    // does not truncate to infinity.
    return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  }
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to even; the carry
  // may run into the exponent, up to infinity, exactly as rounding should.
  const std::uint32_t lowest_kept_bit = (bits >> 16) & 1u;
  return static_cast<std::uint16_t>((bits + 0x7FFFu + lowest_kept_bit) >> 16);
}

}  // namespace ranklens::io
