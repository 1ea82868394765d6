// Matrix products through OpenBLAS (CBLAS), in ranklens' row-major convention:
//   C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C,
// where op(A) = A, stored (m, k) with leading dimension lda >= k, or A transposed, stored
// (k, m) with lda >= m; likewise B. Zero extents are fine: with k = 0 (or alpha = 0) the
// product is empty and C = beta * C (C = 0 when beta = 0, whatever C held, as in BLAS).
//
// Link with -lopenblas. One machine fact matters a lot: OpenBLAS picks its kernels at load
// time from the CPU it recognises, and releases older than the CPU fall back to a generic
// core (e.g. Debian 12's 0.3.21 on AMD Zen 5 picks "Prescott", about 5x slower). Setting
// OPENBLAS_CORETYPE before the program starts fixes it; check_openblas_core() says so.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "ranklens/core/dtype.hpp"
#include "ranklens/cpu/gemm_args.hpp"
#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/thin_gemm.hpp"
#include "ranklens/cpu/thread_pool.hpp"
#include "ranklens/cpu/vector_extensions.hpp"

namespace ranklens::cpu {

namespace detail {

inline CBLAS_TRANSPOSE to_cblas(transpose t) noexcept {
  return t == transpose::yes ? CblasTrans : CblasNoTrans;
}

// C = beta * C for the (m, n) block of C.
template <Real T>
void scale_block(T beta, T* c, index_t m, index_t n, index_t ldc) {
  for (index_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0)) {
      std::fill(row, row + n, T(0));
    } else if (beta != T(1)) {
      for (index_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

template <Real T>
void cblas_gemm(transpose ta, transpose tb, index_t m, index_t n, index_t k, T alpha, const T* a,
                index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, to_cblas(ta), to_cblas(tb), int(m), int(n), int(k), alpha, a,
                int(lda), b, int(ldb), beta, c, int(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, to_cblas(ta), to_cblas(tb), int(m), int(n), int(k), alpha, a,
                int(lda), b, int(ldb), beta, c, int(ldc));
  }
}

// When to split a batch over the thread pool (each product single-threaded in OpenBLAS)
// rather than run the products one after another with OpenBLAS threading each. Measured on
// attention-shaped batches (bench_kernels, BM_batched_*): splitting wins by 1.2x to 9x for
// products up to 256x256x64 on 2 and on 16 threads, since a threaded small product spends much
// of its time synchronising. Large products still split well when every thread gets at least
// one; with fewer products than threads, OpenBLAS' own threading keeps all cores busy.
inline constexpr double batch_split_small_flops = 8.0 * 1024 * 1024;
inline constexpr double batch_split_max_flops = 256.0 * 1024 * 1024;

inline bool split_batch_over_pool(index_t batch, double flops_per_product, int threads) {
  if (batch < 2 || threads < 2) return false;
  if (flops_per_product <= batch_split_small_flops) return true;
  return batch >= threads && flops_per_product <= batch_split_max_flops;
}

// How one product is spread over the pool: as one single-threaded OpenBLAS call per thread,
// each on a block of rows or of columns of C, or on a slice of the k terms (then the partial
// products are added up), or not at all (one call, threaded by OpenBLAS). For the tall, thin
// products of small transformers (tokens × width: 8192 × 64 × 64 up to 8192 × 1024 × 256)
// OpenBLAS' own threading reached 65–420 GFLOP/s on 2 threads of this Zen 5, varying from run
// to run, and the row split 390–490 (bench_kernels BM_gemm_ranklens against BM_gemm_cblas,
// docs/performance.md). Leaving no product to OpenBLAS' threads also spares the step their
// sched_yield spinning between calls.
// A product whose k is its longest extent (a weight gradient, k = tokens) splits over k:
// on an Intel Xeon (cpu family 6, model 207), 2 threads, a d 256 layer's weight gradients over
// 1024 tokens (256 × 256, 256 × 1024 ...) ran at 246–293 GFLOP/s that way, where the row split
// gave 127–290 (256 × 256 × 1024: 127) and OpenBLAS' own threads 180–295.
enum class product_split { none, rows, columns, inner };
inline constexpr index_t split_min_extent_per_thread = 128;
inline constexpr double split_min_flops = 4.0 * 1024 * 1024;
inline constexpr index_t inner_split_max_elements = 1 << 20;  // of C: each thread but one sums into scratch

inline product_split choose_product_split(index_t m, index_t n, index_t k, int threads) {
  if (threads < 2 || double(m) * double(n) * double(k) < split_min_flops) return product_split::none;
  if (k >= split_min_extent_per_thread * threads && k >= std::max(m, n) && m * n <= inner_split_max_elements)
    return product_split::inner;
  if (m >= split_min_extent_per_thread * threads) return product_split::rows;
  if (n >= split_min_extent_per_thread * threads) return product_split::columns;
  if (k >= split_min_extent_per_thread * threads && m * n <= 256 * 256) return product_split::inner;
  return product_split::none;
}

// Sets OpenBLAS' thread count for the lifetime of the object, and puts it back after.
class openblas_threads_scope {
 public:
  explicit openblas_threads_scope(int threads) : saved_(openblas_get_num_threads()) {
    if (threads != saved_) openblas_set_num_threads(threads);
  }
  openblas_threads_scope(const openblas_threads_scope&) = delete;
  openblas_threads_scope& operator=(const openblas_threads_scope&) = delete;
  ~openblas_threads_scope() {
    if (openblas_get_num_threads() != saved_) openblas_set_num_threads(saved_);
  }

 private:
  int saved_;
};

}  // namespace detail

// Sets the threads of both the kernels' pool and OpenBLAS. Limiting only the pool leaves
// OpenBLAS on its own default (every core), and a small model's GEMMs then spend their time in
// OpenBLAS' thread hand-offs: the icl_emergence default run took 74 s with --threads 1 that way
// (56 s of it system time) against 57 s with both at one thread.
inline void set_all_threads(int threads) {
  set_num_threads(threads);
  openblas_set_num_threads(threads);
}

// ---------------------------------------------------------------------------------------
// Which kernels OpenBLAS chose

// The core OpenBLAS picked at load time, e.g. "Haswell", "SkylakeX", "Prescott".
inline std::string openblas_core_name() {
  const char* name = openblas_get_corename();
  return name != nullptr ? std::string(name) : std::string("unknown");
}

// The OPENBLAS_CORETYPE that uses this CPU's widest vector unit: "SkylakeX" with AVX-512,
// "Haswell" with AVX2, "" when there is nothing better to pick.
inline std::string_view openblas_recommended_coretype() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2")) return "Haswell";
#endif
  return "";
}

namespace detail {

// Cores whose kernels predate AVX2: on a CPU with AVX2 or AVX-512 they mean OpenBLAS did not
// recognise the CPU and fell back to a generic path.
inline bool is_pre_avx2_core(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return char(std::tolower(ch)); });
  static constexpr std::array<std::string_view, 20> generic = {
      "prescott",    "core2",      "katmai",       "coppermine", "northwood",
      "banias",      "atom",       "penryn",       "dunnington", "nehalem",
      "sandybridge", "opteron",    "opteron_sse3", "barcelona",  "bobcat",
      "bulldozer",   "piledriver", "steamroller",  "nano",       "unknown"};
  return std::find(generic.begin(), generic.end(), name) != generic.end();
}

}  // namespace detail

