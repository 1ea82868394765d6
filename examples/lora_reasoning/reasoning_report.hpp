// The lora_reasoning report: report.md with the tables, results.json with every number, and the
// plots (accuracy by model, recovery against the number of traces, the ablation heat map, the
// classes of features), all in the output directory.
#pragma once
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapter_analysis.hpp"
#include "rank_sweep.hpp"
#include "ranklens/interp/svg_charts.hpp"
#include "ranklens/io/atomic_file.hpp"

namespace lora_reasoning {

struct StageTime {
  std::string stage;
  double seconds = 0;
};

struct DataSweepRow {
  index_t traces = 0;
  FinetuneOutcome full, rank1;
};

struct Results {
  Settings settings{};
  index_t base_parameters = 0;
  Scores base{}, base_document{};
  FinetuneOutcome full{};
  std::vector<FinetuneOutcome> ranks{};
  std::vector<DataSweepRow> data_sweep{};
  std::optional<AblationResult> ablation{};
  std::optional<MechanismResult> mechanism{};
  std::optional<FeatureComparison> features{};
  std::vector<std::string> feature_examples{};  // markdown lines
  std::vector<StageTime> stages{};
  std::string command{};
};

// (LoRA − base) / (full − base): the share of the full finetune's gain that the adapters
// recover (the paper's 73-90%). NaN when the full finetune gained nothing.
inline double recovery(double lora, double base, double full) {
  const double gain = full - base;
  return gain > 1e-9 ? (lora - base) / gain : NAN;
}

namespace report_detail {

inline std::string percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f%%", 100 * v);
  return buffer;
}

inline std::string number(double v, const char* format = "%.3g") {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

inline nlohmann::json scores_json(const Scores& scores) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : scores) out.push_back({{"operators", s.operators}, {"accuracy", s.accuracy}, {"worked_share", s.worked_share}});
  return out;
}

inline nlohmann::json outcome_json(const FinetuneOutcome& o) {
  return {{"name", o.name}, {"rank", o.rank}, {"traces", o.traces}, {"scores", scores_json(o.scores)}, {"trainable", o.trainable},
          {"seconds", o.seconds}, {"final_loss", o.final_loss}};
}

}  // namespace report_detail

