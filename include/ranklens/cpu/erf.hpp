// precise_erf and precise_erfc: erf and erfc accurate to a few ulp in float and double, for
// vectors and scalars alike (named apart from xsimd::erf/erfc, which argument-dependent
// lookup would otherwise pick for an unqualified call on a batch).
//
// xsimd 8.1 has erf/erfc, but its double versions are off by up to ~30 ulp near |x| = 2 and
// its erfc loses relative accuracy in the tail (1e-11 at x = 9), because exp(-x*x) is taken
// of a rounded x*x. Exact GELU (x * Phi(x)) needs erfc deep in the tail for negative x and
// double results good to ~1e-15 for gradient checks, so ranklens carries its own:
//
//   erfc(x) = t * exp(g(y) - x*x),  t = 3 / (3 + x),  y = (3 - x) / (3 + x),   x >= 0,
//
// where g is one polynomial in y on [-1, 1] (coefficients from
// tests/cpu/erfc_coefficients.py, which explains the construction), and x*x enters the
// exponent exactly as a head and tail pair (error-free product and sum).
#pragma once
#include <array>
#include <cmath>
#include <iterator>
#include <type_traits>

#include "ranklens/cpu/simd.hpp"

namespace ranklens::cpu {

// Horner's rule with the highest power first.
template <class V, class Coefficients>
RANKLENS_ALWAYS_INLINE V horner(const V& x, const Coefficients& coefficients) noexcept {
  V result(coefficients[0]);
  for (std::size_t i = 1; i < std::size(coefficients); ++i)
    result = multiply_add(result, x, V(coefficients[i]));
  return result;
}

// Makes the optimiser treat v as an opaque, already rounded value. GCC compiles C++ with
// -ffp-contract=fast by default, so a rounded product that is later added to something may
// be fused with that addition into one multiply-add, silently replacing a value the
// error-free transforms below rely on with a more exact one.
template <class V>
RANKLENS_ALWAYS_INLINE void keep_rounded(V& v) noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
  if constexpr (std::is_floating_point_v<V>) {
    __asm__("" : "+x"(v));
  } else {
    __asm__("" : "+v"(v.data));
  }
#elif defined(__GNUC__) && defined(__aarch64__)
  if constexpr (std::is_floating_point_v<V>) {
    __asm__("" : "+w"(v));
  } else {
    __asm__("" : "+w"(v.data));
  }
#else
  (void)v;
#endif
}

// a * b = product + error exactly (Dekker). With a hardware fused multiply-add the error is
// one instruction; without it (the baseline x86-64 build) Veltkamp's split gives it.
template <class V>
RANKLENS_ALWAYS_INLINE void two_product(const V& a, const V& b, V& product, V& error) noexcept {
  product = a * b;
  keep_rounded(product);
  if constexpr (has_hardware_fma) {
    error = multiply_add(a, b, -product);
  } else {
    using T = scalar_of_t<V>;
    // 2^ceil(digits/2) + 1 splits a T into two halves whose products are exact.
    constexpr T splitter = std::is_same_v<T, float> ? T(4097) : T(134217729);
    V ca = V(splitter) * a, cb = V(splitter) * b;
    keep_rounded(ca);
    keep_rounded(cb);
    const V a_high = ca - (ca - a), b_high = cb - (cb - b);
    const V a_low = a - a_high, b_low = b - b_high;
    error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low;
  }
}

// a + b = sum + error exactly (Knuth's TwoSum, no ordering of |a| and |b| needed).
template <class V>
RANKLENS_ALWAYS_INLINE void two_sum(V a, V b, V& sum, V& error) noexcept {
  keep_rounded(a);
  keep_rounded(b);
  sum = a + b;
  const V b_virtual = sum - a;
  error = (a - (sum - b_virtual)) + (b - b_virtual);
}

namespace detail {

// g(y) of the header comment, highest power first.
template <class T>
struct erfc_polynomial;
template <>
struct erfc_polynomial<float> {
  static constexpr float coefficients[] = {
      4.81752350227e-5f,  4.33780837423e-5f, -3.05145537097e-4f, -4.64651849771e-4f,
      8.8287803883e-4f,   2.80536561346e-3f, -6.90631214486e-5f, -1.19588781085e-2f,
      -2.01157329806e-2f, 2.25412704234e-2f, 2.11286136817e-1f,  8.22522131767e-1f,
      -1.0272158629f};
  // erfc(x) is below the smallest subnormal float beyond this.
  static constexpr float underflow = 11.0f;
};
template <>
struct erfc_polynomial<double> {
  static constexpr double coefficients[] = {
      1.5355970915447332604e-9,  1.6112622578347834417e-9,  -1.4625769781258999036e-8,
      -2.2650188755537384201e-8, 6.4262435122907941978e-8,  1.6650092343414224466e-7,
      -1.371031687315045196e-7,  -8.5525236029479056599e-7, -2.2256215223099900913e-7,
      3.3834087346657033895e-6,  3.8894276253230708262e-6,  -1.0276108193716470864e-5,
      -2.3860223020617055275e-5, 1.9475007034980794651e-5,  1.0671409179849809898e-4,
      2.1723836388693489323e-5,  -3.7525169245716883834e-4, -4.5062344311988637031e-4,
      9.2736078733376268374e-4,  2.8001963620170507043e-3,  -8.3967003267645984733e-5,
      -1.1957869713193872965e-2, -2.0113320406139742438e-2, 2.2541182217693757397e-2,
      2.1128598913594848855e-1,  8.225221340194065752e-1,   -1.0272158614211672552};
  static constexpr double underflow = 28.0;
};

// Taylor coefficients of erf(x) / x in powers of x*x: 2/sqrt(pi) (-1)^n / (n! (2n+1)),
// highest power first; enough terms for |x| <= 1/2 in T.
template <class T, int Terms>
struct erf_taylor {
  static constexpr auto make() {
    std::array<T, Terms> c{};
    long double factorial = 1;
    for (int n = 0; n < Terms; ++n) {
      if (n > 0) factorial *= n;
      const long double two_over_sqrt_pi = 1.12837916709551257389615890312154517L;
      c[std::size_t(Terms - 1 - n)] =
          T((n % 2 == 0 ? 1 : -1) * two_over_sqrt_pi / (factorial * (2 * n + 1)));
    }
    return c;
  }
  static constexpr std::array<T, Terms> coefficients = make();
};

}  // namespace detail

