#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "nn_test_support.hpp"
#include "ranklens/nn/linear.hpp"
#include "ranklens/nn/transformer.hpp"

namespace nn_test_module {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

std::vector<std::string> names_of(auto& model) {
  std::vector<std::string> out;
  for (auto& [name, ref] : named_parameters(model)) out.push_back(name);
  return out;
}

// A module of the generic kinds of part: a Parameter, a module, an optional, a vector, Absent.
struct Toy {
  template <class Generator>
  explicit Toy(Generator& rng) : scale(Tensor<float, Shape<2>>(Shape<2>{}, 1.0f), "scale"), proj(rng) {
    layers.emplace_back(rng, LinearOptions{.bias = false});
    layers.emplace_back(rng);
  }
  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("scale", self.scale);
    visit("proj", self.proj);
    visit("extra", self.extra);
    visit("layers", self.layers);
    visit("missing", self.missing);
  }
  Parameter<float, Shape<2>> scale;
  Linear<2, 3> proj;
  std::optional<Parameter<float, Shape<1>>> extra;
  std::vector<Linear<3, 3>> layers;
  [[no_unique_address]] Absent missing;
};

struct NoBias : Qwen2Like<8, 1, 2, 1, 11> {
  static constexpr bool qkv_bias = false;
};
struct AttentionOnly : Gpt2Like<8, 1, 2, 11, 16> {
  static constexpr mlp_kind mlp = mlp_kind::none;
  static constexpr bool tied_embeddings = false;
};

}  // namespace

TEST_CASE("the walk joins names with dots through modules, optionals, vectors and absent parts", "[nn][module]") {
  std::mt19937 rng(0);
  Toy toy(rng);
  CHECK(names_of(toy) == std::vector<std::string>{"scale", "proj.weight", "proj.bias", "layers.0.weight", "layers.1.weight",
                                                  "layers.1.bias"});
  toy.extra.emplace(Tensor<float, Shape<1>>(Shape<1>{}, 0.0f));
  CHECK(names_of(toy)[3] == "extra");
  CHECK(parameter_count(toy) == 2 + 6 + 3 + 1 + 9 + 12);
  name_parameters(toy, "toy");
  CHECK(toy.layers[1].bias->name() == "toy.layers.1.bias");
  CHECK(parameters(toy)[2].name == "toy.proj.bias");
}

TEST_CASE("for_each_parameter hands each parameter over with its full static type", "[nn][module]") {
  std::mt19937 rng(0);
  Toy toy(rng);
  int matrices_3x3 = 0;
  for_each_parameter(toy, [&](std::string_view, auto& p) {
    if constexpr (std::is_same_v<decltype(p), Parameter<float, Shape<3, 3>>&>) ++matrices_3x3;
  });
  CHECK(matrices_3x3 == 2);
}

TEST_CASE("a Qwen2-style model's parameters carry Hugging Face's names", "[nn][module][names]") {
  std::mt19937 rng(0);
  const std::vector<std::string> layer0 = {
      "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.k_proj.weight",
      "model.layers.0.self_attn.k_proj.bias",   "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.v_proj.bias",
      "model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.gate_proj.weight",    "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight",    "model.layers.0.input_layernorm.weight",  "model.layers.0.post_attention_layernorm.weight"};
  std::vector<std::string> expected = {"model.embed_tokens.weight"};
  for (int layer = 0; layer < 2; ++layer)
    for (const std::string& name : layer0) expected.push_back(name.substr(0, 13) + char('0' + layer) + name.substr(14));
  expected.push_back("model.norm.weight");

  Transformer<Qwen2Like<8, 2, 2, 1, 11>> tied(rng);  // tied by default, as Qwen2-0.5B
  CHECK(names_of(tied) == expected);
  CHECK(expected[13] == "model.layers.1.self_attn.q_proj.weight");  // the list itself is right

  Transformer<Qwen2Like<8, 2, 2, 1, 11, 32, false>> untied(rng);
  expected.push_back("lm_head.weight");
  CHECK(names_of(untied) == expected);
  // The type-erased references that optimizers and checkpoints get carry the same names.
  const auto refs = parameters(untied);
  REQUIRE(refs.size() == expected.size());
  for (std::size_t i = 0; i < refs.size(); ++i) CHECK(refs[i].name == expected[i]);
  CHECK(untied.blocks[1].attention.k_proj.bias->name() == "model.layers.1.self_attn.k_proj.bias");
}

TEST_CASE("a GPT-2-style model's parameters carry Hugging Face's names", "[nn][module][names]") {
  std::mt19937 rng(0);
  Transformer<Gpt2Like<8, 2, 2, 11, 16>> model(rng);
  const std::vector<std::string> expected = {
      "transformer.wte.weight",
      "transformer.wpe.weight",
      "transformer.h.0.ln_1.weight",
      "transformer.h.0.ln_1.bias",
      "transformer.h.0.attn.c_attn.weight",
      "transformer.h.0.attn.c_attn.bias",
      "transformer.h.0.attn.c_proj.weight",
      "transformer.h.0.attn.c_proj.bias",
      "transformer.h.0.ln_2.weight",
      "transformer.h.0.ln_2.bias",
      "transformer.h.0.mlp.c_fc.weight",
      "transformer.h.0.mlp.c_fc.bias",
      "transformer.h.0.mlp.c_proj.weight",
      "transformer.h.0.mlp.c_proj.bias",
      "transformer.h.1.ln_1.weight",
      "transformer.h.1.ln_1.bias",
      "transformer.h.1.attn.c_attn.weight",
      "transformer.h.1.attn.c_attn.bias",
      "transformer.h.1.attn.c_proj.weight",
      "transformer.h.1.attn.c_proj.bias",
      "transformer.h.1.ln_2.weight",
      "transformer.h.1.ln_2.bias",
      "transformer.h.1.mlp.c_fc.weight",
      "transformer.h.1.mlp.c_fc.bias",
      "transformer.h.1.mlp.c_proj.weight",
      "transformer.h.1.mlp.c_proj.bias",
      "transformer.ln_f.weight",
      "transformer.ln_f.bias",
  };
  CHECK(names_of(model) == expected);
  // HF's shapes: Conv1D weights are (in, out).
  static_assert(std::is_same_v<decltype(model.blocks[0].attention.c_attn.weight)::shape_type, Shape<8, 24>>);
  static_assert(std::is_same_v<decltype(model.blocks[0].mlp.c_fc.weight)::shape_type, Shape<8, 32>>);
  static_assert(std::is_same_v<decltype(model.blocks[0].mlp.c_proj.weight)::shape_type, Shape<32, 8>>);
  static_assert(std::is_same_v<decltype(model.position_embedding.weight)::shape_type, Shape<16, 8>>);
}

TEST_CASE("configuration switches remove the parameters they turn off", "[nn][module][names]") {
  std::mt19937 rng(0);
  Transformer<NoBias> no_bias(rng);
  for (const auto& name : names_of(no_bias)) CHECK_FALSE(name.ends_with("bias"));
  Transformer<AttentionOnly> attention_only(rng);
  CHECK(names_of(attention_only) ==
        std::vector<std::string>{"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
                                 "transformer.h.0.ln_1.bias", "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
                                 "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias", "transformer.ln_f.weight",
                                 "transformer.ln_f.bias", "lm_head.weight"});
}

}  // namespace nn_test_module
