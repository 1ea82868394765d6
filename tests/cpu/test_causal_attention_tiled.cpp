// The register-tiled float attention (cpu/causal_attention_tiled.hpp) against the blocked
// kernel in double (which tests/ops/test_fused_causal_attention.cpp checks against the
// definition), forward and backward, over the head sizes it takes and the layouts it must read.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/causal_attention.hpp"

namespace cpu_test_causal_attention_tiled {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;

namespace {

struct Case {
  attention_extents e;
  bool fused_qkv;  // q, k, v as slices of one (batch, position, (Hq + 2 Hkv) · D) projection
};

template <class T>
struct Operands {
  std::vector<T> qkv, q, k, v;  // qkv when fused, else q, k, v
  attention_strides qs, ks, vs;
  const T *qp, *kp, *vp;
};

template <class T>
Operands<T> make_operands(const Case& c, const std::vector<double>& random) {
  const auto& e = c.e;
  Operands<T> o;
  auto take = [&](std::vector<T>& to, std::size_t count, std::size_t from) {
    to.resize(count);
    for (std::size_t i = 0; i < count; ++i) to[i] = T(random[(from + i) % random.size()]);
  };
  if (c.fused_qkv) {
    REQUIRE(e.queries == e.keys);
    const index_t width = (e.query_heads + 2 * e.kv_heads) * e.head_dim;
    take(o.qkv, std::size_t(e.batch * e.keys * width), 0);
    o.qs = {e.keys * width, width, e.head_dim};
    o.ks = o.vs = o.qs;
    o.qp = o.qkv.data();
    o.kp = o.qp + e.query_heads * e.head_dim;
    o.vp = o.kp + e.kv_heads * e.head_dim;
  } else {
    take(o.q, std::size_t(e.batch * e.queries * e.query_heads * e.head_dim), 0);
    take(o.k, std::size_t(e.batch * e.keys * e.kv_heads * e.head_dim), 7919);
    take(o.v, std::size_t(e.batch * e.keys * e.kv_heads * e.head_dim), 104729);
    o.qs = {e.queries * e.query_heads * e.head_dim, e.query_heads * e.head_dim, e.head_dim};
    o.ks = o.vs = attention_strides{e.keys * e.kv_heads * e.head_dim, e.kv_heads * e.head_dim, e.head_dim};
    o.qp = o.q.data();
    o.kp = o.k.data();
    o.vp = o.v.data();
  }
  return o;
}

// z, lse, then dq, dk, dv (each laid out as its operand, so the fused case has one buffer).
template <class T>
std::vector<std::vector<double>> run(const Case& c, const std::vector<double>& random, const std::vector<double>& dz_random) {
  const auto& e = c.e;
  auto o = make_operands<T>(c, random);
  const std::size_t z_count = std::size_t(e.batch * e.queries * e.query_heads * e.head_dim);
  std::vector<T> z(z_count), lse(std::size_t(e.batch * e.query_heads * e.queries)), dz(z_count);
  for (std::size_t i = 0; i < z_count; ++i) dz[i] = T(dz_random[i % dz_random.size()]);
  const T scale = T(1 / std::sqrt(double(e.head_dim)));
  causal_attention_forward<T>(e, o.qp, o.qs, o.kp, o.ks, o.vp, o.vs, z.data(), lse.data(), scale);
  std::vector<T> gq(c.fused_qkv ? o.qkv.size() : o.q.size()), gk(c.fused_qkv ? 0 : o.k.size()), gv(c.fused_qkv ? 0 : o.v.size());
  T* dq = gq.data();
  T* dk = c.fused_qkv ? gq.data() + (o.kp - o.qp) : gk.data();
  T* dv = c.fused_qkv ? gq.data() + (o.vp - o.qp) : gv.data();
  causal_attention_backward<T>(e, o.qp, o.qs, o.kp, o.ks, o.vp, o.vs, z.data(), lse.data(), dz.data(), dq, dk, dv, scale);
  auto as_double = [](const std::vector<T>& x) { return std::vector<double>(x.begin(), x.end()); };
  return {as_double(z), as_double(lse), as_double(gq), as_double(gk), as_double(gv)};
}

}  // namespace

TEST_CASE("tiled float attention matches the blocked kernel in double, forward and backward", "[cpu][attention]") {
  // head_dim 16..64; group sizes 1 and 2; cached keys before the queries; rows that are not a
  // multiple of the 6-row tile and keys not a multiple of the 64-key chunk; one position; the
  // strided slices of a fused qkv projection.
  const Case cases[] = {{{2, 70, 70, 4, 4, 16}, false}, {{1, 67, 130, 4, 2, 32}, false}, {{2, 13, 13, 2, 1, 48}, false},
                        {{1, 129, 129, 2, 2, 64}, false}, {{3, 1, 1, 2, 2, 16}, false},   {{1, 5, 200, 2, 1, 16}, false},
                        {{2, 100, 100, 4, 4, 16}, true},  {{1, 64, 64, 2, 1, 32}, true}};
  const auto random = random_vector<double>(100003, -2, 2, 31);
  const auto dz_random = random_vector<double>(10007, -1, 1, 32);
  for (const Case& c : cases) {
    CAPTURE(c.e.batch, c.e.queries, c.e.keys, c.e.query_heads, c.e.kv_heads, c.e.head_dim, c.fused_qkv);
    REQUIRE(tiled_attention_suits(c.e) == bool(RANKLENS_TILED_ATTENTION));
    const auto got = run<float>(c, random, dz_random);
    const auto want = run<double>(c, random, dz_random);
    const char* names[] = {"z", "lse", "dq (or dqkv)", "dk", "dv"};
    for (std::size_t part = 0; part < got.size(); ++part) {
      INFO(names[part]);
      REQUIRE(got[part].size() == want[part].size());
      double worst = 0, largest = 1;
      for (std::size_t i = 0; i < got[part].size(); ++i) {
        worst = std::max(worst, std::fabs(got[part][i] - want[part][i]));
        largest = std::max(largest, std::fabs(want[part][i]));
      }
      CHECK(worst <= 2e-5 * largest);
    }
  }
}

TEST_CASE("tiled float attention leaves gradients it is not asked for alone", "[cpu][attention]") {
  const attention_extents e{1, 20, 20, 2, 1, 16};
  const auto q = random_vector<float>(20 * 2 * 16, -1, 1, 41), k = random_vector<float>(20 * 16, -1, 1, 42),
             v = random_vector<float>(20 * 16, -1, 1, 43), dz = random_vector<float>(20 * 2 * 16, -1, 1, 44);
  const attention_strides qs{20 * 2 * 16, 2 * 16, 16}, ks{20 * 16, 16, 16};
  std::vector<float> z(q.size()), lse(2 * 20), dk(k.size(), 0.0f), dk_alone(k.size(), 0.0f);
  causal_attention_forward<float>(e, q.data(), qs, k.data(), ks, v.data(), ks, z.data(), lse.data(), 0.25f);
  std::vector<float> dq(q.size(), 0.0f), dv(v.size(), 0.0f);
  causal_attention_backward<float>(e, q.data(), qs, k.data(), ks, v.data(), ks, z.data(), lse.data(), dz.data(), dq.data(), dk.data(),
                                   dv.data(), 0.25f);
  causal_attention_backward<float>(e, q.data(), qs, k.data(), ks, v.data(), ks, z.data(), lse.data(), dz.data(), nullptr,
                                   dk_alone.data(), nullptr, 0.25f);
  CHECK(dk_alone == dk);
}

}  // namespace cpu_test_causal_attention_tiled
