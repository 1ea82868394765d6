// What a feature responds to, judged against ground-truth token roles: the tokens where it
// is strongest, the share of them that carry its most common role (purity), the share that
// fall in its most common family of roles (group purity), how often it fires (density), and
// a class by documented thresholds:
//
//   monosemantic   purity >= monosemantic_purity: one role (say "step result digit")
//   broad          otherwise, group purity >= broad_purity: one family ("some digit")
//   polysemantic   otherwise
//
// This stands in for the human and LLM annotators of "Rank-1 LoRAs Encode Interpretable
// Reasoning Signals" (arXiv 2511.06739), who sorted adapter features and MLP neurons into the
// same three classes from their top-activating examples; synthetic data carries the roles
// that annotators would infer. A feature is any column of a (tokens, features) table:
// an adapter's activation of one sign, an MLP neuron, an SAE latent.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::interp {

struct FeatureRoles {
  std::vector<index_t> top_tokens{};  // rows of the table, strongest first (only where the feature is > 0)
  std::vector<float> top_values{};
  std::int32_t dominant_role = -1;    // most common role among top_tokens (-1: the feature never fired)
  double purity = 0;                  // share of top_tokens with dominant_role
  std::int32_t dominant_group = -1;
  double group_purity = 0;            // share of top_tokens whose role is in dominant_group
  double density = 0;                 // share of the counted tokens where the feature is > 0
};

enum class FeatureClass { monosemantic, broad, polysemantic, dead };

inline const char* feature_class_name(FeatureClass c) {
  switch (c) {
    case FeatureClass::monosemantic: return "monosemantic";
    case FeatureClass::broad: return "broad";
    case FeatureClass::polysemantic: return "polysemantic";
    default: return "dead";
  }
}

struct FeatureClassRule {
  double monosemantic_purity = 0.8;
  double broad_purity = 0.8;
};

inline FeatureClass classify(const FeatureRoles& feature, const FeatureClassRule& rule = {}) {
  if (feature.top_tokens.empty()) return FeatureClass::dead;
  if (feature.purity >= rule.monosemantic_purity) return FeatureClass::monosemantic;
  if (feature.group_purity >= rule.broad_purity) return FeatureClass::broad;
  return FeatureClass::polysemantic;
}

struct FeatureTable {
  std::span<const float> values;       // (tokens, features) row-major
  index_t tokens = 0, features = 0;
  std::span<const std::int32_t> roles;  // one per token, in [0, role_count)
  std::span<const bool> counted{};      // tokens to consider (empty: all)
};

// The summary of every feature of `table`, with its top_k strongest tokens. group_of maps a
// role to its family (return the role itself for no families).
inline std::vector<FeatureRoles> feature_roles(const FeatureTable& table, index_t top_k, index_t role_count,
                                                      const std::function<std::int32_t(std::int32_t)>& group_of) {
  if (index_t(table.values.size()) != table.tokens * table.features)
    throw shape_error("feature_roles: " + std::to_string(table.values.size()) + " values do not make a (" +
                      std::to_string(table.tokens) + ", " + std::to_string(table.features) + ") table");
  if (index_t(table.roles.size()) != table.tokens || (!table.counted.empty() && index_t(table.counted.size()) != table.tokens))
    throw shape_error("feature_roles: roles and counted need one entry per token (" + std::to_string(table.tokens) + ")");
  if (top_k < 1) throw value_error("feature_roles: top_k must be at least 1");
  for (const std::int32_t role : table.roles)
    if (role < 0 || role >= role_count) throw value_error("feature_roles: role " + std::to_string(role) + " is outside [0, " + std::to_string(role_count) + ")");

  std::vector<index_t> counted;
  for (index_t t = 0; t < table.tokens; ++t)
    if (table.counted.empty() || table.counted[std::size_t(t)]) counted.push_back(t);
  std::vector<FeatureRoles> out(std::size_t(table.features));
  std::vector<index_t> order;
  std::vector<index_t> role_counts(static_cast<std::size_t>(role_count)), group_counts(static_cast<std::size_t>(role_count));
  for (index_t f = 0; f < table.features; ++f) {
    const auto value = [&](index_t t) { return table.values[std::size_t(t * table.features + f)]; };
    FeatureRoles& summary = out[std::size_t(f)];
    order.clear();
    for (const index_t t : counted)
      if (value(t) > 0) order.push_back(t);
    summary.density = counted.empty() ? 0.0 : double(order.size()) / double(counted.size());
    const auto k = std::min<std::size_t>(std::size_t(top_k), order.size());
    // Strongest first; ties by token order, so the result is deterministic.
    std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(k), order.end(),
                      [&](index_t a, index_t b) { return value(a) > value(b) || (value(a) == value(b) && a < b); });
    order.resize(k);
    summary.top_tokens = order;
    for (const index_t t : order) summary.top_values.push_back(value(t));
    if (k == 0) continue;
    std::fill(role_counts.begin(), role_counts.end(), 0);
    std::fill(group_counts.begin(), group_counts.end(), 0);
    for (const index_t t : order) {
      const std::int32_t role = table.roles[std::size_t(t)];
      ++role_counts[std::size_t(role)];
      const std::int32_t group = group_of(role);
      if (group < 0 || group >= role_count) throw value_error("feature_roles: group_of(" + std::to_string(role) + ") is out of range");
      ++group_counts[std::size_t(group)];
    }
    const auto top_role = std::max_element(role_counts.begin(), role_counts.end());
    const auto top_group = std::max_element(group_counts.begin(), group_counts.end());
    summary.dominant_role = std::int32_t(top_role - role_counts.begin());
    summary.purity = double(*top_role) / double(k);
    summary.dominant_group = std::int32_t(top_group - group_counts.begin());
    summary.group_purity = double(*top_group) / double(k);
  }
  return out;
}

}  // namespace ranklens::interp
