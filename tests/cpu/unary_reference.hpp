// Long-double reference values of the unary functions and their derivatives, written from
// the textbook formulas (not from the kernels), for the elementwise tests.
#pragma once
#include <cmath>

namespace ranklens::test {

using ld = long double;

inline constexpr ld pi_ld = 3.141592653589793238462643383279502884L;

// sigmoid(z) and sigmoid(z)(1 - sigmoid(z)) without forming 1 - sigmoid(z).
inline ld sigmoid_ref(ld z) {
  return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z));
}
inline ld sigmoid_slope_ref(ld z) {
  const ld a = std::exp(-std::fabs(z));
  return a / ((1 + a) * (1 + a));
}

struct neg_ref {
  static ld f(ld x) { return -x; }
  static ld df(ld) { return -1; }
};
struct square_ref {
  static ld f(ld x) { return x * x; }
  static ld df(ld x) { return 2 * x; }
};
struct abs_ref {
  static ld f(ld x) { return std::fabs(x); }
  static ld df(ld x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }
};
struct reciprocal_ref {
  static ld f(ld x) { return 1 / x; }
  static ld df(ld x) { return -1 / (x * x); }
};
struct exp_ref {
  static ld f(ld x) { return std::exp(x); }
  static ld df(ld x) { return std::exp(x); }
};
struct log_ref {
  static ld f(ld x) { return std::log(x); }
  static ld df(ld x) { return 1 / x; }
};
struct sqrt_ref {
  static ld f(ld x) { return std::sqrt(x); }
  static ld df(ld x) { return 0.5L / std::sqrt(x); }
};
struct rsqrt_ref {
  static ld f(ld x) { return 1 / std::sqrt(x); }
  static ld df(ld x) { return -0.5L / (x * std::sqrt(x)); }
};
struct tanh_ref {
  static ld f(ld x) { return std::tanh(x); }
  static ld df(ld x) { return 1 / (std::cosh(x) * std::cosh(x)); }
};
struct sigmoid_ref_op {
  static ld f(ld x) { return sigmoid_ref(x); }
  static ld df(ld x) { return sigmoid_slope_ref(x); }
};
struct relu_ref {
  static ld f(ld x) { return x > 0 ? x : 0; }
  static ld df(ld x) { return x > 0 ? 1 : 0; }
};
struct silu_ref {
  static ld f(ld x) { return x * sigmoid_ref(x); }
  static ld df(ld x) { return sigmoid_ref(x) + x * sigmoid_slope_ref(x); }
};
struct softplus_ref {
  static ld f(ld x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
  static ld df(ld x) { return sigmoid_ref(x); }
};
// 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
struct gelu_tanh_ref {
  static ld u(ld x) { return std::sqrt(2 / pi_ld) * (x + 0.044715L * x * x * x); }
  static ld du(ld x) { return std::sqrt(2 / pi_ld) * (1 + 3 * 0.044715L * x * x); }
  static ld f(ld x) { return x * sigmoid_ref(2 * u(x)); }
  // d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + tanh u) + 0.5 x sech^2(u) u'.
  static ld df(ld x) { return sigmoid_ref(2 * u(x)) + x * 2 * sigmoid_slope_ref(2 * u(x)) * du(x); }
};
// x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2.
struct gelu_exact_ref {
  static ld cdf(ld x) { return 0.5L * std::erfc(-x / std::sqrt(2.0L)); }
  static ld pdf(ld x) { return std::exp(-x * x / 2) / std::sqrt(2 * pi_ld); }
  static ld f(ld x) { return x * cdf(x); }
  static ld df(ld x) { return cdf(x) + x * pdf(x); }
};
struct erf_ref {
  static ld f(ld x) { return std::erf(x); }
  static ld df(ld x) { return 2 / std::sqrt(pi_ld) * std::exp(-x * x); }
};

}  // namespace ranklens::test
