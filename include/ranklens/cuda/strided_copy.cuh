// Copies between strided layouts of one shape, the twin of cpu/strided_copy.hpp:
//   dst[index · dst_strides] (+)= src[index · src_strides]   for every index of dims
// One thread per element, which finds its index from its position in row-major order. A
// destination that repeats elements (stride 0 along an axis of extent > 1, as an expanded view's
// gradient has) is added to with atomics, so those sums vary in their last bits from run to run;
// every other copy is plain stores or read-add-writes.
#pragma once
#include <array>
#include <cstddef>

#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

namespace detail {

// The element offsets of row-major position i of dims in N strided layouts at once.
template <std::size_t R, std::size_t N>
struct strided_offsets {
  std::array<index_t, R> dims;
  std::array<std::array<index_t, R>, N> strides;
  __device__ std::array<index_t, N> at(index_t i) const {
    std::array<index_t, N> offsets{};
    for (std::size_t k = R; k-- > 0;) {
      const index_t c = i % dims[k];
      i /= dims[k];
      for (std::size_t j = 0; j < N; ++j) offsets[j] += c * strides[j][k];
    }
    return offsets;
  }
};

// Whether a layout visits some element more than once (stride 0 along an axis of extent > 1):
// then adding into it needs atomics.
template <std::size_t R>
bool repeats_elements(const std::array<index_t, R>& dims, const std::array<index_t, R>& strides) {
  for (std::size_t k = 0; k < R; ++k)
    if (dims[k] > 1 && strides[k] == 0) return true;
  return false;
}

template <class T, std::size_t R, grad_write Mode, bool Atomic>
struct copy_strided_map {
  const T* src;
  T* dst;
  strided_offsets<R, 2> layout;  // src, dst
  struct loaded {
    float value;
    index_t to;
  };
  __device__ loaded load(index_t i) const {
    const auto o = layout.at(i);
    return {to_float(src[o[0]]), o[1]};
  }
  __device__ void store(index_t, loaded v) const {
    if constexpr (Mode == grad_write::store)
      dst[v.to] = from_float<T>(v.value);
    else if constexpr (Atomic)
      atomic_add(dst + v.to, v.value);
    else
      dst[v.to] = from_float<T>(to_float(dst[v.to]) + v.value);
  }
};

}  // namespace detail

template <DeviceReal T, std::size_t R>
void copy_strided(const std::array<index_t, R>& dims, const T* src, const std::array<index_t, R>& src_strides, T* dst,
                  const std::array<index_t, R>& dst_strides, grad_write mode) {
  index_t n = 1;
  for (index_t d : dims) n *= d;
  const detail::strided_offsets<R, 2> layout{dims, {src_strides, dst_strides}};
  if (mode == grad_write::store)
    map("cuda::copy_strided", n, detail::copy_strided_map<T, R, grad_write::store, false>{src, dst, layout});
  else if (detail::repeats_elements(dims, dst_strides))
    map("cuda::copy_strided", n, detail::copy_strided_map<T, R, grad_write::add, true>{src, dst, layout});
  else
    map("cuda::copy_strided", n, detail::copy_strided_map<T, R, grad_write::add, false>{src, dst, layout});
}

}  // namespace ranklens::cuda
