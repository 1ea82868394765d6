// The parameters an optimizer updates: type-erased references (name, value, gradient, frozen),
// so one AdamW serves every model, adapter and SAE whatever their shape types.
#pragma once
#include <string>
#include <vector>

#include "ranklens/autograd/parameter.hpp"

namespace ranklens {

using ParameterList = std::vector<ParameterRef>;

// Calls f(value_ptr, grad_ptr, numel) with the right element type for each parameter that
// trains now: not frozen, and with a gradient buffer (PyTorch skips parameters whose .grad is
// None; a missing gradient counts as zero).
template <class F>
void for_each_trainable(const ParameterList& params, F&& f) {
  for (const auto& p : params) {
    void* grad = p.grad();
    if (*p.frozen || grad == nullptr) continue;
    switch (p.type) {
      case dtype::f32: f(static_cast<float*>(p.value), static_cast<float*>(grad), p.numel); break;
      case dtype::f64: f(static_cast<double*>(p.value), static_cast<double*>(grad), p.numel); break;
      default: throw value_error("optimizer: parameter '" + std::string(p.name) + "' has dtype " + std::string(name_of(p.type)) +
                                 "; only F32 and F64 parameters can be trained");
    }
  }
}

// Zeroes every gradient buffer; parameters without one stay without.
inline void zero_grad(const ParameterList& params) {
  for (const auto& p : params)
    if (void* grad = p.grad()) device_memory<cpu_t>::zero(grad, size_of(p.type) * std::size_t(p.numel));
}

}  // namespace ranklens
