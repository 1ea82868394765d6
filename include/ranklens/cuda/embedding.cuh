// Embedding lookup and its backward, the twins of cpu/embedding.hpp:
//   y[p, :] = weight[ids[p], :],   gweight[ids[p], :] += gy[p, :].
// ids live on the device. The forward cannot throw for a bad id without waiting for the device,
// so it writes NaN rows for ids outside [0, vocab) instead (the embedding op checks its ids on
// the host, where they come from). The backward adds with atomics, one thread per element, so
// the order in which repeated tokens' rows are summed varies from run to run (last-bit
// differences).
#pragma once
#include <cstdint>

#include "ranklens/cpu/embedding.hpp"
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

template <class T>
struct embedding_forward_map {
  const T* weight;
  const std::int32_t* ids;
  T* y;
  index_t vocab, width;
  __device__ float load(index_t i) const {
    const std::int32_t id = ids[i / width];
    return id >= 0 && id < vocab ? to_float(weight[index_t(id) * width + i % width]) : __int_as_float(0x7fc00000);
  }
  __device__ void store(index_t i, float v) const { y[i] = from_float<T>(v); }
};

template <class T>
struct embedding_backward_map {
  const std::int32_t* ids;
  const T* gy;
  T* gweight;
  index_t width;
  __device__ float load(index_t i) const { return to_float(gy[i]); }
  __device__ void store(index_t i, float g) const { atomic_add(gweight + index_t(ids[i / width]) * width + i % width, g); }
};

}  // namespace detail

// weight: (vocab, width); ids: (count); y: (count, width) (see the top of this file for bad ids).
template <DeviceReal T>
void embedding_forward(const T* weight, const std::int32_t* ids, T* y, index_t count, index_t vocab, index_t width) {
  detail::require_extents("cuda::embedding_forward", count, width);
  map("cuda::embedding_forward", count * width, detail::embedding_forward_map<T>{weight, ids, y, vocab, width});
}

// ids: (count), each in [0, vocab); gy: (count, width); gweight: (vocab, width).
template <DeviceReal T>
void embedding_backward(const std::int32_t* ids, const T* gy, T* gweight, index_t count, index_t width) {
  detail::require_extents("cuda::embedding_backward", count, width);
  map("cuda::embedding_backward", count * width, detail::embedding_backward_map<T>{ids, gy, gweight, width});
}

}  // namespace ranklens::cuda
