#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/core/distributions.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"

namespace nn_test_transformer_training {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

constexpr std::int32_t vocabulary = 8;

// Random tokens; the target at position t is the token at t − 1 (position 0 is ignored), a task
// that needs attention to the previous position.
struct CopyPreviousBatch {
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens, targets;
  CopyPreviousBatch(index_t batch, index_t seq, std::mt19937& rng)
      : tokens(Shape<dyn, dyn>{batch, seq}), targets(Shape<dyn, dyn>{batch, seq}) {
    for (index_t b = 0; b < batch; ++b)
      for (index_t t = 0; t < seq; ++t) {
        tokens(b, t) = std::int32_t(uniform_below(rng, vocabulary));
        targets(b, t) = t == 0 ? -100 : tokens(b, t - 1);
      }
  }
};

// 100 AdamW steps (no weight decay) on fresh batches of 16 × 10; returns the loss on a
// held-out batch.
template <class Model>
double train_copy_previous(unsigned seed, double lr) {
  std::mt19937 rng(seed);
  Model model(rng);
  AdamW optimizer(parameters(model), {.lr = lr, .weight_decay = 0.0});
  std::mt19937 data(seed + 1);
  for (int step_index = 0; step_index < 100; ++step_index) {
    const CopyPreviousBatch batch(16, 10, data);
    auto step = tape();
    optimizer.zero_grad();
    backward(cross_entropy(model(batch.tokens), batch.targets));
    optimizer.step();
  }
  const CopyPreviousBatch held_out(64, 10, data);
  auto step = tape();
  auto guard = no_grad();
  return cross_entropy(model(held_out.tokens), held_out.targets).item();
}

}  // namespace

// The loss starts at ln 8 ≈ 2.08 (uniform guessing); the threshold of 0.1 is far below what a
// model that ignores the previous token can reach (ln 8). Whether 100 steps suffice depends on
// the draw, so the settings are ones that learn the task at nearly every seed, measured over
// seeds 0-63 (the initial weights of core/distributions.hpp, the batches of uniform_below):
//   GPT-2 style, d_model 16, 2 heads, lr 1e-2: 61 of 64 below 0.1; seed 0 reaches 0.023
//   Qwen2 style, d_model 32, 4 heads sharing 2 kv heads, lr 3e-2: 61 of 64; seed 0 reaches 0.002
// (The Qwen2 model of d_model 16 with 2 heads sharing one kv head, rotary positions at head
// width 8, learned it at only 9 of 32 seeds in 100 steps at lr 1e-2, and 4 of 16 in 300.)
TEST_CASE("a tiny transformer learns to copy the previous token", "[nn][transformer][training]") {
  const double gpt2 = train_copy_previous<Transformer<Gpt2Like<16, 1, 2, vocabulary, 16>>>(0, 1e-2);
  const double qwen2 = train_copy_previous<Transformer<Qwen2Like<32, 1, 4, 2, vocabulary>>>(0, 3e-2);
  CAPTURE(gpt2, qwen2);
  CHECK(gpt2 < 0.1);
  CHECK(qwen2 < 0.1);
}

}  // namespace nn_test_transformer_training
