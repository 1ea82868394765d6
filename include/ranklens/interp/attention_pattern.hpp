// What the measurements of interp/ read attention patterns through: anything indexed as
// pattern(batch, head, query, key) with extent(0..3), such as the Tensor that
// model.add_hook("blocks.{L}.attn.hook_pattern", ...) captures with p.to_tensor(). Row
// (b, h, i, ·) is query i's attention distribution over keys 0..i (causal).
#pragma once
#include <concepts>
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::interp {

template <class P>
concept AttentionPattern = requires(const P& pattern, index_t i) {
  { pattern.extent(std::size_t{0}) } -> std::convertible_to<index_t>;
  { pattern(i, i, i, i) } -> std::convertible_to<double>;
};

namespace detail {
// Throws unless the pattern is (batch, heads, seq, seq) with seq == expected_seq.
template <AttentionPattern P>
void check_pattern_shape(const P& pattern, index_t expected_seq, const char* operation) {
  const index_t queries = pattern.extent(2), keys = pattern.extent(3);
  if (queries != keys || queries != expected_seq) {
    throw shape_error(std::string(operation) + ": attention pattern of shape (" + std::to_string(pattern.extent(0)) + ", " +
                      std::to_string(pattern.extent(1)) + ", " + std::to_string(queries) + ", " + std::to_string(keys) +
                      "); expected (batch, heads, " + std::to_string(expected_seq) + ", " + std::to_string(expected_seq) + ")");
  }
}
}  // namespace detail

}  // namespace ranklens::interp
