// SwiGluMlp<C>: Qwen2's gated MLP (Shazeer 2020, "GLU Variants Improve Transformer"):
// down_proj(silu(gate_proj(x)) ⊙ up_proj(x)), all three nn.Linear without bias.
#pragma once
#include "ranklens/nn/activation_types.hpp"
#include "ranklens/nn/hook_point.hpp"
#include "ranklens/nn/linear.hpp"
#include "ranklens/ops/swiglu.hpp"

namespace ranklens {

template <TransformerConfig C, Real T = float, Device D = cpu_t>
class SwiGluMlp {
  using dims = config_dims<C>;

 public:
  using value_type = T;
  using device_type = D;
  using activations = activation_types<C, T, D>;

  // C's sizes, for a configuration without dyn ones.
  template <class Generator>
    requires StaticTransformerConfig<C>
  explicit SwiGluMlp(Generator& generator) : SwiGluMlp(generator, static_transformer_dims<C>()) {}
  template <class Generator>
  SwiGluMlp(Generator& rng, const transformer_dims& sizes)
      : gate_proj(rng, sizes.d_model, sizes.mlp_width, {.bias = false, .init_std = C::init_std}),
        up_proj(rng, sizes.d_model, sizes.mlp_width, {.bias = false, .init_std = C::init_std}),
        down_proj(rng, sizes.mlp_width, sizes.d_model, {.bias = false, .init_std = C::init_std}) {}

  typename activations::residual operator()(const typename activations::residual& x) const {
    const auto pre = hook_pre(gate_proj(x));
    const auto pre_linear = hook_pre_linear(up_proj(x));
    const auto post = hook_post(swiglu(pre, pre_linear));
    return down_proj(post);
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("gate_proj", self.gate_proj);
    visit("up_proj", self.up_proj);
    visit("down_proj", self.down_proj);
  }
  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    visit("hook_pre", self.hook_pre);
    visit("hook_pre_linear", self.hook_pre_linear);
    visit("hook_post", self.hook_post);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Linear<dims::d_model, dims::mlp_width, T, D> gate_proj;
  Linear<dims::d_model, dims::mlp_width, T, D> up_proj;
  Linear<dims::mlp_width, dims::d_model, T, D> down_proj;
  HookPoint<typename activations::mlp_hidden> hook_pre;         // gate_proj(x), before SiLU
  HookPoint<typename activations::mlp_hidden> hook_pre_linear;  // up_proj(x)
  HookPoint<typename activations::mlp_hidden> hook_post;        // silu(gate) ⊙ up, before down_proj
};

}  // namespace ranklens
