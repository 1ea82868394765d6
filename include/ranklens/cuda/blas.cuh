// Matrix products through cuBLAS and cuBLASLt, the twins of cpu/blas.hpp and cpu/bias.hpp, in
// ranklens' row-major convention (cpu/gemm_args.hpp):
//   C (m, n) = alpha · op(A) (m, k) · op(B) (k, n) + beta · C.
// Zero extents as in BLAS: with k = 0 or alpha = 0, C = beta · C (C = 0 when beta = 0, whatever
// C held). T is float (fp32 arithmetic: CUBLAS_COMPUTE_32F, so no TF32) or bfloat16 (tensor
// cores, fp32 accumulation); alpha and beta are float for both.
//
// cuBLAS is column-major. A row-major (r, c) array read column-major is its transpose, so
// C = op(A)·op(B) is computed as the column-major product Cᵀ (n, m) = op(B)ᵀ·op(A)ᵀ: the same
// arrays, B first, with the same transpose flags.
//
// Handles and a 32 MiB workspace are made once per thread, device and stream (a workspace is
// used by one stream at a time; a fixed workspace also keeps cuBLAS from allocating while a
// graph is captured). Every cuBLAS and cuBLASLt status is checked and named. Under the host
// emulation the column-major product is a plain loop, so the translation above is still tested.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "ranklens/cpu/gemm_args.hpp"
#include "ranklens/cuda/elementwise.cuh"

namespace ranklens::cuda {

using cpu::transpose;

inline void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw cuda_error(std::string(what) + ": " + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")");
}

