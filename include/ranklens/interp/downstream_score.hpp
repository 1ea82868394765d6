// What a model loses when one of its activations is replaced, say by a sparse autoencoder's
// reconstruction: the model runs clean, with the replacement spliced in, and with the activation
// zero-ablated, and the three runs are compared (SAELens' evals, get_recons_loss; Gao et al.
// 2024's downstream loss):
//
//   loss_*          mean next-token cross-entropy over the positions whose target is not ignored
//   loss_recovered  (loss_ablated − loss_spliced) / (loss_ablated − loss_clean)   SAELens' ce_loss_score
//   kl_*            mean over positions of KL(clean ‖ run), summed over the vocabulary: every
//                   position (SAELens' way), or only those whose target counts in the losses
//                   (KlPositions::scored: a padded batch's PAD positions, which no loss reads,
//                   then cannot dominate the KL)
//   kl_recovered    (kl_ablated − kl_spliced) / kl_ablated                          SAELens' kl_div_score
//
// 1 means the replacement costs the model nothing; 0 means it is as bad as deleting the
// activation. Two entry points: downstream_score(logits_for, targets) for any model, given a
// function that runs it in each of the three modes; downstream_score_at_hook for models with
// named hook points (nn/hooks.hpp), given the hook's name and the replacement.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/interp/predictive_kl.hpp"
#include "ranklens/nn/hooks.hpp"

namespace ranklens::interp {

enum class SpliceMode { clean, replaced, zero_ablated };
enum class KlPositions { all, scored };

struct DownstreamScore {
  double loss_clean = 0, loss_spliced = 0, loss_ablated = 0;
  double loss_recovered = 0;
  double kl_spliced = 0, kl_ablated = 0;
  double kl_recovered = 0;
  index_t positions = 0;  // positions the KL is the mean over; the losses skip ignored targets
};

// logits_for(mode): the model's logits (batch, seq, vocab), as a LogitTensor, in that mode.
// targets: (batch, seq) next-token ids; ignore_index marks positions left out of the losses.
template <class LogitsFor, class Targets>
DownstreamScore downstream_score(LogitsFor&& logits_for, const Targets& targets, std::int32_t ignore_index = -100,
                                 KlPositions kl_at = KlPositions::all) {
  const auto clean = logits_for(SpliceMode::clean);
  const auto spliced = logits_for(SpliceMode::replaced);
  const auto ablated = logits_for(SpliceMode::zero_ablated);
  const index_t batch = clean.extent(0), seq = clean.extent(1), vocab = clean.extent(2);
  for (const auto* other : {&spliced, &ablated})
    if (other->extent(0) != batch || other->extent(1) != seq || other->extent(2) != vocab)
      throw shape_error("downstream_score: the three runs gave logits of different shapes");
  if (targets.extent(0) != batch || targets.extent(1) != seq)
    throw shape_error("downstream_score: targets of shape (" + std::to_string(targets.extent(0)) + ", " + std::to_string(targets.extent(1)) +
                      ") for logits of shape (" + std::to_string(batch) + ", " + std::to_string(seq) + ", " + std::to_string(vocab) + ")");
  DownstreamScore score;
  std::vector<double> log_clean, log_spliced, log_ablated;
  index_t scored = 0;
  for (index_t b = 0; b < batch; ++b)
    for (index_t t = 0; t < seq; ++t) {
      const std::int32_t target = targets(b, t);
      const bool counted = target != ignore_index;
      if (counted && (target < 0 || target >= vocab))
        throw value_error("downstream_score: target " + std::to_string(target) + " at (" + std::to_string(b) + ", " + std::to_string(t) +
                          ") is outside the vocabulary of " + std::to_string(vocab));
      if (!counted && kl_at == KlPositions::scored) continue;
      log_probabilities_at(clean, b, t, log_clean);
      log_probabilities_at(spliced, b, t, log_spliced);
      log_probabilities_at(ablated, b, t, log_ablated);
      for (index_t j = 0; j < vocab; ++j) {
        const double p = std::exp(log_clean[std::size_t(j)]);
        if (p > 0) {
          score.kl_spliced += p * (log_clean[std::size_t(j)] - log_spliced[std::size_t(j)]);
          score.kl_ablated += p * (log_clean[std::size_t(j)] - log_ablated[std::size_t(j)]);
        }
      }
      ++score.positions;
      if (!counted) continue;
      score.loss_clean -= log_clean[std::size_t(target)];
      score.loss_spliced -= log_spliced[std::size_t(target)];
      score.loss_ablated -= log_ablated[std::size_t(target)];
      ++scored;
    }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (score.positions > 0) {
    score.kl_spliced /= double(score.positions);
    score.kl_ablated /= double(score.positions);
  }
  if (scored > 0) {
    score.loss_clean /= double(scored);
    score.loss_spliced /= double(scored);
    score.loss_ablated /= double(scored);
  }
  score.loss_recovered = score.loss_ablated != score.loss_clean
                             ? (score.loss_ablated - score.loss_spliced) / (score.loss_ablated - score.loss_clean)
                             : nan;
  score.kl_recovered = score.kl_ablated > 0 ? (score.kl_ablated - score.kl_spliced) / score.kl_ablated : nan;
  return score;
}

// For a model with hook points: runs model(tokens) three times with the hook `hook_name`
// passing the activation on, replacing it by replace(activation), or replacing it by zeros.
// Activation is the hook's activation type (e.g. Model::residual_activation for
// "blocks.1.hook_resid_post"). The point must have no hooks of its own (they would run too);
// it is left without hooks afterwards, also when an exception leaves early.
template <VarType Activation, class Model, class Tokens, class Targets, class Replace>
DownstreamScore downstream_score_at_hook(Model& model, std::string_view hook_name, const Tokens& tokens, const Targets& targets, Replace&& replace,
                                         std::int32_t ignore_index = -100) {
  bool found = false, empty = false;
  for_each_hook_point(model, [&](std::string_view name, const auto& point) {
    if (name == hook_name) found = true, empty = point.empty();
  });
  if (!found)
    throw value_error("downstream_score_at_hook: there is no hook point named '" + std::string(hook_name) +
                      "'; valid names: " + summarize_hook_names(hook_names(model)));
  if (!empty)
    throw value_error("downstream_score_at_hook: the hook point '" + std::string(hook_name) +
                      "' already has hooks; remove them first (they would run in every mode)");
  SpliceMode mode = SpliceMode::clean;
  model.add_hook(std::string(hook_name), [&](const Activation& activation) -> Activation {
    if (mode == SpliceMode::replaced) return replace(activation);
    if (mode == SpliceMode::zero_ablated) {
      auto zeros = new_var<typename Activation::value_type, typename Activation::shape_type>(activation.shape(), false);
      std::fill(zeros.mutable_data(), zeros.mutable_data() + zeros.numel(), typename Activation::value_type(0));
      return zeros;
    }
    return activation;
  });
  struct ClearOnExit {
    Model& model;
    std::string_view name;
    ~ClearOnExit() {
      for_each_hook_point(model, [&](std::string_view point_name, auto& point) {
        if (point_name == name) point.clear();
      });
    }
  } clear_on_exit{model, hook_name};
  auto guard = no_grad();
  return downstream_score(
      [&](SpliceMode run) {
        mode = run;
        auto scope = tape();
        return model(tokens).to_tensor();
      },
      targets, ignore_index);
}

}  // namespace ranklens::interp
