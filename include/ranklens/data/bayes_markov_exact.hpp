// The exact Bayes predictor for random Dirichlet chains whose first token is drawn from the
// chain's own stationary distribution (chain_start::stationary).
//
// Then x_1 carries information about the chain, and the posterior over the transition matrix
// P given x_1..x_t is
//
//     p(P | x_1..x_t)  ∝  pi_P(x_1) * prod_i Dir(P_i | alpha + n_i),
//
// no longer a product of Dirichlets because of the factor pi_P(x_1). The predictive is the
// posterior mean of the current row, E[P_{x_t, j} | x_1..x_t].
//
// Two states: P = [[1 - a, a], [b, 1 - b]] and pi_P(0) = b / (a + b), pi_P(1) = a / (a + b).
// The predictive is a ratio of two integrals over the unit square against the product of
// the Beta(alpha + n01, alpha + n00) and Beta(alpha + n10, alpha + n11) rows. They are done in
// logit coordinates z = log(a / (1 - a)), where a Beta(A, B) density becomes the smooth,
// log-concave, exponentially decaying e^(A z) / (1 + e^z)^(A + B), and where pi_P has no
// corner at a = b = 0 any more. The integrands are then analytic in the strip |Im z| < pi, so
// the trapezoidal rule converges geometrically as the step shrinks (Trefethen & Weideman, "The
// exponentially convergent trapezoidal rule", SIAM Review 2014). Nodes are evenly spaced from
// the mode outwards until the density has fallen by e^-32; see logit_quadrature_settings.
// Cost: about (nodes per axis)^2, 3-30 microseconds per prediction for alpha = 1.
//
// More states: self-normalised importance sampling, drawing P from the Dirichlet part and
// weighting by pi_P(x_1), with a delta-method standard error.
#pragma once
#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/bayes_markov.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/stationary_distribution.hpp"

namespace ranklens::data {

// Step and truncation of the logit-space trapezoidal rule. The defaults keep predictive
// probabilities within ~1e-10 of a rule with four times smaller steps (measured for alpha
// 0.3, 1 and 2.5, up to 1000 tokens); max_step 0.6 with width_fraction 0.75 runs about twice
// as fast at ~1e-7.
struct logit_quadrature_settings {
  double max_step = 0.4;        // trapezoid step in z never exceeds this ...
  double width_fraction = 0.6;  // ... nor this fraction of the posterior width sqrt(1/A + 1/B)
  double tail_drop = 32.0;      // nodes stop where the density is e^-tail_drop of its peak
};

class two_state_exact_bayes {
 public:
  explicit two_state_exact_bayes(double alpha, logit_quadrature_settings settings = {})
      : alpha_(alpha), settings_(settings) {
    if (!(alpha > 0.0) || !std::isfinite(alpha)) {
      throw value_error("two_state_exact_bayes: alpha must be positive and finite");
    }
  }

  double alpha() const noexcept { return alpha_; }

  // p(x_{t+1} = 0 or 1 | x_1..x_t) into out[0], out[1].
  void predictive(const transition_counts& counts, std::span<double> out) const {
    check(counts, out.size());
    if (counts.length() == 0) {  // E[pi_P] = (1/2, 1/2) by the symmetry a <-> b
      out[0] = out[1] = 0.5;
      return;
    }
    const bool predict_from_zero = counts.current_context() == 0;
    const double switch_probability = posterior_sums(counts, predict_from_zero ? 1 : 2).moment;
    out[predict_from_zero ? 1 : 0] = switch_probability;  // P(0 -> 1) or P(1 -> 0)
    out[predict_from_zero ? 0 : 1] = 1.0 - switch_probability;
  }

  // log p(x_1..x_t), the marginal probability of the prefix under the prior.
  double log_evidence(const transition_counts& counts) const {
    check(counts, 2);
    if (counts.length() == 0) return 0.0;
    return posterior_sums(counts, 0).log_evidence;
  }

