// Specification of data/stationary_distribution.hpp: pi P = pi, exactly enough even for
// nearly decomposable chains.
#include <catch2/catch.hpp>

#include <vector>

#include "ranklens/data/stationary_distribution.hpp"

namespace data_test_stationary_distribution {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;

TEST_CASE("two states: pi = (b, a) / (a + b) for P = ((1-a, a), (b, 1-b))", "[data][stationary]") {
  const double a = 0.3, b = 0.05;
  const auto pi = stationary_distribution(std::vector<double>{1 - a, a, b, 1 - b}, 2);
  CHECK(pi[0] == Approx(b / (a + b)).epsilon(1e-14));
  CHECK(pi[1] == Approx(a / (a + b)).epsilon(1e-14));
}

TEST_CASE("three states: the result is a fixed point of P", "[data][stationary]") {
  const std::vector<double> p{0.1, 0.6, 0.3,  //
                              0.5, 0.0, 0.5,  //
                              0.2, 0.2, 0.6};
  const auto pi = stationary_distribution(p, 3);
  double total = 0.0;
  for (int j = 0; j < 3; ++j) {
    double inflow = 0.0;
    for (int i = 0; i < 3; ++i) inflow += pi[static_cast<std::size_t>(i)] * p[i * 3 + j];
    CHECK(inflow == Approx(pi[static_cast<std::size_t>(j)]).epsilon(1e-14));
    total += pi[static_cast<std::size_t>(j)];
  }
  CHECK(total == Approx(1.0).epsilon(1e-15));
}

TEST_CASE("a nearly decomposable chain keeps full relative accuracy", "[data][stationary]") {
  // P = [[1 - e, e], [2e, 1 - 2e]] has pi = (2/3, 1/3) whatever e is; solving pi (I - P) = 0
  // naively loses about log10(1/e) digits, GTH does not.
  const double e = 1e-13;
  const auto pi = stationary_distribution(std::vector<double>{1 - e, e, 2 * e, 1 - 2 * e}, 2);
  CHECK(pi[0] == Approx(2.0 / 3.0).epsilon(1e-12));
  CHECK(pi[1] == Approx(1.0 / 3.0).epsilon(1e-12));
}

TEST_CASE("an absorbing state takes all the mass", "[data][stationary]") {
  const auto pi = stationary_distribution(std::vector<double>{0.5, 0.5, 0.0, 1.0}, 2);
  CHECK(pi[0] == 0.0);
  CHECK(pi[1] == 1.0);
  const auto first = stationary_distribution(std::vector<double>{1.0, 0.0, 0.3, 0.7}, 2);
  CHECK(first[0] == 1.0);
  CHECK(first[1] == 0.0);
}

TEST_CASE("a matrix of the wrong size is rejected", "[data][stationary]") {
  CHECK_THROWS_AS(stationary_distribution(std::vector<double>{1.0, 0.0, 1.0}, 2), shape_error);
}

}  // namespace data_test_stationary_distribution
