#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "nn_test_support.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/reduce.hpp"

namespace nn_test_kv_cache {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

// Untied, visible rotations (θ = 100), 4 query heads over 2 key/value heads: grouped-query.
struct TinyQwen : Qwen2Like<16, 2, 4, 2, 13, 24, /*TiedEmbeddings=*/false> {
  static constexpr double rope_theta = 100.0;
};
using TinyGpt2 = Gpt2Like<16, 2, 4, 13, 16>;  // learned positions, fused q/k/v
struct AttentionOnly : Qwen2Like<8, 2, 2, 1, 13> {
  static constexpr mlp_kind mlp = mlp_kind::none;
};

using Tokens = Tensor<std::int32_t, Shape<dyn, dyn>>;

// Columns [begin, end) of a (batch, seq) token tensor.
Tokens columns(const Tokens& tokens, index_t begin, index_t end) {
  return to_tensor(slice<1>(tokens.view(), begin, end));
}

// The logits of a whole-sequence forward, and those of the same sequence fed through a cache
// in the given chunks, side by side as (batch, seq, vocab) tensors.
template <class Model>
auto full_and_cached_logits(const Model& model, const Tokens& tokens, const std::vector<index_t>& chunks) {
  using T = typename Model::value_type;
  constexpr index_t vocab = Model::config::vocab_size;
  auto step = tape();
  auto guard = no_grad();
  const auto full = model(tokens).to_tensor();
  Tensor<T, Shape<dyn, dyn, vocab>> cached(full.shape());
  KvCache<typename Model::config, T> cache(tokens.extent(0), tokens.extent(1));
  index_t position = 0;
  for (index_t chunk : chunks) {
    const auto logits = model(columns(tokens, position, position + chunk), cache);
    REQUIRE(logits.extent(1) == chunk);
    for (index_t b = 0; b < tokens.extent(0); ++b)
      for (index_t t = 0; t < chunk; ++t)
        for (index_t v = 0; v < vocab; ++v) cached(b, position + t, v) = logits.value()(b, t, v);
    position += chunk;
    REQUIRE(cache.length() == position);
  }
  REQUIRE(position == tokens.extent(1));
  return std::pair{full, cached};
}

template <class A, class B>
void require_close(const A& expected, const B& actual, double tolerance) {
  REQUIRE(expected.numel() == actual.numel());
  double worst = 0;
  for (index_t i = 0; i < expected.numel(); ++i)
    worst = std::max(worst, std::abs(double(expected.data()[i]) - double(actual.data()[i])) / std::max(1.0, std::abs(double(expected.data()[i]))));
  CAPTURE(worst);
  REQUIRE(worst <= tolerance);
}

template <class Config, class T>
void check_cached_equals_full(unsigned seed, double tolerance) {
  std::mt19937 rng(seed);
  Transformer<Config, T> model(rng);
  nn_test::randomize_parameters(model, seed + 1);
  const auto tokens = nn_test::random_tokens(2, 8, 13, seed + 2);
  SECTION("prompt in one forward, then one token at a time") {
    const auto [full, cached] = full_and_cached_logits(model, tokens, {3, 1, 1, 1, 1, 1});
    require_close(full, cached, tolerance);
  }
  SECTION("chunks of several tokens") {
    const auto [full, cached] = full_and_cached_logits(model, tokens, {2, 3, 1, 2});
    require_close(full, cached, tolerance);
  }
  SECTION("the whole sequence at once") {
    const auto [full, cached] = full_and_cached_logits(model, tokens, {8});
    require_close(full, cached, tolerance);
  }
}

}  // namespace

TEST_CASE("a cached forward gives the logits of the full forward (float64)", "[nn][kv_cache]") {
  SECTION("Qwen2 layout, grouped-query attention, RoPE") { check_cached_equals_full<TinyQwen, double>(1, 1e-12); }
  SECTION("GPT-2 layout, learned positions") { check_cached_equals_full<TinyGpt2, double>(2, 1e-12); }
  SECTION("attention-only, one key/value head") { check_cached_equals_full<AttentionOnly, double>(3, 1e-12); }
}

TEST_CASE("a cached forward gives the logits of the full forward (float32)", "[nn][kv_cache]") {
  SECTION("Qwen2 layout, grouped-query attention, RoPE") { check_cached_equals_full<TinyQwen, float>(4, 1e-5); }
  SECTION("GPT-2 layout, learned positions") { check_cached_equals_full<TinyGpt2, float>(5, 1e-5); }
}

TEST_CASE("the cache holds rotated keys and values per layer, and records nothing under no_grad", "[nn][kv_cache]") {
  std::mt19937 rng(6);
  Transformer<TinyQwen, double> model(rng);
  nn_test::randomize_parameters(model, 7);
  const auto tokens = nn_test::random_tokens(1, 4, 13, 8);
  KvCache<TinyQwen, double> cache(1, 6);
  CHECK(cache.layers() == 2);
  CHECK(cache.capacity() == 6);

  // The keys a full forward attends to: hook_k sees them before the rotation, so rotate them
  // here as the model does and compare with what the cache stored.
  Tensor<double, Shape<dyn, dyn, 2, 4>> rotated_keys;
  auto step = tape();
  auto guard = no_grad();
  model.add_hook("blocks.1.attn.hook_k", [&](const Transformer<TinyQwen, double>::kv_activation& k) {
    rotated_keys = rotary_embedding<1>(k, TinyQwen::rope_theta).to_tensor();
  });
  model(tokens);
  model.reset_hooks();

  const std::size_t entries_before = Tape::current().entries();
  model(tokens, cache);
  CHECK(Tape::current().entries() == entries_before);
  REQUIRE(cache.length() == 4);
  const auto keys = cache.keys(1);
  REQUIRE(keys.extent(1) == 4);
  for (index_t t = 0; t < 4; ++t)
    for (index_t h = 0; h < 2; ++h)
      for (index_t d = 0; d < 4; ++d) REQUIRE(keys(0, t, h, d) == Approx(rotated_keys(0, t, h, d)).epsilon(1e-12).margin(1e-14));
  CHECK(cache.values(0).extent(1) == 4);
}

