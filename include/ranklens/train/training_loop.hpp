// train::run: the usual loop around train_step, for runs that want nothing unusual.
//
//   auto history = train::run(optimizer,
//       [&](index_t t) { return make_batch(seed, t); },                                  // batch source
//       [&](const Batch& b) { return cross_entropy(model(b.tokens), b.targets); },      // loss of a batch
//       {.steps = 2000, .lr_schedule = WarmupCosineLr{...}, .max_grad_norm = 1.0,
//        .eval_every = 200, .eval_batches = 8, .metrics_csv = "runs/a/metrics.csv"},
//       [&](index_t i) { const auto b = make_batch(eval_seed, i);                        // per-position losses
//                        return cross_entropy_per_row(model(b.tokens), b.targets.view()); });
//
// Step t (0-based) trains on next_batch(t) at lr_schedule(t); a record (metrics_writer.hpp) is
// written after every log_every steps, after every evaluation and after the last step, and a
// progress line (progress_line.hpp) shows on stderr. Evaluation (evaluate.hpp) runs after every
// eval_every steps and after the last one, under no_grad.
//
// The loop draws no random numbers and reads no clock that changes a result: given batch and
// loss functions that depend only on their arguments (seed the data by step, e.g.
// Rng::for_stream(seed, t)), two runs give the same losses bit for bit on one machine.
// Only the timings (tokens per second, elapsed) differ. Each piece (train_step,
// evaluate_by_position, MetricsWriter, ProgressLine) also serves hand-written loops.
//
// Resuming: with checkpoint_every > 0 the loop calls checkpoint(done) after every
// checkpoint_every steps (not after the last), where the caller saves the model, the optimizer
// and whatever else it needs (io/checkpoint.hpp). A run restored from the checkpoint of step s
// and started with first_step = s runs steps s .. steps − 1 and ends with the same parameters
// and losses, bit for bit, as the run that never stopped; its History holds those steps only.
// Records match too when s is a multiple of log_every (a record's window never straddles s).
#pragma once
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ranklens/train/evaluate.hpp"
#include "ranklens/train/metrics_writer.hpp"
#include "ranklens/train/progress_line.hpp"
#include "ranklens/train/train_step.hpp"

