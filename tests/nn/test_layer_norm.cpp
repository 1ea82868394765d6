#include <catch2/catch.hpp>

#include <cmath>

#include "nn_test_support.hpp"
#include "ranklens/nn/layer_norm.hpp"

namespace nn_test_layer_norm {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("LayerNorm starts as weight 1, bias 0 and normalises over the last axis", "[nn][layer_norm]") {
  LayerNorm<4, double> norm;
  for (double w : norm.weight.value().span()) CHECK(w == 1.0);
  for (double b : norm.bias.value().span()) CHECK(b == 0.0);
  CHECK(norm.eps == 1e-5);
  auto step = tape();
  Tensor<double, Shape<dyn, dyn, 4>> x(Shape<dyn, dyn, 4>{1, 1}, {1, 2, 3, 6});
  auto y = norm(constant(x));
  const double mean = 3, var = (4 + 1 + 0 + 9) / 4.0;
  CHECK(y.value()(0, 0, 3) == Approx((6 - mean) / std::sqrt(var + 1e-5)));
}

TEST_CASE("LayerNorm passes the gradient check for input, weight and bias", "[nn][layer_norm][gradcheck]") {
  LayerNorm<6, double> norm(1e-3);
  nn_test::randomize_parameters(norm, 1);
  auto x = nn_test::random_input<6>(2, 3, 2);
  CHECK(check_gradients([&](auto v) { return norm(v); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return norm(constant(x)); }, norm.weight, norm.bias));
}

}  // namespace nn_test_layer_norm
