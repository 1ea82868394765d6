// One SGD update over a parameter's arrays, vectorised and split over the thread pool, with
// torch.optim.SGD's arithmetic in the order of its scalar loop, each operation rounded on its own
// (no explicit fused multiply-add, as in cpu/adamw.hpp):
//   d ← g + weight_decay·value
//   with momentum: buffer ← first ? d : momentum·buffer + (1 − dampening)·d
//                  d ← nesterov ? d + momentum·buffer : buffer
//   value ← value − lr·d
#pragma once
#include <span>

#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/sgd_coefficients.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

// value, grad: (n); buffer: (n), or null without momentum. value and buffer are updated in place;
// a first update only writes the buffer.
template <Real T>
void sgd_update(T* value, const T* grad, T* buffer, index_t n, const sgd_coefficients<T>& c) {
  if (n <= 0) return;
  constexpr int cost = 6;  // arithmetic operations per element
  parallel_for_elements(n, parallel_grain(cost), [&](index_t begin, index_t end) {
    const simd<T> lr(c.lr), momentum(c.momentum), dampening_complement(c.dampening_complement), weight_decay(c.weight_decay);
    simd_for<T>(end - begin, [&](index_t i, auto step) {
      const index_t k = begin + i;
      const simd<T> x = load(value + k, step);
      simd<T> d = load(grad + k, step) + weight_decay * x;
      if (buffer != nullptr) {
        const simd<T> b = c.first ? d : momentum * load(buffer + k, step) + dampening_complement * d;
        store(buffer + k, b, step);
        d = c.nesterov ? d + momentum * b : b;
      }
      store(value + k, x - lr * d, step);
    });
  });
}

// The same with the rate read from memory (c.lr unused): the twin of the device form, which
// SGD uses off the CPU so that a step captured into a CUDA graph reads each replay's rate.
template <Real T>
void sgd_update(T* value, const T* grad, T* buffer, index_t n, const sgd_coefficients<T>& c, const T* lr) {
  sgd_coefficients<T> with_rate = c;
  with_rate.lr = *lr;
  sgd_update(value, grad, buffer, n, with_rate);
}

// Every tensor of `tensors` updated in turn, each with its own `first` (c.first unused) and the
// rate read from memory: the twin of cuda::sgd_update_many, which updates them in few launches.
template <Real T>
void sgd_update_many(std::span<const sgd_tensor<T>> tensors, const sgd_coefficients<T>& c, const T* lr) {
  for (const sgd_tensor<T>& t : tensors) {
    sgd_coefficients<T> each = c;
    each.first = t.first;
    sgd_update(t.value, t.grad, t.buffer, t.n, each, lr);
  }
}

}  // namespace ranklens::cpu
