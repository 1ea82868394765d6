// Conv1D<In, Out>: Hugging Face GPT-2's projection layer, y = x·W + b, with W stored (In, Out):
// the transpose of nn.Linear's layout. Despite its name it is a plain affine map over the last
// axis; keeping HF's layout lets GPT-2 checkpoints (c_attn, c_proj, c_fc) load without transposes.
#pragma once
#include <array>
#include <string>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/nn/adapter_slot.hpp"
#include "ranklens/nn/contracts.hpp"
#include "ranklens/nn/initialization.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/matmul_bias.hpp"

namespace ranklens {

template <index_t In, index_t Out, Real T = float, Device D = cpu_t>
class Conv1D {
  static_assert((In > 0 || In == dyn) && (Out > 0 || Out == dyn), "Conv1D<In, Out>: both widths must be positive (or dyn).");

 public:
  using value_type = T;
  using device_type = D;
  using weight_shape = Shape<In, Out>;
  using bias_shape = Shape<Out>;
  static constexpr index_t in_features = In;
  static constexpr index_t out_features = Out;
  static constexpr WeightLayout weight_layout = WeightLayout::in_out;  // an AffineLayer (nn/contracts.hpp)

  // weight ~ N(0, init_std²), bias 0 (HF GPT-2).
  template <class Generator>
    requires(In != dyn && Out != dyn)
  explicit Conv1D(Generator& rng, double init_std = default_init_std) : Conv1D(rng, In, Out, init_std) {}

  // The same with the widths given at run time (each must equal its static one, if any).
  template <class Generator>
  Conv1D(Generator& rng, index_t in, index_t out, double init_std = default_init_std)
      : weight(on_device<D>(normal_tensor<T>(weight_shape::from_dims(std::array<index_t, 2>{module_size(In, in, "Conv1D", "the input width"),
                                                                                              module_size(Out, out, "Conv1D", "the output width")},
                                                                      "Conv1D"),
                                              init_std, rng)),
               "weight"),
        bias(Tensor<T, bias_shape, D>::zeros(bias_shape::from_dims(std::array<index_t, 1>{out}, "Conv1D")), "bias") {}

  index_t input_width() const noexcept { return weight.shape()[0]; }
  index_t output_width() const noexcept { return weight.shape()[1]; }

  template <ShapeType S>
  auto operator()(const Var<T, S, D>& x) const {
    static_assert(S::rank >= 2, "Conv1D: the input needs at least a batch axis and a feature axis.");
    static_assert(last_extent_may_be<S, In>, "Conv1D<In, Out>: the input's last extent must equal In.");
    if constexpr (last_extent_may_be<S, In>) {  // else: stop here, one message is enough
      require_last_extent_is(x, input_width(), "Conv1D", In, Out);
      if (adapter.attached())
        if (auto adapted = adapter.product(x, weight.var(), std::optional(bias.var()))) return *adapted;
      return adapter(x, matmul_bias(x, weight.var(), bias.var()));
    }
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("weight", self.weight);
    visit("bias", self.bias);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, weight_shape, D> weight;
  Parameter<T, bias_shape, D> bias;
  AdapterSlot<In, Out, T, D> adapter;  // empty unless a LoRA adapter is attached (adapt/)
};

}  // namespace ranklens
