// LoraAdapters on the Qwen2-like and GPT-2-like models: selection, freezing, merging,
// capture of the adapter state, ablation and training (adapt/lora_adapters.hpp).
#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <string>

#include "../nn/nn_test_support.hpp"
#include "ranklens/adapt/adapter_ablation.hpp"
#include "ranklens/adapt/lora_adapters.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/ops/normalization.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/optim/adamw.hpp"

namespace adapt_test_lora_adapters {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

using Qwen = Qwen2Like<16, 2, 4, 2, 32, 24>;  // d 16, 2 layers, 4 heads over 2 kv heads, vocab 32, MLP 24
using Gpt = Gpt2Like<16, 2, 2, 32, 64>;
struct QwenAttentionOnly : Qwen2Like<16, 3, 2, 2, 32> {
  static constexpr mlp_kind mlp = mlp_kind::none;
};

// B's entries uniform in ±bound, so that the adapters act.
template <class Adapters>
void randomize_b(Adapters& adapters, unsigned seed, double bound = 0.3) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-bound, bound);
  adapters.for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
    for (auto& v : adapter.lora_B.value().span()) v = std::remove_cvref_t<decltype(v)>(dist(rng));
  });
}

template <class Model>
auto logits_of(Model& model, const Tensor<std::int32_t, Shape<dyn, dyn>>& tokens) {
  auto step = tape();
  auto guard = no_grad();
  return model(tokens.view()).to_tensor();
}

// The adapter state of one forward over `tokens`, without gradients.
template <class Adapters, class Model>
Tensor<float, Shape<dyn, dyn>> state_of(Adapters& adapters, Model& model, const Tensor<std::int32_t, Shape<dyn, dyn>>& tokens) {
  return adapters.capture_state([&] { logits_of(model, tokens); });
}

}  // namespace

TEST_CASE("By default every projection of every layer gets an adapter, in the paper's order", "[adapt][lora]") {
  std::mt19937 rng(0);
  Transformer<Qwen> qwen(rng);
  LoraAdapters<1, Transformer<Qwen>> on_qwen(qwen);
  REQUIRE(on_qwen.sites().size() == 14);
  CHECK(on_qwen.sites()[0].module_path == "model.layers.0.self_attn.q_proj");
  CHECK(on_qwen.sites()[6].module_path == "model.layers.0.mlp.down_proj");
  CHECK(on_qwen.sites()[7].site == "self_attn.q_proj");
  CHECK(on_qwen.sites()[7].layer == 1);
  CHECK(on_qwen.sites()[1].out_features == 8);  // k_proj: 2 kv heads of width 4
  CHECK(on_qwen.sites()[6].in_features == 24);  // down_proj reads the MLP's hidden width
  CHECK(on_qwen.state_width() == 14);

  // Rank 1 on every projection: (in + out) per site.
  index_t expected = 0;
  for (const auto& site : on_qwen.sites()) expected += site.in_features + site.out_features;
  CHECK(on_qwen.trainable_parameter_count() == expected);
  const auto names = named_parameters(on_qwen);
  REQUIRE(names.size() == 28);
  CHECK(names[0].first == "model.layers.0.self_attn.q_proj.lora_A.weight");
  CHECK(names[1].first == "model.layers.0.self_attn.q_proj.lora_B.weight");
  CHECK(std::string(on_qwen.parameters()[27].name) == "model.layers.1.mlp.down_proj.lora_B.weight");

  Transformer<Gpt> gpt(rng);
  LoraAdapters<2, Transformer<Gpt>> on_gpt(gpt);
  REQUIRE(on_gpt.sites().size() == 8);
  CHECK(on_gpt.sites()[0].module_path == "transformer.h.0.attn.c_attn");
  CHECK(on_gpt.sites()[0].out_features == 48);
  CHECK(on_gpt.sites()[3].module_path == "transformer.h.0.mlp.c_proj");
  CHECK(on_gpt.state_width() == 16);

  Transformer<QwenAttentionOnly> attention_only(rng);
  LoraAdapters<1, Transformer<QwenAttentionOnly>> on_attention(attention_only);
  CHECK(on_attention.sites().size() == 12);
}

