#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/sparse_encode.hpp"
#include "ranklens/ops/unary.hpp"

namespace ops_test_sparse_encode {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

using Rows = Shape<dyn, 6>;
constexpr index_t n = 6, m = 20;

struct EncoderInputs {
  Tensor<double, Rows> x;
  Tensor<double, Shape<6>> centre;
  Tensor<double, Shape<6, 20>> w;
  Tensor<double, Shape<20>> b;
  explicit EncoderInputs(index_t rows, unsigned seed) {
    std::mt19937_64 rng(seed);
    x = random_tensor(Rows{rows}, rng);
    centre = random_tensor(Shape<6>{}, rng, -0.3, 0.3);
    w = random_tensor(Shape<6, 20>{}, rng);
    b = random_tensor(Shape<20>{}, rng, -0.2, 0.2);
  }
};

// relu((x − c) · W + b) by the existing dense ops.
template <class X, class C, class W, class B>
auto dense_pre(const X& x, const C& c, const W& w, const B& b) {
  return matmul_bias(sub(x, c), w, b);
}

}  // namespace

TEST_CASE("sparse_encode's top_k_per_token keeps each token's k largest pre-activations through a ReLU", "[ops][sparse_encode]") {
  EncoderInputs in(5, 1);
  auto step = tape();
  const auto pre = dense_pre(constant(in.x), constant(in.centre), constant(in.w), constant(in.b)).to_tensor();
  const auto code = sparse_encode(constant(in.x), constant(in.centre), constant(in.w), constant(in.b), LatentSelector<double>::top_k(4));
  REQUIRE(code.rows() == 5);
  REQUIRE(code.latents() == m);
  REQUIRE(code.entries() == 5 * 4);
  for (index_t r = 0; r < 5; ++r) {
    std::vector<double> row(pre.data() + r * m, pre.data() + (r + 1) * m);
    std::sort(row.begin(), row.end(), std::greater<>());
    REQUIRE(code.row_end(r) - code.row_begin(r) == 4);
    std::vector<double> chosen;
    for (index_t e = code.row_begin(r); e < code.row_end(r); ++e) {
      chosen.push_back(pre(r, index_t(code.latent(e))));
      CHECK(code.values.value()(e) == std::max(chosen.back(), 0.0));
    }
    std::sort(chosen.begin(), chosen.end(), std::greater<>());
    for (std::size_t i = 0; i < 4; ++i) CHECK(chosen[i] == row[i]);
  }
}

TEST_CASE("sparse_encode's top_k_over_batch keeps the k·rows largest positive pre-activations of the batch", "[ops][sparse_encode]") {
  EncoderInputs in(7, 2);
  auto step = tape();
  const auto pre = dense_pre(constant(in.x), constant(in.centre), constant(in.w), constant(in.b)).to_tensor();
  const auto code = sparse_encode(constant(in.x), constant(in.centre), constant(in.w), constant(in.b), LatentSelector<double>::batch_top_k(3));
  std::vector<double> all(pre.span().begin(), pre.span().end());
  std::sort(all.begin(), all.end(), std::greater<>());
  const double tau = all[3 * 7 - 1];
  REQUIRE(tau > 0);
  REQUIRE(code.entries() == 3 * 7);
  const auto dense = code.to_dense();
  for (index_t r = 0; r < 7; ++r)
    for (index_t j = 0; j < m; ++j) CHECK(dense(r, j) == (pre(r, j) >= tau ? pre(r, j) : 0.0));
  // Tokens may use more or fewer than k latents; only the batch's total is k·rows.
  bool uneven = false;
  for (index_t r = 0; r < 7; ++r) uneven |= code.row_end(r) - code.row_begin(r) != 3;
  CHECK(uneven);
}

