#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/nn/transformer_block.hpp"

namespace nn_test_transformer_block {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
struct QwenConfig : Qwen2Like<8, 1, 4, 2, 11, 12> {
  static constexpr double rope_theta = 100.0;
};
using Gpt2Config = Gpt2Like<8, 1, 2, 11, 16>;
struct AttentionOnlyConfig : Qwen2Like<8, 1, 2, 1, 11> {
  static constexpr mlp_kind mlp = mlp_kind::none;
};
}  // namespace

TEST_CASE("a block's parts follow its configuration", "[nn][block]") {
  std::mt19937 rng(0);
  TransformerBlock<QwenConfig> qwen(rng);
  static_assert(std::is_same_v<decltype(qwen.attention_norm), RMSNorm<8, float>>);
  static_assert(std::is_same_v<decltype(qwen.attention), GroupedQueryAttention<QwenConfig, float>>);
  static_assert(std::is_same_v<decltype(qwen.mlp), SwiGluMlp<QwenConfig, float>>);
  TransformerBlock<Gpt2Config> gpt2(rng);
  static_assert(std::is_same_v<decltype(gpt2.attention_norm), LayerNorm<8, float>>);
  static_assert(std::is_same_v<decltype(gpt2.attention), FusedQkvAttention<Gpt2Config, float>>);
  static_assert(std::is_same_v<decltype(gpt2.mlp), GeluMlp<Gpt2Config, float>>);
  TransformerBlock<AttentionOnlyConfig> attention_only(rng);
  static_assert(std::is_same_v<decltype(attention_only.mlp), Absent>);
  static_assert(std::is_same_v<decltype(attention_only.mlp_norm), Absent>);
  CHECK(parameter_count(attention_only) == 8 + (8 * 8 + 8) + 2 * (4 * 8 + 4) + 8 * 8);
}

// With the output projections at zero both residual branches add nothing: the block is the identity.
TEST_CASE("a block is x + attention(norm(x)), then + mlp(norm(·))", "[nn][block]") {
  std::mt19937 rng(1);
  TransformerBlock<QwenConfig, double> block(rng);
  nn_test::randomize_parameters(block, 2);
  auto x = nn_test::random_input<8>(2, 3, 3);
  auto step = tape();
  const auto full = block(constant(x)).to_tensor();
  const auto attention_part = block.attention(block.attention_norm(constant(x))).to_tensor();
  block.mlp.down_proj.weight.value() = Tensor<double, Shape<8, 12>>::zeros(Shape<8, 12>{});
  const auto without_mlp = block(constant(x)).to_tensor();
  block.attention.o_proj.weight.value() = Tensor<double, Shape<8, 8>>::zeros(Shape<8, 8>{});
  const auto identity = block(constant(x)).to_tensor();
  for (index_t i = 0; i < x.numel(); ++i) {
    CHECK(identity.data()[i] == x.data()[i]);
    CHECK(without_mlp.data()[i] == Approx(x.data()[i] + attention_part.data()[i]).epsilon(1e-14));
  }
  CHECK(full.data()[0] != without_mlp.data()[0]);
}

TEST_CASE("whole blocks pass the gradient check", "[nn][block][gradcheck]") {
  std::mt19937 rng(4);
  auto x = nn_test::random_input<8>(2, 3, 5);
  SECTION("Qwen2 layout") {
    TransformerBlock<QwenConfig, double> block(rng);
    nn_test::randomize_parameters(block, 6);
    CHECK(check_gradients([&](auto v) { return block(v, 1); }, x));
    CHECK(nn_test::check_parameter_gradients([&] { return block(constant(x), 1); }, block.attention_norm.weight,
                                             block.attention.k_proj.weight, block.mlp_norm.weight, block.mlp.up_proj.weight));
  }
  SECTION("GPT-2 layout") {
    TransformerBlock<Gpt2Config, double> block(rng);
    nn_test::randomize_parameters(block, 7);
    CHECK(check_gradients([&](auto v) { return block(v); }, x));
    CHECK(nn_test::check_parameter_gradients([&] { return block(constant(x)); }, block.attention_norm.bias,
                                             block.attention.c_attn.weight, block.mlp_norm.weight, block.mlp.c_fc.bias));
  }
  SECTION("attention only") {
    TransformerBlock<AttentionOnlyConfig, double> block(rng);
    nn_test::randomize_parameters(block, 8);
    CHECK(check_gradients([&](auto v) { return block(v); }, x));
    CHECK(nn_test::check_parameter_gradients([&] { return block(constant(x)); }, block.attention_norm.weight,
                                             block.attention.v_proj.weight));
  }
}

namespace {
// Edelman et al.'s minimal in-context model: attention only, rotary positions, no norm.
struct NormFreeConfig : Qwen2Like<8, 2, 2, 2, 11> {
  static constexpr mlp_kind mlp = mlp_kind::none;
  static constexpr norm_kind norm = norm_kind::none;
};
}  // namespace

TEST_CASE("norm_kind::none: the block is x + attention(x), with no norm parameters", "[nn][block][no_norm]") {
  std::mt19937 rng(9);
  TransformerBlock<NormFreeConfig, double> block(rng);
  static_assert(std::is_same_v<decltype(block.attention_norm), NoNorm<8, double>>);
  CHECK(parameter_count(block) == 3 * (8 * 8 + 8) + 8 * 8);  // q, k, v with biases, o without
  for (const auto& [name, p] : named_parameters(block)) CHECK(name.find("layernorm") == std::string::npos);
  nn_test::randomize_parameters(block, 10);
  auto x = nn_test::random_input<8>(2, 3, 11);
  {
    auto step = tape();
    const auto full = block(constant(x)).to_tensor();
    const auto attention_part = block.attention(constant(x)).to_tensor();
    for (index_t i = 0; i < x.numel(); ++i) CHECK(full.data()[i] == Approx(x.data()[i] + attention_part.data()[i]).epsilon(1e-14));
  }
  CHECK(check_gradients([&](auto v) { return block(v); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return block(constant(x)); }, block.attention.q_proj.weight, *block.attention.v_proj.bias));

  Transformer<NormFreeConfig, double> model(rng);
  for (const auto& [name, p] : named_parameters(model)) CHECK(name.find("norm") == std::string::npos);
}

}  // namespace nn_test_transformer_block
