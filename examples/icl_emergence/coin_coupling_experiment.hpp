// The coupling experiment of arXiv 2505.18373: what a model learns in context is inference
// under its *pretraining* prior. One model is pretrained per coin ensemble size n (each
// sequence flips one of n coins with biases i/(n + 1), data/coin_mixture.hpp); then every
// model reads sequences of one fixed test coin. If each model has learnt the Bayes predictor of
// its own prior, its per-position loss on the test coin follows that predictor's curve, which
// differs from prior to prior (a prior that holds the test bias converges to it, one that does
// not stays off by the KL to its nearest coin), and not the curve of the test coin itself.
//
// Losses are expected cross-entropies against the test coin, −p log q(1) − (1 − p) log q(0),
// on the same sequences for every model and every predictor.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "experiment_common.hpp"
#include "ranklens/data/coin_mixture.hpp"
#include "ranklens/interp/svg_plot.hpp"

namespace icl {

// One coin of fixed bias, as a token_process.
struct fixed_coin {
  double bias;
  index_t vocab_size() const noexcept { return 2; }
  void sample_sequence(Rng& gen, std::span<std::int32_t> out) const {
    for (auto& token : out) token = unit_uniform(gen) < bias ? 1 : 0;
  }
};

// Mean over sequences of the expected loss at each position t = 1..T (entry t − 1), for
// predictions q(1) = predict_one(b, t).
template <class PredictOne>
std::vector<double> coin_loss_by_position(index_t sequences, index_t context, double bias, PredictOne&& predict_one) {
  std::vector<double> loss(std::size_t(context), 0.0);
  for (index_t b = 0; b < sequences; ++b)
    for (index_t t = 0; t < context; ++t) {
      const double q = predict_one(b, t);
      loss[std::size_t(t)] += -(bias * std::log(q) + (1 - bias) * std::log1p(-q)) / double(sequences);
    }
  return loss;
}

inline double mean_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(a[i] - b[i]);
  return sum / double(a.size());
}

