// The samplers of the synthetic data sources (gamma, Dirichlet, categorical), over the one
// generator of core/random.hpp and the uniform and normal draws of core/distributions.hpp.
//
// Every sampler below is written out here instead of using std::*_distribution, whose
// algorithms are implementation-defined. Samplers that call std::log / std::sqrt / std::pow
// (gamma, Dirichlet) agree wherever the C library rounds those functions alike.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/core/distributions.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/core/random.hpp"

namespace ranklens::data {

// log of a Gamma(shape, 1) variate. Marsaglia & Tsang, "A simple method for generating gamma
// variables" (ACM TOMS 2000) for shape >= 1; for shape < 1 their boost
// Gamma(a) = Gamma(a + 1) * U^(1/a), kept in log space because U^(1/a) underflows for small a.
inline double log_gamma_variate(Rng& gen, double shape) {
  if (!(shape > 0.0) || !std::isfinite(shape)) {
    throw value_error("gamma sampling: shape must be positive and finite");
  }
  // Gamma(1) is the exponential distribution, -log U: the flat Dirichlet(1) rows of the Markov
  // sources need nothing more.
  if (shape == 1.0) return std::log(-std::log(unit_uniform_positive(gen)));
  double log_boost = 0.0;
  if (shape < 1.0) {
    log_boost = std::log(unit_uniform_positive(gen)) / shape;
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = standard_normal(gen);
    const double cube_root = 1.0 + c * x;
    if (cube_root <= 0.0) continue;
    const double v = cube_root * cube_root * cube_root;
    const double u = unit_uniform_positive(gen);
    // Cheap squeeze first, then the exact acceptance test on the log scale.
    if (u < 1.0 - 0.0331 * (x * x) * (x * x) ||
        std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) {
      return std::log(d * v) + log_boost;
    }
  }
}

inline double gamma_variate(Rng& gen, double shape) {
  return std::exp(log_gamma_variate(gen, shape));
}

// Dirichlet(concentration) into `out`, by normalising independent gamma variates. Done in
// log space (subtract the largest log first) so that tiny concentrations do not give 0/0.
inline void dirichlet(Rng& gen, std::span<const double> concentration, std::span<double> out) {
  if (concentration.size() != out.size() || out.empty()) {
    throw shape_error("dirichlet: concentration has " + std::to_string(concentration.size()) +
                      " entries, output has " + std::to_string(out.size()) +
                      "; expected equal and non-zero");
  }
  double largest = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = log_gamma_variate(gen, concentration[i]);
    largest = std::max(largest, out[i]);
  }
  double total = 0.0;
  for (double& value : out) total += (value = std::exp(value - largest));
  for (double& value : out) value /= total;
}

// Symmetric Dirichlet(alpha, ..., alpha) of out.size() components.
inline void symmetric_dirichlet(Rng& gen, double alpha, std::span<double> out) {
  double largest = -std::numeric_limits<double>::infinity();
  for (double& value : out) largest = std::max(largest, value = log_gamma_variate(gen, alpha));
  double total = 0.0;
  for (double& value : out) total += (value = std::exp(value - largest));
  for (double& value : out) value /= total;
}

// Index drawn with the given probabilities (they should sum to 1) by inversion of one uniform.
// Rounding that leaves the uniform past the last partial sum picks the last positive entry.
inline index_t categorical(Rng& gen, std::span<const double> probabilities) {
  const double u = unit_uniform(gen);
  double cumulative = 0.0;
  index_t last_positive = -1;
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    if (probabilities[i] <= 0.0) continue;
    cumulative += probabilities[i];
    last_positive = static_cast<index_t>(i);
    if (u < cumulative) return last_positive;
  }
  if (last_positive < 0) throw value_error("categorical: no positive probability");
  return last_positive;
}

// Turns a probability row into the partial sums that categorical_from_cumulative scans. From
// the last positive entry on, the sums are set above 1, so that rounding in the sums can never
// select a trailing zero-probability entry nor run off the end.
inline void cumulative_row(std::span<const double> probabilities, std::span<double> cumulative) {
  if (probabilities.size() != cumulative.size() || probabilities.empty()) {
    throw shape_error("cumulative_row: sizes " + std::to_string(probabilities.size()) + " and " +
                      std::to_string(cumulative.size()) + " must be equal and non-zero");
  }
  std::size_t last_positive = probabilities.size();
  double total = 0.0;
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    if (probabilities[i] < 0.0) throw value_error("cumulative_row: negative probability");
    if (probabilities[i] > 0.0) last_positive = i;
    cumulative[i] = (total += probabilities[i]);
  }
  if (last_positive == probabilities.size()) throw value_error("cumulative_row: all zero");
  for (std::size_t i = last_positive; i < cumulative.size(); ++i) cumulative[i] = 2.0;
}

// Index drawn by inversion of the uniform u in [0, 1) against a row made by cumulative_row:
// what the samplers precompute so that drawing a token is one uniform and a short scan.
inline index_t categorical_from_cumulative(double u, std::span<const double> cumulative) noexcept {
  const auto last = static_cast<index_t>(cumulative.size()) - 1;
  index_t i = 0;
  while (i < last && !(u < cumulative[static_cast<std::size_t>(i)])) ++i;
  return i;
}

}  // namespace ranklens::data
