#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/norm.hpp"

namespace cpu_test_norm {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

namespace {

const std::pair<index_t, index_t> shapes[] = {{0, 4},  {3, 0},  {1, 1},    {1, 7},
                                              {5, 17}, {9, 33}, {3, 1000}, {700, 257}};

// Straight from the definitions, in long double.
struct layernorm_ref {
  std::vector<ld> y, gx, gw, gb;
};

layernorm_ref reference_layernorm(const std::vector<ld>& x, const std::vector<ld>& w,
                                  const std::vector<ld>& b, const std::vector<ld>& gy, index_t rows,
                                  index_t cols, ld eps) {
  layernorm_ref out{std::vector<ld>(x.size()), std::vector<ld>(x.size()),
                    std::vector<ld>(static_cast<std::size_t>(cols)),
                    std::vector<ld>(static_cast<std::size_t>(cols))};
  for (index_t r = 0; r < rows; ++r) {
    const ld* xr = x.data() + r * cols;
    const ld* gr = gy.data() + r * cols;
    ld mean = 0, var = 0;
    for (index_t j = 0; j < cols; ++j) mean += xr[j];
    mean /= cols;
    for (index_t j = 0; j < cols; ++j) var += (xr[j] - mean) * (xr[j] - mean);
    var /= cols;
    const ld rstd = 1 / std::sqrt(var + eps);
    // dL/dx of y = n * w + b with n = (x - mean) rstd, written as the full Jacobian product.
    ld sum_g = 0, sum_gn = 0;
    for (index_t j = 0; j < cols; ++j) {
      const ld n = (xr[j] - mean) * rstd;
      out.y[std::size_t(r * cols + j)] = n * w[std::size_t(j)] + b[std::size_t(j)];
      sum_g += w[std::size_t(j)] * gr[j];
      sum_gn += w[std::size_t(j)] * gr[j] * n;
      out.gw[std::size_t(j)] += gr[j] * n;
      out.gb[std::size_t(j)] += gr[j];
    }
    for (index_t j = 0; j < cols; ++j) {
      const ld n = (xr[j] - mean) * rstd;
      out.gx[std::size_t(r * cols + j)] =
          rstd * (w[std::size_t(j)] * gr[j] - sum_g / cols - n * sum_gn / cols);
    }
  }
  return out;
}

layernorm_ref reference_rmsnorm(const std::vector<ld>& x, const std::vector<ld>& w,
                                const std::vector<ld>& gy, index_t rows, index_t cols, ld eps) {
  layernorm_ref out{std::vector<ld>(x.size()),
                    std::vector<ld>(x.size()),
                    std::vector<ld>(static_cast<std::size_t>(cols)),
                    {}};
  for (index_t r = 0; r < rows; ++r) {
    const ld* xr = x.data() + r * cols;
    const ld* gr = gy.data() + r * cols;
    ld squares = 0;
    for (index_t j = 0; j < cols; ++j) squares += xr[j] * xr[j];
    const ld rstd = 1 / std::sqrt(squares / cols + eps);
    // y_j = w_j x_j rstd;  d rstd / d x_k = -rstd^3 x_k / cols.
    ld dot = 0;
    for (index_t j = 0; j < cols; ++j) dot += w[std::size_t(j)] * gr[j] * xr[j];
    for (index_t j = 0; j < cols; ++j) {
      out.y[std::size_t(r * cols + j)] = w[std::size_t(j)] * xr[j] * rstd;
      out.gx[std::size_t(r * cols + j)] =
          w[std::size_t(j)] * gr[j] * rstd - rstd * rstd * rstd * xr[j] * dot / cols;
      out.gw[std::size_t(j)] += gr[j] * xr[j] * rstd;
    }
  }
  return out;
}

// got == g0 + want within `ulps` of the magnitude `scale`.
template <class T>
void require_accumulated(const std::vector<T>& got, const std::vector<T>& g0,
                         const std::vector<ld>& want, const std::vector<ld>& scale, double ulps,
                         const char* what) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    const ld w = ld(g0[i]) + want[i];
    if (std::fabs(got[i] - w) > ulps * epsilon_of<T>() * (std::fabs(ld(g0[i])) + scale[i] + 1))
      FAIL(describe<T>(what, index_t(i), got[i], w));
  }
}

template <class T>
std::vector<ld> widen(const std::vector<T>& v) {
  return std::vector<ld>(v.begin(), v.end());
}

}  // namespace

TEMPLATE_TEST_CASE("layernorm forward and backward match the definition", "[cpu][norm]", float,
                   double) {
  using T = TestType;
  for (const auto& [rows, cols] : shapes) {
    INFO("rows " << rows << " cols " << cols);
    // An offset mean (3) and a spread that is not 1, so centring and scaling both matter.
    const auto x = random_vector<T>(rows * cols, 1, 5, 1);
    const auto w = random_vector<T>(cols, 0.5, 1.5, 2);
    const auto b = random_vector<T>(cols, -1, 1, 3);
    const auto gy = random_vector<T>(rows * cols, -1, 1, 4);
    const auto gx0 = random_vector<T>(rows * cols, -1, 1, 5);
    const auto gw0 = random_vector<T>(cols, -1, 1, 6);
    const auto gb0 = random_vector<T>(cols, -1, 1, 7);
    const T eps = T(1e-5);
    std::vector<T> y(x.size()), mean(static_cast<std::size_t>(rows)),
        rstd(static_cast<std::size_t>(rows));
    auto gx = gx0, gw = gw0, gb = gb0;

    layernorm_forward(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, cols,
                      eps);
    layernorm_backward(x.data(), w.data(), mean.data(), rstd.data(), gy.data(), gx.data(),
                       gw.data(), gb.data(), rows, cols);

    const auto ref = reference_layernorm(widen(x), widen(w), widen(b), widen(gy), rows, cols, eps);
    // y: a few ulp of |n w| + |b| (n is O(2)).
    for (std::size_t i = 0; i < y.size(); ++i)
      if (!close<T>(y[i], ref.y[i], 16, 4)) FAIL(describe<T>("y", index_t(i), y[i], ref.y[i]));
    require_accumulated(gx, gx0, ref.gx, std::vector<ld>(gx.size(), 4), 64, "gx");
    // Column sums over `rows` terms of magnitude ~1.
    require_accumulated(gw, gw0, ref.gw, std::vector<ld>(gw.size(), ld(rows)), 16, "gweight");
    require_accumulated(gb, gb0, ref.gb, std::vector<ld>(gb.size(), ld(rows)), 16, "gbias");
  }
}

