// Causal scaled dot-product attention without the (query, key) matrices in memory, forward and
// backward (the recomputation scheme of FlashAttention-2, Dao 2023, blocked for BLAS):
//
//   S = scale · Q·Kᵀ,  P = softmax(S over the keys query i may see),  Z = P·V,
//
// where query i sees keys j <= i + (Tk − Tq): the queries are the last Tq of Tk positions
// (Tq == Tk in training, Tq < Tk after a KV cache). Grouped-query attention: query head h reads
// key/value head h / (Hq / Hkv).
//
// q: (B, Tq, Hq, D); k, v: (B, Tk, Hkv, D), each with its own (batch, position, head) strides and
// contiguous head_dim, so slices of a fused qkv projection or a KV cache are read in place (a
// head's rows are a BLAS matrix with leading dimension = the position stride). z: (B, Tq, Hq, D)
// contiguous. lse: (B, Hq, Tq), the log-sum-exp of each row of S, is all the backward needs to
// recompute P; nothing T×T outlives a block.
//
// A block is up to `attention_query_block` query rows of one head against only the keys its last
// row sees, so the masked upper triangle is skipped but for the diagonal blocks. The blocks'
// scores live in per-thread scratch. The backward splits the work by (batch, kv head), so no two
// threads add into the same rows of dK and dV. Float heads of 16 to 64 dimensions (a multiple of
// 16) go instead to the register-tiled kernel of causal_attention_tiled.hpp, same contract.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <type_traits>

#include "ranklens/cpu/attention_extents.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/causal_attention_tiled.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/thread_pool.hpp"
#include "ranklens/cpu/transpose.hpp"

