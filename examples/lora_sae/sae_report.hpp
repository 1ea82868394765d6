// The lora_sae report: report.md with the tables, results.json with every number, and three
// plots (the categories of each feature set as donuts, their role classes, the latents'
// densities), all in the output directory.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapter_sae.hpp"
#include "ranklens/interp/svg_charts.hpp"
#include "ranklens/io/atomic_file.hpp"

namespace lora_sae {

struct SaeRun {
  SaeSettings plan{};
  std::string command{}, source{};  // the command line; the lora_reasoning directory read
  AdapterSaeResult result{};
  double load_seconds = 0;
};

namespace report_detail {
inline std::string formatted(double v, const char* format = "%.3g") {
  if (!std::isfinite(v)) return "n/a";
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}
inline std::string percent(double v) { return std::isfinite(v) ? formatted(100 * v, "%.1f%%") : "n/a"; }

inline nlohmann::json evaluation_json(const SaeEvaluation& e) {
  return {{"tokens", e.tokens}, {"fvu", e.fvu}, {"explained_variance", e.explained_variance}, {"l0", e.l0},
          {"dead_fraction", e.dead_fraction}, {"dense_fraction", e.dense_fraction}};
}
}  // namespace report_detail

inline void write_report(const SaeRun& run, const std::filesystem::path& out) {
  using namespace report_detail;
  namespace plot = ranklens::interp;
  const AdapterSaeResult& r = run.result;
  const std::vector<const FeatureSet*> sets{&r.latents, &r.features.trained, &r.features.untrained, &r.features.neurons};

  std::string md = "# A sparse autoencoder on the rank-1 adapters' state\n\nCommand: `" + run.command + "`, on the base and rank-1 adapter of `" +
                   run.source + "`.\n\n";
  md += "SparseAutoencoder<" + std::to_string(adapter_sae_k) + "> (BatchTopK, " + std::to_string(adapter_sae_latents) + " latents, 8x the " +
        std::to_string(adapter_state_width) + " adapters' A·x) trained in " + std::to_string(run.plan.passes) + " passes over " +
        std::to_string(r.training_tokens) + " tokens of " + std::to_string(run.plan.traces) + " finetune traces (" + std::to_string(r.steps) +
        " steps of " + std::to_string(run.plan.batch) + " tokens, Adam 5e-4 with warm-up and cosine decay) in " +
        formatted(r.train_seconds, "%.1f") + " s; JumpReLU threshold estimated in training: " + formatted(r.threshold, "%.4f") + ".\n\n";

  md += "## Reconstruction\n\n| tokens | form | tokens | FVU | explained variance | L0 | dead | dense |\n|---|---|---|---|---|---|---|---|\n";
  const auto row = [&](const char* where, const char* form, const SaeEvaluation& e) {
    md += std::string("| ") + where + " | " + form + " | " + std::to_string(e.tokens) + " | " + formatted(e.fvu, "%.4f") + " | " +
          formatted(e.explained_variance, "%.4f") + " | " + formatted(e.l0, "%.2f") + " | " + percent(e.dead_fraction) + " | " +
          percent(e.dense_fraction) + " |\n";
  };
  row("unseen finetune traces", "BatchTopK", r.traces_batch_top_k);
  row("unseen finetune traces", "JumpReLU", r.traces_jump_relu);
  row("held-out test problems", "BatchTopK", r.problems_batch_top_k);
  row("held-out test problems", "JumpReLU", r.problems_jump_relu);
  md += "\nHeld-out test problems: " + std::to_string(run.plan.problems) +
        " per tier (2, 4 and 6 operators), the problems the accuracy is graded on, which no training stream emits, written as "
        "worked traces. Dead: no activation on these tokens; dense: active on more than 10% of them.\n\n";

  const auto& d = r.downstream;
  md += "## Spliced back into the model\n\nOn the held-out test problems (loss and KL(clean ‖ run) over the " + std::to_string(d.positions) +
        " response tokens), every adapter's A·x replaced by the JumpReLU reconstruction of the state, against the clean adapted model "
        "and the state zero-ablated (the adapters off):\n\n"
        "| loss clean | loss spliced | loss adapters off | loss recovered | KL spliced | KL adapters off | KL recovered |\n"
        "|---|---|---|---|---|---|---|\n| " +
        formatted(d.loss_clean, "%.4f") + " | " + formatted(d.loss_spliced, "%.4f") + " | " + formatted(d.loss_ablated, "%.4f") + " | " +
        percent(d.loss_recovered) + " | " + formatted(d.kl_spliced, "%.4f") + " | " + formatted(d.kl_ablated, "%.4f") + " | " +
        percent(d.kl_recovered) + " |\n\n";

  md += "## What the features respond to\n\nOn 64 finetune traces (the corpus lora_reasoning's feature analysis uses): the "
        "autoencoder's latents, each adapter's "
        "scalar split by sign (trained, and with A as initialised), and as many up_proj neurons split the same way. Classes from "
        "the roles of each feature's " + std::to_string(run.plan.top_k) +
        " strongest tokens (interp/feature_roles.hpp): monosemantic when one role holds at least 80% of them, broad when one "
        "family of roles does.\n\n| features | count | monosemantic | broad | polysemantic | dead |\n|---|---|---|---|---|---|\n";
  for (const auto* set : sets)
    md += "| " + set->name + " | " + std::to_string(set->summaries.size()) + " | " + percent(set->class_share[0]) + " | " +
          percent(set->class_share[1]) + " | " + percent(set->class_share[2]) + " | " + percent(set->class_share[3]) + " |\n";
  md += "| paper: adapter features | | 16.1% | 39.8% | 44.1% | |\n| paper: MLP neurons | | 13.0% | 26.6% | 60.4% | |\n\n";
  md += "Categories by each feature's dominant role (the paper's donut chart):\n\n| features |";
  for (const char* name : feature_category_names) md += std::string(" ") + name + " |";
  md += "\n|---|";
  for (std::size_t c = 0; c < feature_category_names.size(); ++c) md += "---|";
  md += "\n";
  plot::donut_chart donuts{.title = "What the features respond to (dominant role)"};
  for (const char* name : feature_category_names) donuts.category_labels.push_back(name);
  for (const auto* set : sets) {
    const auto shares = category_shares(*set);
    md += "| " + set->name + " |";
    for (const double v : shares) md += " " + percent(v) + " |";
    md += "\n";
    donuts.donuts.push_back({set->name, std::to_string(set->summaries.size()) + " features", std::vector<double>(shares.begin(), shares.end())});
  }
  donuts.radius = 80;
  plot::write_svg(donuts, out / "feature_categories.svg");
  md += "\n![feature categories](feature_categories.svg)\n\n";
  // The fine-grained view: how many live latents have each dominant role, and how many of those
  // are monosemantic (one role holds at least 80% of its strongest tokens).
  std::map<std::string, std::pair<index_t, index_t>> by_role;  // role → (latents, monosemantic)
  for (const auto& l : r.latents.summaries) {
    if (l.top_tokens.empty()) continue;
    auto& entry = by_role[std::string(reasoning::role_name(reasoning::Role(l.dominant_role)))];
    ++entry.first;
    entry.second += interp::classify(l) == interp::FeatureClass::monosemantic;
  }
  md += "The autoencoder's live latents by dominant role (monosemantic ones in brackets): ";
  for (const auto& [role, n] : by_role) md += role + " " + std::to_string(n.first) + " (" + std::to_string(n.second) + "); ";
  md += "\n\n";

  plot::bar_chart classes{.title = "Feature classes", .y_label = "share of features", .y_max = 1.0};
  for (const auto* set : sets) classes.series_labels.push_back(set->name);
  for (std::size_t c = 0; c < 3; ++c) {
    std::vector<double> shares;
    for (const auto* set : sets) shares.push_back(set->class_share[c]);
    classes.groups.push_back({interp::feature_class_name(interp::FeatureClass(c)), shares});
  }
  plot::write_svg(classes, out / "feature_classes.svg");
  md += "![feature classes](feature_classes.svg)\n\n";

  const auto histogram = density_histogram(r.traces_batch_top_k.density);
  plot::bar_chart densities{.title = "Latent density on unseen traces", .y_label = "latents", .series_labels = {"latents"}, .value_format = "%.0f"};
  md += "Latent densities (share of the unseen traces' tokens where a latent fires), log10 bins: ";
  for (std::size_t b = 0; b < histogram.counts.size(); ++b) {
    if (histogram.counts[b] == 0) continue;
    const std::string bin = formatted(histogram.bin_start(b), "%.1f");
    md += "[" + bin + ", " + formatted(histogram.bin_start(b) + histogram.width, "%.1f") + "): " + std::to_string(histogram.counts[b]) + "; ";
    densities.groups.push_back({bin, {double(histogram.counts[b])}});
  }
  md += "dead: " + std::to_string(histogram.dead) + ".\n\n![latent density](latent_density.svg)\n\n";
  plot::write_svg(densities, out / "latent_density.svg");

  md += "## The purest latents\n\n";
  std::vector<std::size_t> order(r.latents.summaries.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto &x = r.latents.summaries[a], &y = r.latents.summaries[b];
    return x.purity != y.purity ? x.purity > y.purity : x.density > y.density;
  });
  md += "| latent | dominant role | purity | density | category |\n|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < std::min<std::size_t>(12, order.size()); ++i) {
    const auto& s = r.latents.summaries[order[i]];
    if (s.top_tokens.empty()) continue;
    md += "| " + r.latents.labels[order[i]] + " | " + std::string(reasoning::role_name(reasoning::Role(s.dominant_role))) + " | " + percent(s.purity) +
          " | " + percent(s.density) + " | " + feature_category_names[std::size_t(category_of_role(s.dominant_role))] + " |\n";
  }
  md += "\nEvery latent with its strongest contexts, density and histogram: [adapter_sae_dashboard.html](adapter_sae_dashboard.html). "
        "The autoencoder is the SAELens directory `adapter_sae/` (`SAE.load_from_disk`).\n\n## Time\n\nLoading the base and adapter " +
        formatted(run.load_seconds, "%.1f") + " s; the analysis " + formatted(r.seconds, "%.1f") + " s (training " + formatted(r.train_seconds, "%.1f") +
        " s).\n";
  io::write_text_atomically(out / "report.md", md);

  nlohmann::json j;
  j["command"] = run.command;
  j["source"] = run.source;
  j["settings"] = {{"seed", run.plan.seed}, {"traces", run.plan.traces}, {"passes", run.plan.passes}, {"batch", run.plan.batch},
                   {"held_out_traces", run.plan.held_out_traces}, {"problems", run.plan.problems}, {"top_k", run.plan.top_k},
                   {"k", adapter_sae_k}, {"d_in", adapter_state_width}, {"d_sae", adapter_sae_latents}};
  j["training_tokens"] = r.training_tokens;
  j["steps"] = r.steps;
  j["threshold"] = r.threshold;
  j["unseen_traces"] = {{"batch_top_k", evaluation_json(r.traces_batch_top_k)}, {"jump_relu", evaluation_json(r.traces_jump_relu)}};
  j["held_out_problems"] = {{"batch_top_k", evaluation_json(r.problems_batch_top_k)}, {"jump_relu", evaluation_json(r.problems_jump_relu)}};
  j["downstream"] = {{"loss_clean", d.loss_clean}, {"loss_spliced", d.loss_spliced}, {"loss_ablated", d.loss_ablated},
                     {"loss_recovered", d.loss_recovered}, {"kl_spliced", d.kl_spliced}, {"kl_ablated", d.kl_ablated},
                     {"kl_recovered", d.kl_recovered}, {"positions", d.positions}};
  j["category_names"] = feature_category_names;
  for (const auto* set : sets) {
    const auto shares = category_shares(*set);
    j["features"].push_back({{"name", set->name}, {"count", set->summaries.size()}, {"class_share", set->class_share}, {"category_share", shares}});
  }
  for (const auto& [role, n] : by_role) j["latents_by_dominant_role"][role] = {{"latents", n.first}, {"monosemantic", n.second}};
  j["density_histogram"] = {{"lowest", histogram.lowest}, {"width", histogram.width}, {"counts", histogram.counts}, {"dead", histogram.dead}};
  j["seconds"] = {{"load", run.load_seconds}, {"analysis", r.seconds}, {"training", r.train_seconds}};
  io::write_text_atomically(out / "results.json", j.dump(2) + "\n");
}

}  // namespace lora_sae
