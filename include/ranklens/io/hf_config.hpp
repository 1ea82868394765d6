// Hugging Face's config.json for a Transformer<C>: writing it (Qwen2ForCausalLM or
// GPT2LMHeadModel, with the field names of transformers' Qwen2Config and GPT2Config) and
// checking a file against the compiled configuration C.
//
// A file may omit a field that has a default in transformers (num_key_value_heads, rope theta,
// n_inner, tie_word_embeddings, the epsilons, ...); the check then uses transformers' default,
// so a config.json means here what it means to transformers. Fields that only matter to
// training or generation in transformers (dropout rates, token ids, use_cache) are not checked.
// Floating-point fields (epsilons, rope theta) match within a relative 1e-6, because some hub
// configs hold float32 values printed in full (9.999999974752427e-07 for 1e-6).
#pragma once
#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "ranklens/core/dtype.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/io/config_fields.hpp"
#include "ranklens/nn/transformer_config.hpp"

namespace ranklens::io {

// What transformers' model class for C's layout can hold: Qwen2 is RMSNorm, rotary positions,
// a SwiGLU MLP and q/k/v biases; GPT-2 is LayerNorm, learned positions and a GELU MLP.
template <TransformerConfig C>
struct hf_expressible {
  static constexpr bool qwen2 = C::layout == checkpoint_layout::qwen2;
  static constexpr bool norm = C::norm == (qwen2 ? norm_kind::rms_norm : norm_kind::layer_norm);
  static constexpr bool mlp = C::mlp == (qwen2 ? mlp_kind::swiglu : mlp_kind::gelu);
  static constexpr bool positions = C::positions == (qwen2 ? position_kind::rope : position_kind::learned);
  static constexpr bool qkv_bias = C::qkv_bias;

  static constexpr bool check() {
    static_assert(norm, "Hugging Face files: this configuration's norm is not its layout's (Qwen2 uses RMSNorm, GPT-2 LayerNorm), so transformers has no model class for it.");
    static_assert(mlp, "Hugging Face files: this configuration's MLP is not its layout's (Qwen2 has SwiGLU, GPT-2 GELU; an attention-only model has no transformers class).");
    static_assert(positions, "Hugging Face files: this configuration's positions are not its layout's (Qwen2 has rotary positions, GPT-2 learned ones).");
    static_assert(qkv_bias, "Hugging Face files: transformers' Qwen2 and GPT-2 always have q/k/v biases; this configuration has none.");
    return norm && mlp && positions && qkv_bias;
  }
};

// transformers' name for a stored dtype ("float32"), as config.json's torch_dtype / dtype.
constexpr std::string_view torch_dtype_name(dtype stored) noexcept {
  switch (stored) {
    case dtype::f16: return "float16";
    case dtype::bf16: return "bfloat16";
    case dtype::f64: return "float64";
    default: return "float32";
  }
}

namespace hf_config_detail {

// A fallback's value given the values of the other fields (C's, or a file's, as `value_of` says).
template <class ValueOf>
double fallback_value(const hf_fallback& fallback, ValueOf&& value_of) {
  if (fallback.how == hf_fallback::kind::times_field) return double(fallback.factor) * value_of(fallback.field);
  return fallback.constant;
}

// A fallback's value for C itself: what transformers would assume for C if the field were left out.
inline double fallback_of(const std::array<config_field, 16>& fields, const hf_fallback& fallback) {
  return fallback_value(fallback, [&](std::string_view hf_name) { return double(std::get<long long>(find_hf_field(fields, hf_name)->value)); });
}

}  // namespace hf_config_detail

// config.json for a model of configuration C whose weights are stored as `stored`. Keys come
// out sorted, as transformers writes them. Both spellings of the dtype field and of the rope
// theta are written, so that transformers 4 (torch_dtype, rope_theta) and 5 (dtype,
// rope_parameters) read the same model.
// `sizes` are the model's (its dims()); the overload without them is for a configuration whose
// sizes are all static.
template <TransformerConfig C>
nlohmann::json hf_config_json(const transformer_dims& sizes, dtype stored = dtype::f32) {
  static_assert(hf_expressible<C>::check());
  nlohmann::json config;
  // The fields of the table (io/config_fields.hpp), then what the layout's class fixes.
  const auto fields = config_fields<C>(sizes);
  for (const config_field& field : fields) {
    if (field.hf.name.empty()) continue;
    nlohmann::json& entry = config[std::string(field.hf.name)];
    std::visit([&](auto value) { entry = value; }, field.value);
    if (field.hf.null_when_default && hf_config_detail::fallback_of(fields, field.hf.fallback) == std::get<long long>(field.value))
      entry = nullptr;  // null is transformers' spelling of the default
  }
  config["torch_dtype"] = torch_dtype_name(stored);
  config["dtype"] = torch_dtype_name(stored);
  config["use_cache"] = true;
  if constexpr (C::layout == checkpoint_layout::qwen2) {
    config["architectures"] = {"Qwen2ForCausalLM"};
    config["model_type"] = "qwen2";
    config["rope_parameters"] = {{"rope_theta", sizes.rope_theta}, {"rope_type", "default"}};
    config["hidden_act"] = "silu";
    config["use_sliding_window"] = false;
    config["sliding_window"] = nullptr;
    config["attention_dropout"] = 0.0;
  } else {
    config["architectures"] = {"GPT2LMHeadModel"};
    config["model_type"] = "gpt2";
    config["activation_function"] = "gelu_new";
    config["scale_attn_weights"] = true;
    config["scale_attn_by_inverse_layer_idx"] = false;
    config["reorder_and_upcast_attn"] = false;
    // ranklens' GPT-2 has no dropout; transformers' defaults (0.1) would make training there
    // differ from training here.
    config["attn_pdrop"] = 0.0;
    config["embd_pdrop"] = 0.0;
    config["resid_pdrop"] = 0.0;
    // transformers' defaults (50256) lie outside a small vocabulary and make it warn.
    config["bos_token_id"] = nullptr;
    config["eos_token_id"] = nullptr;
  }
  return config;
}
template <StaticTransformerConfig C>
nlohmann::json hf_config_json(dtype stored = dtype::f32) {
  return hf_config_json<C>(static_transformer_dims<C>(), stored);
}

namespace hf_config_detail {

inline std::string number_text(double value) {
  char text[32];
  // Shortest text that reads back as the value, in %g style: 10000 rather than 1e+04.
  const auto end = std::to_chars(text, text + sizeof text, value, std::chars_format::general).ptr;
  return std::string(text, end);
}

// Reads fields of one config.json with transformers' defaults, and records every field whose
// value differs from the compiled one, in the order they are checked.
class field_checker {
 public:
  field_checker(const nlohmann::json& config, std::string source) : config_(config), source_(std::move(source)) {
    if (!config_.is_object()) malformed("is not a JSON object");
  }

