// Per-head scores that say which attention heads copy from the previous position and which
// look up "what followed the current token last time":
//
// * induction_scores: TransformerLens's test (Olsson et al. 2022, "In-context learning and
//   induction heads"). The input is a random sequence of length L repeated twice; at position
//   i of the second half the same token sat at i − L, so an induction head attends to the token
//   after it, at i − (L − 1). Induction score = mean attention on that key over the second half;
//   previous-token score = mean attention on key i − 1 over positions 1 .. 2L − 1.
// * statistical_induction_scores: the head that in-context Markov learning needs (Edelman et
//   al. 2024, "The evolution of statistical induction heads"): on any sequence, the attention
//   mass that query i puts on keys j whose preceding token x_{j−1} equals x_i, i.e. on every
//   earlier observed successor of the current token. With two tokens a repeated sequence has
//   many earlier matches besides i − L, so a head that averages over all of them scores near
//   1 here but well below 1 on the repeated-sequence test.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/distributions.hpp"
#include "ranklens/core/random.hpp"
#include "ranklens/interp/attention_pattern.hpp"

namespace ranklens::interp {

// One value per head, averaged over the batch and the positions that count.
struct head_scores {
  std::vector<double> induction;
  std::vector<double> previous_token;
};

// `batch` rows of 2·half_length tokens, row-major: tokens drawn uniformly from [0, vocab)
// (row b from stream (seed, b)), then the same half_length tokens again.
inline std::vector<std::int32_t> repeated_random_tokens(index_t vocab, index_t half_length, index_t batch, std::uint64_t seed) {
  if (vocab < 1 || half_length < 1 || batch < 1)
    throw value_error("repeated_random_tokens: vocab, half_length and batch must be positive, got " + std::to_string(vocab) + ", " +
                      std::to_string(half_length) + ", " + std::to_string(batch));
  std::vector<std::int32_t> tokens(std::size_t(batch * 2 * half_length));
  for (index_t b = 0; b < batch; ++b) {
    Rng gen = Rng::for_stream(seed, std::uint64_t(b));
    std::int32_t* row = tokens.data() + b * 2 * half_length;
    for (index_t t = 0; t < half_length; ++t) row[t] = std::int32_t(uniform_below(gen, std::uint64_t(vocab)));
    for (index_t t = 0; t < half_length; ++t) row[half_length + t] = row[t];
  }
  return tokens;
}

// pattern: (batch, heads, 2L, 2L) on sequences made by repeated_random_tokens(·, L, ·, ·).
template <AttentionPattern P>
head_scores induction_scores(const P& pattern, index_t half_length) {
  if (half_length < 2) throw value_error("induction_scores: half_length must be at least 2, got " + std::to_string(half_length));
  detail::check_pattern_shape(pattern, 2 * half_length, "induction_scores");
  const index_t batch = pattern.extent(0), heads = pattern.extent(1), seq = 2 * half_length;
  head_scores scores{std::vector<double>(std::size_t(heads)), std::vector<double>(std::size_t(heads))};
  for (index_t h = 0; h < heads; ++h) {
    double induction = 0, previous = 0;
    for (index_t b = 0; b < batch; ++b) {
      for (index_t i = half_length; i < seq; ++i) induction += double(pattern(b, h, i, i - (half_length - 1)));
      for (index_t i = 1; i < seq; ++i) previous += double(pattern(b, h, i, i - 1));
    }
    scores.induction[std::size_t(h)] = induction / double(batch * half_length);
    scores.previous_token[std::size_t(h)] = previous / double(batch * (seq - 1));
  }
  return scores;
}

// pattern: (batch, heads, seq, seq) on `tokens` (batch rows of seq, row-major). For each head,
// the mean over queries i ≥ 1 that have at least one match of the attention on keys
// j ∈ [1, i] with tokens[j − 1] == tokens[i]; the previous-token score as above.
template <AttentionPattern P>
head_scores statistical_induction_scores(const P& pattern, std::span<const std::int32_t> tokens) {
  const index_t batch = pattern.extent(0), heads = pattern.extent(1), seq = pattern.extent(2);
  detail::check_pattern_shape(pattern, seq, "statistical_induction_scores");
  if (tokens.size() != std::size_t(batch * seq))
    throw shape_error("statistical_induction_scores: " + std::to_string(tokens.size()) + " tokens for a pattern of batch " +
                      std::to_string(batch) + " and sequence length " + std::to_string(seq));
  if (seq < 2) throw value_error("statistical_induction_scores: sequences must be at least 2 tokens long");
  head_scores scores{std::vector<double>(std::size_t(heads)), std::vector<double>(std::size_t(heads))};
  for (index_t h = 0; h < heads; ++h) {
    double induction = 0, previous = 0;
    index_t queries_with_a_match = 0;
    for (index_t b = 0; b < batch; ++b) {
      const std::int32_t* row = tokens.data() + b * seq;
      for (index_t i = 1; i < seq; ++i) {
        previous += double(pattern(b, h, i, i - 1));
        double mass = 0;
        bool matched = false;
        for (index_t j = 1; j <= i; ++j) {
          if (row[j - 1] != row[i]) continue;
          matched = true;
          mass += double(pattern(b, h, i, j));
        }
        if (!matched) continue;
        induction += mass;
        ++queries_with_a_match;
      }
    }
    scores.induction[std::size_t(h)] = queries_with_a_match > 0 ? induction / double(queries_with_a_match) : 0.0;
    scores.previous_token[std::size_t(h)] = previous / double(batch * (seq - 1));
  }
  return scores;
}

}  // namespace ranklens::interp
