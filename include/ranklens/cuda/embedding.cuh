// Embedding lookup and its backward, the twins of cpu/embedding.hpp:
//   y[p, :] = weight[ids[p], :],   gweight[ids[p], :] += gy[p, :].
// ids live on the device. The forward cannot throw for a bad id without waiting for the device,
// so it writes NaN rows for ids outside [0, vocab) instead, and the backward skips negative ids
// (embedding_ids turns a bad id into −1). The embedding op checks host ids on the host, and
// device ids through embedding_ids, which waits for the device unless a graph is being captured. The backward adds with atomics, one thread per element, so
// the order in which repeated tokens' rows are summed varies from run to run (last-bit
// differences).
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>

#include "ranklens/cpu/embedding.hpp"
#include "ranklens/cuda/device_buffer.hpp"
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
  __device__ void store(index_t i, float g) const {
    const std::int32_t id = ids[i / width];
    if (id >= 0) atomic_add(gweight + index_t(id) * width + i % width, g);
  }
};

template <class Index>
__global__ void embedding_ids_kernel(const std::int32_t* ids, std::int32_t* out, Index count, Index vocab, int* first_bad) {
  for (Index p = Index(blockIdx.x) * blockDim.x + threadIdx.x; p < count; p += Index(gridDim.x) * blockDim.x) {
    const std::int32_t id = ids[p];
    const bool in_range = id >= 0 && id < vocab;
    out[p] = in_range ? id : -1;
    if (!in_range && first_bad != nullptr) atomicMin(first_bad, int(p));
  }
}

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

// out[p] = ids[p], or −1 for an id outside [0, vocab) (ids, out: (count), device memory; fewer
// than 2³¹). Returns the first bad id, read back after waiting for the device; while the stream
// is captured into a graph it checks nothing (the copy is still made) and returns none.
inline cpu::bad_id embedding_ids(const std::int32_t* ids, std::int32_t* out, index_t count, index_t vocab) {
  detail::require_extents("cuda::embedding_ids", count, vocab);
  if (count == 0) return {};
  if (count > index_t(INT_MAX)) throw shape_error("cuda::embedding_ids: more than 2^31 - 1 ids");
  const launch_shape shape{dim3(std::min<unsigned>(blocks_for(count, 256), 1024u)), dim3(256)};
  if (runtime::is_capturing(current_stream())) {
    launch("cuda::embedding_ids", detail::embedding_ids_kernel<index_t>, shape, ids, out, count, vocab, static_cast<int*>(nullptr));
    return {};
  }
  device_buffer<int> first(1);
  const int none = INT_MAX;
  copy_to_device(first.data(), &none, 1);
  launch("cuda::embedding_ids", detail::embedding_ids_kernel<index_t>, shape, ids, out, count, vocab, first.data());
  int position = none;
  copy_to_host(&position, first.data(), 1);
  if (position == none) return {};
  cpu::bad_id bad{position, 0};
  copy_to_host(&bad.id, ids + position, 1);
  return bad;
}

}  // namespace ranklens::cuda
