// Causal scaled dot-product attention without the (query, key) matrices in memory, forward and
// backward, the twin of cpu/causal_attention.hpp (the same contract, attention_extents.hpp):
//
//   S = scale · Q·Kᵀ,  P = softmax(S over the keys query i may see),  Z = P·V,
//
// query i sees keys j ≤ i + (Tk − Tq) (the queries are the last Tq of Tk positions: a KV cache);
// query head h reads key/value head h / (Hq / Hkv) (grouped-query attention). q: (B, Tq, Hq, D),
// k, v: (B, Tk, Hkv, D), each with its own (batch, position, head) strides and contiguous
// head_dim, so slices of a fused qkv projection or of a KV cache are read in place. z:
// (B, Tq, Hq, D) contiguous; lse: (B, Hq, Tq), float, the log-sum-exp of each row of S, all the
// backward needs to recompute P. The backward adds into dq, dk, dv (any may be nullptr), which
// have the strides of q, k, v.
//
// The scheme is FlashAttention-2's (Dao 2023) on CUDA cores: a block owns a tile of queries of one
// head, loops over tiles of keys held in shared memory and keeps a running max and sum per query
// (online softmax); the backward recomputes P from lse, with Δ_i = Σ_d dz·z per query, in two
// kernels that never add into the same element twice: one per query tile for dq, one per key
// tile (over all the query heads of its group) for dk and dv. No atomics, so results repeat bit
// for bit. A query row is split over D/32 threads when D > 32 (each owns every (D/32)-th group of
// four dimensions, so the shared-memory reads are 16-byte and free of bank conflicts). Head
// dimensions 16, 32, 64 and 128 have kernels. T is float or bfloat16 (loaded as float; all
// arithmetic in float). Masked keys of a diagonal tile are computed and dropped, so that every
// thread of a warp runs the same shuffles.
//
// For bfloat16 at head dimensions 64 and 128 the tensor-core kernels of flash_attention.cuh run
// instead (same scheme on mma.sync, fp32 accumulation), unless the operands are not 16-byte aligned
// with strides in multiples of 8 elements, or the device code was built for an architecture before
// sm_80; attention_kernels says which to use.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "ranklens/cpu/attention_extents.hpp"
#include "ranklens/cuda/flash_attention.cuh"
#include "ranklens/cuda/reduce.cuh"

