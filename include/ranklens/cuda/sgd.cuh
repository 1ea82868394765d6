// One SGD update in one fused pass, the twin of cpu/sgd.hpp, operation for operation, each
// rounded on its own (the _rn intrinsics keep nvcc from contracting them):
//   d ← g + weight_decay·value
//   with momentum: buffer ← first ? d : momentum·buffer + (1 − dampening)·d
//                  d ← nesterov ? d + momentum·buffer : buffer
//   value ← value − lr·d
// Float only, as AdamW: weights and buffers stay in fp32.
#pragma once
#include <type_traits>

#include "ranklens/cpu/sgd_coefficients.hpp"
#include "ranklens/cuda/patterns.cuh"

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

}  // namespace ranklens::cuda
