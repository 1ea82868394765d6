// Causal attention for float heads of 16 to 64 dimensions (a multiple of 16), forward and
// backward, with the scores in AVX-512 registers: FlashAttention-2's loop (Dao 2023) over tiles
// of 6 query rows and chunks of 64 keys. A tile's 6 × 64 scores are 24 vectors; their softmax is
// taken online (running max and sum per row), the probabilities go through a 1.5 KiB buffer to
// be broadcast into P·V, and nothing larger than a tile is written. The blocked kernel of
// causal_attention.hpp writes and re-reads a 64 × keys block of scores around five small BLAS
// calls per block. Against it (docs/performance.md): attention alone 10% faster at head_dim 64,
// the same at 16 and 32; the training step 1.5–4% faster at d_model 64 to 256.
//
// Same contract as causal_attention_forward / _backward (see causal_attention.hpp), which call
// these when tiled_attention_suits().
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

#include "ranklens/cpu/attention_extents.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/thread_pool.hpp"
#include "ranklens/cpu/transpose.hpp"

#if defined(__AVX512F__)
#define RANKLENS_TILED_ATTENTION 1
#else
#define RANKLENS_TILED_ATTENTION 0
#endif

namespace ranklens::cpu {

inline bool tiled_attention_suits(const attention_extents& e) noexcept {
  return RANKLENS_TILED_ATTENTION && e.head_dim >= 16 && e.head_dim <= 64 && e.head_dim % 16 == 0;
}

#if RANKLENS_TILED_ATTENTION
// GCC 12 reports its own headers' _mm512_undefined_*() inside the max and reduce intrinsics as
// "may be used uninitialized" once they inline here (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace detail::tiled {

inline constexpr int tile_rows = 6;
inline constexpr index_t chunk_keys = 64;  // 4 vectors of 16 scores per row

inline __m512 exp16(__m512 x) { return static_cast<__m512>(xsimd::exp(simd<float>(x))); }

// Lanes of the 16 keys from `first` that exist (key < keys).
inline __mmask16 keys_in_range(index_t first, index_t keys) {
  const index_t left = keys - first;
  return left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1u);
}

// Lanes of the 16 keys from `first` that a query whose last visible key is `last` sees.
inline __mmask16 visible_lanes(index_t first, index_t last) { return keys_in_range(first, last + 1); }

// out[r · 64 + c] = Σ_d a(r, d) · t[d, first + c], a(r, d) = a[r · lda + d], t (D, keys) dense:
// a 6 × 64 tile of Q·Kᵀ (t = Kᵀ) or dZ·Vᵀ (t = Vᵀ). Keys past the end read as 0. The sums stay
// in 24 registers until the end: code that indexed them afterwards would make GCC keep (and
// store, every step) a copy in memory.
template <int R, int DV>
inline void score_tile(float* out, const float* a, index_t lda, const float* t, index_t keys, index_t first) {
  __mmask16 in_range[4];
#pragma GCC unroll 16
  for (int v = 0; v < 4; ++v) in_range[v] = keys_in_range(first + 16 * v, keys);
  __m512 s[R][4];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < 4; ++v) s[r][v] = _mm512_setzero_ps();
  for (int d = 0; d < 16 * DV; ++d) {
    __m512 row[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) row[v] = _mm512_maskz_loadu_ps(in_range[v], t + d * keys + first + 16 * v);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + d]);
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) s[r][v] = _mm512_fmadd_ps(x, row[v], s[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < 4; ++v) _mm512_storeu_ps(out + r * chunk_keys + 16 * v, s[r][v]);
}

struct forward_args {
  index_t keys, offset;  // keys of the head; query i sees keys j <= i + offset
  const float* keys_t;   // (D, keys)
  const float* v;        // row j at v + j · v_ld
  index_t v_ld;
  float scale;
};

