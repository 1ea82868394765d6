// The per-step constants of one AdamW update, shared by cpu::adamw_update and
// cuda::adamw_update. No SIMD here, so that nvcc can include it.
#pragma once
#include <cmath>

#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"

// Host and device code when nvcc compiles it; plain C++ otherwise.
#if defined(__CUDACC__)
#define RANKLENS_HOST_DEVICE __host__ __device__
#else
#define RANKLENS_HOST_DEVICE
#endif

namespace ranklens::cpu {

// Computed by the optimizer in double and rounded to T once.
template <Real T>
struct adamw_coefficients {
  T decay;           // 1 − lr·weight_decay
  T beta1, beta2;
  T step_size;       // lr / (1 − β₁ᵗ)
  T inv_bias2_sqrt;  // 1 / √(1 − β₂ᵗ)
  T eps;
};

// The coefficients of update number `step` (counted from 1), as torch.optim.AdamW's bias
// correction gives them: computed in double, rounded to T once.
template <Real T>
RANKLENS_HOST_DEVICE adamw_coefficients<T> adamw_coefficients_at(double step, double lr, double beta1, double beta2, double eps,
                                                                 double weight_decay) {
  using std::pow, std::sqrt;
  const double bias1 = 1 - pow(beta1, step);
  const double bias2_sqrt = sqrt(1 - pow(beta2, step));
  return {.decay = T(1 - lr * weight_decay),
          .beta1 = T(beta1),
          .beta2 = T(beta2),
          .step_size = T(lr / bias1),
          .inv_bias2_sqrt = T(1 / bias2_sqrt),
          .eps = T(eps)};
}

// One parameter's arrays for an update of many at once (adamw_update_many): value, m and v are
// updated in place.
template <Real T>
struct adamw_tensor {
  T* value;
  const T* grad;
  T* m;
  T* v;
  index_t n;
};

// AdamW's step count and settings as one array of doubles, the form a device keeps them in (so
// that a step captured into a CUDA graph counts its own replays; optim/adamw.hpp).
struct adamw_schedule {
  enum slot : int { steps, lr, beta1, beta2, eps, weight_decay, slots };
};

// Counts one more update in `schedule` and gives its coefficients.
template <Real T>
RANKLENS_HOST_DEVICE adamw_coefficients<T> advance_adamw_schedule(double* schedule) {
  using s = adamw_schedule;
  schedule[s::steps] += 1;
  return adamw_coefficients_at<T>(schedule[s::steps], schedule[s::lr], schedule[s::beta1], schedule[s::beta2], schedule[s::eps],
                                  schedule[s::weight_decay]);
}

}  // namespace ranklens::cpu
