// One AdamW update in one fused pass, the twin of cpu/adamw.hpp: each element's value, grad, m
// and v are read once and value, m and v written once. The arithmetic is the CPU's, operation
// for operation, with each operation rounded on its own (the _rn intrinsics keep nvcc from
// contracting them into fused multiply-adds), so the device repeats the CPU's scalar loop to the
// bit wherever the CPU compiler did not contract either:
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g·g
//   value ← value·decay − step_size·m / (√v · inv_bias2_sqrt + ε)
// Float only: master weights and moments stay in fp32 (mixed precision keeps bf16 for storage
// of activations and copies of weights).
#pragma once
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

// Counts one more update in `schedule` (device memory, cpu/adamw_coefficients.hpp's slots) and
// writes its coefficients to c (device memory): one thread, no waiting.
template <class T>
void adamw_advance(double* schedule, cpu::adamw_coefficients<T>* c) {
  static_assert(std::is_same_v<T, float>, "cuda::adamw_advance: the moments and weights are fp32, T must be float.");
  launch("cuda::adamw_advance", detail::adamw_advance_kernel<T>, launch_shape{dim3(1), dim3(1)}, schedule, c);
}

}  // namespace ranklens::cuda
