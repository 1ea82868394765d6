// The CPU side of the op harness (op_cases.hpp): each case run on cpu_t, timed on request, and
// its float64 gradient check.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../op_cases.hpp"

namespace ranklens::test::op_cases {

case_result cpu_run_case(std::size_t index, const std::vector<std::vector<float>>& values, bool timed) {
  return with_case(index, [&]<class Case>() {
    return run_case<Case, cpu_t>(values, [&](auto&& step) {
      if (!timed) return;
      for (int i = 0; i < 3; ++i) step();
      std::vector<double> us;
      for (int i = 0; i < 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        step();
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
      }
      std::nth_element(us.begin(), us.begin() + 10, us.end());
      std::printf("timing: %-60s %10.2f us\n", (std::string(Case::name) + " (cpu)").c_str(), us[10]);
    });
  });
}

GradcheckResult cpu_gradcheck_case(std::size_t index) {
  return with_case(index, []<class Case>() { return gradcheck_case<Case>(); });
}

}  // namespace ranklens::test::op_cases
