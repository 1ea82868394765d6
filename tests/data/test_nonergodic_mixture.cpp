// Specification of data/nonergodic_mixture.hpp: one component per sequence, drawn by weight,
// its tokens shifted by the component's offset, optionally after a BOS token.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/data/coin_mixture.hpp"
#include "ranklens/data/hmm_examples.hpp"
#include "ranklens/data/markov_chain.hpp"
#include "ranklens/data/name_copying.hpp"
#include "ranklens/data/nonergodic_mixture.hpp"
#include "ranklens/data/token_batch.hpp"

namespace data_test_nonergodic_mixture {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("default offsets stack the component vocabularies, BOS comes last", "[data][mixture]") {
  nonergodic_mixture mixture;
  mixture.add(dirichlet_markov_source{3, 1.0}, 1.0)
      .add(mess3(), 1.0)
      .add(name_copying_source{4, 2, 0.1}, 2.0)
      .with_bos();
  CHECK(mixture.components() == 3);
  CHECK(mixture.offset(0) == 0);
  CHECK(mixture.offset(1) == 3);
  CHECK(mixture.offset(2) == 6);
  CHECK(mixture.vocab_size() == 3 + 3 + 7 + 1);
  CHECK(mixture.bos_token() == 13);
  CHECK(mixture.weight(2) == Approx(0.5));
}

TEST_CASE(
    "each sequence stays inside the range of the component it drew, in proportion to "
    "the weights",
    "[data][mixture]") {
  nonergodic_mixture mixture;
  mixture.add(coin_mixture_source{2}, 1.0).add(golden_mean_process(), 3.0).with_bos();
  std::vector<std::int32_t> tokens(50);
  std::vector<int> drawn(2, 0);
  constexpr int sequences = 8000;
  for (int s = 0; s < sequences; ++s) {
    Rng gen = Rng::for_stream(1, static_cast<std::uint64_t>(s));
    const index_t c = mixture.sample_sequence_and_component(gen, tokens);
    ++drawn[static_cast<std::size_t>(c)];
    REQUIRE(tokens[0] == *mixture.bos_token());
    int outside = 0;
    for (std::size_t t = 1; t < tokens.size(); ++t) {
      outside += tokens[t] < mixture.offset(c) ||
                 tokens[t] >= mixture.offset(c) + mixture.component_vocab_size(c);
    }
    REQUIRE(outside == 0);
  }
  CHECK(std::abs(drawn[1] / double(sequences) - 0.75) < 5 * std::sqrt(0.75 * 0.25 / sequences));
}

TEST_CASE("equal offsets make components share token ids", "[data][mixture]") {
  nonergodic_mixture mixture;
  mixture.add(even_process(), 1.0, 0).add(golden_mean_process(), 1.0, 0);
  CHECK(mixture.vocab_size() == 2);
  CHECK_FALSE(mixture.bos_token().has_value());
  const token_batch batch = sample_batch(mixture, 3, 16, 40);
  for (auto x : batch.tokens) CHECK((x == 0 || x == 1));
}

TEST_CASE("bad components and an empty mixture are rejected", "[data][mixture]") {
  nonergodic_mixture mixture;
  Rng gen(0);
  std::vector<std::int32_t> tokens(3);
  CHECK_THROWS_AS(mixture.sample_sequence(gen, tokens), value_error);
  CHECK_THROWS_AS(mixture.add(even_process(), 0.0), value_error);
  CHECK_THROWS_AS(mixture.add(even_process(), 1.0, -2), value_error);
  CHECK_THROWS_AS(mixture.offset(0), value_error);
}

}  // namespace data_test_nonergodic_mixture
