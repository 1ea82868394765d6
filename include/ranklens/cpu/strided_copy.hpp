// Copies between strided layouts of one shape, as a pointer-level kernel: the loops that
// contiguous/clone, concat and matmul's operand copies ran inline in their ops, with the
// contract a CUDA twin will share (docs/architecture.md, "Ops on any device").
//   dst[index · dst_strides] (+)= src[index · src_strides]   for every index of dims
// Strides count elements and may be 0 on the source (a broadcast read); a destination must not
// repeat an element unless mode is add (then its elements sum, as broadcasting's backward
// needs). No SIMD here, so that nvcc can include it: when both layouts are dense the copy is one
// flat loop, which the compiler vectorises.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>

#include "ranklens/core/broadcast_layout.hpp"
#include "ranklens/core/grad_write.hpp"

namespace ranklens::cpu {

// Whether strides walk dims densely in row-major order (axes of extent 1 may have any stride).
template <std::size_t R>
constexpr bool row_major_dense(const std::array<index_t, R>& dims, const std::array<index_t, R>& strides) noexcept {
  index_t expected = 1;
  for (std::size_t i = R; i-- > 0;) {
    if (dims[i] != 1 && strides[i] != expected) return false;
    expected *= dims[i];
  }
  return true;
}

template <class T, std::size_t R>
void copy_strided(const std::array<index_t, R>& dims, const T* src, const std::array<index_t, R>& src_strides, T* dst,
                  const std::array<index_t, R>& dst_strides, grad_write mode) {
  if (row_major_dense(dims, src_strides) && row_major_dense(dims, dst_strides)) {
    index_t n = 1;
    for (index_t d : dims) n *= d;
    if (mode == grad_write::store)
      std::copy(src, src + n, dst);
    else
      for (index_t i = 0; i < n; ++i) dst[i] += src[i];
    return;
  }
  if (mode == grad_write::store)
    for_each_offsets<R, 2>(dims, {src_strides, dst_strides}, [&](index_t from, index_t to) { dst[to] = src[from]; });
  else
    for_each_offsets<R, 2>(dims, {src_strides, dst_strides}, [&](index_t from, index_t to) { dst[to] += src[from]; });
}

}  // namespace ranklens::cpu