  const std::optional<std::string>& mismatch() const noexcept { return mismatch_; }

  // Present and not null.
  const nlohmann::json* find(std::string_view field) const {
    const auto found = config_.find(field);
    return found == config_.end() || found->is_null() ? nullptr : &*found;
  }

  void integer(std::string_view field, long long expected, std::optional<long long> fallback = std::nullopt) {
    const long long found = integer_value(field, fallback);
    if (found != expected) differ(field, std::to_string(found), std::to_string(expected));
  }

  long long integer_value(std::string_view field, std::optional<long long> fallback = std::nullopt) const {
    const nlohmann::json* value = find(field);
    if (value == nullptr) {
      if (!fallback) malformed("has no '" + std::string(field) + "'");
      return *fallback;
    }
    if (!value->is_number_integer()) malformed("'" + std::string(field) + "' is " + value->dump() + ", not an integer");
    return value->get<long long>();
  }

  void real_value(std::string_view field, double found, double expected) {
    if (!(std::abs(found - expected) <= 1e-6 * std::abs(expected))) differ(field, number_text(found), number_text(expected));
  }

  double real_of(std::string_view field, const nlohmann::json* value, double fallback) const {
    if (value == nullptr) return fallback;
    if (!value->is_number()) malformed("'" + std::string(field) + "' is " + value->dump() + ", not a number");
    return value->get<double>();
  }

  void boolean(std::string_view field, bool expected, bool fallback) {
    const bool found = boolean_value(field, fallback);
    if (found != expected) differ(field, found ? "true" : "false", expected ? "true" : "false");
  }

  bool boolean_value(std::string_view field, bool fallback) const {
    const nlohmann::json* value = find(field);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) malformed("'" + std::string(field) + "' is " + value->dump() + ", not true or false");
    return value->get<bool>();
  }

  // Records a difference between a value read from the file and the compiled one.
  void compare(std::string_view field, const config_value& found, const config_value& expected) {
    if (const double* real = std::get_if<double>(&found)) return real_value(field, *real, std::get<double>(expected));
    if (found == expected) return;
    const auto text = [](const config_value& v) {
      if (const long long* integer = std::get_if<long long>(&v)) return std::to_string(*integer);
      if (const bool* flag = std::get_if<bool>(&v)) return std::string(*flag ? "true" : "false");
      return "\"" + std::string(std::get<std::string_view>(v)) + "\"";
    };
    differ(field, text(found), text(expected));
  }

