#include <catch2/catch.hpp>

#include "ranklens/nn/transformer_config.hpp"

namespace nn_test_transformer_config {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
struct MissingTheta {
  static constexpr checkpoint_layout layout = checkpoint_layout::qwen2;
  static constexpr index_t d_model = 8, n_layers = 1, n_heads = 2, n_kv_heads = 1, vocab_size = 5, mlp_width = 8, max_positions = 16;
  static constexpr norm_kind norm = norm_kind::rms_norm;
  static constexpr mlp_kind mlp = mlp_kind::swiglu;
  static constexpr position_kind positions = position_kind::rope;
  static constexpr bool tied_embeddings = true, qkv_bias = true;
  static constexpr double norm_eps = 1e-6, init_std = 0.02;
};
struct Complete : MissingTheta {
  static constexpr double rope_theta = 1e4;
};
struct LongerContext : Qwen2Like<64, 2, 4, 2, 100> {
  static constexpr double rope_theta = 5e5;
};
}  // namespace

TEST_CASE("TransformerConfig checks that a configuration has every member", "[nn][config]") {
  static_assert(TransformerConfig<Qwen2Like<64, 2, 4, 2, 100>>);
  static_assert(TransformerConfig<Gpt2Like<64, 2, 4, 100, 128>>);
  static_assert(TransformerConfig<Complete>);
  static_assert(!TransformerConfig<MissingTheta>);
  static_assert(!TransformerConfig<int>);
  static_assert(config_checks<Complete>::ok);
}

TEST_CASE("Qwen2Like describes Qwen2: RMSNorm, rotary positions, grouped queries, SwiGLU, q/k/v biases", "[nn][config]") {
  using C = Qwen2Like<896, 24, 14, 2, 151936, 4864>;  // Qwen2-0.5B's sizes
  static_assert(C::layout == checkpoint_layout::qwen2);
  static_assert(C::norm == norm_kind::rms_norm && C::norm_eps == 1e-6);
  static_assert(C::positions == position_kind::rope && C::rope_theta == 1e6);
  static_assert(C::mlp == mlp_kind::swiglu && C::mlp_width == 4864);
  static_assert(C::qkv_bias && C::tied_embeddings);
  static_assert(config_dims<C>::head_dim == 64 && config_dims<C>::query_group_size == 7);
  static_assert(Qwen2Like<64, 2, 4, 2, 100>::mlp_width == 256);
  static_assert(!Qwen2Like<64, 2, 4, 2, 100, 128, false>::tied_embeddings);
  static_assert(LongerContext::rope_theta == 5e5 && LongerContext::d_model == 64);  // override by deriving
  static_assert(config_checks<C>::ok && config_checks<LongerContext>::ok);
}

TEST_CASE("Gpt2Like describes GPT-2: LayerNorm, learned positions, 4x GELU MLP, tied output", "[nn][config]") {
  using C = Gpt2Like<768, 12, 12, 50257, 1024>;  // GPT-2 small
  static_assert(C::layout == checkpoint_layout::gpt2);
  static_assert(C::norm == norm_kind::layer_norm && C::norm_eps == 1e-5);
  static_assert(C::positions == position_kind::learned && C::max_positions == 1024);
  static_assert(C::mlp == mlp_kind::gelu && C::mlp_width == 3072);
  static_assert(C::n_kv_heads == C::n_heads && C::qkv_bias && C::tied_embeddings);
  static_assert(config_dims<C>::head_dim == 64 && config_dims<C>::query_group_size == 1);
  static_assert(config_checks<C>::ok);
}

}  // namespace nn_test_transformer_config
