// Transformer<C, T, D>: a decoder-only language model: token embedding (plus learned positions
// for C::positions == learned), C::n_layers pre-norm blocks, a final norm and an output
// projection to vocabulary logits, tied to the token embedding or a separate lm_head. Its
// parameters and activations live on device D (cpu_t unless named; Transformer<Config, float,
// cuda_t> in a CUDA translation unit trains on the GPU with AdamW<cuda_t>). Token ids are host
// memory on every device.
//
//   using Config = Qwen2Like<64, 2, 4, 2, 1000>;   // d_model, layers, heads, kv heads, vocab
//   std::mt19937 rng(0);
//   Transformer<Config> model(rng);                 // float; Transformer<Config, double> for float64
//   auto step = tape();
//   auto logits = model(tokens);                    // tokens: (batch, seq) int32 → (batch, seq, 1000)
//   backward(cross_entropy(logits, targets));
//   AdamW optimizer(parameters(model));             // names are HF's: "model.layers.0.mlp.up_proj.weight"
//
// A configuration with dyn sizes takes their values at run time, checked all at once:
//
//   using AnyQwen2 = Qwen2Like<dyn, dyn, dyn, dyn, dyn, dyn>;
//   Transformer<AnyQwen2> model(rng, {.d_model = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 1000,
//                                     .mlp_width = 256, .max_positions = 32768, .rope_theta = 1e6, .norm_eps = 1e-6});
//
// Generation reads the prompt once and then one token per step through a KvCache
// (nn/kv_cache.hpp, nn/generate.hpp): model(new_tokens, cache).
//
// Parameters are walked by for_each_parameter / named_parameters / parameters (nn/module.hpp)
// under Hugging Face names for C's layout; hook points by add_hook under TransformerLens names
// (nn/hooks.hpp). Weights start as HF initialises them (nn/initialization.hpp), drawn from the
// generator passed in.
#pragma once
#include <cstdint>
#include <vector>

#include "ranklens/nn/embedding.hpp"
#include "ranklens/nn/hooks.hpp"
#include "ranklens/nn/kv_cache.hpp"
#include "ranklens/nn/learned_positions.hpp"
#include "ranklens/nn/transformer_block.hpp"

namespace ranklens {

template <TransformerConfig C, Real T = float, Device D = cpu_t>
class Transformer {
  using static_sizes = config_dims<C>;  // dyn where C leaves a size to run time
  using names = hf_names<C::layout>;
  static constexpr bool learned_positions = C::positions == position_kind::learned;
  transformer_dims dims_;  // first: the modules below are built from it

 public:
  using config = C;
  using value_type = T;
  using device_type = D;
  using activations = activation_types<C, T, D>;
  // The activation types hooks receive, by hook point:
  using residual_activation = typename activations::residual;  // hook_embed, hook_pos_embed, hook_resid_*, hook_*_out, ln_final.hook_normalized
  using head_activation = typename activations::query_heads;   // attn.hook_q, attn.hook_z
  using kv_activation = typename activations::kv_heads;        // attn.hook_k, attn.hook_v
  using pattern_activation = typename activations::pattern;    // attn.hook_attn_scores, attn.hook_pattern
  using mlp_activation = typename activations::mlp_hidden;     // mlp.hook_pre, mlp.hook_pre_linear, mlp.hook_post
  using logits_type = typename activations::logits;

  using block_type = TransformerBlock<C, T, D>;
  using norm_type = norm_type_for<C, T, D>;
  using token_embedding_type = Embedding<static_sizes::vocab_size, static_sizes::d_model, T, D>;
  using position_embedding_type =
      std::conditional_t<learned_positions, LearnedPositions<static_sizes::max_positions, static_sizes::d_model, T, D>, Absent>;
  using lm_head_type = std::conditional_t<C::tied_embeddings, Absent, Linear<static_sizes::d_model, static_sizes::vocab_size, T, D>>;
  using position_hook_type = std::conditional_t<learned_positions, HookPoint<residual_activation>, Absent>;

  // The parts against their contracts (nn/contracts.hpp); the blocks check their own.
  static_assert(Norm<norm_type> && norm_type::width == static_sizes::d_model, "Transformer: the final norm must fulfil the Norm contract over d_model.");
  static_assert(C::tied_embeddings || AffineLayer<lm_head_type>, "Transformer: the lm_head must be an AffineLayer from d_model to vocab_size.");

  // Draws every weight from rng in HF's registration order (embeddings, blocks, lm_head) and
  // names every parameter by its full HF path. C's sizes, θ and ε.
  template <class Generator>
    requires StaticTransformerConfig<C>
  explicit Transformer(Generator& rng) : Transformer(rng, static_transformer_dims<C>()) {}

  // The same with the sizes, θ and ε of `sizes`: where C fixes a size, `sizes` must agree; where
  // C leaves it dyn, this is its value. Throws shape_error naming every problem at once.
  template <class Generator>
  Transformer(Generator& rng, const transformer_dims& sizes)
      : dims_(checked_transformer_dims<C>(sizes)),
        token_embedding(rng, dims_.vocab_size, dims_.d_model, C::init_std),
        position_embedding(rng, dims_.max_positions, dims_.d_model, C::init_std),
        blocks(make_blocks(rng, dims_)),
        final_norm(dims_.d_model, dims_.norm_eps),
        lm_head(rng, dims_.d_model, dims_.vocab_size, LinearOptions{.bias = false, .init_std = C::init_std}) {
    name_parameters(*this);
  }

