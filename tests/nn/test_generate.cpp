#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "nn_test_support.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/nn/generate.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"

namespace nn_test_generate {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

struct TinyQwen : Qwen2Like<16, 2, 4, 2, 13, 24, /*TiedEmbeddings=*/false> {
  static constexpr double rope_theta = 100.0;
};
using TinyGpt2 = Gpt2Like<16, 2, 4, 13, 32>;
using Tokens = Tensor<std::int32_t, Shape<dyn, dyn>>;

// Greedy decoding the slow way: the whole sequence through the model for every new token.
template <class Model>
std::vector<std::int32_t> greedy_by_full_recompute(const Model& model, std::vector<std::int32_t> sequence, index_t new_tokens,
                                                   std::optional<std::int32_t> stop = {}) {
  std::vector<std::int32_t> out;
  auto guard = no_grad();
  for (index_t n = 0; n < new_tokens; ++n) {
    auto step = tape();
    const TensorView<const std::int32_t, Shape<dyn, dyn>> tokens(sequence.data(), Shape<dyn, dyn>{1, index_t(sequence.size())});
    const auto logits = model(tokens).value();
    const index_t last = index_t(sequence.size()) - 1;
    std::int32_t best = 0;
    for (index_t v = 1; v < Model::config::vocab_size; ++v)
      if (logits(0, last, v) > logits(0, last, best)) best = std::int32_t(v);
    out.push_back(best);
    sequence.push_back(best);
    if (stop && best == *stop) break;
  }
  return out;
}

std::vector<std::int32_t> row_of(const Tokens& tokens, index_t b) {
  return {tokens.data() + b * tokens.extent(1), tokens.data() + (b + 1) * tokens.extent(1)};
}

template <class Config, class T>
void check_greedy_matches_recompute(unsigned seed) {
  std::mt19937 rng(seed);
  Transformer<Config, T> model(rng);
  nn_test::randomize_parameters(model, seed + 1);
  const auto prompts = nn_test::random_tokens(3, 4, 13, seed + 2);
  const auto generated = generate(model, prompts, {.max_new_tokens = 10});
  REQUIRE(generated.size() == 3);
  for (index_t b = 0; b < 3; ++b) {
    CAPTURE(b);
    CHECK(generated[std::size_t(b)] == greedy_by_full_recompute(model, row_of(prompts, b), 10));
  }
}

}  // namespace

TEST_CASE("greedy generation equals the argmax of a full recompute at every step", "[nn][generate]") {
  SECTION("Qwen2 layout, grouped-query attention") { check_greedy_matches_recompute<TinyQwen, float>(1); }
  SECTION("GPT-2 layout") { check_greedy_matches_recompute<TinyGpt2, float>(2); }
  SECTION("float64") { check_greedy_matches_recompute<TinyQwen, double>(3); }
}

TEST_CASE("a row ends at the stop token, which it keeps, the other rows go on", "[nn][generate]") {
  std::mt19937 rng(4);
  Transformer<TinyQwen, double> model(rng);
  nn_test::randomize_parameters(model, 5);
  const auto prompts = nn_test::random_tokens(2, 3, 13, 6);
  const auto free_run = generate(model, prompts, {.max_new_tokens = 8});
  const std::int32_t stop = free_run[0][2];  // row 0's third token
  const auto stopped = generate(model, prompts, {.max_new_tokens = 8, .stop_token = stop});
  for (std::size_t b = 0; b < 2; ++b) {
    const auto& full = free_run[b];
    const auto first_stop = std::find(full.begin(), full.end(), stop);
    const std::vector<std::int32_t> expected(full.begin(), first_stop == full.end() ? full.end() : first_stop + 1);
    CAPTURE(b);
    CHECK(stopped[b] == expected);
    CHECK(stopped[b] == greedy_by_full_recompute(model, row_of(prompts, index_t(b)), 8, stop));
  }
  CHECK(stopped[0].size() <= 3);
}

TEST_CASE("sampling is reproducible for a seed and does not depend on the other rows", "[nn][generate]") {
  std::mt19937 rng(7);
  Transformer<TinyQwen, double> model(rng);
  nn_test::randomize_parameters(model, 8, -0.2, 0.2);
  const auto prompts = nn_test::random_tokens(3, 4, 13, 9);
  const GenerationOptions options{.max_new_tokens = 20, .temperature = 1.0, .seed = 42};
  const auto first = generate(model, prompts, options);
  CHECK(first == generate(model, prompts, options));
  auto other_seed = options;
  other_seed.seed = 43;
  CHECK(first != generate(model, prompts, other_seed));
  // Alone, row 0 still draws from stream (seed, 0), so it continues exactly as in the batch.
  const auto row0 = row_of(prompts, 0);
  CHECK(generate(model, std::span<const std::int32_t>(row0), options) == first[0]);
  // Sampling with top_k = 1 is greedy.
  auto top1 = options;
  top1.top_k = 1;
  CHECK(generate(model, prompts, top1) == generate(model, prompts, {.max_new_tokens = 20}));
}

