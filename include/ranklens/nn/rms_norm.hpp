// RMSNorm<Dim>: y = x / √(mean(x²) + eps) · weight over the last axis (Zhang & Sennrich 2019;
// HF's Qwen2RMSNorm: input_layernorm, post_attention_layernorm, norm). Weight starts at 1.
#pragma once
#include <array>
#include <string>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/normalization.hpp"

namespace ranklens {

template <index_t Dim, Real T = float, Device D = cpu_t>
class RMSNorm {
  static_assert(Dim > 0 || Dim == dyn, "RMSNorm<Dim>: the width must be positive (or dyn).");

 public:
  using value_type = T;
  using device_type = D;
  using weight_shape = Shape<Dim>;
  static constexpr index_t width = Dim;  // a Norm (nn/contracts.hpp)

  explicit RMSNorm(double eps = 1e-6)
    requires(Dim != dyn)
      : RMSNorm(Dim, eps) {}
  // The same with the width given at run time (it must equal Dim unless Dim is dyn).
  RMSNorm(index_t width, double eps)
      : weight(on_device<D>(Tensor<T, weight_shape>(
                   weight_shape::from_dims(std::array<index_t, 1>{module_size(Dim, width, "RMSNorm", "the width")}, "RMSNorm"), T(1))),
               "weight"),
        eps(eps) {}

  template <ShapeType S>
  auto operator()(const Var<T, S, D>& x) const {
    static_assert(last_extent_may_be<S, Dim>, "RMSNorm<Dim>: the input's last extent must equal Dim.");
    if constexpr (last_extent_may_be<S, Dim>) {
      require_last_extent_is(x, weight.shape()[0], "RMSNorm", Dim);
      return rms_norm(x, weight.var(), eps);
    }
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("weight", self.weight);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, weight_shape, D> weight;
  double eps;
};

}  // namespace ranklens
