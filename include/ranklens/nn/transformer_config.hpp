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
//
// Any of the eight sizes may be `dyn`: its value is then given at run time, in the
// transformer_dims the model is built from (or read from config.json by from_pretrained), and
// checked there, every problem in one error. A model of any Qwen2 shape, read from its file:
//
//   auto model = io::from_pretrained<AnyQwen2Like<>>(directory);   // widths, θ and ε from config.json
//   (AnyQwen2Like<> = Qwen2Like<dyn, dyn, dyn, dyn, dyn, dyn, true, dyn>; AnyGpt2Like, below)
//
// Static sizes keep their compile-time checks (a Linear<16, 8> fed a static 12-wide input does
// not compile); dynamic ones are checked when the module runs.
#pragma once
#include <concepts>
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

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
  // A dyn size is checked at run time (transformer_dims_errors, below), not here.
  static constexpr bool fixed(index_t size) { return size != dyn; }
  static constexpr bool positive_or_dyn(index_t size) { return size == dyn || size > 0; }
  static constexpr bool heads_fixed = fixed(C::d_model) && fixed(C::n_heads);

  static constexpr bool sizes_positive = positive_or_dyn(C::d_model) && positive_or_dyn(C::n_layers) && positive_or_dyn(C::n_heads) &&
                                         positive_or_dyn(C::n_kv_heads) && positive_or_dyn(C::vocab_size) &&
                                         positive_or_dyn(C::max_positions);
  static_assert(sizes_positive, "Transformer: d_model, n_layers, n_heads, n_kv_heads, vocab_size and max_positions must be positive (or dyn).");
  static constexpr bool heads_divide_width = !heads_fixed || C::n_heads <= 0 || C::d_model % C::n_heads == 0;
  static_assert(heads_divide_width, "Transformer: d_model must be divisible by n_heads.");
  static constexpr bool kv_heads_divide_heads =
      !fixed(C::n_heads) || !fixed(C::n_kv_heads) || C::n_kv_heads <= 0 || C::n_heads % C::n_kv_heads == 0;
  static_assert(kv_heads_divide_heads, "Transformer: n_heads must be divisible by n_kv_heads.");
  static constexpr bool rope_fits = C::positions != position_kind::rope ||
                                    (C::rope_theta > 0 && (!heads_fixed || (C::n_heads > 0 && (C::d_model / C::n_heads) % 2 == 0)));
  static_assert(rope_fits, "Transformer: rotary embeddings need an even head width (d_model / n_heads) and rope_theta > 0.");
  static constexpr bool mlp_width_ok = C::mlp == mlp_kind::none || positive_or_dyn(C::mlp_width);
  static_assert(mlp_width_ok, "Transformer: mlp_width must be positive (or dyn) unless the model is attention-only.");
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

// The product and the quotient of two sizes, dyn when either is.
constexpr index_t times_or_dyn(index_t a, index_t b) noexcept { return a == dyn || b == dyn ? dyn : a * b; }
constexpr index_t divided_or_dyn(index_t a, index_t b) noexcept { return a == dyn || b == dyn ? dyn : a / b; }

// The sizes modules are built from, as types see them (dyn where C leaves a size to run time):
// C's own when C passes every check, otherwise harmless placeholders, so that a bad
// configuration reports the one sentence of the check it failed instead of a cascade of errors
// from layers of impossible widths.
template <TransformerConfig C>
struct config_dims {
  static constexpr bool valid = config_checks<C>::ok;
  static constexpr index_t d_model = valid ? C::d_model : 2;
  static constexpr index_t n_heads = valid ? C::n_heads : 1;
  static constexpr index_t n_kv_heads = valid ? C::n_kv_heads : 1;
  static constexpr index_t head_dim = divided_or_dyn(d_model, n_heads);
  static constexpr index_t query_group_size = divided_or_dyn(n_heads, n_kv_heads);  // query heads per key/value head
  static constexpr index_t query_width = times_or_dyn(n_heads, head_dim);            // q_proj's output: d_model
  static constexpr index_t kv_width = times_or_dyn(n_kv_heads, head_dim);            // k_proj's and v_proj's
  static constexpr index_t vocab_size = valid ? C::vocab_size : 1;
  static constexpr index_t mlp_width = valid && C::mlp != mlp_kind::none ? C::mlp_width : 1;
  static constexpr index_t max_positions = valid ? C::max_positions : 1;
  static constexpr index_t n_layers = valid ? C::n_layers : 0;
  static constexpr bool has_mlp = C::mlp != mlp_kind::none;
  // Every size fixed at compile time: the model can be built from C alone.
  static constexpr bool all_static = C::d_model != dyn && C::n_layers != dyn && C::n_heads != dyn && C::n_kv_heads != dyn &&
                                     C::vocab_size != dyn && C::max_positions != dyn && (C::mlp == mlp_kind::none || C::mlp_width != dyn);
};

