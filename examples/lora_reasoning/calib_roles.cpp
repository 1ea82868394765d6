// calibration: per-role loss over pretraining
#include <CLI/CLI.hpp>
#include "reasoning_training.hpp"
using namespace lora_reasoning;
int main(int argc, char** argv) {
  CLI::App app{"calib"};
  Settings settings;
  index_t eval_every = 250;
  double direct = 0.5, worked = 0.4, facts = 0.1;
  std::vector<index_t> ops{1, 2, 3, 4, 5, 6};
  app.add_option("--steps", settings.pretrain_steps);
  app.add_option("--lr", settings.pretrain_lr);
  app.add_option("--eval-every", eval_every);
  app.add_option("--batch", settings.pretrain_batch);
  app.add_option("--direct", direct); app.add_option("--worked", worked); app.add_option("--facts", facts);
  app.add_option("--ops", ops);
  CLI11_PARSE(app, argc, argv);
  settings.eval_problems = 60;
  const auto sets = make_evaluation_sets(settings);
  data::rng init(settings.seed);
  Model model(init);
  reasoning::PretrainingMixture mixture{.batch_size = settings.pretrain_batch, .seq_len = settings.seq_len};
  mixture.direct_weight = direct; mixture.worked_weight = worked; mixture.facts_weight = facts; mixture.operator_counts = ops;
  AdamW optimizer(parameters(model), {.lr = settings.pretrain_lr, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = 0.01});
  const index_t steps = settings.pretrain_steps;
  const WarmupCosineLr schedule{.peak_lr = settings.pretrain_lr, .warmup_steps = steps / 20, .total_steps = steps, .min_lr = settings.pretrain_lr / 10};
  Stopwatch watch;
  const auto probe = mixture.batch(999999, 0);
  for (index_t t = 0; t < steps; ++t) {
    const auto batch = mixture.batch(settings.seed, std::uint64_t(t));
    train::train_step(optimizer, [&] { return batch_loss(model, batch); }, {.lr = schedule(t), .max_grad_norm = 1.0, .parameters = &optimizer.parameters()});
    if ((t + 1) % eval_every == 0) {
      auto scope = tape(); auto g = no_grad();
      const auto losses = cross_entropy_per_row(model(probe.tokens.view()), probe.targets.view()).to_tensor();
      std::vector<double> sum(reasoning::role_count), count(reasoning::role_count);
      // the loss at position p predicts token p+1: attribute it to the role of token p+1
      for (index_t r = 0; r < probe.rows(); ++r) for (index_t p = 0; p + 1 < probe.seq_len(); ++p) {
        if (probe.targets(r, p) == reasoning::ignore_target) continue;
        const int role = probe.roles(r, p + 1); sum[role] += losses(r, p); count[role] += 1; }
      std::printf("step %lld (%.0fs):", (long long)(t + 1), watch.seconds());
      for (int i = 0; i < reasoning::role_count; ++i) if (count[i] > 0) std::printf(" %s=%.2f", std::string(reasoning::role_name(reasoning::Role(i))).c_str(), sum[i] / count[i]);
      std::printf("\n  plain: %s\n  doc:   %s\n", describe(evaluate(model, sets.plain)).c_str(), describe(evaluate(model, sets.document)).c_str());
      std::fflush(stdout);
    }
  }
}
