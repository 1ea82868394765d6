#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/grouped_query_attention.hpp"

namespace nn_test_grouped_query_attention {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
// 4 query heads sharing 2 key/value heads (groups of 2), head width 4, visible rotations.
struct GroupedConfig : Qwen2Like<16, 1, 4, 2, 13, 24> {
  static constexpr double rope_theta = 100.0;
};
// The same widths with one key/value head per query head.
struct MultiHeadConfig : Qwen2Like<16, 1, 4, 4, 13, 24> {
  static constexpr double rope_theta = 100.0;
};
struct NoBiasConfig : Qwen2Like<16, 1, 4, 1, 13, 24> {
  static constexpr bool qkv_bias = false;
};
}  // namespace

TEST_CASE("GroupedQueryAttention has HF Qwen2's projections and shapes", "[nn][attention]") {
  std::mt19937 rng(0);
  GroupedQueryAttention<GroupedConfig> attention(rng);
  static_assert(std::is_same_v<decltype(attention.q_proj.weight)::shape_type, Shape<16, 16>>);
  static_assert(std::is_same_v<decltype(attention.k_proj.weight)::shape_type, Shape<8, 16>>);
  static_assert(std::is_same_v<decltype(attention.v_proj.weight)::shape_type, Shape<8, 16>>);
  static_assert(std::is_same_v<decltype(attention.o_proj.weight)::shape_type, Shape<16, 16>>);
  CHECK(attention.q_proj.bias.has_value());
  CHECK_FALSE(attention.o_proj.bias.has_value());
  GroupedQueryAttention<NoBiasConfig> without_bias(rng);
  CHECK_FALSE(without_bias.k_proj.bias.has_value());

  auto step = tape();
  auto x = nn_test::random_input<16>(2, 5, 1);
  Tensor<float, Shape<dyn, dyn, 16>> xf(x.shape());
  std::copy(x.span().begin(), x.span().end(), xf.span().begin());
  auto y = attention(constant(xf));
  static_assert(std::is_same_v<decltype(y), Var<float, Shape<dyn, dyn, 16>>>);
  CHECK(y.extent(0) == 2);
  CHECK(y.extent(1) == 5);
}

// HF's repeat_kv: query head h reads key/value head h / group_size. Multi-head attention whose
// key/value projections repeat each grouped head's weights must give the same result.
TEST_CASE("grouped-query attention equals multi-head attention with repeated key/value heads", "[nn][attention]") {
  std::mt19937 rng(1);
  GroupedQueryAttention<GroupedConfig, double> grouped(rng);
  GroupedQueryAttention<MultiHeadConfig, double> multi(rng);
  nn_test::randomize_parameters(grouped, 2);
  multi.q_proj.weight.value() = grouped.q_proj.weight.value();
  multi.q_proj.bias->value() = grouped.q_proj.bias->value();
  multi.o_proj.weight.value() = grouped.o_proj.weight.value();
  const index_t head_dim = 4, group = 2;
  for (index_t h = 0; h < 4; ++h)
    for (index_t d = 0; d < head_dim; ++d) {
      const index_t row = h * head_dim + d, shared_row = (h / group) * head_dim + d;
      for (index_t i = 0; i < 16; ++i) {
        multi.k_proj.weight.value()(row, i) = grouped.k_proj.weight.value()(shared_row, i);
        multi.v_proj.weight.value()(row, i) = grouped.v_proj.weight.value()(shared_row, i);
      }
      multi.k_proj.bias->value()(row) = grouped.k_proj.bias->value()(shared_row);
      multi.v_proj.bias->value()(row) = grouped.v_proj.bias->value()(shared_row);
    }
  auto step = tape();
  auto x = nn_test::random_input<16>(2, 6, 3);
  auto a = grouped(constant(x), 3).value();
  auto b = multi(constant(x), 3).value();
  for (index_t i = 0; i < 2; ++i)
    for (index_t t = 0; t < 6; ++t)
      for (index_t c = 0; c < 16; ++c) REQUIRE(a(i, t, c) == Approx(b(i, t, c)).epsilon(1e-12));
}

TEST_CASE("attention is causal: a later token does not change earlier outputs", "[nn][attention]") {
  std::mt19937 rng(4);
  GroupedQueryAttention<GroupedConfig, double> attention(rng);
  nn_test::randomize_parameters(attention, 5);
  auto x = nn_test::random_input<16>(1, 5, 6);
  auto step = tape();
  const auto before = attention(constant(x)).to_tensor();
  for (index_t c = 0; c < 16; ++c) x(0, 3, c) += 1.0;
  const auto after = attention(constant(x)).to_tensor();
  for (index_t c = 0; c < 16; ++c) {
    CHECK(after(0, 2, c) == before(0, 2, c));
    CHECK(after(0, 0, c) == before(0, 0, c));
  }
  CHECK(after(0, 3, 0) != before(0, 3, 0));
}

// The key/value gradients sum over each group through the stride-0 expansion.
TEST_CASE("grouped-query attention passes the gradient check for input and every projection", "[nn][attention][gradcheck]") {
  std::mt19937 rng(7);
  GroupedQueryAttention<GroupedConfig, double> attention(rng);
  nn_test::randomize_parameters(attention, 8);
  auto x = nn_test::random_input<16>(2, 4, 9);
  CHECK(check_gradients([&](auto v) { return attention(v, 2); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return attention(constant(x), 2); }, attention.q_proj.weight,
                                           attention.k_proj.weight, *attention.k_proj.bias, attention.v_proj.weight,
                                           *attention.v_proj.bias, attention.o_proj.weight));
}

}  // namespace nn_test_grouped_query_attention
