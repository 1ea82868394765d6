// In-context learning of Markov chains (Edelman et al. 2024, "The evolution of statistical
// induction heads"; arXiv 2505.18373): every training sequence comes from its own random
// k-state chain, rows drawn from Dirichlet(alpha), first token from the chain's stationary
// distribution. The best possible predictor is Bayesian inference of the chain from the
// context; a two-layer attention-only transformer gets there by building a statistical
// induction head (layer 0 copies the previous token, layer 1 attends to every earlier position
// that followed the current token), typically after a plateau at the in-context unigram level.
//
// The program trains the model on fresh batches, evaluates it every --eval-every steps on a
// fixed set of chains against the true next-token rows (so the model's curve is paired with the
// Bayes curves of data/loss_curves.hpp on the very same chains), measures the heads, and writes
// metrics, per-position curves, a summary and two SVG plots to --out. See docs/experiments.md.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "ranklens/data/loss_curves.hpp"
#include "ranklens/data/markov_chain.hpp"
#include "ranklens/data/token_batch.hpp"
#include "ranklens/interp/excess_loss_fit.hpp"
#include "ranklens/interp/induction_scores.hpp"
#include "ranklens/interp/phase_transition.hpp"
#include "ranklens/interp/svg_plot.hpp"
#include "ranklens/ranklens.hpp"
#include "ranklens/train/line_file.hpp"
#include "ranklens/train/metrics_writer.hpp"
#include "ranklens/train/progress_line.hpp"
#include "ranklens/train/train_step.hpp"

using namespace ranklens;
namespace fs = std::filesystem;

namespace {

struct Options {
  index_t states = 2;
  double alpha = 1.0;
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

// Two attention-only layers of width 16 with one head each, learned absolute positions and
// LayerNorm (GPT-2 layout without MLPs), as in Edelman et al.'s minimal model.
template <index_t States>
struct AttentionOnly : Gpt2Like<16, 2, 1, States, 128> {
  static constexpr mlp_kind mlp = mlp_kind::none;
};

using TokenTensor = Tensor<std::int32_t, Shape<dyn, dyn>>;

// Rows [0, rows) of `sequences` (rows of `length` tokens) as model inputs: the first `width`
// tokens of each row, starting at `offset`.
TokenTensor token_window(const std::vector<std::int32_t>& sequences, index_t rows, index_t length, index_t offset, index_t width) {
  TokenTensor out(Shape<dyn, dyn>{rows, width});
  for (index_t b = 0; b < rows; ++b)
    for (index_t t = 0; t < width; ++t) out(b, t) = sequences[std::size_t(b * length + offset + t)];
  return out;
}

// The evaluation chains: the same draws as sample_batch(source, seed, n, T) and as
// estimate_markov_loss_curves({.seed = seed, .sequences = n}), with each chain's transition
// rows kept so the model can be scored against the true next-token distribution.
struct EvalSet {
  index_t sequences = 0, context = 0, states = 0;
  TokenTensor tokens;
  std::vector<double> rows;  // (sequence, from, to)

  EvalSet(const data::dirichlet_markov_source& source, std::uint64_t seed, index_t n, index_t context)
      : sequences(n), context(context), states(source.states), tokens(Shape<dyn, dyn>{n, context}) {
    const data::token_batch batch = data::sample_batch(source, seed, n, context);
    for (index_t b = 0; b < n; ++b) {
      data::rng gen = data::rng::for_stream(seed, std::uint64_t(b));
      const data::markov_chain chain = source.draw_chain(gen);
      for (index_t from = 0; from < states; ++from)
        for (double p : chain.row(from)) rows.push_back(p);
      for (index_t t = 0; t < context; ++t) tokens(b, t) = batch.at(b, t);
    }
  }
  double truth(index_t b, index_t from, index_t to) const { return rows[std::size_t((b * states + from) * states + to)]; }
};

// Mean over sequences of −Σ_j P(x_t → j) log q_t(j) at each position t = 1..T (entry t − 1).
template <class Logits>
std::vector<double> expected_loss_by_position(const Logits& logits, const EvalSet& eval) {
  std::vector<double> loss(std::size_t(eval.context), 0.0);
  const index_t k = eval.states;
  for (index_t b = 0; b < eval.sequences; ++b)
    for (index_t t = 0; t < eval.context; ++t) {
      double top = -INFINITY;
      for (index_t j = 0; j < k; ++j) top = std::max(top, double(logits(b, t, j)));
      double normaliser = 0;
      for (index_t j = 0; j < k; ++j) normaliser += std::exp(double(logits(b, t, j)) - top);
      const double log_normaliser = top + std::log(normaliser);
      double cross_entropy = 0;
      for (index_t j = 0; j < k; ++j) cross_entropy -= eval.truth(b, eval.tokens(b, t), j) * (double(logits(b, t, j)) - log_normaliser);
      loss[std::size_t(t)] += cross_entropy / double(eval.sequences);
    }
  return loss;
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum / double(values.size());
}

std::string json(double value) { return train::detail::json_number(value); }
std::string optional_text(const std::optional<double>& value) { return value ? json(*value) : std::string("never"); }

template <index_t States>
int run(const Options& options) {
  using Model = Transformer<AttentionOnly<States>>;
  using Pattern = Tensor<float, Shape<dyn, 1, dyn, dyn>>;
  const auto started = std::chrono::steady_clock::now();
  auto seconds_since_start = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };

