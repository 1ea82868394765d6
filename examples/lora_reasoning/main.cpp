// (calibration stub, replaced later)
#include <CLI/CLI.hpp>
#include "reasoning_training.hpp"
using namespace lora_reasoning;
int main(int argc, char** argv) {
  CLI::App app{"lora_reasoning"};
  Settings settings;
  index_t eval_every = 500;
  std::vector<index_t> tiers{2, 4, 6};
  app.add_option("--pretrain-steps", settings.pretrain_steps);
  app.add_option("--pretrain-lr", settings.pretrain_lr);
  app.add_option("--eval-every", eval_every);
  app.add_option("--eval-problems", settings.eval_problems);
  app.add_option("--batch", settings.pretrain_batch);
  app.add_option("--seq-len", settings.seq_len);
  CLI11_PARSE(app, argc, argv);
  const auto sets = make_evaluation_sets(settings);
  data::rng init(settings.seed);
  Model model(init);
  const reasoning::PretrainingMixture mixture{.batch_size = settings.pretrain_batch, .seq_len = settings.seq_len};
  AdamW optimizer(parameters(model), {.lr = settings.pretrain_lr, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = 0.01});
  const index_t steps = settings.pretrain_steps;
  const WarmupCosineLr schedule{.peak_lr = settings.pretrain_lr, .warmup_steps = steps / 20, .total_steps = steps, .min_lr = settings.pretrain_lr / 10};
  Stopwatch watch;
  double window = 0;
  for (index_t t = 0; t < steps; ++t) {
    const auto batch = mixture.batch(settings.seed, std::uint64_t(t));
    const auto result = train::train_step(optimizer, [&] { return batch_loss(model, batch); }, {.lr = schedule(t), .max_grad_norm = 1.0, .parameters = &optimizer.parameters()});
    window += result.loss;
    if ((t + 1) % eval_every == 0) {
      std::printf("step %lld loss %.4f (%.0fs)\n  plain:    %s\n  document: %s\n", (long long)(t + 1), window / eval_every, watch.seconds(),
                  describe(evaluate(model, sets.plain)).c_str(), describe(evaluate(model, sets.document)).c_str());
      std::fflush(stdout);
      window = 0;
    }
  }
}
