// GeluMlp<C>: GPT-2's MLP, c_proj(gelu(c_fc(x))) with Conv1D layers and the tanh approximation
// of GELU (HF's "gelu_new"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
#pragma once
#include "ranklens/nn/activation_types.hpp"
#include "ranklens/nn/conv1d.hpp"
#include "ranklens/nn/hook_point.hpp"
#include "ranklens/ops/unary.hpp"

namespace ranklens {

template <TransformerConfig C, Real T = float, Device D = cpu_t>
class GeluMlp {
  using dims = config_dims<C>;

 public:
  using value_type = T;
  using device_type = D;
  using activations = activation_types<C, T, D>;

  // C's sizes, for a configuration without dyn ones.
  template <class Generator>
    requires StaticTransformerConfig<C>
  explicit GeluMlp(Generator& generator) : GeluMlp(generator, static_transformer_dims<C>()) {}
  template <class Generator>
  GeluMlp(Generator& rng, const transformer_dims& sizes)
      : c_fc(rng, sizes.d_model, sizes.mlp_width, C::init_std), c_proj(rng, sizes.mlp_width, sizes.d_model, C::init_std) {}

  typename activations::residual operator()(const typename activations::residual& x) const {
    const auto pre = hook_pre(c_fc(x));
    const auto post = hook_post(gelu(pre, gelu_approximation::tanh));
    return c_proj(post);
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("c_fc", self.c_fc);
    visit("c_proj", self.c_proj);
  }
  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    visit("hook_pre", self.hook_pre);
    visit("hook_post", self.hook_post);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Conv1D<dims::d_model, dims::mlp_width, T, D> c_fc;
  Conv1D<dims::mlp_width, dims::d_model, T, D> c_proj;
  HookPoint<typename activations::mlp_hidden> hook_pre;   // c_fc(x), before GELU
  HookPoint<typename activations::mlp_hidden> hook_post;  // after GELU, before c_proj
};

}  // namespace ranklens
