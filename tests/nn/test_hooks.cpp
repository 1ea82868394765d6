#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/reduce.hpp"

namespace nn_test_hooks {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
struct Config : Qwen2Like<16, 2, 4, 2, 13, 24> {
  static constexpr double rope_theta = 100.0;
};
using Model = Transformer<Config, double>;
using Gpt2Model = Transformer<Gpt2Like<8, 1, 2, 11, 16>>;

Model make_model(unsigned seed) {
  std::mt19937 rng(seed);
  Model model(rng);
  nn_test::randomize_parameters(model, seed + 1);
  return model;
}
}  // namespace

TEST_CASE("a model lists its hook points under TransformerLens names, in forward order", "[nn][hooks]") {
  std::mt19937 rng(0);
  Gpt2Model model(rng);
  CHECK(model.hook_names() == std::vector<std::string>{
                                  "hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.attn.hook_q",
                                  "blocks.0.attn.hook_k", "blocks.0.attn.hook_v", "blocks.0.attn.hook_attn_scores",
                                  "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.0.hook_attn_out",
                                  "blocks.0.hook_resid_mid", "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post",
                                  "blocks.0.hook_mlp_out", "blocks.0.hook_resid_post", "ln_final.hook_normalized"});
}

TEST_CASE("add_hook rejects unknown names, listing the valid ones, and callables of the wrong type", "[nn][hooks]") {
  auto model = make_model(1);
  REQUIRE_THROWS_AS(model.add_hook("blocks.0.attn.hook_patern", [](const auto&) {}), value_error);
  REQUIRE_THROWS_WITH(model.add_hook("blocks.2.hook_resid_pre", [](const auto&) {}),
                      Catch::Contains("'blocks.2.hook_resid_pre'") && Catch::Contains("blocks.{L}.attn.hook_pattern") &&
                          Catch::Contains("(L = 0..1)") && Catch::Contains("ln_final.hook_normalized"));
  REQUIRE_THROWS_WITH(model.add_hook("blocks.0.attn.hook_pattern", [](const Model::residual_activation&) {}),
                      Catch::Contains("hook_pattern") && Catch::Contains("(dyn, 4, dyn, dyn)"));
}

TEST_CASE("hooks read activations: attention patterns are causal distributions", "[nn][hooks]") {
  auto model = make_model(2);
  Tensor<double, Shape<dyn, 4, dyn, dyn>> pattern;
  Tensor<double, Shape<dyn, dyn, 2, 4>> keys;  // 2 key/value heads of width 4
  std::vector<std::string> seen;
  model.add_hook("blocks.1.attn.hook_pattern", [&](const Model::pattern_activation& p) { pattern = p.to_tensor(); });
  model.add_hook("blocks.0.attn.hook_k", [&](const Model::kv_activation& k) { keys = k.to_tensor(); });
  model.add_hook("blocks.0.hook_resid_post", [&](const auto&, std::string_view name) { seen.emplace_back(name); });
  const auto tokens = nn_test::random_tokens(2, 5, 13, 3);
  auto step = tape();
  model(tokens);
  CHECK(seen == std::vector<std::string>{"blocks.0.hook_resid_post"});
  CHECK(keys.extent(0) == 2);
  CHECK(keys.extent(1) == 5);
  REQUIRE(pattern.extent(0) == 2);
  REQUIRE(pattern.extent(2) == 5);
  for (index_t b = 0; b < 2; ++b)
    for (index_t h = 0; h < 4; ++h)
      for (index_t i = 0; i < 5; ++i) {
        double total = 0;
        for (index_t j = 0; j < 5; ++j) {
          if (j > i) CHECK(pattern(b, h, i, j) == 0.0);
          total += pattern(b, h, i, j);
        }
        CHECK(total == Approx(1.0));
      }
}

TEST_CASE("every hook point runs once per forward, a generic hook compiles for every activation type", "[nn][hooks]") {
  auto model = make_model(4);
  std::map<std::string, int> calls;
  for (const auto& name : model.hook_names())
    model.add_hook(name, [&](const auto& activation, std::string_view hook) {
      CHECK(activation.extent(0) == 3);
      ++calls[std::string(hook)];
    });
  auto step = tape();
  model(nn_test::random_tokens(3, 4, 13, 5));
  CHECK(calls.size() == model.hook_names().size());
  for (const auto& [name, count] : calls) CHECK(count == 1);
}

