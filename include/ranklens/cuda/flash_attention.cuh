// Causal attention on the tensor cores for bf16 (fp32 accumulation), forward and backward, head
// dimensions 64 and 128: the contract of causal_attention.cuh (which picks these kernels), with
// the scheme of FlashAttention-2 (Dao 2023, Algorithms 1 and 2) on mma.sync (warp_matrix.cuh).
//
// Forward: a block of 4 warps owns 64 queries of one head, each warp 16 of them, and walks the
// keys in tiles of 64 up to the block's last visible key. Per tile, S = Q·Kᵀ (16 × 64 per warp, in
// registers), the online softmax in base 2 (running max and sum per query row), then O += P·V
// with P's accumulators rounded to bf16 and reused as the A operand in place. K and V tiles are
// double-buffered in shared memory with cp.async, so the next tile loads while this one is used.
// Rows are padded by 16 bytes, which puts the 8 rows an ldmatrix reads in 8 different bank groups.
//
// Backward, recomputing P per tile from the saved log-sum-exp (Δ_i = Σ_d dz·z, computed first):
//   dq:     a block owns 64 queries (as the forward) and walks the key tiles:
//           dP = dZ·Vᵀ, dS = P ∘ (dP − Δ), dQ += scale · dS·K.
//   dk, dv: a block owns 64 keys of one key/value head and walks the query tiles of every query
//           head of its group: Sᵀ = K·Qᵀ, dPᵀ = V·dZᵀ, dV += Pᵀ·dZ, dK += scale · dSᵀ·Q.
// FlashAttention-2 computes dq in the second kernel with atomic adds; two kernels cost P and dP
// twice but never add into one element from two blocks, so the results repeat bit for bit.
//
// Inputs must be 16-byte aligned with strides that are multiples of 8 elements (cp.async moves 16
// bytes); causal_attention.cuh checks that and otherwise uses the CUDA-core kernels.
#pragma once
#include <cstdint>
#include <string>

#include "ranklens/cpu/attention_extents.hpp"
#include "ranklens/cuda/launch.cuh"
#include "ranklens/cuda/numeric.cuh"
#include "ranklens/cuda/warp_matrix.cuh"