TEST_CASE("Target modules and layers select adapters as PEFT selects them", "[adapt][lora]") {
  std::mt19937 rng(1);
  Transformer<Gpt> gpt(rng);
  {
    LoraAdapters<1, Transformer<Gpt>> c_proj(gpt, {.target_modules = {"c_proj"}});  // both attn.c_proj and mlp.c_proj
    REQUIRE(c_proj.sites().size() == 4);
    CHECK(c_proj.sites()[1].module_path == "transformer.h.0.mlp.c_proj");
  }
  {
    LoraAdapters<1, Transformer<Gpt>> attn_only(gpt, {.target_modules = {"attn.c_proj", "c_fc"}, .layers = {1}});
    REQUIRE(attn_only.sites().size() == 2);
    CHECK(attn_only.sites()[0].module_path == "transformer.h.1.attn.c_proj");
    CHECK(attn_only.sites()[1].module_path == "transformer.h.1.mlp.c_fc");
  }
  CHECK_THROWS_WITH((LoraAdapters<1, Transformer<Gpt>>(gpt, {.target_modules = {"q_proj"}})),
                    Catch::Contains("'q_proj' matches no projection") && Catch::Contains("attn.c_attn"));
  CHECK_THROWS_WITH((LoraAdapters<1, Transformer<Gpt>>(gpt, {.layers = {2}})), Catch::Contains("layer 2 does not exist"));
  CHECK_THROWS_WITH((LoraAdapters<1, Transformer<Gpt>>(gpt, {.options = {.dropout = -0.1}})), Catch::Contains("dropout"));
  // A refused configuration attached nothing and froze nothing.
  for_each_parameter(gpt, [](std::string_view, auto& p) { CHECK_FALSE(p.frozen()); });
  LoraAdapters<1, Transformer<Gpt>> first(gpt, {.target_modules = {"c_fc"}});
  CHECK_THROWS_WITH((LoraAdapters<1, Transformer<Gpt>>(gpt)), Catch::Contains("already has an adapter"));
}

TEST_CASE("Fresh adapters change no logit, attaching freezes the model and detaching restores it", "[adapt][lora]") {
  std::mt19937 rng(2);
  Transformer<Qwen> model(rng);
  nn_test::randomize_parameters(model, 3);
  model.blocks[1].mlp.up_proj.weight.freeze();  // frozen before: must stay frozen after detaching
  const auto tokens = nn_test::random_tokens(2, 9, 32, 4);
  const auto plain = logits_of(model, tokens);
  {
    LoraAdapters<2, Transformer<Qwen>> adapters(model, {.options = {.alpha = 16, .rslora = true}, .seed = 5});
    for_each_parameter(model, [](std::string_view, auto& p) { CHECK(p.frozen()); });
    const auto fresh = logits_of(model, tokens);
    for (index_t i = 0; i < plain.numel(); ++i) REQUIRE(fresh.data()[i] == plain.data()[i]);
    randomize_b(adapters, 6);
    const auto adapted = logits_of(model, tokens);
    double largest_change = 0;
    for (index_t i = 0; i < plain.numel(); ++i) largest_change = std::max(largest_change, double(std::abs(adapted.data()[i] - plain.data()[i])));
    CHECK(largest_change > 1e-2);
  }
  const auto after = logits_of(model, tokens);
  for (index_t i = 0; i < plain.numel(); ++i) REQUIRE(after.data()[i] == plain.data()[i]);
  for_each_parameter(model, [&](std::string_view name, auto& p) { CHECK(p.frozen() == (name == "model.layers.1.mlp.up_proj.weight")); });
}