namespace ranklens::cuda {

using cpu::attention_extents;
using cpu::attention_strides;

// Which kernels run causal attention.
enum class attention_kernels {
  automatic,     // the tensor cores where they can take the case, the CUDA cores otherwise
  cuda_cores,    // the kernels of this file, for every type and head dimension they have
  tensor_cores,  // flash_attention.cuh (bf16, head_dim 64 or 128); a case they cannot take throws
};

namespace detail {

template <int D>
struct attention_layout {
  static_assert(D == 16 || D == 32 || D == 64 || D == 128, "CUDA attention has kernels for head dimensions 16, 32, 64 and 128.");
  static constexpr int threads_per_row = D > 32 ? D / 32 : 1;
  static constexpr int chunks = D / threads_per_row / 4;  // float4 groups per thread
  static constexpr int query_tile = D == 128 ? 32 : 64;   // rows per block (forward, dq); queries per step (dk, dv)
  static constexpr int key_tile = D == 128 ? 32 : 64;     // keys per step (forward, dq); keys per block (dk, dv)
  // float4 index (within a row of D / 4) of chunk c of the thread with slice s
  __device__ static int chunk_index(int slice, int c) { return slice + threads_per_row * c; }
};

__device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }
__device__ __forceinline__ void add_scaled(float4& to, float s, float4 x) {
  to.x = fmaf(s, x.x, to.x), to.y = fmaf(s, x.y, to.y), to.z = fmaf(s, x.z, to.z), to.w = fmaf(s, x.w, to.w);
}

// Σ over the threads of one row (consecutive lanes, a power of two).
template <int ThreadsPerRow>
__device__ __forceinline__ float row_sum(float x) {
#pragma unroll
  for (int offset = 1; offset < ThreadsPerRow; offset *= 2) x += __shfl_xor_sync(full_warp, x, offset);
  return x;
}

// rows × D elements from a strided (position, d) source into a float tile (zeros past `count`).
template <class T, int D>
__device__ __forceinline__ void load_tile(float* tile, int rows, const T* source, index_t position_stride, index_t first, index_t count) {
  for (int idx = threadIdx.x; idx < rows * D; idx += blockDim.x) {
    const int r = idx / D, d = idx % D;
    const index_t at = first + r;
    tile[idx] = at < count ? to_float(source[at * position_stride + d]) : 0.0f;
  }
}

template <class T, int D>
__device__ __forceinline__ void load_row(float4 (&row)[attention_layout<D>::chunks], const T* source, int slice) {
#pragma unroll
  for (int c = 0; c < attention_layout<D>::chunks; ++c) {
    const int d = 4 * attention_layout<D>::chunk_index(slice, c);
    row[c] = make_float4(to_float(source[d]), to_float(source[d + 1]), to_float(source[d + 2]), to_float(source[d + 3]));
  }
}

// to[d] = (Add ? to[d] : 0) + scale · row[d] for this thread's dimensions.
template <bool Add, class T, int D>
__device__ __forceinline__ void store_row(T* to, const float4 (&row)[attention_layout<D>::chunks], float scale, int slice) {
#pragma unroll
  for (int c = 0; c < attention_layout<D>::chunks; ++c) {
    const int d = 4 * attention_layout<D>::chunk_index(slice, c);
    const float values[4] = {row[c].x, row[c].y, row[c].z, row[c].w};
#pragma unroll
    for (int e = 0; e < 4; ++e) to[d + e] = from_float<T>(Add ? fmaf(scale, values[e], to_float(to[d + e])) : scale * values[e]);
  }
}

template <class T, int D>
__global__ void __launch_bounds__(attention_layout<D>::query_tile* attention_layout<D>::threads_per_row)
    attention_forward_kernel(attention_extents e, const T* q, attention_strides qs, const T* k, attention_strides ks, const T* v,
                             attention_strides vs, T* z, float* lse, float scale) {
  using L = attention_layout<D>;
  constexpr int tpr = L::threads_per_row, chunks = L::chunks, key_tile = L::key_tile;
  __shared__ float4 keys[key_tile][D / 4];
  __shared__ float4 values[key_tile][D / 4];

  const index_t batch = blockIdx.z, head = blockIdx.y, kv_head = head / (e.query_heads / e.kv_heads);
  const index_t first_query = index_t(gridDim.x - 1 - blockIdx.x) * L::query_tile;  // the longest tiles first
  const int slice = int(threadIdx.x) % tpr;
  const index_t query = first_query + threadIdx.x / tpr;
  const bool valid = query < e.queries;
  const index_t row = valid ? query : e.queries - 1;
  const index_t offset = e.keys - e.queries;  // keys cached before the first query
  const index_t last_visible = row + offset;
  const index_t last_query = (first_query + L::query_tile < e.queries ? first_query + L::query_tile : e.queries) - 1;
  const index_t block_keys = last_query + offset + 1;

  float4 q_row[chunks], out[chunks];
  load_row<T, D>(q_row, q + batch * qs.batch + row * qs.position + head * qs.head, slice);
#pragma unroll
  for (int c = 0; c < chunks; ++c) out[c] = make_float4(0, 0, 0, 0);
  float running_max = -infinity, running_sum = 0;

  const T* k_head = k + batch * ks.batch + kv_head * ks.head;
  const T* v_head = v + batch * vs.batch + kv_head * vs.head;
  for (index_t tile_start = 0; tile_start < block_keys; tile_start += key_tile) {
    __syncthreads();  // the previous tile is no longer read
    load_tile<T, D>(reinterpret_cast<float*>(keys), key_tile, k_head, ks.position, tile_start, block_keys);
    load_tile<T, D>(reinterpret_cast<float*>(values), key_tile, v_head, vs.position, tile_start, block_keys);
    __syncthreads();
    for (int j0 = 0; j0 < key_tile; j0 += 8) {
      float s[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        float acc = 0;
#pragma unroll
        for (int c = 0; c < chunks; ++c) acc += dot4(q_row[c], keys[j0 + u][L::chunk_index(slice, c)]);
        s[u] = acc;
      }
      float chunk_max = -infinity;
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        s[u] = row_sum<tpr>(s[u]);
        s[u] = tile_start + j0 + u <= last_visible ? scale * s[u] : -infinity;
        chunk_max = fmaxf(chunk_max, s[u]);
      }
      const float new_max = fmaxf(running_max, chunk_max);
      if (new_max == -infinity) continue;  // nothing visible yet
      const float rescale = expf(running_max - new_max);
      running_sum *= rescale;
#pragma unroll
      for (int c = 0; c < chunks; ++c) out[c] = make_float4(out[c].x * rescale, out[c].y * rescale, out[c].z * rescale, out[c].w * rescale);
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        const float p = expf(s[u] - new_max);
        running_sum += p;
#pragma unroll
        for (int c = 0; c < chunks; ++c) add_scaled(out[c], p, values[j0 + u][L::chunk_index(slice, c)]);
      }
      running_max = new_max;
    }
  }
  if (!valid) return;
  const index_t z_row = ((batch * e.queries + query) * e.query_heads + head) * D;
  store_row<false, T, D>(z + z_row, out, 1.0f / running_sum, slice);
  if (slice == 0) lse[(batch * e.query_heads + head) * e.queries + query] = running_max + logf(running_sum);
}

