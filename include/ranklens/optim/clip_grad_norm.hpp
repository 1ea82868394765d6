// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_: scale every gradient by
// max_norm / (total_norm + 1e-6) when the total L2 norm exceeds max_norm.
//
// clip_grad_norm<D> clips parameters on device D (cpu_t unless named). On the CPU each
// parameter's squares are summed in one parallel pass (in T within blocks, in double across them
// and across parameters: cpu::sum_of_squares); elsewhere the gradients' squares are summed in
// float per chunk of the list (backend::sum_of_squares_many: a launch or a few for all of them),
// and the partials are added on the host in double: one wait for the device, so a step that clips
// this way cannot be captured into a CUDA graph (the copy is refused by name).
// clip_grad_norm_into<D> waits for nothing: the norm and the coefficient stay in D's memory (the
// partials added there, backend::clip_coefficient) and every gradient is scaled in one call, so a
// captured step can clip, in a few launches whatever the number of parameters.
#pragma once
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "ranklens/backend/clip_coefficient.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/reduce.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

namespace detail {

// The parameters that have a gradient, each checked to live on D and be F32.
template <Device D>
std::vector<const ParameterRef*> trainable_f32(const ParameterList& params, const std::string& who) {
  std::vector<const ParameterRef*> trainable;
  for (const auto& p : params) {
    if (*p.frozen || p.grad() == nullptr) continue;
    if (!p.is_on<D>())
      throw value_error(who + ": parameter '" + std::string(p.name) + "' lives on " + std::string(p.device) + ", not " + D::name);
    if (p.type != dtype::f32) throw value_error(who + ": parameter '" + std::string(p.name) + "' is " + std::string(name_of(p.type)) + ", not F32");
    trainable.push_back(&p);
  }
  return trainable;
}

// The gradients of `trainable` as arrays, to be read (squared) and to be scaled.
inline std::vector<cpu::array_range<const float>> gradients_read(const std::vector<const ParameterRef*>& trainable) {
  std::vector<cpu::array_range<const float>> out;
  for (const ParameterRef* p : trainable) out.push_back({static_cast<const float*>(p->grad()), p->numel});
  return out;
}
inline std::vector<cpu::array_range<float>> gradients_written(const std::vector<const ParameterRef*>& trainable) {
  std::vector<cpu::array_range<float>> out;
  for (const ParameterRef* p : trainable) out.push_back({static_cast<float*>(p->grad()), p->numel});
  return out;
}

// Partial sums of squares of every gradient (backend::sum_of_squares_many: one per parameter on
// the CPU, one per chunk of the list elsewhere) in D's memory, and a float after them for the
// clipping coefficient: partials(count) then the coefficient.
template <Device D>
struct squared_gradients {
  index_t count;
  Tensor<float, Shape<dyn>, D> partials;

  explicit squared_gradients(std::span<const cpu::array_range<const float>> gradients)
      : count(backend::sum_of_squares_partials<float>(D{}, gradients)), partials(Shape<dyn>{count + 1}) {
    backend::sum_of_squares_many<float>(D{}, gradients, partials.data());
  }
  float* coefficient() { return partials.data() + count; }
};

template <Device D>
double clip_grad_norm_on_device(const ParameterList& params, double max_norm) {
  const std::string who = "clip_grad_norm<" + std::string(D::name) + ">";
  const std::vector<const ParameterRef*> trainable = trainable_f32<D>(params, who);
  if (trainable.empty()) return 0;
  squared_gradients<D> squares(gradients_read(trainable));
  std::vector<float> host(std::size_t(squares.count));
  device_memory<D>::copy_to_host(host.data(), squares.partials.data(), sizeof(float) * host.size());
  double sum_sq = 0;
  for (float partial : host) sum_sq += double(partial);
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

// The same clipping without waiting for the device, for a step captured into a CUDA graph: the
// total norm before clipping is written to `norm` (a scalar in D's memory), and every gradient is
// multiplied there by min(1, max_norm / (norm + 1e-6)), which a coefficient of 1 skips on the
// device (a step under the limit reads the gradients once, for the norm). The squares are summed
// as clip_grad_norm<D> sums them, the partials in double. A non-finite norm cannot be refused
// without waiting, so, as torch's clip_grad_norm_ with error_if_nonfinite=False, a NaN norm makes
// every gradient NaN and an infinite one scales the finite gradients to 0. Gradients must be F32
// (on the CPU too).
template <Device D = cpu_t>
void clip_grad_norm_into(const ParameterList& params, double max_norm, Tensor<float, Shape<>, D>& norm) {
  const std::vector<const ParameterRef*> trainable =
      detail::trainable_f32<D>(params, "clip_grad_norm_into<" + std::string(D::name) + ">");
  if (trainable.empty()) {
    backend::fill<float>(D{}, norm.data(), 0.0f, 1);
    return;
  }
  detail::squared_gradients<D> squares(detail::gradients_read(trainable));
  backend::clip_coefficient(D{}, squares.partials.data(), squares.count, max_norm, norm.data(), squares.coefficient());
  backend::scale_by_clip_coefficient_many(D{}, squares.coefficient(), std::span<const cpu::array_range<float>>(detail::gradients_written(trainable)));
}

// Returns the total norm before clipping. A non-finite norm throws (error_if_nonfinite=True).
template <Device D = cpu_t>
double clip_grad_norm(const ParameterList& params, double max_norm) {
  if constexpr (!std::same_as<D, cpu_t>) {
    return detail::clip_grad_norm_on_device<D>(params, max_norm);
  } else {
    double sum_sq = 0;
    for_each_trainable(params, [&](auto*, auto* grad, index_t n) {
      using T = std::remove_pointer_t<decltype(grad)>;
      sum_sq += backend::sum_of_squares<T>(cpu_t{}, grad, n);
    });
    const double total = std::sqrt(sum_sq);
    if (!std::isfinite(total)) throw value_error("clip_grad_norm: the total gradient norm is not finite");
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1)
      for_each_trainable(params, [&](auto*, auto* grad, index_t n) {
        using T = std::remove_pointer_t<decltype(grad)>;
        backend::scale<T>(cpu_t{}, grad, T(coef), grad, n);
      });
    return total;
  }
}

}  // namespace ranklens