TEST_CASE("merge folds the adapters into the weights to float rounding, unmerge restores them exactly", "[adapt][lora]") {
  std::mt19937 rng(7);
  const auto check_model = [&](auto& model) {
    using Model = std::remove_cvref_t<decltype(model)>;
    nn_test::randomize_parameters(model, 8);
    const auto before = nn_test::state_dict(model);
    const auto tokens = nn_test::random_tokens(2, 7, 32, 9);
    LoraAdapters<3, Model> adapters(model, {.options = {.alpha = 8}});
    randomize_b(adapters, 10);
    const auto adapted = logits_of(model, tokens);
    adapters.merge();
    CHECK(adapters.merged());
    CHECK(nn_test::state_dict(model) != before);
    const auto merged = logits_of(model, tokens);  // the adapters pass through while merged
    for (index_t i = 0; i < adapted.numel(); ++i) REQUIRE(merged.data()[i] == Approx(adapted.data()[i]).margin(2e-5));
    adapters.unmerge();
    CHECK(nn_test::state_dict(model) == before);  // exactly
    const auto unmerged = logits_of(model, tokens);
    for (index_t i = 0; i < adapted.numel(); ++i) REQUIRE(unmerged.data()[i] == adapted.data()[i]);
    adapters.merge();  // destroyed while merged: the weights come back too
  };
  Transformer<Qwen> qwen(rng);
  const auto qwen_before = nn_test::state_dict(qwen);
  check_model(qwen);
  (void)qwen_before;
  Transformer<Gpt> gpt(rng);
  nn_test::randomize_parameters(gpt, 8);
  const auto gpt_before = nn_test::state_dict(gpt);
  check_model(gpt);
  CHECK(nn_test::state_dict(gpt) == gpt_before);
}

TEST_CASE("The adapter state holds A·x for each adapter, with x where PEFT takes it", "[adapt][lora]") {
  std::mt19937 rng(11);
  Transformer<Qwen> model(rng);
  nn_test::randomize_parameters(model, 12);
  LoraAdapters<2, Transformer<Qwen>> adapters(model);
  randomize_b(adapters, 13);
  const auto tokens = nn_test::random_tokens(2, 5, 32, 14);

  // The inputs of each projection, from the hook points (resid_pre → attention norm, z, the
  // residual after attention → MLP norm, the SwiGLU hidden).
  using residual_tensor = Tensor<float, Shape<dyn, dyn, 16>>;
  std::vector<residual_tensor> resid_pre(2), resid_mid(2);
  std::vector<Tensor<float, Shape<dyn, dyn, 4, 4>>> z(2);
  std::vector<Tensor<float, Shape<dyn, dyn, 24>>> hidden(2);
  for (int l = 0; l < 2; ++l) {
    const std::string block = "blocks." + std::to_string(l) + ".";
    using M = Transformer<Qwen>;
    const auto at = std::size_t(l);
    model.add_hook(block + "hook_resid_pre", [&, at](const M::residual_activation& v) { resid_pre[at] = v.to_tensor(); });
    model.add_hook(block + "hook_resid_mid", [&, at](const M::residual_activation& v) { resid_mid[at] = v.to_tensor(); });
    model.add_hook(block + "attn.hook_z", [&, at](const M::head_activation& v) { z[at] = v.to_tensor(); });
    model.add_hook(block + "mlp.hook_post", [&, at](const M::mlp_activation& v) { hidden[at] = v.to_tensor(); });
  }
  const auto state = adapters.capture_state([&] {
    auto step = tape();
    auto guard = no_grad();
    model(tokens.view());
  });
  model.reset_hooks();
  REQUIRE(state.extent(0) == 10);
  REQUIRE(state.extent(1) == 28);

  auto step = tape();
  auto guard = no_grad();
  index_t column = 0;
  adapters.for_each_attached([&](const LoraSite& site, auto& adapter, auto&) {
    const auto l = std::size_t(site.layer);
    auto& block = model.blocks[l];
    Tensor<float, Shape<dyn, dyn>> x;
    if (site.site == "self_attn.o_proj")
      x = reshape(constant(z[l]), Shape<dyn, dyn>{10, 16}).to_tensor();
    else if (site.site == "mlp.down_proj")
      x = reshape(constant(hidden[l]), Shape<dyn, dyn>{10, 24}).to_tensor();
    else if (site.site.starts_with("self_attn"))
      x = reshape(block.attention_norm(constant(resid_pre[l])), Shape<dyn, dyn>{10, 16}).to_tensor();
    else
      x = reshape(block.mlp_norm(constant(resid_mid[l])), Shape<dyn, dyn>{10, 16}).to_tensor();
    const auto a = adapter.lora_A.value();
    for (index_t r = 0; r < 10; ++r)
      for (index_t j = 0; j < 2; ++j) {
        double expected = 0;
        for (index_t i = 0; i < x.extent(1); ++i) expected += double(x(r, i)) * double(a(j, i));
        INFO(site.module_path << " row " << r << " rank " << j);
        REQUIRE(state(r, column + j) == Approx(expected).margin(1e-5));
      }
    column += 2;
  });
  // Captured also while the adapters are disabled or merged (the activations still exist).
  adapters.set_enabled([](const LoraSite&) { return false; });
  const auto disabled_state = adapters.capture_state([&] { model(tokens.view()); });
  adapters.enable_all();
  adapters.merge();
  const auto merged_state = adapters.capture_state([&] { model(tokens.view()); });
  adapters.unmerge();
  // Layer 0's inputs do not depend on adapters when all are disabled or merged... only the first site's.
  for (index_t r = 0; r < 10; ++r) {
    CHECK(disabled_state(r, 0) == Approx(state(r, 0)).margin(1e-6));
    CHECK(merged_state(r, 0) == Approx(state(r, 0)).margin(1e-5));
  }
}

