// Strict UTF-8 validation, for text that files carry (tensor names, JSON headers).
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace ranklens::io {

// Offset of the first byte that does not start or continue a well-formed UTF-8 sequence, or
// nothing when `text` is valid. "Well-formed" is Table 3-7 of the Unicode Standard: no
// overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing above U+10FFFF. That is the
// same set Rust's `str::from_utf8` accepts, which is what the reference safetensors reader
// applies to a header.
constexpr std::optional<std::size_t> first_invalid_utf8(std::string_view text) noexcept {
  const auto byte_at = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = byte_at(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // Sequence length and the allowed range of the second byte, which is where overlongs,
    // surrogates and code points past U+10FFFF are excluded.
    std::size_t length = 0;
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;  // below would be overlong
      if (lead == 0xED) second_max = 0x9F;  // above would be a surrogate
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;  // below would be overlong
      if (lead == 0xF4) second_max = 0x8F;  // above would exceed U+10FFFF
    } else {
      return i;  // a stray continuation byte, or C0, C1, F5..FF which never occur
    }
    if (text.size() - i < length) return i;
    const unsigned char second = byte_at(i + 1);
    if (second < second_min || second > second_max) return i;
    for (std::size_t k = 2; k < length; ++k) {
      const unsigned char continuation = byte_at(i + k);
      if (continuation < 0x80 || continuation > 0xBF) return i;
    }
    i += length;
  }
  return std::nullopt;
}

}  // namespace ranklens::io