  const data::dirichlet_markov_source source{States, options.alpha};
  const std::uint64_t train_seed = options.seed, eval_seed = options.seed + 1000, probe_seed = options.seed + 2000;
  const index_t T = options.context;

  // References on the evaluation chains, paired with the model's curve.
  std::fprintf(stderr, "Bayes curves on %lld evaluation chains...\n", (long long)options.eval_sequences);
  const data::markov_loss_curves curves = data::estimate_markov_loss_curves(
      {.states = States, .alpha = options.alpha, .positions = T, .sequences = options.eval_sequences, .seed = eval_seed});
  const data::loss_curve& bayes = curves.exact_bayes ? *curves.exact_bayes : curves.add_alpha;
  const EvalSet eval(source, eval_seed, options.eval_sequences, T);

  // Probes for the heads: repeated random sequences (TransformerLens's induction test) and
  // the first 64 evaluation chains (the statistical induction score).
  const index_t half = T / 2, probe_rows = 32, chain_probe_rows = std::min<index_t>(64, options.eval_sequences);
  const std::vector<std::int32_t> repeated = interp::repeated_random_tokens(States, half, probe_rows, probe_seed);
  const TokenTensor repeated_tokens = token_window(repeated, probe_rows, 2 * half, 0, 2 * half);
  std::vector<std::int32_t> chain_probe(std::size_t(chain_probe_rows * T));
  for (index_t b = 0; b < chain_probe_rows; ++b)
    for (index_t t = 0; t < T; ++t) chain_probe[std::size_t(b * T + t)] = eval.tokens(b, t);
  const TokenTensor chain_probe_tokens = token_window(chain_probe, chain_probe_rows, T, 0, T);

  std::mt19937 init(std::uint32_t(options.seed));
  Model model(init);
  bool capture = false;
  Pattern patterns[2];
  for (int layer = 0; layer < 2; ++layer)
    model.add_hook("blocks." + std::to_string(layer) + ".attn.hook_pattern", [&, layer](const typename Model::pattern_activation& p) {
      if (capture) patterns[layer] = p.to_tensor();
    });
  AdamW optimizer(parameters(model), {.lr = options.lr, .weight_decay = options.weight_decay});
  const ParameterList params = parameters(model);
  const WarmupCosineLr schedule{.peak_lr = options.lr, .warmup_steps = std::min<index_t>(100, options.steps / 10),
                                .total_steps = options.steps, .min_lr = options.lr / 10};

  const fs::path out = options.out;
  train::MetricsWriter metrics(out / "metrics.csv", out / "metrics.jsonl");
  train::LineFile heads_file(out / "heads.csv");
  heads_file.write_line("step,eval_loss,previous_token_l0,induction_l0,previous_token_l1,induction_l1,statistical_induction_l1");

  struct Evaluation {
    double step, loss, previous_token_l0, induction_l1, statistical_induction_l1;
  };
  std::vector<Evaluation> evaluations;
  std::vector<double> final_curve;
  std::vector<double> train_steps, train_losses;

