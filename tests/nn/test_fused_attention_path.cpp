// Attention takes the fused op (ops/fused_causal_attention.hpp) unless a hook reads the scores or
// the pattern; a pass-through hook on hook_pattern forces the materialised path. Both must give
// one model the same logits and parameter gradients.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/reduce.hpp"

#include "nn_test_support.hpp"

namespace nn_test_fused_attention_path {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

struct Outputs {
  std::vector<double> logits, gradients;
};

// Logits of random tokens, and the gradients of Σ w ⊙ logits (fixed random w) for every parameter.
template <class Model>
Outputs logits_and_gradients(Model& model, index_t batch, index_t seq) {
  using T = typename Model::value_type;
  std::mt19937 rng(5);
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{batch, seq});
  for (auto& t : tokens.span()) t = std::int32_t(uniform_below(rng, std::uint64_t(Model::config::vocab_size)));
  for_each_parameter(model, [](std::string_view, auto& p) { p.zero_grad(); });

  Outputs out;
  auto step = tape();
  const auto logits = model(tokens.view());
  Tensor<T, typename decltype(logits)::shape_type> weights(logits.shape());
  for (auto& w : weights.span()) w = T(uniform<double>(rng, -1, 1));
  backward(logits, weights.view());
  for (index_t i = 0; i < logits.numel(); ++i) out.logits.push_back(double(logits.value().data()[i]));
  for_each_parameter(model, [&](std::string_view, auto& p) {
    for (index_t i = 0; i < p.numel(); ++i) out.gradients.push_back(double(p.grad().data()[i]));
  });
  return out;
}

template <class Model>
void check_fused_equals_materialised(index_t batch, index_t seq, double tolerance) {
  std::mt19937 rng(3);
  Model model(rng);
  nn_test::randomize_parameters(model, 4);
  const Outputs fused = logits_and_gradients(model, batch, seq);
  for (index_t layer = 0; layer < Model::config::n_layers; ++layer)
    model.add_hook("blocks." + std::to_string(layer) + ".attn.hook_pattern", [](const typename Model::pattern_activation&) {});
  const Outputs materialised = logits_and_gradients(model, batch, seq);
  REQUIRE(fused.logits.size() == materialised.logits.size());
  REQUIRE(fused.gradients.size() == materialised.gradients.size());
  for (std::size_t i = 0; i < fused.logits.size(); ++i) CHECK(fused.logits[i] == Approx(materialised.logits[i]).margin(tolerance));
  for (std::size_t i = 0; i < fused.gradients.size(); ++i)
    CHECK(fused.gradients[i] == Approx(materialised.gradients[i]).margin(tolerance));
}

}  // namespace

// 70 positions: two query blocks of the fused kernel, the second one partial.
TEST_CASE("a GPT-2 style model gives the same logits and gradients with fused attention", "[nn][attention][transformer]") {
  check_fused_equals_materialised<Transformer<Gpt2Like<16, 2, 2, 11, 80>, double>>(2, 70, 1e-12);
  check_fused_equals_materialised<Transformer<Gpt2Like<16, 2, 2, 11, 80>, float>>(2, 70, 1e-5);
}

TEST_CASE("a grouped-query Qwen2 style model gives the same logits and gradients with fused attention",
          "[nn][attention][transformer]") {
  check_fused_equals_materialised<Transformer<Qwen2Like<16, 2, 4, 2, 11>, double>>(2, 9, 1e-12);
  check_fused_equals_materialised<Transformer<Qwen2Like<16, 2, 4, 2, 11>, float>>(2, 9, 1e-5);
}

}  // namespace nn_test_fused_attention_path
