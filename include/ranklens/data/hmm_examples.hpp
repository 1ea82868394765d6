// Standard processes of computational mechanics as edge-emitting HMMs (see hidden_markov.hpp),
// with their entropy rates where a closed form is known. Entropy rates are in nats; divide by
// ln 2 for the bits the literature quotes.
#pragma once
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "ranklens/core/error.hpp"
#include "ranklens/data/hidden_markov.hpp"

namespace ranklens::data {

// Entropy of a coin with probability p, in nats.
inline double binary_entropy(double p) {
  auto term = [](double q) { return q > 0.0 ? -q * std::log(q) : 0.0; };
  return term(p) + term(1.0 - p);
}

namespace detail {
inline void check_probability(double p, const char* what) {
  if (!(p >= 0.0 && p <= 1.0)) throw value_error(std::string(what) + " must lie in [0, 1]");
}
}  // namespace detail

// Mess3 (Marzen & Crutchfield, "Nearly maximally predictive features and their dimensions",
// Phys. Rev. E 2017; the belief-geometry example of Shai et al. 2024): three states, three
// symbols. The state stays with probability 1 - 2x and moves to each other state with
// probability x; the new state j then emits symbol j with probability a and each other symbol
// with probability (1 - a) / 2. So T^(s)[i][j] = P(i -> j) * P(s | j). Not unifilar: every
// symbol can lead to every state, and the belief states form a fractal in the simplex.
inline hidden_markov_model mess3(double x = 0.15, double a = 0.6) {
  detail::check_probability(2.0 * x, "mess3: 2x");
  detail::check_probability(a, "mess3: a");
  std::vector<double> matrices(27);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) {
        const double move = i == j ? 1.0 - 2.0 * x : x;
        const double emit = s == j ? a : (1.0 - a) / 2.0;
        matrices[static_cast<std::size_t>((s * 3 + i) * 3 + j)] = move * emit;
      }
    }
  }
  return {3, 3, std::move(matrices)};
}

// Random-random-XOR (Crutchfield & Feldman, "Regularities unseen, randomness observed",
// Chaos 2003): blocks of three bits, the first two fair coins (probabilities p1, p2 of a 0),
// the third their XOR. Unifilar, five states: S (block start), 0 / 1 (first bit seen), T / F
// (the XOR bit is 1 / 0).
inline hidden_markov_model rrxor(double p1 = 0.5, double p2 = 0.5) {
  detail::check_probability(p1, "rrxor: p1");
  detail::check_probability(p2, "rrxor: p2");
  enum : int { start = 0, saw0 = 1, saw1 = 2, xor_true = 3, xor_false = 4 };
  std::vector<double> matrices(2 * 5 * 5, 0.0);
  auto set = [&](int symbol, int from, int to, double p) {
    matrices[static_cast<std::size_t>((symbol * 5 + from) * 5 + to)] = p;
  };
  set(0, start, saw0, p1);
  set(1, start, saw1, 1.0 - p1);
  set(0, saw0, xor_false, p2);  // 0 xor 0 = 0
  set(1, saw0, xor_true, 1.0 - p2);
  set(0, saw1, xor_true, p2);  // 1 xor 0 = 1
  set(1, saw1, xor_false, 1.0 - p2);
  set(1, xor_true, start, 1.0);
  set(0, xor_false, start, 1.0);
  return {2, 5, std::move(matrices)};
}

// Two random bits and one determined bit per block of three: h = (H(p1) + H(p2)) / 3,
// which is 2/3 bit for fair coins (Crutchfield & Feldman 2003).
inline double rrxor_entropy_rate(double p1 = 0.5, double p2 = 0.5) {
  return (binary_entropy(p1) + binary_entropy(p2)) / 3.0;
}

// The even process (Crutchfield & Feldman 2003): ones come in runs of even length. State A
// emits 0 with probability p and stays, or emits 1 and goes to B; B emits 1 and returns to A.
// Unifilar, but not a Markov chain of any finite order.
inline hidden_markov_model even_process(double p = 0.5) {
  detail::check_probability(p, "even_process: p");
  // T^(0) = [[p, 0], [0, 0]], T^(1) = [[0, 1-p], [1, 0]].
  return {2, 2, {p, 0.0, 0.0, 0.0, /**/ 0.0, 1.0 - p, 1.0, 0.0}};
}

// The golden-mean process (no two consecutive ones): A emits 0 with probability p and stays,
// or emits 1 and goes to B; B must emit 0 and return to A. A Markov chain of order one.
inline hidden_markov_model golden_mean_process(double p = 0.5) {
  detail::check_probability(p, "golden_mean_process: p");
  // T^(0) = [[p, 0], [1, 0]], T^(1) = [[0, 1-p], [0, 0]].
  return {2, 2, {p, 0.0, 1.0, 0.0, /**/ 0.0, 1.0 - p, 0.0, 0.0}};
}

// Both two-state processes spend 1 / (2 - p) of the time in A, the only state with a choice:
// h = H(p) / (2 - p), 2/3 bit at p = 1/2.
inline double even_process_entropy_rate(double p = 0.5) { return binary_entropy(p) / (2.0 - p); }
inline double golden_mean_entropy_rate(double p = 0.5) { return binary_entropy(p) / (2.0 - p); }

inline double nats_to_bits(double nats) { return nats / std::numbers::ln2; }

}  // namespace ranklens::data
