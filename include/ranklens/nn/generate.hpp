// Autoregressive generation from a Transformer: the prompt is read in one forward that fills a
// KvCache, then every new token costs one forward of a single position.
//
//   GenerationOptions options{.max_new_tokens = 20, .temperature = 0.8, .top_k = 40, .seed = 7};
//   auto continuations = generate(model, prompts, options);   // prompts: (batch, length) int32
//
// Next tokens are chosen greedily (temperature 0: the most likely token, the lowest id on a
// tie) or sampled from softmax(logits / temperature), optionally among the top_k most likely
// tokens only (Fan, Lewis & Dauphin 2018). Sampling uses core/random.hpp's generator, one
// stream per row (Rng::for_stream(seed, row)), so a row's tokens depend on the seed and its own
// logits only: not on the other rows of the batch, and the same on every platform.
//
// A row that emits the stop token ends there (the stop token is the last one returned for it);
// generation ends when every row has ended or after max_new_tokens.
//
// On any device: the model and its KvCache stay on D, and only the logits of each step's last
// position (batch × vocab) come to the host, where the tokens are chosen; so a model gives the
// same tokens on every device, up to the rounding of its logits.
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ranklens/core/random.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/nn/kv_cache.hpp"
#include "ranklens/nn/transformer.hpp"

namespace ranklens {

struct GenerationOptions {
  index_t max_new_tokens = 16;
  double temperature = 0;                  // 0: greedy; > 0: sample from softmax(logits / temperature)
  index_t top_k = 0;                       // when sampling and > 0: only among the top_k most likely tokens
  std::optional<std::int32_t> stop_token{};  // a row ends once it has emitted this token
  std::uint64_t seed = 0;                  // row b samples from Rng::for_stream(seed, b)
};

namespace detail {
inline void check_generation_options(const GenerationOptions& options) {
  if (options.max_new_tokens < 0)
    throw value_error("generate: max_new_tokens must be >= 0, got " + std::to_string(options.max_new_tokens));
  if (!(options.temperature >= 0) || !std::isfinite(options.temperature))
    throw value_error("generate: temperature must be finite and >= 0, got " + std::to_string(options.temperature));
  if (options.top_k < 0) throw value_error("generate: top_k must be >= 0, got " + std::to_string(options.top_k));
}
}  // namespace detail

// The next token for one row of logits (vocab_size entries), as GenerationOptions describes.
template <Real T>
std::int32_t choose_next_token(std::span<const T> logits, const GenerationOptions& options, Rng& generator) {
  detail::check_generation_options(options);
  const index_t vocab = index_t(logits.size());
  if (vocab == 0) throw value_error("choose_next_token: the logits are empty");
  for (index_t i = 0; i < vocab; ++i)
    if (std::isnan(double(logits[std::size_t(i)])))
      throw value_error("choose_next_token: logit " + std::to_string(i) + " is NaN");
  if (options.temperature == 0) return std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());

  // The candidates: every token, or the top_k most likely (higher logit first, then lower id).
  std::vector<std::int32_t> candidates(std::size_t(vocab), 0);
  for (index_t i = 0; i < vocab; ++i) candidates[std::size_t(i)] = std::int32_t(i);
  if (options.top_k > 0 && options.top_k < vocab) {
    const auto more_likely = [&](std::int32_t a, std::int32_t b) {
      const T la = logits[std::size_t(a)], lb = logits[std::size_t(b)];
      return la > lb || (la == lb && a < b);
    };
    std::nth_element(candidates.begin(), candidates.begin() + options.top_k - 1, candidates.end(), more_likely);
    candidates.resize(std::size_t(options.top_k));
    std::sort(candidates.begin(), candidates.end());  // draw in id order, whatever nth_element left
  }
  // softmax(logits / temperature) over the candidates, shifted by the largest for exp's range.
  double largest = -std::numeric_limits<double>::infinity();
  for (std::int32_t c : candidates) largest = std::max(largest, double(logits[std::size_t(c)]));
  if (!std::isfinite(largest)) throw value_error("choose_next_token: no candidate token has a finite logit");
  std::vector<double> probabilities(candidates.size());
  double total = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i)
    total += probabilities[i] = std::exp((double(logits[std::size_t(candidates[i])]) - largest) / options.temperature);
  for (double& p : probabilities) p /= total;
  return candidates[std::size_t(data::categorical(generator, probabilities))];
}

