// The paper's second analysis on the rank-1 adapters' state: a BatchTopK SparseAutoencoder<16>
// with 8× expansion (224 latents over the 28 adapters' scalars; Adam 5e-4, batches of 256
// tokens, warm-up and cosine decay) trained on finetune traces, then measured
//
//   on unseen traces and on the held-out test problems: FVU, L0, dead and dense latents, in the
//     BatchTopK form it trains with and in the JumpReLU form of the threshold it estimated;
//   downstream, on the held-out problems: the reconstruction spliced back in place of every
//     adapter's A·x (LoraAdapters::replace_state), against the clean model and the adapters
//     switched off (the state zero-ablated): loss and KL recovered;
//   by what its latents respond to, on the same corpus as the adapter directions and the MLP
//     neurons (lora_reasoning's adapter_analysis.hpp): classes by role purity, and categories by
//     the dominant role (the paper's donut chart).
//
// The paper makes one pass over its traces; over this task's 90 thousand tokens one pass left
// half of the state's variance unexplained (FVU 0.53), so the default makes 8, each in a new order.
#pragma once
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "adapter_state.hpp"
#include "ranklens/interp/downstream_score.hpp"
#include "ranklens/interp/feature_dashboard.hpp"
#include "ranklens/io/saelens_files.hpp"
#include "ranklens/sae/sae_metrics.hpp"
#include "ranklens/sae/sae_trainer.hpp"

