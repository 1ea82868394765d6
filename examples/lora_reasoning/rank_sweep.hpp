// The finetunes: full, and LoRA for every rank of a compile-time list (Boost.Hana), each from
// a copy of the same base, on the same traces, graded on the same held-out problems.
#pragma once
#include <boost/hana.hpp>

#include <string>
#include <vector>

#include "reasoning_training.hpp"

namespace lora_reasoning {

namespace hana = boost::hana;

// The ranks this program is compiled for: each instantiates LoraAdapters<Rank, Model>.
inline constexpr auto compiled_ranks = hana::tuple_c<index_t, 1, 2, 4, 8, 16>;

inline std::vector<index_t> compiled_rank_list() {
  std::vector<index_t> ranks;
  hana::for_each(compiled_ranks, [&](auto rank) { ranks.push_back(decltype(rank)::value); });
  return ranks;
}

struct FinetuneOutcome {
  std::string name;       // "full", "rank 1", ...
  index_t rank = 0;       // 0: full finetune
  index_t traces = 0;
  Scores scores;
  index_t trainable = 0;  // parameters trained
  double seconds = 0;     // training wall time
  double final_loss = 0;
};

inline double tail_loss(const train::History& history) {
  const std::size_t n = history.train_loss.size(), from = n - std::min<std::size_t>(n, 20);
  double sum = 0;
  for (std::size_t i = from; i < n; ++i) sum += history.train_loss[i];
  return n ? sum / double(n - from) : 0.0;
}

inline FinetuneOutcome finetune_full(const Model& base, const Settings& settings, index_t traces, const EvaluationSets& sets) {
  Model model = base;
  const Stopwatch watch;
  const auto history = train_on(model, parameters(model), trace_batches(settings, traces), settings.finetune_steps, settings.full_lr, settings);
  return {"full", 0, traces, evaluate(model, sets.plain), parameter_count(model), watch.seconds(), tail_loss(history)};
}

// A LoRA finetune of rank Rank; `inspect(adapters, initial_a)` sees the trained adapters (and
// the A each started from) before they go.
template <index_t Rank, class Inspect>
FinetuneOutcome finetune_lora(const Model& base, const Settings& settings, index_t traces, const EvaluationSets& sets, Inspect&& inspect) {
  Model model = base;
  LoraAdapters<Rank, Model> adapters(model, {.options = {.alpha = settings.lora_alpha, .rslora = true}, .seed = adapter_seed(settings, Rank)});
  std::vector<std::vector<float>> initial_a;
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
    initial_a.emplace_back(adapter.lora_A.value().span().begin(), adapter.lora_A.value().span().end());
  });
  const Stopwatch watch;
  const auto history = train_on(model, adapters.parameters(), trace_batches(settings, traces), settings.finetune_steps, settings.lora_lr, settings);
  const double seconds = watch.seconds();
  adapters.set_training(false);
  FinetuneOutcome outcome{"rank " + std::to_string(Rank), Rank, traces, evaluate(model, sets.plain), adapters.trainable_parameter_count(),
                          seconds, tail_loss(history)};
  inspect(adapters, initial_a);
  return outcome;
}

// finetune_lora for each compiled rank in `wanted`, in order.
template <class Inspect>
std::vector<FinetuneOutcome> rank_sweep(const Model& base, const Settings& settings, const std::vector<index_t>& wanted, const EvaluationSets& sets,
                                        Inspect&& inspect) {
  std::vector<FinetuneOutcome> outcomes;
  hana::for_each(compiled_ranks, [&](auto rank) {
    constexpr index_t R = decltype(rank)::value;
    if (std::find(wanted.begin(), wanted.end(), R) == wanted.end()) return;
    std::fprintf(stderr, "  rank %lld finetune\n", static_cast<long long>(R));
    outcomes.push_back(finetune_lora<R>(base, settings, settings.traces, sets, inspect));
  });
  return outcomes;
}

}  // namespace lora_reasoning
