// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_: scale every gradient by
// max_norm / (total_norm + 1e-6) when the total L2 norm exceeds max_norm.
#pragma once
#include <cmath>

#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

// Returns the total norm before clipping. A non-finite norm throws (error_if_nonfinite=True).
inline double clip_grad_norm(const ParameterList& params, double max_norm) {
  double sum_sq = 0;
  for_each_trainable(params, [&](auto*, auto* grad, index_t n) {
    for (index_t i = 0; i < n; ++i) sum_sq += double(grad[i]) * double(grad[i]);
  });
  const double total = std::sqrt(sum_sq);
  if (!std::isfinite(total)) throw value_error("clip_grad_norm: the total gradient norm is not finite");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1)
    for_each_trainable(params, [&](auto*, auto* grad, index_t n) {
      using T = std::remove_pointer_t<decltype(grad)>;
      for (index_t i = 0; i < n; ++i) grad[i] *= T(coef);
    });
  return total;
}

}  // namespace ranklens