template <class C>
concept StaticTransformerConfig = TransformerConfig<C> && config_dims<C>::all_static;

// The run-time values of a model's sizes, rotary θ and norm ε: what every module is built from.
// For a configuration whose sizes are all static, static_transformer_dims<C>() gives C's; where
// a size is dyn, the value here is the model's (from_pretrained reads it from config.json).
struct transformer_dims {
  index_t d_model = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, mlp_width = 0, max_positions = 0;
  double rope_theta = 0, norm_eps = 0;

  index_t head_dim() const noexcept { return n_heads > 0 ? d_model / n_heads : 0; }
  index_t kv_width() const noexcept { return n_kv_heads * head_dim(); }
  friend bool operator==(const transformer_dims&, const transformer_dims&) = default;
};

// C's sizes where static and `given`'s where dyn, with θ and ε from `given`: the fields a
// configuration fixes cannot be overridden at run time (transformer_dims_errors says so).
template <TransformerConfig C>
transformer_dims dims_with_static_sizes(transformer_dims given) {
  const auto fixed = [](index_t static_size, index_t& value) {
    if (static_size != dyn) value = static_size;
  };
  fixed(C::d_model, given.d_model);
  fixed(C::n_layers, given.n_layers);
  fixed(C::n_heads, given.n_heads);
  fixed(C::n_kv_heads, given.n_kv_heads);
  fixed(C::vocab_size, given.vocab_size);
  fixed(C::max_positions, given.max_positions);
  if (C::mlp != mlp_kind::none) fixed(C::mlp_width, given.mlp_width);
  return given;
}

// A configuration's values at run time when it has no dyn size.
template <StaticTransformerConfig C>
transformer_dims static_transformer_dims() {
  return {.d_model = C::d_model, .n_layers = C::n_layers, .n_heads = C::n_heads, .n_kv_heads = C::n_kv_heads,
          .vocab_size = C::vocab_size, .mlp_width = C::mlp == mlp_kind::none ? 0 : C::mlp_width,
          .max_positions = C::max_positions, .rope_theta = C::rope_theta, .norm_eps = C::norm_eps};
}

// Everything wrong with `dims` as the values of a model of configuration C, one sentence each:
// a size that differs from C's static one, the checks config_checks makes at compile time, for
// the values known only now. Empty when the model can be built.
template <TransformerConfig C>
std::vector<std::string> transformer_dims_errors(const transformer_dims& dims) {
  std::vector<std::string> errors;
  const auto size = [&](const char* name, index_t static_size, index_t value) {
    if (static_size != dyn && value != static_size)
      errors.push_back(std::string(name) + " is " + std::to_string(value) + " but the configuration fixes it at " + std::to_string(static_size));
    else if (value <= 0)
      errors.push_back(std::string(name) + " must be positive, got " + std::to_string(value));
  };
  size("d_model", C::d_model, dims.d_model);
  size("n_layers", C::n_layers, dims.n_layers);
  size("n_heads", C::n_heads, dims.n_heads);
  size("n_kv_heads", C::n_kv_heads, dims.n_kv_heads);
  size("vocab_size", C::vocab_size, dims.vocab_size);
  if (C::mlp != mlp_kind::none) size("mlp_width", C::mlp_width, dims.mlp_width);
  size("max_positions", C::max_positions, dims.max_positions);
  if (dims.n_heads > 0 && dims.d_model % dims.n_heads != 0)
    errors.push_back("d_model " + std::to_string(dims.d_model) + " must be divisible by n_heads " + std::to_string(dims.n_heads));
  if (dims.n_kv_heads > 0 && dims.n_heads % dims.n_kv_heads != 0)
    errors.push_back("n_heads " + std::to_string(dims.n_heads) + " must be divisible by n_kv_heads " + std::to_string(dims.n_kv_heads));
  if (C::layout == checkpoint_layout::gpt2 && dims.n_kv_heads != dims.n_heads)
    errors.push_back("the GPT-2 layout needs n_kv_heads == n_heads, got " + std::to_string(dims.n_kv_heads) + " and " +
                     std::to_string(dims.n_heads));
  if (C::positions == position_kind::rope) {
    if (dims.n_heads > 0 && dims.d_model % dims.n_heads == 0 && dims.head_dim() % 2 != 0)
      errors.push_back("rotary embeddings need an even head width, got d_model / n_heads = " + std::to_string(dims.head_dim()));
    if (!(dims.rope_theta > 0)) errors.push_back("rope_theta must be positive, got " + std::to_string(dims.rope_theta));
  }
  if (!(dims.norm_eps > 0)) errors.push_back("norm_eps must be positive, got " + std::to_string(dims.norm_eps));
  return errors;
}

