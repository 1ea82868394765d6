// The parameters an optimizer updates: type-erased references (name, value, gradient, frozen,
// device), so one AdamW serves every model, adapter and SAE whatever their shape types.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/autograd/parameter.hpp"

namespace ranklens {

using ParameterList = std::vector<ParameterRef>;

// Throws value_error naming the first parameter that does not live on device D: an optimizer
// built for one device checks its list once, before its first step.
template <Device D>
void require_device(const ParameterList& params, std::string_view who) {
  for (const auto& p : params)
    if (!p.is_on<D>())
      throw value_error(std::string(who) + ": parameter '" + std::string(p.name) + "' lives on " + std::string(p.device) + ", not " +
                        D::name + "; every parameter of one optimizer must be on its device");
}

// Calls f(value_ptr, grad_ptr, numel) with the right element type for each parameter that
// trains now: not frozen, and with a gradient buffer (PyTorch skips parameters whose .grad is
// None; a missing gradient counts as zero). For host loops: cpu_t parameters only.
template <class F>
void for_each_trainable(const ParameterList& params, F&& f) {
  for (const auto& p : params) {
    void* grad = p.grad();
    if (*p.frozen || grad == nullptr) continue;
    if (!p.is_on<cpu_t>())
      throw value_error("optimizer: parameter '" + std::string(p.name) + "' lives on " + std::string(p.device) +
                        "; clip_grad_norm<cpu_t> reads cpu_t parameters only (clip_grad_norm<D> for device D)");
    switch (p.type) {
      case dtype::f32: f(static_cast<float*>(p.value), static_cast<float*>(grad), p.numel); break;
      case dtype::f64: f(static_cast<double*>(p.value), static_cast<double*>(grad), p.numel); break;
      default: throw value_error("optimizer: parameter '" + std::string(p.name) + "' has dtype " + std::string(name_of(p.type)) +
                                 "; only F32 and F64 parameters can be trained");
    }
  }
}

// Zeroes every gradient buffer on its parameter's device; parameters without one stay without.
inline void zero_grad(const ParameterList& params) {
  for (const auto& p : params) p.zero_grad();
}

}  // namespace ranklens