TEST_CASE("sparse_encode's top_k_over_batch keeps every positive entry when there are fewer than k·rows", "[ops][sparse_encode]") {
  EncoderInputs in(3, 3);
  for (double& v : in.b.span()) v = -10;  // almost every pre-activation negative
  in.b(7) = 5;
  auto step = tape();
  const auto code = sparse_encode(constant(in.x), constant(in.centre), constant(in.w), constant(in.b), LatentSelector<double>::batch_top_k(4));
  CHECK(code.entries() == 3);  // latent 7 of each token
  for (index_t e = 0; e < code.entries(); ++e) CHECK(code.latent(e) == 7);
}

TEST_CASE("sparse_encode's above_threshold is SAELens' JumpReLU: relu(pre) where pre > θ_j", "[ops][sparse_encode]") {
  EncoderInputs in(4, 4);
  std::vector<double> theta(m);
  for (index_t j = 0; j < m; ++j) theta[std::size_t(j)] = j % 3 == 0 ? -0.5 : 0.1 * double(j % 5);
  auto step = tape();
  const auto pre = dense_pre(constant(in.x), constant(in.centre), constant(in.w), constant(in.b)).to_tensor();
  const auto code = sparse_encode(constant(in.x), constant(in.centre), constant(in.w), constant(in.b),
                                  LatentSelector<double>::jump_relu(std::span<const double>(theta)));
  const auto dense = code.to_dense();
  for (index_t r = 0; r < 4; ++r)
    for (index_t j = 0; j < m; ++j) CHECK(dense(r, j) == (pre(r, j) > theta[std::size_t(j)] ? std::max(pre(r, j), 0.0) : 0.0));
  CHECK(code.active() == code.entries());  // only positive values are stored
}

TEST_CASE("sparse_encode chooses among the given latents only (AuxK's dead latents)", "[ops][sparse_encode]") {
  EncoderInputs in(4, 5);
  const std::vector<std::int32_t> dead{1, 4, 9, 10, 17};
  auto step = tape();
  const auto code = sparse_encode(constant(in.x), constant(in.centre), constant(in.w), constant(in.b),
                                  LatentSelector<double>::top_k(3, std::span<const std::int32_t>(dead)));
  REQUIRE(code.entries() == 12);
  for (index_t e = 0; e < code.entries(); ++e) CHECK(std::find(dead.begin(), dead.end(), code.latent(e)) != dead.end());
}

TEST_CASE("sparse_encode's gradients equal those of the dense definition with a fixed mask", "[ops][sparse_encode][gradcheck]") {
  EncoderInputs in(6, 6);
  std::mt19937_64 rng(60);
  for (const auto& select : {LatentSelector<double>::top_k(5), LatentSelector<double>::batch_top_k(4)}) {
    auto contraction = random_tensor(Shape<dyn, dyn>{6, m}, rng);
    Tensor<double, Shape<dyn, dyn>> mask(Shape<dyn, dyn>{6, m}, 0.0);
    auto gradients = [&](bool sparse) {
      auto step = tape();
      const auto x = variable(in.x);
      const auto c = variable(in.centre);
      const auto w = variable(in.w);
      const auto b = variable(in.b);
      Var<double, Shape<>> loss;
      if (sparse) {
        const auto code = sparse_encode(x, c, w, b, select);
        for (index_t e = 0; e < mask.numel(); ++e) mask.data()[e] = 0;
        for (index_t r = 0; r < 6; ++r)
          for (index_t e = code.row_begin(r); e < code.row_end(r); ++e) mask(r, index_t(code.latent(e))) = 1;
        // Σ contraction ⊙ code, over the entries only.
        std::vector<double> weights(std::size_t(code.entries()));
        for (index_t r = 0; r < 6; ++r)
          for (index_t e = code.row_begin(r); e < code.row_end(r); ++e) weights[std::size_t(e)] = contraction(r, index_t(code.latent(e)));
        Tensor<double, Shape<dyn>> wt(Shape<dyn>{code.entries()});
        std::copy(weights.begin(), weights.end(), wt.data());
        loss = sum(mul(code.values, constant(wt)));
        backward(loss);
      } else {
        const auto acts = mul(relu(dense_pre(x, c, w, b)), constant(mask));
        loss = sum(mul(acts, constant(contraction)));
        backward(loss);
      }
      auto grab = [](const auto& v) {
        const auto t = to_tensor(v.grad());
        return std::vector<double>(t.span().begin(), t.span().end());
      };
      return std::vector<std::vector<double>>{{loss.item()}, grab(x), grab(c), grab(w), grab(b)};
    };
    const auto sparse = gradients(true);  // fills the mask first
    const auto dense = gradients(false);
    for (std::size_t part = 0; part < sparse.size(); ++part) {
      INFO("part " << part << " (0: loss, 1: dx, 2: dcentre, 3: dW, 4: db)");
      REQUIRE(sparse[part].size() == dense[part].size());
      for (std::size_t i = 0; i < sparse[part].size(); ++i) CHECK(sparse[part][i] == Approx(dense[part][i]).margin(1e-13));
    }
  }
}

