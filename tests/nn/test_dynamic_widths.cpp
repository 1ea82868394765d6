// Models whose sizes are dyn: built from run-time values, they compute what the static model of
// the same sizes computes, bit for bit (same kernels, same order of operations), and a wrong
// value is refused with every problem named at once.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "nn_test_support.hpp"
#include "ranklens/adapt/lora_adapters.hpp"
#include "ranklens/io/hf_model.hpp"
#include "ranklens/nn/generate.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"

namespace nn_test_dynamic_widths {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

// Untied, rotations visible at θ = 100, 4 query heads over 2 key/value heads of width 4.
struct StaticQwen : Qwen2Like<16, 2, 4, 2, 13, 24, /*TiedEmbeddings=*/false, 64> {
  static constexpr double rope_theta = 100.0;
  static constexpr double norm_eps = 1e-5;
};
using DynamicQwen = Qwen2Like<dyn, dyn, dyn, dyn, dyn, dyn, /*TiedEmbeddings=*/false, dyn>;
using HalfDynamicQwen = Qwen2Like<dyn, 2, dyn, 2, 13, dyn, /*TiedEmbeddings=*/false, 64>;  // heads and widths at run time
using StaticGpt2 = Gpt2Like<16, 2, 4, 13, 8>;
using DynamicGpt2 = Gpt2Like<dyn, dyn, dyn, dyn, dyn>;

static_assert(!StaticTransformerConfig<DynamicQwen> && StaticTransformerConfig<StaticQwen>);
static_assert(config_dims<DynamicQwen>::head_dim == dyn && config_dims<HalfDynamicQwen>::n_kv_heads == 2);
static_assert(std::is_same_v<Transformer<DynamicQwen>::residual_activation, Var<float, Shape<dyn, dyn, dyn>>>);

// The values of a model's parameters and their gradients, in listing order.
template <class M>
std::vector<float> values_of(M& model, bool gradients) {
  std::vector<float> out;
  for (auto& [name, ref] : named_parameters(model)) {
    const auto* data = static_cast<const float*>(gradients ? ref.grad() : ref.value);
    REQUIRE(data != nullptr);
    out.insert(out.end(), data, data + ref.numel);
  }
  return out;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Logits of a forward and every gradient of one cross-entropy step.
template <class Model>
std::pair<std::vector<float>, std::vector<float>> step(Model& model, const Tensor<std::int32_t, Shape<dyn, dyn>>& tokens,
                                                       const Tensor<std::int32_t, Shape<dyn, dyn>>& targets) {
  auto scope = tape();
  auto logits = model(tokens.view());
  const auto value = logits.value();
  REQUIRE(value.is_contiguous());
  std::vector<float> out(value.data(), value.data() + value.numel());
  backward(cross_entropy(logits, targets));
  return {out, values_of(model, true)};
}

template <class Static, class Dynamic>
void check_same_as_static(const transformer_dims& sizes) {
  std::mt19937 rng_static(7), rng_dynamic(7);
  Transformer<Static> fixed(rng_static);
  Transformer<Dynamic> flexible(rng_dynamic, sizes);
  CHECK(flexible.dims() == fixed.dims());
  REQUIRE(same_bits(values_of(fixed, false), values_of(flexible, false)));  // the same draws, in the same order

  const auto tokens = nn_test::random_tokens(3, 7, std::int32_t(sizes.vocab_size), 1);
  const auto targets = nn_test::random_tokens(3, 7, std::int32_t(sizes.vocab_size), 2);
  const auto [fixed_logits, fixed_grads] = step(fixed, tokens, targets);
  const auto [flexible_logits, flexible_grads] = step(flexible, tokens, targets);
  CHECK(same_bits(fixed_logits, flexible_logits));
  CHECK(same_bits(fixed_grads, flexible_grads));

  // Generation through the KV cache: the same tokens.
  GenerationOptions options;
  options.max_new_tokens = 5;
  const auto prompt = nn_test::random_tokens(2, 3, std::int32_t(sizes.vocab_size), 3);
  CHECK(generate(fixed, prompt.view(), options) == generate(flexible, prompt.view(), options));
}

}  // namespace

TEST_CASE("a Qwen2 model of run-time sizes computes what the static one does, bit for bit", "[nn][dynamic]") {
  const transformer_dims sizes = static_transformer_dims<StaticQwen>();
  check_same_as_static<StaticQwen, DynamicQwen>(sizes);
  check_same_as_static<StaticQwen, HalfDynamicQwen>(sizes);
}

TEST_CASE("a GPT-2 model of run-time sizes computes what the static one does, bit for bit", "[nn][dynamic]") {
  check_same_as_static<StaticGpt2, DynamicGpt2>(static_transformer_dims<StaticGpt2>());
}

TEST_CASE("run-time sizes: the parameter shapes follow them and the hooks see them", "[nn][dynamic]") {
  std::mt19937 rng(1);
  const transformer_dims sizes{.d_model = 24, .n_layers = 3, .n_heads = 6, .n_kv_heads = 3, .vocab_size = 11, .mlp_width = 40,
                               .max_positions = 128, .rope_theta = 1e4, .norm_eps = 1e-6};
  Transformer<DynamicQwen> model(rng, sizes);
  CHECK(model.blocks.size() == 3);
  CHECK(model.blocks[1].attention.k_proj.weight.shape() == Shape<dyn, dyn>{12, 24});
  CHECK(model.blocks[2].mlp.down_proj.weight.shape() == Shape<dyn, dyn>{24, 40});
  CHECK(model.lm_head.weight.shape() == Shape<dyn, dyn>{11, 24});
  Shape<dyn, dyn, dyn, dyn> seen_k{};
  model.add_hook("blocks.1.attn.hook_k", [&](const Transformer<DynamicQwen>::kv_activation& k) {
    seen_k = k.shape();
    return k;
  });
  auto scope = tape();
  const auto tokens = nn_test::random_tokens(2, 5, 11, 4);
  const auto logits = model(tokens.view());
  CHECK(logits.shape() == Shape<dyn, dyn, dyn>{2, 5, 11});
  CHECK(seen_k == Shape<dyn, dyn, dyn, dyn>{2, 5, 3, 4});
}

struct AttentionOnly : Qwen2Like<8, 2, 2, 1, 7> {
  static constexpr mlp_kind mlp = mlp_kind::none;
};

TEST_CASE("the parameter count from the sizes alone is the built model's", "[nn][dynamic]") {
  std::mt19937 rng(1);
  const auto check = [&]<class C>(C) {
    Transformer<C> model(rng);
    CHECK(transformer_parameter_count<C>(model.dims()) == double(parameter_count(model)));
  };
  check(StaticQwen{});
  check(Qwen2Like<16, 2, 4, 2, 13, 24>{});  // tied
  check(StaticGpt2{});
  check(Gpt2Like<24, 3, 2, 37, 16>{});
  check(AttentionOnly{});
}

TEST_CASE("run-time sizes that cannot make a model are refused, every problem at once", "[nn][dynamic]") {
  std::mt19937 rng(1);
  transformer_dims sizes{.d_model = 30, .n_layers = 0, .n_heads = 4, .n_kv_heads = 3, .vocab_size = 11, .mlp_width = 40,
                         .max_positions = 128, .rope_theta = -1, .norm_eps = 1e-6};
  try {
    Transformer<DynamicQwen> model(rng, sizes);
    FAIL("built a model of impossible sizes");
  } catch (const shape_error& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("n_layers must be positive, got 0"));
    CHECK_THAT(message, Catch::Contains("d_model 30 must be divisible by n_heads 4"));
    CHECK_THAT(message, Catch::Contains("n_heads 4 must be divisible by n_kv_heads 3"));
    CHECK_THAT(message, Catch::Contains("rope_theta must be positive"));
  }
  // A size the configuration fixes cannot be overridden at run time.
  sizes = static_transformer_dims<StaticQwen>();
  sizes.n_layers = 3;
  CHECK_THROWS_WITH((Transformer<HalfDynamicQwen>(rng, sizes)),
                    Catch::Contains("n_layers is 3 but the configuration fixes it at 2"));
  sizes.n_layers = 2;
  sizes.n_kv_heads = 2;
  sizes.n_heads = 2;  // head width 8: still a model
  CHECK_NOTHROW(Transformer<HalfDynamicQwen>(rng, sizes));
}

