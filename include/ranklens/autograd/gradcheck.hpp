// One gradient check for every op (Stan's expect_ad, ggml's test-backend-ops): differentiate
// f at float64 inputs by reverse mode and by central differences, and compare. The result of
// f is contracted with fixed random weights w, so every output element's gradient is checked
// through one scalar L = Σ w ⊙ f(x) without relying on any op under test.
#pragma once
#include <algorithm>
#include <cmath>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/var.hpp"
#include "ranklens/core/distributions.hpp"

namespace ranklens {

struct GradcheckOptions {
  double step = 1e-6;        // central-difference step h
  double tolerance = 1e-6;   // on |analytic − numeric| / max(1, |analytic|, |numeric|)
  unsigned seed = 12345;     // for the contraction weights
};

struct GradcheckResult {
  bool ok = true;
  double worst_error = 0;
  std::string report;  // names the input, the element and both values of the worst mismatch
  explicit operator bool() const noexcept { return ok; }
  friend std::ostream& operator<<(std::ostream& os, const GradcheckResult& r) {
    return os << (r.ok ? "gradcheck passed" : "gradcheck FAILED") << " (worst error " << r.worst_error << "): " << r.report;
  }
};

namespace detail {

template <ShapeType S>
double contract(TensorView<const double, S, cpu_t> y, const std::vector<double>& w) {
  double sum = 0;
  std::size_t i = 0;
  const double* p = y.data();
  for_each_offset<S::rank>(y.shape().dims, y.strides(), [&](index_t off) { sum += p[off] * w[i++]; });
  return sum;
}

}  // namespace detail

// f takes one Var<double, S_i> per input and returns a Var<double, ...>. Inputs are modified
// during the check and restored afterwards; pass distinct tensors (not one tensor twice).
template <class F, ShapeType... S>
GradcheckResult check_gradients(F&& f, GradcheckOptions options, Tensor<double, S, cpu_t>&... inputs) {
  GradcheckResult result;
  std::vector<std::vector<double>> analytic;
  std::vector<double> weights;

  {  // reverse mode
    auto step = tape();
    auto vars = std::make_tuple(variable(inputs)...);
    auto y = std::apply(f, vars);
    std::mt19937_64 rng(options.seed);
    Tensor<double, typename decltype(y)::shape_type, cpu_t> w(y.shape());
    for (auto& v : w.span()) v = uniform<double>(rng, -1.0, 1.0);
    weights.assign(w.span().begin(), w.span().end());
    if (!y.requires_grad()) {
      result.ok = false;
      result.report = "the result does not depend on any input";
      return result;
    }
    backward(y, w.view());
    std::apply(
        [&](auto&... v) {
          (analytic.push_back(v.has_grad() ? std::vector<double>(v.grad().data(), v.grad().data() + v.numel())
                                           : std::vector<double>(std::size_t(v.numel()), 0.0)),
           ...);
        },
        vars);
  }

  auto loss_at = [&] {
    auto step = tape();
    auto guard = no_grad();
    auto y = std::apply(f, std::make_tuple(variable(inputs)...));
    return detail::contract(y.value(), weights);
  };

  std::size_t input_index = 0;
  auto check_input = [&](auto& x) {
    double* p = x.data();
    for (index_t i = 0; i < x.numel(); ++i) {
      const double saved = p[i];
      p[i] = saved + options.step;
      const double up = loss_at();
      p[i] = saved - options.step;
      const double down = loss_at();
      p[i] = saved;
      const double numeric = (up - down) / (2 * options.step);
      const double exact = analytic[input_index][std::size_t(i)];
      const double err = std::abs(exact - numeric) / std::max({1.0, std::abs(exact), std::abs(numeric)});
      if (err > result.worst_error) {
        result.worst_error = err;
        std::ostringstream s;
        s.precision(12);
        s << "input " << input_index << " (shape " << to_string(x.shape()) << ") element " << i << ": analytic " << exact
          << ", numeric " << numeric << ", error " << err;
        result.report = s.str();
      }
    }
    ++input_index;
  };
  (check_input(inputs), ...);
  result.ok = result.worst_error <= options.tolerance;
  return result;
}

template <class F, ShapeType... S>
GradcheckResult check_gradients(F&& f, Tensor<double, S, cpu_t>&... inputs) {
  return check_gradients(std::forward<F>(f), GradcheckOptions{}, inputs...);
}

// Uniform random values in [lo, hi): test inputs for gradient checks.
template <ShapeType S>
Tensor<double, S, cpu_t> random_tensor(const S& shape, std::mt19937_64& rng, double lo = -1.0, double hi = 1.0) {
  Tensor<double, S, cpu_t> t(shape);
  for (auto& v : t.span()) v = uniform<double>(rng, lo, hi);
  return t;
}

}  // namespace ranklens
