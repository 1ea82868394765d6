// lora_reasoning: "Rank-1 LoRAs Encode Interpretable Reasoning Signals" (arXiv 2511.06739) at
// laptop scale. A Qwen2-style base is pretrained on a synthetic reasoning task (chained
// arithmetic mod 10) whose worked solutions appear only behind a document marker; a finetune on
// worked traces elicits that skill, fully or through LoRA adapters of each compiled rank on all
// seven projections of every layer. The program reports accuracy per difficulty tier and the
// share of the full finetune's gain each rank recovers, a sweep over the number of traces, which
// adapters carry the effect (ablation, and the direction they push the residual stream), and
// how interpretable the rank-1 adapters' activations are against MLP neurons. The sparse
// autoencoder on the rank-1 adapters' state is examples/lora_sae, which reads this output.
//
//   lora_reasoning [--out runs/lora_reasoning] [--ranks 1,2,4,8,16] [--trace-sweep 30,100,300]
//
// Writes report.md (with its plots), results.json, the base model (base/, a Hugging Face
// directory; a rerun with the same --out reuses it, or resumes its pretraining from
// pretrain_checkpoint.safetensors: resumable_base.hpp) and the rank-1 adapter (rank1_adapter/, a
// PEFT directory) into --out.
// docs/experiments.md explains each choice and quotes a default run.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <sstream>
#include <string>

#include "adapter_analysis.hpp"
#include "rank_sweep.hpp"
#include "resumable_base.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/io/atomic_file.hpp"
#include "ranklens/io/hf_model.hpp"
#include "ranklens/io/peft.hpp"
#include "reasoning_report.hpp"

using namespace lora_reasoning;

namespace {

struct Stage {
  Results& results;
  std::string name;
  Stopwatch watch{};
  Stage(Results& r, std::string n) : results(r), name(std::move(n)) { std::fprintf(stderr, "== %s\n", name.c_str()); }
  ~Stage() {
    results.stages.push_back({name, watch.seconds()});
    std::fprintf(stderr, "== %s: %.1f s\n", name.c_str(), watch.seconds());
  }
};

// The rank-1 adapters' analysis, run on the rank-1 finetune of the rank sweep.
void analyse_rank1(Adapters& adapters, const std::vector<std::vector<float>>& initial_a, const Settings& settings, const EvaluationSets& sets,
                   Results& results, const std::filesystem::path& out) {
  io::save_peft_adapter(adapters, out / "rank1_adapter", {.base_model_name_or_path = (out / "base").string()});
  const auto traces = reasoning::FinetuneTraces{.batch_size = 48, .seq_len = settings.seq_len}.batch(settings.seed + 5000, 48, 0);
  results.ablation = ablate(adapters, traces, sets);
  results.mechanism = mechanism(adapters, sets);
  const auto corpus = feature_corpus(settings, 64);
  results.features = compare_features(adapters, initial_a, corpus, settings.seed + 7);
  // The six purest adapter features, with their strongest tokens in context.
  const auto& trained = results.features->trained;
  std::vector<std::size_t> order(trained.summaries.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return trained.summaries[a].purity > trained.summaries[b].purity; });
  for (std::size_t i = 0; i < std::min<std::size_t>(6, order.size()); ++i) {
    const auto& s = trained.summaries[order[i]];
    if (s.top_tokens.empty()) continue;
    results.feature_examples.push_back("- **" + trained.labels[order[i]] + "**: " + std::string(reasoning::role_name(reasoning::Role(s.dominant_role))) +
                                       " in " + report_detail::percent(s.purity) + " of its top tokens, density " +
                                       report_detail::percent(s.density) + "; e.g.");
    for (std::size_t k = 0; k < std::min<std::size_t>(3, s.top_tokens.size()); ++k)
      results.feature_examples.push_back("  - `" + token_in_context(corpus.batch.tokens, s.top_tokens[k]) + "` (" +
                                         report_detail::number(s.top_values[k]) + ")");
  }
}

int run(const Settings& settings, const std::vector<index_t>& ranks, const std::vector<index_t>& trace_sweep, const std::filesystem::path& out,
        const std::string& command) {
  Results results{.settings = settings, .command = command};
  const auto sets = make_evaluation_sets(settings);
  Model base = [&] {
    Stage stage(results, "pretrain the base");
    return resumable_base(settings, out);
  }();
  results.base_parameters = parameter_count(base);
  {
    Stage stage(results, "evaluate the base");
    results.base = evaluate(base, sets.plain);
    results.base_document = evaluate(base, sets.document);
  }
  std::fprintf(stderr, "base: %s\nbase behind D: %s\n", describe(results.base).c_str(), describe(results.base_document).c_str());
  {
    Stage stage(results, "full finetune");
    results.full = finetune_full(base, settings, settings.traces, sets);
  }
  std::fprintf(stderr, "full: %s\n", describe(results.full.scores).c_str());
  {
    Stage stage(results, "LoRA finetunes and the rank-1 analysis");
    results.ranks = rank_sweep(base, settings, ranks, sets, [&](auto& adapters, const std::vector<std::vector<float>>& initial_a) {
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(adapters)>, Adapters>) analyse_rank1(adapters, initial_a, settings, sets, results, out);
    });
  }
  for (const auto& r : results.ranks) std::fprintf(stderr, "%s: %s\n", r.name.c_str(), describe(r.scores).c_str());
  if (!trace_sweep.empty()) {
    Stage stage(results, "data sweep");
    for (const index_t traces : trace_sweep) {
      if (traces == settings.traces) continue;  // the main comparison is that row (below)
      std::fprintf(stderr, "  %lld traces\n", static_cast<long long>(traces));
      DataSweepRow row{traces, finetune_full(base, settings, traces, sets),
                       finetune_lora<1>(base, settings, traces, sets, [](auto&, const auto&) {})};
      results.data_sweep.push_back(std::move(row));
    }
    // The main run's traces close the sweep.
    const auto rank1 = std::find_if(results.ranks.begin(), results.ranks.end(), [](const auto& r) { return r.rank == 1; });
    if (rank1 != results.ranks.end()) results.data_sweep.push_back({settings.traces, results.full, *rank1});
    std::stable_sort(results.data_sweep.begin(), results.data_sweep.end(), [](const auto& a, const auto& b) { return a.traces < b.traces; });
  }
  write_report(results, out);
  std::fprintf(stderr, "report written to %s\n", (out / "report.md").c_str());
  return 0;
}

