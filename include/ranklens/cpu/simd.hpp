// The vector vocabulary of the CPU kernels: the batch type of the widest instruction set the
// build enables (AVX-512, AVX2, SSE2, NEON through xsimd), one loop driver that handles the
// ragged end of an array with the same body as the full vectors, and blocked sums.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

// GCC 12 warns that the AVX-512 intrinsics it inlines into xsimd read an uninitialized
// "undefined" register (GCC bug 105593, fixed in GCC 13). The pragma state is looked up at the
// intrinsic's own line, so silencing it around the first inclusion covers every later use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"

namespace ranklens::cpu {

template <Real T>
using simd = xsimd::batch<T>;

template <Real T>
inline constexpr index_t simd_width = index_t(simd<T>::size);

// The scalar type behind V, for code written once for T and simd<T>.
template <class V>
struct scalar_of {
  using type = V;
};
template <class T, class A>
struct scalar_of<xsimd::batch<T, A>> {
  using type = T;
};
template <class V>
using scalar_of_t = typename scalar_of<V>::type;

// where(c, a, b): c ? a : b for scalars, lane-wise for vectors.
template <class V>
requires std::is_floating_point_v<V> RANKLENS_ALWAYS_INLINE V where(bool condition, V a, V b)
noexcept { return condition ? a : b; }
template <class T, class A>
RANKLENS_ALWAYS_INLINE xsimd::batch<T, A> where(const xsimd::batch_bool<T, A>& condition,
                                                const xsimd::batch<T, A>& a,
                                                const xsimd::batch<T, A>& b) noexcept {
  return xsimd::select(condition, a, b);
}

// Whether multiply_add below rounds once (a fused multiply-add instruction).
#if defined(__FMA__) || defined(__AVX512F__) || defined(__ARM_FEATURE_FMA)
inline constexpr bool has_hardware_fma = true;
#else
inline constexpr bool has_hardware_fma = false;
#endif

// a * b + c, fused where the hardware can. xsimd 8.1 only fuses on its fma3 targets: its
// AVX-512 batches fall back to a separate multiply and add, so those take the intrinsic here.
template <class V>
requires std::is_floating_point_v<V> RANKLENS_ALWAYS_INLINE V multiply_add(V a, V b, V c)
noexcept {
  if constexpr (has_hardware_fma) {
    return std::fma(a, b, c);
  } else {
    return a * b + c;
  }
}
template <class T, class A>
RANKLENS_ALWAYS_INLINE xsimd::batch<T, A> multiply_add(const xsimd::batch<T, A>& a,
                                                       const xsimd::batch<T, A>& b,
                                                       const xsimd::batch<T, A>& c) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_fmadd_ps(a, b, c);
    } else {
      return _mm512_fmadd_pd(a, b, c);
    }
  }
#endif
  return xsimd::fma(a, b, c);
}

// A step of a vector loop: a full vector, or the `count` elements left at the end.
template <Real T>
struct full_step {
  static constexpr index_t count = simd_width<T>;
};
struct partial_step {
  index_t count;
};

// Partial steps use the hardware's masked loads and stores where there are some (AVX-512,
// AVX2): one instruction, and lanes past the end are never touched, so reading up to the end
// of an allocation is safe. Elsewhere they go through a small buffer.
template <Real T>
RANKLENS_ALWAYS_INLINE simd<T> load(const T* p, full_step<T>) noexcept {
  return simd<T>::load_unaligned(p);
}
// Lanes past the end read as zero.
template <Real T>
RANKLENS_ALWAYS_INLINE simd<T> load(const T* p, partial_step step) noexcept {
  [[maybe_unused]] const unsigned count = unsigned(step.count);
  using arch [[maybe_unused]] = typename simd<T>::arch_type;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, arch>) {
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_maskz_loadu_ps(__mmask16((1u << count) - 1), p);
    } else {
      return _mm512_maskz_loadu_pd(__mmask8((1u << count) - 1), p);
    }
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of_v<xsimd::avx2, arch>) {
    if constexpr (std::is_same_v<T, float>) {
      const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(count)), lanes));
    } else {
      const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
      return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), lanes));
    }
  }
#endif
  alignas(64) T lanes[simd_width<T>] = {};
  std::memcpy(lanes, p, std::size_t(step.count) * sizeof(T));
  return simd<T>::load_aligned(lanes);
}

template <Real T>
RANKLENS_ALWAYS_INLINE void store(T* p, const simd<T>& v, full_step<T>) noexcept {
  v.store_unaligned(p);
}
template <Real T>
RANKLENS_ALWAYS_INLINE void store(T* p, const simd<T>& v, partial_step step) noexcept {
  [[maybe_unused]] const unsigned count = unsigned(step.count);
  using arch [[maybe_unused]] = typename simd<T>::arch_type;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, arch>) {
    if constexpr (std::is_same_v<T, float>) {
      _mm512_mask_storeu_ps(p, __mmask16((1u << count) - 1), v);
    } else {
      _mm512_mask_storeu_pd(p, __mmask8((1u << count) - 1), v);
    }
    return;
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of_v<xsimd::avx2, arch>) {
    if constexpr (std::is_same_v<T, float>) {
      const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(count)), lanes), v);
    } else {
      const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
      _mm256_maskstore_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), lanes), v);
    }
    return;
  }
