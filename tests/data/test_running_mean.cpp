// Specification of data/running_mean.hpp: mean and standard error of the mean.
#include <catch2/catch.hpp>

#include <cmath>

#include "ranklens/data/running_mean.hpp"

namespace data_test_running_mean {  // the unity build compiles test files together: names stay per file

using namespace ranklens::data;

TEST_CASE("mean and standard error of 1, 2, 3, 4", "[data][running_mean]") {
  // Sample variance 5/3; standard error sqrt(5/3 / 4).
  running_mean stats;
  for (double v : {1.0, 2.0, 3.0, 4.0}) stats.add(v);
  CHECK(stats.count() == 4);
  CHECK(stats.mean() == Approx(2.5));
  CHECK(stats.standard_error() == Approx(std::sqrt(5.0 / 12.0)));
}

TEST_CASE("fewer than two values have no error bar", "[data][running_mean]") {
  running_mean stats;
  CHECK(stats.standard_error() == 0.0);
  stats.add(7.0);
  CHECK(stats.mean() == 7.0);
  CHECK(stats.standard_error() == 0.0);
}

}  // namespace data_test_running_mean