namespace lora_sae {

inline constexpr index_t adapter_sae_k = 16;
inline constexpr index_t adapter_sae_latents = 8 * adapter_state_width;
using AdapterSae = SparseAutoencoder<adapter_sae_k, adapter_state_width, adapter_sae_latents>;

struct SaeSettings {
  std::uint64_t seed = 1;        // lora_reasoning's: the held-out problems its accuracy is graded on
  index_t traces = 2048;         // finetune traces whose state trains the autoencoder (a multiple of 64)
  index_t passes = 8;
  index_t batch = 256;
  index_t held_out_traces = 256;  // unseen traces (a multiple of 64)
  index_t problems = 200;         // held-out test problems per tier
  index_t top_k = 20;             // strongest tokens per feature for its role classes
};

// What a feature's dominant role is about: the paper's donut chart sorts features into
// categories of this kind (arithmetic, formatting, reasoning markers).
enum class FeatureCategory { question, step_arithmetic, results, markers, layout, dead };
inline constexpr std::array<const char*, 6> feature_category_names{
    "the question (Q, digits, operators, ?)", "step arithmetic (#k, operands, operators, =)", "step results and the answer",
    "reasoning markers (T, W, A, E)", "layout (BOS, ;)", "dead"};

inline FeatureCategory category_of_role(std::int32_t role) {
  using R = reasoning::Role;
  switch (R(role)) {
    case R::question_marker: case R::question_end: case R::problem_digit: case R::problem_index:
    case R::problem_plus: case R::problem_minus: case R::problem_times:
      return FeatureCategory::question;
    case R::step_index: case R::step_left: case R::step_right: case R::step_plus: case R::step_minus: case R::step_times:
    case R::step_equals:
      return FeatureCategory::step_arithmetic;
    case R::start_value: case R::step_result: case R::wrong_result: case R::corrected_result: case R::restated_value:
    case R::answer_digit:
      return FeatureCategory::results;
    case R::think_marker: case R::answer_marker: case R::wait_marker: case R::end: case R::document_marker:
      return FeatureCategory::markers;
    default:
      return FeatureCategory::layout;  // bos, ';', pad, other
  }
}

// The share of `set`'s features in each category (by each live feature's dominant role).
inline std::array<double, feature_category_names.size()> category_shares(const FeatureSet& set) {
  std::array<double, feature_category_names.size()> shares{};
  for (const auto& s : set.summaries) {
    const auto c = s.top_tokens.empty() ? FeatureCategory::dead : category_of_role(s.dominant_role);
    shares[std::size_t(c)] += 1.0 / double(set.summaries.size());
  }
  return shares;
}

struct AdapterSaeResult {
  index_t training_tokens = 0, steps = 0;
  double threshold = 0;  // the JumpReLU threshold estimated in training
  // On unseen traces and on the held-out problems; both activation forms.
  SaeEvaluation traces_batch_top_k{}, traces_jump_relu{}, problems_batch_top_k{}, problems_jump_relu{};
  interp::DownstreamScore downstream{};  // on the held-out problems, the JumpReLU reconstruction spliced in
  FeatureSet latents;
  FeatureComparison features;  // trained adapters, untrained A, MLP neurons: on the same corpus
  double train_seconds = 0, seconds = 0;
};

// Every logit of `batches`, stacked by row, each run under no_grad.
template <class Forward>
Tensor<float, Shape<dyn, dyn, BaseConfig::vocab_size>> stacked_logits(const std::vector<reasoning::ReasoningBatch>& batches, Forward&& forward) {
  index_t rows = 0;
  for (const auto& b : batches) rows += b.rows();
  const index_t seq = batches.front().seq_len();
  Tensor<float, Shape<dyn, dyn, BaseConfig::vocab_size>> all(Shape<dyn, dyn, BaseConfig::vocab_size>{rows, seq});
  index_t row = 0;
  for (const auto& b : batches) {
    const auto logits = forward(b);
    std::copy_n(logits.data(), logits.numel(), all.data() + row * seq * BaseConfig::vocab_size);
    row += b.rows();
  }
  return all;
}

// The model's loss and KL on `batches` (both over the response tokens: a held-out problem's
// trace is padded to the batch's width, and the PAD positions are no text) clean, with every
// adapter's A·x replaced by the autoencoder's JumpReLU reconstruction of the state, and with
// the adapters off.
inline interp::DownstreamScore spliced_score(Adapters& adapters, const AdapterSae& sae, const std::vector<reasoning::ReasoningBatch>& batches) {
  Model& model = adapters.model();
  const auto logits_of = [&](const reasoning::ReasoningBatch& b) {
    auto step = tape();
    auto guard = no_grad();
    return model(b.tokens.view()).to_tensor();
  };
  const auto reconstructed = [&](const StateTable& state) {
    auto step = tape();
    auto guard = no_grad();
    AdapterState x(Shape<dyn, adapter_state_width>{state.extent(0)});
    std::copy_n(state.data(), state.numel(), x.data());
    const auto x_hat = sae.reconstruct(constant(x), SaeActivation::jump_relu).to_tensor();
    StateTable out(state.shape());
    std::copy_n(x_hat.data(), x_hat.numel(), out.data());
    return out;
  };
  index_t rows = 0;
  for (const auto& b : batches) rows += b.rows();
  reasoning::TokenMatrix targets(Shape<dyn, dyn>{rows, batches.front().seq_len()});
  index_t at = 0;
  for (const auto& b : batches) std::copy_n(b.targets.data(), b.targets.numel(), targets.data() + at), at += b.targets.numel();
  return interp::downstream_score(
      [&](interp::SpliceMode mode) {
        switch (mode) {
          case interp::SpliceMode::clean: return stacked_logits(batches, logits_of);
          case interp::SpliceMode::replaced:
            return stacked_logits(batches, [&](const reasoning::ReasoningBatch& b) {
              Tensor<float, Shape<dyn, dyn, BaseConfig::vocab_size>> logits;
              adapters.replace_state(reconstructed(capture_state(adapters, b)), [&] { logits = logits_of(b); });
              return logits;
            });
          default: {
            adapters.set_enabled([](const LoraSite&) { return false; });
            auto logits = stacked_logits(batches, logits_of);
            adapters.enable_all();
            return logits;
          }
        }
      },
      targets, reasoning::ignore_target, interp::KlPositions::scored);
}

// Trains and measures the autoencoder; writes the SAELens directory `adapter_sae/` and the
// dashboard `adapter_sae_dashboard.html` into `out`. initial_a: each adapter's A before
// training (the untrained comparison).
inline AdapterSaeResult adapter_sae(Adapters& adapters, const std::vector<std::vector<float>>& initial_a, const Settings& settings,
                                    const SaeSettings& plan, const std::filesystem::path& out, const interp::FeatureClassRule& rule = {}) {
  const Stopwatch watch;
  AdapterSaeResult result;
  const AdapterState state = state_without_padding(adapters, trace_batches(settings, plan.traces, plan.seed + 11000));
  const AdapterState held_out = state_without_padding(adapters, trace_batches(settings, plan.held_out_traces, plan.seed + 12000));
  const auto problem_batches = held_out_problem_batches(settings, plan.problems);
  const AdapterState problems = state_without_padding(adapters, problem_batches);
  result.training_tokens = state.extent(0);

  const Stopwatch training;
  Rng gen(plan.seed + 11002);
  AdapterSae sae(gen, SaeActivation::batch_top_k);
  sae.hook_name = "lora_adapters.rank1_state";
  const index_t steps = plan.passes * (result.training_tokens / plan.batch);
  SaeTrainer trainer(sae, {.lr = 5e-4, .warmup_steps = steps / 20, .decay_steps = steps, .dead_after_tokens = 20 * plan.batch * 10});
  result.steps = train_in_passes(trainer, state.view(), {.passes = plan.passes, .batch_rows = plan.batch}, gen);
  result.threshold = trainer.threshold_estimate();
  result.train_seconds = training.seconds();

  result.traces_batch_top_k = evaluate_sae(sae, held_out.view(), SaeActivation::batch_top_k);
  result.traces_jump_relu = evaluate_sae(sae, held_out.view(), SaeActivation::jump_relu);
  result.problems_batch_top_k = evaluate_sae(sae, problems.view(), SaeActivation::batch_top_k);
  result.problems_jump_relu = evaluate_sae(sae, problems.view(), SaeActivation::jump_relu);
  result.downstream = spliced_score(adapters, sae, problem_batches);

  // The latents on the feature corpus, densely, for the role summary and the dashboard; the
  // adapter directions and MLP neurons on the same corpus.
  const auto corpus = feature_corpus(settings, 64);
  result.features = compare_features(adapters, initial_a, corpus, settings.seed + 7, plan.top_k, rule);
  const StateTable corpus_state = capture_state(adapters, corpus.batch);
  const index_t tokens = corpus_state.extent(0);
  std::vector<float> latents(std::size_t(tokens * adapter_sae_latents), 0.0f);
  {
    auto step = tape();
    auto guard = no_grad();
    AdapterState x(Shape<dyn, adapter_state_width>{tokens});
    std::copy_n(corpus_state.data(), corpus_state.numel(), x.data());
    const auto code = sae.encode(constant(x), SaeActivation::batch_top_k);
    for (index_t r = 0; r < code.rows(); ++r)
      for (index_t e = code.row_begin(r); e < code.row_end(r); ++e)
        latents[std::size_t(r * adapter_sae_latents + code.latent(e))] = code.values.value()(e);
  }
  std::vector<std::string> labels;
  for (index_t j = 0; j < adapter_sae_latents; ++j) labels.push_back("S" + std::to_string(j));
  result.latents = summarize("SAE latents on the adapter state", labels, latents, corpus, plan.top_k, rule);

  io::save_saelens(sae, out / "adapter_sae");
  interp::FeatureDashboard dashboard(adapter_sae_latents,
                                     {.title = "SAE latents on the rank-1 adapter state",
                                      .description = "SparseAutoencoder<16>, " + std::to_string(adapter_sae_latents) + " latents over the " +
                                                     std::to_string(adapter_state_width) + " adapters' A·x, on finetune-format traces",
                                      .feature_labels = labels});
  const index_t width = corpus.batch.tokens.extent(1);
  for (index_t row = 0; row < corpus.batch.tokens.extent(0); ++row) {
    std::vector<std::string> names, roles;
    for (index_t p = 0; p < width && corpus.batch.tokens(row, p) != reasoning::token::pad; ++p) {
      names.push_back(reasoning::token_name(corpus.batch.tokens(row, p)));
      roles.push_back(std::string(reasoning::role_name(reasoning::Role(corpus.batch.roles(row, p)))));
    }
    const TensorView<const float, Shape<dyn, adapter_sae_latents>, cpu_t> row_latents(latents.data() + row * width * adapter_sae_latents,
                                                                                      Shape<dyn, adapter_sae_latents>{index_t(names.size())});
    dashboard.add_sequence(std::span<const std::string>(names), std::span<const std::string>(roles), row_latents);
  }
  dashboard.write(out / "adapter_sae_dashboard.html");
  result.seconds = watch.seconds();
  return result;
}

}  // namespace lora_sae