// How many parameters a model of configuration C with sizes `dims` has (what parameter_count
// gives once it is built), from the sizes alone: loading compares it with the weights a
// directory holds before allocating anything. A double, so that absurd sizes cannot overflow.
template <TransformerConfig C>
double transformer_parameter_count(const transformer_dims& dims) {
  const double d = double(dims.d_model), kv = double(dims.n_kv_heads * dims.head_dim()), m = double(dims.mlp_width);
  const double vocab = double(dims.vocab_size), positions = double(dims.max_positions);
  const double norm = C::norm == norm_kind::layer_norm ? 2 * d : C::norm == norm_kind::rms_norm ? d : 0;
  const double qkv_bias = C::qkv_bias ? d + 2 * kv : 0;
  const double attention = C::layout == checkpoint_layout::gpt2 ? d * 3 * d + qkv_bias + d * d + d  // c_attn, c_proj (bias)
                                                                 : d * d + 2 * kv * d + qkv_bias + d * d;  // q, k, v, o (no bias)
  const double mlp = C::mlp == mlp_kind::swiglu ? 3 * d * m : C::mlp == mlp_kind::gelu ? 2 * d * m + m + d : 0;
  const double block = norm + attention + (C::mlp == mlp_kind::none ? 0 : norm + mlp);
  const double embeddings = vocab * d + (C::positions == position_kind::learned ? positions * d : 0);
  return embeddings + double(dims.n_layers) * block + norm + (C::tied_embeddings ? 0 : vocab * d);
}

// `dims` if a model of configuration C can be built from them; otherwise shape_error naming
// `what` and every problem at once.
template <TransformerConfig C>
const transformer_dims& checked_transformer_dims(const transformer_dims& dims, std::string_view what = "Transformer") {
  const auto errors = transformer_dims_errors<C>(dims);
  if (errors.empty()) return dims;
  std::string message = std::string(what) + ": ";
  for (std::size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i];
  throw shape_error(message);
}

// A Qwen2-style decoder: RMSNorm (eps 1e-6), rotary positions (θ = 1e6, as the released Qwen2
// models), grouped-query attention with q/k/v biases and an o_proj without, a SwiGLU MLP.
// TiedEmbeddings defaults to true as in Qwen2-0.5B and -1.5B (tie_word_embeddings); the larger
// Qwen2 models untie them. MlpWidth defaults to 4·DModel; the released models use about
// 5.4·DModel (intermediate_size), so pass it explicitly to mirror one. MaxPositions is
// Qwen2's max_position_embeddings; rotary positions do not enforce it.
template <index_t DModel, index_t Layers, index_t Heads, index_t KvHeads, index_t Vocab, index_t MlpWidth = times_or_dyn(4, DModel),
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
  static constexpr index_t mlp_width = times_or_dyn(4, DModel);
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

// Every size known only at run time: a Qwen2 or a GPT-2 of any shape, for loading whatever
// directory a user brings (io::from_pretrained reads the sizes from its config.json). Whether the
// embeddings are tied stays a type's choice, not a size.
template <bool TiedEmbeddings = true>
using AnyQwen2Like = Qwen2Like<dyn, dyn, dyn, dyn, dyn, dyn, TiedEmbeddings, dyn>;
using AnyGpt2Like = Gpt2Like<dyn, dyn, dyn, dyn, dyn>;

}  // namespace ranklens
