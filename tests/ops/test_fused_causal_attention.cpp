#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/ops/fused_causal_attention.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/views.hpp"

namespace ops_test_fused_causal_attention {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

using Heads = Shape<dyn, dyn, dyn, dyn>;  // (batch, position, head, head_dim)

// softmax(scale · q·kᵀ) · v, written as the definition: query i of Tq sees keys j <= i + Tk − Tq,
// query head h reads key/value head h / (Hq / Hkv).
template <class QView, class KView>
std::vector<double> attention_by_definition(const QView& q, const KView& k, const KView& v, double scale) {
  const index_t batch = q.extent(0), tq = q.extent(1), heads = q.extent(2), dim = q.extent(3);
  const index_t tk = k.extent(1), group = heads / k.extent(2);
  std::vector<double> z;
  for (index_t b = 0; b < batch; ++b)
    for (index_t i = 0; i < tq; ++i)
      for (index_t h = 0; h < heads; ++h) {
        const index_t visible = i + tk - tq + 1, kv = h / group;
        std::vector<double> s(std::size_t(visible), 0.0);
        double top = -std::numeric_limits<double>::infinity(), total = 0;
        for (index_t j = 0; j < visible; ++j) {
          for (index_t d = 0; d < dim; ++d) s[j] += scale * double(q(b, i, h, d)) * double(k(b, j, kv, d));
          top = std::max(top, s[j]);
        }
        for (auto& x : s) total += (x = std::exp(x - top));
        for (index_t d = 0; d < dim; ++d) {
          double acc = 0;
          for (index_t j = 0; j < visible; ++j) acc += s[j] / total * double(v(b, j, kv, d));
          z.push_back(acc);
        }
      }
  return z;
}

struct Case {
  index_t batch, queries, keys, query_heads, kv_heads, head_dim;
};

}  // namespace

TEST_CASE("fused_causal_attention equals attention by its definition", "[ops][attention]") {
  // Group sizes 1 and 2, keys cached before the queries, more rows than one query block (64)
  // and not a multiple of it, a single position.
  const Case cases[] = {{2, 7, 7, 2, 2, 3}, {2, 5, 5, 4, 2, 4}, {1, 3, 9, 2, 1, 5}, {1, 70, 70, 2, 1, 4},
                        {2, 67, 130, 2, 2, 8}, {3, 1, 1, 2, 2, 4}, {2, 1, 6, 4, 2, 3}};
  std::mt19937_64 rng(21);
  for (const Case& c : cases) {
    CAPTURE(c.batch, c.queries, c.keys, c.query_heads, c.kv_heads, c.head_dim);
    auto q = random_tensor(Heads{c.batch, c.queries, c.query_heads, c.head_dim}, rng, -2, 2);
    auto k = random_tensor(Heads{c.batch, c.keys, c.kv_heads, c.head_dim}, rng, -2, 2);
    auto v = random_tensor(Heads{c.batch, c.keys, c.kv_heads, c.head_dim}, rng);
    const double scale = 1 / std::sqrt(double(c.head_dim));
    auto step = tape();
    const auto z = fused_causal_attention(constant(q), constant(k), constant(v), scale);
    const auto expected = attention_by_definition(q.view(), k.view(), v.view(), scale);
    REQUIRE(z.numel() == index_t(expected.size()));
    for (index_t i = 0; i < z.numel(); ++i) CHECK(z.value().data()[i] == Approx(expected[std::size_t(i)]).margin(1e-13));
  }
}

