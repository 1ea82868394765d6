#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/fused_qkv_attention.hpp"
#include "ranklens/nn/grouped_query_attention.hpp"

namespace nn_test_fused_qkv_attention {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
using Gpt2Config = Gpt2Like<16, 1, 4, 13, 8>;
// Qwen2's separate projections with GPT-2's attention: 4 heads, no rotary positions.
struct SeparateConfig : Qwen2Like<16, 1, 4, 4, 13> {
  static constexpr position_kind positions = position_kind::none;
};
struct Gpt2RotaryConfig : Gpt2Like<16, 1, 4, 13, 8> {
  static constexpr position_kind positions = position_kind::rope;
};
}  // namespace

TEST_CASE("FusedQkvAttention stores c_attn as HF GPT-2 does: (d_model, 3·d_model)", "[nn][attention]") {
  std::mt19937 rng(0);
  FusedQkvAttention<Gpt2Config> attention(rng);
  static_assert(std::is_same_v<decltype(attention.c_attn.weight)::shape_type, Shape<16, 48>>);
  static_assert(std::is_same_v<decltype(attention.c_attn.bias)::shape_type, Shape<48>>);
  static_assert(std::is_same_v<decltype(attention.c_proj.weight)::shape_type, Shape<16, 16>>);
}

// c_attn's columns are [queries | keys | values], each (in, out): the transpose of q/k/v_proj.
TEST_CASE("fused attention equals separate projections with the transposed weights", "[nn][attention]") {
  std::mt19937 rng(1);
  FusedQkvAttention<Gpt2Config, double> fused(rng);
  GroupedQueryAttention<SeparateConfig, double> separate(rng);
  nn_test::randomize_parameters(fused, 2);
  fused.c_proj.bias.value() = Tensor<double, Shape<16>>::zeros(Shape<16>{});  // o_proj has no bias
  for (index_t i = 0; i < 16; ++i)
    for (index_t o = 0; o < 16; ++o) {
      separate.q_proj.weight.value()(o, i) = fused.c_attn.weight.value()(i, o);
      separate.k_proj.weight.value()(o, i) = fused.c_attn.weight.value()(i, 16 + o);
      separate.v_proj.weight.value()(o, i) = fused.c_attn.weight.value()(i, 32 + o);
      separate.o_proj.weight.value()(o, i) = fused.c_proj.weight.value()(i, o);
    }
  for (index_t o = 0; o < 16; ++o) {
    separate.q_proj.bias->value()(o) = fused.c_attn.bias.value()(o);
    separate.k_proj.bias->value()(o) = fused.c_attn.bias.value()(16 + o);
    separate.v_proj.bias->value()(o) = fused.c_attn.bias.value()(32 + o);
  }
  auto step = tape();
  auto x = nn_test::random_input<16>(2, 5, 3);
  auto a = fused(constant(x)).value();
  auto b = separate(constant(x)).value();
  for (index_t i = 0; i < 2; ++i)
    for (index_t t = 0; t < 5; ++t)
      for (index_t c = 0; c < 16; ++c) REQUIRE(a(i, t, c) == Approx(b(i, t, c)).epsilon(1e-12));
}

TEST_CASE("fused attention passes the gradient check, with and without rotary positions", "[nn][attention][gradcheck]") {
  std::mt19937 rng(4);
  FusedQkvAttention<Gpt2Config, double> plain(rng);
  FusedQkvAttention<Gpt2RotaryConfig, double> rotary(rng);
  nn_test::randomize_parameters(plain, 5);
  nn_test::randomize_parameters(rotary, 6);
  auto x = nn_test::random_input<16>(2, 4, 7);
  CHECK(check_gradients([&](auto v) { return plain(v); }, x));
  CHECK(check_gradients([&](auto v) { return rotary(v, 3); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return plain(constant(x)); }, plain.c_attn.weight, plain.c_attn.bias,
                                           plain.c_proj.weight, plain.c_proj.bias));
  CHECK(nn_test::check_parameter_gradients([&] { return rotary(constant(x), 3); }, rotary.c_attn.weight));
}

}  // namespace nn_test_fused_qkv_attention
