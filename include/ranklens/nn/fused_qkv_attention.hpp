// FusedQkvAttention<C>: causal multi-head self-attention in HF GPT-2's layout: one c_attn
// Conv1D (d_model → 3·d_model, weight stored (d_model, 3·d_model)) whose output splits into
// queries, keys and values in that order, and a c_proj Conv1D back to d_model. The split is
// three views of c_attn's output; the attention itself is causal_attention.
#pragma once
#include "ranklens/nn/causal_attention.hpp"
#include "ranklens/nn/conv1d.hpp"
#include "ranklens/ops/concat.hpp"

namespace ranklens {

template <TransformerConfig C, Real T = float>
class FusedQkvAttention {
  using dims = config_dims<C>;
  static constexpr index_t d_model = dims::d_model, head_dim = dims::head_dim;

 public:
  using activations = activation_types<C, T>;

  template <class Generator>
  explicit FusedQkvAttention(Generator& rng) : c_attn(rng, C::init_std), c_proj(rng, C::init_std) {}

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
    visit("c_attn", self.c_attn);
    visit("c_proj", self.c_proj);
  }
  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    AttentionHookPoints<C, T>::visit_hook_points(self.hooks, visit);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Conv1D<d_model, 3 * d_model, T> c_attn;
  Conv1D<d_model, d_model, T> c_proj;
  AttentionHookPoints<C, T> hooks;

 private:
  // positions_or_cache: the first token's position (index_t) or the layer's KvCacheLayer.
  template <class PositionsOrCache>
  typename activations::residual forward(const typename activations::residual& x, const PositionsOrCache& positions_or_cache) const {
    const auto [q, k, v] = split<-1, 3>(c_attn(x));
    const auto z = causal_attention<C, T>(unflatten<-1, dims::n_heads, head_dim>(q), unflatten<-1, dims::n_heads, head_dim>(k),
                                          unflatten<-1, dims::n_heads, head_dim>(v), hooks, positions_or_cache);
    return c_proj(flatten<2, 3>(z));
  }
};

}  // namespace ranklens
