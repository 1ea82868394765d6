// What the three icl_emergence experiments share: the options, the training loop on fresh
// batches of a synthetic source, the model's losses on fixed evaluation sequences, the head
// probes and small output helpers. Each experiment (markov_experiment.hpp,
// name_copying_experiment.hpp, coin_coupling_experiment.hpp) is a function template of the
// model type, so main.cpp alone decides which model is trained.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "ranklens/data/token_batch.hpp"
#include "ranklens/interp/induction_scores.hpp"
#include "ranklens/interp/predictive_kl.hpp"
#include "ranklens/ranklens.hpp"
#include "ranklens/train/line_file.hpp"
#include "ranklens/train/metrics_writer.hpp"
#include "ranklens/train/progress_line.hpp"
#include "ranklens/train/train_step.hpp"

namespace icl {

using namespace ranklens;
namespace fs = std::filesystem;

struct Options {
  std::string process = "markov";
  std::string model = "gpt2";  // markov: gpt2 (learned positions, LayerNorm) or edelman (rotary, no norm)
  // markov
  index_t states = 2;
  double alpha = 1.0;
  bool residual_sae = false;  // after training: an SAE on the residual stream (residual_sae.hpp)
  // names
  index_t fillers = 16;
  index_t names = 16;
  double marker_probability = 0.2;  // twice data::name_copying_source's: more NAME targets, a shorter plateau
  // coins
  std::vector<index_t> ensembles{1, 2, 3, 5, 9};
  double test_bias = 0.3;
  // training and evaluation (process defaults for context, steps and eval-every: see main.cpp)
  index_t context = 100;  // T: the model reads x_1..x_T and predicts x_2..x_{T+1}
  index_t steps = 10000;
  index_t batch = 64;
  double lr = 5e-3;
  double weight_decay = 0.0;
  std::uint64_t seed = 0;
  index_t eval_every = 25;
  index_t eval_sequences = 512;
  int threads = 1;
  std::string out = "runs/icl_emergence";
};

using TokenTensor = Tensor<std::int32_t, Shape<dyn, dyn>>;

// Rows [0, rows) of `sequences` (rows of `length` tokens) as model inputs: the first `width`
// tokens of each row, starting at `offset`.
inline TokenTensor token_window(const std::vector<std::int32_t>& sequences, index_t rows, index_t length, index_t offset, index_t width) {
  TokenTensor out(Shape<dyn, dyn>{rows, width});
  for (index_t b = 0; b < rows; ++b)
    for (index_t t = 0; t < width; ++t) out(b, t) = sequences[std::size_t(b * length + offset + t)];
  return out;
}

inline double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum / double(values.size());
}

inline std::string json(double value) { return train::detail::json_number(value); }

// Seconds since construction.
struct Stopwatch {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); }
};

// Evaluation every `eval_every` steps, at step 0 and at the last step.
struct TrainSettings {
  index_t steps, batch, context, eval_every;
  double lr, weight_decay;
  std::uint64_t data_seed;
};

// Trains on fresh batches of `source` (batch t holds streams t·batch .., T + 1 tokens each)
// with AdamW (warm-up over min(100, steps / 10), cosine to lr / 10, clipping at norm 1).
// evaluate(step) returns the record written to `metrics`; the loop adds the training columns.
template <class Model, data::token_process Source, class Evaluate>
void train_on_source(Model& model, const Source& source, const TrainSettings& settings, train::MetricsWriter& metrics,
                     const Stopwatch& clock, Evaluate&& evaluate) {
  AdamW optimizer(parameters(model), {.lr = settings.lr, .weight_decay = settings.weight_decay});
  const ParameterList params = parameters(model);
  const WarmupCosineLr schedule{.peak_lr = settings.lr, .warmup_steps = std::min<index_t>(100, settings.steps / 10),
                                .total_steps = settings.steps, .min_lr = settings.lr / 10};
  const index_t T = settings.context;
  std::vector<std::int32_t> sequences(std::size_t(settings.batch * (T + 1)));
  TokenTensor inputs(Shape<dyn, dyn>{settings.batch, T}), targets(Shape<dyn, dyn>{settings.batch, T});
  train::ProgressLine progress(settings.steps);
  {
    train::Record first = evaluate(index_t(0));
    first.elapsed_seconds = clock.seconds();
    metrics.write(first);
  }
  double loss_sum = 0;
  index_t losses_summed = 0;
  for (index_t step = 0; step < settings.steps; ++step) {
    data::sample_batch_into(source, settings.data_seed, settings.batch, T + 1, sequences, std::uint64_t(step * settings.batch));
    for (index_t b = 0; b < settings.batch; ++b)
      for (index_t t = 0; t < T; ++t) {
        inputs(b, t) = sequences[std::size_t(b * (T + 1) + t)];
        targets(b, t) = sequences[std::size_t(b * (T + 1) + t + 1)];
      }
    const double lr = schedule(step);
    const auto result = train::train_step(optimizer, [&] { return cross_entropy(model(inputs), targets); },
                                          {.lr = lr, .max_grad_norm = 1.0, .parameters = &params});
    loss_sum += result.loss;
    ++losses_summed;
    progress.update(step + 1, result.loss, settings.batch * T);
    if ((step + 1) % settings.eval_every == 0 || step + 1 == settings.steps) {
      train::Record record = evaluate(step + 1);
      record.lr = lr;
      record.train_loss = loss_sum / double(losses_summed);
      record.grad_norm = result.grad_norm;
      record.elapsed_seconds = clock.seconds();
      metrics.write(record);
      if (record.eval_loss) progress.set_eval_loss(*record.eval_loss);
      loss_sum = 0;
      losses_summed = 0;
    }
  }
  progress.finish();
}

// Captures the attention patterns of every layer of a one-head-per-layer model while
// `capturing` is set.
template <class Model>
struct PatternCapture {
  using Pattern = Tensor<float, Shape<dyn, 1, dyn, dyn>>;
  static constexpr index_t layers = Model::config::n_layers;
  bool capturing = false;
  Pattern patterns[layers];

  explicit PatternCapture(Model& model) {
    for (index_t layer = 0; layer < layers; ++layer)
      model.add_hook("blocks." + std::to_string(layer) + ".attn.hook_pattern", [this, layer](const typename Model::pattern_activation& p) {
        if (capturing) patterns[layer] = p.to_tensor();
      });
  }
};

// TransformerLens's probe: `rows` random sequences of `half` tokens from [0, vocab), repeated.
struct RepeatedProbe {
  index_t half, rows;
  TokenTensor tokens;
  RepeatedProbe(index_t vocab, index_t half, index_t rows, std::uint64_t seed)
      : half(half), rows(rows), tokens(token_window(interp::repeated_random_tokens(vocab, half, rows, seed), rows, 2 * half, 0, 2 * half)) {}
};

// Induction and previous-token scores of every layer's single head on the repeated probe.
template <class Model>
std::vector<interp::head_scores> repeated_scores(Model& model, PatternCapture<Model>& capture, const RepeatedProbe& probe) {
  auto guard = no_grad();
  auto scope = tape();
  capture.capturing = true;
  model(probe.tokens);
  capture.capturing = false;
  std::vector<interp::head_scores> scores;
  for (index_t layer = 0; layer < PatternCapture<Model>::layers; ++layer)
    scores.push_back(interp::induction_scores(capture.patterns[layer], probe.half));
  return scores;
}

}  // namespace icl