inline void write_report(const Results& results, const std::filesystem::path& out) {
  using namespace report_detail;
  namespace plot = ranklens::interp;
  std::filesystem::create_directories(out);
  const auto tiers = results.base.size();
  std::string md = "# Rank-1 LoRA on a synthetic reasoning task\n\n";
  md += "Reproduces at laptop scale \"Rank-1 LoRAs Encode Interpretable Reasoning Signals\" (arXiv 2511.06739); "
        "docs/experiments.md explains the design.\n\nCommand: `" + results.command + "`\n\n";

  // ---- recovery table
  md += "## Accuracy on held-out problems (exact match, greedy)\n\n| model | trained parameters | share of base |";
  for (const auto& s : results.base) md += " " + std::to_string(s.operators) + " operators |";
  for (const auto& s : results.base) md += " recovery " + std::to_string(s.operators) + " |";
  md += "\n|---|---|---|" + std::string(tiers * 2 * 4, ' ');
  md.resize(md.size() - tiers * 2 * 4);
  for (std::size_t i = 0; i < 2 * tiers; ++i) md += "---|";
  md += "\n";
  const auto row = [&](const std::string& name, index_t trainable, const Scores& scores, bool with_recovery) {
    md += "| " + name + " | " + (trainable ? std::to_string(trainable) : std::string("-")) + " | " +
          (trainable ? percent(double(trainable) / double(results.base_parameters)) : std::string("-")) + " |";
    for (const auto& s : scores) md += " " + percent(s.accuracy) + " (" + percent(s.worked_share) + " worked) |";
    for (std::size_t t = 0; t < tiers; ++t)
      md += " " + (with_recovery ? percent(recovery(scores[t].accuracy, results.base[t].accuracy, results.full.scores[t].accuracy)) : std::string("")) + " |";
    md += "\n";
  };
  row("base", 0, results.base, false);
  row("base behind D (the latent skill)", 0, results.base_document, false);
  row("full finetune", results.full.trainable, results.full.scores, false);
  for (const auto& r : results.ranks) row("LoRA " + r.name, r.trainable, r.scores, true);
  md += "\nRecovery = (LoRA − base) / (full − base) per tier. " + std::to_string(results.full.traces) + " finetune traces, " +
        std::to_string(results.settings.finetune_steps) + " steps of batch " + std::to_string(results.settings.finetune_batch) + ".\n\n";

  // ---- data sweep
  if (!results.data_sweep.empty()) {
    md += "## How many traces rank 1 needs\n\n| traces | full (per tier) | rank 1 (per tier) | recovery (per tier) |\n|---|---|---|---|\n";
    for (const auto& d : results.data_sweep) {
      std::string full, lora, rec;
      for (std::size_t t = 0; t < tiers; ++t) {
        full += (t ? " / " : "") + percent(d.full.scores[t].accuracy);
        lora += (t ? " / " : "") + percent(d.rank1.scores[t].accuracy);
        rec += (t ? " / " : "") + percent(recovery(d.rank1.scores[t].accuracy, results.base[t].accuracy, d.full.scores[t].accuracy));
      }
      md += "| " + std::to_string(d.traces) + " | " + full + " | " + lora + " | " + rec + " |\n";
    }
    md += "\n![recovery against traces](recovery_by_traces.svg)\n\n";
  }

  // ---- plots of accuracy
  plot::bar_chart accuracy{.title = "Held-out accuracy by model", .y_label = "exact match", .y_max = 1.0};
  accuracy.series_labels = {"base", "full"};
  for (const auto& r : results.ranks) accuracy.series_labels.push_back("LoRA " + r.name);
  for (std::size_t t = 0; t < tiers; ++t) {
    plot::bar_group group{std::to_string(results.base[t].operators) + " operators", {results.base[t].accuracy, results.full.scores[t].accuracy}};
    for (const auto& r : results.ranks) group.values.push_back(r.scores[t].accuracy);
    accuracy.groups.push_back(group);
  }
  accuracy.value_format = "";
  plot::write_svg(accuracy, out / "accuracy_by_model.svg");
  md += "![accuracy by model](accuracy_by_model.svg)\n\n";
  if (!results.data_sweep.empty()) {
    plot::line_plot sweep{.title = "Recovery of the full finetune's gain by rank 1", .x_label = "finetune traces", .y_label = "recovery",
                          .log_x = true};
    for (std::size_t t = 0; t < tiers; ++t) {
      plot::plot_series s{.label = std::to_string(results.base[t].operators) + " operators"};
      for (const auto& d : results.data_sweep) {
        s.x.push_back(double(d.traces));
        s.y.push_back(recovery(d.rank1.scores[t].accuracy, results.base[t].accuracy, d.full.scores[t].accuracy));
      }
      sweep.series.push_back(s);
    }
    sweep.references.push_back({.label = "full finetune", .y = 1.0});
    plot::write_svg(sweep, out / "recovery_by_traces.svg");
  }

  // ---- ablation
  if (results.ablation) {
    const auto& a = *results.ablation;
    plot::heat_map map{.title = "Rank-1 adapters ablated one at a time", .row_axis_label = "layer", .column_axis_label = "projection",
                       .value_label = "mean KL to the adapted model on the traces (nats)"};
    for (index_t l = 0; l < layer_count; ++l) map.row_labels.push_back("layer " + std::to_string(l));
    for (const char* name : site_short_names) map.column_labels.push_back(name);
    map.values = a.kl;
    plot::write_svg(map, out / "ablation_heat_map.svg");
    md += "## Which adapters carry the effect\n\n![ablation heat map](ablation_heat_map.svg)\n\n";
    md += "| ablated | mean KL (nats) |\n|---|---|\n| all attention adapters (q, k, v, o) | " + number(a.all_attention_kl) +
          " |\n| all MLP adapters (gate, up, down) | " + number(a.all_mlp_kl) + " |\n| all adapters | " + number(a.all_kl) + " |\n\n";
    md += "| adapters kept |";
    for (const auto& s : results.base) md += " " + std::to_string(s.operators) + " operators |";
    md += "\n|---|";
    for (std::size_t t = 0; t < tiers; ++t) md += "---|";
    md += "\n| only MLP adapters |";
    for (const auto& s : a.only_mlp) md += " " + percent(s.accuracy) + " |";
    md += "\n| only attention adapters |";
    for (const auto& s : a.only_attention) md += " " + percent(s.accuracy) + " |";
    md += "\n\n";
  }
  if (results.mechanism) {
    const auto& m = *results.mechanism;
    md += "## Mechanism: the adapters move the residual stream the way the marker D does\n\n"
          "At the question's last token, per layer: cos(adapted − base, base with D − base without), "
          "averaged shifts over the middle tier's prompts.\n\n| layer | cosine | adapter shift | D shift |\n|---|---|---|---|\n";
    for (std::size_t l = 0; l < m.cosine.size(); ++l)
      md += "| " + std::to_string(l) + " | " + number(m.cosine[l], "%.3f") + " | " + number(m.adapter_norm[l]) + " | " + number(m.document_norm[l]) + " |\n";
    md += "\n";
  }
  if (results.features) {
    const auto& f = *results.features;
    md += "## Adapter features against MLP neurons\n\nEach rank-1 adapter's scalar split by sign into two features; as many up_proj "
          "neurons (split the same way); the same adapters with their untrained A. Classes from the roles of each feature's 20 "
          "strongest tokens (interp/feature_roles.hpp): monosemantic when one role holds at least 80% of them, broad when one "
          "family of roles does, polysemantic otherwise.\n\n| features | monosemantic | broad | polysemantic | dead |\n|---|---|---|---|---|\n";
    for (const auto* set : {&f.trained, &f.untrained, &f.neurons})
      md += "| " + set->name + " | " + percent(set->class_share[0]) + " | " + percent(set->class_share[1]) + " | " + percent(set->class_share[2]) +
            " | " + percent(set->class_share[3]) + " |\n";
    md += "| paper: adapter features | 16.1% | 39.8% | 44.1% | |\n| paper: MLP neurons | 13.0% | 26.6% | 60.4% | |\n\n";
    plot::bar_chart classes{.title = "Feature classes", .y_label = "share of features", .y_max = 1.0};
    classes.series_labels = {f.trained.name, f.untrained.name, f.neurons.name};
    for (std::size_t c = 0; c < 3; ++c) {
      classes.groups.push_back({interp::feature_class_name(interp::FeatureClass(c)), {f.trained.class_share[c], f.untrained.class_share[c], f.neurons.class_share[c]}});
    }
    plot::write_svg(classes, out / "feature_classes.svg");
    md += "![feature classes](feature_classes.svg)\n\n### The most monosemantic adapter features\n\n";
    for (const auto& line : results.feature_examples) md += line + "\n";
    md += "\n";
  }
  md += "## Time per stage\n\n| stage | seconds |\n|---|---|\n";
  double total = 0;
  for (const auto& s : results.stages) {
    md += "| " + s.stage + " | " + number(s.seconds, "%.1f") + " |\n";
    total += s.seconds;
  }
  md += "| total | " + number(total, "%.1f") + " |\n";
  io::write_text_atomically(out / "report.md", md);

  nlohmann::json j;
  j["command"] = results.command;
  const Settings& s = results.settings;
  j["settings"] = {{"seed", s.seed}, {"pretrain_steps", s.pretrain_steps}, {"pretrain_lr", s.pretrain_lr}, {"finetune_steps", s.finetune_steps},
                   {"traces", s.traces}, {"full_lr", s.full_lr}, {"lora_lr", s.lora_lr}, {"lora_alpha", s.lora_alpha},
                   {"eval_problems", s.eval_problems}};
  j["base_parameters"] = results.base_parameters;
  j["base"] = scores_json(results.base);
  j["base_document"] = scores_json(results.base_document);
  j["full"] = outcome_json(results.full);
  for (const auto& r : results.ranks) j["ranks"].push_back(outcome_json(r));
  for (const auto& d : results.data_sweep) j["data_sweep"].push_back({{"traces", d.traces}, {"full", outcome_json(d.full)}, {"rank1", outcome_json(d.rank1)}});
  if (results.ablation) {
    j["ablation"] = {{"kl", results.ablation->kl}, {"all_attention_kl", results.ablation->all_attention_kl},
                     {"all_mlp_kl", results.ablation->all_mlp_kl}, {"all_kl", results.ablation->all_kl},
                     {"only_mlp", scores_json(results.ablation->only_mlp)}, {"only_attention", scores_json(results.ablation->only_attention)}};
  }
  if (results.mechanism)
    j["mechanism"] = {{"cosine", results.mechanism->cosine}, {"adapter_norm", results.mechanism->adapter_norm}, {"document_norm", results.mechanism->document_norm}};
  if (results.features)
    for (const auto* set : {&results.features->trained, &results.features->untrained, &results.features->neurons})
      j["features"].push_back({{"name", set->name}, {"class_share", set->class_share}});
  for (const auto& s : results.stages) j["stages"].push_back({{"stage", s.stage}, {"seconds", s.seconds}});
  io::write_text_atomically(out / "results.json", j.dump(2) + "\n");
}

}  // namespace lora_reasoning