TEST_CASE("truncating the cache continues a shared prefix differently", "[nn][kv_cache]") {
  std::mt19937 rng(9);
  Transformer<TinyGpt2, double> model(rng);
  nn_test::randomize_parameters(model, 10);
  auto first = nn_test::random_tokens(1, 6, 13, 11);
  auto second = first;
  for (index_t t = 3; t < 6; ++t) second(0, t) = (first(0, t) + 5) % 13;

  auto step = tape();
  auto guard = no_grad();
  KvCache<TinyGpt2, double> cache(1, 6);
  model(first, cache);
  cache.truncate(3);
  const auto continued = model(columns(second, 3, 6), cache).to_tensor();
  const auto full = model(second).to_tensor();
  for (index_t t = 0; t < 3; ++t)
    for (index_t v = 0; v < 13; ++v) REQUIRE(continued(0, t, v) == Approx(full(0, t + 3, v)).epsilon(1e-12).margin(1e-14));
  CHECK_THROWS_AS(cache.truncate(7), value_error);
  cache.clear();
  CHECK(cache.length() == 0);
}

TEST_CASE("hooks see the new queries and the scores over every cached key", "[nn][kv_cache][hooks]") {
  std::mt19937 rng(12);
  Transformer<TinyQwen> model(rng);
  const auto tokens = nn_test::random_tokens(2, 5, 13, 13);
  std::vector<std::array<index_t, 4>> pattern_shapes;
  model.add_hook("blocks.0.attn.hook_pattern", [&](const Transformer<TinyQwen>::pattern_activation& p) {
    pattern_shapes.push_back(p.shape().dims);
  });
  auto step = tape();
  auto guard = no_grad();
  KvCache<TinyQwen> cache(2, 5);
  model(columns(tokens, 0, 3), cache);
  model(columns(tokens, 3, 4), cache);
  REQUIRE(pattern_shapes.size() == 2);
  CHECK(pattern_shapes[0] == std::array<index_t, 4>{2, 4, 3, 3});
  CHECK(pattern_shapes[1] == std::array<index_t, 4>{2, 4, 1, 4});
}

TEST_CASE("a forward that does not fit the cache throws and leaves it as it was", "[nn][kv_cache]") {
  std::mt19937 rng(14);
  Transformer<TinyQwen> model(rng);
  auto step = tape();
  auto guard = no_grad();
  KvCache<TinyQwen> cache(2, 4);
  model(nn_test::random_tokens(2, 3, 13, 15), cache);
  REQUIRE_THROWS_WITH(model(nn_test::random_tokens(2, 2, 13, 16), cache), Catch::Contains("holding 3 of 4 positions"));
  REQUIRE_THROWS_AS(model(nn_test::random_tokens(1, 1, 13, 17), cache), shape_error);
  CHECK(cache.length() == 3);
  CHECK_THROWS_AS((KvCache<TinyQwen>(0, 4)), value_error);
}

TEST_CASE("with gradients on, the new positions are differentiable and the cached prefix is constant", "[nn][kv_cache][gradcheck]") {
  std::mt19937 rng(18);
  Transformer<TinyQwen, double> model(rng);
  nn_test::randomize_parameters(model, 19);
  const auto tokens = nn_test::random_tokens(2, 5, 13, 20);
  const auto prompt = columns(tokens, 0, 3), continuation = columns(tokens, 3, 5);
  KvCache<TinyQwen, double> cache(2, 5);
  {
    auto step = tape();
    auto guard = no_grad();
    model(prompt, cache);
  }
  // Each evaluation continues the same prefix, computed once with the unperturbed weights.
  CHECK(nn_test::check_parameter_gradients(
      [&] {
        cache.truncate(3);
        return model(continuation, cache);
      },
      model.blocks[0].attention.k_proj.weight, model.blocks[0].attention.v_proj.weight, *model.blocks[1].attention.q_proj.bias,
      model.blocks[1].mlp.up_proj.weight, model.lm_head.weight));

  SECTION("from an empty cache the gradient is the full forward's") {
    auto& weight = model.blocks[0].attention.k_proj.weight;
    weight.zero_grad();
    {
      auto step = tape();
      backward(sum(model(tokens)));
    }
    const auto expected = weight.grad();
    weight.zero_grad();
    {
      auto step = tape();
      cache.clear();
      backward(sum(model(tokens, cache)));
    }
    for (index_t i = 0; i < weight.numel(); ++i) REQUIRE(weight.grad().data()[i] == Approx(expected.data()[i]).epsilon(1e-12).margin(1e-14));
  }
}

}  // namespace nn_test_kv_cache