  // The field must be one of `accepted` (the first is what ranklens computes); `fallback` is
  // transformers' default.
  void text(std::string_view field, std::initializer_list<std::string_view> accepted, std::optional<std::string_view> fallback) {
    const nlohmann::json* value = find(field);
    std::string found;
    if (value == nullptr) {
      if (!fallback) malformed("has no '" + std::string(field) + "'");
      found = *fallback;
    } else {
      if (!value->is_string()) malformed("'" + std::string(field) + "' is " + value->dump() + ", not a string");
      found = value->get<std::string>();
    }
    for (const std::string_view ok : accepted)
      if (found == ok) return;
    differ(field, "\"" + found + "\"", "\"" + std::string(*accepted.begin()) + "\"");
  }

  // A difference that is not one of the compiled sizes: `what` says what ranklens supports.
  void unsupported(std::string_view field, const std::string& detail) { add(std::string(field) + " is " + detail); }

  [[noreturn]] void malformed(const std::string& detail) const { throw io_error(source_ + " " + detail); }

 private:
  void differ(std::string_view field, const std::string& found, const std::string& expected) {
    add(std::string(field) + " is " + found + ", but the compiled configuration has " + expected);
  }
  void add(const std::string& difference) { mismatch_ = mismatch_ ? *mismatch_ + "; " + difference : difference; }

  const nlohmann::json& config_;
  std::string source_;
  std::optional<std::string> mismatch_;
};

// The file's value of a table field (io/config_fields.hpp) that transformers' class has, or
// transformers' default for it where the file leaves it out or writes null.
inline config_value file_value(const field_checker& check, const config_field& field) {
  const hf_fallback& fallback = field.hf.fallback;
  const auto fallback_in_file = [&] {
    return fallback_value(fallback, [&](std::string_view other) { return double(check.integer_value(other)); });
  };
  if (std::holds_alternative<long long>(field.value)) {
    if (fallback.how == hf_fallback::kind::required) return check.integer_value(field.hf.name);
    return check.integer_value(field.hf.name, std::llround(fallback_in_file()));
  }
  if (std::holds_alternative<double>(field.value)) return check.real_of(field.hf.name, check.find(field.hf.name), fallback_in_file());
  if (std::holds_alternative<bool>(field.value)) return check.boolean_value(field.hf.name, fallback_in_file() != 0);
  return field.value;  // names (the layout, the norm, ...) are fixed by the class, not read
}

// A Qwen2 config.json's rotary theta: transformers 5 keeps it in rope_parameters, 4 at the top
// level. Older files describe scaled rotary embeddings in rope_scaling instead; a rope type other
// than the default is recorded in `check` as unsupported.
inline double qwen2_rope_theta(field_checker& check, double default_theta) {
  std::string_view rope_field = "rope_parameters";
  const nlohmann::json* rope = check.find(rope_field);
  if (rope == nullptr) rope = check.find(rope_field = "rope_scaling");
  const nlohmann::json* nested_theta = nullptr;
  if (rope != nullptr) {
    if (!rope->is_object()) check.malformed("'" + std::string(rope_field) + "' is " + rope->dump() + ", not an object");
    const auto type = rope->find("rope_type") != rope->end() ? rope->find("rope_type") : rope->find("type");
    if (type != rope->end() && *type != "default")
      check.unsupported(rope_field, rope->dump() + ", but ranklens implements only the default rotary embedding");
    if (const auto theta = rope->find("rope_theta"); theta != rope->end() && !theta->is_null()) nested_theta = &*theta;
  }
  return nested_theta != nullptr ? check.real_of("rope_parameters.rope_theta", nested_theta, default_theta)
                                 : check.real_of("rope_theta", check.find("rope_theta"), default_theta);
}

}  // namespace hf_config_detail

