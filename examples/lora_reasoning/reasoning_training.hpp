// The model, the training stages and the evaluation of the lora_reasoning experiment: a base
// pretrained on the synthetic reasoning task's mixture (data/reasoning_batches.hpp), finetuned
// fully or through LoRA adapters on worked traces, and graded by greedy generation on held-out
// problems of three tiers.
#pragma once
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "ranklens/adapt/lora_adapters.hpp"
#include "ranklens/data/reasoning_batches.hpp"
#include "ranklens/data/reasoning_evaluation.hpp"
#include "ranklens/nn/generate.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/lr_schedule.hpp"
#include "ranklens/train/training_loop.hpp"

namespace lora_reasoning {

using namespace ranklens;
namespace reasoning = ranklens::data::reasoning;

// A Qwen2-style decoder large enough that one rank-1 adapter on each of its 7·4 projections is
// about 1% of its parameters (the paper's is 0.026% of Qwen-2.5-32B). Qwen2's rotary θ = 1e6
// leaves most of the 32-wide heads' frequency pairs nearly position-free, which the copies by
// content ("#k" back to the question) need: with θ = 1e4 the operator copy had not formed after
// 2 000 steps of calibration, with 1e6 it forms within them.
struct BaseConfig : Qwen2Like<128, 4, 4, 2, reasoning::vocab_size, 512, /*TiedEmbeddings=*/true, 128> {};
using Model = Transformer<BaseConfig>;

struct Settings {
  std::uint64_t seed = 1;
  // Pretraining.
  // Calibrated: lr 3e-3 and 1e-2 learned less than 1e-3; the worked documents are 60% of the
  // mixture so that the step syntax is learnt within the step budget. At 2 500 steps the base
  // solved 15-18% behind D (chance is 10%), at 5 000 and 7 000 all of them; 5 000 (320-360 s
  // on 2 threads) keeps the main job within its 15 minutes. docs/experiments.md compares both.
  index_t pretrain_steps = 5000;
  double pretrain_lr = 1e-3;
  index_t pretrain_batch = 16;
  index_t seq_len = 96;
  double direct_weight = 0.35, worked_weight = 0.6, facts_weight = 0.05;
  // A checkpoint of the pretraining every this many steps (about 12 s on 2 cores; a save takes
  // a few milliseconds): what an interrupted run loses at most. Not part of the result.
  index_t checkpoint_every = 250;
  // Finetuning (the paper: lr 1e-3, cosine with 5% warm-up, AdamW betas 0.9/0.95, weight decay
  // 1e-4, alpha 16 with rsLoRA, dropout 0).
  index_t finetune_steps = 200;
  index_t finetune_batch = 16;
  index_t traces = 1000;
  double full_lr = 1e-3;
  double lora_lr = 1e-2;
  double lora_alpha = 16;
  // Evaluation: held-out problems per tier.
  index_t eval_problems = 200;
  bool progress = true;
};

// Wall time of a stage, for the report.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

inline std::vector<ParameterRef> trainable(std::vector<ParameterRef> all) {
  std::erase_if(all, [](const ParameterRef& p) { return *p.frozen; });
  return all;
}

// Next-token cross-entropy over the positions a batch trains on.
inline auto batch_loss(const Model& model, const reasoning::ReasoningBatch& batch) {
  return cross_entropy(model(batch.tokens.view()), batch.targets.view());
}

// Trains `parameters` of `model` on next_batch(t) for `steps` steps: AdamW (betas 0.9/0.95,
// weight decay 1e-4 as the paper) with 5% linear warm-up and a cosine to a tenth of the peak.
// `resume`, when given, sees the optimizer and the loop's options before the first step (to
// restore a checkpoint and set first_step and the checkpoint callback).
using ResumeHook = std::function<void(AdamW<>&, train::LoopOptions&)>;
template <class NextBatch>
train::History train_on(const Model& model, std::vector<ParameterRef> parameters, NextBatch&& next_batch, index_t steps, double lr,
                        const Settings& settings, double weight_decay = 1e-4, const ResumeHook& resume = {}) {
  AdamW optimizer(std::move(parameters), {.lr = lr, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = weight_decay});
  const WarmupCosineLr schedule{.peak_lr = lr, .warmup_steps = std::max<index_t>(1, steps / 20), .total_steps = steps, .min_lr = lr / 10};
  train::LoopOptions options{.steps = steps, .lr_schedule = schedule, .max_grad_norm = 1.0, .log_every = std::max<index_t>(1, steps / 50),
                             .progress = settings.progress};
  if (resume) resume(optimizer, options);
  return train::run(optimizer, next_batch, [&](const reasoning::ReasoningBatch& batch) { return batch_loss(model, batch); }, options);
}

// Pretrains `model` (freshly initialised from settings.seed) on the pretraining mixture.
inline train::History pretrain_into(Model& model, const Settings& settings, const ResumeHook& resume = {}) {
  reasoning::PretrainingMixture mixture{.batch_size = settings.pretrain_batch, .seq_len = settings.seq_len};
  mixture.direct_weight = settings.direct_weight;
  mixture.worked_weight = settings.worked_weight;
  mixture.facts_weight = settings.facts_weight;
  return train_on(
      model, parameters(model), [&](index_t t) { return mixture.batch(settings.seed, std::uint64_t(t)); }, settings.pretrain_steps,
      settings.pretrain_lr, settings, 0.01, resume);
}

inline Model pretrain(const Settings& settings, train::History* history = nullptr) {
  Rng init(settings.seed);
  Model model(init);
  auto result = pretrain_into(model, settings);
  if (history) *history = std::move(result);
  return model;
}

// The seed a rank-`rank` LoRA finetune draws its adapters' A from (LoraConfig::seed). lora_sae
// draws the rank-1 adapter's A again from it: its untrained comparison must start where the
// trained adapter did.
inline std::uint64_t adapter_seed(const Settings& settings, index_t rank) { return settings.seed + 100 + std::uint64_t(rank); }

inline reasoning::FinetuneTraces finetune_traces(const Settings& settings) {
  return {.batch_size = settings.finetune_batch, .seq_len = settings.seq_len};
}

// The finetune's batches: `traces` worked traces, loss on the response.
inline auto trace_batches(const Settings& settings, index_t traces) {
  return [traces_source = finetune_traces(settings), seed = settings.seed + 1000, traces](index_t t) {
    return traces_source.batch(seed, traces, std::uint64_t(t));
  };
}

// Accuracy per tier, and how the answers were given.
struct TierScore {
  index_t operators = 0;
  double accuracy = 0;
  double worked_share = 0;  // outputs that followed the trace syntax
};
using Scores = std::vector<TierScore>;

struct EvaluationSets {
  std::vector<reasoning::EvaluationSet> plain, document;
};

inline EvaluationSets make_evaluation_sets(const Settings& settings) {
  EvaluationSets sets;
  const reasoning::HeldOutSplit split;
  for (const index_t operators : reasoning::default_tiers) {
    sets.plain.push_back(reasoning::evaluation_set(split, operators, settings.eval_problems, settings.seed + 77, reasoning::Context::plain));
    sets.document.push_back(
        reasoning::evaluation_set(split, operators, settings.eval_problems, settings.seed + 77, reasoning::Context::document));
  }
  return sets;
}

// Greedy generation (KV cache) from each prompt until E, graded by exact match of the answer.
inline Scores evaluate(const Model& model, const std::vector<reasoning::EvaluationSet>& sets) {
  Scores scores;
  for (const auto& set : sets) {
    const index_t budget = reasoning::worked_response_length(set.operators, set.operators) + 4;
    const auto outputs = generate(model, set.prompts.view(),
                                  {.max_new_tokens = budget, .stop_token = reasoning::token::end});
    reasoning::GradeTally tally;
    for (std::size_t i = 0; i < outputs.size(); ++i) tally.add(reasoning::grade_output(set.problems[i], outputs[i]));
    scores.push_back({set.operators, tally.accuracy(), double(tally.worked) / double(std::max<index_t>(tally.outputs, 1))});
  }
  return scores;
}

inline std::string describe(const Scores& scores) {
  std::string text;
  for (const auto& s : scores) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%s%lld ops %.1f%% (worked %.0f%%)", text.empty() ? "" : ", ", static_cast<long long>(s.operators),
                  100 * s.accuracy, 100 * s.worked_share);
    text += buffer;
  }
  return text;
}

}  // namespace lora_reasoning
