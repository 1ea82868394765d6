// Entropy rates h = lim H(X_t | X_1..X_{t-1}) of the synthetic sources, in nats: the loss a
// perfect model of one fixed process reaches on long contexts.
//
// * Markov chain of context length c: h = sum_context pi(context) H(P_context,.).
// * Unifilar HMM: the state is a function of the start state and the tokens, and
//   h = sum_i pi_i H(P(x | i)) exactly.
// * Any HMM: bracketed by H(X_n | X_1..X_{n-1}, S_1) <= h <= H(X_n | X_1..X_{n-1}) (Cover &
//   Thomas, Elements of Information Theory, Thm 4.5.1), both by enumerating all blocks; or
//   estimated by Monte Carlo as the mean log-loss of the exact filter on long sequences.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/bayes_hmm_mixture.hpp"
#include "ranklens/data/hidden_markov.hpp"
#include "ranklens/data/markov_chain.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/running_mean.hpp"

namespace ranklens::data {

// Shannon entropy of a probability vector, in nats.
inline double entropy(std::span<const double> probabilities) {
  double h = 0.0;
  for (double p : probabilities) h -= p > 0.0 ? p * std::log(p) : 0.0;
  return h;
}

inline double markov_entropy_rate(const markov_chain& chain) {
  const std::vector<double> pi = chain.stationary_context_distribution();
  double h = 0.0;
  for (index_t c = 0; c < chain.contexts(); ++c) {
    h += pi[static_cast<std::size_t>(c)] * entropy(chain.row(c));
  }
  return h;
}

inline double unifilar_entropy_rate(const hidden_markov_model& hmm) {
  if (!hmm.unifilar()) {
    throw value_error(
        "unifilar_entropy_rate: the HMM is not unifilar; use "
        "hmm_entropy_rate_bounds or hmm_entropy_rate_sampled");
  }
  double h = 0.0;
  for (index_t i = 0; i < hmm.states(); ++i) {
    h += hmm.stationary()[static_cast<std::size_t>(i)] * entropy(hmm.emission_row(i));
  }
  return h;
}

struct entropy_rate_bounds {
  double lower = 0.0;  // H(X_n | X_1..X_{n-1}, S_1)
  double upper = 0.0;  // H(X_n | X_1..X_{n-1})
};

namespace detail {
// H(X_1..X_n) - H(X_1..X_{n-1}) for the process started from the (normalised) state
// distribution `start`, by depth-first enumeration of all blocks with forward vectors.
inline double block_entropy_increment(const hidden_markov_model& hmm,
                                      const std::vector<double>& start, index_t n) {
  const auto states = static_cast<std::size_t>(hmm.states());
  double entropy_n = 0.0, entropy_before = 0.0;
  // forward[j] = P(x_1..x_t, S_{t+1} = j).
  std::function<void(const std::vector<double>&, index_t)> visit =
      [&](const std::vector<double>& forward, index_t depth) {
        for (index_t x = 0; x < hmm.symbols(); ++x) {
          std::vector<double> next(states, 0.0);
          const auto matrix = hmm.symbol_matrix(x);
          double p = 0.0;
          for (std::size_t i = 0; i < states; ++i) {
            if (forward[i] == 0.0) continue;
            for (std::size_t j = 0; j < states; ++j) next[j] += forward[i] * matrix[i * states + j];
          }
          for (double v : next) p += v;
          if (p <= 0.0) continue;
          if (depth + 1 == n) {
            entropy_n -= p * std::log(p);
          } else {
            if (depth + 1 == n - 1) entropy_before -= p * std::log(p);
            visit(next, depth + 1);
          }
        }
      };
  visit(start, 0);
  return entropy_n - entropy_before;
}
}  // namespace detail

// Both bounds from blocks of n tokens; costs about symbols^n * states^2 operations for the
// upper bound and states times that for the lower one.
inline entropy_rate_bounds hmm_entropy_rate_bounds(const hidden_markov_model& hmm,
                                                   index_t block_length) {
  double blocks = 1.0;
  for (index_t i = 0; i < block_length; ++i) blocks *= static_cast<double>(hmm.symbols());
  if (block_length < 1 || blocks * static_cast<double>(hmm.states()) > 1e8) {
    throw value_error("hmm_entropy_rate_bounds: block length " + std::to_string(block_length) +
                      " is outside [1, a size whose enumeration is affordable]");
  }
  entropy_rate_bounds bounds;
  bounds.upper = detail::block_entropy_increment(hmm, hmm.stationary(), block_length);
  for (index_t i = 0; i < hmm.states(); ++i) {
    const double pi_i = hmm.stationary()[static_cast<std::size_t>(i)];
    if (pi_i == 0.0) continue;
    std::vector<double> from_i(static_cast<std::size_t>(hmm.states()), 0.0);
    from_i[static_cast<std::size_t>(i)] = 1.0;
    bounds.lower += pi_i * detail::block_entropy_increment(hmm, from_i, block_length);
  }
  return bounds;
}

struct entropy_rate_estimate {
  double value = 0.0;
  double standard_error = 0.0;  // 0 when exact
};

// Mean of -log p(x_t | x_<t) under the exact filter over positions burn_in .. length-1 of
// independent stationary sequences. Biased upwards by H(X_t | X_<t) - h at t = burn_in, which
// for a mixing HMM decays exponentially in burn_in.
inline entropy_rate_estimate hmm_entropy_rate_sampled(const hidden_markov_model& hmm,
                                                      std::uint64_t seed, index_t sequences = 64,
                                                      index_t length = 4096, index_t burn_in = 64) {
  if (sequences < 2 || burn_in < 0 || length <= burn_in) {
    throw value_error("hmm_entropy_rate_sampled: need sequences >= 2 and length > burn_in");
  }
  hmm_mixture_filter filter({{hmm, 1.0, 0}});
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(length));
  running_mean per_sequence;
  for (index_t s = 0; s < sequences; ++s) {
    Rng gen = Rng::for_stream(seed, static_cast<std::uint64_t>(s));
    hmm.sample_sequence(gen, tokens);
    filter.reset();
    double loss = 0.0;
    for (index_t t = 0; t < length; ++t) {
      const double p = filter.observe(tokens[static_cast<std::size_t>(t)]);
      if (t >= burn_in) loss -= std::log(p);
    }
    per_sequence.add(loss / static_cast<double>(length - burn_in));
  }
  return {per_sequence.mean(), per_sequence.standard_error()};
}

// Exact for unifilar HMMs, sampled otherwise.
inline entropy_rate_estimate hmm_entropy_rate(const hidden_markov_model& hmm,
                                              std::uint64_t seed = 0) {
  if (hmm.unifilar()) return {unifilar_entropy_rate(hmm), 0.0};
  return hmm_entropy_rate_sampled(hmm, seed);
}

}  // namespace ranklens::data
