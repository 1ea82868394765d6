#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/adamw.hpp"

namespace cpu_test_adamw {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;

namespace {

// Within 4 machine epsilons of the terms' scale (1 here: values and gradients lie in [-1, 1]):
// the compiler may fuse a multiply and an add into one FMA (GCC contracts by default at -O2),
// in the kernel's vector code and in the scalar loop alike, and not always in the same places,
// so bit equality depends on the build flags, and m = β₁·m + (1 − β₁)·g can cancel, so the
// rounding difference is relative to the terms, not to the result. A wrong coefficient or term
// is off by 1e-4 or more.
template <class T>
bool close(T a, T b) {
  return std::abs(a - b) <= 4 * std::numeric_limits<T>::epsilon() * std::max({T(1), std::abs(a), std::abs(b)});
}

// The kernel must follow the plain scalar loop (torch.optim.AdamW's order of operations) on
// every size: whole vectors, ragged ends and splits over the thread pool.
template <class T>
void check_against_scalar_loop() {
  const adamw_coefficients<T> c{.decay = T(1 - 1e-3 * 1e-2), .beta1 = T(0.9), .beta2 = T(0.999),
                                .step_size = T(1e-3 / (1 - 0.9 * 0.9)), .inv_bias2_sqrt = T(1 / std::sqrt(1 - 0.999 * 0.999)),
                                .eps = T(1e-8)};
  for (index_t n : odd_sizes) {
    INFO("n = " << n);
    auto value = random_vector<T>(n, -1, 1, 1), m = random_vector<T>(n, -0.1, 0.1, 2), v = random_vector<T>(n, 0, 0.01, 3);
    const auto grad = random_vector<T>(n, -1, 1, 4);
    auto value_ref = value, m_ref = m, v_ref = v;
    for (index_t j = 0; j < n; ++j) {
      const T g = grad[j];
      const T mj = m_ref[j] = c.beta1 * m_ref[j] + (1 - c.beta1) * g;
      const T vj = v_ref[j] = c.beta2 * v_ref[j] + (1 - c.beta2) * g * g;
      value_ref[j] = value_ref[j] * c.decay - c.step_size * mj / (std::sqrt(vj) * c.inv_bias2_sqrt + c.eps);
    }
    adamw_update(value.data(), grad.data(), m.data(), v.data(), n, c);
    index_t first_difference = -1;
    for (index_t j = n - 1; j >= 0; --j)
      if (!close(value[j], value_ref[j]) || !close(m[j], m_ref[j]) || !close(v[j], v_ref[j])) first_difference = j;
    std::ostringstream difference;
    if (const index_t j = first_difference; j >= 0)
      difference << "element " << j << ": value " << value[j] << " vs " << value_ref[j] << ", m " << m[j] << " vs " << m_ref[j]
                 << ", v " << v[j] << " vs " << v_ref[j];
    INFO(difference.str());
    CHECK(first_difference == -1);
  }
}

}  // namespace

TEST_CASE("adamw_update follows the scalar loop in float") { check_against_scalar_loop<float>(); }
TEST_CASE("adamw_update follows the scalar loop in double") { check_against_scalar_loop<double>(); }

}  // namespace cpu_test_adamw
