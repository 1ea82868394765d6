// paper_report: the one report of both papers' results, from the output directory of
// scripts/run_main.sh (the pipeline). It reads what the stages wrote and writes
// <out>/report.md and <out>/report.html (the same content; the plots are the stages' SVGs).
//
//   paper_report --out runs/main
//
// A stage that did not run (--skip, --only) leaves its section saying so; a stage's file that is
// there but damaged is an error naming the file.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "icl_section.hpp"
#include "ranklens/io/atomic_file.hpp"
#include "reasoning_section.hpp"
#include "report_document.hpp"
#include "report_numbers.hpp"

using namespace paper_report;

namespace {

// The pipeline's stages in order, as scripts/run_main.sh names them.
const std::vector<std::string> stage_names{"icl", "icl-plateau", "icl-names", "icl-coins", "reasoning", "sae"};

std::string not_run(const std::string& stage) {
  return "*Stage `" + stage + "` has not run in this directory (skipped, or not finished yet).*";
}

Document build(const std::filesystem::path& out) {
  Document doc;
  const auto run = read_json_if_present(out / "run.json").value_or(nlohmann::json::object());
  doc.heading(1, "ranklens: both papers at laptop scale");
  doc.paragraph("Two research results reproduced by the example programs of ranklens, a header-only C++20 autodiff library: "
                "**next-token pretraining implies in-context learning**, and **rank-1 LoRA adapters carry reasoning** "
                "(with interpretable activations and a sparse autoencoder on them). Each number below was measured by the "
                "command shown with its stage; docs/experiments.md explains the design of each experiment.");

  // Where and how this was made.
  std::vector<std::vector<std::string>> stage_rows;
  double total = 0;
  if (const auto build_time = read_json_if_present(out / "stages" / "build.json")) {
    stage_rows.push_back({"build (Release)", seconds(number_at(*build_time, "seconds")), "`" + build_time->value("command", std::string()) + "`"});
    total += number_at(*build_time, "seconds");
  }
  for (const auto& stage : stage_names)
    if (const auto done = read_json_if_present(out / "stages" / (stage + ".json"))) {
      stage_rows.push_back({stage, seconds(number_at(*done, "seconds")), "`" + done->value("command", std::string()) + "`"});
      total += number_at(*done, "seconds");
    } else {
      stage_rows.push_back({stage, "not run", ""});
    }
  stage_rows.push_back({"total", seconds(total), ""});
  doc.paragraph("Made by `" + run.value("command", std::string("scripts/run_main.sh")) + "` (scale " + run.value("scale", std::string("?")) +
                ", ranklens " + run.value("version", std::string("?")) + ") on " + run.value("cpu", std::string("an unrecorded CPU")) + ", " +
                "threads: " + std::to_string(run.value("threads", 0)) + ".");
  doc.table({"stage", "wall time", "command"}, stage_rows, "lrl");

  doc.heading(2, "1. Next-token pretraining implies in-context learning");
  doc.paragraph("Transformers trained on sequences from non-ergodic sources (each sequence from its own random source) learn to "
                "infer the source in context: their loss follows the Bayes-optimal predictor, falls as a power law in the position, "
                "and training shows a phase transition when induction heads form.");
  if (const auto s = read_json_if_present(out / "icl" / "markov" / "summary.json"))
    markov_section(doc, *s, "icl/markov");
  else
    doc.paragraph(not_run("icl"));
  if (const auto s = read_json_if_present(out / "icl" / "plateau" / "summary.json"))
    plateau_section(doc, *s, "icl/plateau");
  else
    doc.paragraph(not_run("icl-plateau"));
  if (const auto s = read_json_if_present(out / "icl" / "names" / "summary.json"))
    names_section(doc, *s, "icl/names");
  else
    doc.paragraph(not_run("icl-names"));
  if (const auto s = read_json_if_present(out / "icl" / "coins" / "summary.json"))
    coins_section(doc, *s, "icl/coins");
  else
    doc.paragraph(not_run("icl-coins"));

  doc.heading(2, "2. Rank-1 LoRA carries reasoning");
  if (const auto r = read_json_if_present(out / "reasoning" / "results.json"))
    reasoning_section(doc, *r, "reasoning");
  else
    doc.paragraph(not_run("reasoning"));
  doc.heading(3, "A sparse autoencoder on the adapters' state");
  if (const auto r = read_json_if_present(out / "sae" / "results.json"))
    sae_section(doc, *r, "sae");
  else
    doc.paragraph(not_run("sae"));

  doc.heading(2, "Going further");
  doc.bullets({"`scripts/run_main.sh --scale medium --out runs/medium`: longer runs, more evaluation problems and traces.",
               "`build/examples/icl_emergence --k 3 --alpha 0.5`: other Markov priors; `--process names|coins` for the other two experiments.",
               "`build/examples/lora_reasoning --ranks 1,2 --trace-sweep 10,30,100`: ranks and data of the reasoning experiment.",
               "`build/examples/lora_sae --from runs/main/reasoning --passes 16`: the autoencoder on the adapters' state, trained longer.",
               "`build/examples/sae_k_sweep`: autoencoders of several K on one activation set.",
               "The PEFT adapter and SAELens directories load in PyTorch: docs/files.md shows how."});
  return doc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes report.md and report.html of both papers from a run_main.sh output directory."};
  std::filesystem::path out = "runs/main";
  app.add_option("--out", out, "the pipeline's output directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (!std::filesystem::is_directory(out)) throw std::runtime_error("--out " + out.string() + ": no such directory");
    const Document doc = build(out);
    ranklens::io::write_text_atomically(out / "report.md", to_markdown(doc));
    ranklens::io::write_text_atomically(out / "report.html", to_html(doc, "ranklens: both papers at laptop scale"));
    std::printf("wrote %s and %s\n", (out / "report.md").c_str(), (out / "report.html").c_str());
    return 0;
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "paper_report: %s\n", failure.what());
    return 1;
  }
}