// --trace-sweep's value: counts separated by commas, or "none" (or nothing) for no data sweep.
// Read here rather than by CLI11, which turns an empty list into {0}.
std::vector<index_t> parse_trace_sweep(const std::string& text) {
  std::vector<index_t> counts;
  if (text.empty() || text == "none") return counts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string piece = text.substr(start, end - start);
    index_t count = 0;
    const auto [rest, failure] = std::from_chars(piece.data(), piece.data() + piece.size(), count);
    if (piece.empty() || failure != std::errc() || rest != piece.data() + piece.size())
      throw value_error("--trace-sweep '" + text + "': '" + piece + "' is not a count of traces (expected counts separated by commas, or none)");
    counts.push_back(count);
    start = end + 1;
  }
  return counts;
}

// Refuses, before any work, what the run could not honour.
void check_before_start(const std::vector<index_t>& ranks, const std::vector<index_t>& trace_sweep, const Settings& settings,
                        const std::filesystem::path& out) {
  const auto compiled = compiled_rank_list();
  for (const index_t r : ranks)
    if (std::find(compiled.begin(), compiled.end(), r) == compiled.end()) {
      std::string list;
      for (const index_t c : compiled) list += (list.empty() ? "" : ", ") + std::to_string(c);
      throw value_error("--ranks " + std::to_string(r) + ": this program is compiled for ranks " + list +
                        " (add one to compiled_ranks in examples/lora_reasoning/rank_sweep.hpp)");
    }
  for (const index_t t : trace_sweep)
    if (t < 1) throw value_error("--trace-sweep: every count of traces must be at least 1, got " + std::to_string(t));
  if (settings.traces < 1 || settings.pretrain_steps < 1 || settings.finetune_steps < 1 || settings.eval_problems < 1 || settings.checkpoint_every < 1)
    throw value_error("--traces, --pretrain-steps, --finetune-steps, --eval-problems and --checkpoint-every must be at least 1");
  io::require_writable_directory(out, "--out");
  check_resumable_base(settings, out);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Rank-1 LoRA on a synthetic reasoning task: recovery, data sweep, ablation, adapter features (arXiv 2511.06739)."};
  Settings settings;
  std::filesystem::path out = "runs/lora_reasoning";
  std::vector<index_t> ranks = compiled_rank_list();
  std::string trace_sweep_text = "30,100,300";
  int threads = 0;
  app.add_option("--out", out, "output directory");
  app.add_option("--seed", settings.seed, "seed of the weights, data and evaluation problems");
  app.add_option("--pretrain-steps", settings.pretrain_steps, "pretraining steps (batch 16 x 96 tokens)");
  app.add_option("--pretrain-lr", settings.pretrain_lr, "pretraining peak learning rate");
  app.add_option("--checkpoint-every", settings.checkpoint_every, "steps between pretraining checkpoints (a rerun resumes from the last)");
  app.add_option("--finetune-steps", settings.finetune_steps, "steps of every finetune (batch 16 traces)");
  app.add_option("--traces", settings.traces, "finetune traces of the main comparison");
  app.add_option("--trace-sweep", trace_sweep_text, "trace counts of the data sweep (full and rank 1 each), e.g. 30,100,300; none to skip");
  app.add_option("--ranks", ranks, "LoRA ranks to finetune, from the compiled list")->delimiter(',');
  app.add_option("--full-lr", settings.full_lr, "full finetune peak learning rate");
  app.add_option("--lora-lr", settings.lora_lr, "LoRA finetune peak learning rate");
  app.add_option("--eval-problems", settings.eval_problems, "held-out problems per tier");
  app.add_option("--threads", threads, "CPU threads (default: all)");
  CLI11_PARSE(app, argc, argv);
  std::ostringstream command;
  for (int i = 0; i < argc; ++i) command << (i ? " " : "") << argv[i];
  try {
    const auto trace_sweep = parse_trace_sweep(trace_sweep_text);
    check_before_start(ranks, trace_sweep, settings, out);
    if (threads > 0) cpu::set_all_threads(threads);
    cpu::check_openblas_core();
    return run(settings, ranks, trace_sweep, out, command.str());
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "lora_reasoning: %s\n", failure.what());
    return 1;
  }
}
