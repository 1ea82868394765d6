#include <catch2/catch.hpp>

#include <cmath>
#include <tuple>
#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/sparse_decode.hpp"
#include "ranklens/ops/sparse_encode.hpp"

namespace ops_test_sparse_decode {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

// A code over 12 latents for 5 tokens of width 4: the top 3 per token of a fixed random
// encoder, so that the pattern is realistic (and some values are 0 after the ReLU).
struct Fixture {
  Tensor<double, Shape<dyn, 4>> x;
  Tensor<double, Shape<4>> centre;
  Tensor<double, Shape<4, 12>> w_enc;
  Tensor<double, Shape<12>> b_enc;
  Tensor<double, Shape<12, 4>> w_dec;
  Tensor<double, Shape<4>> b_dec;
  Fixture() {
    std::mt19937_64 rng(30);
    x = random_tensor(Shape<dyn, 4>{5}, rng);
    centre = random_tensor(Shape<4>{}, rng, -0.2, 0.2);
    w_enc = random_tensor(Shape<4, 12>{}, rng);
    b_enc = random_tensor(Shape<12>{}, rng, -0.5, 0.1);
    w_dec = random_tensor(Shape<12, 4>{}, rng);
    b_dec = random_tensor(Shape<4>{}, rng);
  }
  template <class X, class C, class W, class B>
  auto encode(const X& xv, const C& c, const W& w, const B& b) const {
    return sparse_encode(xv, c, w, b, LatentSelector<double>::top_k(3));
  }
};

}  // namespace

TEST_CASE("sparse_decode equals the dense product of the code and W, plus b", "[ops][sparse_decode]") {
  Fixture f;
  auto step = tape();
  const auto code = f.encode(constant(f.x), constant(f.centre), constant(f.w_enc), constant(f.b_enc));
  const auto dense_code = code.to_dense();
  const auto y = sparse_decode(code, constant(f.w_dec), constant(f.b_dec));
  const auto y_no_bias = sparse_decode(code, constant(f.w_dec));
  const auto expected = add(matmul(constant(dense_code), constant(f.w_dec)), constant(f.b_dec)).to_tensor();
  const auto expected_no_bias = matmul(constant(dense_code), constant(f.w_dec)).to_tensor();
  REQUIRE(y.extent(0) == 5);
  for (index_t r = 0; r < 5; ++r)
    for (index_t i = 0; i < 4; ++i) {
      CHECK(y.value()(r, i) == Approx(expected(r, i)).margin(1e-14));
      CHECK(y_no_bias.value()(r, i) == Approx(expected_no_bias(r, i)).margin(1e-14));
    }
}

TEST_CASE("sparse_decode passes the gradient check for the code's values, W and b", "[ops][sparse_decode][gradcheck]") {
  Fixture f;
  // The code's values as an input: gradients reach the values of the fixed pattern.
  auto step = tape();
  const auto code = f.encode(constant(f.x), constant(f.centre), constant(f.w_enc), constant(f.b_enc));
  Tensor<double, Shape<dyn>> values(Shape<dyn>{code.entries()});
  for (index_t e = 0; e < code.entries(); ++e) values(e) = code.values.value()(e) + 0.1 * double(e % 3);  // no zeros
  auto with_values = [&](const auto& v) {
    SparseActivations<double> c = code;
    c.values = v;
    return c;
  };
  CHECK(check_gradients([&](auto v, auto w, auto b) { return sparse_decode(with_values(v), w, b); }, values, f.w_dec, f.b_dec));
  CHECK(check_gradients([&](auto v, auto w) { return sparse_decode(with_values(v), w); }, values, f.w_dec));
}

TEST_CASE("encode then decode passes the gradient check end to end", "[ops][sparse_decode][gradcheck]") {
  Fixture f;
  CHECK(check_gradients(
      [&](auto x, auto c, auto we, auto be, auto wd, auto bd) { return sparse_decode(f.encode(x, c, we, be), wd, bd); }, f.x, f.centre,
      f.w_enc, f.b_enc, f.w_dec, f.b_dec));
}

