// Specification of data/token_batch.hpp: a batch is a pure function of (source, seed, shape),
// whatever the thread count, and row i is the sequence of stream (seed, i).
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <vector>

#include "ranklens/data/markov_chain.hpp"
#include "ranklens/data/token_batch.hpp"

namespace data_test_token_batch {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("a batch holds batch x seq_len tokens, row-major, from the source's vocabulary",
          "[data][batch]") {
  const dirichlet_markov_source source{5, 0.5};
  const token_batch batch = sample_batch(source, 11, 4, 32);
  CHECK(batch.batch == 4);
  CHECK(batch.seq_len == 32);
  REQUIRE(batch.tokens.size() == 4 * 32);
  for (auto token : batch.tokens) {
    CHECK(token >= 0);
    CHECK(token < 5);
  }
  CHECK(batch.at(2, 5) == batch.tokens[2 * 32 + 5]);
  CHECK(batch.row(3).data() == batch.tokens.data() + 3 * 32);
}

TEST_CASE("row i is the sequence drawn from stream (seed, i)", "[data][batch]") {
  const dirichlet_markov_source source{3, 1.0};
  const token_batch batch = sample_batch(source, 5, 6, 20);
  std::vector<std::int32_t> row(20);
  Rng gen = Rng::for_stream(5, 4);
  source.sample_sequence(gen, row);
  CHECK(std::vector<std::int32_t>(batch.row(4).begin(), batch.row(4).end()) == row);
}

TEST_CASE("batches depend on the seed but not on the number of threads", "[data][batch]") {
  const dirichlet_markov_source source{4, 1.0};
  const auto single = sample_batch(source, 9, 37, 50, 1);
  const auto threaded = sample_batch(source, 9, 37, 50, 3);
  const auto other_seed = sample_batch(source, 10, 37, 50, 1);
  CHECK(single.tokens == threaded.tokens);
  CHECK(single.tokens != other_seed.tokens);
}

TEST_CASE("an output span of the wrong size is rejected", "[data][batch]") {
  const dirichlet_markov_source source{2, 1.0};
  std::vector<std::int32_t> out(10);
  CHECK_THROWS_AS(sample_batch_into(source, 0, 3, 4, out), shape_error);
}

TEST_CASE("Markov batch generation speed", "[.][data][slow][benchmark]") {
  // Hidden; run with the tag [benchmark]. Prints single-threaded tokens per second for
  // 64 x 256 batches of random chains, by wall clock and per second of CPU time (the two
  // differ when other processes share the cores).
  for (const index_t states : {2, 3, 10}) {
    const dirichlet_markov_source source{states, 1.0};
    constexpr int batches = 400;
    std::int64_t checksum = 0;
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    for (int b = 0; b < batches; ++b) checksum += sample_batch(source, b, 64, 256).tokens[7];
    const double cpu_seconds = double(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double tokens = batches * 64.0 * 256.0;
    WARN(states << " states: " << tokens / seconds / 1e6 << " M tokens/s wall, "
                << tokens / cpu_seconds / 1e6 << " M tokens per CPU second (checksum " << checksum
                << ")");
  }
}

}  // namespace data_test_token_batch
