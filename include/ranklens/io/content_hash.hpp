// A 64-bit fingerprint of bytes, to tell a damaged file from an intact one.
//
// Not cryptographic: it catches disks, copies and editors that change bytes by accident, not
// someone who wants a forgery to pass. Each 8-byte word w updates the state h by
//
//   h ← xorshift(odd_constant · (h ⊕ w))
//
// Both steps are bijections, so for a fixed w the update permutes h and for a fixed h it
// permutes w: a change confined to one word always changes the result, and wider damage goes
// unnoticed with probability about 2^-64. The final avalanche (SplitMix64's finaliser, mix64 of
// core/random.hpp) makes neighbouring inputs give unrelated fingerprints. One multiply per
// 8 bytes: several GB/s.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "ranklens/core/random.hpp"

namespace ranklens::io {

class content_hash {
 public:
  // Adds the length first, so that ("ab", "c") and ("a", "bc") hash differently when fed piece
  // by piece.
  content_hash& add(std::span<const std::byte> bytes) noexcept {
    mix_word(static_cast<std::uint64_t>(bytes.size()));
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
      std::uint64_t word;
      std::memcpy(&word, bytes.data() + i, 8);  // the data need not be aligned
      mix_word(word);
    }
    if (i < bytes.size()) {
      std::uint64_t tail = 0;
      std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
      mix_word(tail);
    }
    return *this;
  }
  content_hash& add(std::string_view text) noexcept { return add(std::as_bytes(std::span<const char>(text.data(), text.size()))); }

  std::uint64_t value() const noexcept {
    return mix64(state_);
  }

  // Sixteen lowercase hex digits, as stored in file metadata.
  std::string hex() const {
    constexpr char digits[] = "0123456789abcdef";
    std::string text(16, '0');
    std::uint64_t v = value();
    for (std::size_t i = 16; i-- > 0; v >>= 4) text[i] = digits[v & 0xF];
    return text;
  }

 private:
  void mix_word(std::uint64_t word) noexcept {
    state_ = (state_ ^ word) * golden_gamma;  // odd, so the multiply is a bijection
    state_ ^= state_ >> 29;
  }

  std::uint64_t state_ = 0x243f6a8885a308d3ULL;  // π's fraction, an arbitrary non-zero start
};

}  // namespace ranklens::io