TEST_CASE("replace_state splices given activations in: the captured state gives the model back bit for bit, zeros switch adapters off",
          "[adapt][lora]") {
  std::mt19937 rng(31);
  Transformer<Qwen> model(rng);
  nn_test::randomize_parameters(model, 32);
  const auto tokens = nn_test::random_tokens(2, 5, 32, 33);
  const auto base = logits_of(model, tokens);
  LoraAdapters<1, Transformer<Qwen>> adapters(model);
  randomize_b(adapters, 34);
  const auto clean = logits_of(model, tokens);
  const auto replaced_by = [&](const Tensor<float, Shape<dyn, dyn>>& s) {
    Tensor<float, Shape<dyn, dyn, 32>> logits;
    adapters.replace_state(s, [&] { logits = logits_of(model, tokens); });
    return logits;
  };
  const auto state = state_of(adapters, model, tokens);
  const auto same = replaced_by(state);
  for (index_t i = 0; i < clean.numel(); ++i) REQUIRE(same.data()[i] == clean.data()[i]);
  auto zeros = Tensor<float, Shape<dyn, dyn>>::zeros(state.shape());
  const auto off = replaced_by(zeros);
  for (index_t i = 0; i < base.numel(); ++i) REQUIRE(off.data()[i] == base.data()[i]);
  // The replacement is what each adapter reads: another state moves the logits, and afterwards
  // the adapters compute A·x again.
  auto scaled = state;
  for (auto& v : scaled.span()) v *= 0.5f;
  const auto half = replaced_by(scaled);
  int moved = 0;
  for (index_t i = 0; i < clean.numel(); ++i) moved += half.data()[i] != clean.data()[i] && half.data()[i] != base.data()[i];
  CHECK(moved > clean.numel() / 2);
  const auto after = logits_of(model, tokens);
  for (index_t i = 0; i < clean.numel(); ++i) REQUIRE(after.data()[i] == clean.data()[i]);

  // Refused: a table of another width or length, a forward that records gradients, merged adapters.
  CHECK_THROWS_AS(adapters.replace_state(Tensor<float, Shape<dyn, dyn>>::zeros(Shape<dyn, dyn>{10, 13}), [] {}), shape_error);
  const auto short_state = Tensor<float, Shape<dyn, dyn>>::zeros(Shape<dyn, dyn>{4, 14});
  CHECK_THROWS_WITH(adapters.replace_state(short_state, [&] { logits_of(model, tokens); }),
                    Catch::Contains("10 rows") && Catch::Contains("have 4"));
  CHECK_THROWS_WITH(adapters.replace_state(state, [&] {
                      auto step = tape();
                      model(tokens.view());
                    }),
                    Catch::Contains("no_grad"));
  adapters.merge();
  CHECK_THROWS_WITH(adapters.replace_state(state, [] {}), Catch::Contains("merged"));
  adapters.unmerge();
  const auto restored = logits_of(model, tokens);
  for (index_t i = 0; i < clean.numel(); ++i) REQUIRE(restored.data()[i] == clean.data()[i]);
}

