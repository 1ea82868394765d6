#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/sae/sparse_autoencoder.hpp"

namespace sae_test_sparse_autoencoder {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
using Sae = SparseAutoencoder<4, 8, 32>;
}

TEST_CASE("a new autoencoder has unit-norm decoder rows, the encoder as their transpose and zero biases", "[sae][module]") {
  Rng gen(1);
  const Sae sae(gen);
  for (index_t j = 0; j < 32; ++j) {
    double norm = 0;
    for (index_t i = 0; i < 8; ++i) {
      norm += std::pow(double(sae.W_dec.value()(j, i)), 2);
      CHECK(sae.W_enc.value()(i, j) == sae.W_dec.value()(j, i));
    }
    CHECK(std::sqrt(norm) == Approx(1.0).epsilon(1e-6));
    CHECK(sae.b_enc.value()(j) == 0.0f);
  }
  for (index_t i = 0; i < 8; ++i) CHECK(sae.b_dec.value()(i) == 0.0f);
  CHECK(sae.activation == SaeActivation::batch_top_k);
  CHECK(sae.apply_b_dec_to_input);
}

TEST_CASE("the parameters are walked under SAELens' names, so optimizers and checkpoints see them", "[sae][module]") {
  Rng gen(2);
  Sae sae(gen);
  std::vector<std::string> names;
  for (const auto& [name, ref] : named_parameters(sae)) names.push_back(name);
  CHECK(names == std::vector<std::string>{"W_enc", "b_enc", "W_dec", "b_dec"});
  CHECK(parameter_count(sae) == 8 * 32 + 32 + 32 * 8 + 8);
  CHECK(parameters(sae).size() == 4);
}

TEST_CASE("encode follows the formula of SAELens: (s·x − b_dec)·W_enc + b_enc, then the rule", "[sae][module]") {
  Rng gen(3);
  SparseAutoencoder<3, 6, 20, double> sae(gen, SaeActivation::top_k);
  std::mt19937_64 rng(3);
  sae.b_enc.value() = random_tensor(Shape<20>{}, rng, -0.2, 0.2);
  sae.b_dec.value() = random_tensor(Shape<6>{}, rng);
  sae.input_scale = 1.7;
  const auto x = random_tensor(Shape<dyn, 6>{5}, rng);
  for (const bool centring : {true, false}) {
    sae.apply_b_dec_to_input = centring;
    auto step = tape();
    const auto scaled = constant(x) * 1.7;
    const auto pre = matmul_bias(centring ? sub(scaled, constant(sae.b_dec.value())) : scaled, constant(sae.W_enc.value()),
                                 constant(sae.b_enc.value()))
                         .to_tensor();
    const auto code = sae.encode(constant(x));
    REQUIRE(code.entries() == 15);
    for (index_t r = 0; r < 5; ++r)
      for (index_t e = code.row_begin(r); e < code.row_end(r); ++e)
        CHECK(code.values.value()(e) == Approx(std::max(pre(r, index_t(code.latent(e))), 0.0)).margin(1e-12));
    // x̂ = (z·W_dec + b_dec) / s
    const auto z = code.to_dense();
    const auto xhat = sae(constant(x)).to_tensor();
    for (index_t r = 0; r < 5; ++r)
      for (index_t i = 0; i < 6; ++i) {
        double expected = sae.b_dec.value()(i);
        for (index_t j = 0; j < 20; ++j) expected += z(r, j) * sae.W_dec.value()(j, i);
        CHECK(xhat(r, i) == Approx(expected / 1.7).margin(1e-12));
      }
  }
}

TEST_CASE("the three rules give K per token, K per token on average, and the thresholded code", "[sae][module]") {
  Rng gen(4);
  Sae sae(gen);
  std::mt19937_64 rng(4);
  Tensor<float, Shape<dyn, 8>> x(Shape<dyn, 8>{64});
  for (auto& v : x.span()) v = float(std::normal_distribution<double>()(rng));
  for (index_t j = 0; j < 32; ++j) sae.threshold(j) = 0.5f;
  auto step = tape();
  CHECK(sae.encode(constant(x), SaeActivation::top_k).entries() == 64 * 4);
  CHECK(sae.encode(constant(x), SaeActivation::batch_top_k).entries() == 64 * 4);
  const auto jump = sae.encode(constant(x), SaeActivation::jump_relu);
  for (index_t e = 0; e < jump.entries(); ++e) CHECK(jump.values.value()(e) > 0.5f);
  // A (batch, seq, d_in) activation is reconstructed in its own shape.
  Tensor<float, Shape<dyn, dyn, 8>> sequence(Shape<dyn, dyn, 8>{4, 16});
  std::copy(x.data(), x.data() + x.numel(), sequence.data());
  const auto y = sae.reconstruct(constant(sequence), SaeActivation::top_k);
  CHECK(y.shape() == sequence.shape());
  const auto flat = sae.reconstruct(constant(x), SaeActivation::top_k).to_tensor();
  for (index_t i = 0; i < flat.numel(); ++i) CHECK(y.value().data()[i] == flat.data()[i]);
}

TEST_CASE("the autoencoder's reconstruction passes the gradient check through its Vars", "[sae][module][gradcheck]") {
  Rng gen(5);
  SparseAutoencoder<2, 5, 12, double> sae(gen, SaeActivation::top_k);
  std::mt19937_64 rng(5);
  auto x = random_tensor(Shape<dyn, 5>{6}, rng);
  auto w_enc = random_tensor(Shape<5, 12>{}, rng);
  auto b_enc = random_tensor(Shape<12>{}, rng, -0.3, 0.3);
  auto w_dec = random_tensor(Shape<12, 5>{}, rng);
  auto b_dec = random_tensor(Shape<5>{}, rng);
  sae.input_scale = 0.6;
  using V = decltype(sae)::vars_type;
  CHECK(check_gradients(
      [&](auto xv, auto we, auto be, auto wd, auto bd) {
        const V v{we, be, wd, bd};
        return sae.decode_with(v, sae.encode_with<1>(v, xv, {sae.selector(SaeActivation::top_k)})[0]);
      },
      x, w_enc, b_enc, w_dec, b_dec));
}

}  // namespace sae_test_sparse_autoencoder
