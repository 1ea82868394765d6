// Evaluation loss by sequence position: the mean loss at position t over every evaluation
// sequence, for t = 0 .. T−1. How the loss falls along the context is the measurement of an
// in-context-learning experiment (compare it with the Bayes-optimal curves of
// data/loss_curves.hpp); its mean over positions is the ordinary evaluation loss.
//
//   auto result = evaluate_by_position([&](index_t i) {                // under no_grad, one tape per batch
//     const auto& batch = eval_batches[i];
//     return cross_entropy_per_row(model(batch.tokens), batch.targets.view());   // (batch, seq) losses
//   }, eval_batches.size());
//   result.mean_loss; result.loss_by_position[t];
//
// Targets equal to ignore_index get loss 0 from cross_entropy_per_row; to leave them out of the
// means, return PositionLosses{losses, targets} instead of the losses alone.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ranklens/autograd/grad_mode.hpp"
#include "ranklens/autograd/var.hpp"
#include "ranklens/cpu/cross_entropy_args.hpp"

namespace ranklens::train {

// Per-position losses (batch, seq) with the targets they were computed against: entries whose
// target is ignore_index are not counted. The targets are copied, so a batch made inside the
// evaluation function may go out of scope when it returns.
template <Real T>
struct PositionLosses {
  PositionLosses(const Var<T, Shape<dyn, dyn>>& losses, TensorView<const std::int32_t, Shape<dyn, dyn>> targets,
                 std::int32_t ignore_index = cpu::default_ignore_index)
      : losses(losses), targets(to_tensor(targets)), ignore_index(ignore_index) {}

  Var<T, Shape<dyn, dyn>> losses;
  Tensor<std::int32_t, Shape<dyn, dyn>> targets;
  std::int32_t ignore_index;
};

struct EvalResult {
  double mean_loss = std::numeric_limits<double>::quiet_NaN();  // over every counted entry
  std::vector<double> loss_by_position;                          // NaN where nothing was counted
  index_t counted = 0;                                           // entries in the means
};

// Running sums of losses by position. Sums are in double and in a fixed order, so the same
// losses give the same means bit for bit.
class LossByPosition {
 public:
  // losses: (batch, seq). With targets (same shape), entries whose target is ignore_index are skipped.
  template <Real T>
  void add(TensorView<const T, Shape<dyn, dyn>> losses, TensorView<const std::int32_t, Shape<dyn, dyn>> targets = {},
           std::int32_t ignore_index = cpu::default_ignore_index) {
    const bool masked = targets.data() != nullptr;
    if (masked && targets.shape() != losses.shape())
      throw shape_error("LossByPosition::add: losses " + to_string(losses.shape()) + " and targets " + to_string(targets.shape()) +
                        " must have the same shape");
    const index_t batch = losses.extent(0), positions = losses.extent(1);
    if (std::size_t(positions) > sums_.size()) {
      sums_.resize(std::size_t(positions), 0.0);
      counts_.resize(std::size_t(positions), 0);
    }
    for (index_t b = 0; b < batch; ++b)
      for (index_t t = 0; t < positions; ++t) {
        if (masked && targets(b, t) == ignore_index) continue;
        sums_[std::size_t(t)] += double(losses(b, t));
        ++counts_[std::size_t(t)];
      }
  }

  EvalResult result() const {
    EvalResult out;
    double total = 0;
    out.loss_by_position.resize(sums_.size());
    for (std::size_t t = 0; t < sums_.size(); ++t) {
      out.loss_by_position[t] = counts_[t] > 0 ? sums_[t] / double(counts_[t]) : std::numeric_limits<double>::quiet_NaN();
      total += sums_[t];
      out.counted += counts_[t];
    }
    if (out.counted > 0) out.mean_loss = total / double(out.counted);
    return out;
  }

  void clear() {
    sums_.clear();
    counts_.clear();
  }

 private:
  std::vector<double> sums_;
  std::vector<index_t> counts_;
};

namespace detail {
template <class R> struct is_position_losses : std::false_type {};
template <class T> struct is_position_losses<PositionLosses<T>> : std::true_type {};
}  // namespace detail

// Calls losses_of_batch(i) for i = 0 .. batches − 1, each in its own tape scope under no_grad,
// and averages what they return: a (batch, seq) Var of per-position losses, or PositionLosses.
template <class LossesOfBatch>
EvalResult evaluate_by_position(LossesOfBatch&& losses_of_batch, index_t batches) {
  LossByPosition totals;
  auto guard = no_grad();
  for (index_t i = 0; i < batches; ++i) {
    auto scope = tape();
    const auto losses = losses_of_batch(i);
    using R = std::remove_cvref_t<decltype(losses)>;
    if constexpr (detail::is_position_losses<R>::value) {
      totals.add(losses.losses.value(), losses.targets.view(), losses.ignore_index);
    } else {
      static_assert(is_var<R>::value && R::rank == 2,
                    "evaluate_by_position: the function must return a (batch, seq) Var of losses or PositionLosses.");
      totals.add(losses.value());
    }
  }
  return totals.result();
}

}  // namespace ranklens::train
