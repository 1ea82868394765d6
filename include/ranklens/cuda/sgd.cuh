// One SGD update in one fused pass, the twin of cpu/sgd.hpp, operation for operation, each
// rounded on its own (the _rn intrinsics keep nvcc from contracting them):
//   d ← g + weight_decay·value
//   with momentum: buffer ← first ? d : momentum·buffer + (1 − dampening)·d
//                  d ← nesterov ? d + momentum·buffer : buffer
//   value ← value − lr·d
// Float only, as AdamW: weights and buffers stay in fp32. sgd_update_many updates a list of
// parameters in a launch or a few; the optimizer steps through it.
#pragma once
#include <span>
#include <type_traits>

#include "ranklens/cpu/sgd_coefficients.hpp"
#include "ranklens/cuda/patterns.cuh"
#include "ranklens/cuda/tensor_lists.cuh"

namespace ranklens::cuda {

namespace detail {

struct sgd_inputs {
  float value, grad, buffer;
};
struct sgd_map {
  float* value;
  const float* grad;
  float* buffer;  // null without momentum
  cpu::sgd_coefficients<float> c;
  const float* lr;  // the rate in device memory, or null for c.lr
  // A new buffer is not read: the first update writes it whole.
  __device__ sgd_inputs load(index_t i) const { return {value[i], grad[i], buffer != nullptr && !c.first ? buffer[i] : 0.0f}; }
  __device__ void store(index_t i, sgd_inputs x) const {
    float d = __fadd_rn(x.grad, __fmul_rn(c.weight_decay, x.value));
    if (buffer != nullptr) {
      const float b = c.first ? d : __fadd_rn(__fmul_rn(c.momentum, x.buffer), __fmul_rn(c.dampening_complement, d));
      buffer[i] = b;
      d = c.nesterov ? __fadd_rn(d, __fmul_rn(c.momentum, b)) : b;
    }
    value[i] = __fsub_rn(x.value, __fmul_rn(lr != nullptr ? *lr : c.lr, d));
  }
};

// One list entry's update for for_each_in_list (tensor_lists.cuh): sgd_map's arithmetic with the
// entry's own `first` and the rate read from device memory once per thread.
struct sgd_list_op {
  cpu::sgd_coefficients<float> c;
  const float* lr;
  struct bound {
    cpu::sgd_coefficients<float> c;
    __device__ sgd_inputs load(const cpu::sgd_tensor<float>& t, index_t i) const {
      return {t.value[i], t.grad[i], t.buffer != nullptr && !t.first ? t.buffer[i] : 0.0f};
    }
    __device__ void store(const cpu::sgd_tensor<float>& t, index_t i, sgd_inputs x) const {
      cpu::sgd_coefficients<float> each = c;
      each.first = t.first;
      sgd_map{t.value, t.grad, t.buffer, each, nullptr}.store(i, x);
    }
  };
  __device__ bound bind() const {
    cpu::sgd_coefficients<float> k = c;
    k.lr = *lr;
    return {k};
  }
};

}  // namespace detail

// value, grad: (n), on the device; buffer: (n) there, or null without momentum. value and
// buffer are updated in place.
template <class T>
void sgd_update(T* value, const T* grad, T* buffer, index_t n, const cpu::sgd_coefficients<T>& c) {
  static_assert(std::is_same_v<T, float>, "cuda::sgd_update keeps fp32 weights and momentum buffers: T must be float.");
  if (n <= 0) return;
  map("cuda::sgd_update", n, detail::sgd_map{value, grad, buffer, c, nullptr});
}

// The same with the rate in device memory (c.lr unused), so that a captured graph reads each
// replay's rate.
template <class T>
void sgd_update(T* value, const T* grad, T* buffer, index_t n, const cpu::sgd_coefficients<T>& c, const T* lr) {
  static_assert(std::is_same_v<T, float>, "cuda::sgd_update keeps fp32 weights and momentum buffers: T must be float.");
  if (n <= 0) return;
  map("cuda::sgd_update", n, detail::sgd_map{value, grad, buffer, c, lr});
}

// Updates every tensor of `tensors` (value and buffer in place), each with its own `first`
// (c.first unused) and the rate in device memory, bit for bit as sgd_update would one by one, in
// a launch or a few (for_each_in_list). `chunk` (elements per block) is for the tests.
template <class T>
void sgd_update_many(std::span<const cpu::sgd_tensor<T>> tensors, const cpu::sgd_coefficients<T>& c, const T* lr,
                     index_t chunk = detail::list_chunk) {
  static_assert(std::is_same_v<T, float>, "cuda::sgd_update_many keeps fp32 weights and momentum buffers: T must be float.");
  for_each_in_list("cuda::sgd_update_many", tensors, detail::sgd_list_op{c, lr}, chunk);
}

}  // namespace ranklens::cuda
