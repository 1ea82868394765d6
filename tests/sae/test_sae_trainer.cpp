#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include <filesystem>

#include <unistd.h>

#include "ranklens/io/checkpoint.hpp"
#include "ranklens/sae/sae_trainer.hpp"
#include "sae_test_support.hpp"

namespace sae_test_sae_trainer {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

constexpr index_t n = 16, m = 64, k = 4;
using Sae = SparseAutoencoder<k, n, m>;

// Fraction of variance unexplained of `sae` on x.
double fvu(const Sae& sae, const Tensor<float, Shape<dyn, n>>& x, SaeActivation rule) {
  auto guard = no_grad();
  auto step = tape();
  const auto xhat = sae.reconstruct(constant(x), rule).to_tensor();
  const index_t rows = x.extent(0);
  double error = 0, spread = 0;
  for (index_t i = 0; i < n; ++i) {
    double mean = 0;
    for (index_t r = 0; r < rows; ++r) mean += x(r, i) / double(rows);
    for (index_t r = 0; r < rows; ++r) {
      error += std::pow(double(x(r, i)) - double(xhat(r, i)), 2);
      spread += std::pow(double(x(r, i)) - mean, 2);
    }
  }
  return error / spread;
}

double mean_l0(const Sae& sae, const Tensor<float, Shape<dyn, n>>& x, SaeActivation rule) {
  auto guard = no_grad();
  auto step = tape();
  return double(sae.encode(constant(x), rule).active()) / double(x.extent(0));
}

}  // namespace

TEST_CASE("initialise puts b_dec at the sample's geometric median and fixes the loss scale", "[sae][trainer]") {
  const sae_test::SparseSource<n> source(32, k, 1);
  const auto sample = source.sample(512, 0);
  Rng gen(2);
  Sae sae(gen);
  SaeTrainer trainer(sae);
  trainer.initialise(sample.view());
  const GeometricMedian median = geometric_median(sample);
  for (index_t i = 0; i < n; ++i) CHECK(sae.b_dec.value()(i) == Approx(median.point[std::size_t(i)]).margin(1e-6));
  double spread = 0;
  for (index_t i = 0; i < n; ++i) {
    double mean = 0;
    for (index_t r = 0; r < 512; ++r) mean += sample(r, i) / 512.0;
    for (index_t r = 0; r < 512; ++r) spread += std::pow(sample(r, i) - mean, 2) / 512.0;
  }
  CHECK(trainer.mse_scale() == Approx(1 / spread).epsilon(1e-5));
  CHECK(sae.input_scale == 1.0);

  SECTION("normalize_activations scales inputs to E‖x‖ = √d_in and b_dec with them") {
    Sae scaled(gen);
    SaeTrainer normalising(scaled, {.normalize_activations = true});
    normalising.initialise(sample.view());
    double mean_norm = 0;
    for (index_t r = 0; r < 512; ++r) {
      double squares = 0;
      for (index_t i = 0; i < n; ++i) squares += std::pow(sample(r, i), 2);
      mean_norm += std::sqrt(squares) / 512.0;
    }
    CHECK(scaled.input_scale == Approx(std::sqrt(double(n)) / mean_norm).epsilon(1e-6));
    for (index_t i = 0; i < n; ++i) CHECK(scaled.b_dec.value()(i) == Approx(scaled.input_scale * median.point[std::size_t(i)]).margin(1e-5));
  }
}

TEST_CASE("a step keeps the decoder rows on the unit sphere and estimates the BatchTopK threshold as SAELens does", "[sae][trainer]") {
  const sae_test::SparseSource<n> source(32, k, 3);
  Rng gen(4);
  Sae sae(gen, SaeActivation::batch_top_k);
  SaeTrainer trainer(sae, {.lr = 1e-2});
  trainer.initialise(source.sample(256, 0).view());
  const auto batch = source.sample(128, 1);
  double smallest = 1e30;
  {
    auto guard = no_grad();
    auto step = tape();
    const auto code = sae.encode(constant(batch));
    for (index_t e = 0; e < code.entries(); ++e)
      if (code.values.value()(e) > 0) smallest = std::min(smallest, double(code.values.value()(e)));
    CHECK(code.active() == k * 128);
  }
  const SaeStepReport first = trainer.step(batch.view());
  CHECK(first.l0 == Approx(double(k)));
  CHECK(first.threshold == Approx(0.01 * smallest).epsilon(1e-6));
  for (index_t j = 0; j < m; ++j) CHECK(sae.threshold(j) == Approx(first.threshold));
  for (index_t j = 0; j < m; ++j) {
    double norm = 0;
    for (index_t i = 0; i < n; ++i) norm += std::pow(double(sae.W_dec.value()(j, i)), 2);
    CHECK(std::sqrt(norm) == Approx(1.0).epsilon(1e-6));
  }
  const SaeStepReport second = trainer.step(source.sample(128, 2).view());
  CHECK(second.threshold > first.threshold);  // (1 − λ) θ + λ · min, from θ = 0, with similar minima
  CHECK(trainer.steps_taken() == 2);
  CHECK(trainer.tokens_seen() == 256);
}

