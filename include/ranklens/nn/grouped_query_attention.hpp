// GroupedQueryAttention<C>: causal self-attention in HF Qwen2's layout: separate q_proj,
// k_proj, v_proj (nn.Linear, with biases when C::qkv_bias) and o_proj (no bias), with
// n_kv_heads key/value heads shared by groups of query heads (n_kv_heads = n_heads is plain
// multi-head attention). The rest is SelfAttention's (nn/self_attention.hpp).
#pragma once
#include <tuple>

#include "ranklens/nn/linear.hpp"
#include "ranklens/nn/self_attention.hpp"

namespace ranklens {

template <TransformerConfig C, Real T>
struct GroupedQueryProjections {
  using dims = config_dims<C>;
  using activations = activation_types<C, T>;
  static constexpr index_t d_model = dims::d_model, head_dim = dims::head_dim;

  template <class Generator>
  explicit GroupedQueryProjections(Generator& generator)
      : q_proj(generator, {.bias = C::qkv_bias, .init_std = C::init_std}),
        k_proj(generator, {.bias = C::qkv_bias, .init_std = C::init_std}),
        v_proj(generator, {.bias = C::qkv_bias, .init_std = C::init_std}),
        o_proj(generator, {.bias = false, .init_std = C::init_std}) {}

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("q_proj", self.q_proj);
    visit("k_proj", self.k_proj);
    visit("v_proj", self.v_proj);
    visit("o_proj", self.o_proj);
  }

  Linear<d_model, dims::n_heads * head_dim, T> q_proj;
  Linear<d_model, dims::n_kv_heads * head_dim, T> k_proj;
  Linear<d_model, dims::n_kv_heads * head_dim, T> v_proj;
  Linear<dims::n_heads * head_dim, d_model, T> o_proj;

 protected:
  std::tuple<typename activations::query_heads, typename activations::kv_heads, typename activations::kv_heads> project_qkv(
      const typename activations::residual& x) const {
    return {unflatten<-1, dims::n_heads, head_dim>(q_proj(x)), unflatten<-1, dims::n_kv_heads, head_dim>(k_proj(x)),
            unflatten<-1, dims::n_kv_heads, head_dim>(v_proj(x))};
  }
  typename activations::residual project_out(const typename activations::residual& z) const { return o_proj(z); }
};

template <TransformerConfig C, Real T = float>
using GroupedQueryAttention = SelfAttention<C, T, GroupedQueryProjections<C, T>>;

}  // namespace ranklens
