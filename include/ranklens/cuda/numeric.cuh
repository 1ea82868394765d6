// Element types and the reductions the kernels share.
//
// Storage types: float and bfloat16 (__nv_bfloat16). Kernels load every element as float,
// compute in float and round once when they store, so bf16 tensors get fp32 arithmetic and
// accumulation (the mixed precision the issue asks for); double has no CUDA kernels here.
//
// Row kernels give each row a group of `Threads` consecutive threads: 32 or fewer (one warp or
// part of one: reductions are warp shuffles) or the whole block (reductions go through shared
// memory). Every thread of a group ends with the same reduced value, combined in a fixed order,
// so results do not change from run to run.
#pragma once
#if defined(RANKLENS_CUDA_EMULATION)
#include "ranklens/cuda/emulation.hpp"
#endif
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <concepts>
#include <cstdint>
#include <limits>

namespace ranklens::cuda {

using bfloat16 = __nv_bfloat16;

template <class T>
concept DeviceReal = std::same_as<T, float> || std::same_as<T, bfloat16>;

__host__ __device__ __forceinline__ float to_float(float x) { return x; }
__host__ __device__ __forceinline__ float to_float(bfloat16 x) { return __bfloat162float(x); }

template <class T>
__host__ __device__ __forceinline__ T from_float(float x);
template <>
__host__ __device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__host__ __device__ __forceinline__ bfloat16 from_float<bfloat16>(float x) {
  return __float2bfloat16(x);  // round to nearest even
}

inline constexpr float infinity = std::numeric_limits<float>::infinity();
inline constexpr unsigned full_warp = 0xffffffffu;

__host__ __device__ __forceinline__ bool is_nan(float x) { return x != x; }

// Σ over a group of Threads consecutive threads (see the top of this file).
template <int Threads>
__device__ __forceinline__ float group_sum(float v) {
  static_assert(Threads >= 1 && Threads <= 1024 && (Threads & (Threads - 1)) == 0, "A row group is a power of two of at most 1024 threads.");
#pragma unroll
  for (int offset = (Threads < 32 ? Threads : 32) / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(full_warp, v, offset);
  if constexpr (Threads > 32) {
    __shared__ float partial[Threads / 32];
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    v = 0;
#pragma unroll
    for (int w = 0; w < Threads / 32; ++w) v += partial[w];
    __syncthreads();  // before the next call writes partial again
  }
  return v;
}

// max over the group; NaN wins (fmaxf would drop it).
__device__ __forceinline__ float nan_max(float a, float b) { return (a > b || is_nan(a)) ? a : b; }

template <int Threads>
__device__ __forceinline__ float group_max(float v) {
#pragma unroll
  for (int offset = (Threads < 32 ? Threads : 32) / 2; offset > 0; offset /= 2) v = nan_max(v, __shfl_xor_sync(full_warp, v, offset));
  if constexpr (Threads > 32) {
    __shared__ float partial[Threads / 32];
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    v = partial[0];
#pragma unroll
    for (int w = 1; w < Threads / 32; ++w) v = nan_max(v, partial[w]);
    __syncthreads();
  }
  return v;
}

// A running log-sum-exp: Σ exp(x − max) with its max, merged as in FlashAttention's online softmax.
struct max_and_sum {
  float max = -infinity;
  float sum = 0;
};
__device__ __forceinline__ max_and_sum merge(max_and_sum a, max_and_sum b) {
  const float m = fmaxf(a.max, b.max);
  if (m == -infinity) return {m, 0.0f};
  return {m, a.sum * expf(a.max - m) + b.sum * expf(b.max - m)};
}
__device__ __forceinline__ max_and_sum push(max_and_sum a, float x) { return merge(a, max_and_sum{x, 1.0f}); }

template <int Threads>
__device__ __forceinline__ max_and_sum group_merge(max_and_sum v) {
#pragma unroll
  for (int offset = (Threads < 32 ? Threads : 32) / 2; offset > 0; offset /= 2) {
    const max_and_sum other{__shfl_xor_sync(full_warp, v.max, offset), __shfl_xor_sync(full_warp, v.sum, offset)};
    v = merge(v, other);
  }
  if constexpr (Threads > 32) {
    __shared__ float partial_max[Threads / 32], partial_sum[Threads / 32];
    if (threadIdx.x % 32 == 0) partial_max[threadIdx.x / 32] = v.max, partial_sum[threadIdx.x / 32] = v.sum;
    __syncthreads();
    v = max_and_sum{partial_max[0], partial_sum[0]};
#pragma unroll
    for (int w = 1; w < Threads / 32; ++w) v = merge(v, max_and_sum{partial_max[w], partial_sum[w]});
    __syncthreads();
  }
  return v;
}

// The largest value with its index: NaN counts as the largest, and among equal values the
// smallest index wins (cpu::max_axis' and torch.topk's order).
struct value_and_index {
  float value = -infinity;
  int index = std::numeric_limits<int>::max();
};
__device__ __forceinline__ bool comes_first(value_and_index a, value_and_index b) {
  const bool a_nan = is_nan(a.value), b_nan = is_nan(b.value);
  if (a_nan != b_nan) return a_nan;
  if (!a_nan && a.value != b.value) return a.value > b.value;
  return a.index < b.index;
}
__device__ __forceinline__ value_and_index first_of(value_and_index a, value_and_index b) { return comes_first(a, b) ? a : b; }

template <int Threads>
__device__ __forceinline__ value_and_index group_first(value_and_index v) {
#pragma unroll
  for (int offset = (Threads < 32 ? Threads : 32) / 2; offset > 0; offset /= 2) {
    const value_and_index other{__shfl_xor_sync(full_warp, v.value, offset), __shfl_xor_sync(full_warp, v.index, offset)};
    v = first_of(v, other);
  }
  if constexpr (Threads > 32) {
    __shared__ float partial_value[Threads / 32];
    __shared__ int partial_index[Threads / 32];
    if (threadIdx.x % 32 == 0) partial_value[threadIdx.x / 32] = v.value, partial_index[threadIdx.x / 32] = v.index;
    __syncthreads();
    v = value_and_index{partial_value[0], partial_index[0]};
#pragma unroll
    for (int w = 1; w < Threads / 32; ++w) v = first_of(v, value_and_index{partial_value[w], partial_index[w]});
    __syncthreads();
  }
  return v;
}

namespace detail {

// *p += v, atomically: for the gradients of gathers, where several threads add into one element.
__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(bfloat16* p, float v) {
#if defined(RANKLENS_CUDA_EMULATION) || !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  atomicAdd(p, from_float<bfloat16>(v));
#else  // no bf16 atomics before sm_80: compare-and-swap the aligned 32-bit word holding it
  auto* word = reinterpret_cast<unsigned*>(reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t(3));
  const unsigned shift = (reinterpret_cast<std::uintptr_t>(p) & 2) ? 16u : 0u;
  unsigned old = *word, assumed;
  do {
    assumed = old;
    const unsigned short bits = (assumed >> shift) & 0xffffu;
    const float sum = __bfloat162float(__ushort_as_bfloat16(bits)) + v;
    const unsigned updated = (assumed & ~(0xffffu << shift)) | (unsigned(__bfloat16_as_ushort(__float2bfloat16(sum))) << shift);
    old = atomicCAS(word, assumed, updated);
  } while (old != assumed);
#endif
}

}  // namespace detail

}  // namespace ranklens::cuda