TEST_CASE("choose_next_token: greedy, temperature and top-k", "[nn][generate]") {
  Rng generator(11);
  const std::vector<double> logits{0.0, std::log(2.0), 1.0, -1.0};
  SECTION("greedy takes the largest logit, the lowest id on a tie") {
    CHECK(choose_next_token<double>(logits, {}, generator) == 2);
    const std::vector<float> tied{1.0f, 3.0f, 3.0f};
    CHECK(choose_next_token<float>(tied, {}, generator) == 1);
  }
  SECTION("temperature sharpens or flattens softmax(logits)") {
    // Two tokens with logits 0 and ln 2: probabilities ∝ (1, 2^(1 / temperature)).
    const std::vector<double> pair{0.0, std::log(2.0)};
    const auto frequency_of_one = [&](double temperature) {
      int ones = 0;
      for (int i = 0; i < 20000; ++i) ones += choose_next_token<double>(pair, {.temperature = temperature}, generator) == 1;
      return ones / 20000.0;
    };
    CHECK(frequency_of_one(1.0) == Approx(2.0 / 3.0).margin(0.015));  // ∝ (1, 2)
    CHECK(frequency_of_one(0.5) == Approx(4.0 / 5.0).margin(0.015));  // ∝ (1, 4)
    CHECK(frequency_of_one(1e6) == Approx(0.5).margin(0.015));        // nearly uniform
  }
  SECTION("top-k samples only among the k most likely") {
    for (int i = 0; i < 2000; ++i) {
      const auto token = choose_next_token<double>(logits, {.temperature = 2.0, .top_k = 2}, generator);
      REQUIRE((token == 1 || token == 2));
    }
  }
  SECTION("bad options and logits are refused") {
    std::mt19937 rng(12);
    const Transformer<TinyGpt2> model(rng);  // 32 learned positions
    const auto prompts = nn_test::random_tokens(1, 30, 13, 13);
    CHECK_THROWS_WITH(generate(model, prompts, {.max_new_tokens = 4}), Catch::Contains("learned position table has 32"));
    CHECK(generate(model, prompts, {.max_new_tokens = 3})[0].size() == 3);
    CHECK_THROWS_AS(choose_next_token<double>(logits, {.temperature = -1}, generator), value_error);
    const std::vector<double> with_nan{0.0, std::nan("")};
    CHECK_THROWS_AS(choose_next_token<double>(with_nan, {}, generator), value_error);
  }
}

// Trained on random tokens to predict, at position t, the token at t − 1, the model learns
// x[t+1] = x[t−1]: from a prompt (a, b) it must continue a, b, a, b, ... GPT-2's learned
// positions make the previous-token head easy to learn: 300 steps (about 0.1 s) suffice at every
// seed tried (0 to 5), where a 1-layer Qwen2 model with θ = 1e6 rotations, whose positions
// barely differ at this head width, sometimes copies the current token instead.
TEST_CASE("a tiny model trained to copy generates the copied continuation", "[nn][generate][training]") {
  using Config = Gpt2Like<16, 1, 2, 8, 16>;
  std::mt19937 rng(0);
  Transformer<Config> model(rng);
  AdamW optimizer(parameters(model), {.lr = 1e-2, .weight_decay = 0.0});
  Rng data_generator(1);
  Tokens tokens(Shape<dyn, dyn>{16, 10}), targets(Shape<dyn, dyn>{16, 10});
  for (int step_index = 0; step_index < 300; ++step_index) {
    for (index_t b = 0; b < 16; ++b)
      for (index_t t = 0; t < 10; ++t) {
        tokens(b, t) = std::int32_t(uniform_below(data_generator, 8));
        targets(b, t) = t == 0 ? -100 : tokens(b, t - 1);
      }
    auto step = tape();
    optimizer.zero_grad();
    backward(cross_entropy(model(tokens), targets));
    optimizer.step();
  }
  const Tokens prompts(Shape<dyn, dyn>{4, 2}, {1, 6, 2, 7, 4, 4, 0, 3});
  const auto generated = generate(model, prompts, {.max_new_tokens = 8});
  CHECK(generated[0] == std::vector<std::int32_t>{1, 6, 1, 6, 1, 6, 1, 6});
  CHECK(generated[1] == std::vector<std::int32_t>{2, 7, 2, 7, 2, 7, 2, 7});
  CHECK(generated[2] == std::vector<std::int32_t>{4, 4, 4, 4, 4, 4, 4, 4});
  CHECK(generated[3] == std::vector<std::int32_t>{0, 3, 0, 3, 0, 3, 0, 3});
}

}  // namespace nn_test_generate
