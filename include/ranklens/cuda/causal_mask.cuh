// Filling the future keys of contiguous (matrices, queries, keys) scores, the twin of
// cpu/causal_mask.hpp (whose visible_keys both share): query i sees keys j <= i + offset,
//   y[m, i, j] = j < visible(i) ? x[m, i, j] : value,   gx[m, i, j] (+)= j < visible(i) ? gy[m, i, j] : 0
// One thread per element. With add, a masked entry's gradient (even NaN) never reaches gx.
#pragma once
#include "ranklens/cpu/causal_mask.hpp"
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

struct causal_visibility {
  index_t queries, keys, offset;
  __device__ bool visible(index_t i) const {
    return i % keys < cpu::visible_keys((i / keys) % queries, offset, keys);
  }
};

template <class T>
struct causal_mask_forward_map {
  const T* x;
  T* y;
  causal_visibility mask;
  float value;
  __device__ float load(index_t i) const { return to_float(x[i]); }
  __device__ void store(index_t i, float v) const { y[i] = from_float<T>(mask.visible(i) ? v : value); }
};

template <class T, grad_write Mode>
struct causal_mask_backward_map {
  const T* gy;
  T* gx;
  causal_visibility mask;
  __device__ float load(index_t i) const { return to_float(gy[i]); }
  __device__ void store(index_t i, float g) const {
    if constexpr (Mode == grad_write::store)
      gx[i] = from_float<T>(mask.visible(i) ? g : 0.0f);
    else if (mask.visible(i))
      gx[i] = from_float<T>(to_float(gx[i]) + g);
  }
};

}  // namespace detail

template <DeviceReal T>
void causal_mask_fill_forward(const T* x, T* y, index_t matrices, index_t queries, index_t keys, index_t offset, T value) {
  map("cuda::causal_mask_fill_forward", matrices * queries * keys,
      detail::causal_mask_forward_map<T>{x, y, {queries, keys, offset}, to_float(value)});
}

template <DeviceReal T>
void causal_mask_fill_backward(const T* gy, T* gx, index_t matrices, index_t queries, index_t keys, index_t offset, grad_write mode) {
  detail::with_grad_write(mode, [&]<grad_write M>() {
    map("cuda::causal_mask_fill_backward", matrices * queries * keys,
        detail::causal_mask_backward_map<T, M>{gy, gx, {queries, keys, offset}});
  });
}

}  // namespace ranklens::cuda
