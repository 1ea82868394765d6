// In-context learning experiments (arXiv 2505.18373; Edelman et al. 2024, "The evolution of
// statistical induction heads"; Olsson et al. 2022, "In-context learning and induction heads").
// A small transformer trained only on next-token prediction over a non-ergodic source learns
// to infer the source in context:
//
//   --process markov  random Markov chains: loss against the Bayes predictor, KL to each
//                     strategy, heads, transition, power law (markov_experiment.hpp)
//   --process names   name copying: loss on the NAME token by earlier sightings, the induction
//                     head (name_copying_experiment.hpp)
//   --process coins   coupling: models pretrained on coin ensembles of several sizes, evaluated
//                     on one test coin, against the Bayes predictor of each prior
//                     (coin_coupling_experiment.hpp)
//
// This file parses the flags and picks the model; see docs/experiments.md.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <exception>

#include "coin_coupling_experiment.hpp"
#include "markov_experiment.hpp"
#include "name_copying_experiment.hpp"
#include "ranklens/cpu/blas.hpp"

using namespace ranklens;

namespace {

// Two attention-only layers of width 16 with one head each, learned absolute positions and
// LayerNorm (GPT-2 layout without MLPs), as in Edelman et al.'s minimal model.
template <index_t Vocab, index_t Width = 16>
struct AttentionOnly : Gpt2Like<Width, 2, 1, Vocab, 128> {
  static constexpr mlp_kind mlp = mlp_kind::none;
};

// Edelman et al.'s variant: the same two layers without any norm and with relative (here
// rotary) positions. It shows the long plateau at the in-context unigram level before the
// induction head forms, which the LayerNorm model above skips (docs/experiments.md).
template <index_t Vocab>
struct EdelmanAttentionOnly : Qwen2Like<16, 2, 1, 1, Vocab, 64, /*TiedEmbeddings=*/true, 128> {
  static constexpr mlp_kind mlp = mlp_kind::none;
  static constexpr norm_kind norm = norm_kind::none;
  static constexpr double rope_theta = 10000.0;
};

// The default Markov model: AttentionOnly started at the scale of PyTorch's default
// initialisation (U(±1/√16) has std 1/√48 ≈ 0.144) instead of GPT-2's 0.02, which was chosen
// for width 768. At width 16 and std 0.02 the default run (k = 2, α = 1, seed 0) formed no
// previous-token head and ended 0.020 nats above Bayes; with 0.144 it comes within 0.01 nats
// by step 675 (docs/experiments.md, "Every k and alpha").
template <index_t States>
struct MarkovAttentionOnly : AttentionOnly<States> {
  static constexpr double init_std = 0.144;
};

template <index_t States>
int run_markov(const icl::Options& options) {
  if (options.model == "edelman") return icl::run_markov<Transformer<EdelmanAttentionOnly<States>>>(options);
  return icl::run_markov<Transformer<MarkovAttentionOnly<States>>>(options);
}

// What the default Markov run (--model gpt2, T = 100, 10 000 steps, batch 64, lr 5e-3, seed 0)
// reached for each k and α it was run with: the final loss above the Bayes predictor (exact for
// k = 2, add-α otherwise) and the fitted excess-loss exponent minus Bayes', over t = 10..100.
// The target is a gap of at most 0.01 nats and exponents within 0.1 (issue 14); the runs and
// the command are in docs/experiments.md, "Every k and alpha".
struct MarkovValidation {
  index_t states;
  double alpha;
  double gap_to_bayes, exponent_difference;
  bool meets_target() const { return gap_to_bayes <= 0.01 && std::abs(exponent_difference) <= 0.1; }
};
// Measured 2026-12-05 with init std 0.144; only α = 2 meets the target at every k.
constexpr MarkovValidation markov_validation[] = {
    // k, α,   gap,    exponent difference
    {2, 0.5, 0.0033, 0.152}, {2, 1.0, 0.0024, 0.117}, {2, 2.0, 0.0011, 0.058},
    {3, 0.5, 0.0124, 0.262}, {3, 1.0, 0.0077, 0.185}, {3, 2.0, 0.0034, 0.092},
    {4, 0.5, 0.0214, 0.223}, {4, 1.0, 0.0101, 0.147}, {4, 2.0, 0.0035, 0.064},
    {5, 0.5, 0.0235, 0.194}, {5, 1.0, 0.0102, 0.107}, {5, 2.0, 0.0033, 0.056},
};

// A warning before training when the default model is asked for a k and α that the table
// above does not show meeting the target: a new user should not learn it from the final line.
void warn_if_markov_setting_unvalidated(const icl::Options& options) {
  if (options.process != "markov" || options.model != "gpt2") return;
  const char* where = "see docs/experiments.md, section \"Every k and alpha\"";
  for (const MarkovValidation& v : markov_validation) {
    if (v.states != options.states || v.alpha != options.alpha) continue;
    if (v.meets_target()) return;
    std::fprintf(stderr,
                 "icl_emergence: warning: --k %lld --alpha %g is outside what was validated: its default run ended %.4f nats above "
                 "Bayes (target: at most 0.01) with a power-law exponent %.3f from Bayes' (target: within 0.1). Training goes on; %s.\n",
                 (long long)options.states, options.alpha, v.gap_to_bayes, v.exponent_difference, where);
    return;
  }
  std::fprintf(stderr,
               "icl_emergence: warning: --k %lld --alpha %g is outside what was validated: the default run was checked for k 2-5 with "
               "alpha 0.5, 1 and 2, and met the target (0.01 nats and 0.1 in exponent from Bayes) only at alpha 2. Training goes "
               "on; %s.\n",
               (long long)options.states, options.alpha, where);
}

// Coin flips are exchangeable: one block (an attention head that can average the flips, and
// an MLP that turns the average and the position into a probability) is enough.
using CoinModel = Transformer<Gpt2Like<16, 1, 1, 2, 128>>;

// Name copying needs the vocabulary as a template argument; sources with a smaller one leave
// the extra tokens unused (they are never targets, and the model learns to rule them out).
constexpr index_t name_vocab = 64;
using NameModel = Transformer<AttentionOnly<name_vocab>>;

int run(const icl::Options& options) {
  if (options.process == "names") return icl::run_name_copying<NameModel>(options);
  if (options.process == "coins") return icl::run_coin_coupling<CoinModel>(options);
  switch (options.states) {
    case 2: return run_markov<2>(options);
    case 3: return run_markov<3>(options);
    case 4: return run_markov<4>(options);
    case 5: return run_markov<5>(options);
    default:
      std::fprintf(stderr, "--k %lld: this program is compiled for 2, 3, 4 or 5 states\n", (long long)options.states);
      return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train small transformers on non-ergodic sources and watch in-context learning emerge."};
  icl::Options options;
  app.add_option("--process", options.process, "markov, names or coins")
      ->check(CLI::IsMember({"markov", "names", "coins"}))
      ->capture_default_str();
  app.add_option("--k", options.states, "markov: states of the chains (2, 3, 4 or 5)")->check(CLI::Range(2, 5))->capture_default_str();
  app.add_option("--model", options.model,
                 "markov: gpt2 (learned positions, LayerNorm) or edelman (rotary positions, no norm: shows the unigram plateau)")
      ->check(CLI::IsMember({"gpt2", "edelman"}))
      ->capture_default_str();
  app.add_option("--alpha", options.alpha, "markov: Dirichlet concentration of each transition row")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--fillers", options.fillers, "names: filler tokens")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--names", options.names, "names: possible names")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--marker-probability", options.marker_probability, "names: chance of a marker at each free position")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--coins", options.ensembles, "coins: ensemble sizes n, one model each (coins with biases i/(n+1))")
      ->check(CLI::Range(1, 1000))
      ->expected(1, 16)
      ->capture_default_str();
  app.add_option("--test-bias", options.test_bias, "coins: P(1) of the coin every model is evaluated on")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  auto* context = app.add_option("--context", options.context, "tokens the model reads (T); default 100, names 64, coins 64")
                      ->check(CLI::Range(4, 127));
  auto* steps = app.add_option("--steps", options.steps, "training steps (per model); default 10000, names 4000, coins 1500")
                    ->check(CLI::Range(1, 100000000));
  app.add_option("--batch", options.batch, "sequences per step")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--lr", options.lr, "peak AdamW learning rate (warm-up, cosine to a tenth)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--weight-decay", options.weight_decay, "AdamW weight decay")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--seed", options.seed, "seed of data and initialisation")->capture_default_str();
  auto* eval_every = app.add_option("--eval-every", options.eval_every, "steps between evaluations; default 25, coins 100")
                         ->check(CLI::Range(1, 100000000));
  auto* eval_sequences = app.add_option("--eval-sequences", options.eval_sequences, "evaluation sequences; default 512, coins 2048")
                             ->check(CLI::Range(2, 1 << 20));
  app.add_option("--threads", options.threads, "CPU threads")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--out", options.out, "output directory")->capture_default_str();
  app.add_flag("--residual-sae", options.residual_sae,
               "markov: after training, train a sparse autoencoder on the last block's residual stream and say what its latents "
               "track, the current token or the inferred transition row (residual_sae.csv, residual_sae/)");
  CLI11_PARSE(app, argc, argv);
  if (options.model != "gpt2" && options.process != "markov") {
    std::fprintf(stderr, "--model %s: only --process markov has a choice of model; names and coins use their own\n", options.model.c_str());
    return 2;
  }
  if (options.residual_sae && options.process != "markov") {
    std::fprintf(stderr, "--residual-sae: only --process markov has it (its latents are set against the Markov chain's inferred rows)\n");
    return 2;
  }
  if (options.residual_sae && options.eval_sequences * options.context < 256) {
    std::fprintf(stderr, "--residual-sae trains on the evaluation chains in batches of 256 tokens: --eval-sequences x --context is %lld\n",
                 (long long)(options.eval_sequences * options.context));
    return 2;
  }

  // Defaults that depend on the process, where the flag was not given.
  if (options.process == "names") {
    if (context->count() == 0) options.context = 64;
    if (steps->count() == 0) options.steps = 4000;
  } else if (options.process == "coins") {
    if (context->count() == 0) options.context = 64;
    if (steps->count() == 0) options.steps = 1500;
    if (eval_every->count() == 0) options.eval_every = 100;
    if (eval_sequences->count() == 0) options.eval_sequences = 2048;
  }

  warn_if_markov_setting_unvalidated(options);
  cpu::check_openblas_core();
  cpu::set_all_threads(options.threads);
  try {
    return run(options);
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "icl_emergence: %s\n", failure.what());
    return 1;
  }
}