namespace detail {

template <class T>
constexpr cudaDataType_t blas_type() {
  return std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_16BF;
}
inline cublasOperation_t blas_op(transpose t) { return t == transpose::yes ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Largest power of two up to 16 that divides the address (what cuBLASLt's heuristics ask for).
inline std::uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t a = 16;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

#if !defined(RANKLENS_CUDA_EMULATION)

inline constexpr std::size_t blas_workspace_bytes = std::size_t(32) << 20;

// A cuBLASLt product with a bias epilogue, planned once per shape, type and alignment.
struct bias_plan {
  cublasLtMatmulDesc_t operation = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, output = nullptr;
  cublasLtMatmulHeuristicResult_t heuristic{};
  bool supported = false;
  bias_plan() = default;
  bias_plan(const bias_plan&) = delete;
  bias_plan& operator=(const bias_plan&) = delete;
  ~bias_plan() {
    if (output) cublasLtMatrixLayoutDestroy(output);
    if (second) cublasLtMatrixLayoutDestroy(second);
    if (first) cublasLtMatrixLayoutDestroy(first);
    if (operation) cublasLtMatmulDescDestroy(operation);
  }
};
using bias_plan_key = std::tuple<int, int, index_t, index_t, index_t, index_t, index_t, index_t, std::uint32_t>;

struct blas_handles {
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  device_buffer<std::byte> workspace;
  std::map<bias_plan_key, std::unique_ptr<bias_plan>> bias_plans;

  explicit blas_handles(cudaStream_t stream) : workspace(index_t(blas_workspace_bytes)) {
    check(cublasCreate(&blas), "cublasCreate");
    check(cublasSetStream(blas, stream), "cublasSetStream");
    check(cublasSetWorkspace(blas, workspace.data(), blas_workspace_bytes), "cublasSetWorkspace");
    check(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    check(cublasLtCreate(&lt), "cublasLtCreate");
  }
  blas_handles(const blas_handles&) = delete;
  blas_handles& operator=(const blas_handles&) = delete;
  ~blas_handles() {
    bias_plans.clear();
    if (lt) cublasLtDestroy(lt);
    if (blas) cublasDestroy(blas);
  }
};

// The calling thread's handles for the current device and stream.
inline blas_handles& handles() {
  thread_local std::map<std::pair<int, cudaStream_t>, std::unique_ptr<blas_handles>> per_stream;
  const auto key = std::make_pair(runtime::current_device(), current_stream());
  auto& slot = per_stream[key];
  if (!slot) slot = std::make_unique<blas_handles>(current_stream());
  return *slot;
}

#endif

// C (column-major, m × n, ldc) = alpha · op(A) · op(B) + beta · C, k ≥ 1, alpha ≠ 0, batched.
template <class T>
void column_major_gemm(cublasOperation_t op_a, cublasOperation_t op_b, index_t m, index_t n, index_t k, float alpha, const T* a,
                       index_t lda, index_t stride_a, const T* b, index_t ldb, index_t stride_b, float beta, T* c, index_t ldc,
                       index_t stride_c, index_t batch) {
#if defined(RANKLENS_CUDA_EMULATION)
  emulation::run_or_record([=] {  // recorded while a graph captures, like the cuBLAS call it stands for
    for (index_t p = 0; p < batch; ++p)
      for (index_t j = 0; j < n; ++j)
        for (index_t i = 0; i < m; ++i) {
          double sum = 0;
          for (index_t l = 0; l < k; ++l) {
            const T x = op_a == CUBLAS_OP_N ? a[p * stride_a + i + l * lda] : a[p * stride_a + l + i * lda];
            const T y = op_b == CUBLAS_OP_N ? b[p * stride_b + l + j * ldb] : b[p * stride_b + j + l * ldb];
            sum += double(to_float(x)) * double(to_float(y));
          }
          T& out = c[p * stride_c + i + j * ldc];
          out = from_float<T>(float(alpha * sum + (beta == 0.0f ? 0.0 : double(beta) * double(to_float(out)))));
        }
  });
#else
  blas_handles& h = handles();
  constexpr cudaDataType_t type = blas_type<T>();
  if (batch == 1) {
    check(cublasGemmEx(h.blas, op_a, op_b, int(m), int(n), int(k), &alpha, a, type, int(lda), b, type, int(ldb), &beta, c, type, int(ldc),
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx");
  } else {
    check(cublasGemmStridedBatchedEx(h.blas, op_a, op_b, int(m), int(n), int(k), &alpha, a, type, int(lda), stride_a, b, type, int(ldb),
                                     stride_b, &beta, c, type, int(ldc), stride_c, int(batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmStridedBatchedEx");
  }
#endif
}

// C = beta · C on a (rows, cols) block of each of `batch` matrices (beta = 0 writes zeros).
template <class T>
__global__ void scale_blocks_kernel(float beta, T* c, index_t rows, index_t cols, index_t ldc, index_t stride_c, index_t batch) {
  const index_t total = batch * rows * cols;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += index_t(gridDim.x) * blockDim.x) {
    const index_t p = i / (rows * cols), r = (i / cols) % rows, j = i % cols;
    T& out = c[p * stride_c + r * ldc + j];
    out = from_float<T>(beta == 0.0f ? 0.0f : beta * to_float(out));
  }
}
template <class T>
void scale_blocks(float beta, T* c, index_t rows, index_t cols, index_t ldc, index_t stride_c, index_t batch) {
  if (beta == 1.0f) return;
  const index_t total = batch * rows * cols;
  launch("cuda::gemm (beta · C)", scale_blocks_kernel<T>, launch_shape{dim3(std::min<unsigned>(blocks_for(total, 256), 65535u)), dim3(256)},
         beta, c, rows, cols, ldc, stride_c, batch);
}

template <class T>
__global__ void fill_rows_kernel(const T* b, T* y, index_t rows, index_t cols, index_t ldy) {
  const index_t total = rows * cols;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += index_t(gridDim.x) * blockDim.x)
    y[(i / cols) * ldy + i % cols] = b[i % cols];
}

}  // namespace detail

// C = alpha · op(A) · op(B) + beta · C, row-major (see the top of this file).
template <DeviceReal T>
void gemm(transpose ta, transpose tb, index_t m, index_t n, index_t k, float alpha, const T* a, index_t lda, const T* b, index_t ldb,
          float beta, T* c, index_t ldc) {
  cpu::detail::check_gemm("cuda::gemm", ta, tb, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return detail::scale_blocks(beta, c, m, n, ldc, 0, 1);
  detail::column_major_gemm(detail::blas_op(tb), detail::blas_op(ta), n, m, k, alpha, b, ldb, 0, a, lda, 0, beta, c, ldc, 0, 1);
}

// `batch` independent products C_i = alpha · op(A_i) · op(B_i) + beta · C_i with A_i = a + i·stride_a,
// B_i = b + i·stride_b, C_i = c + i·stride_c (a stride may be 0 to reuse one operand). The C_i
// must not overlap.
template <DeviceReal T>
void gemm_strided_batched(transpose ta, transpose tb, index_t m, index_t n, index_t k, float alpha, const T* a, index_t lda, const T* b,
                          index_t ldb, float beta, T* c, index_t ldc, index_t batch, index_t stride_a, index_t stride_b, index_t stride_c) {
  cpu::detail::check_gemm("cuda::gemm_strided_batched", ta, tb, m, n, k, lda, ldb, ldc);
  if (batch < 0) throw shape_error("cuda::gemm_strided_batched: negative batch " + std::to_string(batch));
  if (batch > INT_MAX) throw shape_error("cuda::gemm_strided_batched: a batch of " + std::to_string(batch) + " exceeds cuBLAS' int");
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return detail::scale_blocks(beta, c, m, n, ldc, stride_c, batch);
  detail::column_major_gemm(detail::blas_op(tb), detail::blas_op(ta), n, m, k, alpha, b, ldb, stride_b, a, lda, stride_a, beta, c, ldc,
                            stride_c, batch);
}

// y[r, :] = b for every row.  b: (cols); y: (rows, cols), rows ldy ≥ cols apart (default: dense)
template <DeviceReal T>
void fill_rows(const T* b, T* y, index_t rows, index_t cols, index_t ldy = -1) {
  detail::require_extents("cuda::fill_rows", rows, cols);
  if (ldy < 0) ldy = cols;
  detail::require(ldy >= cols, "cuda::fill_rows", "ldy is smaller than a row");
  if (rows == 0 || cols == 0) return;
  launch("cuda::fill_rows", detail::fill_rows_kernel<T>, launch_shape{dim3(std::min<unsigned>(blocks_for(rows * cols, 256), 65535u)), dim3(256)},
         b, y, rows, cols, ldy);
}

// C (m, n) = A (m, k) · op(B) (k, n) + bias on every row; A row-major (lda ≥ k), B as in gemm.
// The bias is added by cuBLASLt's epilogue as C is stored, where cuBLASLt offers one for the
// shape; otherwise C's rows are filled with the bias first and the product adds onto them.
template <DeviceReal T>
void gemm_plus_bias(transpose tb, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb, const T* bias, T* c,
                    index_t ldc) {
  cpu::detail::check_gemm("cuda::gemm_plus_bias", transpose::no, tb, m, n, k, lda, ldb, ldc);  // before C is written
  if (m == 0 || n == 0) return;
#if !defined(RANKLENS_CUDA_EMULATION)
  if (k > 0) {
    detail::blas_handles& h = detail::handles();
    const std::uint32_t alignment =
        std::min({detail::alignment_of(a), detail::alignment_of(b), detail::alignment_of(c), detail::alignment_of(bias)});
    const detail::bias_plan_key key{std::is_same_v<T, float> ? 0 : 1, int(tb), m, n, k, lda, ldb, ldc, alignment};
    auto& slot = h.bias_plans[key];
    if (!slot) {
      slot = std::make_unique<detail::bias_plan>();
      detail::bias_plan& plan = *slot;
      constexpr cudaDataType_t type = detail::blas_type<T>();
      check(cublasLtMatmulDescCreate(&plan.operation, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
      const cublasOperation_t first_op = detail::blas_op(tb), second_op = CUBLAS_OP_N;
      check(cublasLtMatmulDescSetAttribute(plan.operation, CUBLASLT_MATMUL_DESC_TRANSA, &first_op, sizeof(first_op)),
            "cublasLtMatmulDescSetAttribute(TRANSA)");
      check(cublasLtMatmulDescSetAttribute(plan.operation, CUBLASLT_MATMUL_DESC_TRANSB, &second_op, sizeof(second_op)),
            "cublasLtMatmulDescSetAttribute(TRANSB)");
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      check(cublasLtMatmulDescSetAttribute(plan.operation, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
            "cublasLtMatmulDescSetAttribute(EPILOGUE)");
      // Column-major as stored: B's array is (n, k), or (k, n) when op(B) = Bᵀ; A's is (k, m); C's (n, m).
      const bool bt = tb == transpose::yes;
      check(cublasLtMatrixLayoutCreate(&plan.first, type, bt ? k : n, bt ? n : k, ldb), "cublasLtMatrixLayoutCreate(B)");
      check(cublasLtMatrixLayoutCreate(&plan.second, type, k, m, lda), "cublasLtMatrixLayoutCreate(A)");
      check(cublasLtMatrixLayoutCreate(&plan.output, type, n, m, ldc), "cublasLtMatrixLayoutCreate(C)");
      cublasLtMatmulPreference_t preference = nullptr;
      check(cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate");
      const std::uint64_t workspace = detail::blas_workspace_bytes;
      cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
      for (auto attribute : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                             CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
        cublasLtMatmulPreferenceSetAttribute(preference, attribute, &alignment, sizeof(alignment));
      int found = 0;
      const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(h.lt, plan.operation, plan.first, plan.second, plan.output, plan.output,
                                                                   preference, 1, &plan.heuristic, &found);
      cublasLtMatmulPreferenceDestroy(preference);
      plan.supported = status == CUBLAS_STATUS_SUCCESS && found > 0;
    }
    if (slot->supported) {
      check(cublasLtMatmulDescSetAttribute(slot->operation, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
            "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
      const float alpha = 1.0f, beta = 0.0f;
      check(cublasLtMatmul(h.lt, slot->operation, &alpha, b, slot->first, a, slot->second, &beta, c, slot->output, c, slot->output,
                           &slot->heuristic.algo, h.workspace.data(), detail::blas_workspace_bytes, current_stream()),
            "cublasLtMatmul (bias epilogue)");
      return;
    }
  }
#endif
  fill_rows(bias, c, m, n, ldc);
  gemm<T>(transpose::no, tb, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c, ldc);
}

}  // namespace ranklens::cuda
