// GroupedQueryAttention<C>: causal self-attention in HF Qwen2's layout: separate q_proj,
// k_proj, v_proj (nn.Linear, with biases when C::qkv_bias) and o_proj (no bias), with
// n_kv_heads key/value heads shared by groups of query heads (n_kv_heads = n_heads is plain
// multi-head attention). The rest is SelfAttention's (nn/self_attention.hpp).
#pragma once
#include <tuple>

#include "ranklens/nn/linear.hpp"
#include "ranklens/nn/self_attention.hpp"

namespace ranklens {

template <TransformerConfig C, Real T, Device D = cpu_t>
struct GroupedQueryProjections {
  using dims = config_dims<C>;
  using device_type = D;
  using activations = activation_types<C, T, D>;
  static constexpr index_t d_model = dims::d_model, head_dim = dims::head_dim;

  // Sizes from `sizes` (checked by the model that passes them: checked_transformer_dims).
  template <class Generator>
  GroupedQueryProjections(Generator& generator, const transformer_dims& sizes)
      : q_proj(generator, sizes.d_model, sizes.d_model, {.bias = C::qkv_bias, .init_std = C::init_std}),
        k_proj(generator, sizes.d_model, sizes.kv_width(), {.bias = C::qkv_bias, .init_std = C::init_std}),
        v_proj(generator, sizes.d_model, sizes.kv_width(), {.bias = C::qkv_bias, .init_std = C::init_std}),
        o_proj(generator, sizes.d_model, sizes.d_model, {.bias = false, .init_std = C::init_std}),
        heads_{sizes.n_heads, sizes.n_kv_heads, sizes.head_dim()} {}

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("q_proj", self.q_proj);
    visit("k_proj", self.k_proj);
    visit("v_proj", self.v_proj);
    visit("o_proj", self.o_proj);
  }

  Linear<d_model, dims::query_width, T, D> q_proj;
  Linear<d_model, dims::kv_width, T, D> k_proj;
  Linear<d_model, dims::kv_width, T, D> v_proj;
  Linear<dims::query_width, d_model, T, D> o_proj;

 protected:
  std::tuple<typename activations::query_heads, typename activations::kv_heads, typename activations::kv_heads> project_qkv(
      const typename activations::residual& x) const {
    return {unflatten<-1, dims::n_heads, head_dim>(q_proj(x), {heads_.query, heads_.head_dim}),
            unflatten<-1, dims::n_kv_heads, head_dim>(k_proj(x), {heads_.key_value, heads_.head_dim}),
            unflatten<-1, dims::n_kv_heads, head_dim>(v_proj(x), {heads_.key_value, heads_.head_dim})};
  }
  typename activations::residual project_out(const typename activations::residual& z) const { return o_proj(z); }

 private:
  struct { index_t query, key_value, head_dim; } heads_;
};

template <TransformerConfig C, Real T = float, Device D = cpu_t>
using GroupedQueryAttention = SelfAttention<C, T, GroupedQueryProjections<C, T, D>>;

}  // namespace ranklens
