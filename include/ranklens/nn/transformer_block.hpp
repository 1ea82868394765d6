// TransformerBlock<C>: one pre-norm residual block (GPT-2, Qwen2):
//   mid = x + attention(attention_norm(x))
//   out = mid + mlp(mlp_norm(mid))
// or, for an attention-only configuration (C::mlp == mlp_kind::none), out = mid: no MLP and
// no second norm. The kinds of norm, attention and MLP follow from C, and each fulfils its
// contract (Norm, CausalSelfAttention, Mlp of nn/contracts.hpp); the parameter names are HF's
// for C's layout, the hook points TransformerLens's (blocks.{L}.hook_resid_pre, ...).
#pragma once
#include <type_traits>

#include "ranklens/nn/contracts.hpp"
#include "ranklens/nn/fused_qkv_attention.hpp"
#include "ranklens/nn/gelu_mlp.hpp"
#include "ranklens/nn/grouped_query_attention.hpp"
#include "ranklens/nn/hf_names.hpp"
#include "ranklens/nn/layer_norm.hpp"
#include "ranklens/nn/no_norm.hpp"
#include "ranklens/nn/rms_norm.hpp"
#include "ranklens/nn/swiglu_mlp.hpp"

namespace ranklens {

// The norm a configuration asks for, over d_model, on device D.
template <TransformerConfig C, Real T, Device D = cpu_t>
using norm_type_for =
    std::conditional_t<C::norm == norm_kind::rms_norm, RMSNorm<config_dims<C>::d_model, T, D>,
                       std::conditional_t<C::norm == norm_kind::layer_norm, LayerNorm<config_dims<C>::d_model, T, D>,
                                          NoNorm<config_dims<C>::d_model, T, D>>>;

template <TransformerConfig C, Real T = float, Device D = cpu_t>
class TransformerBlock {
  using dims = config_dims<C>;
  using names = hf_names<C::layout>;
  static constexpr bool has_mlp = dims::has_mlp;

 public:
  using value_type = T;
  using device_type = D;
  using activations = activation_types<C, T, D>;
  using residual = typename activations::residual;
  using norm_type = norm_type_for<C, T, D>;
  using attention_type =
      std::conditional_t<C::layout == checkpoint_layout::qwen2, GroupedQueryAttention<C, T, D>, FusedQkvAttention<C, T, D>>;
  using mlp_type = std::conditional_t<!has_mlp, Absent,
                                      std::conditional_t<C::mlp == mlp_kind::swiglu, SwiGluMlp<C, T, D>, GeluMlp<C, T, D>>>;
  using mlp_norm_type = std::conditional_t<has_mlp, norm_type, Absent>;
  using mlp_hook_type = std::conditional_t<has_mlp, HookPoint<residual>, Absent>;

  // The parts against their contracts (nn/contracts.hpp).
  static_assert(Norm<norm_type> && norm_type::width == dims::d_model,
                "TransformerBlock: the norm must fulfil the Norm contract over d_model.");
  static_assert(CausalSelfAttention<attention_type, C, T>,
                "TransformerBlock: the attention must fulfil the CausalSelfAttention contract for the block's configuration.");
  static_assert(!has_mlp || Mlp<mlp_type, T, dims::d_model>, "TransformerBlock: the MLP must fulfil the Mlp contract over d_model.");

  // Draws the attention's weights, then the MLP's, from rng.
  // Sizes, θ and ε from `sizes` (checked by the model that passes them: checked_transformer_dims).
  // C's sizes, for a configuration without dyn ones.
  template <class Generator>
    requires StaticTransformerConfig<C>
  explicit TransformerBlock(Generator& generator) : TransformerBlock(generator, static_transformer_dims<C>()) {}
  template <class Generator>
  TransformerBlock(Generator& rng, const transformer_dims& sizes)
      : attention_norm(sizes.d_model, sizes.norm_eps),
        attention(rng, sizes),
        mlp_norm(sizes.d_model, sizes.norm_eps),
        mlp(rng, sizes) {}

  // x: (B, T, d_model) → (B, T, d_model). position_offset: the position of the first token.
  residual operator()(const residual& x, index_t position_offset = 0) const { return forward(x, position_offset); }
  // x holds new tokens continuing the sequence whose keys and values `cache` holds (nn/kv_cache.hpp).
  residual operator()(const residual& x, const KvCacheLayer<C, T, D>& cache) const { return forward(x, cache); }

  // In the order HF's decoder layer registers its modules.
  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    if constexpr (!names::norms_listed_last) visit(names::attention_norm, self.attention_norm);
    visit(names::attention, self.attention);
    if constexpr (!names::norms_listed_last) visit(names::mlp_norm, self.mlp_norm);
    visit(names::mlp, self.mlp);
    if constexpr (names::norms_listed_last) {
      visit(names::attention_norm, self.attention_norm);
      visit(names::mlp_norm, self.mlp_norm);
    }
  }

  // In forward order.
  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    visit("hook_resid_pre", self.hook_resid_pre);
    visit("attn", self.attention);
    visit("hook_attn_out", self.hook_attn_out);
    visit("hook_resid_mid", self.hook_resid_mid);
    visit("mlp", self.mlp);
    visit("hook_mlp_out", self.hook_mlp_out);
    visit("hook_resid_post", self.hook_resid_post);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  norm_type attention_norm;
  attention_type attention;
  [[no_unique_address]] mlp_norm_type mlp_norm;
  [[no_unique_address]] mlp_type mlp;

  HookPoint<residual> hook_resid_pre;   // the block's input
  HookPoint<residual> hook_attn_out;    // attention's output, before it joins the residual stream
  [[no_unique_address]] mlp_hook_type hook_resid_mid;  // after the attention's residual add
  [[no_unique_address]] mlp_hook_type hook_mlp_out;    // the MLP's output
  HookPoint<residual> hook_resid_post;  // the block's output

 private:
  // positions_or_cache: the first token's position (index_t) or this layer's KvCacheLayer.
  template <class PositionsOrCache>
  residual forward(const residual& x, const PositionsOrCache& positions_or_cache) const {
    const residual resid_pre = hook_resid_pre(x);
    const residual attn_out = hook_attn_out(attention(attention_norm(resid_pre), positions_or_cache));
    if constexpr (has_mlp) {
      const residual resid_mid = hook_resid_mid(resid_pre + attn_out);
      const residual mlp_out = hook_mlp_out(mlp(mlp_norm(resid_mid)));
      return hook_resid_post(resid_mid + mlp_out);
    } else {
      return hook_resid_post(resid_pre + attn_out);
    }
  }
};

}  // namespace ranklens