// dq (+)= scale · Σ_j ds_ij k_j, ds_ij = p_ij (dp_ij − Δ_i), p_ij = exp(s_ij − lse_i), dp_ij = dz_i·v_j.
template <class T, int D>
__global__ void __launch_bounds__(attention_layout<D>::query_tile* attention_layout<D>::threads_per_row)
    attention_dq_kernel(attention_extents e, const T* q, attention_strides qs, const T* k, attention_strides ks, const T* v,
                        attention_strides vs, const float* lse, const float* delta, const T* dz, T* dq, float scale) {
  using L = attention_layout<D>;
  constexpr int tpr = L::threads_per_row, chunks = L::chunks, key_tile = L::key_tile;
  __shared__ float4 keys[key_tile][D / 4];
  __shared__ float4 values[key_tile][D / 4];

  const index_t batch = blockIdx.z, head = blockIdx.y, kv_head = head / (e.query_heads / e.kv_heads);
  const index_t first_query = index_t(gridDim.x - 1 - blockIdx.x) * L::query_tile;
  const int slice = int(threadIdx.x) % tpr;
  const index_t query = first_query + threadIdx.x / tpr;
  const bool valid = query < e.queries;
  const index_t row = valid ? query : e.queries - 1;
  const index_t offset = e.keys - e.queries;  // keys cached before the first query
  const index_t last_visible = row + offset;
  const index_t last_query = (first_query + L::query_tile < e.queries ? first_query + L::query_tile : e.queries) - 1;
  const index_t block_keys = last_query + offset + 1;

  const index_t z_row = ((batch * e.queries + row) * e.query_heads + head);
  float4 q_row[chunks], dz_row[chunks], grad[chunks];
  load_row<T, D>(q_row, q + batch * qs.batch + row * qs.position + head * qs.head, slice);
  load_row<T, D>(dz_row, dz + z_row * D, slice);
#pragma unroll
  for (int c = 0; c < chunks; ++c) grad[c] = make_float4(0, 0, 0, 0);
  const float row_lse = lse[(batch * e.query_heads + head) * e.queries + row];
  const float row_delta = delta[z_row];

  const T* k_head = k + batch * ks.batch + kv_head * ks.head;
  const T* v_head = v + batch * vs.batch + kv_head * vs.head;
  for (index_t tile_start = 0; tile_start < block_keys; tile_start += key_tile) {
    __syncthreads();
    load_tile<T, D>(reinterpret_cast<float*>(keys), key_tile, k_head, ks.position, tile_start, block_keys);
    load_tile<T, D>(reinterpret_cast<float*>(values), key_tile, v_head, vs.position, tile_start, block_keys);
    __syncthreads();
    for (int j0 = 0; j0 < key_tile; j0 += 4) {
      float s[4], dp[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        float a = 0, b = 0;
#pragma unroll
        for (int c = 0; c < chunks; ++c) {
          a += dot4(q_row[c], keys[j0 + u][L::chunk_index(slice, c)]);
          b += dot4(dz_row[c], values[j0 + u][L::chunk_index(slice, c)]);
        }
        s[u] = row_sum<tpr>(a);
        dp[u] = row_sum<tpr>(b);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const bool visible = tile_start + j0 + u <= last_visible;
        const float p = visible ? expf(scale * s[u] - row_lse) : 0.0f;
        const float ds = p * (dp[u] - row_delta);
#pragma unroll
        for (int c = 0; c < chunks; ++c) add_scaled(grad[c], ds, keys[j0 + u][L::chunk_index(slice, c)]);
      }
    }
  }
  if (!valid) return;
  store_row<true, T, D>(dq + batch * qs.batch + query * qs.position + head * qs.head, grad, scale, slice);
}

