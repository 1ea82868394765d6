// Stationary distribution of a finite Markov chain, by the GTH state-reduction algorithm
// (Grassmann, Taksar & Heyman, "Regenerative analysis and steady state distributions for
// Markov chains", Operations Research 1985). It only adds, multiplies and divides
// non-negative numbers (1 - P[n][n] is computed as the sum of the other entries of row n), so
// it stays accurate even for nearly decomposable chains, where solving pi (I - P) = 0 by
// elimination would cancel.
#pragma once
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::data {

// `transitions` is the row-stochastic (states x states) matrix, row-major. For a reducible
// chain the answer is one stationary distribution (mass on a closed class reachable from
// state 0), not a unique one.
inline std::vector<double> stationary_distribution(std::span<const double> transitions,
                                                   index_t states) {
  const auto n_states = static_cast<std::size_t>(states);
  if (states <= 0 || transitions.size() != n_states * n_states) {
    throw shape_error("stationary_distribution: matrix has " + std::to_string(transitions.size()) +
                      " entries, expected " + std::to_string(states) + " x " +
                      std::to_string(states));
  }
  std::vector<double> work(transitions.begin(), transitions.end());
  auto at = [&](std::size_t i, std::size_t j) -> double& { return work[i * n_states + j]; };
  std::vector<double> exit_rate(n_states, 0.0);
  // Censor the chain to states 0 .. n-1, one state at a time: a visit to n is replaced by
  // where the chain goes when it leaves n.
  for (std::size_t n = n_states - 1; n > 0; --n) {
    double leave = 0.0;
    for (std::size_t j = 0; j < n; ++j) leave += at(n, j);
    exit_rate[n] = leave;
    if (leave == 0.0) continue;  // n is absorbing in the censored chain; see below
    for (std::size_t i = 0; i < n; ++i) {
      const double via_n = at(i, n) / leave;
      if (via_n == 0.0) continue;
      for (std::size_t j = 0; j < n; ++j) at(i, j) += via_n * at(n, j);
    }
  }
  // Balance at state n of the chain censored to 0 .. n: pi_n * leave_n = sum_{i<n} pi_i P[i][n].
  // A state that cannot leave (or all but cannot: pi_n overflows) takes all the mass found so
  // far, which is the limit of the balance equation as leave_n -> 0.
  std::vector<double> pi(n_states, 0.0);
  pi[0] = 1.0;
  double total = 1.0;
  for (std::size_t n = 1; n < n_states; ++n) {
    double inflow = 0.0;
    for (std::size_t i = 0; i < n; ++i) inflow += pi[i] * at(i, n);
    const double balance = exit_rate[n] > 0.0 ? inflow / exit_rate[n] : 0.0;
    if (exit_rate[n] == 0.0 || !std::isfinite(balance) || balance > 1e250) {
      for (std::size_t i = 0; i < n; ++i) pi[i] = 0.0;
      pi[n] = 1.0;
      total = 1.0;
      continue;
    }
    pi[n] = balance;
    total += balance;
    if (total > 1e250) {  // keep the partial sums representable
      for (std::size_t i = 0; i <= n; ++i) pi[i] /= total;
      total = 1.0;
    }
  }
  for (double& p : pi) p /= total;
  return pi;
}

}  // namespace ranklens::data