TEST_CASE("layers of run-time widths check their input when they run", "[nn][dynamic]") {
  std::mt19937 rng(1);
  Linear<dyn, dyn> linear(rng, 6, 4);
  CHECK(linear.input_width() == 6);
  CHECK(linear.output_width() == 4);
  auto scope = tape();
  const Tensor<float, Shape<dyn, dyn>> x_value(Shape<dyn, dyn>{3, 6}, 0.5f), wrong_value(Shape<dyn, dyn>{3, 5}, 0.5f);
  const auto x = constant(x_value.view());
  CHECK(linear(x).shape() == Shape<dyn, dyn>{3, 4});
  const auto wrong = constant(wrong_value.view());
  CHECK_THROWS_WITH(linear(wrong), "Linear<dyn, dyn>: input shape (dyn=3, dyn=5) must end in 6");
  CHECK_THROWS_WITH((Linear<dyn, 4>(rng, 6, 5)), "Linear: the output width is fixed at 4, got 5");
  CHECK_THROWS_WITH((RMSNorm<dyn>(0, 1e-6)), "RMSNorm: the width must be positive, got 0");
  RMSNorm<dyn> norm(6, 1e-6);
  CHECK_THROWS_WITH(norm(wrong), "RMSNorm<dyn>: input shape (dyn=3, dyn=5) must end in 6");
}

using AnyUntiedQwen2 = Qwen2Like<dyn, dyn, dyn, dyn, dyn, dyn, false, dyn>;
struct SameQwen2 : Qwen2Like<24, 2, 3, 1, 37, 40, false, 64> {  // the Qwen2 fixture's sizes, compiled in
  static constexpr double rope_theta = 1e4;
  static constexpr double norm_eps = 1e-5;
};

