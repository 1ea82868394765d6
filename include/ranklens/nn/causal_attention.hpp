// The part of causal self-attention that both checkpoint layouts share: from per-head queries,
// keys and values to the per-head results z, with TransformerLens's hook points on the way.
//
//   scores  = Q·Kᵀ / √head_dim, causally masked          (batch, head, query, key)
//   pattern = softmax(scores) over the keys
//   z       = pattern · V                                 (batch, position, head, head_dim)
//
// Grouped-query attention (Ainslie et al. 2023): query head h reads key/value head
// h / group_size, as HF's repeat_kv arranges. Instead of copying K and V group_size times, the
// heads are viewed as (kv head, group) and K, V are expanded along the group axis with stride 0
// (ops/expand.hpp): matmul reads the same key matrix for every query head of a group, and its
// backward, accumulating with β = 1, sums the group's key/value gradients into it.
//
// With a KV cache (nn/kv_cache.hpp) the queries are the new tokens only and the keys and values
// cover every position so far; the causal rule becomes j <= i + (number cached before).
//
// That is the path for hooks on the scores or the pattern. Without them (training, generation)
// ops/fused_causal_attention.hpp computes the same z in one op that reads q, k and v in their
// (batch, position, head, head_dim) layout and keeps neither scores nor pattern.
#pragma once
#include <cmath>
#include <limits>

#include "ranklens/nn/activation_types.hpp"
#include "ranklens/nn/hook_point.hpp"
#include "ranklens/nn/kv_cache.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/causal_softmax.hpp"
#include "ranklens/ops/expand.hpp"
#include "ranklens/ops/fused_causal_attention.hpp"
#include "ranklens/ops/masking.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/rope.hpp"
#include "ranklens/ops/softmax.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

// The hook points inside attention, under TransformerLens's names (blocks.{L}.attn.hook_*).
template <TransformerConfig C, Real T, Device D = cpu_t>
struct AttentionHookPoints {
  using activations = activation_types<C, T, D>;
  HookPoint<typename activations::query_heads> hook_q;         // before the rotary embedding
  HookPoint<typename activations::kv_heads> hook_k;            // before the rotary embedding, per kv head
  HookPoint<typename activations::kv_heads> hook_v;
  HookPoint<typename activations::pattern> hook_attn_scores;   // scaled and masked, before softmax
  HookPoint<typename activations::pattern> hook_pattern;       // after softmax
  HookPoint<typename activations::query_heads> hook_z;         // pattern · V, before the output projection

  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    visit("hook_q", self.hook_q);
    visit("hook_k", self.hook_k);
    visit("hook_v", self.hook_v);
    visit("hook_attn_scores", self.hook_attn_scores);
    visit("hook_pattern", self.hook_pattern);
    visit("hook_z", self.hook_z);
  }
};

