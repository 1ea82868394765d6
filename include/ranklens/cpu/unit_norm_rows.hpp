// Keeping the rows of a matrix on the unit sphere during training (Gao et al. 2024, "Scaling and
// evaluating sparse autoencoders", Sec. A.1: the decoder's latent directions stay unit-norm).
//
//   remove_parallel_component:  g_j −= (g_j · w_j / ‖w_j‖²) w_j   for each row w_j of W and its
//                               gradient g_j, so that a step moves along the sphere only;
//   normalize_rows:             w_j /= ‖w_j‖ (after the step, which leaves the sphere slightly).
//
// Rows of zero norm are left as they are. W, G: (rows, cols), row-major.
#pragma once
#include <cmath>

#include "ranklens/cpu/kernel_args.hpp"
#include "ranklens/cpu/simd.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens::cpu {

template <Real T>
void remove_parallel_component(const T* w, T* g, index_t rows, index_t cols) {
  detail::require_extents("remove_parallel_component", rows, cols);
  parallel_for_rows(rows, cols, 2, [&](index_t r) {
    const T* wr = w + r * cols;
    T* gr = g + r * cols;
    const auto sums = simd_sums<T, 2>(cols, [&](index_t i, auto step) {
      const simd<T> wv = load(wr + i, step);
      return std::array<simd<T>, 2>{wv * load(gr + i, step), wv * wv};
    });
    if (!(sums[1] > 0)) return;
    const simd<T> along(T(-sums[0] / sums[1]));
    simd_for<T>(cols, [&](index_t i, auto step) { store(gr + i, multiply_add(along, load(wr + i, step), load(gr + i, step)), step); });
  });
}

template <Real T>
void normalize_rows(T* w, index_t rows, index_t cols) {
  detail::require_extents("normalize_rows", rows, cols);
  parallel_for_rows(rows, cols, 2, [&](index_t r) {
    T* wr = w + r * cols;
    const double squares = simd_sum<T>(cols, [&](index_t i, auto step) {
      const simd<T> v = load(wr + i, step);
      return v * v;
    });
    if (!(squares > 0)) return;
    const simd<T> inverse(T(1 / std::sqrt(squares)));
    simd_for<T>(cols, [&](index_t i, auto step) { store(wr + i, load(wr + i, step) * inverse, step); });
  });
}

}  // namespace ranklens::cpu