TEST_CASE("replacing the residual with itself changes nothing, reset_hooks removes every hook", "[nn][hooks]") {
  auto model = make_model(6);
  const auto tokens = nn_test::random_tokens(2, 5, 13, 7);
  auto step = tape();
  const auto plain = model(tokens).to_tensor();
  for (const char* name : {"hook_embed", "blocks.0.hook_resid_mid", "blocks.1.hook_resid_post", "ln_final.hook_normalized"})
    model.add_hook(name, [](const Model::residual_activation& x) { return x; });
  const auto hooked = model(tokens).to_tensor();
  for (index_t i = 0; i < plain.numel(); ++i) REQUIRE(hooked.data()[i] == plain.data()[i]);
  model.add_hook("blocks.0.hook_attn_out", [](const Model::residual_activation& x) { return x * 0.0; });
  CHECK(model(tokens).value()(0, 0, 0) != plain(0, 0, 0));
  model.reset_hooks();
  CHECK(model(tokens).value()(0, 0, 0) == plain(0, 0, 0));
}

// Zeroing head 1's z before o_proj is the same as zeroing o_proj's input columns for head 1.
TEST_CASE("zero-ablating a head through hook_z equals removing its columns of o_proj", "[nn][hooks]") {
  auto model = make_model(8);
  auto reference = make_model(8);
  const auto tokens = nn_test::random_tokens(2, 5, 13, 9);
  Tensor<double, Shape<1, 1, 4, 1>> keep(Shape<1, 1, 4, 1>{}, {1, 0, 1, 1});
  auto step = tape();
  const auto plain = model(tokens).to_tensor();
  model.add_hook("blocks.0.attn.hook_z", [&](const Model::head_activation& z) { return z * constant(keep); });
  const auto ablated = model(tokens).to_tensor();
  for (index_t o = 0; o < 16; ++o)
    for (index_t d = 0; d < 4; ++d) reference.blocks[0].attention.o_proj.weight.value()(o, 4 + d) = 0.0;
  const auto expected = reference(tokens).to_tensor();
  double change = 0;
  for (index_t i = 0; i < plain.numel(); ++i) {
    REQUIRE(ablated.data()[i] == Approx(expected.data()[i]).epsilon(1e-12));
    change = std::max(change, std::abs(ablated.data()[i] - plain.data()[i]));
  }
  CHECK(change > 1e-3);
}

// Activation patching: running B with block 1's input taken from a run on A reproduces A's logits.
TEST_CASE("a hook can patch in an activation from another run", "[nn][hooks]") {
  auto model = make_model(10);
  const auto a = nn_test::random_tokens(1, 6, 13, 11), b = nn_test::random_tokens(1, 6, 13, 12);
  Tensor<double, Shape<dyn, dyn, 16>> cached;
  auto step = tape();
  model.add_hook("blocks.1.hook_resid_pre", [&](const Model::residual_activation& x) { cached = x.to_tensor(); });
  const auto logits_a = model(a).to_tensor();
  model.reset_hooks();
  model.add_hook("blocks.1.hook_resid_pre", [&](const Model::residual_activation&) { return constant(cached); });
  const auto patched_b = model(b).to_tensor();
  for (index_t i = 0; i < logits_a.numel(); ++i) REQUIRE(patched_b.data()[i] == logits_a.data()[i]);
}

TEST_CASE("gradients flow through what a hook returns", "[nn][hooks][gradcheck]") {
  auto model = make_model(13);
  const auto tokens = nn_test::random_tokens(2, 4, 13, 14);
  model.add_hook("blocks.0.mlp.hook_post", [](const Model::mlp_activation& x) { return x * x; });
  CHECK(nn_test::check_parameter_gradients([&] { return model(tokens); }, model.blocks[0].mlp.up_proj.weight));
  // Ablating an output cuts the gradient to everything that fed only it.
  model.add_hook("blocks.0.hook_mlp_out", [](const Model::residual_activation& x) { return x * 0.0; });
  {
    auto step = tape();
    backward(sum(model(tokens)));
  }
  const auto g = model.blocks[0].mlp.up_proj.weight.grad().span();
  CHECK(std::all_of(g.begin(), g.end(), [](double v) { return v == 0.0; }));
}

TEST_CASE("a replacement of another shape is refused, naming the hook", "[nn][hooks]") {
  auto model = make_model(15);
  model.add_hook("hook_embed", [](const Model::residual_activation& x) { return slice<1>(x, 0, 1); });
  auto step = tape();
  REQUIRE_THROWS_WITH(model(nn_test::random_tokens(1, 3, 13, 16)), Catch::Contains("hook 'hook_embed'") && Catch::Contains("(dyn=1, dyn=1, 16)"));
}

}  // namespace nn_test_hooks
