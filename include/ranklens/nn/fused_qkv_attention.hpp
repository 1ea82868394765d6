// FusedQkvAttention<C>: causal multi-head self-attention in HF GPT-2's layout: one c_attn
// Conv1D (d_model → 3·d_model, weight stored (d_model, 3·d_model)) whose output splits into
// queries, keys and values in that order, and a c_proj Conv1D back to d_model. The split is
// three views of c_attn's output; the rest is SelfAttention's (nn/self_attention.hpp).
#pragma once
#include <tuple>

#include "ranklens/nn/conv1d.hpp"
#include "ranklens/nn/self_attention.hpp"
#include "ranklens/ops/concat.hpp"

namespace ranklens {

template <TransformerConfig C, Real T, Device D = cpu_t>
struct FusedQkvProjections {
  using dims = config_dims<C>;
  using device_type = D;
  using activations = activation_types<C, T, D>;
  static constexpr index_t d_model = dims::d_model, head_dim = dims::head_dim;

  // Sizes from `sizes` (checked by the model that passes them: checked_transformer_dims).
  template <class Generator>
  FusedQkvProjections(Generator& generator, const transformer_dims& sizes)
      : c_attn(generator, sizes.d_model, 3 * sizes.d_model, C::init_std),
        c_proj(generator, sizes.d_model, sizes.d_model, C::init_std),
        heads_{sizes.n_heads, sizes.head_dim()} {}

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("c_attn", self.c_attn);
    visit("c_proj", self.c_proj);
  }

  Conv1D<d_model, times_or_dyn(3, d_model), T, D> c_attn;
  Conv1D<d_model, d_model, T, D> c_proj;

 protected:
  std::tuple<typename activations::query_heads, typename activations::kv_heads, typename activations::kv_heads> project_qkv(
      const typename activations::residual& x) const {
    const auto [q, k, v] = split<-1, 3>(c_attn(x));
    const auto split_heads = [&](const auto& x) { return unflatten<-1, dims::n_heads, head_dim>(x, {heads_.count, heads_.head_dim}); };
    return {split_heads(q), split_heads(k), split_heads(v)};
  }
  typename activations::residual project_out(const typename activations::residual& z) const { return c_proj(z); }

 private:
  struct { index_t count, head_dim; } heads_;
};

template <TransformerConfig C, Real T = float, Device D = cpu_t>
using FusedQkvAttention = SelfAttention<C, T, FusedQkvProjections<C, T, D>>;

}  // namespace ranklens
