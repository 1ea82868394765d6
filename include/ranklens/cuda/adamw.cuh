// One AdamW update in one fused pass, the twin of cpu/adamw.hpp: each element's value, grad, m
// and v are read once and value, m and v written once. The arithmetic is the CPU's, operation
// for operation, with each operation rounded on its own (the _rn intrinsics keep nvcc from
// contracting them into fused multiply-adds), so the device repeats the CPU's scalar loop to the
// bit wherever the CPU compiler did not contract either:
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g·g
//   value ← value·decay − step_size·m / (√v · inv_bias2_sqrt + ε)
// Float only: master weights and moments stay in fp32 (mixed precision keeps bf16 for storage
// of activations and copies of weights). adamw_update_many updates a list of parameters in a
// launch or a few, as torch's fused AdamW does; the optimizer steps through it.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include "ranklens/cpu/adamw_coefficients.hpp"
#include "ranklens/cuda/patterns.cuh"

namespace ranklens::cuda {

namespace detail {

struct adamw_inputs {
  float value, grad, m, v;
};
__device__ inline void adamw_element(float* value, float* m, float* v, index_t i, adamw_inputs x, const cpu::adamw_coefficients<float>& c,
                                     float one_minus_beta1, float one_minus_beta2) {
  const float mk = __fadd_rn(__fmul_rn(c.beta1, x.m), __fmul_rn(one_minus_beta1, x.grad));
  const float vk = __fadd_rn(__fmul_rn(c.beta2, x.v), __fmul_rn(__fmul_rn(one_minus_beta2, x.grad), x.grad));
  const float denominator = __fadd_rn(__fmul_rn(__fsqrt_rn(vk), c.inv_bias2_sqrt), c.eps);
  m[i] = mk;
  v[i] = vk;
  value[i] = __fsub_rn(__fmul_rn(x.value, c.decay), __fdiv_rn(__fmul_rn(c.step_size, mk), denominator));
}

struct adamw_map {
  float* value;
  const float* grad;
  float* m;
  float* v;
  cpu::adamw_coefficients<float> c;
  float one_minus_beta1, one_minus_beta2;
  __device__ adamw_inputs load(index_t i) const { return {value[i], grad[i], m[i], v[i]}; }
  __device__ void store(index_t i, adamw_inputs x) const { adamw_element(value, m, v, i, x, c, one_minus_beta1, one_minus_beta2); }
};

// The same with the coefficients read from device memory (written by adamw_advance).
struct adamw_scheduled_map {
  float* value;
  const float* grad;
  float* m;
  float* v;
  const cpu::adamw_coefficients<float>* c;
  __device__ adamw_inputs load(index_t i) const { return {value[i], grad[i], m[i], v[i]}; }
  __device__ void store(index_t i, adamw_inputs x) const {
    const cpu::adamw_coefficients<float> k = *c;
    adamw_element(value, m, v, i, x, k, 1.0f - k.beta1, 1.0f - k.beta2);
  }
};

// Many parameters' updates in few launches (as torch's fused AdamW applies one kernel to a list
// of tensors): a launch takes up to adamw_batch_tensors tensors and adamw_batch_blocks chunks of
// `chunk` elements by value, a block per chunk, so that a step of a model with dozens of
// parameters is a launch or two, not one per parameter. Each element's arithmetic is
// adamw_element's: the same bits as adamw_update, tensor by tensor.
inline constexpr int adamw_batch_tensors = 24;
inline constexpr int adamw_batch_blocks = 320;
inline constexpr index_t adamw_chunk = 65536;
inline constexpr int adamw_many_threads = 256;

struct adamw_batch {
  cpu::adamw_tensor<float> tensors[adamw_batch_tensors];
  std::uint8_t chunk_tensor[adamw_batch_blocks];  // the tensor of block b
  std::int32_t chunk_index[adamw_batch_blocks];   // and which of its chunks
  index_t chunk;
};
static_assert(sizeof(adamw_batch) <= 4096, "a kernel's parameters must fit CUDA's 4 KB");

template <class T>  // float; a template so that every translation unit may define it (header-only)
__global__ void __launch_bounds__(adamw_many_threads) adamw_many_kernel(adamw_batch batch, const cpu::adamw_coefficients<T>* c) {
  const cpu::adamw_tensor<T> t = batch.tensors[batch.chunk_tensor[blockIdx.x]];
  const index_t begin = index_t(batch.chunk_index[blockIdx.x]) * batch.chunk;
  const index_t end = begin + batch.chunk < t.n ? begin + batch.chunk : t.n;
  const cpu::adamw_coefficients<T> k = *c;
  const float one_minus_beta1 = 1.0f - k.beta1, one_minus_beta2 = 1.0f - k.beta2;
  constexpr int items = 4;  // loads in flight per thread, as map's
  for (index_t first = begin + threadIdx.x; first < end; first += index_t(items) * blockDim.x) {
    adamw_inputs x[items];
    for (int j = 0; j < items; ++j) {
      const index_t i = first + index_t(j) * blockDim.x;
      if (i < end) x[j] = {t.value[i], t.grad[i], t.m[i], t.v[i]};
    }
    for (int j = 0; j < items; ++j) {
      const index_t i = first + index_t(j) * blockDim.x;
      if (i < end) adamw_element(t.value, t.m, t.v, i, x[j], k, one_minus_beta1, one_minus_beta2);
    }
  }
}

template <class T>
__global__ void adamw_advance_kernel(double* schedule, cpu::adamw_coefficients<T>* c) {
  *c = cpu::advance_adamw_schedule<T>(schedule);
}

}  // namespace detail

// value, grad, m, v: (n), on the device; value, m and v are updated in place.
template <class T>
void adamw_update(T* value, const T* grad, T* m, T* v, index_t n, const cpu::adamw_coefficients<T>& c) {
  static_assert(std::is_same_v<T, float>, "cuda::adamw_update keeps fp32 weights and moments: T must be float.");
  if (n <= 0) return;
  map("cuda::adamw_update", n, detail::adamw_map{value, grad, m, v, c, 1.0f - c.beta1, 1.0f - c.beta2});
}

// The same with the coefficients in device memory, so that a captured graph reads each replay's.
template <class T>
void adamw_update(T* value, const T* grad, T* m, T* v, index_t n, const cpu::adamw_coefficients<T>* c) {
  static_assert(std::is_same_v<T, float>, "cuda::adamw_update keeps fp32 weights and moments: T must be float.");
  if (n <= 0) return;
  map("cuda::adamw_update", n, detail::adamw_scheduled_map{value, grad, m, v, c});
}

// Updates every tensor of `tensors` (device arrays; value, m and v in place) with the
// coefficients in device memory, bit for bit as adamw_update would one by one: a launch per
// adamw_batch_tensors tensors or adamw_batch_blocks chunks, whichever fills first. The tensors'
// pointers travel in the launch's parameters, so a captured graph replays them as they were.
// `chunk` (elements per block) is for the tests.
template <class T>
void adamw_update_many(std::span<const cpu::adamw_tensor<T>> tensors, const cpu::adamw_coefficients<T>* c,
                       index_t chunk = detail::adamw_chunk) {
  static_assert(std::is_same_v<T, float>, "cuda::adamw_update_many keeps fp32 weights and moments: T must be float.");
  if (chunk <= 0) throw value_error("cuda::adamw_update_many: chunk = " + std::to_string(chunk) + " must be positive");
  detail::adamw_batch batch{};
  batch.chunk = chunk;
  int count = 0, blocks = 0;
  const auto flush = [&] {
    if (blocks > 0)
      launch("cuda::adamw_update_many", detail::adamw_many_kernel<T>, launch_shape{dim3(unsigned(blocks)), dim3(detail::adamw_many_threads)},
             batch, c);
    count = blocks = 0;
  };
  for (const cpu::adamw_tensor<T>& t : tensors) {
    if (t.n <= 0) continue;
    int slot = -1;  // t's place in the batch being filled
    const index_t chunks = (t.n + chunk - 1) / chunk;
    for (index_t k = 0; k < chunks; ++k) {
      if (blocks == detail::adamw_batch_blocks) {
        flush();
        slot = -1;
      }
      if (slot < 0) {
        if (count == detail::adamw_batch_tensors) flush();
        slot = count++;
        batch.tensors[slot] = t;
      }
      batch.chunk_tensor[blocks] = std::uint8_t(slot);
      batch.chunk_index[blocks] = std::int32_t(k);
      ++blocks;
    }
  }
  flush();
}

// Counts one more update in `schedule` (device memory, cpu/adamw_coefficients.hpp's slots) and
// writes its coefficients to c (device memory): one thread, no waiting.
template <class T>
void adamw_advance(double* schedule, cpu::adamw_coefficients<T>* c) {
  static_assert(std::is_same_v<T, float>, "cuda::adamw_advance: the moments and weights are fp32, T must be float.");
  launch("cuda::adamw_advance", detail::adamw_advance_kernel<T>, launch_shape{dim3(1), dim3(1)}, schedule, c);
}

}  // namespace ranklens::cuda