TEST_CASE("sparse_decode refuses a W whose rows are not the code's latents", "[ops][sparse_decode]") {
  Fixture f;
  auto step = tape();
  const auto code = f.encode(constant(f.x), constant(f.centre), constant(f.w_enc), constant(f.b_enc));
  Tensor<double, Shape<dyn, dyn>> w(Shape<dyn, dyn>{10, 4}, 0.0);
  REQUIRE_THROWS_WITH(sparse_decode(code, constant(w)), Catch::Contains("12 latents") && Catch::Contains("(dyn=10, dyn=4)"));
}

TEST_CASE("sparse encode and decode agree with the dense products at a size that runs on several threads", "[ops][sparse_decode]") {
  // 512 tokens, 64 → 1024 latents, k = 16: every kernel splits its rows or latents over the pool.
  constexpr index_t rows = 512, n = 64, m = 1024;
  std::mt19937_64 rng(40);
  const auto to_float = [](const auto& t) {
    Tensor<float, typename std::remove_cvref_t<decltype(t)>::shape_type> out(t.shape());
    for (index_t i = 0; i < t.numel(); ++i) out.data()[i] = float(t.data()[i]);
    return out;
  };
  const auto x = to_float(random_tensor(Shape<dyn, n>{rows}, rng));
  const auto centre = to_float(random_tensor(Shape<n>{}, rng, -0.1, 0.1));
  const auto w_enc = to_float(random_tensor(Shape<n, m>{}, rng));
  const auto b_enc = to_float(random_tensor(Shape<m>{}, rng, -0.1, 0.1));
  const auto w_dec = to_float(random_tensor(Shape<m, n>{}, rng));
  const auto b_dec = to_float(random_tensor(Shape<n>{}, rng));
  const auto seed = to_float(random_tensor(Shape<dyn, n>{rows}, rng));
  auto run = [&](bool sparse, Tensor<float, Shape<dyn, dyn>>& mask) {
    auto step = tape();
    const auto we = variable(w_enc);
    const auto be = variable(b_enc);
    const auto wd = variable(w_dec);
    const auto bd = variable(b_dec);
    const auto c = variable(centre);
    Var<float, Shape<dyn, n>> y;
    if (sparse) {
      const auto code = sparse_encode(constant(x), c, we, be, LatentSelector<float>::top_k(16));
      mask = Tensor<float, Shape<dyn, dyn>>(Shape<dyn, dyn>{rows, m}, 0.0f);
      for (index_t r = 0; r < rows; ++r)
        for (index_t e = code.row_begin(r); e < code.row_end(r); ++e) mask(r, index_t(code.latent(e))) = 1;
      y = sparse_decode(code, wd, bd);
    } else {
      const auto z = mul(relu(matmul_bias(sub(constant(x), c), we, be)), constant(mask));
      y = add(matmul(z, wd), bd);
    }
    backward(sum(mul(y, constant(seed))));
    const auto grab = [](const auto& v) { return to_tensor(v.grad()); };
    return std::tuple{y.to_tensor(), grab(we), grab(be), grab(wd), grab(bd), grab(c)};
  };
  Tensor<float, Shape<dyn, dyn>> mask;
  const auto sparse = run(true, mask);
  const auto dense = run(false, mask);
  auto close = [](const auto& a, const auto& b, const char* what) {
    double worst = 0, scale = 0;
    for (index_t i = 0; i < a.numel(); ++i) {
      worst = std::max(worst, std::abs(double(a.data()[i]) - double(b.data()[i])));
      scale = std::max(scale, std::abs(double(b.data()[i])));
    }
    INFO(what << ": worst difference " << worst << " at scale " << scale);
    CHECK(worst <= 1e-5 * std::max(scale, 1.0));
  };
  close(std::get<0>(sparse), std::get<0>(dense), "y");
  close(std::get<1>(sparse), std::get<1>(dense), "dW_enc");
  close(std::get<2>(sparse), std::get<2>(dense), "db_enc");
  close(std::get<3>(sparse), std::get<3>(dense), "dW_dec");
  close(std::get<4>(sparse), std::get<4>(dense), "db_dec");
  close(std::get<5>(sparse), std::get<5>(dense), "dcentre");
}

}  // namespace ops_test_sparse_decode
