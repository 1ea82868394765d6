// A batch of token sequences, and the one way every synthetic source fills it.
//
// A source is anything that models `token_process`: it knows its vocabulary size and writes
// one sequence into a span from a generator. Sequence i of a batch is always drawn from
// Rng::for_stream(seed, i), so a batch depends only on (source, seed, batch, seq_len): not on
// the number of threads, nor on which sequences were drawn before.
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/random.hpp"

namespace ranklens::data {

template <class P>
concept token_process = requires(const P& process, Rng& gen, std::span<std::int32_t> out) {
  { process.vocab_size() } -> std::convertible_to<index_t>;
  process.sample_sequence(gen, out);
};

// Tokens of shape (batch, seq_len), row-major: row b is sequence b.
struct token_batch {
  index_t batch = 0;
  index_t seq_len = 0;
  std::vector<std::int32_t> tokens;

  std::span<std::int32_t> row(index_t b) {
    return {tokens.data() + b * seq_len, static_cast<std::size_t>(seq_len)};
  }
  std::span<const std::int32_t> row(index_t b) const {
    return {tokens.data() + b * seq_len, static_cast<std::size_t>(seq_len)};
  }
  std::int32_t at(index_t b, index_t t) const {
    return tokens[static_cast<std::size_t>(b * seq_len + t)];
  }
};

// Fills `out` (batch * seq_len tokens, row-major) with sequences b = 0 .. batch-1 drawn from
// the streams (seed, first_index + b). `threads` > 1 splits rows among threads; the result is
// the same for every thread count.
template <token_process P>
void sample_batch_into(const P& process, std::uint64_t seed, index_t batch, index_t seq_len,
                       std::span<std::int32_t> out, std::uint64_t first_index = 0,
                       int threads = 1) {
  if (batch < 0 || seq_len < 0 || out.size() != static_cast<std::size_t>(batch * seq_len)) {
    throw shape_error("sample_batch: output holds " + std::to_string(out.size()) +
                      " tokens, expected batch * seq_len = " + std::to_string(batch) + " * " +
                      std::to_string(seq_len));
  }
  auto fill_rows = [&](index_t begin, index_t end) {
    for (index_t b = begin; b < end; ++b) {
      Rng gen = Rng::for_stream(seed, first_index + static_cast<std::uint64_t>(b));
      process.sample_sequence(gen, out.subspan(static_cast<std::size_t>(b * seq_len),
                                               static_cast<std::size_t>(seq_len)));
    }
  };
  const index_t workers = std::clamp<index_t>(threads, 1, std::max<index_t>(batch, 1));
  if (workers == 1) {
    fill_rows(0, batch);
    return;
  }
  // An exception may not leave a thread; keep the first one and rethrow it here.
  std::vector<std::exception_ptr> failures(static_cast<std::size_t>(workers));
  {
    std::vector<std::jthread> pool;
    pool.reserve(static_cast<std::size_t>(workers));
    for (index_t w = 0; w < workers; ++w) {
      pool.emplace_back([&, w] {
        try {
          fill_rows(batch * w / workers, batch * (w + 1) / workers);
        } catch (...) {
          failures[static_cast<std::size_t>(w)] = std::current_exception();
        }
      });
    }
  }
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

template <token_process P>
token_batch sample_batch(const P& process, std::uint64_t seed, index_t batch, index_t seq_len,
                         int threads = 1) {
  token_batch result{batch, seq_len, {}};
  result.tokens.resize(static_cast<std::size_t>(std::max<index_t>(batch * seq_len, 0)));
  sample_batch_into(process, seed, batch, seq_len, std::span<std::int32_t>(result.tokens), 0,
                    threads);
  return result;
}

}  // namespace ranklens::data