TEST_CASE("LoRA adapters on a model of run-time sizes train as on the static model, bit for bit", "[nn][dynamic][lora]") {
  const transformer_dims sizes = static_transformer_dims<StaticQwen>();
  std::mt19937 rng_static(3), rng_dynamic(3);
  Transformer<StaticQwen> fixed(rng_static);
  Transformer<DynamicQwen> flexible(rng_dynamic, sizes);
  const LoraConfig config{.options = {.alpha = 16, .rslora = true}, .seed = 5};
  LoraAdapters<1, Transformer<StaticQwen>> fixed_adapters(fixed, config);
  LoraAdapters<1, Transformer<DynamicQwen>> flexible_adapters(flexible, config);
  REQUIRE(flexible_adapters.sites().size() == 14);
  CHECK(flexible_adapters.sites()[1].out_features == 8);  // k_proj: 2 key/value heads of width 4
  CHECK(same_bits(values_of(fixed_adapters, false), values_of(flexible_adapters, false)));
  const auto nonzero_b = [](auto& adapters) {
    adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
      float v = 0.01f;
      for (auto& b : adapter.lora_B.value().span()) b = (v += 0.01f);
    });
  };
  nonzero_b(fixed_adapters);
  nonzero_b(flexible_adapters);

  const auto tokens = nn_test::random_tokens(2, 6, 13, 1);
  const auto targets = nn_test::random_tokens(2, 6, 13, 2);
  const auto adapter_step = [&](auto& model, auto& adapters) {
    auto scope = tape();
    auto logits = model(tokens.view());
    const auto value = logits.value();
    std::vector<float> out(value.data(), value.data() + value.numel());
    backward(cross_entropy(logits, targets));
    return std::pair{out, values_of(adapters, true)};
  };
  const auto [fixed_logits, fixed_grads] = adapter_step(fixed, fixed_adapters);
  const auto [flexible_logits, flexible_grads] = adapter_step(flexible, flexible_adapters);
  CHECK(same_bits(fixed_logits, flexible_logits));
  CHECK(same_bits(fixed_grads, flexible_grads));

  // Merged into the weights and back: the same weights as the static model's.
  fixed_adapters.merge();
  flexible_adapters.merge();
  CHECK(same_bits(values_of(fixed, false), values_of(flexible, false)));
  flexible_adapters.unmerge();
  fixed_adapters.unmerge();
  CHECK(same_bits(values_of(fixed, false), values_of(flexible, false)));
}

// Directories that transformers wrote, with its logits: tools/any_shape_parity.py --write-fixtures.
std::filesystem::path any_shape_fixture(const std::string& name) {
  return std::filesystem::path(__FILE__).parent_path() / "fixtures" / "any_shape" / name;
}

// The model's logits for the fixture's tokens, and max |ours − transformers'| / max |transformers'|.
template <class Model>
std::pair<std::vector<float>, double> logits_against_reference(const Model& model, const std::filesystem::path& directory) {
  const auto reference = io::safetensors_reader::open(directory / "reference.safetensors");
  const std::vector<std::int32_t> ids = reference.read_as<std::int32_t>("tokens");
  const std::vector<float> expected = reference.read_as<float>("logits");
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{1, index_t(ids.size())});
  std::copy(ids.begin(), ids.end(), tokens.data());
  auto scope = tape();
  auto guard = no_grad();
  const auto logits = model(tokens.view()).to_tensor();
  const std::vector<float> ours(logits.span().begin(), logits.span().end());
  REQUIRE(ours.size() == expected.size());
  double worst = 0, largest = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    worst = std::max(worst, std::abs(double(ours[i]) - double(expected[i])));
    largest = std::max(largest, std::abs(double(expected[i])));
  }
  return {ours, worst / largest};
}

TEST_CASE("directories of shapes no preset has, as transformers wrote them, load with their sizes and match its logits",
          "[nn][dynamic][io]") {
  SECTION("Qwen2: 3 query heads over 1 key/value head of width 8, untied, θ 1e4, ε 1e-5, stored as bfloat16") {
    const auto model = io::from_pretrained<AnyUntiedQwen2>(any_shape_fixture("qwen2"));
    CHECK(model.dims() == static_transformer_dims<SameQwen2>());
    const auto [ours, error] = logits_against_reference(model, any_shape_fixture("qwen2"));
    CHECK(error <= 1e-5);
    CHECK(same_bits(ours, logits_against_reference(io::from_pretrained<SameQwen2>(any_shape_fixture("qwen2")),
                                                   any_shape_fixture("qwen2")).first));
  }
  SECTION("GPT-2: 2 heads of width 12, 16 positions") {
    const auto model = io::from_pretrained<DynamicGpt2>(any_shape_fixture("gpt2"));
    CHECK(model.dims() == static_transformer_dims<Gpt2Like<24, 2, 2, 37, 16>>());
    CHECK(logits_against_reference(model, any_shape_fixture("gpt2")).second <= 1e-5);
  }
}

}  // namespace nn_test_dynamic_widths