// Every field of `config` (a parsed config.json) that disagrees with C, joined by "; ", as
// "hidden_size is 128, but the compiled configuration has 64; vocab_size is 97, but ...", or
// nothing when the file describes a model of configuration C. A model_type of the other family
// is reported alone: every other field would only echo it. A file that is not a transformers
// config at all (a required size missing, a field of the wrong JSON type) throws io_error
// naming `source`.
//
// `sizes` are the model's (its dims()); without them, C's own, for a configuration whose sizes
// are all static.
template <TransformerConfig C>
std::optional<std::string> hf_config_mismatch(const nlohmann::json& config, const std::string& source, const transformer_dims& sizes) {
  static_assert(hf_expressible<C>::check());
  hf_config_detail::field_checker check(config, source);
  constexpr bool qwen2 = C::layout == checkpoint_layout::qwen2;
  check.text("model_type", {qwen2 ? "qwen2" : "gpt2"}, std::nullopt);
  if (check.mismatch()) return check.mismatch();  // the other fields would only echo it

  // The fields of the table (io/config_fields.hpp), with transformers' defaults.
  const auto fields = config_fields<C>(sizes);
  for (const config_field& field : fields)
    if (!field.hf.name.empty() && field.hf.reading == hf_reading::checked)
      check.compare(field.hf.name, hf_config_detail::file_value(check, field), field.value);

  if constexpr (qwen2) {
    const double default_theta = find_hf_field(fields, "rope_theta")->hf.fallback.constant;
    check.real_value("rope_theta", hf_config_detail::qwen2_rope_theta(check, default_theta), sizes.rope_theta);
    check.text("hidden_act", {"silu", "swish"}, "silu");
    if (check.find("head_dim") != nullptr) check.integer("head_dim", sizes.head_dim());
    check.boolean("use_sliding_window", false, false);
    if (const nlohmann::json* layer_types = check.find("layer_types")) {
      if (!layer_types->is_array()) check.malformed("'layer_types' is " + layer_types->dump() + ", not a list");
      for (const auto& type : *layer_types)
        if (type != "full_attention")
          check.unsupported("layer_types", "a list with " + type.dump() + ", but ranklens implements only full attention");
    }
  } else {
    // Both names denote GELU's tanh approximation.
    check.text("activation_function", {"gelu_new", "gelu_pytorch_tanh"}, "gelu_new");
    check.boolean("scale_attn_weights", true, true);
    check.boolean("scale_attn_by_inverse_layer_idx", false, false);
  }
  return check.mismatch();
}
template <StaticTransformerConfig C>
std::optional<std::string> hf_config_mismatch(const nlohmann::json& config, const std::string& source = "config.json") {
  return hf_config_mismatch<C>(config, source, static_transformer_dims<C>());
}

// What `config` (a parsed config.json of C's layout) says of each field of C's table
// (io/config_fields.hpp) that transformers' class has, by ranklens' field name ("d_model",
// "rope_theta", ...), with transformers' default where the file leaves a field out: the values
// hf_config_mismatch compares with C's, for a caller that needs them (hf_config_dims reads a
// model's run-time sizes from them). init_std, which only shapes a fresh model, is left
// out. Throws io_error as hf_config_mismatch does; does not check model_type.
template <TransformerConfig C>
std::map<std::string, config_value, std::less<>> hf_config_values(const nlohmann::json& config, const std::string& source = "config.json") {
  static_assert(hf_expressible<C>::check());
  hf_config_detail::field_checker check(config, source);
  std::map<std::string, config_value, std::less<>> values;
  for (const config_field& field : config_field_names<C>()) {
    if (field.hf.name.empty() || field.hf.reading == hf_reading::unchecked) continue;
    values.emplace(field.name, field.hf.reading == hf_reading::by_hand
                                   ? config_value(hf_config_detail::qwen2_rope_theta(check, field.hf.fallback.constant))
                                   : hf_config_detail::file_value(check, field));
  }
  return values;
}

// The sizes, rotary θ and norm ε that `config` (a parsed config.json) gives a model of C's
// layout: what from_pretrained builds a configuration with dyn sizes from. Where C fixes a size,
// the file's value is kept, so that building the model names every size that differs. Throws
// value_error if the file is of the other model family, io_error as hf_config_values does.
template <TransformerConfig C>
transformer_dims hf_config_dims(const nlohmann::json& config, const std::string& source = "config.json") {
  static_assert(hf_expressible<C>::check());
  {
    hf_config_detail::field_checker check(config, source);
    check.text("model_type", {C::layout == checkpoint_layout::qwen2 ? "qwen2" : "gpt2"}, std::nullopt);
    if (const auto mismatch = check.mismatch()) throw value_error(source + ": " + *mismatch);
  }
  const auto values = hf_config_values<C>(config, source);
  const auto integer = [&](std::string_view name, index_t otherwise) {
    const auto found = values.find(name);
    return found == values.end() ? otherwise : index_t(std::get<long long>(found->second));
  };
  const auto real = [&](std::string_view name, double otherwise) {
    const auto found = values.find(name);
    return found == values.end() ? otherwise : std::get<double>(found->second);
  };
  transformer_dims sizes;
  sizes.d_model = integer("d_model", 0);
  sizes.n_layers = integer("n_layers", 0);
  sizes.n_heads = integer("n_heads", 0);
  sizes.n_kv_heads = integer("n_kv_heads", sizes.n_heads);  // GPT-2: one key/value head per query head
  sizes.vocab_size = integer("vocab_size", 0);
  sizes.mlp_width = integer("mlp_width", 0);
  sizes.max_positions = integer("max_positions", 0);
  sizes.rope_theta = real("rope_theta", C::rope_theta);  // GPT-2 has no rotary positions
  sizes.norm_eps = real("norm_eps", C::norm_eps);
  return sizes;
}

// Parses a JSON file, or throws io_error naming the file and where parsing stopped.
inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open '" + path.string() + "' for reading");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    throw io_error("'" + path.string() + "' is not valid JSON: " + error.what());
  }
}

}  // namespace ranklens::io
