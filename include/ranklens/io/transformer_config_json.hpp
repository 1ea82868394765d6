// A Transformer configuration written out as JSON under ranklens' own names, and the
// comparison that names the first field where two such records differ.
//
// Files keep this record next to the weights so that loading can tell "these weights belong to
// another configuration" by name ("vocab_size is 8 in the checkpoint but 9 in the model")
// before any tensor shape comes into it, and can catch differences that no shape shows
// (rope_theta, norm_eps).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

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

// Every member of C that shapes the model or its arithmetic (init_std only shapes a fresh
// model's draw, so it is left out), in the order the configuration concept lists them.
template <TransformerConfig C>
nlohmann::ordered_json config_as_json() {
  nlohmann::ordered_json record;
  record["layout"] = layout_name(C::layout);
  record["d_model"] = C::d_model;
  record["n_layers"] = C::n_layers;
  record["n_heads"] = C::n_heads;
  record["n_kv_heads"] = C::n_kv_heads;
  record["vocab_size"] = C::vocab_size;
  record["mlp_width"] = C::mlp_width;
  record["max_positions"] = C::max_positions;
  record["norm"] = norm_name(C::norm);
  record["mlp"] = mlp_name(C::mlp);
  record["positions"] = positions_name(C::positions);
  record["tied_embeddings"] = C::tied_embeddings;
  record["qkv_bias"] = C::qkv_bias;
  record["rope_theta"] = C::rope_theta;
  record["norm_eps"] = C::norm_eps;
  return record;
}

// The first field where `first` and `second` differ, as "<field> is <a> in <first_name> but <b>
// in <second_name>", or nothing when they agree. Fields are taken in `first`'s order; one
// missing from either side counts as a difference.
inline std::optional<std::string> first_config_difference(const nlohmann::ordered_json& first, std::string_view first_name,
                                                          const nlohmann::ordered_json& second, std::string_view second_name) {
  auto value_in = [](const nlohmann::ordered_json& record, const std::string& field) -> std::string {
    const auto found = record.find(field);
    return found == record.end() ? std::string("missing") : found->dump();
  };
  auto describe = [&](const std::string& field) {
    return field + " is " + value_in(first, field) + " in " + std::string(first_name) + " but " + value_in(second, field) +
           " in " + std::string(second_name);
  };
  for (const auto& [field, value] : first.items()) {
    const auto other = second.find(field);
    if (other == second.end() || *other != value) return describe(field);
  }
  for (const auto& [field, value] : second.items())
    if (!first.contains(field)) return describe(field);
  return std::nullopt;
}

}  // namespace ranklens::io
