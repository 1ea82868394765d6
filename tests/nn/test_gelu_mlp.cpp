#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/gelu_mlp.hpp"

namespace nn_test_gelu_mlp {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
using Config = Gpt2Like<4, 1, 2, 7, 8>;  // mlp_width 16
double gelu_new(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x))); }
}  // namespace

TEST_CASE("GeluMlp computes c_proj(gelu_tanh(c_fc(x))) with Conv1D layouts", "[nn][mlp]") {
  std::mt19937 rng(0);
  GeluMlp<Config, double> mlp(rng);
  static_assert(std::is_same_v<decltype(mlp.c_fc.weight)::shape_type, Shape<4, 16>>);
  static_assert(std::is_same_v<decltype(mlp.c_proj.weight)::shape_type, Shape<16, 4>>);
  nn_test::randomize_parameters(mlp, 1, -1, 1);
  auto x = nn_test::random_input<4>(1, 2, 2);
  auto step = tape();
  auto y = mlp(constant(x)).value();
  for (index_t t = 0; t < 2; ++t)
    for (index_t o = 0; o < 4; ++o) {
      double expected = mlp.c_proj.bias.value()(o);
      for (index_t j = 0; j < 16; ++j) {
        double hidden = mlp.c_fc.bias.value()(j);
        for (index_t i = 0; i < 4; ++i) hidden += x(0, t, i) * mlp.c_fc.weight.value()(i, j);
        expected += gelu_new(hidden) * mlp.c_proj.weight.value()(j, o);
      }
      CHECK(y(0, t, o) == Approx(expected).epsilon(1e-12));
    }
}

TEST_CASE("GeluMlp passes the gradient check", "[nn][mlp][gradcheck]") {
  std::mt19937 rng(3);
  GeluMlp<Config, double> mlp(rng);
  nn_test::randomize_parameters(mlp, 4, -1, 1);
  auto x = nn_test::random_input<4>(2, 3, 5);
  CHECK(check_gradients([&](auto v) { return mlp(v); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return mlp(constant(x)); }, mlp.c_fc.weight, mlp.c_fc.bias, mlp.c_proj.weight,
                                           mlp.c_proj.bias));
}

}  // namespace nn_test_gelu_mlp
