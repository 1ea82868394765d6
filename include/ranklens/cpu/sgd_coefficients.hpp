// The per-step constants of one SGD update and the list entry of sgd_update_many, shared by
// cpu/sgd.hpp and cuda/sgd.cuh. No SIMD here, so that nvcc can include it.
#pragma once
#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"

namespace ranklens::cpu {

// The options rounded to T once; `first` says that this parameter's momentum buffer is new and
// takes the step direction itself, as torch.optim.SGD's first update does.
template <Real T>
struct sgd_coefficients {
  T lr;
  T momentum;
  T dampening_complement;  // 1 − dampening
  T weight_decay;
  bool nesterov;
  bool first;
};

// One parameter's arrays for an update of many at once (sgd_update_many): value and buffer
// (null without momentum) are updated in place; `first` as in sgd_coefficients, per parameter.
template <Real T>
struct sgd_tensor {
  T* value;
  const T* grad;
  T* buffer;
  index_t n;
  bool first;
};

}  // namespace ranklens::cpu