template <class Model>
int run_coin_coupling(const Options& options) {
  static_assert(Model::config::vocab_size == 2, "the coin experiment needs a model with a vocabulary of two tokens");
  const Stopwatch clock;
  const index_t T = options.context, N = options.eval_sequences;
  const std::vector<index_t>& ensembles = options.ensembles;
  const double p = options.test_bias;
  if (!(p > 0 && p < 1)) throw value_error("--test-bias " + json(p) + ": must lie strictly between 0 and 1");
  for (std::size_t m = 0; m < ensembles.size(); ++m)
    for (std::size_t q = 0; q < m; ++q)
      if (ensembles[m] == ensembles[q]) throw value_error("--coins: ensemble size " + std::to_string(ensembles[m]) + " given twice");
  if (ensembles.size() < 2) throw value_error("--coins: give at least two ensemble sizes to compare");

  // The test sequences, and the running counts of ones seen by each position.
  const std::vector<std::int32_t> test = data::sample_batch(fixed_coin{p}, options.seed + 1000, N, T).tokens;
  const TokenTensor test_tokens = token_window(test, N, T, 0, T);
  std::vector<index_t> ones(test.size());
  for (index_t b = 0; b < N; ++b)
    for (index_t t = 0, seen = 0; t < T; ++t) ones[std::size_t(b * T + t)] = seen += test[std::size_t(b * T + t)];

  // The Bayes predictor of every prior on the test sequences.
  std::vector<std::vector<double>> bayes;
  for (index_t n : ensembles) {
    const data::coin_mixture_source prior{n};
    bayes.push_back(coin_loss_by_position(N, T, p, [&](index_t b, index_t t) {
      const index_t k = ones[std::size_t(b * T + t)];
      return prior.predict_one(k, t + 1 - k);
    }));
  }

  const fs::path out = options.out;
  std::vector<std::vector<double>> model_curves;
  for (std::size_t m = 0; m < ensembles.size(); ++m) {
    const index_t n = ensembles[m];
    std::fprintf(stderr, "model pretrained on %lld coin%s\n", (long long)n, n == 1 ? "" : "s");
    std::mt19937 init(std::uint32_t(options.seed));
    Model model(init);
    std::vector<double> curve;
    auto evaluate = [&](index_t step) -> train::Record {
      auto guard = no_grad();
      auto scope = tape();
      const auto logits = model(test_tokens).to_tensor();
      curve = coin_loss_by_position(N, T, p, [&](index_t b, index_t t) {
        // q(1) = sigmoid(logit_1 − logit_0), kept away from 0 and 1 by the float logits.
        return 1.0 / (1.0 + std::exp(double(logits(b, t, 0)) - double(logits(b, t, 1))));
      });
      return {.step = step, .eval_loss = mean(curve), .eval_loss_by_position = curve};
    };
    train::MetricsWriter metrics(out / ("coins_" + std::to_string(n) + "_metrics.csv"), out / ("coins_" + std::to_string(n) + "_metrics.jsonl"));
    train_on_source(model, data::coin_mixture_source{n},
                    {.steps = options.steps, .batch = options.batch, .context = T, .eval_every = options.eval_every, .lr = options.lr,
                     .weight_decay = options.weight_decay, .data_seed = options.seed + std::uint64_t(n)},
                    metrics, clock, evaluate);
    model_curves.push_back(curve);
  }
  const double train_seconds = clock.seconds();

  // Distances: each model's curve against every prior's Bayes curve.
  std::vector<std::vector<double>> distance(ensembles.size());
  std::size_t closest_to_own = 0;
  {
    train::LineFile file(out / "coupling_distances.csv");
    file.write_line("pretrained_n,prior_n,mean_abs_loss_difference");
    for (std::size_t m = 0; m < ensembles.size(); ++m)
      for (std::size_t q = 0; q < ensembles.size(); ++q) {
        distance[m].push_back(mean_abs_difference(model_curves[m], bayes[q]));
        file.write_line(std::to_string(ensembles[m]) + "," + std::to_string(ensembles[q]) + "," + json(distance[m][q]));
      }
  }
  auto nearest_other = [&](std::size_t m) {
    double best = INFINITY;
    for (std::size_t q = 0; q < ensembles.size(); ++q)
      if (q != m) best = std::min(best, distance[m][q]);
    return best;
  };
  for (std::size_t m = 0; m < ensembles.size(); ++m) closest_to_own += distance[m][m] < nearest_other(m) ? 1 : 0;
  {
    train::LineFile file(out / "coupling.csv");
    std::string header = "position";
    for (index_t n : ensembles) header += ",model_n" + std::to_string(n) + ",bayes_n" + std::to_string(n);
    file.write_line(header);
    for (index_t t = 0; t < T; ++t) {
      std::string line = std::to_string(t + 1);
      for (std::size_t m = 0; m < ensembles.size(); ++m) {
        // Appended piece by piece: GCC 12 gives a false -Wrestrict on "literal" + std::string.
        line += ",";
        line += json(model_curves[m][std::size_t(t)]);
        line += ",";
        line += json(bayes[m][std::size_t(t)]);
      }
      file.write_line(line);
    }
  }
  const double test_entropy = -(p * std::log(p) + (1 - p) * std::log1p(-p));
  {
    train::LineFile file(out / "summary.json");
    file.write_line("{");
    file.write_line("  \"process\": \"coins\",");
    file.write_line("  \"test_bias\": " + json(p) + ",");
    file.write_line("  \"test_coin_entropy\": " + json(test_entropy) + ",");
    file.write_line("  \"context\": " + std::to_string(T) + ",");
    file.write_line("  \"steps_per_model\": " + std::to_string(options.steps) + ",");
    file.write_line("  \"batch\": " + std::to_string(options.batch) + ",");
    file.write_line("  \"lr\": " + json(options.lr) + ",");
    file.write_line("  \"seed\": " + std::to_string(options.seed) + ",");
    file.write_line("  \"eval_sequences\": " + std::to_string(N) + ",");
    file.write_line("  \"models\": [");
    for (std::size_t m = 0; m < ensembles.size(); ++m)
      file.write_line("    {\"n\": " + std::to_string(ensembles[m]) + ", \"mean_loss_model\": " + json(mean(model_curves[m])) +
                      ", \"mean_loss_own_bayes\": " + json(mean(bayes[m])) + ", \"distance_to_own_bayes\": " + json(distance[m][m]) +
                      ", \"distance_to_nearest_other_bayes\": " + json(nearest_other(m)) + "}" + (m + 1 < ensembles.size() ? "," : ""));
    file.write_line("  ],");
    file.write_line("  \"models_closest_to_own_prior\": " + std::to_string(closest_to_own) + ",");
    file.write_line("  \"train_seconds\": " + json(train_seconds));
    file.write_line("}");
  }
  {
    char title[128];
    std::snprintf(title, sizeof title, "Models pretrained on n coins, evaluated on one coin of bias %g", p);
    interp::line_plot plot{.title = title,
                           .x_label = "position t (tokens seen)",
                           .y_label = "expected loss on the test coin (nats)",
                           .log_x = true};
    static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    std::vector<double> positions;
    for (index_t t = 1; t <= T; ++t) positions.push_back(double(t));
    for (std::size_t m = 0; m < ensembles.size(); ++m) {
      const std::string color = palette[m % 8], n = std::to_string(ensembles[m]);
      plot.series.push_back({.label = "model, n = " + n, .x = positions, .y = model_curves[m], .color = color});
      plot.series.push_back({.label = "Bayes of its prior, n = " + n, .x = positions, .y = bayes[m], .dashed = true, .color = color});
    }
    plot.references.push_back({.label = "entropy of the test coin", .y = test_entropy});
    interp::write_svg(plot, out / "coupling.svg");
  }

  std::printf("coins: n = ");
  for (index_t n : ensembles) std::printf("%lld ", (long long)n);
  std::printf("test bias %g T=%lld steps=%lld per model, batch=%lld lr=%g seed=%llu, %.1f s\n", p, (long long)T, (long long)options.steps,
              (long long)options.batch, options.lr, (unsigned long long)options.seed, train_seconds);
  std::printf("mean over positions of |model - Bayes of a prior| (nats), row = pretraining n:\n    ");
  for (index_t n : ensembles) std::printf("  prior %-3lld", (long long)n);
  std::printf("   model loss  own Bayes loss\n");
  for (std::size_t m = 0; m < ensembles.size(); ++m) {
    std::printf("n=%-3lld", (long long)ensembles[m]);
    for (std::size_t q = 0; q < ensembles.size(); ++q) std::printf("  %8.4f%s", distance[m][q], q == m ? "*" : " ");
    std::printf("   %.4f      %.4f\n", mean(model_curves[m]), mean(bayes[m]));
  }
  std::printf("%zu of %zu models are closest to the Bayes predictor of their own prior (* marks it)\n", closest_to_own, ensembles.size());
  std::printf("wrote %s/{coins_<n>_metrics.csv,coins_<n>_metrics.jsonl,coupling.csv,coupling_distances.csv,summary.json,coupling.svg}\n",
              options.out.c_str());
  return 0;
}

}  // namespace icl