TEST_CASE("fused_causal_attention in float agrees with the float64 definition", "[ops][attention]") {
  std::mt19937_64 rng(22);
  const Case c{2, 100, 100, 4, 2, 16};
  auto q = random_tensor(Heads{c.batch, c.queries, c.query_heads, c.head_dim}, rng, -2, 2);
  auto k = random_tensor(Heads{c.batch, c.keys, c.kv_heads, c.head_dim}, rng, -2, 2);
  auto v = random_tensor(Heads{c.batch, c.keys, c.kv_heads, c.head_dim}, rng);
  auto to_float = [](const auto& t) {
    Tensor<float, Heads> f(t.shape());
    for (index_t i = 0; i < t.numel(); ++i) f.data()[i] = float(t.data()[i]);
    return f;
  };
  const auto qf = to_float(q), kf = to_float(k), vf = to_float(v);
  auto step = tape();
  const auto z = fused_causal_attention(constant(qf), constant(kf), constant(vf), 0.25f);
  const auto expected = attention_by_definition(qf.view(), kf.view(), vf.view(), 0.25);
  for (index_t i = 0; i < z.numel(); ++i) CHECK(z.value().data()[i] == Approx(expected[std::size_t(i)]).margin(1e-5));
}

TEST_CASE("fused_causal_attention reads strided slices of a fused projection in place", "[ops][attention]") {
  // (batch, position, 3 · heads · head_dim), split into q, k, v as GPT-2's c_attn output is.
  std::mt19937_64 rng(23);
  auto qkv = random_tensor(Shape<dyn, dyn, dyn>{2, 9, 3 * 2 * 4}, rng, -2, 2);
  auto step = tape();
  const auto x = constant(qkv);
  auto heads = [&](index_t part) {
    const auto slice_of_x = slice<2>(x, part * 8, (part + 1) * 8);
    return slice_of_x.with_layout(slice_of_x.offset(), Heads{2, 9, 2, 4}, {9 * 24, 24, 4, 1});
  };
  const auto q = heads(0), k = heads(1), v = heads(2);
  const auto z = fused_causal_attention(q, k, v, 0.5);
  const auto expected = attention_by_definition(q.value(), k.value(), v.value(), 0.5);
  for (index_t i = 0; i < z.numel(); ++i) CHECK(z.value().data()[i] == Approx(expected[std::size_t(i)]).margin(1e-13));
}

TEST_CASE("fused_causal_attention takes any stride on an axis of extent one", "[ops][attention]") {
  // One new token, as in generation: its position stride is arbitrary (here 1, less than a row).
  std::mt19937_64 rng(26);
  auto q = random_tensor(Heads{2, 1, 2, 4}, rng, -2, 2);
  auto k = random_tensor(Heads{2, 5, 2, 4}, rng, -2, 2), v = random_tensor(Heads{2, 5, 2, 4}, rng);
  auto step = tape();
  const auto x = variable(q);
  const auto odd_q = x.with_layout(0, x.shape(), {8, 1, 4, 1});
  const auto z = fused_causal_attention(odd_q, constant(k), constant(v), 0.5);
  const auto expected = attention_by_definition(q.view(), k.view(), v.view(), 0.5);
  for (index_t i = 0; i < z.numel(); ++i) CHECK(z.value().data()[i] == Approx(expected[std::size_t(i)]).margin(1e-13));
  backward(sum(z));
  CHECK(x.has_grad());
}

TEST_CASE("fused_causal_attention passes the gradient check", "[ops][attention][gradcheck]") {
  const Case cases[] = {{2, 5, 5, 2, 2, 3}, {1, 4, 4, 4, 2, 3}, {1, 3, 7, 2, 1, 2}, {1, 66, 66, 2, 1, 2}, {2, 1, 1, 2, 2, 3}};
  std::mt19937_64 rng(24);
  for (const Case& c : cases) {
    CAPTURE(c.batch, c.queries, c.keys, c.query_heads, c.kv_heads, c.head_dim);
    auto q = random_tensor(Heads{c.batch, c.queries, c.query_heads, c.head_dim}, rng, -2, 2);
    auto k = random_tensor(Heads{c.batch, c.keys, c.kv_heads, c.head_dim}, rng, -2, 2);
    auto v = random_tensor(Heads{c.batch, c.keys, c.kv_heads, c.head_dim}, rng);
    const auto result = check_gradients([](auto q, auto k, auto v) { return fused_causal_attention(q, k, v, 0.7); }, q, k, v);
    CAPTURE(result);
    CHECK(result.ok);
  }
}