TEST_CASE("training recovers a sparse dictionary: low FVU with K active latents, for both rules", "[sae][trainer]") {
  const sae_test::SparseSource<n> source(32, 2, 5);  // 32 atoms in 16 dimensions, 2 per token
  const auto held_out = source.sample(1024, 999);
  for (const SaeActivation rule : {SaeActivation::top_k, SaeActivation::batch_top_k}) {
    INFO("rule " << name_of(rule));
    Rng gen(6);
    Sae sae(gen, rule);
    SaeTrainer trainer(sae, {.lr = 3e-3, .warmup_steps = 20, .k_aux = 32, .dead_after_tokens = 20000});
    trainer.initialise(source.sample(1024, 0).view());
    const double before = fvu(sae, held_out, rule);
    SaeStepReport report;
    for (index_t t = 0; t < 600; ++t) report = trainer.step(source.sample(128, std::uint64_t(t + 1)).view());
    const double after = fvu(sae, held_out, rule);
    INFO("FVU before " << before << ", after " << after << "; last step: loss " << report.loss << ", dead " << report.dead);
    CHECK(after < 0.12);  // 0.062 (top_k) and 0.068 (batch_top_k) when written
    CHECK(after < 0.25 * before);
    CHECK(mean_l0(sae, held_out, rule) == Approx(double(k)).margin(0.5));
    if (rule == SaeActivation::batch_top_k) {
      // The JumpReLU form of the trained BatchTopK autoencoder: batch-independent, similar sparsity and error.
      const double jump_l0 = mean_l0(sae, held_out, SaeActivation::jump_relu);
      INFO("jump_relu L0 " << jump_l0 << ", threshold " << report.threshold);
      CHECK(jump_l0 > 0.5 * k);
      CHECK(jump_l0 < 2.0 * k);
      CHECK(fvu(sae, held_out, SaeActivation::jump_relu) < 0.15);
    }
  }
}

TEST_CASE("train_in_passes walks the rows pass by pass in new orders, as the hand-written loop does", "[sae][trainer]") {
  const sae_test::SparseSource<n> source(32, 2, 9);
  const auto x = source.sample(300, 10);  // 300 rows: 2 batches of 128 per pass, 44 rows wait for another order
  // By hand: each pass shuffles 0..299 with the same generator, initialise on the first pass's
  // first 200 rows, then the whole batches.
  Rng gen_a(11), gen_b(11);
  Sae by_hand(gen_a), by_helper(gen_b);
  SaeTrainer hand(by_hand, {.lr = 3e-3}), helper(by_helper, {.lr = 3e-3});
  std::vector<index_t> rows(300);
  Tensor<float, Shape<dyn, n>> ordered(Shape<dyn, n>{300});
  for (int pass = 0; pass < 3; ++pass) {
    std::iota(rows.begin(), rows.end(), 0);
    shuffle(std::span<index_t>(rows), gen_a);
    for (index_t r = 0; r < 300; ++r) std::copy_n(x.data() + rows[std::size_t(r)] * n, n, ordered.data() + r * n);
    using View = TensorView<const float, Shape<dyn, n>, cpu_t>;
    if (pass == 0) hand.initialise(View(ordered.data(), Shape<dyn, n>{200}));
    for (index_t s = 0; s < 2; ++s) hand.step(View(ordered.data() + s * 128 * n, Shape<dyn, n>{128}));
  }
  CHECK(train_in_passes(helper, x.view(), {.passes = 3, .batch_rows = 128, .initial_rows = 200}, gen_b) == 6);
  CHECK(helper.steps_taken() == 6);
  CHECK(helper.mse_scale() == hand.mse_scale());
  const auto a = by_hand.W_dec.value().span(), b = by_helper.W_dec.value().span();
  CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  CHECK(gen_a() == gen_b());  // the generator is left where the loop leaves it

  CHECK_THROWS_WITH(train_in_passes(helper, x.view(), {.passes = 1, .batch_rows = 512}, gen_b), Catch::Contains("300 rows do not fill one batch of 512"));
  CHECK_THROWS_AS(train_in_passes(helper, x.view(), {.passes = 0}, gen_b), value_error);
}

