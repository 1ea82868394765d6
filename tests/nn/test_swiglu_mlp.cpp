#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "nn_test_support.hpp"
#include "ranklens/nn/swiglu_mlp.hpp"

namespace nn_test_swiglu_mlp {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
using Config = Qwen2Like<4, 1, 2, 1, 7, 6>;  // mlp_width 6
double silu(double x) { return x / (1 + std::exp(-x)); }
}  // namespace

TEST_CASE("SwiGluMlp computes down(silu(gate(x)) · up(x)) without biases", "[nn][mlp]") {
  std::mt19937 rng(0);
  SwiGluMlp<Config, double> mlp(rng);
  static_assert(std::is_same_v<decltype(mlp.gate_proj.weight)::shape_type, Shape<6, 4>>);
  static_assert(std::is_same_v<decltype(mlp.down_proj.weight)::shape_type, Shape<4, 6>>);
  CHECK_FALSE(mlp.gate_proj.bias.has_value());
  CHECK_FALSE(mlp.up_proj.bias.has_value());
  CHECK_FALSE(mlp.down_proj.bias.has_value());
  nn_test::randomize_parameters(mlp, 1, -1, 1);
  auto x = nn_test::random_input<4>(1, 2, 2);
  auto step = tape();
  auto y = mlp(constant(x)).value();
  for (index_t t = 0; t < 2; ++t)
    for (index_t o = 0; o < 4; ++o) {
      double expected = 0;
      for (index_t j = 0; j < 6; ++j) {
        double gate = 0, up = 0;
        for (index_t i = 0; i < 4; ++i) {
          gate += mlp.gate_proj.weight.value()(j, i) * x(0, t, i);
          up += mlp.up_proj.weight.value()(j, i) * x(0, t, i);
        }
        expected += mlp.down_proj.weight.value()(o, j) * silu(gate) * up;
      }
      CHECK(y(0, t, o) == Approx(expected).epsilon(1e-12));
    }
}

TEST_CASE("SwiGluMlp passes the gradient check", "[nn][mlp][gradcheck]") {
  std::mt19937 rng(3);
  SwiGluMlp<Config, double> mlp(rng);
  nn_test::randomize_parameters(mlp, 4, -1, 1);
  auto x = nn_test::random_input<4>(2, 3, 5);
  CHECK(check_gradients([&](auto v) { return mlp(v); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return mlp(constant(x)); }, mlp.gate_proj.weight, mlp.up_proj.weight,
                                           mlp.down_proj.weight));
}

}  // namespace nn_test_swiglu_mlp