#endif
  alignas(64) T lanes[simd_width<T>];
  v.store_aligned(lanes);
  std::memcpy(p, lanes, std::size_t(step.count) * sizeof(T));
}

// v with the lanes past the step's end set to zero (for sums over a ragged end).
template <Real T>
RANKLENS_ALWAYS_INLINE simd<T> keep_valid(const simd<T>& v, full_step<T>) noexcept {
  return v;
}
template <Real T>
RANKLENS_ALWAYS_INLINE simd<T> keep_valid(const simd<T>& v, partial_step step) noexcept {
  alignas(64) static constexpr T lane_index[16] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                   8, 9, 10, 11, 12, 13, 14, 15};
  static_assert(simd_width<T> <= 16, "keep_valid: wider vectors need a longer lane index");
  return xsimd::select(simd<T>::load_aligned(lane_index) < simd<T>(T(step.count)), v,
                       simd<T>(T(0)));
}

// Calls body(i, step) for i = 0, W, 2W, ... covering [0, n): step is full_step<T> for every
// whole vector and partial_step for the last n % W elements, so one body serves both.
template <Real T, class Body>
RANKLENS_ALWAYS_INLINE void simd_for(index_t n, Body&& body) {
  constexpr index_t width = simd_width<T>;
  index_t i = 0;
  for (; i + width <= n; i += width) body(i, full_step<T>{});
  if (i < n) body(i, partial_step{n - i});
}

// Horizontal reductions.
template <Real T>
RANKLENS_ALWAYS_INLINE T reduce_add(const simd<T>& v) noexcept {
  return xsimd::hadd(v);
}
template <Real T>
RANKLENS_ALWAYS_INLINE T reduce_max(const simd<T>& v) noexcept {
  alignas(64) T lanes[simd_width<T>];
  v.store_aligned(lanes);
  T best = lanes[0];
  for (index_t i = 1; i < simd_width<T>; ++i) best = lanes[i] > best ? lanes[i] : best;
  return best;
}

// Sums are accumulated in double: within a block of `sum_block` elements in four vector
// accumulators of T (short chains, so float keeps ~1e-7 relative accuracy per block), and
// across blocks in double, so that a float sum over millions of elements stays accurate.
inline constexpr index_t sum_block = 1024;

// K sums at once, over [0, n): body(i, step) returns std::array<simd<T>, K>, and sum k is
// the total of the lanes of its k-th entry (lanes past the end are ignored). Several sums of
// one row in one pass read the row once. body is called exactly once per position, in
// order, so it may also store results (softmax writes exp(x) while summing it).
template <Real T, std::size_t K, class Body>
RANKLENS_ALWAYS_INLINE std::array<double, K> simd_sums(index_t n, Body&& body) {
  constexpr index_t width = simd_width<T>;
  using lanes = std::array<simd<T>, K>;
  auto zero = [] {
    lanes z;
    z.fill(simd<T>(T(0)));
    return z;
  };
  auto accumulate = [](lanes& acc, const lanes& v) {
    for (std::size_t k = 0; k < K; ++k) acc[k] += v[k];
  };
  std::array<double, K> totals{};
  for (index_t block = 0; block < n; block += sum_block) {
    const index_t end = std::min(n, block + sum_block);
    // Two accumulators per sum when K > 1, four when K == 1: enough independent additions
    // to hide the adder's latency.
    lanes a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
    index_t i = block;
    if constexpr (K == 1) {
      for (; i + 4 * width <= end; i += 4 * width) {
        accumulate(a0, body(i, full_step<T>{}));
        accumulate(a1, body(i + width, full_step<T>{}));
        accumulate(a2, body(i + 2 * width, full_step<T>{}));
        accumulate(a3, body(i + 3 * width, full_step<T>{}));
      }
    } else {
      for (; i + 2 * width <= end; i += 2 * width) {
        accumulate(a0, body(i, full_step<T>{}));
        accumulate(a1, body(i + width, full_step<T>{}));
      }
    }
    for (; i + width <= end; i += width) accumulate(a0, body(i, full_step<T>{}));
    if (i < end) {
      const partial_step step{end - i};
      lanes v = body(i, step);
      for (auto& lane : v) lane = keep_valid<T>(lane, step);
      accumulate(a1, v);
    }
    for (std::size_t k = 0; k < K; ++k)
      totals[k] += double(reduce_add<T>((a0[k] + a1[k]) + (a2[k] + a3[k])));
  }
  return totals;
}

// Σ over [0, n) of the lanes body(i, step) returns; lanes past the end are ignored.
template <Real T, class Body>
RANKLENS_ALWAYS_INLINE double simd_sum(index_t n, Body&& body) {
  return simd_sums<T, 1>(
      n, [&](index_t i, auto step) { return std::array<simd<T>, 1>{body(i, step)}; })[0];
}

// Contiguous sum of x[0..n).
template <Real T>
double sum_of(const T* x, index_t n) {
  return simd_sum<T>(n, [&](index_t i, auto step) { return load(x + i, step); });
}

}  // namespace ranklens::cpu
