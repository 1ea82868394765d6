// Warp-level matrix instructions for bf16 tensor-core kernels (sm_80 and later), through inline
// PTX: ldmatrix (8×8 tiles of 16-bit elements from shared memory into the fragments the tensor
// cores read, optionally transposed), mma.sync m16n8k16 (bf16 inputs, fp32 accumulation), and
// cp.async (16-byte copies from global to shared memory that do not pass through registers).
//
// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"): with
// g = lane / 4 and t = lane % 4, each register holds two bf16 of consecutive columns (k), the lower
// column in the lower half:
//   A (16×16, rows × k):  a0 (g, 2t), a1 (g + 8, 2t), a2 (g, 2t + 8), a3 (g + 8, 2t + 8)
//   B (16×8,  k × cols):  b0 (2t, g), b1 (2t + 8, g)   (the pair runs down k)
//   C (16×8,  float):     c0 (g, 2t), c1 (g, 2t + 1), c2 (g + 8, 2t), c3 (g + 8, 2t + 1)
// So the accumulators of two neighbouring 16×8 products, rounded to bf16 in pairs, are the A
// fragment of the next product along k (FlashAttention-2's P·V without a trip through memory).
//
// ldmatrix .x4: lanes 8j to 8j + 7 give the row addresses (16-byte aligned) of 8×8 matrix j, and
// every lane receives in register j the elements (g, 2t) and (g, 2t + 1) of matrix j, or with
// .trans the elements (2t, g) and (2t + 1, g).
//
// Under the host emulation (emulation.hpp) the same functions run on the host with exactly
// these layouts (ldmatrix and mma.sync gather the warp's operands), so the kernels built on them
// are tested on the CPU too; the emulation's sums are plain float sums (the tensor cores' rounding
// of their internal sums is not specified, so the device may differ in the last bits).
#pragma once
#include <cstdint>
#include <cstring>

#include "ranklens/cuda/numeric.cuh"

namespace ranklens::cuda::warp_matrix {

// Two floats rounded to bf16 and packed, the first in the lower half.
__device__ __forceinline__ std::uint32_t pack_bf16x2(float lower, float upper) {
  const bfloat16 pair[2] = {from_float<bfloat16>(lower), from_float<bfloat16>(upper)};
  std::uint32_t bits;
  std::memcpy(&bits, pair, sizeof bits);
  return bits;
}

#if defined(RANKLENS_CUDA_EMULATION)

namespace detail {
inline float bf16_bits_to_float(std::uint32_t half_bits) { return std::bit_cast<float>(half_bits << 16); }
inline float lower_of(std::uint32_t pair) { return bf16_bits_to_float(pair & 0xffffu); }
inline float upper_of(std::uint32_t pair) { return bf16_bits_to_float(pair >> 16); }
inline std::uint32_t load_u16(const unsigned char* at) {
  std::uint16_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}
}  // namespace detail

inline void ldmatrix_x4(std::uint32_t (&r)[4], const bfloat16* row) {
  const auto rows = emulation::gather(reinterpret_cast<const unsigned char*>(row));
  const int lane = emulation::lane_id(), g = lane / 4, t = lane % 4;
  for (int j = 0; j < 4; ++j) std::memcpy(&r[j], rows[std::size_t(8 * j + g)] + 4 * t, 4);
}

inline void ldmatrix_x4_trans(std::uint32_t (&r)[4], const bfloat16* row) {
  const auto rows = emulation::gather(reinterpret_cast<const unsigned char*>(row));
  const int lane = emulation::lane_id(), g = lane / 4, t = lane % 4;
  for (int j = 0; j < 4; ++j) {
    const std::uint32_t lower = detail::load_u16(rows[std::size_t(8 * j + 2 * t)] + 2 * g);
    const std::uint32_t upper = detail::load_u16(rows[std::size_t(8 * j + 2 * t + 1)] + 2 * g);
    r[j] = lower | (upper << 16);
  }
}

// d += a·b for one 16×8×16 product of the warp.
inline void mma_bf16_16816(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  struct operands {
    std::uint32_t a[4], b[2];
  };
  const auto all = emulation::gather(operands{{a[0], a[1], a[2], a[3]}, {b0, b1}});
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    const operands& o = all[std::size_t(l)];
    for (int half = 0; half < 2; ++half) {
      auto value = [&](std::uint32_t pair) { return half == 0 ? detail::lower_of(pair) : detail::upper_of(pair); };
      A[g][2 * t + half] = value(o.a[0]);
      A[g + 8][2 * t + half] = value(o.a[1]);
      A[g][2 * t + 8 + half] = value(o.a[2]);
      A[g + 8][2 * t + 8 + half] = value(o.a[3]);
      B[2 * t + half][g] = value(o.b[0]);
      B[2 * t + 8 + half][g] = value(o.b[1]);
    }
  }
  const int lane = emulation::lane_id(), g = lane / 4, t = lane % 4;
  for (int c = 0; c < 4; ++c) {
    const int row = g + 8 * (c / 2), col = 2 * t + c % 2;
    float sum = 0;
    for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
    d[c] += sum;
  }
}

// 16 bytes from global to shared memory, or 16 zero bytes when `valid` is false.
inline void cp_async_16(void* shared, const void* global, bool valid) {
  if (valid)
    std::memcpy(shared, global, 16);
  else
    std::memset(shared, 0, 16);
}
// 4 bytes, or 4 zero bytes.
inline void cp_async_4(void* shared, const void* global, bool valid) {
  if (valid)
    std::memcpy(shared, global, 4);
  else
    std::memset(shared, 0, 4);
}
inline void cp_async_commit() {}
template <int Pending>
void cp_async_wait() {}

#else

// The instructions need sm_80; device code built for an older architecture traps instead
// (causal_attention.cuh asks the runtime which architecture the code was built for and does not
// call these kernels then).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define RANKLENS_WARP_MATRIX_INSTRUCTIONS 1
#else
#define RANKLENS_WARP_MATRIX_INSTRUCTIONS 0
#endif

__device__ __forceinline__ unsigned shared_address(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const bfloat16* row) {
#if RANKLENS_WARP_MATRIX_INSTRUCTIONS
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
#else
  __trap();
#endif
}

__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const bfloat16* row) {
#if RANKLENS_WARP_MATRIX_INSTRUCTIONS
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
#else
  __trap();
#endif
}

// d += a·b for one 16×8×16 product of the warp.
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
#if RANKLENS_WARP_MATRIX_INSTRUCTIONS
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// 16 bytes from global to shared memory, or 16 zero bytes when `valid` is false (a source size of
// 0 makes cp.async write zeros without reading).
__device__ __forceinline__ void cp_async_16(void* shared, const void* global, bool valid) {
#if RANKLENS_WARP_MATRIX_INSTRUCTIONS
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(shared)), "l"(global), "r"(valid ? 16 : 0));
#else
  __trap();
#endif
}
// 4 bytes, or 4 zero bytes.
__device__ __forceinline__ void cp_async_4(void* shared, const void* global, bool valid) {
#if RANKLENS_WARP_MATRIX_INSTRUCTIONS
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_address(shared)), "l"(global), "r"(valid ? 4 : 0));
#else
  __trap();
#endif
}
// Closes this thread's group of copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#if RANKLENS_WARP_MATRIX_INSTRUCTIONS
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Waits until at most `Pending` of this thread's committed groups are still in flight.
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
#if RANKLENS_WARP_MATRIX_INSTRUCTIONS
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
#endif
}

#undef RANKLENS_WARP_MATRIX_INSTRUCTIONS
#endif

}  // namespace ranklens::cuda::warp_matrix