// Rows i0 .. i0 + R of one head: z rows (z_ld apart) and their log-sum-exp.
template <int R, int DV>
void forward_tile(const forward_args& f, index_t i0, const float* q, index_t q_ld, float* z, index_t z_ld, float* lse,
                  float* p_tile) {
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  // The output rows stay in L1 between chunks: in registers beside the 24 score vectors they
  // would be spilled inside the score loop instead.
  alignas(64) float o[R][16 * DV] = {};
  float m[R], l[R], rescale[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    m[r] = -std::numeric_limits<float>::infinity();
    l[r] = 0.0f;
  }
  const index_t last_visible = i0 + R - 1 + f.offset;
  for (index_t j0 = 0; j0 <= last_visible; j0 += chunk_keys) {
    score_tile<R, DV>(p_tile, q, q_ld, f.keys_t, f.keys, j0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      __mmask16 visible[4];
      __m512 s[4];
#pragma GCC unroll 16
      for (int v = 0; v < 4; ++v) {
        visible[v] = visible_lanes(j0 + 16 * v, i0 + r + f.offset);
        s[v] = _mm512_mask_mov_ps(neg_inf, visible[v],
                                  _mm512_mul_ps(_mm512_loadu_ps(p_tile + r * chunk_keys + 16 * v), _mm512_set1_ps(f.scale)));
      }
      // Key 0 is visible to every row, so m[r] is finite from the first chunk on.
      const float chunk_max = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(s[0], s[1]), _mm512_max_ps(s[2], s[3])));
      const float m_new = std::max(m[r], chunk_max);
      rescale[r] = std::exp(m[r] - m_new);
      const __m512 top = _mm512_set1_ps(m_new);
      __m512 sum = _mm512_setzero_ps();
#pragma GCC unroll 16
      for (int v = 0; v < 4; ++v) {
        const __m512 p = _mm512_maskz_mov_ps(visible[v], exp16(_mm512_maskz_sub_ps(visible[v], s[v], top)));
        _mm512_storeu_ps(p_tile + r * chunk_keys + 16 * v, p);
        sum = _mm512_add_ps(sum, p);
      }
      l[r] = l[r] * rescale[r] + _mm512_reduce_add_ps(sum);
      m[r] = m_new;
    }
    const index_t n = std::min(chunk_keys, last_visible + 1 - j0);
    for (int dv = 0; dv < DV; ++dv) {
      __m512 acc[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r] = _mm512_mul_ps(_mm512_load_ps(o[r] + 16 * dv), _mm512_set1_ps(rescale[r]));
      for (index_t j = 0; j < n; ++j) {
        const __m512 vj = _mm512_loadu_ps(f.v + (j0 + j) * f.v_ld + 16 * dv);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(p_tile[r * chunk_keys + j]), vj, acc[r]);
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) _mm512_store_ps(o[r] + 16 * dv, acc[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const __m512 inverse = _mm512_set1_ps(1.0f / l[r]);
    for (int dv = 0; dv < DV; ++dv) _mm512_storeu_ps(z + r * z_ld + 16 * dv, _mm512_mul_ps(_mm512_load_ps(o[r] + 16 * dv), inverse));
    lse[r] = m[r] + std::log(l[r]);
  }
}

// start + Σ_r weights[r · 64] · rows[r], as two interleaved sums: one chain of R dependent
// multiply-adds per key would make the key loop wait on FMA latency.
template <int R>
inline __m512 add_weighted_rows(__m512 start, const float* weights, const __m512 (&rows)[R]) {
  __m512 other = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const __m512 w = _mm512_set1_ps(weights[r * chunk_keys]);
    if (r % 2 == 0)
      start = _mm512_fmadd_ps(w, rows[r], start);
    else
      other = _mm512_fmadd_ps(w, rows[r], other);
  }
  return _mm512_add_ps(start, other);
}

struct backward_args {
  index_t keys, offset;
  const float* keys_t;    // (D, keys)
  const float* values_t;  // (D, keys)
  const float* k;         // row j at k + j · k_ld (for dq)
  index_t k_ld;
  float* dk;              // row j at dk + j · k_ld, or null
  float* dv;              // row j at dv + j · v_ld, or null
  index_t v_ld;
  float scale;
};