TEST_CASE("replace_state of one adapter's activation acts like scaling its B (rank 2, the last layer's down_proj)", "[adapt][lora]") {
  std::mt19937 rng(35);
  Transformer<Qwen> model(rng);
  nn_test::randomize_parameters(model, 36);
  const auto tokens = nn_test::random_tokens(1, 6, 32, 37);
  LoraAdapters<2, Transformer<Qwen>> adapters(model, {.target_modules = {"down_proj"}, .layers = {1}});
  randomize_b(adapters, 38);
  auto state = state_of(adapters, model, tokens);
  REQUIRE(state.extent(1) == 2);
  for (auto& v : state.span()) v *= 2.0f;  // doubling u is doubling B, exactly: nothing after this adapter is adapted
  Tensor<float, Shape<dyn, dyn, 32>> replaced;
  adapters.replace_state(state, [&] { replaced = logits_of(model, tokens); });
  adapters.for_each_attached([](const LoraSite&, auto& adapter, auto&) {
    for (auto& v : adapter.lora_B.value().span()) v *= 2.0f;
  });
  const auto doubled_b = logits_of(model, tokens);
  for (index_t i = 0; i < doubled_b.numel(); ++i) REQUIRE(replaced.data()[i] == doubled_b.data()[i]);
}

TEST_CASE("Ablating adapters by layer or kind: all off gives the base model", "[adapt][lora]") {
  std::mt19937 rng(15);
  Transformer<Qwen> model(rng);
  nn_test::randomize_parameters(model, 16);
  const auto tokens = nn_test::random_tokens(1, 6, 32, 17);
  const auto base = logits_of(model, tokens);
  LoraAdapters<1, Transformer<Qwen>> adapters(model);
  randomize_b(adapters, 18);
  const auto full = logits_of(model, tokens);
  adapters.set_enabled([](const LoraSite&) { return false; });
  const auto none = logits_of(model, tokens);
  for (index_t i = 0; i < base.numel(); ++i) REQUIRE(none.data()[i] == base.data()[i]);
  adapters.set_enabled([](const LoraSite& site) { return site.layer == 1 && site.site.starts_with("mlp"); });
  const auto some = logits_of(model, tokens);
  int differs_from_both = 0;
  for (index_t i = 0; i < base.numel(); ++i) differs_from_both += some.data()[i] != base.data()[i] && some.data()[i] != full.data()[i];
  CHECK(differs_from_both > base.numel() / 2);
  adapters.enable_all();
  const auto again = logits_of(model, tokens);
  for (index_t i = 0; i < full.numel(); ++i) REQUIRE(again.data()[i] == full.data()[i]);
}

TEST_CASE("Adapter gradients through a whole float64 model pass the gradient check, the base gets none", "[adapt][lora][gradcheck]") {
  std::mt19937 rng(19);
  Transformer<Qwen, double> model(rng);
  nn_test::randomize_parameters(model, 20);
  LoraAdapters<1, Transformer<Qwen, double>> adapters(model, {.options = {.alpha = 2}});
  randomize_b(adapters, 21);
  const auto tokens = nn_test::random_tokens(1, 5, 32, 22);
  const auto logits = [&] { return model(tokens.view()); };
  std::size_t s = 0;
  adapters.for_each_attached([&](const LoraSite& site, auto& adapter, auto&) {
    if (s++ % 4 != 0) return;  // q_proj and gate_proj of layer 0, k_proj and up_proj of layer 1
    INFO(site.module_path);
    CHECK(nn_test::check_parameter_gradients(logits, adapter.lora_A, adapter.lora_B));
  });
  {
    auto step = tape();
    backward(sum(logits()));
  }
  for_each_parameter(model, [](std::string_view name, auto& p) {
    INFO(name);
    REQUIRE_FALSE(p.has_grad());  // frozen: no gradient buffer at all
  });
}

