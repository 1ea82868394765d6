#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <vector>

#include "ranklens/data/predictive_table.hpp"

namespace data_test_predictive_table {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using data::transition_counts;

TEST_CASE("a predictive table holds the add-1 bigram and unigram predictions after every prefix", "[data][predictive_table]") {
  // Two sequences of three tokens over two states: 0 1 1 and 1 1 1.
  const std::vector<std::int32_t> tokens{0, 1, 1, 1, 1, 1};
  const auto bigram = data::predictive_table(tokens, 2, 3, 2, [](const transition_counts& c, std::span<double> q) {
    data::add_alpha_predictive(c, 1.0, q);
  });
  const auto unigram = data::predictive_table(tokens, 2, 3, 2, [](const transition_counts& c, std::span<double> q) {
    data::unigram_predictive(c, 1.0, q);
  });
  REQUIRE(bigram.size() == 12);
  // Sequence 0. After "0": no transition from 0 yet, (1 + 0) / (0 + 2) each. After "0 1": none
  // from 1 yet. After "0 1 1": one 1 -> 1, so (0 + 1) / (1 + 2) and (1 + 1) / (1 + 2).
  const std::vector<double> expected_bigram{0.5, 0.5, 0.5, 0.5, 1.0 / 3, 2.0 / 3,
                                            // Sequence 1, counted afresh: after "1 1 1" two 1 -> 1.
                                            0.5, 0.5, 1.0 / 3, 2.0 / 3, 1.0 / 4, 3.0 / 4};
  // Unigram add-1: (c_j + 1) / (t + 2).
  const std::vector<double> expected_unigram{2.0 / 3, 1.0 / 3, 2.0 / 4, 2.0 / 4, 2.0 / 5, 3.0 / 5,
                                             1.0 / 3, 2.0 / 3, 1.0 / 4, 3.0 / 4, 1.0 / 5, 4.0 / 5};
  for (std::size_t i = 0; i < 12; ++i) {
    CHECK(bigram[i] == Approx(expected_bigram[i]).epsilon(1e-15));
    CHECK(unigram[i] == Approx(expected_unigram[i]).epsilon(1e-15));
  }
}

TEST_CASE("a predictive table names a token count that does not match the shape, and a token out of range", "[data][predictive_table]") {
  auto uniform = [](const transition_counts&, std::span<double> q) {
    for (double& p : q) p = 0.5;
  };
  const std::vector<std::int32_t> five{0, 1, 0, 1, 0}, bad{0, 2};
  CHECK_THROWS_WITH(data::predictive_table(five, 2, 3, 2, uniform), Catch::Contains("predictive_table") && Catch::Contains("2 * 3"));
  CHECK_THROWS_WITH(data::predictive_table(bad, 1, 2, 2, uniform), Catch::Contains("token 2"));
}

}  // namespace data_test_predictive_table
