// The one table of a TransformerConfig's fields as files name them: ranklens' own record
// (io/transformer_config_json.hpp), and Hugging Face's config.json for the configuration's
// layout, both its writer and its reader (io/hf_config.hpp). A field is added, renamed or given
// a default here, once.
//
//   name        ranklens' name, as config_as_json records it
//   value       the model's value: an integer, a real, a flag or a name (C's own, or the run-time
//               transformer_dims given for a configuration with dyn sizes)
//   in_record   part of ranklens' record (init_std is not: it only shapes a fresh model's draw)
//   hf          transformers' name for the field in C's layout (Qwen2Config, GPT2Config), empty
//               where that class has no such field, with
//     fallback      the value transformers assumes when config.json leaves the field out:
//                   none (required), a constant, or a multiple of another field's value
//     null_when_default   written as null when C's value is the fallback (GPT-2's n_inner)
//     reading       checked against C by the reader as it stands, read by hand (the rotary theta,
//                   which transformers 5 nests in rope_parameters), or not checked (init_std)
#pragma once
#include <array>
#include <string_view>
#include <variant>

#include "ranklens/nn/transformer_config.hpp"

namespace ranklens::io {

constexpr std::string_view layout_name(checkpoint_layout layout) noexcept {
  return layout == checkpoint_layout::qwen2 ? "qwen2" : "gpt2";
}
constexpr std::string_view norm_name(norm_kind norm) noexcept {
  return norm == norm_kind::rms_norm ? "rms_norm" : norm == norm_kind::layer_norm ? "layer_norm" : "none";
}
constexpr std::string_view mlp_name(mlp_kind mlp) noexcept {
  return mlp == mlp_kind::gelu ? "gelu" : mlp == mlp_kind::swiglu ? "swiglu" : "none";
}
constexpr std::string_view positions_name(position_kind positions) noexcept {
  return positions == position_kind::rope ? "rope" : positions == position_kind::learned ? "learned" : "none";
}

using config_value = std::variant<long long, double, bool, std::string_view>;

// What transformers assumes for a field that config.json leaves out.
struct hf_fallback {
  enum class kind { required, constant, times_field };
  kind how = kind::required;
  double constant = 0;               // kind::constant
  std::string_view field{};          // kind::times_field: `factor` × this field's value in the file
  long long factor = 1;

  static constexpr hf_fallback none() { return {}; }
  static constexpr hf_fallback value(double v) { return {.how = kind::constant, .constant = v}; }
  static constexpr hf_fallback times(long long factor, std::string_view field) {
    return {.how = kind::times_field, .field = field, .factor = factor};
  }
};

enum class hf_reading { checked, by_hand, unchecked };

struct hf_field {
  std::string_view name{};  // empty: transformers' class for the layout has no such field
  hf_fallback fallback{};
  bool null_when_default = false;
  hf_reading reading = hf_reading::checked;
};

struct config_field {
  std::string_view name;
  config_value value;
  bool in_record;
  hf_field hf;
};

// Every field of a model of configuration C with sizes, θ and ε `sizes` (its dims()), in the
// order of the TransformerConfig concept.
template <TransformerConfig C>
std::array<config_field, 16> config_fields(const transformer_dims& sizes) {
  constexpr bool qwen2 = C::layout == checkpoint_layout::qwen2;
  const auto hf = [](std::string_view qwen2_name, std::string_view gpt2_name, hf_fallback qwen2_fallback = hf_fallback::none(),
                     hf_fallback gpt2_fallback = hf_fallback::none()) {
    return qwen2 ? hf_field{.name = qwen2_name, .fallback = qwen2_fallback} : hf_field{.name = gpt2_name, .fallback = gpt2_fallback};
  };
  hf_field mlp_width = hf("intermediate_size", "n_inner", hf_fallback::none(), hf_fallback::times(4, "n_embd"));
  mlp_width.null_when_default = !qwen2;
  hf_field rope_theta = hf("rope_theta", "", hf_fallback::value(10000.0));
  rope_theta.reading = hf_reading::by_hand;
  hf_field init_std = hf("initializer_range", "initializer_range");
  init_std.reading = hf_reading::unchecked;
  const auto integer = [](index_t value) { return config_value(static_cast<long long>(value)); };
  return {{
      {"layout", config_value(layout_name(C::layout)), true, {}},
      {"d_model", integer(sizes.d_model), true, hf("hidden_size", "n_embd")},
      {"n_layers", integer(sizes.n_layers), true, hf("num_hidden_layers", "n_layer")},
      {"n_heads", integer(sizes.n_heads), true, hf("num_attention_heads", "n_head")},
      {"n_kv_heads", integer(sizes.n_kv_heads), true, hf("num_key_value_heads", "", hf_fallback::times(1, "num_attention_heads"))},
      {"vocab_size", integer(sizes.vocab_size), true, hf("vocab_size", "vocab_size")},
      {"mlp_width", integer(C::mlp == mlp_kind::none ? C::mlp_width : sizes.mlp_width), true, mlp_width},
      {"max_positions", integer(sizes.max_positions), true,
       hf("max_position_embeddings", "n_positions", hf_fallback::value(32768), hf_fallback::value(1024))},
      {"norm", config_value(norm_name(C::norm)), true, {}},
      {"mlp", config_value(mlp_name(C::mlp)), true, {}},
      {"positions", config_value(positions_name(C::positions)), true, {}},
      {"tied_embeddings", config_value(bool(C::tied_embeddings)), true,
       hf("tie_word_embeddings", "tie_word_embeddings", hf_fallback::value(0), hf_fallback::value(1))},
      {"qkv_bias", config_value(bool(C::qkv_bias)), true, {}},
      {"rope_theta", config_value(sizes.rope_theta), true, rope_theta},
      {"norm_eps", config_value(sizes.norm_eps), true, hf("rms_norm_eps", "layer_norm_epsilon", hf_fallback::value(1e-6), hf_fallback::value(1e-5))},
      {"init_std", config_value(double(C::init_std)), false, init_std},
  }};
}

// The fields of a configuration whose sizes are all static: C's own values.
template <StaticTransformerConfig C>
std::array<config_field, 16> config_fields() {
  return config_fields<C>(static_transformer_dims<C>());
}

// The fields' names and transformers' defaults for any configuration, for reading a file: the
// values are C's where static and 0 where C leaves them to run time.
template <TransformerConfig C>
std::array<config_field, 16> config_field_names() {
  return config_fields<C>(dims_with_static_sizes<C>({.rope_theta = C::rope_theta, .norm_eps = C::norm_eps}));
}

// The field that transformers calls `hf_name` in C's layout; nullptr if there is none.
inline const config_field* find_hf_field(const std::array<config_field, 16>& fields, std::string_view hf_name) {
  for (const config_field& field : fields)
    if (!field.hf.name.empty() && field.hf.name == hf_name) return &field;
  return nullptr;
}

}  // namespace ranklens::io