TEST_CASE("sparse_encode passes the gradient check for x, the centre, W and b", "[ops][sparse_encode][gradcheck]") {
  EncoderInputs in(5, 7);
  CHECK(check_gradients([](auto x, auto c, auto w, auto b) { return sparse_encode(x, c, w, b, LatentSelector<double>::top_k(4)).values; },
                        in.x, in.centre, in.w, in.b));
  CHECK(check_gradients(
      [](auto x, auto c, auto w, auto b) { return sparse_encode(x, c, w, b, LatentSelector<double>::batch_top_k(3)).values; }, in.x,
      in.centre, in.w, in.b));
  std::vector<double> theta(m, 0.05);
  CHECK(check_gradients(
      [&](auto x, auto c, auto w, auto b) {
        return sparse_encode(x, c, w, b, LatentSelector<double>::jump_relu(std::span<const double>(theta))).values;
      },
      in.x, in.centre, in.w, in.b));
}

TEST_CASE("sparse_encode with two selectors computes the product once and gives each code its own gradient", "[ops][sparse_encode]") {
  EncoderInputs in(4, 8);
  const std::vector<std::int32_t> among{0, 2, 3, 11, 12, 19};
  auto step = tape();
  const auto w = variable(in.w);
  const auto codes = sparse_encode<2>(constant(in.x), constant(in.centre), w, constant(in.b),
                                      std::array{LatentSelector<double>::top_k(3), LatentSelector<double>::top_k(2, std::span(among))});
  CHECK(codes[0].entries() == 12);
  CHECK(codes[1].entries() == 8);
  backward(add(sum(codes[0].values), sum(codes[1].values)));
  CHECK(w.has_grad());
}

TEST_CASE("sparse_encode refuses shapes that do not fit and k out of range", "[ops][sparse_encode]") {
  auto step = tape();
  Tensor<float, Shape<dyn, dyn>> x(Shape<dyn, dyn>{2, 4}, 1.0f);
  Tensor<float, Shape<dyn>> c(Shape<dyn>{3}, 0.0f);
  Tensor<float, Shape<dyn, dyn>> w(Shape<dyn, dyn>{4, 8}, 0.5f);
  Tensor<float, Shape<dyn>> b(Shape<dyn>{8}, 0.0f);
  REQUIRE_THROWS_WITH(sparse_encode(constant(x), constant(c), constant(w), constant(b), LatentSelector<float>::top_k(2)),
                      Catch::Contains("sparse_encode") && Catch::Contains("centre (dyn=3)"));
  Tensor<float, Shape<dyn>> c4(Shape<dyn>{4}, 0.0f);
  REQUIRE_THROWS_WITH(sparse_encode(constant(x), constant(c4), constant(w), constant(b), LatentSelector<float>::top_k(9)),
                      Catch::Contains("k = 9"));
  REQUIRE_THROWS_WITH(sparse_encode(constant(x), constant(c4), constant(w), constant(b), LatentSelector<float>::batch_top_k(0)),
                      Catch::Contains("top_k_over_batch"));
}

}  // namespace ops_test_sparse_encode
