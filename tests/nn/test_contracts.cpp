// Specification of nn/contracts.hpp and nn/input_width.hpp: which parts fulfil which contract,
// one (Out, In) view of an affine layer's map whatever its storage, and the one input-width
// check every module makes.
#include <catch2/catch.hpp>

#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/contracts.hpp"
#include "ranklens/nn/embedding.hpp"
#include "ranklens/nn/transformer_block.hpp"

namespace nn_test_contracts {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using Catch::Matchers::Contains;

namespace {

using Qwen = Qwen2Like<16, 1, 4, 2, 11>;
using Gpt2 = Gpt2Like<16, 1, 2, 11, 8>;

// A Linear whose forward does not keep the width: it must not pass for an affine layer.
struct NotAnAffineLayer : Linear<4, 3> {
  using Linear<4, 3>::Linear;
  Var<float, Shape<dyn, dyn, 4>> operator()(const Var<float, Shape<dyn, dyn, 4>>& x) const { return x; }
};

}  // namespace

TEST_CASE("the library's parts fulfil their contracts, and other types do not", "[nn][contracts]") {
  STATIC_REQUIRE(AffineLayer<Linear<4, 3>>);
  STATIC_REQUIRE(AffineLayer<Linear<4, 3, double>>);
  STATIC_REQUIRE(AffineLayer<Conv1D<4, 3>>);
  STATIC_REQUIRE(!AffineLayer<NotAnAffineLayer>);
  STATIC_REQUIRE(!AffineLayer<Embedding<4, 3>>);
  STATIC_REQUIRE(!AffineLayer<LayerNorm<4>>);

  STATIC_REQUIRE(Norm<LayerNorm<4>>);
  STATIC_REQUIRE(Norm<RMSNorm<4, double>>);
  STATIC_REQUIRE(Norm<NoNorm<4>>);
  STATIC_REQUIRE(!Norm<Linear<4, 4>>);  // no width, no eps constructor

  STATIC_REQUIRE(CausalSelfAttention<GroupedQueryAttention<Qwen>, Qwen, float>);
  STATIC_REQUIRE(CausalSelfAttention<FusedQkvAttention<Gpt2, double>, Gpt2, double>);
  STATIC_REQUIRE(!CausalSelfAttention<FusedQkvAttention<Gpt2>, Gpt2, double>);  // float attention, double residual
  STATIC_REQUIRE(!CausalSelfAttention<SwiGluMlp<Qwen>, Qwen, float>);

  STATIC_REQUIRE(Mlp<SwiGluMlp<Qwen>, float, 16>);
  STATIC_REQUIRE(Mlp<GeluMlp<Gpt2, double>, double, 16>);
  STATIC_REQUIRE(!Mlp<GeluMlp<Gpt2>, float, 32>);
}

TEST_CASE("affine_weight sees Linear's and Conv1D's weights as the same (Out, In) map", "[nn][contracts]") {
  std::mt19937 rng(0);
  Linear<3, 2, double> linear(rng);
  Conv1D<3, 2, double> conv(rng);
  nn_test::randomize_parameters(linear, 1);
  // The same map stored both ways: Conv1D's weight is Linear's transposed.
  for (index_t o = 0; o < 2; ++o) {
    for (index_t i = 0; i < 3; ++i) conv.weight.value()(i, o) = linear.weight.value()(o, i);
    conv.bias.value()(o) = linear.bias->value()(o);
  }
  const auto w_linear = affine_weight(linear), w_conv = affine_weight(conv);
  for (index_t o = 0; o < 2; ++o)
    for (index_t i = 0; i < 3; ++i) CHECK(w_conv(o, i) == w_linear(o, i));

  // A rank-1 merge written once for both layouts, W += s·B·A with B (2, 1) and A (1, 3), gives
  // both layers the map x·(W + s·B·A)ᵀ + b.
  const double s = 0.5, b[2] = {1.0, -2.0}, a[3] = {0.25, 0.5, -1.0};
  const auto merge = [&](AffineLayer auto& layer) {
    auto w = affine_weight(layer);
    for (index_t o = 0; o < 2; ++o)
      for (index_t i = 0; i < 3; ++i) w(o, i) += s * b[o] * a[i];
  };
  const double w01_before = w_linear(0, 1);
  merge(linear);
  merge(conv);
  CHECK(linear.weight.value()(0, 1) == w01_before + s * b[0] * a[1]);
  CHECK(conv.weight.value()(1, 0) == w01_before + s * b[0] * a[1]);
  auto step = tape();
  const auto x = nn_test::random_input<3>(2, 3, 4);
  const auto y_linear = linear(constant(x)).to_tensor(), y_conv = conv(constant(x)).to_tensor();
  for (index_t k = 0; k < y_linear.numel(); ++k) CHECK(y_conv.data()[k] == Approx(y_linear.data()[k]).epsilon(1e-14));
}

TEST_CASE("affine_bias is the bias parameter, or nullptr for a layer without one", "[nn][contracts]") {
  std::mt19937 rng(0);
  Linear<3, 2> with_bias(rng), without_bias(rng, {.bias = false});
  Conv1D<3, 2> conv(rng);
  CHECK(affine_bias(with_bias) == &*with_bias.bias);
  CHECK(affine_bias(without_bias) == nullptr);
  CHECK(affine_bias(conv) == &conv.bias);
  const Linear<3, 2>& read_only = with_bias;
  STATIC_REQUIRE(std::is_same_v<decltype(affine_bias(read_only)), const Parameter<float, Shape<2>>*>);
}

TEST_CASE("every module checks a dynamic input width the same way, naming itself", "[nn][contracts]") {
  std::mt19937 rng(0);
  auto step = tape();
  const Tensor<float, Shape<dyn, dyn>> x(Shape<dyn, dyn>{2, 5}, 0.0f);
  const auto input = constant(x);
  const Linear<4, 2> linear(rng);
  const Conv1D<4, 2> conv(rng);
  CHECK_THROWS_WITH(linear(input), Contains("Linear<4, 2>: input shape (dyn=2, dyn=5) must end in 4"));
  CHECK_THROWS_WITH(conv(input), Contains("Conv1D<4, 2>: input shape (dyn=2, dyn=5) must end in 4"));
  CHECK_THROWS_WITH(LayerNorm<4>()(input), Contains("LayerNorm<4>: input shape (dyn=2, dyn=5) must end in 4"));
  CHECK_THROWS_WITH(RMSNorm<4>()(input), Contains("RMSNorm<4>: input shape (dyn=2, dyn=5) must end in 4"));
  CHECK_THROWS_WITH(NoNorm<4>()(input), Contains("NoNorm<4>: input shape (dyn=2, dyn=5) must end in 4"));
  CHECK_NOTHROW(NoNorm<5>()(input));
}

}  // namespace nn_test_contracts
