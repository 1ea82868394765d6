// LayerNorm<Dim>: y = (x − mean) / √(var + eps) · weight + bias over the last axis
// (torch.nn.LayerNorm; GPT-2's ln_1, ln_2, ln_f). Starts as the identity map: weight 1, bias 0.
#pragma once
#include <array>
#include <string>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/normalization.hpp"

namespace ranklens {

template <index_t Dim, Real T = float, Device D = cpu_t>
class LayerNorm {
  static_assert(Dim > 0 || Dim == dyn, "LayerNorm<Dim>: the width must be positive (or dyn).");

 public:
  using value_type = T;
  using device_type = D;
  using weight_shape = Shape<Dim>;
  static constexpr index_t width = Dim;  // a Norm (nn/contracts.hpp)

  explicit LayerNorm(double eps = 1e-5)
    requires(Dim != dyn)
      : LayerNorm(Dim, eps) {}
  // The same with the width given at run time (it must equal Dim unless Dim is dyn).
  LayerNorm(index_t width, double eps)
      : weight(on_device<D>(Tensor<T, weight_shape>(
                   weight_shape::from_dims(std::array<index_t, 1>{module_size(Dim, width, "LayerNorm", "the width")}, "LayerNorm"), T(1))),
               "weight"),
        bias(Tensor<T, weight_shape, D>::zeros(weight.shape()), "bias"),
        eps(eps) {}

  template <ShapeType S>
  auto operator()(const Var<T, S, D>& x) const {
    static_assert(last_extent_may_be<S, Dim>, "LayerNorm<Dim>: the input's last extent must equal Dim.");
    if constexpr (last_extent_may_be<S, Dim>) {
      require_last_extent_is(x, weight.shape()[0], "LayerNorm", Dim);
      return layer_norm(x, weight.var(), bias.var(), eps);
    }
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("weight", self.weight);
    visit("bias", self.bias);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, weight_shape, D> weight;
  Parameter<T, weight_shape, D> bias;
  double eps;
};

}  // namespace ranklens