// dv_j (+)= Σ_i p_ij dz_i and dk_j (+)= scale · Σ_i ds_ij q_i over every query i of every query head
// of key j's group.
template <class T, int D>
__global__ void __launch_bounds__(attention_layout<D>::key_tile* attention_layout<D>::threads_per_row)
    attention_dkdv_kernel(attention_extents e, const T* q, attention_strides qs, const T* k, attention_strides ks, const T* v,
                          attention_strides vs, const float* lse, const float* delta, const T* dz, T* dk, T* dv, float scale) {
  using L = attention_layout<D>;
  constexpr int tpr = L::threads_per_row, chunks = L::chunks, query_tile = L::query_tile;
  // Queries per step of the inner loop: two keep the four accumulator rows in registers (four
  // spilled a kilobyte per thread at D ≥ 32, nvcc -Xptxas -v).
  constexpr int queries_per_step = 2;
  __shared__ float4 queries[query_tile][D / 4];
  __shared__ float4 output_grads[query_tile][D / 4];
  __shared__ float tile_lse[query_tile], tile_delta[query_tile];

  const index_t batch = blockIdx.z, kv_head = blockIdx.y;
  const index_t first_key = index_t(blockIdx.x) * L::key_tile;
  const int slice = int(threadIdx.x) % tpr;
  const index_t key = first_key + threadIdx.x / tpr;
  const bool valid = key < e.keys;
  const index_t row = valid ? key : e.keys - 1;
  const index_t offset = e.keys - e.queries;  // keys cached before the first query

  float4 k_row[chunks], v_row[chunks], dk_acc[chunks], dv_acc[chunks];
  load_row<T, D>(k_row, k + batch * ks.batch + row * ks.position + kv_head * ks.head, slice);
  load_row<T, D>(v_row, v + batch * vs.batch + row * vs.position + kv_head * vs.head, slice);
#pragma unroll
  for (int c = 0; c < chunks; ++c) dk_acc[c] = dv_acc[c] = make_float4(0, 0, 0, 0);

  // The first query that sees this block's first key.
  const index_t first_query = first_key - offset > 0 ? (first_key - offset) / query_tile * query_tile : 0;
  const index_t z_stride = e.query_heads * D;  // between positions of dz
  const index_t group = e.query_heads / e.kv_heads;
  for (index_t head = kv_head * group; head < (kv_head + 1) * group; ++head) {
    const T* q_head = q + batch * qs.batch + head * qs.head;
    const T* dz_head = dz + (batch * e.queries * e.query_heads + head) * D;
    for (index_t tile_start = first_query; tile_start < e.queries; tile_start += query_tile) {
      __syncthreads();
      load_tile<T, D>(reinterpret_cast<float*>(queries), query_tile, q_head, qs.position, tile_start, e.queries);
      load_tile<T, D>(reinterpret_cast<float*>(output_grads), query_tile, dz_head, z_stride, tile_start, e.queries);
      for (int i = threadIdx.x; i < query_tile; i += blockDim.x) {
        const index_t at = tile_start + i;
        const bool inside = at < e.queries;
        tile_lse[i] = inside ? lse[(batch * e.query_heads + head) * e.queries + at] : 0.0f;
        tile_delta[i] = inside ? delta[(batch * e.queries + at) * e.query_heads + head] : 0.0f;
      }
      __syncthreads();
      for (int i0 = 0; i0 < query_tile; i0 += queries_per_step) {
        float s[queries_per_step], dp[queries_per_step];
#pragma unroll
        for (int u = 0; u < queries_per_step; ++u) {
          float a = 0, b = 0;
#pragma unroll
          for (int c = 0; c < chunks; ++c) {
            a += dot4(queries[i0 + u][L::chunk_index(slice, c)], k_row[c]);
            b += dot4(output_grads[i0 + u][L::chunk_index(slice, c)], v_row[c]);
          }
          s[u] = row_sum<tpr>(a);
          dp[u] = row_sum<tpr>(b);
        }
#pragma unroll
        for (int u = 0; u < queries_per_step; ++u) {
          const index_t query = tile_start + i0 + u;
          const bool visible = query < e.queries && row <= query + offset;
          const float p = visible ? expf(scale * s[u] - tile_lse[i0 + u]) : 0.0f;
          const float ds = p * (dp[u] - tile_delta[i0 + u]);
#pragma unroll
          for (int c = 0; c < chunks; ++c) {
            add_scaled(dv_acc[c], p, output_grads[i0 + u][L::chunk_index(slice, c)]);
            add_scaled(dk_acc[c], ds, queries[i0 + u][L::chunk_index(slice, c)]);
          }
        }
      }
    }
  }
  if (!valid) return;
  if (dk) store_row<true, T, D>(dk + batch * ks.batch + key * ks.position + kv_head * ks.head, dk_acc, scale, slice);
  if (dv) store_row<true, T, D>(dv + batch * vs.batch + key * vs.position + kv_head * vs.head, dv_acc, 1.0f, slice);
}

