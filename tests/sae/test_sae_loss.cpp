#include <catch2/catch.hpp>

#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/sae/sae_loss.hpp"

namespace sae_test_sae_loss {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

constexpr index_t n = 8, m = 24, k = 3, rows = 10;
using Sae = SparseAutoencoder<k, n, m, double>;

// An autoencoder with random (not tied, not unit-norm) weights, so that no term is special.
Sae random_sae(std::uint64_t seed, SaeActivation rule) {
  Rng gen(seed);
  Sae sae(gen, rule);
  std::mt19937_64 rng(seed);
  sae.W_enc.value() = random_tensor(Shape<n, m>{}, rng);
  sae.b_enc.value() = random_tensor(Shape<m>{}, rng, -0.3, 0.3);
  sae.W_dec.value() = random_tensor(Shape<m, n>{}, rng);
  sae.b_dec.value() = random_tensor(Shape<n>{}, rng, -0.5, 0.5);
  return sae;
}

// The same loss written with dense ops and a fixed 0/1 mask per code: relu(pre) ⊙ mask · W_dec.
struct DenseLoss {
  Tensor<double, Shape<dyn, dyn>> mask, aux_mask;
  double mse_scale, aux_coefficient, spread = 0;
  template <class V>
  Var<double, Shape<>> operator()(const V& v, const Tensor<double, Shape<dyn, n>>& x_data) const {
    const auto x = constant(x_data);
    const auto pre = matmul_bias(sub(x, v.b_dec), v.W_enc, v.b_enc);
    const auto z = mul(relu(pre), constant(mask));
    const auto reconstruction = add(matmul(z, v.W_dec), v.b_dec);
    auto total = sum(square(sub(reconstruction, x))) * (mse_scale / double(rows));
    if (aux_mask.numel() > 0) {
      const auto residual = detach(sub(x, reconstruction));
      const auto z_aux = mul(relu(pre), constant(aux_mask));
      total = add(total, sum(square(sub(matmul(z_aux, v.W_dec), residual))) * (aux_coefficient / spread));
    }
    return total;
  }
};

template <class V>
std::vector<double> grad_of(const V& v) {
  const auto t = to_tensor(v.grad());
  return {t.span().begin(), t.span().end()};
}

}  // namespace

TEST_CASE("the training loss and its gradients equal the dense definition, AuxK included", "[sae][loss][gradcheck]") {
  std::mt19937_64 rng(5);
  const auto x = random_tensor(Shape<dyn, n>{rows}, rng);
  const std::vector<std::int32_t> dead{2, 5, 6, 11, 17, 18, 23};
  for (const SaeActivation rule : {SaeActivation::top_k, SaeActivation::batch_top_k}) {
    INFO("rule " << name_of(rule));
    Sae sae = random_sae(6, rule);
    const SaeLossSettings settings{.rule = rule, .mse_scale = 0.7, .dead = dead, .k_aux = 4, .aux_coefficient = 0.25};
    DenseLoss dense{.mask = {}, .aux_mask = {}, .mse_scale = 0.7, .aux_coefficient = 0.25};
    std::vector<std::vector<double>> sparse_grads, dense_grads;
    double sparse_value = 0, dense_value = 0;
    {
      auto step = tape();
      const auto v = sae.vars();
      const auto loss = sae_loss(sae, v, constant(x), settings);
      REQUIRE(loss.auxiliary.has_value());
      sparse_value = loss.total.item();
      backward(loss.total);
      sparse_grads = {grad_of(v.W_enc), grad_of(v.b_enc), grad_of(v.W_dec), grad_of(v.b_dec)};
      // The masks of both codes, read back from the sparse forward.
      dense.mask = Tensor<double, Shape<dyn, dyn>>(Shape<dyn, dyn>{rows, m}, 0.0);
      for (index_t r = 0; r < rows; ++r)
        for (index_t e = loss.code.row_begin(r); e < loss.code.row_end(r); ++e) dense.mask(r, index_t(loss.code.latent(e))) = 1;
      // The aux code: the k_aux largest pre-activations among the dead latents, by brute force.
      const auto pre = matmul_bias(sub(constant(x), constant(sae.b_dec.value())), constant(sae.W_enc.value()), constant(sae.b_enc.value()))
                           .to_tensor();
      dense.aux_mask = Tensor<double, Shape<dyn, dyn>>(Shape<dyn, dyn>{rows, m}, 0.0);
      for (index_t r = 0; r < rows; ++r) {
        std::vector<std::int32_t> order = dead;
        std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return pre(r, a) > pre(r, b); });
        for (index_t i = 0; i < 4; ++i) dense.aux_mask(r, index_t(order[std::size_t(i)])) = 1;
      }
      const auto residual = sub(constant(x), sae.decode(loss.code)).to_tensor();
      for (index_t j = 0; j < n; ++j) {
        double mean = 0;
        for (index_t r = 0; r < rows; ++r) mean += residual(r, j) / rows;
        for (index_t r = 0; r < rows; ++r) dense.spread += (residual(r, j) - mean) * (residual(r, j) - mean);
      }
    }
    for_each_parameter(sae, [](std::string_view, auto& p) { p.zero_grad(); });  // the vars accumulate into the parameters
    {
      auto step = tape();
      const auto v = sae.vars();
      const auto loss = dense(v, x);
      dense_value = loss.item();
      backward(loss);
      dense_grads = {grad_of(v.W_enc), grad_of(v.b_enc), grad_of(v.W_dec), grad_of(v.b_dec)};
    }
    CHECK(sparse_value == Approx(dense_value).epsilon(1e-13));
    for (std::size_t p = 0; p < 4; ++p) {
      INFO("parameter " << p << " (W_enc, b_enc, W_dec, b_dec)");
      REQUIRE(sparse_grads[p].size() == dense_grads[p].size());
      for (std::size_t i = 0; i < sparse_grads[p].size(); ++i) CHECK(sparse_grads[p][i] == Approx(dense_grads[p][i]).margin(1e-12));
    }
  }
}

