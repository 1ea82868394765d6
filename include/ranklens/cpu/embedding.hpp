// Embedding lookup and its backward as pointer-level kernels, for a contiguous (vocab, width)
// table: ops/embedding.hpp's loops, shared in contract with cuda/embedding.cuh.
//   y[p, :] = weight[ids[p], :],   gweight[ids[p], :] += gy[p, :]
// A token that occurs several times collects the sum of its rows' gradients. No SIMD here, so
// that nvcc can include it.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "ranklens/cpu/kernel_args.hpp"

namespace ranklens::cpu {

// weight: (vocab, width); ids: (count); y: (count, width). Throws value_error naming the first id
// outside [0, vocab), before writing anything.
template <class T>
void embedding_forward(const T* weight, const std::int32_t* ids, T* y, index_t count, index_t vocab, index_t width) {
  detail::require_extents("embedding_forward", count, width);
  for (index_t p = 0; p < count; ++p)
    if (ids[p] < 0 || ids[p] >= vocab)
      throw value_error("embedding_forward: ids[" + std::to_string(p) + "] = " + std::to_string(ids[p]) + " is outside [0, " +
                        std::to_string(vocab) + ")");
  for (index_t p = 0; p < count; ++p) std::memcpy(y + p * width, weight + index_t(ids[p]) * width, sizeof(T) * std::size_t(width));
}

// ids: (count), each in [0, vocab) (embedding_forward checked them); gy: (count, width);
// gweight: (vocab, width).
template <class T>
void embedding_backward(const std::int32_t* ids, const T* gy, T* gweight, index_t count, index_t width) {
  detail::require_extents("embedding_backward", count, width);
  for (index_t p = 0; p < count; ++p) {
    T* row = gweight + index_t(ids[p]) * width;
    const T* src = gy + p * width;
    for (index_t j = 0; j < width; ++j) row[j] += src[j];
  }
}

// The first id outside [0, vocab) and its position (position −1 when every id is in range).
struct bad_id {
  index_t position = -1;
  std::int32_t id = 0;
};

// out[p] = ids[p], or −1 for an id outside [0, vocab); returns the first such id. The twin of
// cuda::embedding_ids, which copies ids that already live on a device (on the CPU the embedding
// op checks them as it gathers them).
inline bad_id embedding_ids(const std::int32_t* ids, std::int32_t* out, index_t count, index_t vocab) {
  bad_id first;
  for (index_t p = 0; p < count; ++p) {
    const bool in_range = ids[p] >= 0 && ids[p] < vocab;
    if (!in_range && first.position < 0) first = {p, ids[p]};
    out[p] = in_range ? ids[p] : -1;
  }
  return first;
}

}  // namespace ranklens::cpu