 private:
  // Trapezoidal nodes in logit coordinates for the density a^A (1 - a)^B dz, scaled by
  // exp(-log_peak); values are a = 1 / (1 + e^-z).
  struct axis_rule {
    std::vector<double> value;
    std::vector<double> weight;
    double log_peak = 0.0;
    double step = 0.0;
  };

  static double softplus(double z) noexcept {  // log(1 + e^z) without overflow
    return z > 0.0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
  }

  axis_rule logit_axis(double a_power, double b_power) const {
    // Beyond |z| = 700, e^-|z| leaves the normal doubles; the mass there is below e^-700 alpha.
    constexpr double z_limit = 700.0;
    auto log_density = [&](double z) { return a_power * z - (a_power + b_power) * softplus(z); };
    const double mode = std::log(a_power / b_power);
    const double width = std::sqrt(1.0 / a_power + 1.0 / b_power);
    axis_rule rule;
    rule.step = std::min(settings_.max_step, settings_.width_fraction * width);
    rule.log_peak = log_density(mode);
    // The log density is concave, so it falls monotonically on both sides of the mode.
    auto add_node = [&](double z) {
      const double drop = rule.log_peak - log_density(z);
      if (drop > settings_.tail_drop || std::abs(z) > z_limit) return false;
      rule.value.push_back(1.0 / (1.0 + std::exp(-z)));
      rule.weight.push_back(std::exp(-drop));
      return true;
    };
    add_node(mode);
    for (index_t m = 1; add_node(mode + static_cast<double>(m) * rule.step); ++m) continue;
    for (index_t m = 1; add_node(mode - static_cast<double>(m) * rule.step); ++m) continue;
    return rule;
  }

  struct sums {
    double moment = 0.0;        // posterior mean of a (which = 1) or b (which = 2)
    double log_evidence = 0.0;  // which = 0
  };

  sums posterior_sums(const transition_counts& counts, int which) const {
    const auto n = [&](index_t from, index_t to) {
      return static_cast<double>(counts.transitions(from, to));
    };
    const axis_rule a = logit_axis(alpha_ + n(0, 1), alpha_ + n(0, 0));  // a = P(0 -> 1)
    const axis_rule b = logit_axis(alpha_ + n(1, 0), alpha_ + n(1, 1));  // b = P(1 -> 0)
    // pi_P(x_1) is b / (a + b) or a / (a + b). With r_j = G_j / (a_i + b_j), the sums over j
    // needed are S0 = sum r_j, S1 = sum r_j b_j, S2 = sum r_j b_j^2; see the table below.
    const bool first_is_zero = counts.first_token() == 0;
    const bool need_s2 = first_is_zero && which == 2;
    double evidence = 0.0, moment = 0.0;
    for (std::size_t i = 0; i < a.value.size(); ++i) {
      const double ai = a.value[i];
      // Four independent partial sums, so that the compiler may keep them in vector lanes.
      double s0[4] = {}, s1[4] = {}, s2[4] = {};
      const std::size_t nb = b.value.size();
      std::size_t j = 0;
      for (; j + 4 <= nb; j += 4) {
        for (std::size_t lane = 0; lane < 4; ++lane) {
          const double bj = b.value[j + lane];
          const double r = b.weight[j + lane] / (ai + bj);
          s0[lane] += r;
          s1[lane] += r * bj;
          if (need_s2) s2[lane] += r * bj * bj;
        }
      }
      for (; j < nb; ++j) {
        const double bj = b.value[j];
        const double r = b.weight[j] / (ai + bj);
        s0[0] += r;
        s1[0] += r * bj;
        if (need_s2) s2[0] += r * bj * bj;
      }
      const double sum0 = (s0[0] + s0[1]) + (s0[2] + s0[3]);
      const double sum1 = (s1[0] + s1[1]) + (s1[2] + s1[3]);
      const double sum2 = (s2[0] + s2[1]) + (s2[2] + s2[3]);
      const double fi = a.weight[i];
      //                 evidence      E[a] numerator     E[b] numerator
      // x_1 = 0:        F S1          F a S1             F S2
      // x_1 = 1:        F a S0        F a^2 S0           F a S1
      if (first_is_zero) {
        evidence += fi * sum1;
        moment += fi * (which == 1 ? ai * sum1 : sum2);
      } else {
        evidence += fi * ai * sum0;
        moment += fi * ai * (which == 1 ? ai * sum0 : sum1);
      }
    }
    sums result;
    result.moment = moment / evidence;
    // Undo the scalings, and divide by the Beta(alpha, alpha) normaliser of each prior row.
    const double log_prior_normaliser =
        2.0 * (2.0 * std::lgamma(alpha_) - std::lgamma(2.0 * alpha_));
    result.log_evidence = std::log(evidence) + a.log_peak + b.log_peak + std::log(a.step) +
                          std::log(b.step) - log_prior_normaliser;
    return result;
  }