  auto evaluate = [&](index_t step) -> train::Record {
    auto guard = no_grad();
    std::vector<double> curve;
    {
      auto scope = tape();
      curve = expected_loss_by_position(model(eval.tokens).to_tensor(), eval);
    }
    capture = true;
    interp::head_scores repeated_scores[2], chain_scores[2];
    for (int pass = 0; pass < 2; ++pass) {
      auto scope = tape();
      model(pass == 0 ? repeated_tokens : chain_probe_tokens);
      for (int layer = 0; layer < 2; ++layer) {
        if (pass == 0)
          repeated_scores[layer] = interp::induction_scores(patterns[layer], half);
        else
          chain_scores[layer] = interp::statistical_induction_scores(patterns[layer], chain_probe);
      }
    }
    capture = false;
    const double loss = mean(curve);
    evaluations.push_back({double(step), loss, repeated_scores[0].previous_token[0], repeated_scores[1].induction[0],
                           chain_scores[1].induction[0]});
    heads_file.write_line(std::to_string(step) + "," + json(loss) + "," + json(repeated_scores[0].previous_token[0]) + "," +
                          json(repeated_scores[0].induction[0]) + "," + json(repeated_scores[1].previous_token[0]) + "," +
                          json(repeated_scores[1].induction[0]) + "," + json(chain_scores[1].induction[0]));
    final_curve = curve;
    return {.step = step, .eval_loss = loss, .eval_loss_by_position = curve};
  };

  // Training: batch t holds streams t·batch .. of the training seed, T + 1 tokens each.
  std::vector<std::int32_t> sequences(std::size_t(options.batch * (T + 1)));
  TokenTensor inputs(Shape<dyn, dyn>{options.batch, T}), targets(Shape<dyn, dyn>{options.batch, T});
  train::ProgressLine progress(options.steps);
  {
    train::Record first = evaluate(0);
    first.elapsed_seconds = seconds_since_start();
    metrics.write(first);
  }
  double loss_sum = 0;
  index_t losses_summed = 0;
  for (index_t step = 0; step < options.steps; ++step) {
    data::sample_batch_into(source, train_seed, options.batch, T + 1, sequences, std::uint64_t(step * options.batch));
    for (index_t b = 0; b < options.batch; ++b)
      for (index_t t = 0; t < T; ++t) {
        inputs(b, t) = sequences[std::size_t(b * (T + 1) + t)];
        targets(b, t) = sequences[std::size_t(b * (T + 1) + t + 1)];
      }
    const double lr = schedule(step);
    const auto result = train::train_step(optimizer, [&] { return cross_entropy(model(inputs), targets); },
                                          {.lr = lr, .max_grad_norm = 1.0, .parameters = &params});
    train_steps.push_back(double(step + 1));
    train_losses.push_back(result.loss);
    loss_sum += result.loss;
    ++losses_summed;
    progress.update(step + 1, result.loss, options.batch * T);
    if ((step + 1) % options.eval_every == 0 || step + 1 == options.steps) {
      train::Record record = evaluate(step + 1);
      record.lr = lr;
      record.train_loss = loss_sum / double(losses_summed);
      record.grad_norm = result.grad_norm;
      record.elapsed_seconds = seconds_since_start();
      metrics.write(record);
      progress.set_eval_loss(*record.eval_loss);
      loss_sum = 0;
      losses_summed = 0;
    }
  }
  progress.finish();
  const double train_seconds = seconds_since_start();

  // Per-position curves.
  {
    train::LineFile file(out / "per_position.csv");
    file.write_line("position,model,add_alpha_bayes,exact_bayes,unigram,uniform,entropy_floor");
    for (index_t t = 0; t < T; ++t) {
      const auto i = std::size_t(t);
      file.write_line(std::to_string(t + 1) + "," + json(final_curve[i]) + "," + json(curves.add_alpha.mean[i]) + "," +
                      (curves.exact_bayes ? json(curves.exact_bayes->mean[i]) : std::string()) + "," + json(curves.unigram.mean[i]) +
                      "," + json(curves.uniform.mean[i]) + "," + json(curves.entropy_floor.mean[i]));
    }
  }