  // The model's sizes, rotary θ and norm ε at run time (C's where static).
  const transformer_dims& dims() const noexcept { return dims_; }

  // tokens: (batch, seq) int32 ids in [0, vocab_size) → logits (batch, seq, vocab_size).
  // position_offset is the position of the first token (0 unless continuing a sequence).
  logits_type operator()(TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> tokens, index_t position_offset = 0) const {
    residual_activation h = embed(tokens, position_offset);
    for (const auto& block : blocks) h = block(h, position_offset);
    return unembed(h);
  }
  logits_type forward(TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> tokens, index_t position_offset = 0) const {
    return (*this)(tokens, position_offset);
  }
  // The same with the tokens already in D's memory (D not the CPU): a training step whose batch
  // is copied into fixed device buffers can be captured into a CUDA graph (cuda/graph.hpp).
  logits_type operator()(TensorView<const std::int32_t, Shape<dyn, dyn>, D> tokens, index_t position_offset = 0) const
    requires(!std::same_as<D, cpu_t>)
  {
    residual_activation h = embed(tokens, position_offset);
    for (const auto& block : blocks) h = block(h, position_offset);
    return unembed(h);
  }

  // tokens: (batch, new) ids that continue the sequences held in `cache` (nn/kv_cache.hpp): they
  // sit at positions cache.length() onwards, attend to every cached position, and are appended
  // to the cache. Gives the logits of the new positions only, the same as the last `new` rows
  // of a forward over the whole sequence.
  logits_type operator()(TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> tokens, KvCache<C, T, D>& cache) const {
    cache.check_fits(tokens.extent(0), tokens.extent(1));
    residual_activation h = embed(tokens, cache.length());
    for (std::size_t l = 0; l < blocks.size(); ++l) h = blocks[l](h, cache.layer(index_t(l)));
    cache.advance(tokens.extent(1));
    return unembed(h);
  }
  logits_type forward(TensorView<const std::int32_t, Shape<dyn, dyn>, cpu_t> tokens, KvCache<C, T, D>& cache) const {
    return (*this)(tokens, cache);
  }

  // Hooks by TransformerLens name (see nn/hooks.hpp); hook_names() lists every point.
  template <class F>
  void add_hook(std::string_view name, F&& hook) {
    ranklens::add_hook(*this, name, std::forward<F>(hook));
  }
  void reset_hooks() { ranklens::reset_hooks(*this); }
  std::vector<std::string> hook_names() const { return ranklens::hook_names(*this); }

  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  // HF's names and registration order; lm_head only when untied (a tied model saves none).
  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit(names::token_embedding, self.token_embedding);
    visit(names::position_embedding, self.position_embedding);
    visit(names::blocks, self.blocks);
    visit(names::final_norm, self.final_norm);
    visit(names::lm_head, self.lm_head);
  }

  template <class Self, class Visit>
  static void visit_hook_points(Self& self, Visit&& visit) {
    visit("hook_embed", self.hook_embed);
    visit("hook_pos_embed", self.hook_pos_embed);
    visit("blocks", self.blocks);
    visit("ln_final.hook_normalized", self.hook_final_normalized);
  }

  token_embedding_type token_embedding;
  [[no_unique_address]] position_embedding_type position_embedding;
  std::vector<block_type> blocks;
  norm_type final_norm;
  [[no_unique_address]] lm_head_type lm_head;

  HookPoint<residual_activation> hook_embed;                   // token embeddings
  [[no_unique_address]] position_hook_type hook_pos_embed;     // learned position embeddings, (batch, seq, d_model)
  HookPoint<residual_activation> hook_final_normalized;        // ln_final.hook_normalized: the final norm's output

 private:
  // Token embeddings, plus learned position rows from `first_position` when C has them.
  template <Device TokenDevice>
  residual_activation embed(TensorView<const std::int32_t, Shape<dyn, dyn>, TokenDevice> tokens, index_t first_position) const {
    residual_activation h = hook_embed(token_embedding(tokens));
    if constexpr (learned_positions) {
      // One (seq, d_model) slice of the table, seen once per sequence of the batch.
      const auto table_rows = position_embedding(tokens.extent(1), first_position);
      const residual_activation positions = hook_pos_embed(expand<0>(unsqueeze<0>(table_rows), tokens.extent(0)));
      h = h + positions;
    }
    return h;
  }

  // The final norm and the output projection: the residual stream to logits.
  logits_type unembed(const residual_activation& h) const {
    const residual_activation normalized = hook_final_normalized(final_norm(h));
    if constexpr (C::tied_embeddings)
      return matmul(normalized, transpose(token_embedding.weight.var()));
    else
      return lm_head(normalized);
  }

  template <class Generator>
  static std::vector<block_type> make_blocks(Generator& rng, const transformer_dims& sizes) {
    std::vector<block_type> out;
    out.reserve(std::size_t(sizes.n_layers));
    for (index_t i = 0; i < sizes.n_layers; ++i) out.emplace_back(rng, sizes);
    return out;
  }
};

}  // namespace ranklens