namespace ranklens::cuda::flash {

using cpu::attention_extents;
using cpu::attention_strides;
using namespace warp_matrix;

inline constexpr int warps = 4;
inline constexpr int threads = 32 * warps;
inline constexpr int warp_rows = 16;  // the M of one mma: the rows (queries, or keys in dk/dv) a warp owns
inline constexpr float log2e = 1.4426950408889634f;

// bf16 elements per shared-memory row: 16 bytes of padding (see the top of this file).
template <int D>
inline constexpr int row_stride = D + 8;

// The tiles of each kernel. D = 128 halves the inner tiles of the backward to keep its
// accumulators (dq, or dk and dv: 64 floats each per thread) in registers.
template <int D>
struct tiles {
  static_assert(D == 64 || D == 128, "The tensor-core attention has kernels for head dimensions 64 and 128.");
  static constexpr int forward_queries = warps * warp_rows, forward_keys = 64;
  static constexpr int dq_queries = warps * warp_rows, dq_keys = D == 128 ? 32 : 64;
  static constexpr int dkdv_keys = warps * warp_rows, dkdv_queries = D == 128 ? 32 : 64;
  static constexpr std::size_t row_bytes = row_stride<D> * sizeof(bfloat16);
  // Q, then K and V twice.
  static constexpr std::size_t forward_shared = (forward_queries + 4 * forward_keys) * row_bytes;
  // Q and dZ, then K and V twice.
  static constexpr std::size_t dq_shared = (2 * dq_queries + 4 * dq_keys) * row_bytes;
  // K and V, then Q and dZ twice, then lse and Δ twice.
  static constexpr std::size_t dkdv_shared = (2 * dkdv_keys + 4 * dkdv_queries) * row_bytes + 4 * dkdv_queries * sizeof(float);
};

// Rows [first, first + Rows) of a (position, D) slice into a shared tile, zeros from row `count`
// on: 16-byte copies spread over the block's threads, not waited for.
template <int Rows, int D>
__device__ __forceinline__ void load_tile_async(bfloat16* tile, const bfloat16* source, index_t position_stride, index_t first,
                                                index_t count) {
  constexpr int chunks_per_row = D / 8;
  static_assert(Rows * chunks_per_row % threads == 0, "A tile is a whole number of 16-byte copies per thread.");
#pragma unroll
  for (int i = 0; i < Rows * chunks_per_row / threads; ++i) {
    const int chunk = int(threadIdx.x) + i * threads;
    const int r = chunk / chunks_per_row, part = chunk % chunks_per_row;
    const index_t at = first + r;
    const bool inside = at < count;
    cp_async_16(tile + r * row_stride<D> + part * 8, source + (inside ? at * position_stride : 0) + part * 8, inside);
  }
}

// The A fragment of rows [row0, row0 + 16) and columns [col0, col0 + 16) of a row-major tile.
template <int D>
__device__ __forceinline__ void load_a(std::uint32_t (&a)[4], const bfloat16* tile, int row0, int col0) {
  const int lane = int(threadIdx.x) % 32;
  ldmatrix_x4(a, tile + (row0 + lane % 8 + 8 * ((lane / 8) % 2)) * row_stride<D> + col0 + 8 * (lane / 16));
}

// B fragments of two neighbouring 16×8 operands when B[k][n] = tile[n0 + n][k0 + k] (the tile's
// rows are B's columns: K in Q·Kᵀ): (b[0], b[1]) for columns n0 to n0 + 7, (b[2], b[3]) for the
// next 8.
template <int D>
__device__ __forceinline__ void load_b_from_rows(std::uint32_t (&b)[4], const bfloat16* tile, int n0, int k0) {
  const int lane = int(threadIdx.x) % 32;
  ldmatrix_x4(b, tile + (n0 + lane % 8 + 8 * (lane / 16)) * row_stride<D> + k0 + 8 * ((lane / 8) % 2));
}

// The same when B[k][n] = tile[k0 + k][n0 + n] (the tile's rows run along k: V in P·V).
template <int D>
__device__ __forceinline__ void load_b_from_columns(std::uint32_t (&b)[4], const bfloat16* tile, int k0, int n0) {
  const int lane = int(threadIdx.x) % 32;
  ldmatrix_x4_trans(b, tile + (k0 + lane % 8 + 8 * ((lane / 8) % 2)) * row_stride<D> + n0 + 8 * (lane / 16));
}

// acc[n] += A·B over k in [0, K) for the 16 rows of `a_tile` from row0, B taken from the rows of
// `b_tile` (B[k][n] = b_tile[n][k]): a warp's 16 × 8N block of X·Yᵀ.
template <int N, int K, int D>
__device__ __forceinline__ void multiply_by_rows(float (&acc)[N][4], const bfloat16* a_tile, int row0, const bfloat16* b_tile) {
#pragma unroll
  for (int kk = 0; kk < K / 16; ++kk) {
    std::uint32_t a[4];
    load_a<D>(a, a_tile, row0, kk * 16);
#pragma unroll
    for (int nn = 0; nn < N / 2; ++nn) {
      std::uint32_t b[4];
      load_b_from_rows<D>(b, b_tile, nn * 16, kk * 16);
      mma_bf16_16816(acc[2 * nn], a, b[0], b[1]);
      mma_bf16_16816(acc[2 * nn + 1], a, b[2], b[3]);
    }
  }
}

// acc[n] += P·B, P a warp's 16 × 8KN accumulators (rounded to bf16 here: FlashAttention-2's
// register reuse) and B[k][n] = b_tile[k][n] for the D columns.
template <int KN, int DN, int D>
__device__ __forceinline__ void multiply_accumulators(float (&acc)[DN][4], const float (&p)[KN][4], const bfloat16* b_tile) {
#pragma unroll
  for (int kk = 0; kk < KN / 2; ++kk) {
    const std::uint32_t a[4] = {pack_bf16x2(p[2 * kk][0], p[2 * kk][1]), pack_bf16x2(p[2 * kk][2], p[2 * kk][3]),
                                pack_bf16x2(p[2 * kk + 1][0], p[2 * kk + 1][1]), pack_bf16x2(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int dn = 0; dn < DN / 2; ++dn) {
      std::uint32_t b[4];
      load_b_from_columns<D>(b, b_tile, kk * 16, dn * 16);
      mma_bf16_16816(acc[2 * dn], a, b[0], b[1]);
      mma_bf16_16816(acc[2 * dn + 1], a, b[2], b[3]);
    }
  }
}

// row (+)= scale · acc for the two rows a lane holds of a 16 × D accumulator block (c0, c1 on row
// g, c2, c3 on row g + 8), given by their first elements (nullptr: not stored).
template <bool Add, int DN>
__device__ __forceinline__ void store_rows(const float (&acc)[DN][4], bfloat16* row_g, bfloat16* row_g8, float scale) {
  const int t = int(threadIdx.x) % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    bfloat16* row = half == 0 ? row_g : row_g8;
    if (row == nullptr) continue;
#pragma unroll
    for (int dn = 0; dn < DN; ++dn) {
      bfloat16* at = row + dn * 8 + 2 * t;
      float x0 = scale * acc[dn][2 * half], x1 = scale * acc[dn][2 * half + 1];
      if (Add) x0 += to_float(at[0]), x1 += to_float(at[1]);
      *reinterpret_cast<std::uint32_t*>(at) = pack_bf16x2(x0, x1);
    }
  }
}

template <int D>
__global__ void __launch_bounds__(threads) forward_kernel(attention_extents e, const bfloat16* q, attention_strides qs, const bfloat16* k,
                                                          attention_strides ks, const bfloat16* v, attention_strides vs, bfloat16* z,
                                                          float* lse, float scale) {
  using L = tiles<D>;
  constexpr int S = row_stride<D>, QR = L::forward_queries, KR = L::forward_keys, KN = KR / 8, DN = D / 8;
  RANKLENS_CUDA_DYNAMIC_SHARED(bfloat16, shared);
  bfloat16* const q_tile = shared;
  auto key_buffer = [&](int b) { return shared + (QR + 2 * b * KR) * S; };
  auto value_buffer = [&](int b) { return shared + (QR + (2 * b + 1) * KR) * S; };

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  const index_t batch = blockIdx.z, head = blockIdx.y, kv_head = head / (e.query_heads / e.kv_heads);
  const index_t first_query = index_t(gridDim.x - 1 - blockIdx.x) * QR;  // the longest blocks first
  const index_t offset = e.keys - e.queries;  // keys cached before the first query
  const index_t last_query = (first_query + QR < e.queries ? first_query + QR : e.queries) - 1;
  const int key_tiles = int((last_query + offset + KR) / KR);  // up to the block's last visible key
  const bfloat16* k_head = k + batch * ks.batch + kv_head * ks.head;
  const bfloat16* v_head = v + batch * vs.batch + kv_head * vs.head;

  load_tile_async<QR, D>(q_tile, q + batch * qs.batch + head * qs.head, qs.position, first_query, e.queries);
  load_tile_async<KR, D>(key_buffer(0), k_head, ks.position, 0, e.keys);
  load_tile_async<KR, D>(value_buffer(0), v_head, vs.position, 0, e.keys);
  cp_async_commit();

  const index_t warp_first = first_query + warp * warp_rows;
  const index_t rows[2] = {warp_first + g, warp_first + g + 8};
  const float scale_log2 = scale * log2e;
  float out[DN][4] = {};
  float row_max[2] = {-infinity, -infinity}, row_sum[2] = {0.0f, 0.0f};  // row_sum: this lane's part
  std::uint32_t q_fragments[D / 16][4];

  for (int tile = 0; tile < key_tiles; ++tile) {
    if (tile + 1 < key_tiles) {
      const int next = (tile + 1) % 2;
      load_tile_async<KR, D>(key_buffer(next), k_head, ks.position, index_t(tile + 1) * KR, e.keys);
      load_tile_async<KR, D>(value_buffer(next), v_head, vs.position, index_t(tile + 1) * KR, e.keys);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (tile == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) load_a<D>(q_fragments[kk], q_tile, warp * warp_rows, kk * 16);
    }
    const bfloat16* keys = key_buffer(tile % 2);
    float s[KN][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int nn = 0; nn < KN / 2; ++nn) {
        std::uint32_t b[4];
        load_b_from_rows<D>(b, keys, nn * 16, kk * 16);
        mma_bf16_16816(s[2 * nn], q_fragments[kk], b[0], b[1]);
        mma_bf16_16816(s[2 * nn + 1], q_fragments[kk], b[2], b[3]);
      }

    // Scores in base-2 units; keys past a row's last visible one (i + Tk − Tq) count as −∞. Only
    // tiles that reach past the warp's first row need the comparison.
    const index_t first_key = index_t(tile) * KR;
    const bool masked = first_key + KR - 1 > warp_first + offset;
#pragma unroll
    for (int nt = 0; nt < KN; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        float x = s[nt][c] * scale_log2;
        if (masked && first_key + nt * 8 + 2 * t + c % 2 > rows[c / 2] + offset) x = -infinity;
        s[nt][c] = x;
      }
    // Online softmax: each row lives on the 4 lanes of a quad.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = -infinity;
#pragma unroll
      for (int nt = 0; nt < KN; ++nt) tile_max = fmaxf(tile_max, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(full_warp, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(full_warp, tile_max, 2));
      const float new_max = fmaxf(row_max[r], tile_max);
      const float base = new_max == -infinity ? 0.0f : new_max;  // a row that has seen no key yet stays at zero
      const float rescale = exp2f(row_max[r] - base);
      row_max[r] = new_max;
      row_sum[r] *= rescale;
#pragma unroll
      for (int dn = 0; dn < DN; ++dn) out[dn][2 * r] *= rescale, out[dn][2 * r + 1] *= rescale;
#pragma unroll
      for (int nt = 0; nt < KN; ++nt) {
        s[nt][2 * r] = exp2f(s[nt][2 * r] - base);
        s[nt][2 * r + 1] = exp2f(s[nt][2 * r + 1] - base);
        row_sum[r] += s[nt][2 * r] + s[nt][2 * r + 1];
      }
    }
    multiply_accumulators<KN, DN, D>(out, s, value_buffer(tile % 2));
    __syncthreads();  // this buffer is refilled by the next step's prefetch
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(full_warp, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(full_warp, row_sum[r], 2);
  }
  bfloat16* z_rows[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const bool valid = rows[r] < e.queries;
    z_rows[r] = valid ? z + ((batch * e.queries + rows[r]) * e.query_heads + head) * D : nullptr;
    if (valid && t == 0) lse[(batch * e.query_heads + head) * e.queries + rows[r]] = (row_max[r] + log2f(row_sum[r])) / log2e;
    const float inverse = 1.0f / row_sum[r];
#pragma unroll
    for (int dn = 0; dn < DN; ++dn) out[dn][2 * r] *= inverse, out[dn][2 * r + 1] *= inverse;
  }
  store_rows<false, DN>(out, z_rows[0], z_rows[1], 1.0f);
}

// dq (+)= scale · Σ_j ds_ij k_j over the key tiles a block of 64 queries sees.
template <int D>
__global__ void __launch_bounds__(threads)
    dq_kernel(attention_extents e, const bfloat16* q, attention_strides qs, const bfloat16* k, attention_strides ks, const bfloat16* v,
              attention_strides vs, const float* lse, const float* delta, const bfloat16* dz, bfloat16* dq, float scale) {
  using L = tiles<D>;
  constexpr int S = row_stride<D>, QR = L::dq_queries, KR = L::dq_keys, KN = KR / 8, DN = D / 8;
  RANKLENS_CUDA_DYNAMIC_SHARED(bfloat16, shared);
  bfloat16* const q_tile = shared;
  bfloat16* const dz_tile = shared + QR * S;
  auto key_buffer = [&](int b) { return shared + (2 * QR + 2 * b * KR) * S; };
  auto value_buffer = [&](int b) { return shared + (2 * QR + (2 * b + 1) * KR) * S; };

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  const index_t batch = blockIdx.z, head = blockIdx.y, kv_head = head / (e.query_heads / e.kv_heads);
  const index_t first_query = index_t(gridDim.x - 1 - blockIdx.x) * QR;
  const index_t offset = e.keys - e.queries;  // keys cached before the first query
  const index_t last_query = (first_query + QR < e.queries ? first_query + QR : e.queries) - 1;
  const int key_tiles = int((last_query + offset + KR) / KR);
  const bfloat16* k_head = k + batch * ks.batch + kv_head * ks.head;
  const bfloat16* v_head = v + batch * vs.batch + kv_head * vs.head;
  const index_t dz_position = e.query_heads * D;

  load_tile_async<QR, D>(q_tile, q + batch * qs.batch + head * qs.head, qs.position, first_query, e.queries);
  load_tile_async<QR, D>(dz_tile, dz + (batch * e.queries * e.query_heads + head) * D, dz_position, first_query, e.queries);
  load_tile_async<KR, D>(key_buffer(0), k_head, ks.position, 0, e.keys);
  load_tile_async<KR, D>(value_buffer(0), v_head, vs.position, 0, e.keys);
  cp_async_commit();

  const index_t warp_first = first_query + warp * warp_rows;
  const index_t rows[2] = {warp_first + g, warp_first + g + 8};
  float row_lse[2], row_delta[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const bool valid = rows[r] < e.queries;
    row_lse[r] = valid ? lse[(batch * e.query_heads + head) * e.queries + rows[r]] * log2e : 0.0f;
    row_delta[r] = valid ? delta[(batch * e.queries + rows[r]) * e.query_heads + head] : 0.0f;
  }
  const float scale_log2 = scale * log2e;
  float grad[DN][4] = {};
  std::uint32_t q_fragments[D / 16][4], dz_fragments[D / 16][4];

  for (int tile = 0; tile < key_tiles; ++tile) {
    if (tile + 1 < key_tiles) {
      const int next = (tile + 1) % 2;
      load_tile_async<KR, D>(key_buffer(next), k_head, ks.position, index_t(tile + 1) * KR, e.keys);
      load_tile_async<KR, D>(value_buffer(next), v_head, vs.position, index_t(tile + 1) * KR, e.keys);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (tile == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        load_a<D>(q_fragments[kk], q_tile, warp * warp_rows, kk * 16);
        load_a<D>(dz_fragments[kk], dz_tile, warp * warp_rows, kk * 16);
      }
    }
    const bfloat16* keys = key_buffer(tile % 2);
    const bfloat16* values = value_buffer(tile % 2);
    float s[KN][4] = {}, dp[KN][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int nn = 0; nn < KN / 2; ++nn) {
        std::uint32_t b[4];
        load_b_from_rows<D>(b, keys, nn * 16, kk * 16);
        mma_bf16_16816(s[2 * nn], q_fragments[kk], b[0], b[1]);
        mma_bf16_16816(s[2 * nn + 1], q_fragments[kk], b[2], b[3]);
        load_b_from_rows<D>(b, values, nn * 16, kk * 16);
        mma_bf16_16816(dp[2 * nn], dz_fragments[kk], b[0], b[1]);
        mma_bf16_16816(dp[2 * nn + 1], dz_fragments[kk], b[2], b[3]);
      }
    // ds = p (dp − Δ), p = exp(scale·s − lse), 0 where the key is not visible; kept in s.
    const index_t first_key = index_t(tile) * KR;
    const bool masked = first_key + KR - 1 > warp_first + offset;
#pragma unroll
    for (int nt = 0; nt < KN; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int r = c / 2;
        const bool visible = !masked || first_key + nt * 8 + 2 * t + c % 2 <= rows[r] + offset;
        const float p = visible ? exp2f(s[nt][c] * scale_log2 - row_lse[r]) : 0.0f;
        s[nt][c] = p * (dp[nt][c] - row_delta[r]);
      }
    multiply_accumulators<KN, DN, D>(grad, s, keys);
    __syncthreads();
  }

  bfloat16* dq_rows[2];
#pragma unroll
  for (int r = 0; r < 2; ++r)
    dq_rows[r] = rows[r] < e.queries ? dq + batch * qs.batch + rows[r] * qs.position + head * qs.head : nullptr;
  store_rows<true, DN>(grad, dq_rows[0], dq_rows[1], scale);
}

// dv_j (+)= Σ_i p_ij dz_i and dk_j (+)= scale · Σ_i ds_ij q_i over the queries of every query head
// of the group, for a block of 64 keys.
template <int D>
__global__ void __launch_bounds__(threads)
    dkdv_kernel(attention_extents e, const bfloat16* q, attention_strides qs, const bfloat16* k, attention_strides ks, const bfloat16* v,
                attention_strides vs, const float* lse, const float* delta, const bfloat16* dz, bfloat16* dk, bfloat16* dv, float scale) {
  using L = tiles<D>;
  constexpr int S = row_stride<D>, KR = L::dkdv_keys, QR = L::dkdv_queries, QN = QR / 8, DN = D / 8;
  RANKLENS_CUDA_DYNAMIC_SHARED(bfloat16, shared);
  bfloat16* const key_tile = shared;
  bfloat16* const value_tile = shared + KR * S;
  auto query_buffer = [&](int b) { return shared + (2 * KR + 2 * b * QR) * S; };
  auto dz_buffer = [&](int b) { return shared + (2 * KR + (2 * b + 1) * QR) * S; };
  float* const statistics = reinterpret_cast<float*>(shared + (2 * KR + 4 * QR) * S);
  auto lse_buffer = [&](int b) { return statistics + 2 * b * QR; };
  auto delta_buffer = [&](int b) { return statistics + (2 * b + 1) * QR; };

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  const index_t batch = blockIdx.z, kv_head = blockIdx.y;
  const index_t first_key = index_t(blockIdx.x) * KR;  // the first blocks see the most queries: they start first
  const index_t offset = e.keys - e.queries;  // keys cached before the first query
  const index_t group = e.query_heads / e.kv_heads;
  // The query tiles that see any of this block's keys: from the tile of query first_key − offset on.
  const index_t first_tile_query = (first_key - offset > 0 ? first_key - offset : 0) / QR * QR;
  const int query_tiles = int((e.queries - first_tile_query + QR - 1) / QR);
  const int steps = int(group) * query_tiles;
  const index_t dz_position = e.query_heads * D;

  // Step i: query tile i % query_tiles of the group's head i / query_tiles.
  auto load_step = [&](int step, int buffer) {
    const index_t head = kv_head * group + step / query_tiles;
    const index_t tile_query = first_tile_query + index_t(step % query_tiles) * QR;
    load_tile_async<QR, D>(query_buffer(buffer), q + batch * qs.batch + head * qs.head, qs.position, tile_query, e.queries);
    load_tile_async<QR, D>(dz_buffer(buffer), dz + (batch * e.queries * e.query_heads + head) * D, dz_position, tile_query, e.queries);
    for (int i = int(threadIdx.x); i < QR; i += threads) {
      const index_t at = tile_query + i;
      const bool inside = at < e.queries;
      cp_async_4(lse_buffer(buffer) + i, lse + (batch * e.query_heads + head) * e.queries + (inside ? at : 0), inside);
      cp_async_4(delta_buffer(buffer) + i, delta + (batch * e.queries + (inside ? at : 0)) * e.query_heads + head, inside);
    }
  };
  load_tile_async<KR, D>(key_tile, k + batch * ks.batch + kv_head * ks.head, ks.position, first_key, e.keys);
  load_tile_async<KR, D>(value_tile, v + batch * vs.batch + kv_head * vs.head, vs.position, first_key, e.keys);
  load_step(0, 0);
  cp_async_commit();

  const index_t warp_first = first_key + warp * warp_rows;
  const index_t keys[2] = {warp_first + g, warp_first + g + 8};
  const float scale_log2 = scale * log2e;
  float dk_acc[DN][4] = {}, dv_acc[DN][4] = {};

  for (int step = 0; step < steps; ++step) {
    if (step + 1 < steps) {
      load_step(step + 1, (step + 1) % 2);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int buffer = step % 2;
    const bfloat16* queries = query_buffer(buffer);
    const bfloat16* output_grads = dz_buffer(buffer);
    const float* tile_lse = lse_buffer(buffer);
    const float* tile_delta = delta_buffer(buffer);
    const index_t tile_query = first_tile_query + index_t(step % query_tiles) * QR;

    float st[QN][4] = {}, dpt[QN][4] = {};  // Sᵀ and dPᵀ: this warp's 16 keys × the tile's queries
    multiply_by_rows<QN, D, D>(st, key_tile, warp * warp_rows, queries);
    multiply_by_rows<QN, D, D>(dpt, value_tile, warp * warp_rows, output_grads);
    // Pᵀ into st, dSᵀ into dpt; a pair (key j, query i) counts when j ≤ i + offset and i < Tq.
    const bool masked = warp_first + warp_rows - 1 > tile_query + offset || tile_query + QR > e.queries;
#pragma unroll
    for (int nt = 0; nt < QN; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int column = nt * 8 + 2 * t + c % 2;
        const index_t query = tile_query + column;
        const bool visible = !masked || (query < e.queries && keys[c / 2] <= query + offset);
        const float p = visible ? exp2f(st[nt][c] * scale_log2 - tile_lse[column] * log2e) : 0.0f;
        st[nt][c] = p;
        dpt[nt][c] = p * (dpt[nt][c] - tile_delta[column]);
      }
    multiply_accumulators<QN, DN, D>(dv_acc, st, output_grads);
    multiply_accumulators<QN, DN, D>(dk_acc, dpt, queries);
    __syncthreads();
  }

  bfloat16* dk_rows[2];
  bfloat16* dv_rows[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const bool valid = keys[r] < e.keys;
    dk_rows[r] = valid && dk ? dk + batch * ks.batch + keys[r] * ks.position + kv_head * ks.head : nullptr;
    dv_rows[r] = valid && dv ? dv + batch * vs.batch + keys[r] * vs.position + kv_head * vs.head : nullptr;
  }
  store_rows<true, DN>(dk_acc, dk_rows[0], dk_rows[1], scale);
  store_rows<true, DN>(dv_acc, dv_rows[0], dv_rows[1], 1.0f);
}

}  // namespace ranklens::cuda::flash
