// Specification of autograd/parameter.hpp: a parameter's gradient buffer exists only once a
// gradient needs it, and references taken earlier see it.
#include <catch2/catch.hpp>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/parameter.hpp"
#include "ranklens/ops/reduce.hpp"

namespace autograd_test_parameter {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using Catch::Matchers::Contains;

namespace {
using Vec = Shape<3>;
Parameter<double, Vec> make_param() { return Parameter<double, Vec>(Tensor<double, Vec>(Vec{}, {1, 2, 3}), "w"); }
}  // namespace

TEST_CASE("a parameter gets its gradient buffer when a training forward first uses it", "[autograd][parameter]") {
  auto p = make_param();
  const ParameterRef ref = p.ref();  // taken before the buffer exists
  CHECK_FALSE(p.has_grad());
  CHECK(ref.grad() == nullptr);
  CHECK_THROWS_WITH(p.grad(), Contains("Parameter 'w'") && Contains("has no gradient"));
  p.zero_grad();  // nothing to zero, nothing created
  CHECK_FALSE(p.has_grad());

  auto step = tape();
  {
    auto guard = no_grad();
    (void)p.var();
  }
  CHECK_FALSE(p.has_grad());  // evaluation needs no gradient

  const auto v = p.var();
  REQUIRE(p.has_grad());
  CHECK(ref.grad() == p.grad().data());  // the earlier reference sees the new buffer
  for (double g : p.grad().span()) CHECK(g == 0.0);
  backward(sum(v * v));
  CHECK(p.grad()(2) == 6.0);
  CHECK(static_cast<const double*>(ref.grad())[1] == 4.0);
}

TEST_CASE("a frozen parameter never gets a gradient buffer", "[autograd][parameter]") {
  auto p = make_param();
  auto trained = make_param();
  p.freeze();
  auto step = tape();
  backward(sum(p.var() * trained.var()));
  CHECK_FALSE(p.has_grad());
  CHECK(p.ref().grad() == nullptr);
  CHECK(trained.grad()(0) == 1.0);
}

TEST_CASE("gradient_buffer sets a gradient by hand, creating the buffer if need be", "[autograd][parameter]") {
  auto p = make_param();
  p.gradient_buffer() = Tensor<double, Vec>(Vec{}, {7, 8, 9});
  CHECK(p.grad()(1) == 8.0);
  p.zero_grad();
  CHECK(p.grad()(1) == 0.0);
  // A copy has its own buffer.
  auto copy = p;
  copy.gradient_buffer()(0) = 5;
  CHECK(p.grad()(0) == 0.0);
}

}  // namespace autograd_test_parameter
