// Specification of data/coin_mixture.hpp: one coin per sequence, biases i / (n + 1), and the
// posterior-mean prediction.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ranklens/data/coin_mixture.hpp"

namespace data_test_coin_mixture {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("coin biases are i / (n + 1)", "[data][coins]") {
  const coin_mixture_source source{4};
  CHECK(source.bias(0) == Approx(0.2));
  CHECK(source.bias(3) == Approx(0.8));
  CHECK(source.vocab_size() == 2);
}

TEST_CASE("each sequence flips a single coin, chosen uniformly", "[data][coins]") {
  // With 3000 flips the fraction of ones is within 0.04 (> 4.5 standard deviations) of the
  // coin's bias, and the three coins are far enough apart to tell which one was used.
  const coin_mixture_source source{3};
  std::vector<int> chosen(3, 0);
  std::vector<std::int32_t> tokens(3000);
  constexpr int sequences = 600;
  for (int s = 0; s < sequences; ++s) {
    Rng gen = Rng::for_stream(1, static_cast<std::uint64_t>(s));
    source.sample_sequence(gen, tokens);
    double ones = 0;
    for (auto x : tokens) ones += x;
    const double fraction = ones / static_cast<double>(tokens.size());
    int matches = 0;
    for (index_t c = 0; c < 3; ++c) {
      if (std::abs(fraction - source.bias(c)) < 0.04) {
        ++matches;
        ++chosen[static_cast<std::size_t>(c)];
      }
    }
    REQUIRE(matches == 1);
  }
  for (int count : chosen)
    CHECK(std::abs(count - sequences / 3.0) < 5 * std::sqrt(sequences * 2.0 / 9));
}

TEST_CASE("the Bayes prediction is the posterior mean bias", "[data][coins]") {
  const coin_mixture_source two{2};  // biases 1/3, 2/3
  CHECK(two.predict_one(0, 0) == Approx(0.5));
  // One 1 seen: posterior (1/3, 2/3) after normalising (1/3, 2/3); mean 1/9 + 4/9 = 5/9.
  CHECK(two.predict_one(1, 0) == Approx(5.0 / 9.0));
  // Two 1s and one 0: likelihoods (1/9)(2/3) = 2/27 and (4/9)(1/3) = 4/27, so the posterior
  // is (1/3, 2/3) again and the mean bias 5/9.
  CHECK(two.predict_one(2, 1) == Approx(5.0 / 9.0));
  // A long run of ones drives the prediction to the largest bias.
  CHECK(coin_mixture_source{5}.predict_one(400, 0) == Approx(5.0 / 6.0).epsilon(1e-9));
}

}  // namespace data_test_coin_mixture
