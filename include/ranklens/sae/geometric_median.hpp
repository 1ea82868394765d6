// The geometric median of a sample: the point m minimising Σ_i ‖x_i − m‖, by Weiszfeld's
// iteration (Weiszfeld 1937)
//
//   m ← Σ_i w_i x_i / Σ_i w_i,   w_i = 1 / max(‖x_i − m‖, ε)
//
// started at the mean. Gao et al. 2024 (Sec. A.1) start a sparse autoencoder's pre-encoder bias
// b_dec there: unlike the mean, it is not dragged by the few activations of very large norm. The
// floor ε keeps a step defined when m lands on a sample point (as the geom_median package does).
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ranklens/core/tensor.hpp"
#include "ranklens/cpu/parallel_sum.hpp"
#include "ranklens/cpu/work_split.hpp"

namespace ranklens {

struct GeometricMedianOptions {
  index_t max_iterations = 200;
  double tolerance = 1e-7;  // stop when a step moves m by less than tolerance · (mean distance to m)
  double distance_floor = 1e-12;
};

struct GeometricMedian {
  std::vector<double> point;
  index_t iterations = 0;
  double mean_distance = 0;  // Σ_i ‖x_i − m‖ / N at the result
};

// sample: (N, d) with N >= 1.
template <class T, ShapeType S>
GeometricMedian geometric_median(TensorView<T, S, cpu_t> sample, const GeometricMedianOptions& options = {}) {
  static_assert(S::rank == 2, "geometric_median: the sample must be (points, dimensions).");
  const index_t rows = sample.extent(0), d = sample.extent(1);
  if (rows < 1 || d < 1) throw value_error("geometric_median: needs at least one point of at least one dimension, got " + to_string(sample.shape()));
  if (!sample.is_contiguous()) throw value_error("geometric_median: the sample must be contiguous");
  const std::remove_const_t<T>* x = sample.data();
  GeometricMedian result;
  std::vector<double> m(static_cast<std::size_t>(d), 0.0), weights(static_cast<std::size_t>(rows)), next(static_cast<std::size_t>(d));
  auto weighted_sum = [&](const std::vector<double>* w, std::vector<double>& out) {
    cpu::sum_over_row_blocks<double>(
        rows, d, std::max<index_t>(1, cpu::parallel_grain(2) / d),
        [&](index_t first, index_t last, double* acc) {
          for (index_t i = first; i < last; ++i) {
            const double wi = w != nullptr ? (*w)[std::size_t(i)] : 1.0;
            for (index_t j = 0; j < d; ++j) acc[j] += wi * double(x[i * d + j]);
          }
        },
        [&](index_t j, double total) { out[std::size_t(j)] = total; });
  };
  auto distances_to = [&](const std::vector<double>& point) {
    cpu::parallel_for_rows(rows, d, 2, [&](index_t i) {
      double squares = 0;
      for (index_t j = 0; j < d; ++j) {
        const double diff = double(x[i * d + j]) - point[std::size_t(j)];
        squares += diff * diff;
      }
      weights[std::size_t(i)] = std::sqrt(squares);
    });
    double total = 0;
    for (const double v : weights) total += v;
    return total / double(rows);
  };
  weighted_sum(nullptr, m);
  for (double& v : m) v /= double(rows);
  for (result.iterations = 0; result.iterations < options.max_iterations; ++result.iterations) {
    const double mean_distance = distances_to(m);
    if (!(mean_distance > 0)) break;  // every point is m
    double total_weight = 0;
    for (double& w : weights) total_weight += (w = 1.0 / std::max(w, options.distance_floor));
    weighted_sum(&weights, next);
    double moved = 0;
    for (index_t j = 0; j < d; ++j) {
      const double value = next[std::size_t(j)] / total_weight;
      moved += (value - m[std::size_t(j)]) * (value - m[std::size_t(j)]);
      m[std::size_t(j)] = value;
    }
    if (std::sqrt(moved) <= options.tolerance * mean_distance) {
      ++result.iterations;
      break;
    }
  }
  result.mean_distance = distances_to(m);
  result.point = std::move(m);
  return result;
}

template <class T, ShapeType S>
GeometricMedian geometric_median(const Tensor<T, S, cpu_t>& sample, const GeometricMedianOptions& options = {}) {
  return geometric_median(sample.view(), options);
}

}  // namespace ranklens