TEST_CASE("Training the adapters lowers the loss and leaves every base weight as it was", "[adapt][lora]") {
  std::mt19937 rng(23);
  Transformer<Qwen> model(rng);
  nn_test::randomize_parameters(model, 25);  // embeddings large enough for the logits to move
  const auto before = nn_test::state_dict(model);
  LoraAdapters<1, Transformer<Qwen>> adapters(model, {.options = {.alpha = 16, .rslora = true}});
  AdamW optimizer(adapters.parameters(), {.lr = 1e-2, .beta2 = 0.95, .weight_decay = 1e-4});
  // One fixed batch whose targets all are token 7: a direction the adapters can learn.
  const auto tokens = nn_test::random_tokens(4, 12, 32, 24);
  Tensor<std::int32_t, Shape<dyn, dyn>> targets(Shape<dyn, dyn>{4, 12});
  for (index_t b = 0; b < 4; ++b)
    for (index_t t = 0; t < 12; ++t) targets(b, t) = 7;
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    optimizer.zero_grad();
    auto scope = tape();
    const auto loss = cross_entropy(model(tokens.view()), targets.view());
    (step == 0 ? first : last) = loss.item();
    backward(loss);
    optimizer.step();
  }
  CHECK(last < first - 0.5);
  CHECK(nn_test::state_dict(model) == before);
}

TEST_CASE("kl_of_logits is KL(p || q) of the two softmaxes, row by row", "[adapt][ablation]") {
  const std::vector<double> p{0.0, std::log(2.0), 1.0, 1.0}, q{0.0, 0.0, 1.0, 1.0};
  double kl[2];
  kl_of_logits<double>(p.data(), q.data(), 2, 2, kl);
  CHECK(kl[0] == Approx(std::log(2.0 / 3.0) / 3 + 2 * std::log(4.0 / 3.0) / 3));
  CHECK(kl[1] == 0.0);
}

TEST_CASE("ablation_kl measures how far switching adapters off moves each token, and restores their flags", "[adapt][ablation]") {
  std::mt19937 rng(31);
  Transformer<Qwen> model(rng);
  nn_test::randomize_parameters(model, 32);
  LoraAdapters<1, Transformer<Qwen>> adapters(model);
  randomize_b(adapters, 33);
  const auto tokens = nn_test::random_tokens(2, 6, 32, 34);
  adapters.set_enabled([](const LoraSite& site) { return site.module_path != "model.layers.0.self_attn.k_proj"; });
  const auto none = ablation_kl(adapters, [](const LoraSite&) { return false; }, tokens.view());
  for (const double v : none.span()) CHECK(v == 0.0);
  const auto mlp = ablation_kl(adapters, [](const LoraSite& site) { return site.site.starts_with("mlp"); }, tokens.view());
  const auto all = ablation_kl(adapters, [](const LoraSite&) { return true; }, tokens.view());
  REQUIRE(all.extent(0) == 2);
  REQUIRE(all.extent(1) == 6);
  double mlp_mean = 0, all_mean = 0;
  for (index_t i = 0; i < all.numel(); ++i) mlp_mean += mlp.data()[i] / 12, all_mean += all.data()[i] / 12;
  CHECK(mlp_mean > 0);
  CHECK(all_mean > mlp_mean);
  // The flags are as they were: k_proj of layer 0 off, the rest on.
  adapters.for_each_attached([](const LoraSite& site, auto& adapter, auto&) {
    CHECK(adapter.enabled() == (site.module_path != "model.layers.0.self_attn.k_proj"));
  });
}

}  // namespace adapt_test_lora_adapters
