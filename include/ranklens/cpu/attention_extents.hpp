// The extents and strides of causal attention's operands, and their check: the contract that
// cpu::causal_attention_* and cuda::causal_attention_* share. No SIMD here, so that nvcc can
// include it.
#pragma once
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::cpu {

// Strides, in elements, of a (batch, position, head, head_dim) array whose head_dim is contiguous.
struct attention_strides {
  index_t batch, position, head;
};

struct attention_extents {
  index_t batch, queries, keys, query_heads, kv_heads, head_dim;
  index_t key_offset() const noexcept { return keys - queries; }  // keys cached before the first query
  index_t group() const noexcept { return query_heads / kv_heads; }
};

namespace detail {

inline void check_attention_extents(const char* kernel, const attention_extents& e) {
  auto fail = [&](const char* what) {
    std::string message(kernel);
    message += ": ";
    message += what;
    message += " (batch=" + std::to_string(e.batch) + ", queries=" + std::to_string(e.queries) +
               ", keys=" + std::to_string(e.keys) + ", query_heads=" + std::to_string(e.query_heads) +
               ", kv_heads=" + std::to_string(e.kv_heads) + ", head_dim=" + std::to_string(e.head_dim) + ")";
    throw shape_error(message);
  };
  if (e.batch < 0 || e.queries < 0 || e.keys < 0 || e.head_dim < 0 || e.query_heads < 0 || e.kv_heads < 0)
    fail("negative extent");
  if (e.keys < e.queries) fail("fewer keys than queries: the queries must be the last of the key positions");
  if (e.kv_heads == 0 ? e.query_heads != 0 : e.query_heads % e.kv_heads != 0)
    fail("the query heads must be a multiple of the key/value heads");
}

}  // namespace detail
}  // namespace ranklens::cpu