// Δ for every query row of z: Σ_d dz·z.  (B·Tq·Hq rows of D)
template <class T>
struct output_dot {
  const T* z;
  const T* dz;
  index_t d;
  __device__ float operator()(index_t r, index_t j) const { return to_float(dz[r * d + j]) * to_float(z[r * d + j]); }
};

template <class Body>
void with_head_dim(const char* kernel, index_t head_dim, Body&& body) {
  switch (head_dim) {
    case 16: return body.template operator()<16>();
    case 32: return body.template operator()<32>();
    case 64: return body.template operator()<64>();
    case 128: return body.template operator()<128>();
    default:
      throw shape_error(std::string(kernel) + ": head_dim " + std::to_string(head_dim) +
                        " has no CUDA kernel (there are kernels for 16, 32, 64 and 128)");
  }
}

inline void check_cuda_attention(const char* kernel, const attention_extents& e) {
  cpu::detail::check_attention_extents(kernel, e);
  if (e.batch > 65535 || e.query_heads > 65535)
    throw shape_error(std::string(kernel) + ": batch and heads must be at most 65535 (a CUDA grid's y and z)");
}

// Whether this program's device code has the sm_80 instructions the tensor-core kernels use
// (asked once, of the forward kernel's binary: all are built for the same architectures).
inline bool tensor_core_code() {
#if defined(RANKLENS_CUDA_EMULATION)
  return true;
#else
  static const bool built = [] {
    cudaFuncAttributes attributes{};
    check(cudaFuncGetAttributes(&attributes, flash::forward_kernel<64>), "cudaFuncGetAttributes (flash::forward_kernel)");
    return attributes.binaryVersion >= 80;
  }();
  return built;
#endif
}

