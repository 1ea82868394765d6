// How fast an in-context predictor's loss approaches its floor: a power law
// excess(t) ≈ prefactor · t^exponent fitted to loss_t − floor_t over a range of context
// positions t (1-based: position t has seen t tokens). For the Bayes predictor on k-state
// Markov chains the excess falls like k(k − 1) / (2t) asymptotically; over t ∈ [10, 100] at
// k = 2 the fitted exponent is about −0.87 (docs/data.md).
#pragma once
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/power_law_fit.hpp"

namespace ranklens::interp {

// loss[t − 1] and floor[t − 1] are the values at position t; fits t = first .. last inclusive.
// A non-positive excess (a noisy model curve touching the floor) is an error, named by position.
inline data::power_law fit_excess_loss(std::span<const double> loss, std::span<const double> floor, index_t first, index_t last) {
  if (loss.size() != floor.size() || first < 1 || last <= first || std::size_t(last) > loss.size())
    throw shape_error("fit_excess_loss: curves of " + std::to_string(loss.size()) + " and " + std::to_string(floor.size()) +
                      " positions, range [" + std::to_string(first) + ", " + std::to_string(last) +
                      "]; expected equal lengths and 1 <= first < last <= length");
  std::vector<double> positions, excess;
  for (index_t t = first; t <= last; ++t) {
    positions.push_back(double(t));
    excess.push_back(loss[std::size_t(t - 1)] - floor[std::size_t(t - 1)]);
  }
  return data::fit_power_law(positions, excess);
}

}  // namespace ranklens::interp