namespace detail {

// The core name, found (and warned about) once per process.
inline const std::string& checked_openblas_core() {
  static const std::string name = [] {
    std::string core = openblas_core_name();
    const std::string_view better = openblas_recommended_coretype();
    if (!better.empty() && is_pre_avx2_core(core)) {
      std::fprintf(stderr,
                   "ranklens: OpenBLAS is using its generic '%s' kernels on a CPU with %s; "
                   "matrix products will run several times slower than they can. Fix: "
                   "export OPENBLAS_CORETYPE=%.*s before starting the program.\n",
                   core.c_str(), better == "SkylakeX" ? "AVX-512" : "AVX2", int(better.size()),
                   better.data());
    }
    return core;
  }();
  return name;
}

}  // namespace detail

// Returns openblas_core_name(); the first call in a process (or the first gemm, which calls
// it) also prints a warning on stderr when OpenBLAS runs a pre-AVX2 core on a CPU with AVX2
// or AVX-512, with the fix.
inline std::string check_openblas_core() { return detail::checked_openblas_core(); }

namespace detail {

// What every product checks first, each at most once per process: the two ways this machine
// can silently run several times slower than it should (a pre-AVX2 OpenBLAS core, and ranklens'
// own kernels compiled without the CPU's vector extensions).
inline void warn_once_about_slow_kernels() {
  (void)checked_openblas_core();
  (void)check_vector_extensions();
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Products

// C = alpha * op(A) * op(B) + beta * C, row-major (see the top of this file).
template <Real T>
void gemm(transpose ta, transpose tb, index_t m, index_t n, index_t k,
          std::type_identity_t<T> alpha, const T* a, index_t lda, const T* b, index_t ldb,
          std::type_identity_t<T> beta, T* c, index_t ldc) {
  detail::check_gemm("gemm", ta, tb, m, n, k, lda, ldb, ldc);
  detail::warn_once_about_slow_kernels();
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {
    detail::scale_block(beta, c, m, n, ldc);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (ta == transpose::no && thin_gemm_suits(m, n, k)) {
      thin_gemm(tb == transpose::yes, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
  }
  const int threads = num_threads();
  const detail::product_split split = detail::choose_product_split(m, n, k, threads);
  if (split == detail::product_split::none || detail::inside_parallel_region) {
    detail::cblas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // One part per thread: a block of rows of C (rows of op(A): rows of A, or its columns when A
  // is transposed), a block of columns (columns of op(B)), or a slice of the k terms, whose
  // partial products are then added up in part order (deterministic), rows over the pool.
  detail::openblas_threads_scope single_threaded(1);
  const index_t extent = split == detail::product_split::rows ? m : split == detail::product_split::columns ? n : k;
  std::span<T> partials;  // parts 1.. of a split over k: (threads − 1) × (m, n), dense
  if (split == detail::product_split::inner) partials = thread_scratch<T>(scratch_slot::gemm_partials, std::size_t((threads - 1) * m * n));
  parallel_for(threads, 1, [&](index_t first, index_t last) {
    for (index_t part = first; part < last; ++part) {
      const index_t p0 = extent * part / threads, p1 = extent * (part + 1) / threads;
      if (split == detail::product_split::rows) {
        detail::cblas_gemm(ta, tb, p1 - p0, n, k, alpha, ta == transpose::no ? a + p0 * lda : a + p0, lda, b, ldb, beta,
                           c + p0 * ldc, ldc);
      } else if (split == detail::product_split::columns) {
        detail::cblas_gemm(ta, tb, m, p1 - p0, k, alpha, a, lda, tb == transpose::no ? b + p0 : b + p0 * ldb, ldb, beta, c + p0,
                           ldc);
      } else {
        const T* a_part = ta == transpose::no ? a + p0 : a + p0 * lda;
        const T* b_part = tb == transpose::no ? b + p0 * ldb : b + p0;
        if (part == 0)
          detail::cblas_gemm(ta, tb, m, n, p1 - p0, alpha, a_part, lda, b_part, ldb, beta, c, ldc);
        else
          detail::cblas_gemm(ta, tb, m, n, p1 - p0, alpha, a_part, lda, b_part, ldb, T(0), partials.data() + (part - 1) * m * n, n);
      }
    }
  });
  if (split == detail::product_split::inner)
    parallel_for(m, std::max<index_t>(1, 16384 / n), [&](index_t first, index_t last) {
      for (index_t part = 1; part < threads; ++part) {
        const T* partial = partials.data() + (part - 1) * m * n;
        for (index_t i = first; i < last; ++i)
          for (index_t j = 0; j < n; ++j) c[i * ldc + j] += partial[i * n + j];
      }
    });
}

// `batch` independent products: C_i = alpha * op(A_i) * op(B_i) + beta * C_i with
// A_i = a + i * stride_a, B_i = b + i * stride_b, C_i = c + i * stride_c. The C_i must not
// overlap. Small products, and large ones when there are at least as many as threads, are
// spread over the thread pool (each runs single-threaded in OpenBLAS, whose thread count is
// lowered to 1 meanwhile: a process-wide setting, so other threads calling BLAS at that
// moment run single-threaded too); otherwise the products run one after another, each
// threaded by OpenBLAS.
template <Real T>
void gemm_strided_batched(transpose ta, transpose tb, index_t m, index_t n, index_t k,
                          std::type_identity_t<T> alpha, const T* a, index_t lda, const T* b,
                          index_t ldb, std::type_identity_t<T> beta, T* c, index_t ldc,
                          index_t batch, index_t stride_a, index_t stride_b, index_t stride_c) {
  detail::check_gemm("gemm_strided_batched", ta, tb, m, n, k, lda, ldb, ldc);
  detail::warn_once_about_slow_kernels();
  if (batch < 0) throw shape_error("gemm_strided_batched: negative batch " + std::to_string(batch));
  if (batch == 0 || m == 0 || n == 0) return;
  auto one = [&](index_t i) {
    T* ci = c + i * stride_c;
    if (k == 0 || alpha == T(0)) {
      detail::scale_block(beta, ci, m, n, ldc);
    } else {
      detail::cblas_gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
                         ci, ldc);
    }
  };
  const double flops = double(m) * double(n) * double(k);
  if (!detail::split_batch_over_pool(batch, flops, num_threads())) {
    for (index_t i = 0; i < batch; ++i) one(i);
    return;
  }
  detail::openblas_threads_scope single_threaded(1);
  // Aim for ~256k multiply-adds per chunk, so tiny products are grouped.
  const index_t grain = std::max<index_t>(1, index_t(262144.0 / std::max(flops, 1.0)));
  parallel_for(batch, grain, [&](index_t first, index_t last) {
    for (index_t i = first; i < last; ++i) one(i);
  });
}

}  // namespace ranklens::cpu
