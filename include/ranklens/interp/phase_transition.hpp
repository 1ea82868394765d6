// Reading a training curve for an abrupt transition (a plateau, then a sudden drop), as in the
// induction-head phase change of Olsson et al. 2022 and Edelman et al. 2024: the loss sits near
// a sub-optimal level (for in-context Markov chains, the in-context unigram predictor's), then
// falls within a short stretch of steps to the Bayes level.
//
// The curve is smoothed by a centred moving average first, because single-batch losses are
// noisy enough that the steepest raw difference is usually noise.
#pragma once
#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::interp {

// Centred moving average over `window` points (odd; even windows are widened by one); near the
// ends the window shrinks symmetrically so that every value is a mean of points around it.
inline std::vector<double> moving_average(std::span<const double> values, index_t window) {
  if (window < 1) throw value_error("moving_average: window must be at least 1, got " + std::to_string(window));
  const index_t n = index_t(values.size()), half = window / 2;
  std::vector<double> smoothed(values.size());
  for (index_t i = 0; i < n; ++i) {
    const index_t reach = std::min({half, i, n - 1 - i});
    double sum = 0;
    for (index_t j = i - reach; j <= i + reach; ++j) sum += values[std::size_t(j)];
    smoothed[std::size_t(i)] = sum / double(2 * reach + 1);
  }
  return smoothed;
}

struct steepest_drop {
  index_t index = 0;   // the drop is between points index and index + 1
  double step = 0;     // midpoint of the two steps
  double slope = 0;    // smoothed loss change per step there (negative for a drop)
};

struct plateau {
  index_t first = 0, last = 0;        // indices of the points it spans
  double first_step = 0, last_step = 0;
  double level = 0;                   // mean smoothed loss over it
};

struct transition_report {
  std::vector<double> smoothed;
  std::optional<steepest_drop> drop;  // none if the smoothed curve never decreases
  std::vector<plateau> plateaus;      // in order of steps
  std::optional<plateau> before_drop; // the longest plateau that ends before the drop
};

struct transition_options {
  index_t window = 9;        // moving-average points
  double tolerance = 0.01;   // a plateau's smoothed values span at most this much (max − min)
  double min_steps = 0;      // and it lasts at least this many steps
  // Look for the drop only from the start of the first plateau on: a training curve first
  // falls fast from its initial level (for Markov chains, from uniform to unigram), and that
  // early fall is usually steeper than the transition that follows the plateau.
  bool drop_after_first_plateau = false;
};

namespace detail {
inline void check_curve(std::span<const double> steps, std::span<const double> losses, const char* operation) {
  if (steps.size() != losses.size() || steps.size() < 2)
    throw shape_error(std::string(operation) + ": " + std::to_string(steps.size()) + " steps and " + std::to_string(losses.size()) +
                      " losses; expected equal counts, at least 2");
  for (std::size_t i = 1; i < steps.size(); ++i)
    if (!(steps[i] > steps[i - 1]))
      throw value_error(std::string(operation) + ": steps must increase, but step " + std::to_string(i) + " is " +
                        std::to_string(steps[i]) + " after " + std::to_string(steps[i - 1]));
}
}  // namespace detail

// The largest decrease per step between neighbouring points of an already smoothed curve.
inline std::optional<steepest_drop> find_steepest_drop(std::span<const double> steps, std::span<const double> smoothed) {
  detail::check_curve(steps, smoothed, "find_steepest_drop");
  std::optional<steepest_drop> best;
  for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
    const double slope = (smoothed[i + 1] - smoothed[i]) / (steps[i + 1] - steps[i]);
    if (slope < 0 && (!best || slope < best->slope)) best = steepest_drop{index_t(i), 0.5 * (steps[i] + steps[i + 1]), slope};
  }
  return best;
}

// Maximal runs of an already smoothed curve whose values span at most `tolerance`, lasting at
// least `min_steps`, found left to right without overlap.
inline std::vector<plateau> find_plateaus(std::span<const double> steps, std::span<const double> smoothed, double tolerance,
                                          double min_steps) {
  detail::check_curve(steps, smoothed, "find_plateaus");
  std::vector<plateau> found;
  const std::size_t n = steps.size();
  std::size_t first = 0;
  while (first < n) {
    double low = smoothed[first], high = smoothed[first], sum = smoothed[first];
    std::size_t last = first;
    while (last + 1 < n && std::max(high, smoothed[last + 1]) - std::min(low, smoothed[last + 1]) <= tolerance) {
      ++last;
      low = std::min(low, smoothed[last]);
      high = std::max(high, smoothed[last]);
      sum += smoothed[last];
    }
    if (last > first && steps[last] - steps[first] >= min_steps) {
      found.push_back({index_t(first), index_t(last), steps[first], steps[last], sum / double(last - first + 1)});
      first = last + 1;
    } else {
      ++first;
    }
  }
  return found;
}

// Smooths the curve, finds its plateaus and its steepest drop (after the first plateau, if
// asked), and picks the longest plateau (in steps) that ends at or before the drop.
inline transition_report analyse_transition(std::span<const double> steps, std::span<const double> losses,
                                            const transition_options& options = {}) {
  detail::check_curve(steps, losses, "analyse_transition");
  transition_report report;
  report.smoothed = moving_average(losses, options.window);
  report.plateaus = find_plateaus(steps, report.smoothed, options.tolerance, options.min_steps);
  const std::size_t search_from =
      options.drop_after_first_plateau && !report.plateaus.empty() ? std::size_t(report.plateaus.front().first) : 0;
  if (steps.size() - search_from >= 2) {
    report.drop = find_steepest_drop(steps.subspan(search_from), std::span<const double>(report.smoothed).subspan(search_from));
    if (report.drop) report.drop->index += index_t(search_from);
  }
  if (report.drop) {
    for (const plateau& p : report.plateaus) {
      if (p.last > report.drop->index) continue;
      if (!report.before_drop || p.last_step - p.first_step > report.before_drop->last_step - report.before_drop->first_step)
        report.before_drop = p;
    }
  }
  return report;
}

}  // namespace ranklens::interp