TEMPLATE_TEST_CASE("layernorm without weight and bias, and with only some gradients", "[cpu][norm]",
                   float, double) {
  using T = TestType;
  const index_t rows = 5, cols = 19;
  const auto x = random_vector<T>(rows * cols, -2, 2, 1);
  const auto gy = random_vector<T>(rows * cols, -1, 1, 2);
  std::vector<T> y(x.size()), mean(static_cast<std::size_t>(rows)),
      rstd(static_cast<std::size_t>(rows));
  layernorm_forward<T>(x.data(), nullptr, nullptr, y.data(), mean.data(), rstd.data(), rows, cols,
                       T(1e-5));
  const std::vector<ld> ones(static_cast<std::size_t>(cols), 1),
      zeros(static_cast<std::size_t>(cols), 0);
  const auto ref = reference_layernorm(widen(x), ones, zeros, widen(gy), rows, cols, 1e-5L);
  for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(close<T>(y[i], ref.y[i], 16, 4));
  std::vector<T> gb(static_cast<std::size_t>(cols), T(0));
  layernorm_backward<T>(x.data(), nullptr, mean.data(), rstd.data(), gy.data(), nullptr, nullptr,
                        gb.data(), rows, cols);
  for (std::size_t j = 0; j < gb.size(); ++j) REQUIRE(close<T>(gb[j], ref.gb[j], 16, rows));
  std::vector<T> gx(x.size(), T(0));
  layernorm_backward<T>(x.data(), nullptr, mean.data(), rstd.data(), gy.data(), gx.data(), nullptr,
                        nullptr, rows, cols);
  for (std::size_t i = 0; i < gx.size(); ++i) REQUIRE(close<T>(gx[i], ref.gx[i], 64, 4));
}

TEMPLATE_TEST_CASE("rmsnorm forward and backward match the definition", "[cpu][norm]", float,
                   double) {
  using T = TestType;
  for (const auto& [rows, cols] : shapes) {
    INFO("rows " << rows << " cols " << cols);
    const auto x = random_vector<T>(rows * cols, -3, 3, 11);
    const auto w = random_vector<T>(cols, 0.5, 1.5, 12);
    const auto gy = random_vector<T>(rows * cols, -1, 1, 13);
    const auto gx0 = random_vector<T>(rows * cols, -1, 1, 14);
    const auto gw0 = random_vector<T>(cols, -1, 1, 15);
    const T eps = T(1e-6);
    std::vector<T> y(x.size()), rstd(static_cast<std::size_t>(rows));
    auto gx = gx0, gw = gw0;
    rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), rows, cols, eps);
    rmsnorm_backward(x.data(), w.data(), rstd.data(), gy.data(), gx.data(), gw.data(), rows, cols);
    const auto ref = reference_rmsnorm(widen(x), widen(w), widen(gy), rows, cols, eps);
    for (std::size_t i = 0; i < y.size(); ++i)
      if (!close<T>(y[i], ref.y[i], 8, 0)) FAIL(describe<T>("y", index_t(i), y[i], ref.y[i]));
    require_accumulated(gx, gx0, ref.gx, std::vector<ld>(gx.size(), 4), 64, "gx");
    require_accumulated(gw, gw0, ref.gw, std::vector<ld>(gw.size(), ld(rows) * 2), 16, "gweight");
  }
}

TEST_CASE("norm weight gradients are identical whatever the thread count", "[cpu][norm]") {
  const index_t rows = 3001, cols = 96;
  const auto x = random_vector<float>(rows * cols, -2, 2, 1);
  const auto w = random_vector<float>(cols, 0.5, 1.5, 2);
  const auto gy = random_vector<float>(rows * cols, -1, 1, 3);
  std::vector<float> y(x.size()), mean(static_cast<std::size_t>(rows)),
      rstd(static_cast<std::size_t>(rows));
  layernorm_forward<float>(x.data(), w.data(), nullptr, y.data(), mean.data(), rstd.data(), rows,
                           cols, 1e-5f);
  const int before = num_threads();
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    std::vector<float> gw(static_cast<std::size_t>(cols), 0.0f),
        gb(static_cast<std::size_t>(cols), 0.0f);
    layernorm_backward<float>(x.data(), w.data(), mean.data(), rstd.data(), gy.data(), nullptr,
                              gw.data(), gb.data(), rows, cols);
    gw.insert(gw.end(), gb.begin(), gb.end());
    results.push_back(gw);
  }
  set_num_threads(before);
  CHECK(results[0] == results[1]);
  CHECK(results[0] == results[2]);
}

}  // namespace cpu_test_norm