// Why the tensor-core kernels cannot take a case, or nullptr when they can. Pointers may be
// nullptr (gradients not wanted).
template <class T>
const char* tensor_core_refusal(const attention_extents& e, std::initializer_list<const void*> pointers,
                                std::initializer_list<attention_strides> strides) {
  if (!std::is_same_v<T, bfloat16>) return "they take bfloat16 only (TF32 would lose float32's precision)";
  if (e.head_dim != 64 && e.head_dim != 128) return "they have kernels for head_dim 64 and 128 only";
  for (const void* p : pointers)
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return "an operand is not 16-byte aligned";
  for (const attention_strides& s : strides)
    if (s.batch % 8 != 0 || s.position % 8 != 0 || s.head % 8 != 0) return "a stride is not a multiple of 8 elements";
  if (!tensor_core_code()) return "this program's device code was built for an architecture before sm_80";
  return nullptr;
}

// Whether to run the tensor-core kernels: yes when they can take the case (and were not ruled
// out), no when they cannot (and were not demanded).
template <class T>
bool use_tensor_cores(const char* kernel, attention_kernels which, const attention_extents& e, std::initializer_list<const void*> pointers,
                      std::initializer_list<attention_strides> strides) {
  if (which == attention_kernels::cuda_cores) return false;
  const char* refusal = tensor_core_refusal<T>(e, pointers, strides);
  if (refusal != nullptr && which == attention_kernels::tensor_cores)
    throw shape_error(std::string(kernel) + ": the tensor-core kernels cannot take this case: " + refusal + " (head_dim " +
                      std::to_string(e.head_dim) + ")");
  return refusal == nullptr;
}

template <class Body>
void with_tensor_core_head_dim(index_t head_dim, Body&& body) {
  if (head_dim == 64) return body.template operator()<64>();
  return body.template operator()<128>();
}

}  // namespace detail

// z = softmax(scale · q·kᵀ, causal) · v, and lse = the log-sum-exp of each score row (see the top of
// this file).
template <DeviceReal T>
void causal_attention_forward(const attention_extents& e, const T* q, attention_strides qs, const T* k, attention_strides ks, const T* v,
                              attention_strides vs, T* z, float* lse, float scale,
                              attention_kernels which = attention_kernels::automatic) {
  detail::check_cuda_attention("cuda::causal_attention_forward", e);
  if (e.batch == 0 || e.queries == 0 || e.query_heads == 0) return;
  const bool tensor_cores = detail::use_tensor_cores<T>("cuda::causal_attention_forward", which, e, {q, k, v, z}, {qs, ks, vs});
  if constexpr (std::is_same_v<T, bfloat16>) {
    if (tensor_cores) {
      detail::with_tensor_core_head_dim(e.head_dim, [&]<int D>() {
        using L = flash::tiles<D>;
        launch("cuda::causal_attention_forward (tensor cores)", flash::forward_kernel<D>,
               launch_shape{dim3(blocks_for(e.queries, L::forward_queries), unsigned(e.query_heads), unsigned(e.batch)),
                            dim3(flash::threads), L::forward_shared},
               e, q, qs, k, ks, v, vs, z, lse, scale);
      });
      return;
    }
  }
  detail::with_head_dim("cuda::causal_attention_forward", e.head_dim, [&]<int D>() {
    using L = detail::attention_layout<D>;
    launch("cuda::causal_attention_forward", detail::attention_forward_kernel<T, D>,
           launch_shape{dim3(blocks_for(e.queries, L::query_tile), unsigned(e.query_heads), unsigned(e.batch)),
                        dim3(L::query_tile * L::threads_per_row)},
           e, q, qs, k, ks, v, vs, z, lse, scale);
  });
}