TEST_CASE("fused_causal_attention differentiates through strided views of one tensor", "[ops][attention][gradcheck]") {
  std::mt19937_64 rng(25);
  auto qkv = random_tensor(Shape<dyn, dyn, dyn>{2, 6, 3 * 2 * 3}, rng, -2, 2);
  const auto attention = [](auto x) {
    auto heads = [&](index_t part) {
      const auto s = slice<2>(x, part * 6, (part + 1) * 6);
      return s.with_layout(s.offset(), Heads{2, 6, 2, 3}, {6 * 18, 18, 3, 1});
    };
    return fused_causal_attention(heads(0), heads(1), heads(2), 0.6);
  };
  const auto result = check_gradients(attention, qkv);
  CAPTURE(result);
  CHECK(result.ok);
}

TEST_CASE("fused_causal_attention gives each input the same gradient whichever others need one", "[ops][attention]") {
  std::mt19937_64 rng(27);
  auto q = random_tensor(Heads{2, 6, 4, 3}, rng, -2, 2);
  auto k = random_tensor(Heads{2, 8, 2, 3}, rng, -2, 2), v = random_tensor(Heads{2, 8, 2, 3}, rng);
  auto seed = random_tensor(Heads{2, 6, 4, 3}, rng);
  auto gradients = [&](bool q_grad, bool k_grad, bool v_grad) {
    auto step = tape();
    const auto qv = variable(q, q_grad), kv = variable(k, k_grad), vv = variable(v, v_grad);
    backward(fused_causal_attention(qv, kv, vv, 0.6), seed.view());
    auto copy = [](const auto& x) {
      return x.has_grad() ? std::vector<double>(x.grad().data(), x.grad().data() + x.numel()) : std::vector<double>{};
    };
    return std::array<std::vector<double>, 3>{copy(qv), copy(kv), copy(vv)};
  };
  const auto all = gradients(true, true, true);
  const auto only_q = gradients(true, false, false), only_k = gradients(false, true, false), only_v = gradients(false, false, true);
  CHECK(only_q[0] == all[0]);
  CHECK(only_k[1] == all[1]);
  CHECK(only_v[2] == all[2]);
  CHECK((only_q[1].empty() && only_q[2].empty() && only_v[0].empty()));
}

TEST_CASE("fused_causal_attention names the mismatch in its shape errors", "[ops][attention]") {
  auto step = tape();
  auto zeros = [](index_t b, index_t t, index_t h, index_t d) { return Tensor<float, Heads>(Heads{b, t, h, d}, 0.0f); };
  const auto q = zeros(2, 4, 4, 8), k = zeros(2, 4, 2, 8), v = zeros(2, 4, 2, 8);
  const auto short_keys = zeros(2, 3, 2, 8), odd_heads = zeros(2, 4, 3, 8), wide = zeros(2, 4, 2, 16), other_batch = zeros(1, 4, 2, 8);
  REQUIRE_NOTHROW(fused_causal_attention(constant(q), constant(k), constant(v), 1.0f));
  REQUIRE_THROWS_WITH(fused_causal_attention(constant(q), constant(short_keys), constant(short_keys), 1.0f),
                      Catch::Contains("fewer key positions than query positions"));
  REQUIRE_THROWS_WITH(fused_causal_attention(constant(q), constant(odd_heads), constant(odd_heads), 1.0f),
                      Catch::Contains("not a multiple of the key/value heads"));
  REQUIRE_THROWS_WITH(fused_causal_attention(constant(q), constant(wide), constant(wide), 1.0f), Catch::Contains("head_dim differs"));
  REQUIRE_THROWS_WITH(fused_causal_attention(constant(q), constant(other_batch), constant(other_batch), 1.0f),
                      Catch::Contains("batch sizes differ"));
  REQUIRE_THROWS_WITH(fused_causal_attention(constant(q), constant(k), constant(wide), 1.0f),
                      Catch::Contains("keys and values differ in shape"));
}

}  // namespace ops_test_fused_causal_attention