namespace ranklens::cpu {

// Query rows per block. Smaller blocks skip more of the masked triangle, larger ones make bigger
// BLAS products; at T = 256 (head_dim 16 and 64, 2 threads, a loaded machine) 32, 64 and 128 rows
// timed within noise of each other and 256 about 1.4× slower. 64 rows of scores (64 × Tk floats)
// stay in L2 up to Tk of a few thousand.
inline constexpr index_t attention_query_block = 64;

namespace detail {

// Scratch for a task: `block_matrices` (rows, keys) matrices for the largest block of the call
// (the last one sees every key) and `transposed` (head_dim, keys) copies of K or V, the same
// size whatever the task, so a warm training step allocates nothing.
template <class T>
std::span<T> attention_scratch(const attention_extents& e, index_t block_matrices, index_t transposed) {
  const index_t rows = std::min(attention_query_block, e.queries);
  // + rows: one value per row of a block besides (the forward's 1 / Σ).
  return thread_scratch<T>(scratch_slot::block, std::size_t((block_matrices * rows + transposed * e.head_dim) * e.keys + rows));
}

// The rows [first, first + rows) of one (batch, query head) and the keys they see.
struct attention_block {
  index_t batch, head, first, rows;
  index_t visible_keys(const attention_extents& e, index_t row) const noexcept {
    return first + row + 1 + e.key_offset();
  }
  index_t keys(const attention_extents& e) const noexcept { return visible_keys(e, rows - 1); }
};

// p[0..visible) = exp(s − max), p[visible..n) = 0, left unnormalised (the caller divides the
// row of P·V by Σ instead: head_dim values, not n); returns log Σ exp(s[0..visible)) and 1 / Σ.
template <Real T>
struct softmax_row_totals {
  T log_sum_exp, inverse_sum;
};
template <Real T>
RANKLENS_ALWAYS_INLINE softmax_row_totals<T> unnormalised_softmax_row(T* s, index_t visible, index_t n) {
  simd<T> best(-std::numeric_limits<T>::infinity());
  simd_for<T>(visible, [&](index_t j, auto step) {
    const simd<T> x = load(s + j, step);
    if constexpr (std::is_same_v<decltype(step), partial_step>) {
      best = xsimd::max(best, xsimd::select(keep_valid<T>(simd<T>(T(1)), step) != simd<T>(T(0)), x, best));
    } else {
      best = xsimd::max(best, x);
    }
  });
  const T top = reduce_max<T>(best);
  const simd<T> top_v(top);
  const double total = simd_sum<T>(visible, [&](index_t j, auto step) {
    const simd<T> e = xsimd::exp(load(s + j, step) - top_v);
    store(s + j, e, step);
    return e;
  });
  std::fill(s + visible, s + n, T(0));
  return {top + T(std::log(total)), T(1.0 / total)};
}

// s[0..visible) = exp(s − lse), s[visible..n) = 0: the probabilities the forward computed.
template <Real T>
RANKLENS_ALWAYS_INLINE void probabilities_from_lse(T* s, T lse, index_t visible, index_t n) {
  const simd<T> lse_v(lse);
  simd_for<T>(visible, [&](index_t j, auto step) { store(s + j, xsimd::exp(load(s + j, step) - lse_v), step); });
  std::fill(s + visible, s + n, T(0));
}

// ds = p ⊙ (dp − Σ_d dz ⊙ z) in place of dp (the softmax backward with dp = dZ·Vᵀ).
template <Real T>
RANKLENS_ALWAYS_INLINE void softmax_grad_row(const T* p, T* dp, const T* z, const T* dz, index_t head_dim, index_t visible) {
  const simd<T> row_dot(T(simd_sum<T>(head_dim, [&](index_t d, auto step) { return load(z + d, step) * load(dz + d, step); })));
  simd_for<T>(visible, [&](index_t j, auto step) { store(dp + j, load(p + j, step) * (load(dp + j, step) - row_dot), step); });
}

// Runs block(attention_block) for every query block of one (batch, query head).
template <class Block>
void for_each_query_block(const attention_extents& e, index_t batch, index_t query_head, Block&& block) {
  for (index_t first = 0; first < e.queries; first += attention_query_block)
    block(attention_block{batch, query_head, first, std::min(attention_query_block, e.queries - first)});
}

}  // namespace detail

// z = softmax(scale · q·kᵀ, causal) · v, and lse = the log-sum-exp of each score row.
// q, k, v: see the top of this file; z: (B, Tq, Hq, D) contiguous; lse: (B, Hq, Tq).
template <Real T>
void causal_attention_forward(const attention_extents& e, const T* q, attention_strides qs, const T* k, attention_strides ks,
                              const T* v, attention_strides vs, T* z, T* lse, std::type_identity_t<T> scale) {
  detail::check_attention_extents("causal_attention_forward", e);
  if (e.batch == 0 || e.queries == 0 || e.query_heads == 0) return;
#if RANKLENS_TILED_ATTENTION
  if constexpr (std::is_same_v<T, float>) {
    if (tiled_attention_suits(e)) return detail::tiled::forward(e, q, qs, k, ks, v, vs, z, lse, scale);
  }
#endif
  const attention_strides zs{e.queries * e.query_heads * e.head_dim, e.query_heads * e.head_dim, e.head_dim};
  const index_t d = e.head_dim, all_keys = e.keys;
  auto run = [&](const detail::attention_block& blk, const T* keys_t, T* scores) {
    const index_t n = blk.keys(e), m = blk.rows, kv = blk.head / e.group();
    const T* q0 = q + blk.batch * qs.batch + blk.first * qs.position + blk.head * qs.head;
    const T* v0 = v + blk.batch * vs.batch + kv * vs.head;
    T* z0 = z + blk.batch * zs.batch + blk.first * zs.position + blk.head * zs.head;
    T* lse0 = lse + (blk.batch * e.query_heads + blk.head) * e.queries + blk.first;
    gemm<T>(transpose::no, transpose::no, m, n, d, scale, q0, qs.position, keys_t, all_keys, T(0), scores, n);
    T* inverse_sums = scores + m * n;  // (m)
    for (index_t r = 0; r < m; ++r) {
      const auto totals = detail::unnormalised_softmax_row(scores + r * n, blk.visible_keys(e, r), n);
      lse0[r] = totals.log_sum_exp;
      inverse_sums[r] = totals.inverse_sum;
    }
    gemm<T>(transpose::no, transpose::no, m, d, n, T(1), scores, n, v0, vs.position, T(0), z0, zs.position);
    for (index_t r = 0; r < m; ++r) {
      const simd<T> inverse(inverse_sums[r]);
      simd_for<T>(d, [&](index_t c, auto step) { store(z0 + r * zs.position + c, load(z0 + r * zs.position + c, step) * inverse, step); });
    }
  };
  detail::openblas_threads_scope single_threaded(1);
  // Tasks are (batch, query head): Kᵀ is copied once for the head's query blocks, which read the
  // first keys of it with leading dimension = all the keys. Copied rather than passed as a
  // transposed BLAS operand: at head_dim 16 to 64 OpenBLAS runs Q·Kᵀ through its packing path
  // (copies and a memset cost more than the arithmetic) but Q·(Kᵀ) through its small-matrix kernel.
  parallel_for(e.batch * e.query_heads, 1, [&](index_t begin, index_t end) {
    const auto scratch = detail::attention_scratch<T>(e, 1, 1);
    T* keys_t = scratch.data();                  // (head_dim, all keys)
    T* scores = scratch.data() + d * all_keys;  // (rows, keys) of a block, then 1/Σ per row
    for (index_t task = begin; task < end; ++task) {
      const index_t batch = task / e.query_heads, head = task % e.query_heads, kv = head / e.group();
      detail::transpose_into(k + batch * ks.batch + kv * ks.head, ks.position, all_keys, d, keys_t);
      detail::for_each_query_block(e, batch, head, [&](const detail::attention_block& blk) { run(blk, keys_t, scores); });
    }
  });
}

// dq += ∂/∂q, dk += ∂/∂k, dv += ∂/∂v of ⟨dz, z⟩, recomputing the probabilities from lse.
// z, dz: (B, Tq, Hq, D) contiguous; dq, dk, dv have the strides of q, k, v and may each be nullptr.
template <Real T>
void causal_attention_backward(const attention_extents& e, const T* q, attention_strides qs, const T* k, attention_strides ks,
                               const T* v, attention_strides vs, const T* z, const T* lse, const T* dz, optional_out<T> dq,
                               optional_out<T> dk, optional_out<T> dv, std::type_identity_t<T> scale) {
  detail::check_attention_extents("causal_attention_backward", e);
  if (e.batch == 0 || e.queries == 0 || e.query_heads == 0 || (!dq && !dk && !dv)) return;
#if RANKLENS_TILED_ATTENTION
  if constexpr (std::is_same_v<T, float>) {
    if (tiled_attention_suits(e)) return detail::tiled::backward(e, q, qs, k, ks, v, vs, z, lse, dz, dq, dk, dv, scale);
  }
#endif
  const attention_strides zs{e.queries * e.query_heads * e.head_dim, e.query_heads * e.head_dim, e.head_dim};
  const index_t d = e.head_dim;
  const index_t all_keys = e.keys;
  auto run = [&](const detail::attention_block& blk, const T* keys_t, const T* values_t, T* p, T* dp) {
    const index_t n = blk.keys(e), m = blk.rows, kv = blk.head / e.group();
    const index_t q_at = blk.batch * qs.batch + blk.first * qs.position + blk.head * qs.head;
    const index_t k_at = blk.batch * ks.batch + kv * ks.head, v_at = blk.batch * vs.batch + kv * vs.head;
    const index_t z_at = blk.batch * zs.batch + blk.first * zs.position + blk.head * zs.head;
    const T* lse0 = lse + (blk.batch * e.query_heads + blk.head) * e.queries + blk.first;

    gemm<T>(transpose::no, transpose::no, m, n, d, scale, q + q_at, qs.position, keys_t, all_keys, T(0), p, n);
    for (index_t r = 0; r < m; ++r) detail::probabilities_from_lse(p + r * n, lse0[r], blk.visible_keys(e, r), n);
    if (dv) gemm<T>(transpose::yes, transpose::no, n, d, m, T(1), p, n, dz + z_at, zs.position, T(1), dv + v_at, vs.position);
    if (!dq && !dk) return;
    gemm<T>(transpose::no, transpose::no, m, n, d, T(1), dz + z_at, zs.position, values_t, all_keys, T(0), dp, n);
    // Over all n columns: p is zero past a row's visible keys, so ds is too.
    for (index_t r = 0; r < m; ++r)
      detail::softmax_grad_row(p + r * n, dp + r * n, z + z_at + r * zs.position, dz + z_at + r * zs.position, d, n);
    if (dq) gemm<T>(transpose::no, transpose::no, m, d, n, scale, dp, n, k + k_at, ks.position, T(1), dq + q_at, qs.position);
    if (dk) gemm<T>(transpose::yes, transpose::no, n, d, m, scale, dp, n, q + q_at, qs.position, T(1), dk + k_at, ks.position);
  };
  detail::openblas_threads_scope single_threaded(1);
  // A task owns one (batch, kv head): all the query heads of its group add into the same keys,
  // and Kᵀ and Vᵀ are copied once for all of them.
  parallel_for(e.batch * e.kv_heads, 1, [&](index_t begin, index_t end) {
    const auto scratch = detail::attention_scratch<T>(e, 2, 2);
    T* keys_t = scratch.data();                  // (head_dim, all keys)
    T* values_t = keys_t + d * all_keys;         // (head_dim, all keys)
    T* p = values_t + d * all_keys;              // (rows, keys) probabilities of a block
    T* dp = p + std::min(attention_query_block, e.queries) * all_keys;  // ∂/∂P, then ∂/∂S / scale
    for (index_t task = begin; task < end; ++task) {
      const index_t batch = task / e.kv_heads, kv = task % e.kv_heads;
      detail::transpose_into(k + batch * ks.batch + kv * ks.head, ks.position, all_keys, d, keys_t);
      if (dq || dk) detail::transpose_into(v + batch * vs.batch + kv * vs.head, vs.position, all_keys, d, values_t);
      for (index_t head = kv * e.group(); head < (kv + 1) * e.group(); ++head)
        detail::for_each_query_block(e, batch, head, [&](const detail::attention_block& blk) { run(blk, keys_t, values_t, p, dp); });
    }
  });
}

}  // namespace ranklens::cpu
