// What the rank-1 adapters learned, as the paper asks it of its adapters:
//
//   ablation     each adapter switched off alone, by layer and module kind: the mean per-token
//                KL to the fully adapted model on finetune-style traces (a heat map), and the
//                accuracy with only the MLP adapters or only the attention adapters kept;
//   mechanism    whether the adapters move the residual stream where the document marker D
//                would move it: per layer, the cosine between the adapters' shift at the
//                decision position and the shift that prefixing D causes in the base model;
//   features     each adapter's scalar split by sign into two features, against as many MLP
//                neurons (up_proj channels, split the same way) and against the same adapters
//                with their untrained A: top-activating tokens, role purity and class
//                (interp/feature_roles.hpp).
#pragma once
#include <array>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "ranklens/adapt/adapter_ablation.hpp"
#include "ranklens/interp/feature_roles.hpp"
#include "reasoning_training.hpp"

namespace lora_reasoning {

using Adapters = LoraAdapters<1, Model>;
constexpr index_t sites_per_layer = 7;
constexpr index_t layer_count = BaseConfig::n_layers;
inline constexpr std::array<const char*, sites_per_layer> site_short_names{"q", "k", "v", "o", "gate", "up", "down"};

inline bool is_mlp_site(const LoraSite& site) { return site.site.starts_with("mlp."); }

// ---- ablation -------------------------------------------------------------------------------

struct AblationResult {
  std::vector<std::vector<double>> kl;  // [layer][site]: mean KL over the response tokens, nats
  double all_attention_kl = 0, all_mlp_kl = 0, all_kl = 0;
  Scores only_mlp, only_attention;      // accuracy with one group of adapters kept
};

// Mean of kl over the positions whose target is trained (the response of each trace).
inline double mean_over_response(const Tensor<double, Shape<dyn, dyn>>& kl, const reasoning::ReasoningBatch& batch) {
  double sum = 0;
  index_t count = 0;
  for (index_t r = 0; r < batch.rows(); ++r)
    for (index_t p = 0; p < batch.seq_len(); ++p)
      if (batch.targets(r, p) != reasoning::ignore_target) sum += kl(r, p), ++count;
  return count ? sum / double(count) : 0.0;
}

inline AblationResult ablate(Adapters& adapters, const reasoning::ReasoningBatch& traces, const EvaluationSets& sets) {
  AblationResult result;
  result.kl.assign(std::size_t(layer_count), std::vector<double>(sites_per_layer, NAN));
  for (std::size_t s = 0; s < adapters.sites().size(); ++s) {
    const LoraSite& target = adapters.sites()[s];
    const auto kl = ablation_kl(adapters, [&](const LoraSite& site) { return site.module_path == target.module_path; }, traces.tokens.view());
    result.kl[std::size_t(target.layer)][s % sites_per_layer] = mean_over_response(kl, traces);
  }
  const auto group_kl = [&](auto&& predicate) { return mean_over_response(ablation_kl(adapters, predicate, traces.tokens.view()), traces); };
  result.all_attention_kl = group_kl([](const LoraSite& site) { return !is_mlp_site(site); });
  result.all_mlp_kl = group_kl([](const LoraSite& site) { return is_mlp_site(site); });
  result.all_kl = group_kl([](const LoraSite&) { return true; });
  adapters.set_enabled([](const LoraSite& site) { return is_mlp_site(site); });
  result.only_mlp = evaluate(adapters.model(), sets.plain);
  adapters.set_enabled([](const LoraSite& site) { return !is_mlp_site(site); });
  result.only_attention = evaluate(adapters.model(), sets.plain);
  adapters.enable_all();
  return result;
}

// ---- mechanism ------------------------------------------------------------------------------

struct MechanismResult {
  std::vector<double> cosine;           // per layer: cos(adapter shift, D shift) at the decision position
  std::vector<double> adapter_norm, document_norm;  // the shifts' lengths
};

// The residual stream after each block at each row's last prompt position: (layers, rows, d).
inline std::vector<std::vector<std::vector<float>>> residual_at_last_position(Model& model, const reasoning::TokenMatrix& prompts) {
  const index_t rows = prompts.extent(0), last = prompts.extent(1) - 1;
  std::vector<std::vector<std::vector<float>>> out(static_cast<std::size_t>(layer_count));
  for (index_t l = 0; l < layer_count; ++l)
    model.add_hook("blocks." + std::to_string(l) + ".hook_resid_post", [&, l](const Model::residual_activation& h) {
      auto& rows_out = out[std::size_t(l)];
      for (index_t r = 0; r < rows; ++r) {
        std::vector<float> v(std::size_t(BaseConfig::d_model));
        for (index_t i = 0; i < BaseConfig::d_model; ++i) v[std::size_t(i)] = h.value()(r, last, i);
        rows_out.push_back(std::move(v));
      }
    });
  {
    auto step = tape();
    auto guard = no_grad();
    model(prompts.view());
  }
  model.reset_hooks();
  return out;
}

inline MechanismResult mechanism(Adapters& adapters, const EvaluationSets& sets) {
  MechanismResult result;
  Model& model = adapters.model();
  // The middle tier's prompts: "... ?" plain and "BOS D ..." with the marker.
  const auto& plain = sets.plain[1].prompts;
  const auto& document = sets.document[1].prompts;
  const auto adapted = residual_at_last_position(model, plain);
  adapters.set_enabled([](const LoraSite&) { return false; });
  const auto base_plain = residual_at_last_position(model, plain);
  const auto base_document = residual_at_last_position(model, document);
  adapters.enable_all();
  for (index_t l = 0; l < layer_count; ++l) {
    std::vector<double> adapter_shift(static_cast<std::size_t>(BaseConfig::d_model)), document_shift(static_cast<std::size_t>(BaseConfig::d_model));
    const auto& a = adapted[std::size_t(l)];
    for (std::size_t r = 0; r < a.size(); ++r)
      for (std::size_t i = 0; i < adapter_shift.size(); ++i) {
        adapter_shift[i] += a[r][i] - base_plain[std::size_t(l)][r][i];
        document_shift[i] += base_document[std::size_t(l)][r][i] - base_plain[std::size_t(l)][r][i];
      }
    const double dot = std::inner_product(adapter_shift.begin(), adapter_shift.end(), document_shift.begin(), 0.0);
    const double na = std::sqrt(std::inner_product(adapter_shift.begin(), adapter_shift.end(), adapter_shift.begin(), 0.0));
    const double nd = std::sqrt(std::inner_product(document_shift.begin(), document_shift.end(), document_shift.begin(), 0.0));
    const double rows = double(a.size());
    result.cosine.push_back(na > 0 && nd > 0 ? dot / (na * nd) : 0.0);
    result.adapter_norm.push_back(na / rows);
    result.document_norm.push_back(nd / rows);
  }
  return result;
}

// ---- features -------------------------------------------------------------------------------

// Families of roles for "broad" features: digits, operators, step punctuation, markers.
inline std::int32_t role_group(std::int32_t role) {
  using R = reasoning::Role;
  switch (R(role)) {
    case R::problem_digit: case R::step_left: case R::step_right: case R::step_result: case R::wrong_result:
    case R::corrected_result: case R::answer_digit: case R::start_value: case R::restated_value:
      return std::int32_t(R::problem_digit);
    case R::problem_plus: case R::problem_minus: case R::problem_times: case R::step_plus: case R::step_minus: case R::step_times:
      return std::int32_t(R::problem_plus);
    case R::step_equals: case R::step_separator:
      return std::int32_t(R::step_equals);
    default:
      return std::int32_t(R::bos);
  }
}

struct FeatureSet {
  std::string name;
  std::vector<std::string> labels;             // "L3.gate+" or "L1.up[57]-"
  std::vector<interp::FeatureRoles> summaries;
  std::array<double, 4> class_share{};         // monosemantic, broad, polysemantic, dead
};

struct FeatureCorpus {
  reasoning::ReasoningBatch batch;  // traces in the finetune format
  std::vector<std::int32_t> roles;  // per token, row-major
  std::vector<bool> counted;        // not PAD
};

inline FeatureCorpus feature_corpus(const Settings& settings, index_t rows) {
  const auto source = reasoning::FinetuneTraces{.batch_size = rows, .seq_len = settings.seq_len};
  FeatureCorpus corpus{source.batch(settings.seed + 9000, rows, 0), {}, {}};
  for (const std::int32_t role : corpus.batch.roles.span()) {
    corpus.roles.push_back(role);
    corpus.counted.push_back(role != std::int32_t(reasoning::Role::pad));
  }
  return corpus;
}

// Splits each column of a (tokens, columns) table into its positive and negative parts.
inline std::vector<float> split_by_sign(const std::vector<float>& table, index_t tokens, index_t columns) {
  std::vector<float> out(std::size_t(tokens * columns * 2));
  for (index_t t = 0; t < tokens; ++t)
    for (index_t c = 0; c < columns; ++c) {
      const float v = table[std::size_t(t * columns + c)];
      out[std::size_t(t * columns * 2 + 2 * c)] = std::max(v, 0.0f);
      out[std::size_t(t * columns * 2 + 2 * c + 1)] = std::max(-v, 0.0f);
    }
  return out;
}

inline FeatureSet summarize(std::string name, std::vector<std::string> labels, const std::vector<float>& signed_table, const FeatureCorpus& corpus,
                            index_t top_k, const interp::FeatureClassRule& rule) {
  FeatureSet set{std::move(name), std::move(labels), {}, {}};
  const index_t tokens = index_t(corpus.roles.size()), features = index_t(set.labels.size());
  std::unique_ptr<bool[]> counted(new bool[std::size_t(tokens)]);
  for (index_t t = 0; t < tokens; ++t) counted[std::size_t(t)] = corpus.counted[std::size_t(t)];
  set.summaries = interp::feature_roles({signed_table, tokens, features, corpus.roles, {counted.get(), std::size_t(tokens)}}, top_k,
                                             reasoning::role_count, role_group);
  for (const auto& s : set.summaries) set.class_share[std::size_t(interp::classify(s, rule))] += 1.0 / double(features);
  return set;
}

struct FeatureComparison {
  FeatureSet trained, untrained, neurons;
};

// Trained adapters on the adapted model, the same adapters with the A they started from on the
// base model, and as many up_proj neurons (chosen by a seeded draw) on the adapted model.
inline FeatureComparison compare_features(Adapters& adapters, const std::vector<std::vector<float>>& initial_a, const FeatureCorpus& corpus,
                                          std::uint64_t seed, index_t top_k = 20, const interp::FeatureClassRule& rule = {}) {
  Model& model = adapters.model();
  const auto run = [&] {
    auto step = tape();
    auto guard = no_grad();
    model(corpus.batch.tokens.view());
  };
  const index_t tokens = index_t(corpus.roles.size()), sites = index_t(adapters.sites().size());
  std::vector<std::string> adapter_labels;
  for (const LoraSite& site : adapters.sites())
    for (const char* sign : {"+", "-"})
      adapter_labels.push_back("L" + std::to_string(site.layer) + "." + site_short_names[std::size_t(&site - adapters.sites().data()) % sites_per_layer] +
                               sign);

  const auto trained_state = adapters.capture_state(run);
  FeatureComparison out;
  out.trained = summarize("trained adapters", adapter_labels,
                          split_by_sign(std::vector<float>(trained_state.data(), trained_state.data() + trained_state.numel()), tokens, sites),
                          corpus, top_k, rule);

  // Untrained: A as initialised, adapters passing the base output through (the capture still
  // computes A·x): what the random directions pick up in the base model.
  std::vector<std::vector<float>> trained_a;
  std::size_t i = 0;
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
    auto span = adapter.lora_A.value().span();
    trained_a.emplace_back(span.begin(), span.end());
    std::copy(initial_a[i].begin(), initial_a[i].end(), span.begin());
    ++i;
  });
  adapters.set_enabled([](const LoraSite&) { return false; });
  const auto untrained_state = adapters.capture_state(run);
  adapters.enable_all();
  i = 0;
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
    std::copy(trained_a[i].begin(), trained_a[i].end(), adapter.lora_A.value().span().begin());
    ++i;
  });
  out.untrained = summarize("untrained adapters (initial A)", adapter_labels,
                            split_by_sign(std::vector<float>(untrained_state.data(), untrained_state.data() + untrained_state.numel()), tokens, sites),
                            corpus, top_k, rule);

  // As many MLP neurons: up_proj channels, uniformly drawn over the layers, split by sign.
  Rng draw(seed);
  std::vector<std::pair<index_t, index_t>> picked;  // (layer, channel)
  while (index_t(picked.size()) < sites) {
    const std::pair<index_t, index_t> p{index_t(uniform_below(draw, std::uint64_t(layer_count))), index_t(uniform_below(draw, std::uint64_t(BaseConfig::mlp_width)))};
    if (std::find(picked.begin(), picked.end(), p) == picked.end()) picked.push_back(p);
  }
  std::vector<float> neuron_table(std::size_t(tokens * sites));
  for (index_t l = 0; l < layer_count; ++l)
    model.add_hook("blocks." + std::to_string(l) + ".mlp.hook_pre_linear", [&, l](const Model::mlp_activation& h) {
      const auto v = h.value();
      for (std::size_t n = 0; n < picked.size(); ++n) {
        if (picked[n].first != l) continue;
        for (index_t t = 0; t < tokens; ++t)
          neuron_table[std::size_t(t * sites) + n] = v(t / v.extent(1), t % v.extent(1), picked[n].second);
      }
    });
  run();
  model.reset_hooks();
  std::vector<std::string> neuron_labels;
  for (const auto& [layer, channel] : picked)
    for (const char* sign : {"+", "-"}) neuron_labels.push_back("L" + std::to_string(layer) + ".up[" + std::to_string(channel) + "]" + sign);
  out.neurons = summarize("MLP neurons (up_proj)", neuron_labels, split_by_sign(neuron_table, tokens, sites), corpus, top_k, rule);
  return out;
}

// "… 7 * [2] = 4 …": the token at (row, position) in brackets with `context` tokens before it.
inline std::string token_in_context(const reasoning::TokenMatrix& tokens, index_t flat, index_t context = 8) {
  const index_t row = flat / tokens.extent(1), position = flat % tokens.extent(1);
  std::string text;
  for (index_t p = std::max<index_t>(0, position - context); p <= position; ++p) {
    const std::string name = reasoning::token_name(tokens(row, p));
    text += (text.empty() ? "" : " ") + (p == position ? "[" + name + "]" : name);
  }
  return text;
}

}  // namespace lora_reasoning
