#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include "ranklens/train/progress_line.hpp"

namespace train_test_progress_line {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::train;

namespace {
// A clock the test moves by hand.
struct FakeClock {
  double now = 0;
  ProgressLine::clock_function function() {
    return [this] { return now; };
  }
};

std::size_t count(const std::string& text, char c) { return std::size_t(std::count(text.begin(), text.end(), c)); }
}  // namespace

TEST_CASE("rates and durations read like a person writes them", "[train][progress]") {
  CHECK(format_rate(950) == "950");
  CHECK(format_rate(51234) == "51.2k");
  CHECK(format_rate(1.3e6) == "1.3M");
  CHECK(format_duration(0.04) == "0.0s");
  CHECK(format_duration(0.4) == "0.4s");
  CHECK(format_duration(9.5) == "9.5s");
  CHECK(format_duration(42) == "42s");
  CHECK(format_duration(185) == "3m05s");
  CHECK(format_duration(2 * 3600 + 7 * 60 + 30) == "2h07m");
  CHECK(format_duration(-1) == "?");
}

TEST_CASE("on a terminal the line is redrawn in place, at most every terminal_interval", "[train][progress]") {
  std::ostringstream out;
  FakeClock clock;
  {
    ProgressLine progress(out, /*terminal=*/true, 100, {.terminal_interval = 0.5}, clock.function());
    clock.now = 1.0;
    progress.update(1, 3.0, 1000);  // the first step always shows
    CHECK(out.str() == "\rstep 1/100  loss 3.0000  1k tok/s  ETA 1m39s\x1b[K");
    clock.now = 1.2;
    progress.update(2, 2.0, 1000);  // too soon: only accumulated
    CHECK(count(out.str(), '\r') == 1);
    clock.now = 2.0;
    progress.set_eval_loss(2.25);
    progress.update(3, 1.0, 1000);  // shows the mean of steps 2 and 3, and their speed
    CHECK(out.str().ends_with("\rstep 3/100  loss 1.5000  eval 2.2500  2k tok/s  ETA 1m05s\x1b[K"));
    CHECK(count(out.str(), '\n') == 0);
  }
  // Leaving the scope shows the last step given and ends the line.
  CHECK(count(out.str(), '\n') == 1);
  CHECK(out.str().ends_with("\n"));
}

TEST_CASE("into a log the line is printed whole every log_interval, and at the end", "[train][progress]") {
  std::ostringstream out;
  FakeClock clock;
  ProgressLine progress(out, /*terminal=*/false, 4, {.log_interval = 10}, clock.function());
  for (index_t step = 1; step <= 4; ++step) {
    clock.now = double(step) * 4;  // 4 s per step: steps 1, 3 (12 s after start, 8 s after step 1: no), 4 (last)
    progress.update(step, 1.0);
  }
  progress.finish();
  const std::string text = out.str();
  CHECK(count(text, '\r') == 0);
  CHECK(text == "step 1/4  loss 1.0000  ETA 12s\n"
                "step 4/4  loss 1.0000  done in 16s\n");
}

TEST_CASE("a resumed line counts its ETA from the step it resumed at", "[train][progress]") {
  std::ostringstream out;
  FakeClock clock;
  ProgressLine progress(out, /*terminal=*/false, 10, {.log_interval = 100}, clock.function());
  progress.resume_from(6);
  clock.now = 2;  // step 7 took 2 s: three steps left
  progress.update(7, 1.0);
  CHECK(out.str() == "step 7/10  loss 1.0000  ETA 6.0s\n");
}

}  // namespace train_test_progress_line
