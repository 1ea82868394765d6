// The rank-r update kernels and op, and LowRankAdapter on its own (adapt/low_rank_adapter.hpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "ranklens/adapt/low_rank_adapter.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/cpu/low_rank.hpp"
#include "ranklens/nn/conv1d.hpp"
#include "ranklens/nn/linear.hpp"
#include "ranklens/ops/low_rank_affine.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/ops/reduce.hpp"

namespace adapt_test_low_rank_adapter {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

std::vector<double> random_values(std::size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

}  // namespace

TEST_CASE("low_rank kernels match the definition for every rank, row count and tail, and apply repeats the forward", "[adapt][cpu]") {
  std::mt19937_64 rng(7);
  for (const index_t rank : {1, 2, 3, 8}) {
    for (const index_t rows : {1, 5, 200, 1100}) {
      const index_t in = 37, out = 21;  // not multiples of any vector width
      const double scale = 0.75;
      const auto x = random_values(std::size_t(rows * in), rng), a = random_values(std::size_t(rank * in), rng),
                 b = random_values(std::size_t(out * rank), rng), base = random_values(std::size_t(rows * out), rng),
                 gy = random_values(std::size_t(rows * out), rng), gx0 = random_values(std::size_t(rows * in), rng);
      // The definition, in double: u = x·Aᵀ, y = base + s·u·Bᵀ; v = gy·B, gx = s·v·A, gA = s·vᵀ·x, gB = s·gyᵀ·u.
      std::vector<double> u(std::size_t(rows * rank)), y = base, v(std::size_t(rows * rank)), gx(std::size_t(rows * in)),
          ga(std::size_t(rank * in)), gb(std::size_t(out * rank));
      for (index_t r = 0; r < rows; ++r)
        for (index_t j = 0; j < rank; ++j) {
          for (index_t i = 0; i < in; ++i) u[r * rank + j] += x[r * in + i] * a[j * in + i];
          for (index_t o = 0; o < out; ++o) {
            y[r * out + o] += scale * u[r * rank + j] * b[o * rank + j];
            v[r * rank + j] += gy[r * out + o] * b[o * rank + j];
          }
          for (index_t i = 0; i < in; ++i) {
            gx[r * in + i] += scale * v[r * rank + j] * a[j * in + i];
            ga[j * in + i] += scale * v[r * rank + j] * x[r * in + i];
          }
          for (index_t o = 0; o < out; ++o) gb[o * rank + j] += scale * gy[r * out + o] * u[r * rank + j];
        }

      auto xf = as<float>(x), af = as<float>(a), bf = as<float>(b), yf = as<float>(base), gyf = as<float>(gy);
      std::vector<float> uf(u.size()), gxf = as<float>(gx0), gaf(ga.size(), 1.0f), gbf(gb.size(), -1.0f);
      cpu::low_rank_forward<float>(xf.data(), af.data(), bf.data(), uf.data(), yf.data(), rows, in, out, rank, float(scale));
      cpu::low_rank_backward<float>(xf.data(), af.data(), bf.data(), uf.data(), gyf.data(), gxf.data(), grad_write::add,
                                    gaf.data(), gbf.data(), rows, in, out, rank, float(scale));
      INFO("rank " << rank << ", rows " << rows);
      for (std::size_t i = 0; i < u.size(); ++i) REQUIRE(uf[i] == Approx(u[i]).margin(1e-5));
      for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(yf[i] == Approx(y[i]).margin(1e-5));
      // low_rank_apply with the u the forward wrote: the forward's y, bit for bit.
      auto applied = as<float>(base);
      cpu::low_rank_apply<float>(uf.data(), bf.data(), applied.data(), rows, out, rank, float(scale));
      REQUIRE(applied == yf);
      for (std::size_t i = 0; i < gx.size(); ++i) REQUIRE(gxf[i] == Approx(gx0[i] + gx[i]).margin(1e-5));  // added onto
      for (std::size_t i = 0; i < ga.size(); ++i) REQUIRE(gaf[i] == Approx(1.0 + ga[i]).epsilon(1e-5).margin(1e-4));
      for (std::size_t i = 0; i < gb.size(); ++i) REQUIRE(gbf[i] == Approx(-1.0 + gb[i]).epsilon(1e-5).margin(1e-4));

      // Stored instead of added; and gx alone (no weight gradients wanted).
      std::vector<float> stored(gx.size(), std::nanf("")), alone(gx.size(), std::nanf(""));
      cpu::low_rank_backward<float>(xf.data(), af.data(), bf.data(), uf.data(), gyf.data(), stored.data(), grad_write::store,
                                    nullptr, nullptr, rows, in, out, rank, float(scale));
      cpu::low_rank_backward<float>(xf.data(), af.data(), bf.data(), uf.data(), gyf.data(), alone.data(), grad_write::store,
                                    nullptr, gbf.data(), rows, in, out, rank, float(scale));
      for (std::size_t i = 0; i < gx.size(); ++i) REQUIRE(stored[i] == Approx(gx[i]).margin(1e-5));
      for (std::size_t i = 0; i < gx.size(); ++i) REQUIRE(alone[i] == stored[i]);
    }
  }
}

TEST_CASE("low_rank kernels give the same bits on one thread and on two", "[adapt][cpu]") {
  std::mt19937_64 rng(8);
  const index_t rows = 3000, in = 64, out = 48, rank = 2;
  const auto x = as<float>(random_values(std::size_t(rows * in), rng)), a = as<float>(random_values(std::size_t(rank * in), rng)),
             b = as<float>(random_values(std::size_t(out * rank), rng)), gy = as<float>(random_values(std::size_t(rows * out), rng));
  const auto run = [&](int threads) {
    cpu::set_num_threads(threads);
    std::vector<float> u(std::size_t(rows * rank)), y(std::size_t(rows * out)), ga(std::size_t(rank * in)), gb(std::size_t(out * rank));
    cpu::low_rank_forward<float>(x.data(), a.data(), b.data(), u.data(), y.data(), rows, in, out, rank, 0.5f);
    cpu::low_rank_backward<float>(x.data(), a.data(), b.data(), u.data(), gy.data(), nullptr, grad_write::add, ga.data(),
                                  gb.data(), rows, in, out, rank, 0.5f);
    y.insert(y.end(), ga.begin(), ga.end());
    y.insert(y.end(), gb.begin(), gb.end());
    return y;
  };
  const int threads = cpu::num_threads();
  const auto one = run(1), two = run(2);
  cpu::set_num_threads(threads);
  CHECK(one == two);
}

TEST_CASE("low_rank kernels refuse ranks they do not handle", "[adapt][cpu]") {
  float x = 0, y = 0;
  CHECK_THROWS_WITH(cpu::low_rank_forward<float>(&x, &x, &x, &y, &y, 1, 1, 1, 0, 1.0f), Catch::Contains("rank 0"));
  CHECK_THROWS_WITH(cpu::low_rank_forward<float>(&x, &x, &x, &y, &y, 1, 1, 1, 65, 1.0f), Catch::Contains("rank 65"));
}

TEST_CASE("low_rank_update passes the gradient check for x, A and B, in place and through a view", "[adapt][gradcheck]") {
  std::mt19937_64 rng(11);
  auto x = random_tensor(Shape<dyn, dyn, 6>{2, 3}, rng);
  auto w = random_tensor(Shape<6, 5>{}, rng);
  auto a = random_tensor(Shape<3, 6>{}, rng);
  auto b = random_tensor(Shape<5, 3>{}, rng);
  // In place: the base is the fresh output of a product (what a frozen Linear gives).
  CHECK(check_gradients([](auto xv, auto wv, auto av, auto bv) { return low_rank_update(matmul(xv, wv), xv, av, bv, 0.7).output; }, x, w,
                        a, b));
  // The base is a slice of a larger result: it is copied, and its gradient passed on.
  auto w2 = random_tensor(Shape<6, 8>{}, rng);
  CHECK(check_gradients(
      [](auto xv, auto wv, auto av, auto bv) {
        return low_rank_update(slice<2, 1, 6>(matmul(xv, wv)), xv, av, bv, -1.3).output;
      },
      x, w2, a, b));
  // Rank 1 and the activation u = x·Aᵀ.
  auto a1 = random_tensor(Shape<1, 6>{}, rng);
  auto b1 = random_tensor(Shape<5, 1>{}, rng);
  CHECK(check_gradients([](auto xv, auto wv, auto av, auto bv) { return low_rank_update(matmul(xv, wv), xv, av, bv, 2.0).output; }, x, w,
                        a1, b1));
  auto step = tape();
  const auto result = low_rank_update(matmul(constant(x), constant(w)), constant(x), constant(a1), constant(b1), 2.0);
  for (index_t r = 0; r < 6; ++r) {
    double expected = 0;
    for (index_t i = 0; i < 6; ++i) expected += x.data()[r * 6 + i] * a1.data()[i];
    CHECK(result.activation.value()(r, 0) == Approx(expected));
  }
}

TEST_CASE("low_rank_affine passes the gradient check for x, w, the bias, A and B, with w in both layouts", "[adapt][gradcheck]") {
  std::mt19937_64 rng(12);
  auto x = random_tensor(Shape<dyn, 6>{7}, rng);
  auto w = random_tensor(Shape<6, 5>{}, rng);   // (K, N), as Conv1D stores it
  auto wt = random_tensor(Shape<5, 6>{}, rng);  // (N, K), as Linear stores it: used through its transpose
  auto bias = random_tensor(Shape<5>{}, rng);
  auto a = random_tensor(Shape<3, 6>{}, rng);
  auto b = random_tensor(Shape<5, 3>{}, rng);
  CHECK(check_gradients([](auto xv, auto wv, auto biasv, auto av, auto bv) { return low_rank_affine(xv, wv, std::optional(biasv), av, bv, 0.7).output; },
                        x, w, bias, a, b));
  CHECK(check_gradients([](auto xv, auto wv, auto av, auto bv) { return low_rank_affine(xv, transpose(wv), std::nullopt, av, bv, -1.3).output; },
                        x, wt, a, b));
  auto a1 = random_tensor(Shape<1, 6>{}, rng);
  auto b1 = random_tensor(Shape<5, 1>{}, rng);
  CHECK(check_gradients([](auto xv, auto wv, auto biasv, auto av, auto bv) {
    return low_rank_affine(xv, transpose(wv), std::optional(biasv), av, bv, 2.0).output;
  }, x, wt, bias, a1, b1));
}

namespace {

// The layer's product followed by low_rank_update, and low_rank_affine, on the same float
// operands: the forward must agree bit for bit (the term is added in the same order), the
// gradients to rounding (dx sums the product and the term in another order).
template <index_t K, index_t N, index_t Rank>
void check_one_op_against_two(index_t rows, bool transposed_w, bool with_bias, std::uint64_t seed) {
  INFO("rows " << rows << " K " << K << " N " << N << " rank " << Rank << " transposed w " << transposed_w << " bias " << with_bias);
  std::mt19937_64 rng(seed);
  const auto fill = [&](auto& t, double range) {
    for (auto& v : t.span()) v = float(std::uniform_real_distribution<double>(-range, range)(rng));
  };
  Tensor<float, Shape<dyn, K>> x(Shape<dyn, K>{rows});
  Tensor<float, Shape<K, N>> w(Shape<K, N>{});
  Tensor<float, Shape<N, K>> w_rows(Shape<N, K>{});  // the same weight stored (N, K), read through transpose()
  Tensor<float, Shape<N>> bias(Shape<N>{});
  Tensor<float, Shape<Rank, K>> a(Shape<Rank, K>{});
  Tensor<float, Shape<N, Rank>> b(Shape<N, Rank>{});
  fill(x, 1), fill(w, 0.2), fill(bias, 0.5), fill(a, 0.3), fill(b, 0.3);
  for (index_t i = 0; i < K; ++i)
    for (index_t o = 0; o < N; ++o) w_rows(o, i) = w(i, o);
  Tensor<float, Shape<dyn, N>> seed_gradient(Shape<dyn, N>{rows});
  fill(seed_gradient, 1);
  const float scale = 0.8f;

  struct Outcome {
    std::vector<float> y, gx, gw, gbias, ga, gb;
  };
  const auto run = [&](bool one_op) {
    auto step = tape();
    auto xv = variable(x);
    auto w_rows_v = variable(w_rows);
    auto wv = variable(w);
    auto biasv = variable(bias);
    auto av = variable(a);
    auto bv = variable(b);
    const Var<float, Shape<K, N>> weight = transposed_w ? Var<float, Shape<K, N>>(transpose(w_rows_v)) : wv;
    Var<float, Shape<dyn, N>> y;
    if (one_op) {
      y = low_rank_affine(xv, weight, with_bias ? std::optional(biasv) : std::nullopt, av, bv, scale).output;
    } else {
      const auto base = with_bias ? matmul_bias(xv, weight, biasv) : matmul(xv, weight);
      y = low_rank_update(base, xv, av, bv, scale).output;
    }
    backward(y, seed_gradient.view());
    const auto copy = [](const auto& t) { return std::vector<float>(t.data(), t.data() + t.numel()); };
    Outcome o;
    o.y = copy(y.value());
    o.gx = copy(xv.grad());
    o.gw = transposed_w ? copy(w_rows_v.grad()) : copy(wv.grad());
    if (with_bias) o.gbias = copy(biasv.grad());
    o.ga = copy(av.grad());
    o.gb = copy(bv.grad());
    return o;
  };
  const Outcome two = run(false), one = run(true);
  for (std::size_t i = 0; i < one.y.size(); ++i) REQUIRE(one.y[i] == two.y[i]);
  const auto close = [](const std::vector<float>& got, const std::vector<float>& want, const char* what) {
    INFO(what);
    REQUIRE(got.size() == want.size());
    double largest = 0;
    for (float v : want) largest = std::max(largest, double(std::fabs(v)));
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(std::fabs(double(got[i]) - double(want[i])) <= 1e-5 * (1 + largest));
  };
  close(one.gx, two.gx, "dx");
  close(one.gw, two.gw, "dw");
  close(one.gbias, two.gbias, "dbias");
  close(one.ga, two.ga, "dA");
  close(one.gb, two.gb, "dB");
}

}  // namespace

TEST_CASE("low_rank_affine gives the bits of the layer then low_rank_update, on the thin GEMM and on BLAS", "[adapt][cpu]") {
  for (bool transposed_w : {true, false})
    for (bool with_bias : {true, false}) {
      check_one_op_against_two<64, 80, 1>(300, transposed_w, with_bias, 21);    // the thin GEMM, one k block
      check_one_op_against_two<300, 128, 3>(301, transposed_w, with_bias, 22);  // the thin GEMM, three k blocks
      check_one_op_against_two<48, 24, 2>(257, transposed_w, with_bias, 23);    // n not a multiple of 16: BLAS
      check_one_op_against_two<32, 64, 1>(40, transposed_w, with_bias, 24);     // too few rows for the thin GEMM
    }
}

TEST_CASE("low_rank_update writes into a fresh result, never into a caller's tensor", "[adapt]") {
  auto step = tape();
  Tensor<float, Shape<dyn, 3>> x(Shape<dyn, 3>{2}, 1.0f);
  Tensor<float, Shape<dyn, 2>> base(Shape<dyn, 2>{2}, 0.5f);
  Tensor<float, Shape<1, 3>> a(Shape<1, 3>{}, 1.0f);
  Tensor<float, Shape<2, 1>> b(Shape<2, 1>{}, 1.0f);
  const auto from_leaf = low_rank_update(constant(base), constant(x), constant(a), constant(b), 1.0f);
  CHECK(from_leaf.output.value()(0, 0) == 3.5f);
  CHECK(base(0, 0) == 0.5f);
  const auto fresh = constant(base) * 1.0f;
  const auto in_place = low_rank_update(fresh, constant(x), constant(a), constant(b), 1.0f);
  CHECK(in_place.output.node() == fresh.node());
  CHECK(in_place.output.value()(1, 1) == 3.5f);
}

TEST_CASE("low_rank_update refuses inputs that do not fit its factors", "[adapt]") {
  auto step = tape();
  Tensor<float, Shape<dyn, dyn>> x(Shape<dyn, dyn>{4, 6}, 0.0f), base(Shape<dyn, dyn>{3, 5}, 0.0f);
  Tensor<float, Shape<2, 6>> a(Shape<2, 6>{}, 0.0f);
  Tensor<float, Shape<5, 2>> b(Shape<5, 2>{}, 0.0f);
  CHECK_THROWS_WITH(low_rank_update(constant(base), constant(x), constant(a), constant(b), 1.0f),
                    Catch::Contains("low_rank_update") && Catch::Contains("(dyn=3, dyn=5)"));
}

TEST_CASE("LowRankAdapter starts as PEFT does: A uniform in ±1/√In, B zero, scale alpha/r or alpha/√r", "[adapt]") {
  std::mt19937 rng(3);
  LowRankAdapter<4, 100, 30> adapter(rng, {.alpha = 16});
  float largest = 0;
  for (const float v : adapter.lora_A.value().span()) largest = std::max(largest, std::abs(v));
  CHECK(largest <= 0.1f);
  CHECK(largest > 0.09f);  // the draws reach the bound's neighbourhood: not some smaller scale
  for (const float v : adapter.lora_B.value().span()) CHECK(v == 0.0f);
  CHECK(adapter.scale() == 4.0);
  LowRankAdapter<4, 100, 30> rs(rng, {.alpha = 16, .rslora = true});
  CHECK(rs.scale() == 8.0);
  CHECK_THROWS_WITH((LowRankAdapter<1, 4, 4>(rng, {.dropout = 1.0})), Catch::Contains("dropout"));
}

TEST_CASE("A fresh adapter changes nothing, bit for bit, a trained one adds scale·B·A·x", "[adapt]") {
  std::mt19937 rng(4);
  Linear<8, 6> layer(rng);
  LowRankAdapter<2, 8, 6> adapter(rng, {.alpha = 3});
  std::mt19937_64 r64(5);
  Tensor<float, Shape<dyn, dyn, 8>> x(Shape<dyn, dyn, 8>{3, 7});
  for (auto& v : x.span()) v = float(std::uniform_real_distribution<double>(-1, 1)(r64));
  auto step = tape();
  const auto plain = layer(constant(x)).to_tensor();
  layer.adapter.attach(adapter);
  const auto fresh = layer(constant(x)).to_tensor();
  for (index_t i = 0; i < plain.numel(); ++i) REQUIRE(fresh.data()[i] == plain.data()[i]);

  for (auto& v : adapter.lora_B.value().span()) v = float(std::uniform_real_distribution<double>(-1, 1)(r64));
  const auto adapted = layer(constant(x)).to_tensor();
  const auto delta = adapter.delta_weight();  // scale·B·A, (Out, In)
  for (index_t r = 0; r < 21; ++r)
    for (index_t o = 0; o < 6; ++o) {
      double expected = plain.data()[r * 6 + o];
      for (index_t i = 0; i < 8; ++i) expected += double(delta(o, i)) * x.data()[r * 8 + i];
      REQUIRE(adapted.data()[r * 6 + o] == Approx(expected).margin(1e-5));
    }
  adapter.set_enabled(false);
  const auto disabled = layer(constant(x)).to_tensor();
  for (index_t i = 0; i < plain.numel(); ++i) REQUIRE(disabled.data()[i] == plain.data()[i]);
  layer.adapter.detach();
}

TEST_CASE("An adapter on a frozen layer trains A and B and leaves the layer's weights without gradient", "[adapt][gradcheck]") {
  std::mt19937 rng(6);
  Linear<5, 4, double> layer(rng);
  Conv1D<5, 4, double> conv(rng, 0.3);
  LowRankAdapter<2, 5, 4, double> on_linear(rng, {.alpha = 2}), on_conv(rng, {.alpha = 5, .rslora = true});
  std::mt19937_64 r64(7);
  for (auto* adapter : {&on_linear, &on_conv})
    for (auto& v : adapter->lora_B.value().span()) v = std::uniform_real_distribution<double>(-1, 1)(r64);
  layer.adapter.attach(on_linear);
  conv.adapter.attach(on_conv);
  freeze(layer);
  freeze(conv);
  auto x = random_tensor(Shape<dyn, dyn, 5>{2, 3}, r64);
  CHECK(check_gradients([&](auto xv) { return layer(xv); }, x));  // dx through the frozen layer and the adapter
  CHECK(check_gradients([&](auto xv) { return conv(xv); }, x));

  // A and B by central differences of one loss through both layers.
  const auto loss = [&] {
    auto step = tape();
    const auto y = layer(constant(x));
    return (sum(y * y) + sum(conv(constant(x)))).item();
  };
  for (auto* adapter : {&on_linear, &on_conv}) adapter->lora_A.zero_grad(), adapter->lora_B.zero_grad();
  {
    auto step = tape();
    const auto y = layer(constant(x));
    backward(sum(y * y) + sum(conv(constant(x))));
  }
  const auto check_parameter = [&](auto& p) {
    for (index_t i = 0; i < p.numel(); ++i) {
      double& v = p.value().data()[i];
      const double saved = v, h = 1e-6;
      v = saved + h;
      const double up = loss();
      v = saved - h;
      const double down = loss();
      v = saved;
      REQUIRE(p.grad().data()[i] == Approx((up - down) / (2 * h)).epsilon(1e-6).margin(1e-7));
    }
  };
  for (auto* adapter : {&on_linear, &on_conv}) {
    check_parameter(adapter->lora_A);
    check_parameter(adapter->lora_B);
  }
  CHECK_FALSE(layer.weight.has_grad());  // frozen: no gradient buffer at all
  CHECK_FALSE(conv.weight.has_grad());
  layer.adapter.detach();
  conv.adapter.detach();
}

TEST_CASE("Ranks above the row kernels' limit run as GEMMs and give the same result", "[adapt]") {
  std::mt19937 rng(8);
  LowRankAdapter<70, 16, 12> wide(rng, {.alpha = 70});
  std::mt19937_64 r64(9);
  for (auto& v : wide.lora_B.value().span()) v = float(std::uniform_real_distribution<double>(-0.1, 0.1)(r64));
  Tensor<float, Shape<dyn, 16>> x(Shape<dyn, 16>{9});
  Tensor<float, Shape<dyn, 12>> base(Shape<dyn, 12>{9});
  for (auto& v : x.span()) v = float(std::uniform_real_distribution<double>(-1, 1)(r64));
  for (auto& v : base.span()) v = float(std::uniform_real_distribution<double>(-1, 1)(r64));
  auto step = tape();
  const auto y = wide(constant(x), constant(base)).to_tensor();
  const auto delta = wide.delta_weight();
  for (index_t r = 0; r < 9; ++r)
    for (index_t o = 0; o < 12; ++o) {
      double expected = base(r, o);
      for (index_t i = 0; i < 16; ++i) expected += double(delta(o, i)) * x(r, i);
      REQUIRE(y(r, o) == Approx(expected).margin(1e-4));
    }
  // Its activations replaced by the ones it computed (set_source, as LoraAdapters::replace_state
  // does): the same output, bit for bit, also on this GEMM path.
  auto guard = no_grad();
  std::vector<float> table;
  wide.set_sink({&table, 70, 0});
  const auto captured = wide(constant(x), constant(base)).to_tensor();
  wide.set_sink({});
  wide.set_source({table.data(), 9, 70, 0});
  const auto replayed = wide(constant(x), constant(base)).to_tensor();
  wide.set_source({});
  for (index_t i = 0; i < y.numel(); ++i) REQUIRE(replayed.data()[i] == captured.data()[i]);
}

TEST_CASE("Adapter dropout drops in training and not in evaluation", "[adapt]") {
  std::mt19937 rng(10);
  LowRankAdapter<1, 32, 4> adapter(rng, {.alpha = 1, .dropout = 0.5}, 99);
  for (auto& v : adapter.lora_B.value().span()) v = 1.0f;
  Tensor<float, Shape<dyn, 32>> x(Shape<dyn, 32>{64}, 1.0f);
  Tensor<float, Shape<dyn, 4>> base(Shape<dyn, 4>{64}, 0.0f);
  auto step = tape();
  adapter.set_training(false);
  const auto eval = adapter(constant(x), constant(base)).to_tensor();
  adapter.set_training(true);
  const auto train = adapter(constant(x), constant(base)).to_tensor();
  double a_sum = 0;
  for (const float v : adapter.lora_A.value().span()) a_sum += v;
  int differ = 0;
  for (index_t r = 0; r < 64; ++r) {
    REQUIRE(eval(r, 0) == Approx(a_sum).margin(1e-5));  // u = A·1, y = u·B
    differ += std::abs(train(r, 0) - eval(r, 0)) > 1e-4;
  }
  CHECK(differ > 50);  // each row keeps about half of its 32 inputs, rescaled by 2
}

}  // namespace adapt_test_low_rank_adapter
