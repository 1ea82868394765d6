// Helpers shared by the cpu/ kernel tests: deterministic random inputs, the odd sizes every
// kernel is tried on, and comparisons in units of the type's epsilon.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/distributions.hpp"

namespace ranklens::test {

// Sizes around and between SIMD widths (4, 8, 16 lanes), plus one large enough that the
// kernels split it over threads.
inline const std::vector<index_t> odd_sizes = {0, 1, 3, 7, 17, 33, 1000, 100003};

template <class T>
std::vector<T> random_vector(index_t n, double lo, double hi, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = T(ranklens::uniform<double>(gen, lo, hi));
  return v;
}

template <class T>
constexpr long double epsilon_of() {
  return std::numeric_limits<T>::epsilon();
}

// |got - want| <= ulps * eps * (|want| + floor): relative accuracy, with an absolute floor
// for values near zero (where the inputs' own rounding dominates).
template <class T>
bool close(long double got, long double want, double ulps, long double floor = 0) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= ulps * epsilon_of<T>() * (std::fabs(want) + floor);
}

// First index where got and want differ by more than the tolerance, or -1.
template <class T, class Want>
index_t first_mismatch(const std::vector<T>& got, const Want& want, double ulps,
                       long double floor = 0) {
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!close<T>(got[i], want(i), ulps, floor)) return index_t(i);
  return -1;
}

template <class T>
std::string describe(const char* what, index_t i, long double got, long double want) {
  std::ostringstream out;
  out.precision(20);
  out << what << "[" << i << "]: got " << got << ", want " << want << " (error "
      << double(std::fabs(got - want) / (std::fabs(want) * epsilon_of<T>())) << " ulp rel)";
  return out.str();
}

}  // namespace ranklens::test