// dq += ∂/∂q, dk += ∂/∂k, dv += ∂/∂v of ⟨dz, z⟩, recomputing the probabilities from lse.
// z, dz: (B, Tq, Hq, D) contiguous; dq, dk, dv have the strides of q, k, v and may each be nullptr.
template <DeviceReal T>
void causal_attention_backward(const attention_extents& e, const T* q, attention_strides qs, const T* k, attention_strides ks, const T* v,
                               attention_strides vs, const T* z, const float* lse, const T* dz, optional_out<T> dq, optional_out<T> dk,
                               optional_out<T> dv, float scale, attention_kernels which = attention_kernels::automatic) {
  detail::check_cuda_attention("cuda::causal_attention_backward", e);
  if (e.batch == 0 || e.queries == 0 || e.query_heads == 0 || (!dq && !dk && !dv)) return;
  const bool tensor_cores = detail::use_tensor_cores<T>("cuda::causal_attention_backward", which, e, {q, k, v, dz, dq, dk, dv}, {qs, ks, vs});
  if constexpr (std::is_same_v<T, bfloat16>) {
    if (tensor_cores) {
      detail::with_tensor_core_head_dim(e.head_dim, [&]<int D>() {
        using L = flash::tiles<D>;
        const index_t rows = e.batch * e.queries * e.query_heads;
        device_buffer<float> delta(rows);
        row_reduce("cuda::causal_attention_backward (delta)", rows, D, detail::output_dot<T>{z, dz, D}, store_into<float>{delta.data()});
        if (dq)
          launch("cuda::causal_attention_backward (dq, tensor cores)", flash::dq_kernel<D>,
                 launch_shape{dim3(blocks_for(e.queries, L::dq_queries), unsigned(e.query_heads), unsigned(e.batch)), dim3(flash::threads),
                              L::dq_shared},
                 e, q, qs, k, ks, v, vs, lse, delta.data(), dz, dq, scale);
        if (dk || dv)
          launch("cuda::causal_attention_backward (dk, dv, tensor cores)", flash::dkdv_kernel<D>,
                 launch_shape{dim3(blocks_for(e.keys, L::dkdv_keys), unsigned(e.kv_heads), unsigned(e.batch)), dim3(flash::threads),
                              L::dkdv_shared},
                 e, q, qs, k, ks, v, vs, lse, delta.data(), dz, dk, dv, scale);
      });
      return;
    }
  }
  detail::with_head_dim("cuda::causal_attention_backward", e.head_dim, [&]<int D>() {
    using L = detail::attention_layout<D>;
    const index_t rows = e.batch * e.queries * e.query_heads;
    device_buffer<float> delta(rows);
    row_reduce("cuda::causal_attention_backward (delta)", rows, D, detail::output_dot<T>{z, dz, D}, store_into<float>{delta.data()});
    const dim3 threads(L::query_tile * L::threads_per_row);
    if (dq)
      launch("cuda::causal_attention_backward (dq)", detail::attention_dq_kernel<T, D>,
             launch_shape{dim3(blocks_for(e.queries, L::query_tile), unsigned(e.query_heads), unsigned(e.batch)), threads}, e, q, qs, k, ks,
             v, vs, lse, delta.data(), dz, dq, scale);
    if (dk || dv)
      launch("cuda::causal_attention_backward (dk, dv)", detail::attention_dkdv_kernel<T, D>,
             launch_shape{dim3(blocks_for(e.keys, L::key_tile), unsigned(e.kv_heads), unsigned(e.batch)),
                          dim3(L::key_tile * L::threads_per_row)},
             e, q, qs, k, ks, v, vs, lse, delta.data(), dz, dk, dv, scale);
  });
}

}  // namespace ranklens::cuda
