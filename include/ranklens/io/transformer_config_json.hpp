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
#include <variant>

#include <nlohmann/json.hpp>

#include "ranklens/io/config_fields.hpp"
#include "ranklens/nn/transformer_config.hpp"

namespace ranklens::io {

// Every member of C that shapes the model or its arithmetic (init_std only shapes a fresh
// model's draw, so it is left out), under ranklens' names, in the order of the configuration
// concept: the fields of io/config_fields.hpp that are in_record.
// `sizes` are the model's (its dims()); C's own for a configuration without dyn sizes.
template <TransformerConfig C>
nlohmann::ordered_json config_as_json(const transformer_dims& sizes) {
  nlohmann::ordered_json record;
  for (const config_field& field : config_fields<C>(sizes))
    if (field.in_record) std::visit([&](auto value) { record[std::string(field.name)] = value; }, field.value);
  return record;
}
template <StaticTransformerConfig C>
nlohmann::ordered_json config_as_json() {
  return config_as_json<C>(static_transformer_dims<C>());
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
