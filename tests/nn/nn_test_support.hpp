// Helpers for the nn tests: the gradient check with respect to a module's parameters, random
// weights, a name → values dictionary (a state dict, as a PyTorch reference would read it) and
// random token batches.
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/nn/module.hpp"

namespace nn_test {

using namespace ranklens;

// The gradient check of autograd/gradcheck.hpp (same contraction weights, step and error
// measure) with respect to Parameters, which a model reads through param.var() rather than
// through Vars passed in: f() runs the model and returns a Var<double, ...>.
template <class F, class... P>
GradcheckResult check_parameter_gradients(F&& f, P&... params) {
  const GradcheckOptions options;
  GradcheckResult result;
  std::vector<double> weights;
  (params.zero_grad(), ...);
  {
    auto step = tape();
    auto y = f();
    std::mt19937_64 rng(options.seed);
    Tensor<double, typename decltype(y)::shape_type, cpu_t> w(y.shape());
    for (auto& v : w.span()) v = uniform<double>(rng, -1.0, 1.0);
    weights.assign(w.span().begin(), w.span().end());
    backward(y, w.view());
  }
  auto loss_at = [&] {
    auto step = tape();
    auto guard = no_grad();
    return detail::contract(f().value(), weights);
  };
  std::size_t which = 0;
  auto check = [&](auto& param) {
    double* value = param.value().data();
    const double* analytic = param.grad().data();
    for (index_t i = 0; i < param.numel(); ++i) {
      const double saved = value[i];
      value[i] = saved + options.step;
      const double up = loss_at();
      value[i] = saved - options.step;
      const double down = loss_at();
      value[i] = saved;
      const double numeric = (up - down) / (2 * options.step);
      const double err = std::abs(analytic[i] - numeric) / std::max({1.0, std::abs(analytic[i]), std::abs(numeric)});
      if (err > result.worst_error) {
        result.worst_error = err;
        result.report = "parameter " + std::to_string(which) + " '" + param.name() + "' element " + std::to_string(i) +
                        ": analytic " + std::to_string(analytic[i]) + ", numeric " + std::to_string(numeric);
      }
    }
    param.zero_grad();
    ++which;
  };
  (check(params), ...);
  result.ok = result.worst_error <= options.tolerance;
  return result;
}

// Every parameter uniform in [lo, hi): non-trivial norms and biases for value tests.
template <class M>
void randomize_parameters(M& module, unsigned seed, double lo = -0.5, double hi = 0.5) {
  std::mt19937_64 rng(seed);
  for_each_parameter(module, [&](std::string_view, auto& p) {
    using T = typename std::remove_cvref_t<decltype(p)>::value_type;
    for (auto& v : p.value().span()) v = T(uniform<double>(rng, lo, hi));
  });
}

// name → row-major values.
template <class M>
std::map<std::string, std::vector<double>> state_dict(M& module) {
  std::map<std::string, std::vector<double>> out;
  for_each_parameter(module, [&](std::string_view name, const auto& p) {
    out[std::string(name)].assign(p.value().span().begin(), p.value().span().end());
  });
  return out;
}

inline Tensor<std::int32_t, Shape<dyn, dyn>> random_tokens(index_t batch, index_t seq, std::int32_t vocab, unsigned seed) {
  std::mt19937 rng(seed);
  Tensor<std::int32_t, Shape<dyn, dyn>> t(Shape<dyn, dyn>{batch, seq});
  for (auto& v : t.span()) v = std::int32_t(uniform_below(rng, std::uint64_t(vocab)));
  return t;
}

// A (batch, seq, width) float64 input.
template <index_t Width>
Tensor<double, Shape<dyn, dyn, Width>> random_input(index_t batch, index_t seq, unsigned seed) {
  std::mt19937_64 rng(seed);
  return random_tensor(Shape<dyn, dyn, Width>{batch, seq}, rng);
}

}  // namespace nn_test