// Rows i0 .. i0 + R of one query head: adds their part of dk and dv (rows of the task's kv head)
// and their dq rows.
template <int R, int DV>
void backward_tile(const backward_args& b, index_t i0, const float* q, index_t q_ld, float* dq, const float* z, const float* dz,
                   index_t z_ld, const float* lse, float* p_tile, float* ds_tile) {
  float row_lse[R], row_dot[R];  // log-sum-exp, and Σ_d dz · z (the softmax backward's row term)
  alignas(64) float dq_acc[R][16 * DV] = {};  // in L1 between chunks, as the forward's output rows
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    row_lse[r] = lse[r];
    __m512 dot = _mm512_setzero_ps();
    for (int dv = 0; dv < DV; ++dv)
      dot = _mm512_fmadd_ps(_mm512_loadu_ps(dz + r * z_ld + 16 * dv), _mm512_loadu_ps(z + r * z_ld + 16 * dv), dot);
    row_dot[r] = _mm512_reduce_add_ps(dot);
  }
  const index_t last_visible = i0 + R - 1 + b.offset;
  for (index_t j0 = 0; j0 <= last_visible; j0 += chunk_keys) {
    score_tile<R, DV>(p_tile, q, q_ld, b.keys_t, b.keys, j0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < 4; ++v) {
        float* at = p_tile + r * chunk_keys + 16 * v;
        const __mmask16 visible = visible_lanes(j0 + 16 * v, i0 + r + b.offset);
        const __m512 centred = _mm512_fmsub_ps(_mm512_loadu_ps(at), _mm512_set1_ps(b.scale), _mm512_set1_ps(row_lse[r]));
        _mm512_storeu_ps(at, _mm512_maskz_mov_ps(visible, exp16(_mm512_maskz_mov_ps(visible, centred))));
      }
    score_tile<R, DV>(ds_tile, dz, z_ld, b.values_t, b.keys, j0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < 4; ++v) {  // scale · P ⊙ (dP − row_dot): zero wherever P is
        float* at = ds_tile + r * chunk_keys + 16 * v;
        const __m512 p = _mm512_loadu_ps(p_tile + r * chunk_keys + 16 * v);
        const __m512 ds = _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(at), _mm512_set1_ps(row_dot[r])));
        _mm512_storeu_ps(at, _mm512_mul_ps(ds, _mm512_set1_ps(b.scale)));
      }
    const index_t n = std::min(chunk_keys, last_visible + 1 - j0);
    for (int dv = 0; dv < DV; ++dv) {  // one 16-wide slice of the head at a time: 3 × R rows in registers
      __m512 q_rows[R], dz_rows[R], dq_rows[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        q_rows[r] = _mm512_loadu_ps(q + r * q_ld + 16 * dv);
        dz_rows[r] = _mm512_loadu_ps(dz + r * z_ld + 16 * dv);
        dq_rows[r] = _mm512_load_ps(dq_acc[r] + 16 * dv);
      }
      for (index_t j = 0; j < n; ++j) {
        const index_t key = j0 + j;
        if (b.dv != nullptr) {  // dv[key] += Σ_r P[r, key] · dz[r]
          float* at = b.dv + key * b.v_ld + 16 * dv;
          _mm512_storeu_ps(at, add_weighted_rows<R>(_mm512_loadu_ps(at), p_tile + j, dz_rows));
        }
        if (b.dk != nullptr) {  // dk[key] += Σ_r scale · dS[r, key] · q[r]
          float* at = b.dk + key * b.k_ld + 16 * dv;
          _mm512_storeu_ps(at, add_weighted_rows<R>(_mm512_loadu_ps(at), ds_tile + j, q_rows));
        }
        if (dq != nullptr) {  // dq[r] += Σ_key scale · dS[r, key] · k[key]
          const __m512 kj = _mm512_loadu_ps(b.k + key * b.k_ld + 16 * dv);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) dq_rows[r] = _mm512_fmadd_ps(_mm512_set1_ps(ds_tile[r * chunk_keys + j]), kj, dq_rows[r]);
        }
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) _mm512_store_ps(dq_acc[r] + 16 * dv, dq_rows[r]);
    }
  }
  if (dq != nullptr)
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      for (int dv = 0; dv < DV; ++dv)
        _mm512_storeu_ps(dq + r * q_ld + 16 * dv, _mm512_add_ps(_mm512_loadu_ps(dq + r * q_ld + 16 * dv), _mm512_load_ps(dq_acc[r] + 16 * dv)));
}

// Calls body.template operator()<R>() with R = rows (1 .. tile_rows).
template <class F>
void with_tile_rows(index_t rows, F&& body) {
  switch (rows) {
    case 6: body.template operator()<6>(); break;
    case 5: body.template operator()<5>(); break;
    case 4: body.template operator()<4>(); break;
    case 3: body.template operator()<3>(); break;
    case 2: body.template operator()<2>(); break;
    default: body.template operator()<1>(); break;
  }
}

// Calls body.template operator()<DV>() with DV = head_dim / 16 (1 .. 4).
template <class F>
void with_head_vectors(index_t head_dim, F&& body) {
  switch (head_dim / 16) {
    case 4: body.template operator()<4>(); break;
    case 3: body.template operator()<3>(); break;
    case 2: body.template operator()<2>(); break;
    default: body.template operator()<1>(); break;
  }
}

