// The compile-time description of a decoder-only transformer, the concept that checks its form,
// the checks of its values, and two presets (Qwen2Like, Gpt2Like).
//
// A configuration is a type with these static constexpr members:
//
//   layout           checkpoint_layout::qwen2 or ::gpt2: module kinds and Hugging Face names
//   d_model, n_layers, n_heads, n_kv_heads, vocab_size, mlp_width, max_positions   (index_t)
//   norm             norm_kind::layer_norm, ::rms_norm or ::none (identity: no norm parameters)
//   mlp              mlp_kind::gelu (GPT-2), ::swiglu (Qwen2) or ::none (attention-only)
//   positions        position_kind::rope, ::learned (GPT-2's wpe) or ::none
//   tied_embeddings  the output projection is the token embedding's weight (no lm_head)
//   qkv_bias         the query/key/value projections have biases
//   rope_theta, norm_eps, init_std   (double)
//
// head_dim = d_model / n_heads; query heads share key/value heads in groups of
// n_heads / n_kv_heads (config_dims below). Start from a preset and override what differs:
//
//   struct MyConfig : Qwen2Like<64, 2, 4, 2, 1000> { static constexpr double rope_theta = 1e4; };
#pragma once
#include <concepts>

#include "ranklens/core/config.hpp"

namespace ranklens {

// Which Hugging Face model family's module tree and parameter names the model follows.
enum class checkpoint_layout { qwen2, gpt2 };
enum class norm_kind { layer_norm, rms_norm, none };
enum class mlp_kind { gelu, swiglu, none };
enum class position_kind { rope, learned, none };

template <class C>
concept TransformerConfig = requires {
  { C::layout } -> std::convertible_to<checkpoint_layout>;
  { C::d_model } -> std::convertible_to<index_t>;
  { C::n_layers } -> std::convertible_to<index_t>;
  { C::n_heads } -> std::convertible_to<index_t>;
  { C::n_kv_heads } -> std::convertible_to<index_t>;
  { C::vocab_size } -> std::convertible_to<index_t>;
  { C::mlp_width } -> std::convertible_to<index_t>;
  { C::max_positions } -> std::convertible_to<index_t>;
  { C::norm } -> std::convertible_to<norm_kind>;
  { C::mlp } -> std::convertible_to<mlp_kind>;
  { C::positions } -> std::convertible_to<position_kind>;
  { C::tied_embeddings } -> std::convertible_to<bool>;
  { C::qkv_bias } -> std::convertible_to<bool>;
  { C::rope_theta } -> std::convertible_to<double>;
  { C::norm_eps } -> std::convertible_to<double>;
  { C::init_std } -> std::convertible_to<double>;
};

// The value checks, one sentence each. They print once per configuration, at its first use
// (every module reads its sizes through config_dims, below, which names these checks).
template <TransformerConfig C>
struct config_checks {
  static constexpr bool sizes_positive =
      C::d_model > 0 && C::n_layers > 0 && C::n_heads > 0 && C::n_kv_heads > 0 && C::vocab_size > 0 && C::max_positions > 0;
  static_assert(sizes_positive, "Transformer: d_model, n_layers, n_heads, n_kv_heads, vocab_size and max_positions must be positive.");
  static constexpr bool heads_divide_width = C::n_heads <= 0 || C::d_model % C::n_heads == 0;
  static_assert(heads_divide_width, "Transformer: d_model must be divisible by n_heads.");
  static constexpr bool kv_heads_divide_heads = C::n_kv_heads <= 0 || C::n_heads % C::n_kv_heads == 0;
  static_assert(kv_heads_divide_heads, "Transformer: n_heads must be divisible by n_kv_heads.");
  static constexpr bool rope_fits =
      C::positions != position_kind::rope || (C::n_heads > 0 && (C::d_model / C::n_heads) % 2 == 0 && C::rope_theta > 0);
  static_assert(rope_fits, "Transformer: rotary embeddings need an even head width (d_model / n_heads) and rope_theta > 0.");
  static constexpr bool mlp_width_ok = C::mlp == mlp_kind::none || C::mlp_width > 0;
  static_assert(mlp_width_ok, "Transformer: mlp_width must be positive unless the model is attention-only.");
  static constexpr bool eps_ok = C::norm_eps > 0;
  static_assert(eps_ok, "Transformer: norm_eps must be positive.");
  static constexpr bool mlp_fits_layout =
      C::mlp == mlp_kind::none || (C::layout == checkpoint_layout::gpt2) == (C::mlp == mlp_kind::gelu);
  static_assert(mlp_fits_layout, "Transformer: the GPT-2 layout has a GELU MLP (c_fc, c_proj) and the Qwen2 layout a SwiGLU MLP (gate/up/down_proj), or none.");
  static constexpr bool positions_fit_layout = C::positions != position_kind::learned || C::layout == checkpoint_layout::gpt2;
  static_assert(positions_fit_layout, "Transformer: learned positions (wpe) exist only in the GPT-2 layout.");
  static constexpr bool gpt2_attention_ok = C::layout != checkpoint_layout::gpt2 || (C::n_kv_heads == C::n_heads && C::qkv_bias);
  static_assert(gpt2_attention_ok, "Transformer: the GPT-2 layout's fused c_attn has n_kv_heads == n_heads and a bias (qkv_bias = true).");