TEST_CASE("the training loss passes the gradient check in every parameter", "[sae][loss][gradcheck]") {
  std::mt19937_64 rng(7);
  auto x = random_tensor(Shape<dyn, n>{rows}, rng);
  for (const SaeActivation rule : {SaeActivation::top_k, SaeActivation::batch_top_k}) {
    INFO("rule " << name_of(rule));
    Sae sae = random_sae(8, rule);
    auto w_enc = to_tensor(sae.W_enc.value().view());
    auto b_enc = to_tensor(sae.b_enc.value().view());
    auto w_dec = to_tensor(sae.W_dec.value().view());
    auto b_dec = to_tensor(sae.b_dec.value().view());
    // No dead latents: the AuxK target is cut from the graph, which central differences cannot see.
    CHECK(check_gradients(
        [&](auto we, auto be, auto wd, auto bd) {
          return sae_loss(sae, Sae::vars_type{we, be, wd, bd}, constant(x), {.rule = rule, .mse_scale = 0.3}).total;
        },
        w_enc, b_enc, w_dec, b_dec));
  }
}

TEST_CASE("the AuxK term passes the gradient check for a fixed residual", "[sae][loss][gradcheck]") {
  std::mt19937_64 rng(9);
  const auto x = random_tensor(Shape<dyn, n>{rows}, rng);
  const auto residual = random_tensor(Shape<dyn, n>{rows}, rng);
  Sae sae = random_sae(10, SaeActivation::top_k);
  auto w_enc = to_tensor(sae.W_enc.value().view());
  auto w_dec = to_tensor(sae.W_dec.value().view());
  const std::vector<std::int32_t> dead{0, 3, 4, 9, 12, 20};
  CHECK(check_gradients(
      [&](auto we, auto wd) {
        const auto v = Sae::vars_type{we, sae.b_enc.var(), wd, sae.b_dec.var()};
        const auto code = sae.encode_with<1>(v, constant(x), {LatentSelector<double>::top_k(3, dead)})[0];
        return *auxk_loss(sae.decode_directions_with(v, code), constant(residual), 0.5);
      },
      w_enc, w_dec));
}

TEST_CASE("the reconstruction term is mse_scale times the mean squared error per token", "[sae][loss]") {
  std::mt19937_64 rng(11);
  const auto x = random_tensor(Shape<dyn, n>{rows}, rng);
  Sae sae = random_sae(12, SaeActivation::top_k);
  auto step = tape();
  const auto loss = sae_loss(sae, sae.vars(), constant(x), {.rule = SaeActivation::top_k, .mse_scale = 2.0});
  const auto xhat = sae(constant(x)).to_tensor();
  double squares = 0;
  for (index_t i = 0; i < x.numel(); ++i) squares += (x.data()[i] - xhat.data()[i]) * (x.data()[i] - xhat.data()[i]);
  CHECK(loss.reconstruction.item() == Approx(2.0 * squares / rows).epsilon(1e-12));
  CHECK_FALSE(loss.auxiliary.has_value());
  CHECK(loss.total.item() == loss.reconstruction.item());
}

}  // namespace sae_test_sae_loss