namespace ranklens::train {

struct LoopOptions {
  index_t steps = 0;
  std::function<double(index_t)> lr_schedule{};  // the lr of step t (optim/lr_schedule.hpp); empty: the optimizer's own
  double max_grad_norm = 0;                     // > 0: clip the global gradient norm to it
  ParameterList clip_parameters{};                // what clipping measures; empty: the optimizer's parameters()
  index_t eval_every = 0;                       // > 0: evaluate after every eval_every steps and after the last
  index_t eval_batches = 1;                     // evaluation batches 0 .. eval_batches − 1
  bool eval_at_start = false;                   // also evaluate the untrained model (a record at step 0)
  index_t log_every = 1;                        // a record after every log_every steps
  index_t tokens_per_step = 0;                  // for tokens/s; 0: the batch's tokens.numel() (or .size()) if it has them
  std::filesystem::path metrics_csv{};            // empty: no CSV
  std::filesystem::path metrics_jsonl{};          // empty: no JSON lines
  LineFile::mode metrics_mode = LineFile::mode::replace;  // append: continue the files of a resumed run
  bool progress = true;                         // the live line on stderr
  ProgressOptions progress_options{};
  index_t first_step = 0;                       // > 0: resume; the model and optimizer hold step first_step's state
  index_t checkpoint_every = 0;                 // > 0: checkpoint(done) after every checkpoint_every steps
  std::function<void(index_t)> checkpoint{};      // saves what a resume at step `done` needs
};

struct History {
  std::vector<double> train_loss{};  // the loss of every step, in order
  std::vector<Record> records{};     // every record written
};

// The evaluation function of a run that does not evaluate.
struct NoEvaluation {};

namespace detail {
template <class Batch>
index_t tokens_in(const Batch& batch) {
  if constexpr (requires { batch.tokens.numel(); })
    return index_t(batch.tokens.numel());
  else if constexpr (requires { batch.tokens.size(); })
    return index_t(batch.tokens.size());
  else
    return 0;
}

inline void check_loop_options(const LoopOptions& options) {
  if (options.steps < 0 || options.log_every < 1 || options.eval_every < 0 || options.eval_batches < 1 || options.tokens_per_step < 0)
    throw value_error("train::run: need steps >= 0, log_every >= 1, eval_every >= 0, eval_batches >= 1 and tokens_per_step >= 0; got " +
                      std::to_string(options.steps) + ", " + std::to_string(options.log_every) + ", " +
                      std::to_string(options.eval_every) + ", " + std::to_string(options.eval_batches) + ", " +
                      std::to_string(options.tokens_per_step));
  if (options.first_step < 0 || options.first_step > options.steps)
    throw value_error("train::run: first_step must lie in 0 .. steps (" + std::to_string(options.steps) + "), got " +
                      std::to_string(options.first_step));
  if (options.checkpoint_every < 0 || (options.checkpoint_every > 0 && !options.checkpoint))
    throw value_error("train::run: checkpoint_every must be >= 0, and > 0 needs a checkpoint function; got " +
                      std::to_string(options.checkpoint_every));
}
}  // namespace detail

// next_batch(t) → a batch; loss_of_batch(batch) → a one-element loss Var; eval_losses(i) → the
// (batch, seq) per-position losses of evaluation batch i, or PositionLosses (evaluate.hpp).
template <Optimizer O, class NextBatch, class LossOfBatch, class EvalLosses = NoEvaluation>
History run(O& optimizer, NextBatch&& next_batch, LossOfBatch&& loss_of_batch, const LoopOptions& options,
            EvalLosses&& eval_losses = {}) {
  constexpr bool can_evaluate = !std::is_same_v<std::remove_cvref_t<EvalLosses>, NoEvaluation>;
  detail::check_loop_options(options);
  if ((options.eval_every > 0 || options.eval_at_start) && !can_evaluate)
    throw value_error("train::run: eval_every or eval_at_start is set, but no evaluation function was given");

  const ParameterList* clipped = nullptr;
  if (options.max_grad_norm > 0) {
    if (!options.clip_parameters.empty())
      clipped = &options.clip_parameters;
    else if constexpr (requires { optimizer.parameters(); })
      clipped = &optimizer.parameters();
    else
      throw value_error("train::run: max_grad_norm > 0 needs LoopOptions::clip_parameters (this optimizer does not list its parameters)");
  }
  const auto lr_at = [&](index_t t) -> double {
    if (options.lr_schedule) return options.lr_schedule(t);
    if constexpr (requires { optimizer.lr(); })
      return optimizer.lr();
    else
      return std::numeric_limits<double>::quiet_NaN();
  };

  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  const auto seconds_since = [](clock::time_point from) { return std::chrono::duration<double>(clock::now() - from).count(); };

  MetricsWriter writer(options.metrics_csv, options.metrics_jsonl, options.metrics_mode);
  std::optional<ProgressLine> progress;
  if (options.progress) progress.emplace(options.steps, options.progress_options);
  History history;
  history.train_loss.reserve(std::size_t(options.steps - options.first_step));

  const auto evaluate_into = [&](Record& record) {
    if constexpr (can_evaluate) {
      EvalResult result = evaluate_by_position(eval_losses, options.eval_batches);
      record.eval_loss = result.mean_loss;
      record.eval_loss_by_position = std::move(result.loss_by_position);
      if (progress) progress->set_eval_loss(result.mean_loss);
    }
  };
  const auto publish = [&](Record& record) {
    record.elapsed_seconds = seconds_since(started);
    writer.write(record);
    history.records.push_back(std::move(record));
  };

  if (options.eval_at_start && options.first_step == 0) {
    Record record{.step = 0, .lr = lr_at(0)};
    evaluate_into(record);
    publish(record);
  }

  // Steps since the last record: their losses, tokens and training time.
  double window_loss = 0, window_seconds = 0;
  index_t window_steps = 0, window_tokens = 0;
  if (progress) progress->resume_from(options.first_step);
  for (index_t t = options.first_step; t < options.steps; ++t) {
    const double lr = lr_at(t);
    const auto step_started = clock::now();
    const auto batch = next_batch(t);
    const index_t tokens = options.tokens_per_step > 0 ? options.tokens_per_step : detail::tokens_in(batch);
    if (options.lr_schedule) optimizer.set_lr(lr);
    const StepResult step =
        train_step(optimizer, [&] { return loss_of_batch(batch); }, {.max_grad_norm = options.max_grad_norm, .parameters = clipped});
    window_seconds += seconds_since(step_started);
    history.train_loss.push_back(step.loss);
    window_loss += step.loss;
    window_tokens += tokens;
    ++window_steps;

    const index_t done = t + 1;
    const bool evaluate_now = options.eval_every > 0 && (done % options.eval_every == 0 || done == options.steps);
    if (done % options.log_every == 0 || done == options.steps || evaluate_now) {
      Record record{.step = done, .lr = lr, .train_loss = window_loss / double(window_steps), .grad_norm = step.grad_norm};
      if (window_tokens > 0 && window_seconds > 0) record.tokens_per_second = double(window_tokens) / window_seconds;
      if (evaluate_now) evaluate_into(record);
      publish(record);
      window_loss = window_seconds = 0;
      window_steps = window_tokens = 0;
    }
    if (progress) progress->update(done, step.loss, tokens);
    if (options.checkpoint_every > 0 && done % options.checkpoint_every == 0 && done < options.steps) options.checkpoint(done);
  }
  if (progress) progress->finish();
  return history;
}

}  // namespace ranklens::train
