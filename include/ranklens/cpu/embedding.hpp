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

}  // namespace ranklens::cpu
