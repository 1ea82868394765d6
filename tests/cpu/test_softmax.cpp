#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/softmax.hpp"

namespace cpu_test_softmax {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

namespace {

const std::pair<index_t, index_t> shapes[] = {{0, 3},  {3, 0},    {1, 1},    {1, 7},    {5, 17},
                                              {7, 33}, {3, 1000}, {2, 5003}, {300, 257}};

// Long-double softmax of one row: exp(x - max) / Σ exp(x - max).
std::vector<ld> softmax_ref(const ld* x, index_t n) {
  ld top = -INFINITY;
  for (index_t j = 0; j < n; ++j) top = std::max(top, x[j]);
  std::vector<ld> p(static_cast<std::size_t>(n));
  ld total = 0;
  for (index_t j = 0; j < n; ++j) total += p[std::size_t(j)] = std::exp(x[j] - top);
  for (auto& v : p) v /= total;
  return p;
}

ld top_of(const ld* x, index_t n) {
  ld top = -INFINITY;
  for (index_t j = 0; j < n; ++j) top = std::max(top, x[j]);
  return top;
}

template <class T>
std::vector<ld> widen(const std::vector<T>& v) {
  return std::vector<ld>(v.begin(), v.end());
}

}  // namespace

TEMPLATE_TEST_CASE("softmax forward and backward match long-double references", "[cpu][softmax]",
                   float, double) {
  using T = TestType;
  for (const auto& [rows, cols] : shapes) {
    INFO("rows " << rows << " cols " << cols);
    // Logits up to ±30: exp would overflow float without the max shift... for ±100.
    const auto x = random_vector<T>(rows * cols, -30, 30, 1);
    const auto gy = random_vector<T>(rows * cols, -1, 1, 2);
    const auto gx0 = random_vector<T>(rows * cols, -1, 1, 3);
    std::vector<T> y(x.size()), gx = gx0;
    softmax_forward(x.data(), y.data(), rows, cols);
    softmax_backward(y.data(), gy.data(), gx.data(), rows, cols);
    const auto xl = widen(x);
    for (index_t r = 0; r < rows; ++r) {
      const auto p = softmax_ref(xl.data() + r * cols, cols);
      ld dot = 0;
      for (index_t j = 0; j < cols; ++j) dot += gy[std::size_t(r * cols + j)] * p[std::size_t(j)];
      for (index_t j = 0; j < cols; ++j) {
        const std::size_t i = std::size_t(r * cols + j);
        // exp(x - max) with x - max rounded in T: the relative error grows with |x - max|
        // (up to 60 here), as it does in every softmax that subtracts the maximum.
        const ld spread = top_of(xl.data() + r * cols, cols) - xl[i];
        REQUIRE(close<T>(y[i], p[std::size_t(j)], 8 + spread, 0));
        const ld want = gx0[i] + p[std::size_t(j)] * (gy[i] - dot);
        REQUIRE(close<T>(gx[i], want, 8, 1));
      }
    }
  }
}

TEMPLATE_TEST_CASE("log_softmax forward and backward match long-double references",
                   "[cpu][softmax]", float, double) {
  using T = TestType;
  for (const auto& [rows, cols] : shapes) {
    INFO("rows " << rows << " cols " << cols);
    const auto x = random_vector<T>(rows * cols, -30, 30, 4);
    const auto gy = random_vector<T>(rows * cols, -1, 1, 5);
    const auto gx0 = random_vector<T>(rows * cols, -1, 1, 6);
    std::vector<T> y(x.size()), gx = gx0;
    log_softmax_forward(x.data(), y.data(), rows, cols);
    log_softmax_backward(y.data(), gy.data(), gx.data(), rows, cols);
    const auto xl = widen(x);
    for (index_t r = 0; r < rows; ++r) {
      const auto p = softmax_ref(xl.data() + r * cols, cols);
      ld gsum = 0;
      for (index_t j = 0; j < cols; ++j) gsum += gy[std::size_t(r * cols + j)];
      for (index_t j = 0; j < cols; ++j) {
        const std::size_t i = std::size_t(r * cols + j);
        const ld want_y = std::log(p[std::size_t(j)]);
        // Absolute floor: log-probabilities are differences of O(|x|) terms.
        REQUIRE(close<T>(y[i], want_y, 4, 32));
        const ld want = gx0[i] + gy[i] - p[std::size_t(j)] * gsum;
        REQUIRE(close<T>(gx[i], want, 8, 1 + std::fabs(gsum)));
      }
    }
  }
}

TEMPLATE_TEST_CASE("softmax is stable for huge logits and exact for constant rows",
                   "[cpu][softmax]", float, double) {
  using T = TestType;
  const T big = std::numeric_limits<T>::max() / 4;
  std::vector<T> x = {big, big, T(0), -big, T(1), T(1), T(1), T(1)}, y(8);
  softmax_forward(x.data(), y.data(), 2, 4);
  CHECK(y[0] == T(0.5));
  CHECK(y[1] == T(0.5));
  CHECK(y[2] == 0);
  CHECK(y[3] == 0);
  for (int j = 4; j < 8; ++j) CHECK(y[std::size_t(j)] == T(0.25));
  log_softmax_forward(x.data(), y.data(), 2, 4);
  CHECK(close<T>(y[0], -std::log(2.0L), 2));
  CHECK(close<T>(y[3], -2.0L * big, 2));  // (-big - big) - log 2, no overflow
}

TEMPLATE_TEST_CASE("causal softmax masks the future and scales the scores", "[cpu][softmax]", float,
                   double) {
  using T = TestType;
  for (const auto& [matrices, t] : {std::pair<index_t, index_t>{1, 1}, {2, 7}, {3, 17}, {2, 130}}) {
    INFO("matrices " << matrices << " t " << t);
    const T scale = T(0.125);
    const auto x = random_vector<T>(matrices * t * t, -40, 40, 7);
    const auto gy = random_vector<T>(matrices * t * t, -1, 1, 8);
    const auto gx0 = random_vector<T>(matrices * t * t, -1, 1, 9);
    std::vector<T> y(x.size(), T(-5)), gx = gx0;
    causal_softmax_forward(x.data(), y.data(), matrices, t, scale);
    causal_softmax_backward(y.data(), gy.data(), gx.data(), matrices, t, scale);
    for (index_t m = 0; m < matrices; ++m)
      for (index_t i = 0; i < t; ++i) {
        const index_t row = (m * t + i) * t;
        std::vector<ld> scaled(static_cast<std::size_t>(i + 1));
        for (index_t j = 0; j <= i; ++j)
          scaled[std::size_t(j)] = ld(scale) * x[std::size_t(row + j)];
        const auto p = softmax_ref(scaled.data(), i + 1);
        ld dot = 0;
        for (index_t j = 0; j <= i; ++j) dot += gy[std::size_t(row + j)] * p[std::size_t(j)];
        for (index_t j = 0; j < t; ++j) {
          const std::size_t k = std::size_t(row + j);
          if (j > i) {
            REQUIRE(y[k] == 0);
            REQUIRE(gx[k] == gx0[k]);
            continue;
          }
          const ld spread = top_of(scaled.data(), i + 1) - scaled[std::size_t(j)];
          REQUIRE(close<T>(y[k], p[std::size_t(j)], 8 + spread, 0));
          const ld want = gx0[k] + ld(scale) * p[std::size_t(j)] * (gy[k] - dot);
          REQUIRE(close<T>(gx[k], want, 8, 1));
        }
      }
  }
}

}  // namespace cpu_test_softmax