// erfc(x + x_tail) for x >= 0 (or NaN), where x_tail is a correction far below ulp(x): the
// caller's exact input when it is itself the rounded result of an operation (GELU's x/sqrt 2).
template <class V>
RANKLENS_ALWAYS_INLINE V erfc_nonnegative(const V& x, const V& x_tail) noexcept {
  using T = scalar_of_t<V>;
  using poly = detail::erfc_polynomial<T>;
  // Past the underflow point erfc is 0; clamping keeps y finite for x = inf (NaN stays NaN).
  const V xc = where(x > V(poly::underflow), V(poly::underflow), x);
  // The tail of an infinite head is NaN (inf - inf); it does not matter there.
  const V tail = where(x > V(poly::underflow), V(T(0)), x_tail);
  const V reciprocal = V(T(1)) / (V(T(3)) + xc);
  const V y = (V(T(3)) - xc) * reciprocal;
  const V t = V(T(3)) * reciprocal;
  const V g = horner(y, poly::coefficients);
  V square, square_error;
  two_product(xc, xc, square, square_error);
  square_error += V(T(2)) * xc * tail;
  V exponent, exponent_error;
  two_sum(g, -square, exponent, exponent_error);
  // exp(exponent + small) = exp(exponent) * (1 + small) to first order.
  return t * xsimd::exp(exponent) * (V(T(1)) + (exponent_error - square_error));
}

template <class V>
RANKLENS_ALWAYS_INLINE V precise_erfc(const V& x) noexcept {
  using T = scalar_of_t<V>;
  const V tail = erfc_nonnegative(xsimd::abs(x), V(T(0)));
  return where(x < V(T(0)), V(T(2)) - tail, tail);
}

template <class V>
RANKLENS_ALWAYS_INLINE V precise_erf(const V& x) noexcept {
  using T = scalar_of_t<V>;
  constexpr int terms = std::is_same_v<T, float> ? 8 : 14;
  const V a = xsimd::abs(x);
  // Near zero 1 - erfc(x) would cancel; the Taylor series converges fast there instead.
  const V series = x * horner(x * x, detail::erf_taylor<T, terms>::coefficients);
  const V from_erfc = V(T(1)) - erfc_nonnegative(a, V(T(0)));
  const V far = where(x < V(T(0)), -from_erfc, from_erfc);
  return where(a < V(T(0.5)), series, far);
}

// Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, with x / sqrt 2 carried exactly
// (head and tail) so that the tail for negative x keeps full relative accuracy.
template <class V>
RANKLENS_ALWAYS_INLINE V normal_cdf(const V& x) noexcept {
  using T = scalar_of_t<V>;
  constexpr long double inv_sqrt2 = 0.707106781186547524400844362104849039L;
  constexpr T inv_sqrt2_head = T(inv_sqrt2);
  constexpr T inv_sqrt2_tail = T(inv_sqrt2 - (long double)inv_sqrt2_head);
  V v, v_tail;
  two_product(x, V(-inv_sqrt2_head), v, v_tail);
  v_tail = v_tail - x * V(inv_sqrt2_tail);
  const V sign = where(v < V(T(0)), V(T(-1)), V(T(1)));
  const V tail = erfc_nonnegative(xsimd::abs(v), sign * v_tail);
  return V(T(0.5)) * where(v < V(T(0)), V(T(2)) - tail, tail);
}

// exp(-scale * x * x) with x * x carried exactly; scale must be a power of two, so that
// scaling the head and tail of x * x is exact too.
template <class V>
RANKLENS_ALWAYS_INLINE V exp_minus_square(const V& x, scalar_of_t<V> scale) noexcept {
  using T = scalar_of_t<V>;
  V square, square_error;
  two_product(x, x, square, square_error);
  return xsimd::exp(V(-scale) * square) * (V(T(1)) - V(scale) * square_error);
}

// Standard normal density phi(x) = exp(-x*x/2) / sqrt(2 pi).
template <class V>
RANKLENS_ALWAYS_INLINE V normal_pdf(const V& x) noexcept {
  using T = scalar_of_t<V>;
  constexpr T inv_sqrt_2pi = T(0.398942280401432677939946059934381868L);
  return V(inv_sqrt_2pi) * exp_minus_square(x, T(0.5));
}

}  // namespace ranklens::cpu
