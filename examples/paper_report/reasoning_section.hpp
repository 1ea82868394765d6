// The report's section on "rank-1 LoRA carries reasoning", from lora_reasoning's results.json.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "report_document.hpp"
#include "report_numbers.hpp"

namespace paper_report {

namespace reasoning_detail {
inline double accuracy(const nlohmann::json& scores, std::size_t tier) {
  return tier < scores.size() ? number_at(scores[tier], "accuracy") : std::nan("");
}

// The share of the full finetune's gain over the base that `scores` reaches, tier by tier.
inline double recovery(const nlohmann::json& scores, const nlohmann::json& full, const nlohmann::json& base, std::size_t tier) {
  const double gain = accuracy(full, tier) - accuracy(base, tier);
  if (!(std::fabs(gain) > 1e-9)) return std::nan("");
  return (accuracy(scores, tier) - accuracy(base, tier)) / gain;
}

inline std::vector<std::string> tier_names(const nlohmann::json& base) {
  std::vector<std::string> names;
  for (const auto& tier : base) names.push_back(std::to_string(tier.value("operators", 0)) + " ops");
  return names;
}
}  // namespace reasoning_detail

inline void reasoning_section(Document& doc, const nlohmann::json& r, const std::string& dir) {
  using namespace reasoning_detail;
  const auto& base = r["base"];
  const auto& full = r["full"]["scores"];
  const auto tiers = tier_names(base);
  doc.paragraph("A Qwen2-style base (" + count(number_at(r, "base_parameters")) +
                " parameters) is pretrained on chained arithmetic mod 10 whose worked solutions appear only behind a document "
                "marker; finetuning on worked traces elicits the skill, fully or through LoRA adapters on all seven projections "
                "of every layer. Accuracy is exact match on held-out problems per difficulty tier.");

  std::vector<std::string> header{"model", "trainable"};
  for (const auto& t : tiers) header.push_back(t);
  for (const auto& t : tiers) header.push_back("recovery " + t);
  std::vector<std::vector<std::string>> rows;
  const auto row = [&](const std::string& name, double trainable, const nlohmann::json& scores, bool with_recovery) {
    std::vector<std::string> cells{name, std::isfinite(trainable) ? count(trainable) : "–"};
    for (std::size_t t = 0; t < tiers.size(); ++t) cells.push_back(percent(accuracy(scores, t)));
    for (std::size_t t = 0; t < tiers.size(); ++t) cells.push_back(with_recovery ? percent(recovery(scores, full, base, t), 0) : "");
    rows.push_back(std::move(cells));
  };
  row("base", std::nan(""), base, false);
  row("base behind the document marker", std::nan(""), r["base_document"], false);
  row("full finetune", number_at(r["full"], "trainable"), full, false);
  double rank1_low = 2, rank1_high = -1;
  for (const auto& rank : r.value("ranks", nlohmann::json::array())) {
    row("LoRA " + rank.value("name", std::string()), number_at(rank, "trainable"), rank["scores"], true);
    if (rank.value("rank", 0) == 1)
      for (std::size_t t = 0; t < tiers.size(); ++t) {
        rank1_low = std::min(rank1_low, recovery(rank["scores"], full, base, t));
        rank1_high = std::max(rank1_high, recovery(rank["scores"], full, base, t));
      }
  }
  doc.table(header, rows);
  if (rank1_high >= rank1_low)
    doc.paragraph("**Rank 1 recovers " + percent(rank1_low, 0) + "–" + percent(rank1_high, 0) +
                  " of the full finetune's gain** across the tiers; the paper reports 73–90% on reasoning benchmarks "
                  "(a Qwen2.5 model, far harder tasks: at this scale the task saturates, see docs/experiments.md).");
  doc.figure(dir + "/accuracy_by_model.svg", "Accuracy per tier: base, full finetune and each LoRA rank.");

  if (r.contains("data_sweep")) {
    std::vector<std::vector<std::string>> sweep;
    for (const auto& d : r["data_sweep"]) {
      std::vector<std::string> cells{count(number_at(d, "traces"))};
      for (std::size_t t = 0; t < tiers.size(); ++t)
        cells.push_back(percent(accuracy(d["full"]["scores"], t), 0) + " / " + percent(accuracy(d["rank1"]["scores"], t), 0));
      sweep.push_back(std::move(cells));
    }
    std::vector<std::string> sweep_header{"traces"};
    for (const auto& t : tiers) sweep_header.push_back(t + ": full / rank 1");
    doc.heading(3, "How many traces");
    doc.table(sweep_header, sweep);
    doc.figure(dir + "/recovery_by_traces.svg", "Rank 1's recovery against the number of finetuning traces.");
  }

  if (r.contains("ablation")) {
    const auto& a = r["ablation"];
    doc.heading(3, "Which adapters carry the effect");
    doc.paragraph("Mean per-token KL divergence from the finetuned model when adapters are switched off: all of them " +
                  fixed(number_at(a, "all_kl"), 3) + " nats, the attention adapters " + fixed(number_at(a, "all_attention_kl"), 3) +
                  ", the MLP adapters " + fixed(number_at(a, "all_mlp_kl"), 3) + ".");
    doc.figure(dir + "/ablation_heat_map.svg", "Ablation heat map: KL when one layer's adapter of one module is switched off.");
  }

  if (r.contains("features")) {
    doc.heading(3, "Are rank-1 adapters as interpretable as neurons?");
    std::vector<std::vector<std::string>> classes;
    for (const auto& set : r["features"]) {
      const auto share = set["class_share"];
      classes.push_back({set.value("name", std::string()), percent(share[0].get<double>()), percent(share[1].get<double>()),
                         percent(share[2].get<double>()), percent(share[3].get<double>())});
    }
    classes.push_back({"paper: rank-1 adapter features", "16.1%", "39.8%", "44.1%", ""});
    classes.push_back({"paper: MLP neurons", "13.0%", "26.6%", "60.4%", ""});
    doc.paragraph("Each feature is classed by the roles of its strongest tokens: monosemantic when one role holds at least 80% of them, "
                  "broad when one family of roles does. The paper finds rank-1 adapter activations at least as interpretable as MLP "
                  "neurons (its shares in the last two rows).");
    doc.table({"features", "monosemantic", "broad", "polysemantic", "dead"}, classes);
    doc.figure(dir + "/feature_classes.svg",
               "Class shares of adapter features, untrained adapter directions and MLP neurons.");
  }

  doc.paragraph("Files: the PEFT adapter [rank1_adapter/](" + dir + "/rank1_adapter), the base [base/](" + dir + "/base) and the stage's own [report](" +
                dir + "/report.md).");
}

// The autoencoder on the rank-1 adapters' state, from lora_sae's results.json.
inline void sae_section(Document& doc, const nlohmann::json& r, const std::string& dir) {
  const auto& problems = r["held_out_problems"]["batch_top_k"];
  const auto& traces = r["unseen_traces"]["batch_top_k"];
  const auto& d = r["downstream"];
  doc.paragraph("A BatchTopK sparse autoencoder (k " + count(number_at(r["settings"], "k")) + ", " + count(number_at(r["settings"], "d_sae")) +
                " latents over the " + count(number_at(r["settings"], "d_in")) + " adapters' scalars A·x) trained on " +
                count(number_at(r, "training_tokens")) + " tokens of finetune traces, as the paper's second analysis.");
  doc.table({"quantity", "unseen traces", "held-out test problems"},
            {{"fraction of variance unexplained", fixed(number_at(traces, "fvu"), 4), fixed(number_at(problems, "fvu"), 4)},
             {"active latents per token (L0)", fixed(number_at(traces, "l0"), 1), fixed(number_at(problems, "l0"), 1)},
             {"dead latents", percent(number_at(traces, "dead_fraction")), percent(number_at(problems, "dead_fraction"))}});
  doc.paragraph("Spliced back in place of every adapter's activation on the held-out problems, the reconstruction keeps " +
                percent(number_at(d, "loss_recovered")) + " of the loss the adapters gain over the base (KL recovered " +
                percent(number_at(d, "kl_recovered")) + ").");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"features"};
  for (const auto& name : r["category_names"]) header.push_back(name.get<std::string>());
  for (const auto& set : r["features"]) {
    std::vector<std::string> cells{set.value("name", std::string())};
    for (const auto& share : set["category_share"]) cells.push_back(percent(share.get<double>()));
    rows.push_back(std::move(cells));
  }
  doc.table(header, rows);
  doc.figure(dir + "/feature_categories.svg", "What each set of features responds to: categories of each feature's dominant role.");
  doc.paragraph("Files: the [feature dashboard](" + dir + "/adapter_sae_dashboard.html), the SAELens directory [adapter_sae/](" + dir +
                "/adapter_sae) and the stage's own [report](" + dir + "/report.md).");
}

}  // namespace paper_report
