// GroupedQueryAttention<C>: causal self-attention in HF Qwen2's layout: separate q_proj,
// k_proj, v_proj (nn.Linear, with biases when C::qkv_bias) and o_proj (no bias), with
// n_kv_heads key/value heads shared by groups of query heads (n_kv_heads = n_heads is plain
// multi-head attention). The attention itself is causal_attention.
#pragma once
#include "ranklens/nn/causal_attention.hpp"
#include "ranklens/nn/linear.hpp"

namespace ranklens {

template <TransformerConfig C, Real T = float>
class GroupedQueryAttention {
  using dims = config_dims<C>;
  static constexpr index_t d_model = dims::d_model, head_dim = dims::head_dim;

 public:
  using activations = activation_types<C, T>;

  template <class Generator>
  explicit GroupedQueryAttention(Generator& rng)
      : q_proj(rng, {.bias = C::qkv_bias, .init_std = C::init_std}),
        k_proj(rng, {.bias = C::qkv_bias, .init_std = C::init_std}),
        v_proj(rng, {.bias = C::qkv_bias, .init_std = C::init_std}),
        o_proj(rng, {.bias = false, .init_std = C::init_std}) {}

  // x: (B, T, d_model) → (B, T, d_model).
  typename activations::residual operator()(const typename activations::residual& x, index_t position_offset = 0) const {
    return forward(x, position_offset);
  }
  // x holds new tokens continuing the sequence whose keys and values `cache` holds (nn/kv_cache.hpp).
  typename activations::residual operator()(const typename activations::residual& x, const KvCacheLayer<C, T>& cache) const {
    return forward(x, cache);
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("q_proj", self.q_proj);
    visit("k_proj", self.k_proj);
    visit("v_proj", self.v_proj);
    visit("o_proj", self.o_proj);
  }
  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    AttentionHookPoints<C, T>::visit_hook_points(self.hooks, visit);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Linear<d_model, dims::n_heads * head_dim, T> q_proj;
  Linear<d_model, dims::n_kv_heads * head_dim, T> k_proj;
  Linear<d_model, dims::n_kv_heads * head_dim, T> v_proj;
  Linear<dims::n_heads * head_dim, d_model, T> o_proj;
  AttentionHookPoints<C, T> hooks;

 private:
  // positions_or_cache: the first token's position (index_t) or the layer's KvCacheLayer.
  template <class PositionsOrCache>
  typename activations::residual forward(const typename activations::residual& x, const PositionsOrCache& positions_or_cache) const {
    const auto q = unflatten<-1, dims::n_heads, head_dim>(q_proj(x));
    const auto k = unflatten<-1, dims::n_kv_heads, head_dim>(k_proj(x));
    const auto v = unflatten<-1, dims::n_kv_heads, head_dim>(v_proj(x));
    const auto z = causal_attention<C, T>(q, k, v, hooks, positions_or_cache);
    return o_proj(flatten<2, 3>(z));
  }
};

}  // namespace ranklens
