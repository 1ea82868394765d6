#include <catch2/catch.hpp>

#include "ranklens/optim/lr_schedule.hpp"

namespace optim_test_lr_schedule {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("a constant schedule gives its rate at every step", "[optim][lr_schedule]") {
  static_assert(LrSchedule<ConstantLr> && LrSchedule<WarmupCosineLr>);
  const ConstantLr schedule{.lr = 3e-4};
  CHECK(schedule(0) == 3e-4);
  CHECK(schedule(123456) == 3e-4);
}

TEST_CASE("warm-up then cosine decay to a floor, at hand-computed steps", "[optim][lr_schedule]") {
  // peak 1, floor 0.1, 4 warm-up steps, floor reached at step 12 (8 decay steps).
  const WarmupCosineLr schedule{.peak_lr = 1.0, .warmup_steps = 4, .total_steps = 12, .min_lr = 0.1};
  CHECK(schedule(0) == 0.0);  // HF's convention: the first warm-up step runs at lr 0
  CHECK(schedule(1) == Approx(0.25));
  CHECK(schedule(3) == Approx(0.75));
  CHECK(schedule(4) == Approx(1.0));                            // progress 0: the peak
  CHECK(schedule(6) == Approx(0.1 + 0.9 * 0.853553390593274));  // progress 1/4: ½(1 + cos π/4)
  CHECK(schedule(8) == Approx(0.55));                           // progress 1/2: half way
  CHECK(schedule(10) == Approx(0.1 + 0.9 * 0.146446609406726)); // progress 3/4
  CHECK(schedule(12) == Approx(0.1));                           // the floor ...
  CHECK(schedule(1000) == Approx(0.1));                         // ... and after
}

TEST_CASE("cosine decay without warm-up starts at the peak and is monotone", "[optim][lr_schedule]") {
  const WarmupCosineLr schedule{.peak_lr = 2e-3, .warmup_steps = 0, .total_steps = 100};
  CHECK(schedule(0) == Approx(2e-3));
  CHECK(schedule(50) == Approx(1e-3));
  CHECK(schedule(100) == Approx(0.0).margin(1e-18));
  for (index_t t = 1; t <= 100; ++t) REQUIRE(schedule(t) <= schedule(t - 1));
}

TEST_CASE("warm-up as long as the schedule holds the peak for one step", "[optim][lr_schedule]") {
  const WarmupCosineLr schedule{.peak_lr = 1.0, .warmup_steps = 2, .total_steps = 2, .min_lr = 0.5};
  CHECK(schedule(1) == Approx(0.5));
  CHECK(schedule(2) == Approx(1.0));
  CHECK(schedule(3) == Approx(0.5));
}

TEST_CASE("schedules that mean nothing are refused", "[optim][lr_schedule]") {
  CHECK_THROWS_AS((WarmupCosineLr{.peak_lr = 1.0, .warmup_steps = 5, .total_steps = 4}(0)), value_error);
  CHECK_THROWS_AS((WarmupCosineLr{.peak_lr = 0.1, .min_lr = 0.2}(0)), value_error);
  CHECK_THROWS_AS((WarmupCosineLr{.peak_lr = 1.0, .total_steps = 10}(-1)), value_error);
}

}  // namespace optim_test_lr_schedule