  void check(const transition_counts& counts, std::size_t out_size) const {
    if (counts.states() != 2 || counts.context_length() != 1 || out_size != 2) {
      throw shape_error(
          "two_state_exact_bayes: needs first-order counts over 2 states and a "
          "2-entry output; got " +
          std::to_string(counts.states()) + " states, context " +
          std::to_string(counts.context_length()) + ", output " + std::to_string(out_size));
    }
  }

  double alpha_;
  logit_quadrature_settings settings_;
};

// An estimate of a predictive distribution together with its Monte Carlo standard errors.
struct predictive_estimate {
  std::vector<double> probabilities;
  std::vector<double> standard_errors;
  double effective_samples = 0.0;  // (sum w)^2 / sum w^2, Kish's effective sample size
};

// Any number of states: self-normalised importance sampling with the Dirichlet posterior
// prod_i Dir(alpha + n_i) as proposal and weight pi_P(x_1). The estimate has a bias of order
// 1 / samples; the standard errors are the usual delta-method ones.
inline predictive_estimate stationary_start_predictive_sampled(const transition_counts& counts,
                                                               double alpha, index_t samples,
                                                               Rng& gen) {
  const index_t k = counts.states();
  if (counts.context_length() != 1 || samples < 2) {
    throw value_error(
        "stationary_start_predictive_sampled: needs first-order counts and at "
        "least 2 samples");
  }
  const auto ks = static_cast<std::size_t>(k);
  predictive_estimate result{std::vector<double>(ks, 1.0 / static_cast<double>(k)),
                             std::vector<double>(ks, 0.0), 0.0};
  if (counts.length() == 0) return result;  // E[pi_P] is uniform by symmetry
  const index_t first = counts.first_token(), current = counts.current_context();
  std::vector<double> concentration(ks), matrix(ks * ks), weights;
  std::vector<double> rows;  // the sampled current row, samples x k
  weights.reserve(static_cast<std::size_t>(samples));
  rows.reserve(static_cast<std::size_t>(samples) * ks);
  for (index_t s = 0; s < samples; ++s) {
    for (index_t i = 0; i < k; ++i) {
      for (index_t j = 0; j < k; ++j) {
        concentration[static_cast<std::size_t>(j)] =
            alpha + static_cast<double>(counts.transitions(i, j));
      }
      dirichlet(gen, concentration, {matrix.data() + i * k, ks});
    }
    weights.push_back(stationary_distribution(matrix, k)[static_cast<std::size_t>(first)]);
    rows.insert(rows.end(), matrix.begin() + current * k, matrix.begin() + (current + 1) * k);
  }
  double total = 0.0, total_squared = 0.0;
  for (double w : weights) total += w, total_squared += w * w;
  for (std::size_t j = 0; j < ks; ++j) {
    double mean = 0.0;
    for (std::size_t s = 0; s < weights.size(); ++s) mean += weights[s] * rows[s * ks + j];
    mean /= total;
    double spread = 0.0;
    for (std::size_t s = 0; s < weights.size(); ++s) {
      const double deviation = weights[s] * (rows[s * ks + j] - mean);
      spread += deviation * deviation;
    }
    result.probabilities[j] = mean;
    result.standard_errors[j] = std::sqrt(spread) / total;
  }
  result.effective_samples = total * total / total_squared;
  return result;
}

}  // namespace ranklens::data
