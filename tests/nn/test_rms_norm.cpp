#include <catch2/catch.hpp>

#include <cmath>

#include "nn_test_support.hpp"
#include "ranklens/nn/rms_norm.hpp"

namespace nn_test_rms_norm {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("RMSNorm starts as weight 1 and divides by the root mean square", "[nn][rms_norm]") {
  RMSNorm<4, double> norm;
  for (double w : norm.weight.value().span()) CHECK(w == 1.0);
  CHECK(norm.eps == 1e-6);
  auto step = tape();
  Tensor<double, Shape<dyn, dyn, 4>> x(Shape<dyn, dyn, 4>{1, 1}, {1, 2, 3, 6});
  auto y = norm(constant(x));
  CHECK(y.value()(0, 0, 1) == Approx(2 / std::sqrt((1 + 4 + 9 + 36) / 4.0 + 1e-6)));
}

TEST_CASE("RMSNorm passes the gradient check for input and weight", "[nn][rms_norm][gradcheck]") {
  RMSNorm<6, double> norm;
  nn_test::randomize_parameters(norm, 1);
  auto x = nn_test::random_input<6>(2, 3, 2);
  CHECK(check_gradients([&](auto v) { return norm(v); }, x));
  CHECK(nn_test::check_parameter_gradients([&] { return norm(constant(x)); }, norm.weight));
}

}  // namespace nn_test_rms_norm
