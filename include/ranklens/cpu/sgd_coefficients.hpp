// The per-step constants of one SGD update, shared by cpu::sgd_update and cuda::sgd_update. No
// SIMD here, so that nvcc can include it.
#pragma once
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

}  // namespace ranklens::cpu