// Continues every row of `prompts` (batch, length ≥ 1; host memory) and returns each row's new
// tokens. Runs under no_grad; the model is only read.
template <TransformerConfig C, Real T, Device D>
std::vector<std::vector<std::int32_t>> generate(const Transformer<C, T, D>& model, TensorView<const std::int32_t, Shape<dyn, dyn>> prompts,
                                                const GenerationOptions& options = {}) {
  detail::check_generation_options(options);
  const index_t batch = prompts.extent(0), prompt_length = prompts.extent(1);
  if (batch < 1 || prompt_length < 1)
    throw shape_error("generate: the prompts must hold at least one token in each of at least one row, got shape " +
                      to_string(prompts.shape()));
  std::vector<std::vector<std::int32_t>> generated(static_cast<std::size_t>(batch));
  if (options.max_new_tokens == 0) return generated;
  // The last new token is returned but never read back, so it needs no position of its own.
  const index_t positions_read = prompt_length + options.max_new_tokens - 1;
  const transformer_dims& sizes = model.dims();
  if (C::positions == position_kind::learned && positions_read > sizes.max_positions)
    throw value_error("generate: a prompt of " + std::to_string(prompt_length) + " tokens and " +
                      std::to_string(options.max_new_tokens) + " new ones need " + std::to_string(positions_read) +
                      " positions; the model's learned position table has " + std::to_string(sizes.max_positions));

  auto guard = no_grad();
  KvCache<C, T, D> cache(sizes, batch, positions_read);
  std::vector<Rng> generators;
  for (index_t b = 0; b < batch; ++b) generators.push_back(Rng::for_stream(options.seed, std::uint64_t(b)));
  std::vector<bool> ended(std::size_t(batch), false);
  index_t running = batch;
  Tensor<std::int32_t, Shape<dyn, dyn>> next_tokens(Shape<dyn, dyn>{batch, 1});
  std::vector<T> row(std::size_t(sizes.vocab_size));

  // Picks each running row's next token from the logits of its last position.
  const auto choose = [&](const typename Transformer<C, T, D>::logits_type& logits) {
    const index_t length = logits.extent(1);
    // (batch, vocab): read in place on the CPU, a host copy of the last position elsewhere.
    const auto host_last = [&] {
      if constexpr (std::same_as<D, cpu_t>)
        return 0;
      else
        return to_host(contiguous(slice<1>(logits, length - 1, length)).value());
    }();
    const auto last = [&] {
      if constexpr (std::same_as<D, cpu_t>)
        return select<1>(logits.value(), length - 1);
      else
        return select<1>(host_last.view(), 0);
    }();
    for (index_t b = 0; b < batch; ++b) {
      if (ended[std::size_t(b)]) {
        next_tokens(b, 0) = *options.stop_token;  // a placeholder: this row's logits are no longer read
        continue;
      }
      for (index_t v = 0; v < sizes.vocab_size; ++v) row[std::size_t(v)] = last(b, v);
      const std::int32_t token = choose_next_token<T>(row, options, generators[std::size_t(b)]);
      generated[std::size_t(b)].push_back(token);
      next_tokens(b, 0) = token;
      if (options.stop_token && token == *options.stop_token) {
        ended[std::size_t(b)] = true;
        --running;
      }
    }
  };

  {
    const auto prompt_tokens = to_tensor(prompts);  // contiguous, as the embedding reads it
    auto step = tape();
    choose(model(prompt_tokens, cache));
  }
  for (index_t n = 1; n < options.max_new_tokens && running > 0; ++n) {
    auto step = tape();
    choose(model(next_tokens, cache));
  }
  return generated;
}

// One prompt: its new tokens.
template <TransformerConfig C, Real T, Device D>
std::vector<std::int32_t> generate(const Transformer<C, T, D>& model, std::span<const std::int32_t> prompt, const GenerationOptions& options = {}) {
  const TensorView<const std::int32_t, Shape<dyn, dyn>> prompts(prompt.data(), Shape<dyn, dyn>{1, index_t(prompt.size())});
  return std::move(generate(model, prompts, options).front());
}

}  // namespace ranklens
