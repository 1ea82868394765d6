// lora_sae: the second analysis of "Rank-1 LoRAs Encode Interpretable Reasoning Signals" (arXiv
// 2511.06739) on lora_reasoning's rank-1 model: a TopK sparse autoencoder on the concatenated
// activations of all the rank-1 adapters (examples/lora_sae/adapter_sae.hpp says what is
// measured and why).
//
//   lora_sae --from runs/lora_reasoning [--out runs/lora_sae] [--traces 2048] [--passes 8]
//
// --from is a lora_reasoning output directory: its base (base/, a Hugging Face directory with
// the settings it was pretrained with) and its rank-1 adapter (rank1_adapter/, a PEFT
// directory). Writes report.md (with its plots), results.json, the autoencoder as a SAELens
// directory (adapter_sae/) and its feature dashboard (adapter_sae_dashboard.html) into --out.
// docs/experiments.md quotes a default run.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "../lora_reasoning/resumable_base.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/io/atomic_file.hpp"
#include "ranklens/io/hf_model.hpp"
#include "ranklens/io/peft.hpp"
#include "sae_report.hpp"

using namespace lora_sae;

namespace {

// The lora_reasoning directory's pretraining record (written last, so a finished base has one).
nlohmann::json read_base_record(const std::filesystem::path& from) {
  const auto record = from / "base" / base_marker_name;
  if (!std::filesystem::is_regular_file(record))
    throw io_error("--from " + from.string() + ": no finished base (" + record.string() +
                   " is missing); run build/examples/lora_reasoning --out " + from.string() + " first");
  return resumable_detail::read_json(record);
}

// Refuses, before any work, what the run could not honour.
void check_before_start(const SaeSettings& plan, const std::filesystem::path& from, const std::filesystem::path& out) {
  if (plan.traces < 64 || plan.traces % 64 != 0) throw value_error("--traces must be a positive multiple of 64, got " + std::to_string(plan.traces));
  if (plan.passes < 1 || plan.problems < 1) throw value_error("--passes and --problems must be at least 1");
  read_base_record(from);
  if (!std::filesystem::is_regular_file(from / "rank1_adapter" / std::string(io::peft_config_file_name)))
    throw io_error("--from " + from.string() + ": no rank-1 adapter (" + (from / "rank1_adapter").string() +
                   " is missing); lora_reasoning writes it when --ranks includes 1");
  io::require_writable_directory(out, "--out");
}

int run(SaeRun& run, const std::filesystem::path& from, const std::filesystem::path& out) {
  const Stopwatch loading;
  Settings settings;
  const auto record = read_base_record(from);
  settings.seed = record.at("seed").get<std::uint64_t>();
  run.plan.seed = settings.seed;
  Rng init(settings.seed);
  Model model(init);
  io::load_pretrained(model, from / "base");
  const auto adapter_dir = from / "rank1_adapter";
  // PEFT's config holds no seed: A is drawn from the one lora_reasoning drew the rank-1 adapter's
  // from, so that the untrained comparison below starts where training did.
  auto config = io::read_peft_config<1>(model, adapter_dir);
  config.seed = adapter_seed(settings, 1);
  Adapters adapters(model, config);
  if (adapters.state_width() != adapter_state_width)
    throw value_error(adapter_dir.string() + ": the adapter has " + std::to_string(adapters.state_width()) +
                      " projections; this analysis reads the state of all " + std::to_string(adapter_state_width) +
                      " (q, k, v, o, gate, up, down of every layer, lora_reasoning's adapter)");
  // A as LoraAdapters draws it, before the trained one is loaded: the untrained comparison.
  std::vector<std::vector<float>> initial_a;
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
    const auto span = adapter.lora_A.value().span();
    initial_a.emplace_back(span.begin(), span.end());
  });
  io::load_peft_adapter(adapters, adapter_dir);
  adapters.for_each_attached([](const LoraSite&, auto& adapter, auto&) { adapter.set_training(false); });
  // The untrained comparison rests on a trained A staying near the A it was drawn as: say how
  // near (an adapter trained from another seed than lora_reasoning's shows about 0).
  std::vector<double> cosines;
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
    const auto trained = adapter.lora_A.value().span();
    const auto& initial = initial_a[cosines.size()];
    double dot = 0, trained_norm = 0, initial_norm = 0;
    for (std::size_t i = 0; i < trained.size(); ++i) {
      dot += double(trained[i]) * initial[i];
      trained_norm += double(trained[i]) * trained[i];
      initial_norm += double(initial[i]) * initial[i];
    }
    cosines.push_back(dot / std::sqrt(std::max(trained_norm * initial_norm, 1e-300)));
  });
  std::sort(cosines.begin(), cosines.end());
  std::fprintf(stderr, "each trained A against the A it was drawn as: cosine %.3f (lowest) / %.3f (median) over %zu adapters\n",
               cosines.front(), cosines[cosines.size() / 2], cosines.size());
  run.load_seconds = loading.seconds();
  std::fprintf(stderr, "loaded %s and %s (%.1f s)\n", (from / "base").c_str(), adapter_dir.c_str(), run.load_seconds);

  run.result = adapter_sae(adapters, initial_a, settings, run.plan, out);
  const auto& r = run.result;
  std::fprintf(stderr, "autoencoder: %lld tokens, %lld steps (%.1f s); held-out problems: FVU %.4f (JumpReLU %.4f), L0 %.2f, dead %.1f%%; "
               "loss recovered %.1f%%\n",
               static_cast<long long>(r.training_tokens), static_cast<long long>(r.steps), r.train_seconds, r.problems_batch_top_k.fvu,
               r.problems_jump_relu.fvu, r.problems_batch_top_k.l0, 100 * r.problems_batch_top_k.dead_fraction, 100 * r.downstream.loss_recovered);
  write_report(run, out);
  std::fprintf(stderr, "report written to %s\n", (out / "report.md").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A TopK sparse autoencoder on the rank-1 adapters' state of lora_reasoning's model (arXiv 2511.06739)."};
  SaeRun sae_run;
  std::filesystem::path from, out = "runs/lora_sae";
  int threads = 0;
  app.add_option("--from", from, "a lora_reasoning output directory (its base/ and rank1_adapter/)")->required();
  app.add_option("--out", out, "output directory")->capture_default_str();
  app.add_option("--traces", sae_run.plan.traces, "finetune traces whose adapter state trains the autoencoder (a multiple of 64)")->capture_default_str();
  app.add_option("--passes", sae_run.plan.passes, "passes of the autoencoder over them, each in a new order")->capture_default_str();
  app.add_option("--problems", sae_run.plan.problems, "held-out test problems per tier to measure on")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (default: all)");
  CLI11_PARSE(app, argc, argv);
  std::ostringstream command;
  for (int i = 0; i < argc; ++i) command << (i ? " " : "") << argv[i];
  sae_run.command = command.str();
  sae_run.source = from.string();
  try {
    check_before_start(sae_run.plan, from, out);
    if (threads > 0) cpu::set_all_threads(threads);
    cpu::check_openblas_core();
    return run(sae_run, from, out);
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "lora_sae: %s\n", failure.what());
    return 1;
  }
}
