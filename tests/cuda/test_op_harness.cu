// The op harness (op_cases.hpp) on cuda_t: every case's output and input gradients against the
// CPU's, each run in an arena poisoned with NaN first; and every case's float64 gradients on the
// CPU against central differences. With RANKLENS_CUDA_TIMING=1 each case prints its forward and
// backward time on both devices (scripts/gpu_check.sh collects them). cpu_reference/ runs the
// CPU side.
#include <cstdlib>
#include <string>

#include "op_cases.hpp"
#include "parity.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace cases = ranklens::test::op_cases;

TEST_CASE("op harness: every case's float64 gradients on the CPU match central differences", "[cuda][ops]") {
  // CPU work only: this case runs without a device too.
  for (std::size_t i = 0; i < cases::count; ++i) {
    const std::string_view name = cases::with_case(i, []<class Case>() { return Case::name; });
    const GradcheckResult result = cases::cpu_gradcheck_case(i);
    INFO(name << ": " << result);
    CHECK(result.ok);
  }
}

TEST_CASE("op harness: every op on cuda_t gives the CPU's output and gradients in a NaN-poisoned arena", "[cuda][ops]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const char* flag = std::getenv("RANKLENS_CUDA_TIMING");
  const bool timed = flag != nullptr && std::string(flag) == "1";
  for (std::size_t i = 0; i < cases::count; ++i) {
    cases::with_case(i, [&]<class Case>() {
      const std::string name(Case::name);
      const auto values = cases::draw_inputs<Case>(1000 + i);
      const auto want = cases::cpu_run_case(i, values, timed);
      const auto got = cases::run_case<Case, cuda_t>(values, [&](auto&& step) { report_timing(name + " (cuda)", step); });
      check_close(name + ": output", got.output, want.output, tolerance<float>);
      REQUIRE(got.gradients.size() == want.gradients.size());
      for (std::size_t k = 0; k < got.gradients.size(); ++k)
        check_close(name + ": gradient of input " + std::to_string(k), got.gradients[k], want.gradients[k], tolerance<float>);
    });
  }
}
