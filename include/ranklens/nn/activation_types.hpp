// The activations of a transformer with configuration C, as the Var types that flow through its
// forward pass and its hook points. Batch and position extents are dynamic; widths are static.
// Head-split activations use TransformerLens's (batch, position, head, head_dim) order. All live on D.
#pragma once
#include "ranklens/autograd/var.hpp"
#include "ranklens/nn/transformer_config.hpp"

namespace ranklens {

template <TransformerConfig C, Real T, Device D = cpu_t>
struct activation_types {
  using dims = config_dims<C>;
  // (batch, position, d_model): embeddings, the residual stream, attention and MLP outputs.
  using residual = Var<T, Shape<dyn, dyn, dims::d_model>, D>;
  // (batch, position, head, head_dim): queries and the per-head attention results (z).
  using query_heads = Var<T, Shape<dyn, dyn, dims::n_heads, dims::head_dim>, D>;
  // (batch, position, kv head, head_dim): keys and values, before the groups share them.
  using kv_heads = Var<T, Shape<dyn, dyn, dims::n_kv_heads, dims::head_dim>, D>;
  // (batch, head, query position, key position): attention scores and pattern.
  using pattern = Var<T, Shape<dyn, dims::n_heads, dyn, dyn>, D>;
  // (batch, position, mlp_width): the MLP's hidden activations.
  using mlp_hidden = Var<T, Shape<dyn, dyn, dims::mlp_width>, D>;
  // (batch, position, vocab_size).
  using logits = Var<T, Shape<dyn, dyn, dims::vocab_size>, D>;
};

}  // namespace ranklens