namespace detail {

// The attention proper, for rotated queries (B, Tq, n_heads, head_dim) over rotated keys and
// values (B, Tk, n_kv_heads, head_dim) whose last Tq positions are the queries' own: query i
// sees keys j <= i + (Tk − Tq).
template <TransformerConfig C, Real T, Device D>
typename activation_types<C, T, D>::query_heads attend(const typename activation_types<C, T, D>::query_heads& q,
                                                    const typename activation_types<C, T, D>::kv_heads& k,
                                                    const typename activation_types<C, T, D>::kv_heads& v,
                                                    const AttentionHookPoints<C, T, D>& hooks) {
  using dims = config_dims<C>;
  // The sizes as the types know them (dyn where C leaves them to run time) and their values.
  constexpr index_t static_kv_heads = dims::n_kv_heads, static_group = dims::query_group_size;
  const index_t kv_heads = k.extent(2), group = q.extent(2) / kv_heads;
  const T scale = T(1 / std::sqrt(double(q.extent(3))));
  // Nobody looks at the scores or the pattern: one fused op that never stores them.
  if (hooks.hook_attn_scores.empty() && hooks.hook_pattern.empty()) return hooks.hook_z(fused_causal_attention(q, k, v, scale));

  // A hook reads or replaces the scores or the pattern, so they are materialised.
  // Heads first, then query head h = kv·group + g: (B, kv_heads, group, T, head_dim).
  const auto split_groups = [&](const auto& heads_first) { return unflatten<1, static_kv_heads, static_group>(heads_first, {kv_heads, group}); };
  const auto shared = [&](const auto& kv) {
    const auto heads_first = unsqueeze<2>(permute<0, 2, 1, 3>(kv));
    if constexpr (static_group == dyn)
      return expand<2>(heads_first, group);
    else
      return expand<2, static_group>(heads_first);
  };
  const auto grouped_q = split_groups(permute<0, 2, 1, 3>(q));
  const auto shared_k = shared(k);
  const auto shared_v = shared(v);

  auto raw_scores = matmul(grouped_q, transpose(shared_k));  // (B, kv_heads, group, Tq, Tk)
  // Without a cache and without a hook on the scores, scale, mask and softmax run as one fused
  // pass; the unfused path gives hook_attn_scores its (scaled, masked) scores.
  auto attention_pattern = [&] {
    if (hooks.hook_attn_scores.empty() && k.extent(1) == q.extent(1)) return causal_softmax(flatten<1, 2>(raw_scores), scale);
    auto scores = causal_mask_fill(raw_scores * scale, -std::numeric_limits<T>::infinity(), k.extent(1) - q.extent(1));
    return softmax(hooks.hook_attn_scores(flatten<1, 2>(scores)));  // (B, n_heads, Tq, Tk)
  };
  const auto pattern = hooks.hook_pattern(attention_pattern());
  const auto z = matmul(split_groups(pattern), shared_v);  // (B, kv_heads, group, Tq, head_dim)
  return hooks.hook_z(permute<0, 2, 1, 3>(flatten<1, 2>(z)));
}

// hook_q, hook_k, hook_v, then the rotary embedding with base `rope_theta` from
// `first_position` (RoPE models only).
template <TransformerConfig C, Real T, Device D>
void hook_and_rotate(typename activation_types<C, T, D>::query_heads& q, typename activation_types<C, T, D>::kv_heads& k,
                     typename activation_types<C, T, D>::kv_heads& v, const AttentionHookPoints<C, T, D>& hooks, double rope_theta,
                     index_t first_position) {
  q = hooks.hook_q(q);
  k = hooks.hook_k(k);
  v = hooks.hook_v(v);
  if constexpr (C::positions == position_kind::rope) {
    q = rotary_embedding<1>(q, rope_theta, first_position);
    k = rotary_embedding<1>(k, rope_theta, first_position);
  }
}

}  // namespace detail

// q: (B, T, n_heads, head_dim); k, v: (B, T, n_kv_heads, head_dim) → z: (B, T, n_heads, head_dim).
// position_offset is the position of the first token; rope_theta the rotary base (rotary
// positions only: the model's transformer_dims::rope_theta).
template <TransformerConfig C, Real T, Device D>
typename activation_types<C, T, D>::query_heads causal_attention(typename activation_types<C, T, D>::query_heads q,
                                                              typename activation_types<C, T, D>::kv_heads k,
                                                              typename activation_types<C, T, D>::kv_heads v,
                                                              const AttentionHookPoints<C, T, D>& hooks, double rope_theta,
                                                              index_t position_offset = 0) {
  detail::hook_and_rotate<C, T, D>(q, k, v, hooks, rope_theta, position_offset);
  return detail::attend<C, T, D>(q, k, v, hooks);
}

// The same for new tokens that continue the sequence held in `cache`: they sit at positions
// cache.cached() onwards, their keys and values are appended to the cache, and they attend to
// every cached position before them. The hooks on q, k and v see the new positions only; the
// scores and pattern are (B, n_heads, T_new, cached + T_new).
template <TransformerConfig C, Real T, Device D>
typename activation_types<C, T, D>::query_heads causal_attention(typename activation_types<C, T, D>::query_heads q,
                                                              typename activation_types<C, T, D>::kv_heads k,
                                                              typename activation_types<C, T, D>::kv_heads v,
                                                              const AttentionHookPoints<C, T, D>& hooks, double rope_theta,
                                                              const KvCacheLayer<C, T, D>& cache) {
  detail::hook_and_rotate<C, T, D>(q, k, v, hooks, rope_theta, cache.cached());
  const auto [keys, values] = cache.append(k, v);
  return detail::attend<C, T, D>(q, keys, values, hooks);
}

}  // namespace ranklens
