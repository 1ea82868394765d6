// SelfAttention<C, T, Projections>: the plumbing that every layout's causal self-attention
// shares, written once: the two call forms (from a position offset, or continuing a KvCache),
// TransformerLens's hook points, and
//
//   q, k, v = projections.project_qkv(x)          (B, T, heads, head_dim), per-head views
//   z       = causal_attention(q, k, v, hooks, …)   nn/causal_attention.hpp
//   y       = projections.project_out(z)            z with its heads side by side: (B, T, d_model)
//
// A layout supplies only its Projections: the modules (with HF's names, listed in their
// visit_parameters), how they are drawn from a generator, and the two projections above.
// GroupedQueryAttention (Qwen2: q/k/v/o_proj) and FusedQkvAttention (GPT-2: c_attn, c_proj) are
// SelfAttention with their projections; both fulfil CausalSelfAttention (nn/contracts.hpp).
// The projections are a public base, so a layout's modules are members of the attention
// (attention.q_proj, attention.c_attn), as in Hugging Face's module tree.
#pragma once
#include <tuple>
#include <vector>

#include "ranklens/nn/causal_attention.hpp"
#include "ranklens/nn/module.hpp"

namespace ranklens {

template <TransformerConfig C, Real T, class Projections>
class SelfAttention : public Projections {
 public:
  using value_type = T;
  using device_type = typename Projections::device_type;  // where the projections keep their weights
  using activations = activation_types<C, T, device_type>;
  using residual = typename activations::residual;

  // C's sizes, for a configuration without dyn ones.
  template <class Generator>
    requires StaticTransformerConfig<C>
  explicit SelfAttention(Generator& generator) : SelfAttention(generator, static_transformer_dims<C>()) {}
  template <class Generator>
  SelfAttention(Generator& generator, const transformer_dims& sizes) : Projections(generator, sizes), rope_theta_(sizes.rope_theta) {}

  // x: (B, T, d_model) → (B, T, d_model). position_offset: the position of the first token.
  residual operator()(const residual& x, index_t position_offset = 0) const { return forward(x, position_offset); }
  // x holds new tokens continuing the sequence whose keys and values `cache` holds (nn/kv_cache.hpp).
  residual operator()(const residual& x, const KvCacheLayer<C, T, device_type>& cache) const { return forward(x, cache); }

  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    AttentionHookPoints<C, T, device_type>::visit_hook_points(self.hooks, visit);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  AttentionHookPoints<C, T, device_type> hooks;

 private:
  // positions_or_cache: the first token's position (index_t) or the layer's KvCacheLayer.
  template <class PositionsOrCache>
  residual forward(const residual& x, const PositionsOrCache& positions_or_cache) const {
    const auto [q, k, v] = this->project_qkv(x);
    const auto z = causal_attention<C, T, device_type>(q, k, v, hooks, rope_theta_, positions_or_cache);
    return this->project_out(flatten<2, 3>(z));
  }

  double rope_theta_;
};

}  // namespace ranklens
