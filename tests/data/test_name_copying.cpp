// Specification of data/name_copying.hpp: filler, a marker, and after every marker the one
// name of the sequence.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <vector>

#include "ranklens/data/name_copying.hpp"

namespace data_test_name_copying {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("vocabulary: fillers, then the marker, then the names", "[data][copying]") {
  const name_copying_source source{10, 5, 0.1};
  CHECK(source.vocab_size() == 16);
  CHECK(source.marker_token() == 10);
  CHECK(source.name_token(0) == 11);
  CHECK(source.name_token(4) == 15);
  CHECK(source.is_name(11));
  CHECK_FALSE(source.is_name(10));
}

TEST_CASE("every marker is followed by the sequence's single name", "[data][copying]") {
  const name_copying_source source{10, 5, 0.2};
  std::vector<std::int32_t> tokens(400);
  std::set<std::int32_t> names_across_sequences;
  for (int s = 0; s < 200; ++s) {
    Rng gen = Rng::for_stream(1, static_cast<std::uint64_t>(s));
    source.sample_sequence(gen, tokens);
    std::set<std::int32_t> names_here;
    int broken = 0;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      const bool after_marker = t > 0 && tokens[t - 1] == source.marker_token();
      broken += after_marker != source.is_name(tokens[t]);
      broken += tokens[t] < 0 || tokens[t] >= source.vocab_size();
      if (after_marker) names_here.insert(tokens[t]);
    }
    REQUIRE(broken == 0);
    REQUIRE(names_here.size() == 1);
    names_across_sequences.insert(*names_here.begin());
  }
  CHECK(names_across_sequences.size() == 5);  // each name has chance 1 - (4/5)^200 to appear
}

TEST_CASE("markers occur at rate p / (1 + p) and filler is uniform", "[data][copying]") {
  // A position after a marker is taken by the name; every other position is a marker with
  // probability p, so the marker rate r solves r = p (1 - r).
  const double p = 0.25;
  const name_copying_source source{4, 3, p};
  Rng gen(2);
  std::vector<std::int32_t> tokens(100000);
  source.sample_sequence(gen, tokens);
  double markers = 0, filler0 = 0, fillers = 0;
  for (auto x : tokens) {
    markers += x == source.marker_token();
    fillers += x < source.marker_token();
    filler0 += x == 0;
  }
  const double n = static_cast<double>(tokens.size()), r = p / (1 + p);
  CHECK(std::abs(markers / n - r) < 5 * std::sqrt(r * (1 - r) / n));
  CHECK(std::abs(filler0 / fillers - 0.25) < 5 * std::sqrt(0.25 * 0.75 / fillers));
}

TEST_CASE("invalid settings are rejected", "[data][copying]") {
  Rng gen(3);
  std::vector<std::int32_t> tokens(4);
  CHECK_THROWS_AS((name_copying_source{0, 3, 0.1}.sample_sequence(gen, tokens)), value_error);
  CHECK_THROWS_AS((name_copying_source{3, 3, 1.5}.sample_sequence(gen, tokens)), value_error);
}

}  // namespace data_test_name_copying