TEST_CASE("latents that never fire are counted dead and get the AuxK term", "[sae][trainer]") {
  const sae_test::SparseSource<n> source(32, k, 7);
  Rng gen(8);
  Sae sae(gen, SaeActivation::top_k);
  SaeTrainer trainer(sae, {.k_aux = 8, .dead_after_tokens = 150});
  trainer.initialise(source.sample(256, 0).view());
  for (index_t j = 0; j < 10; ++j) sae.b_enc.value()(j) = -1e4f;  // never among a token's top k
  const SaeStepReport first = trainer.step(source.sample(100, 1).view());
  CHECK(first.dead == 0);
  CHECK(first.auxiliary == 0);
  CHECK(trainer.tokens_since_fired()[0] == 100);
  trainer.step(source.sample(100, 2).view());  // 200 tokens without firing: dead from now on
  const auto& dead = trainer.dead_latents();
  for (std::int32_t j = 0; j < 10; ++j) CHECK(std::find(dead.begin(), dead.end(), j) != dead.end());
  for (const std::int32_t j : dead) CHECK(trainer.tokens_since_fired()[std::size_t(j)] > 150);
  const SaeStepReport third = trainer.step(source.sample(100, 3).view());
  CHECK(third.dead == index_t(dead.size()));
  CHECK(third.auxiliary > 0);  // dead latents other than the suppressed ten fire in the AuxK code
}

TEST_CASE("the trainer refuses what it cannot train and keeps the autoencoder on a non-finite loss", "[sae][trainer]") {
  const sae_test::SparseSource<n> source(32, k, 9);
  Rng gen(10);
  Sae jump(gen, SaeActivation::jump_relu);
  REQUIRE_THROWS_WITH(SaeTrainer<Sae>(jump), Catch::Contains("jump_relu"));
  Sae sae(gen);
  SaeTrainer trainer(sae);
  auto batch = source.sample(64, 1);
  REQUIRE_THROWS_WITH(trainer.step(batch.view()), Catch::Contains("initialise"));
  trainer.initialise(source.sample(64, 0).view());
  const auto before = to_tensor(sae.W_dec.value().view());
  batch(3, 2) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(trainer.step(batch.view()), Catch::Contains("loss is") && Catch::Contains("unchanged"));
  for (index_t i = 0; i < before.numel(); ++i) REQUIRE(sae.W_dec.value().data()[i] == before.data()[i]);
}

TEST_CASE("an autoencoder and its Adam state go through a training checkpoint like any module", "[sae][trainer][checkpoint]") {
  const sae_test::SparseSource<n> source(32, k, 11);
  Rng gen(12);
  Sae sae(gen);
  SaeTrainer trainer(sae);
  trainer.initialise(source.sample(256, 0).view());
  for (index_t t = 0; t < 3; ++t) trainer.step(source.sample(64, std::uint64_t(t + 1)).view());
  const auto path = std::filesystem::temp_directory_path() / ("ranklens-sae-checkpoint-" + std::to_string(::getpid()) + ".safetensors");
  {
    io::training_state state;
    state.add_model(sae).add_optimizer(trainer.optimizer());
    io::save_checkpoint(path, state);
  }
  Rng other(13);
  Sae restored(other);
  SaeTrainer restored_trainer(restored);
  io::training_state state;
  state.add_model(restored).add_optimizer(restored_trainer.optimizer());
  io::load_checkpoint(path, state);
  std::filesystem::remove(path);
  for (index_t i = 0; i < n * m; ++i) REQUIRE(restored.W_dec.value().data()[i] == sae.W_dec.value().data()[i]);
  CHECK(restored_trainer.optimizer().steps_taken() == 3);
  CHECK(std::ranges::equal(restored_trainer.optimizer().state(2, "exp_avg"), trainer.optimizer().state(2, "exp_avg")));  // W_dec's
}

}  // namespace sae_test_sae_trainer
