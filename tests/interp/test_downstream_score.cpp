#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "ranklens/interp/downstream_score.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/sae/sparse_autoencoder.hpp"

namespace interp_test_downstream_score {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

using Model = Transformer<Gpt2Like<16, 2, 2, 11, 32>>;
using Residual = Model::residual_activation;
using Tokens = Tensor<std::int32_t, Shape<dyn, dyn>>;
constexpr const char* hook = "blocks.0.hook_resid_post";

struct Batch {
  Tokens tokens{Shape<dyn, dyn>{3, 12}}, targets{Shape<dyn, dyn>{3, 12}};
  Batch() {
    std::mt19937 rng(1);
    for (index_t b = 0; b < 3; ++b)
      for (index_t t = 0; t < 12; ++t) {
        tokens(b, t) = std::int32_t(rng() % 11);
        targets(b, t) = std::int32_t(rng() % 11);
      }
    targets(0, 0) = -100;  // ignored
  }
};

// The model's mean cross-entropy with `f` applied at the hook (the reference, by the loss op).
template <class F>
double loss_with(Model& model, const Batch& batch, F f) {
  model.add_hook(hook, [&](const Residual& a) -> Residual { return f(a); });
  auto guard = no_grad();
  auto step = tape();
  const double loss = cross_entropy(model(batch.tokens), batch.targets).item();
  model.reset_hooks();
  return loss;
}

}  // namespace

TEST_CASE("splicing the activation back in unchanged recovers everything, zeros recover nothing", "[interp][downstream]") {
  std::mt19937 init(2);
  Model model(init);
  const Batch batch;
  const auto identity = interp::downstream_score_at_hook<Residual>(model, hook, batch.tokens, batch.targets, [](const Residual& a) { return a; });
  CHECK(identity.loss_recovered == Approx(1.0).epsilon(1e-9));
  CHECK(identity.kl_spliced == Approx(0.0).margin(1e-12));
  CHECK(identity.kl_recovered == Approx(1.0).epsilon(1e-9));
  CHECK(identity.kl_ablated > 0);
  CHECK(identity.positions == 36);
  const auto zeros = interp::downstream_score_at_hook<Residual>(model, hook, batch.tokens, batch.targets, [](const Residual& a) { return a * 0.0f; });
  CHECK(zeros.loss_recovered == Approx(0.0).margin(1e-9));
  CHECK(zeros.kl_recovered == Approx(0.0).margin(1e-9));
}

TEST_CASE("the three losses are the model's cross-entropy with the hook doing each thing", "[interp][downstream]") {
  std::mt19937 init(3);
  Model model(init);
  const Batch batch;
  Rng gen(4);
  const SparseAutoencoder<4, 16, 64> sae(gen, SaeActivation::top_k);
  const auto reconstruct = [&](const Residual& a) { return sae.reconstruct(a, SaeActivation::top_k); };
  const auto score = interp::downstream_score_at_hook<Residual>(model, hook, batch.tokens, batch.targets, reconstruct);
  CHECK(score.loss_clean == Approx(loss_with(model, batch, [](const Residual& a) { return a; })).epsilon(1e-5));
  CHECK(score.loss_spliced == Approx(loss_with(model, batch, reconstruct)).epsilon(1e-5));
  CHECK(score.loss_ablated == Approx(loss_with(model, batch, [](const Residual& a) { return a * 0.0f; })).epsilon(1e-5));
  CHECK(score.loss_recovered ==
        Approx((score.loss_ablated - score.loss_spliced) / (score.loss_ablated - score.loss_clean)).epsilon(1e-12));
  CHECK(score.kl_spliced > 0);
}

TEST_CASE("the KL can leave out the positions no loss reads (KlPositions::scored)", "[interp][downstream]") {
  // Three runs that agree everywhere but at the one ignored position (0, 0).
  using Logits = Tensor<float, Shape<dyn, dyn, 5>>;
  Logits clean(Shape<dyn, dyn, 5>{2, 3}), other(Shape<dyn, dyn, 5>{2, 3});
  for (index_t i = 0; i < clean.numel(); ++i) clean.data()[i] = other.data()[i] = float(i % 7) * 0.3f;
  for (index_t j = 0; j < 5; ++j) other(0, 0, j) = float(j);
  Tokens targets(Shape<dyn, dyn>{2, 3});
  for (index_t i = 0; i < targets.numel(); ++i) targets.data()[i] = std::int32_t(i % 5);
  targets(0, 0) = -100;
  const auto runs = [&](interp::SpliceMode mode) { return mode == interp::SpliceMode::clean ? clean : other; };
  const auto everywhere = interp::downstream_score(runs, targets);
  const auto scored = interp::downstream_score(runs, targets, -100, interp::KlPositions::scored);
  CHECK(everywhere.positions == 6);
  CHECK(everywhere.kl_spliced > 0);
  CHECK(scored.positions == 5);
  CHECK(scored.kl_spliced == 0.0);
  CHECK(scored.loss_clean == everywhere.loss_clean);  // the losses read the same positions either way
  CHECK(scored.loss_spliced == everywhere.loss_spliced);
  targets(1, 2) = 9;  // outside the vocabulary: refused either way
  CHECK_THROWS_WITH(interp::downstream_score(runs, targets, -100, interp::KlPositions::scored), Catch::Contains("target 9 at (1, 2)"));
}

TEST_CASE("downstream_score_at_hook refuses unknown and busy hook points and leaves the point clean", "[interp][downstream]") {
  std::mt19937 init(5);
  Model model(init);
  const Batch batch;
  const auto same = [](const Residual& a) { return a; };
  REQUIRE_THROWS_WITH(interp::downstream_score_at_hook<Residual>(model, "blocks.7.hook_resid_post", batch.tokens, batch.targets, same),
                      Catch::Contains("no hook point named 'blocks.7.hook_resid_post'"));
  model.add_hook(hook, [](const Residual&) {});
  REQUIRE_THROWS_WITH(interp::downstream_score_at_hook<Residual>(model, hook, batch.tokens, batch.targets, same),
                      Catch::Contains("already has hooks"));
  model.reset_hooks();
  REQUIRE_THROWS_WITH(interp::downstream_score_at_hook<Residual>(model, hook, batch.tokens, batch.targets,
                                                                 [](const Residual& a) -> Residual { throw value_error("boom"); return a; }),
                      Catch::Contains("boom"));
  bool clean = false;
  for_each_hook_point(model, [&](std::string_view name, const auto& point) {
    if (name == hook) clean = point.empty();
  });
  CHECK(clean);
}

}  // namespace interp_test_downstream_score