inline void forward(const attention_extents& e, const float* q, attention_strides qs, const float* k, attention_strides ks,
                    const float* v, attention_strides vs, float* z, float* lse, float scale) {
  const attention_strides zs{e.queries * e.query_heads * e.head_dim, e.query_heads * e.head_dim, e.head_dim};
  const index_t d = e.head_dim;
  with_head_vectors(d, [&]<int DV>() {
    // Tasks are (batch, query head): Kᵀ is copied once for the head's tiles.
    parallel_for(e.batch * e.query_heads, 1, [&](index_t begin, index_t end) {
      const auto scratch = thread_scratch<float>(scratch_slot::block, std::size_t(d * e.keys + tile_rows * chunk_keys));
      float* keys_t = scratch.data();
      float* p_tile = keys_t + d * e.keys;
      for (index_t task = begin; task < end; ++task) {
        const index_t batch = task / e.query_heads, head = task % e.query_heads, kv = head / e.group();
        transpose_into(k + batch * ks.batch + kv * ks.head, ks.position, e.keys, d, keys_t);
        const forward_args f{e.keys, e.key_offset(), keys_t, v + batch * vs.batch + kv * vs.head, vs.position, scale};
        for (index_t i0 = 0; i0 < e.queries; i0 += tile_rows) {
          const float* q0 = q + batch * qs.batch + i0 * qs.position + head * qs.head;
          float* z0 = z + batch * zs.batch + i0 * zs.position + head * zs.head;
          float* lse0 = lse + (batch * e.query_heads + head) * e.queries + i0;
          with_tile_rows(std::min<index_t>(tile_rows, e.queries - i0),
                         [&]<int R>() { forward_tile<R, DV>(f, i0, q0, qs.position, z0, zs.position, lse0, p_tile); });
        }
      }
    });
  });
}

inline void backward(const attention_extents& e, const float* q, attention_strides qs, const float* k, attention_strides ks,
                     const float* v, attention_strides vs, const float* z, const float* lse, const float* dz, float* dq, float* dk,
                     float* dv, float scale) {
  const attention_strides zs{e.queries * e.query_heads * e.head_dim, e.query_heads * e.head_dim, e.head_dim};
  const index_t d = e.head_dim;
  with_head_vectors(d, [&]<int DV>() {
    // A task owns one (batch, kv head): all the query heads of its group add into the same keys.
    parallel_for(e.batch * e.kv_heads, 1, [&](index_t begin, index_t end) {
      const auto scratch = thread_scratch<float>(scratch_slot::block, std::size_t(2 * d * e.keys + 2 * tile_rows * chunk_keys));
      float* keys_t = scratch.data();
      float* values_t = keys_t + d * e.keys;
      float* p_tile = values_t + d * e.keys;
      float* ds_tile = p_tile + tile_rows * chunk_keys;
      for (index_t task = begin; task < end; ++task) {
        const index_t batch = task / e.kv_heads, kv = task % e.kv_heads;
        const index_t k_at = batch * ks.batch + kv * ks.head, v_at = batch * vs.batch + kv * vs.head;
        transpose_into(k + k_at, ks.position, e.keys, d, keys_t);
        transpose_into(v + v_at, vs.position, e.keys, d, values_t);
        const backward_args b{e.keys,   e.key_offset(), keys_t, values_t, k + k_at, ks.position, dk ? dk + k_at : nullptr,
                              dv ? dv + v_at : nullptr, vs.position, scale};
        for (index_t head = kv * e.group(); head < (kv + 1) * e.group(); ++head)
          for (index_t i0 = 0; i0 < e.queries; i0 += tile_rows) {
            const index_t q_at = batch * qs.batch + i0 * qs.position + head * qs.head;
            const index_t z_at = batch * zs.batch + i0 * zs.position + head * zs.head;
            const float* lse0 = lse + (batch * e.query_heads + head) * e.queries + i0;
            with_tile_rows(std::min<index_t>(tile_rows, e.queries - i0), [&]<int R>() {
              backward_tile<R, DV>(b, i0, q + q_at, qs.position, dq ? dq + q_at : nullptr, z + z_at, dz + z_at, zs.position, lse0,
                                   p_tile, ds_tile);
            });
          }
      }
    });
  });
}

}  // namespace detail::tiled
#pragma GCC diagnostic pop
#endif

}  // namespace ranklens::cpu