  // Summary: levels, gap, transition, exponents.
  const double model_mean = mean(final_curve), bayes_mean = mean(bayes.mean);
  std::vector<double> eval_steps, eval_losses;
  for (const Evaluation& e : evaluations) eval_steps.push_back(e.step), eval_losses.push_back(e.loss);
  std::optional<double> within_001;
  for (const Evaluation& e : evaluations)
    if (e.loss - bayes_mean <= 0.01) {
      within_001 = e.step;
      break;
    }
  const interp::transition_report transition = interp::analyse_transition(
      eval_steps, eval_losses,
      {.window = 5, .tolerance = 0.01, .min_steps = 4.0 * double(options.eval_every), .drop_after_first_plateau = true});
  const index_t fit_first = std::min<index_t>(10, T - 1), fit_last = T;
  const data::power_law model_fit = interp::fit_excess_loss(final_curve, curves.entropy_floor.mean, fit_first, fit_last);
  const data::power_law bayes_fit = interp::fit_excess_loss(bayes.mean, curves.entropy_floor.mean, fit_first, fit_last);
  {
    train::LineFile file(out / "summary.json");
    auto line = [&](const std::string& key, const std::string& value, bool last = false) {
      file.write_line("  \"" + key + "\": " + value + (last ? "" : ","));
    };
    auto optional = [](const std::optional<double>& v) { return v ? json(*v) : std::string("null"); };
    file.write_line("{");
    line("states", std::to_string(States));
    line("alpha", json(options.alpha));
    line("context", std::to_string(T));
    line("steps", std::to_string(options.steps));
    line("batch", std::to_string(options.batch));
    line("lr", json(options.lr));
    line("seed", std::to_string(options.seed));
    line("eval_sequences", std::to_string(options.eval_sequences));
    line("mean_loss_model", json(model_mean));
    line("mean_loss_exact_bayes", curves.exact_bayes ? json(curves.exact_bayes->average) : "null");
    line("mean_loss_add_alpha_bayes", json(curves.add_alpha.average));
    line("mean_loss_unigram", json(curves.unigram.average));
    line("mean_loss_uniform", json(curves.uniform.average));
    line("mean_loss_entropy_floor", json(curves.entropy_floor.average));
    line("bayes_reference", curves.exact_bayes ? "\"exact\"" : "\"add_alpha\"");
    line("gap_to_bayes", json(model_mean - bayes_mean));
    line("first_step_within_0.01_of_bayes", optional(within_001));
    line("transition_step", transition.drop ? json(transition.drop->step) : "null");
    line("plateau_before_transition",
         transition.before_drop ? "{\"first_step\": " + json(transition.before_drop->first_step) + ", \"last_step\": " +
                                      json(transition.before_drop->last_step) + ", \"level\": " + json(transition.before_drop->level) + "}"
                                : "null");
    line("fit_positions", "[" + std::to_string(fit_first) + ", " + std::to_string(fit_last) + "]");
    line("excess_exponent_model", json(model_fit.exponent));
    line("excess_r_squared_model", json(model_fit.r_squared));
    line("excess_exponent_bayes", json(bayes_fit.exponent));
    line("excess_r_squared_bayes", json(bayes_fit.r_squared));
    line("final_previous_token_score_l0", json(evaluations.back().previous_token_l0));
    line("final_induction_score_l1", json(evaluations.back().induction_l1));
    line("final_statistical_induction_score_l1", json(evaluations.back().statistical_induction_l1));
    line("train_seconds", json(train_seconds), true);
    file.write_line("}");
  }

  // Plot 1: evaluation loss over training, reference levels, head scores on the right axis.
  {
    interp::line_plot plot{.title = "In-context Markov chains (k = " + std::to_string(States) + "): loss and heads during training",
                           .x_label = "training step",
                           .y_label = "mean loss over positions (nats)",
                           .right_y_label = "head score"};
    plot.series.push_back({.label = "model (eval)", .x = eval_steps, .y = eval_losses});
    std::vector<double> prev, stat, induction;
    for (const Evaluation& e : evaluations)
      prev.push_back(e.previous_token_l0), stat.push_back(e.statistical_induction_l1), induction.push_back(e.induction_l1);
    plot.series.push_back({.label = "L1 statistical induction", .x = eval_steps, .y = stat, .right_axis = true, .dashed = true});
    plot.series.push_back({.label = "L1 induction (repeats)", .x = eval_steps, .y = induction, .right_axis = true, .dashed = true});
    plot.series.push_back({.label = "L0 previous token", .x = eval_steps, .y = prev, .right_axis = true, .dashed = true});
    plot.references.push_back({.label = "uniform", .y = curves.uniform.average});
    plot.references.push_back({.label = "in-context unigram", .y = curves.unigram.average, .color = "#ff7f0e"});
    plot.references.push_back({.label = curves.exact_bayes ? "exact Bayes" : "add-alpha Bayes", .y = bayes_mean, .color = "#2ca02c"});
    interp::write_svg(plot, out / "training.svg");
  }
  // Plot 2: excess loss over the floor by position, log-log, with the fitted power laws.
  {
    interp::line_plot plot{.title = "Excess loss over the entropy floor by context position",
                           .x_label = "position t (tokens seen)",
                           .y_label = "loss − entropy floor (nats)",
                           .log_x = true,
                           .log_y = true};
    std::vector<double> positions, model_excess, bayes_excess, unigram_excess, model_law, bayes_law;
    for (index_t t = 1; t <= T; ++t) {
      const auto i = std::size_t(t - 1);
      positions.push_back(double(t));
      model_excess.push_back(final_curve[i] - curves.entropy_floor.mean[i]);
      bayes_excess.push_back(bayes.mean[i] - curves.entropy_floor.mean[i]);
      unigram_excess.push_back(curves.unigram.mean[i] - curves.entropy_floor.mean[i]);
      model_law.push_back(model_fit.prefactor * std::pow(double(t), model_fit.exponent));
      bayes_law.push_back(bayes_fit.prefactor * std::pow(double(t), bayes_fit.exponent));
    }
    char label[96];
    plot.series.push_back({.label = "model", .x = positions, .y = model_excess});
    plot.series.push_back({.label = curves.exact_bayes ? "exact Bayes" : "add-alpha Bayes", .x = positions, .y = bayes_excess});
    plot.series.push_back({.label = "in-context unigram", .x = positions, .y = unigram_excess});
    std::snprintf(label, sizeof label, "model fit t^%.3f", model_fit.exponent);
    plot.series.push_back({.label = label, .x = positions, .y = model_law, .dashed = true, .color = "#1f77b4"});
    std::snprintf(label, sizeof label, "Bayes fit t^%.3f", bayes_fit.exponent);
    plot.series.push_back({.label = label, .x = positions, .y = bayes_law, .dashed = true, .color = "#d62728"});
    interp::write_svg(plot, out / "per_position.svg");
  }

