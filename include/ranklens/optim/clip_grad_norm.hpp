// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_: scale every gradient by
// max_norm / (total_norm + 1e-6) when the total L2 norm exceeds max_norm.
//
// clip_grad_norm<D> clips parameters on device D (cpu_t unless named). On the CPU the squares are
// summed in double; elsewhere each parameter's sum of squares is a float total on the device (the
// backend's order), and the totals are added on the host in double: one wait for the device,
// so a step that clips cannot be captured into a CUDA graph (the copy is refused by name).
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/reduce.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

namespace detail {

template <Device D>
double clip_grad_norm_on_device(const ParameterList& params, double max_norm) {
  const std::string who = "clip_grad_norm<" + std::string(D::name) + ">";
  std::vector<const ParameterRef*> trainable;
  index_t largest = 0;
  for (const auto& p : params) {
    if (*p.frozen || p.grad() == nullptr) continue;
    if (!p.is_on<D>())
      throw value_error(who + ": parameter '" + std::string(p.name) + "' lives on " + std::string(p.device) + ", not " + D::name);
    if (p.type != dtype::f32) throw value_error(who + ": parameter '" + std::string(p.name) + "' is " + std::string(name_of(p.type)) + ", not F32");
    trainable.push_back(&p);
    largest = std::max(largest, p.numel);
  }
  if (trainable.empty()) return 0;
  Tensor<float, Shape<dyn>, D> squares(Shape<dyn>{largest}), totals(Shape<dyn>{index_t(trainable.size())});
  for (std::size_t i = 0; i < trainable.size(); ++i) {
    const auto* grad = static_cast<const float*>(trainable[i]->grad());
    backend::unary_forward<cpu::square_op>(D{}, grad, squares.data(), trainable[i]->numel);
    backend::sum_all<float>(D{}, squares.data(), trainable[i]->numel, totals.data() + i);
  }
  std::vector<float> host(trainable.size());
  device_memory<D>::copy_to_host(host.data(), totals.data(), sizeof(float) * host.size());
  double sum_sq = 0;
  for (float total : host) sum_sq += double(total);
  const double total = std::sqrt(sum_sq);
  if (!std::isfinite(total)) throw value_error(who + ": the total gradient norm is not finite");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1)
    for (const ParameterRef* p : trainable) {
      auto* grad = static_cast<float*>(p->grad());
      backend::scale<float>(D{}, grad, float(coef), grad, p->numel);
    }
  return total;
}

}  // namespace detail

// Returns the total norm before clipping. A non-finite norm throws (error_if_nonfinite=True).
template <Device D = cpu_t>
double clip_grad_norm(const ParameterList& params, double max_norm) {
  if constexpr (!std::same_as<D, cpu_t>) {
    return detail::clip_grad_norm_on_device<D>(params, max_norm);
  } else {
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
}

}  // namespace ranklens
