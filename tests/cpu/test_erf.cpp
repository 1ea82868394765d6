#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/erf.hpp"

namespace cpu_test_erf {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

namespace {

// Worst relative error, in ulp of T, of f over [lo, hi] against ref, evaluated both on
// vectors and on scalars.
template <class T, class F, class Ref>
double worst_ulps(F f, Ref ref, double lo, double hi) {
  const auto x = random_vector<T>(4096, lo, hi, 77);
  double worst = 0;
  for (std::size_t i = 0; i + simd_width<T> <= x.size(); i += simd_width<T>) {
    const simd<T> v = f(simd<T>::load_unaligned(x.data() + i));
    for (index_t lane = 0; lane < simd_width<T>; ++lane) {
      const ld want = ref(ld(x[i + std::size_t(lane)]));
      if (want == 0) continue;
      for (const ld got : {ld(v.get(std::size_t(lane))), ld(f(x[i + std::size_t(lane)]))})
        worst = std::max(worst, double(std::fabs((got - want) / want) / epsilon_of<T>()));
    }
  }
  return worst;
}

}  // namespace

TEMPLATE_TEST_CASE("precise_erfc keeps relative accuracy deep into the tail", "[cpu][erf]", float,
                   double) {
  using T = TestType;
  auto f = [](auto x) { return precise_erfc(x); };
  auto ref = [](ld x) { return std::erfc(x); };
  // Up to where erfc leaves T's normal range (float: ~9.1, double: ~26.5).
  const double top = std::is_same_v<T, float> ? 9.0 : 26.0;
  CHECK(worst_ulps<T>(f, ref, -6, 0) < 4);
  CHECK(worst_ulps<T>(f, ref, 0, 1) < 4);
  CHECK(worst_ulps<T>(f, ref, 1, 4) < 4);
  CHECK(worst_ulps<T>(f, ref, 4, top) < 4);
}

TEMPLATE_TEST_CASE("precise_erf is accurate near zero and near one", "[cpu][erf]", float, double) {
  using T = TestType;
  auto f = [](auto x) { return precise_erf(x); };
  auto ref = [](ld x) { return std::erf(x); };
  CHECK(worst_ulps<T>(f, ref, -1e-3, 1e-3) < 4);
  CHECK(worst_ulps<T>(f, ref, -0.6, 0.6) < 4);
  CHECK(worst_ulps<T>(f, ref, 0.4, 6) < 4);
  CHECK(worst_ulps<T>(f, ref, -6, -0.4) < 4);
}

TEMPLATE_TEST_CASE("normal_cdf and normal_pdf, with x / sqrt 2 carried exactly", "[cpu][erf]",
                   float, double) {
  using T = TestType;
  auto cdf = [](auto x) { return normal_cdf(x); };
  auto cdf_ref = [](ld x) { return 0.5L * std::erfc(-x / std::sqrt(2.0L)); };
  auto pdf = [](auto x) { return normal_pdf(x); };
  auto pdf_ref = [](ld x) {
    return std::exp(-x * x / 2) / std::sqrt(2 * 3.14159265358979323846264338327950288L);
  };
  const double low = std::is_same_v<T, float> ? -12.5 : -37.0;
  CHECK(worst_ulps<T>(cdf, cdf_ref, low, -3) < 4);
  CHECK(worst_ulps<T>(cdf, cdf_ref, -3, 3) < 4);
  CHECK(worst_ulps<T>(cdf, cdf_ref, 3, 10) < 4);
  CHECK(worst_ulps<T>(pdf, pdf_ref, low, -low) < 4);
}

TEMPLATE_TEST_CASE("erfc at the edges: 0, infinities, NaN", "[cpu][erf]", float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity();
  CHECK(precise_erfc(T(0)) == 1);
  CHECK(precise_erfc(inf) == 0);
  CHECK(precise_erfc(-inf) == 2);
  CHECK(std::isnan(precise_erfc(std::numeric_limits<T>::quiet_NaN())));
  CHECK(precise_erf(inf) == 1);
  CHECK(precise_erf(-inf) == -1);
  CHECK(precise_erf(T(0)) == 0);
  CHECK(normal_cdf(-inf) == 0);
  CHECK(normal_cdf(inf) == 1);
  const simd<T> v(inf);
  CHECK(precise_erfc(v).get(0) == 0);
  CHECK(normal_cdf(-v).get(0) == 0);
}

TEMPLATE_TEST_CASE("two_product and two_sum are exact", "[cpu][erf]", float, double) {
  using T = TestType;
  const auto a = random_vector<T>(simd_width<T> * 64, -1e3, 1e3, 3);
  const auto b = random_vector<T>(a.size(), -1e-3, 1e3, 4);
  for (std::size_t i = 0; i < a.size(); i += simd_width<T>) {
    const simd<T> va = simd<T>::load_unaligned(a.data() + i),
                  vb = simd<T>::load_unaligned(b.data() + i);
    simd<T> p, e, s, f;
    two_product(va, vb, p, e);
    two_sum(va, vb, s, f);
    for (index_t lane = 0; lane < simd_width<T>; ++lane) {
      const std::size_t k = i + std::size_t(lane);
      // long double holds a float product exactly, and a double product to 11 extra bits:
      // enough to see that head + tail is the product, not just the rounded product.
      REQUIRE(ld(p.get(std::size_t(lane))) + ld(e.get(std::size_t(lane))) == ld(a[k]) * ld(b[k]));
      REQUIRE(ld(s.get(std::size_t(lane))) + ld(f.get(std::size_t(lane))) == ld(a[k]) + ld(b[k]));
    }
  }
}

}  // namespace cpu_test_erf
