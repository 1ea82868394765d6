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
#include <span>
#include <type_traits>

#include "ranklens/cpu/adamw_coefficients.hpp"
#include "ranklens/cuda/patterns.cuh"
#include "ranklens/cuda/tensor_lists.cuh"

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

// One list entry's update for for_each_in_list (tensor_lists.cuh): the coefficients read from
// device memory once per thread, each element through adamw_element, so that a list gives the
// same bits as adamw_update tensor by tensor.
struct adamw_list_op {
  const cpu::adamw_coefficients<float>* c;
  struct bound {
    cpu::adamw_coefficients<float> k;
    float one_minus_beta1, one_minus_beta2;
    __device__ adamw_inputs load(const cpu::adamw_tensor<float>& t, index_t i) const { return {t.value[i], t.grad[i], t.m[i], t.v[i]}; }
    __device__ void store(const cpu::adamw_tensor<float>& t, index_t i, adamw_inputs x) const {
      adamw_element(t.value, t.m, t.v, i, x, k, one_minus_beta1, one_minus_beta2);
    }
  };
  __device__ bound bind() const {
    const cpu::adamw_coefficients<float> k = *c;
    return {k, 1.0f - k.beta1, 1.0f - k.beta2};
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

// Updates every tensor of `tensors` (device arrays; value, m and v in place) with the
// coefficients in device memory, bit for bit as adamw_update would one by one, in a launch or a
// few (for_each_in_list). `chunk` (elements per block) is for the tests.
template <class T>
void adamw_update_many(std::span<const cpu::adamw_tensor<T>> tensors, const cpu::adamw_coefficients<T>* c,
                       index_t chunk = detail::list_chunk) {
  static_assert(std::is_same_v<T, float>, "cuda::adamw_update_many keeps fp32 weights and moments: T must be float.");
  for_each_in_list("cuda::adamw_update_many", tensors, detail::adamw_list_op{c}, chunk);
}

// Counts one more update in `schedule` (device memory, cpu/adamw_coefficients.hpp's slots) and
// writes its coefficients to c (device memory): one thread, no waiting.
template <class T>
void adamw_advance(double* schedule, cpu::adamw_coefficients<T>* c) {
  static_assert(std::is_same_v<T, float>, "cuda::adamw_advance: the moments and weights are fp32, T must be float.");
  launch("cuda::adamw_advance", detail::adamw_advance_kernel<T>, launch_shape{dim3(1), dim3(1)}, schedule, c);
}

}  // namespace ranklens::cuda