  std::printf("k=%lld alpha=%g T=%lld steps=%lld batch=%lld lr=%g seed=%llu, %.1f s\n", (long long)States, options.alpha, (long long)T,
              (long long)options.steps, (long long)options.batch, options.lr, (unsigned long long)options.seed, train_seconds);
  std::printf("mean loss over positions: model %.4f  %s Bayes %.4f  add-alpha %.4f  unigram %.4f  uniform %.4f  floor %.4f\n", model_mean,
              curves.exact_bayes ? "exact" : "add-alpha", bayes_mean, curves.add_alpha.average, curves.unigram.average,
              curves.uniform.average, curves.entropy_floor.average);
  std::printf("gap to Bayes %.4f nats; first within 0.01 at step %s\n", model_mean - bayes_mean, optional_text(within_001).c_str());
  if (transition.drop) std::printf("steepest drop at step %.0f", transition.drop->step);
  if (transition.before_drop)
    std::printf(", after a plateau at %.4f over steps %.0f-%.0f", transition.before_drop->level, transition.before_drop->first_step,
                transition.before_drop->last_step);
  std::printf("\nexcess-loss exponent over t in [%lld, %lld]: model %.3f (R^2 %.3f), Bayes %.3f (R^2 %.3f)\n", (long long)fit_first,
              (long long)fit_last, model_fit.exponent, model_fit.r_squared, bayes_fit.exponent, bayes_fit.r_squared);
  std::printf("heads: L0 previous-token %.3f, L1 induction (repeats) %.3f, L1 statistical induction %.3f\n",
              evaluations.back().previous_token_l0, evaluations.back().induction_l1, evaluations.back().statistical_induction_l1);
  std::printf("wrote %s/{metrics.csv,metrics.jsonl,heads.csv,per_position.csv,summary.json,training.svg,per_position.svg}\n",
              options.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a 2-layer attention-only transformer on random Markov chains and watch in-context learning emerge."};
  Options options;
  app.add_option("--k", options.states, "states of the chains (2, 3, 4 or 5)")->capture_default_str();
  app.add_option("--alpha", options.alpha, "Dirichlet concentration of each transition row")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--context", options.context, "tokens the model reads (T)")->check(CLI::Range(4, 127))->capture_default_str();
  app.add_option("--steps", options.steps, "training steps")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", options.batch, "sequences per step")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", options.lr, "peak AdamW learning rate (warm-up, cosine to a tenth)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--weight-decay", options.weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--seed", options.seed, "seed of data and initialisation")->capture_default_str();
  app.add_option("--eval-every", options.eval_every, "steps between evaluations")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--eval-sequences", options.eval_sequences, "evaluation chains")->check(CLI::Range(2, 1 << 20))->capture_default_str();
  app.add_option("--threads", options.threads, "CPU threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--out", options.out, "output directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  cpu::check_openblas_core();
  cpu::set_num_threads(options.threads);
  try {
    switch (options.states) {
      case 2: return run<2>(options);
      case 3: return run<3>(options);
      case 4: return run<4>(options);
      case 5: return run<5>(options);
      default:
        std::fprintf(stderr, "--k %lld: this program is compiled for 2, 3, 4 or 5 states\n", (long long)options.states);
        return 2;
    }
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "icl_emergence: %s\n", failure.what());
    return 1;
  }
}
