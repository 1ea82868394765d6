// One AdamW update (Loshchilov & Hutter, decoupled weight decay) over a parameter's arrays, in
// one vectorised pass split over the thread pool: weight decay, both moments and the step read
// each of value, grad, m and v once and write value, m and v once.
//
// The arithmetic is torch.optim.AdamW's (non-amsgrad), in the same order as the scalar loop
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g²
//   value ← value·decay − step_size·m / (√v · inv_bias2_sqrt + ε)
// with separate multiplies and adds (no explicit fused multiply-add), so the vector lanes round
// as that loop does and each element's result does not depend on the thread split. (A compiler
// that contracts a·b + c into an FMA, as GCC does by default at -O2, may do so here and in a
// scalar loop in different places: agreement is then to a few ulp, not to the bit.)
#pragma once
#include <span>

#include "ranklens/cpu/adamw_coefficients.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

// value, grad, m, v: (n). value, m and v are updated in place.
template <Real T>
void adamw_update(T* value, const T* grad, T* m, T* v, index_t n, const adamw_coefficients<T>& c) {
  if (n <= 0) return;
  // About a dozen arithmetic operations per element, a square root and a division among them.
  constexpr int cost = 12;
  parallel_for_elements(n, parallel_grain(cost), [&](index_t begin, index_t end) {
    const simd<T> decay(c.decay), b1(c.beta1), b2(c.beta2), one_minus_b1(T(1) - c.beta1), one_minus_b2(T(1) - c.beta2),
        step_size(c.step_size), inv_bias2_sqrt(c.inv_bias2_sqrt), eps(c.eps);
    simd_for<T>(end - begin, [&](index_t i, auto step) {
      const index_t k = begin + i;
      const simd<T> g = load(grad + k, step);
      const simd<T> mk = b1 * load(m + k, step) + one_minus_b1 * g;
      const simd<T> vk = b2 * load(v + k, step) + one_minus_b2 * g * g;
      store(m + k, mk, step);
      store(v + k, vk, step);
      store(value + k, load(value + k, step) * decay - step_size * mk / (xsimd::sqrt(vk) * inv_bias2_sqrt + eps), step);
    });
  });
}

// The same with the coefficients in memory, and the step that writes them from a schedule
// (cpu/adamw_coefficients.hpp): the twins of the device form, which AdamW uses off the CPU.
template <Real T>
void adamw_update(T* value, const T* grad, T* m, T* v, index_t n, const adamw_coefficients<T>* c) {
  adamw_update(value, grad, m, v, n, *c);
}
// Every tensor of `tensors` updated in turn: the twin of cuda::adamw_update_many, which updates
// them in few launches.
template <Real T>
void adamw_update_many(std::span<const adamw_tensor<T>> tensors, const adamw_coefficients<T>* c) {
  for (const adamw_tensor<T>& t : tensors) adamw_update(t.value, t.grad, t.m, t.v, t.n, *c);
}
template <Real T>
void adamw_advance(double* schedule, adamw_coefficients<T>* c) {
  *c = advance_adamw_schedule<T>(schedule);
}

}  // namespace ranklens::cpu