  static constexpr bool ok = sizes_positive && heads_divide_width && kv_heads_divide_heads && rope_fits && mlp_width_ok && eps_ok &&
                             mlp_fits_layout && positions_fit_layout && gpt2_attention_ok;
};

// The sizes modules are built from: C's own when C passes every check, otherwise harmless
// placeholders, so that a bad configuration reports the one sentence of the check it failed
// instead of a cascade of errors from layers of impossible widths.
template <TransformerConfig C>
struct config_dims {
  static constexpr bool valid = config_checks<C>::ok;
  static constexpr index_t d_model = valid ? C::d_model : 2;
  static constexpr index_t n_heads = valid ? C::n_heads : 1;
  static constexpr index_t n_kv_heads = valid ? C::n_kv_heads : 1;
  static constexpr index_t head_dim = d_model / n_heads;
  static constexpr index_t query_group_size = n_heads / n_kv_heads;  // query heads per key/value head
  static constexpr index_t vocab_size = valid ? C::vocab_size : 1;
  static constexpr index_t mlp_width = valid && C::mlp != mlp_kind::none ? C::mlp_width : 1;
  static constexpr index_t max_positions = valid ? C::max_positions : 1;
  static constexpr index_t n_layers = valid ? C::n_layers : 0;
  static constexpr bool has_mlp = C::mlp != mlp_kind::none;
};

// A Qwen2-style decoder: RMSNorm (eps 1e-6), rotary positions (θ = 1e6, as the released Qwen2
// models), grouped-query attention with q/k/v biases and an o_proj without, a SwiGLU MLP.
// TiedEmbeddings defaults to true as in Qwen2-0.5B and -1.5B (tie_word_embeddings); the larger
// Qwen2 models untie them. MlpWidth defaults to 4·DModel; the released models use about
// 5.4·DModel (intermediate_size), so pass it explicitly to mirror one. MaxPositions is
// Qwen2's max_position_embeddings; rotary positions do not enforce it.
template <index_t DModel, index_t Layers, index_t Heads, index_t KvHeads, index_t Vocab, index_t MlpWidth = 4 * DModel,
          bool TiedEmbeddings = true, index_t MaxPositions = 32768>
struct Qwen2Like {
  static constexpr checkpoint_layout layout = checkpoint_layout::qwen2;
  static constexpr index_t d_model = DModel;
  static constexpr index_t n_layers = Layers;
  static constexpr index_t n_heads = Heads;
  static constexpr index_t n_kv_heads = KvHeads;
  static constexpr index_t vocab_size = Vocab;
  static constexpr index_t mlp_width = MlpWidth;
  static constexpr index_t max_positions = MaxPositions;
  static constexpr norm_kind norm = norm_kind::rms_norm;
  static constexpr mlp_kind mlp = mlp_kind::swiglu;
  static constexpr position_kind positions = position_kind::rope;
  static constexpr bool tied_embeddings = TiedEmbeddings;
  static constexpr bool qkv_bias = true;
  static constexpr double rope_theta = 1000000.0;
  static constexpr double norm_eps = 1e-6;
  static constexpr double init_std = 0.02;
};

// A GPT-2-style decoder: LayerNorm (eps 1e-5), learned absolute positions (wpe), multi-head
// attention through the fused c_attn, a 4× GELU MLP with the tanh approximation ("gelu_new"),
// and an output projection tied to wte (HF's GPT2LMHeadModel).
template <index_t DModel, index_t Layers, index_t Heads, index_t Vocab, index_t MaxPositions = 1024>
struct Gpt2Like {
  static constexpr checkpoint_layout layout = checkpoint_layout::gpt2;
  static constexpr index_t d_model = DModel;
  static constexpr index_t n_layers = Layers;
  static constexpr index_t n_heads = Heads;
  static constexpr index_t n_kv_heads = Heads;
  static constexpr index_t vocab_size = Vocab;
  static constexpr index_t mlp_width = 4 * DModel;
  static constexpr index_t max_positions = MaxPositions;
  static constexpr norm_kind norm = norm_kind::layer_norm;
  static constexpr mlp_kind mlp = mlp_kind::gelu;
  static constexpr position_kind positions = position_kind::learned;
  static constexpr bool tied_embeddings = true;
  static constexpr bool qkv_bias = true;
  static constexpr double rope_theta = 10000.0;  // unused: GPT-2 has learned positions
  static constexpr double norm_eps = 1e-5;
  static constexpr double init_std = 0.02;
};

}  // namespace ranklens
