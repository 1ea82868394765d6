#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/parameter.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/reduce.hpp"

namespace autograd_test_tape {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
using Vec = Shape<3>;
Parameter<double, Vec> make_param(std::initializer_list<double> v) { return Parameter<double, Vec>(Tensor<double, Vec>(Vec{}, v), "p"); }

// L = Σ (p·x) with a (1×3)·(3×1) matmul so that the loss is one element.
template <class P>
auto dot_loss(const P& p, const Tensor<double, Vec>& x) {
  auto row = p.var().template with_layout<Shape<1, 3>>(0, Shape<1, 3>{}, {3, 1});
  auto col = constant(x).template with_layout<Shape<3, 1>>(0, Shape<3, 1>{}, {1, 1});
  return matmul(row, col);
}
}  // namespace

TEST_CASE("parameter gradients accumulate across backward calls until zero_grad", "[autograd]") {
  auto p = make_param({1, 2, 3});
  Tensor<double, Vec> x(Vec{}, {4, 5, 6});
  for (int i = 0; i < 2; ++i) {
    auto step = tape();
    backward(dot_loss(p, x));
  }
  CHECK(p.grad()(0) == 8);
  CHECK(p.grad()(2) == 12);
  p.zero_grad();
  CHECK(p.grad()(2) == 0);
}

TEST_CASE("two forward/backward passes in one tape scope each count once", "[autograd]") {
  auto p = make_param({1, 2, 3});
  Tensor<double, Vec> x(Vec{}, {4, 5, 6});
  auto step = tape();
  backward(dot_loss(p, x));
  backward(dot_loss(p, x));  // a second micro-batch: the first graph must not run again
  CHECK(p.grad()(1) == 10);
}

TEST_CASE("retain_graph lets backward run over the same graph again", "[autograd]") {
  auto p = make_param({1, 2, 3});
  Tensor<double, Vec> x(Vec{}, {4, 5, 6});
  auto step = tape();
  auto loss = dot_loss(p, x);
  backward(loss, {.retain_graph = true});
  CHECK(p.grad()(0) == 4);
}

TEST_CASE("no_grad records nothing and frozen parameters get no gradient", "[autograd]") {
  auto p = make_param({1, 2, 3});
  Tensor<double, Vec> x(Vec{}, {4, 5, 6});
  auto step = tape();
  const auto entries_before = Tape::current().entries();
  {
    auto guard = no_grad();
    auto loss = dot_loss(p, x);
    CHECK_FALSE(loss.requires_grad());
    CHECK(loss.item() == 4 + 10 + 18);
    CHECK(Tape::current().entries() == entries_before);
  }
  p.freeze();
  auto loss = dot_loss(p, x);
  CHECK_FALSE(loss.requires_grad());
  REQUIRE_THROWS_WITH(backward(loss), Catch::Contains("does not depend on anything that requires grad"));
}

TEST_CASE("a steady-state training step allocates nothing from the system", "[autograd][arena]") {
  auto p = make_param({1, 2, 3});
  Tensor<double, Vec> x(Vec{}, {4, 5, 6});
  auto one_step = [&] {
    auto step = tape();
    auto y = constant(x) * p.var() + p.var();
    auto loss = dot_loss(p, x) + y.template with_layout<Shape<1, 1>>(0, Shape<1, 1>{}, {1, 1});
    backward(loss);
  };
  one_step();
  const auto allocations = Tape::current().system_allocations();
  for (int i = 0; i < 10; ++i) one_step();
  CHECK(Tape::current().system_allocations() == allocations);
}

TEST_CASE("anomaly mode names the first op whose forward produces NaN or Inf", "[autograd][anomaly]") {
  auto step = tape();
  Tensor<double, Vec> zero(Vec{}, {0, 1, 2});
  Tensor<double, Vec> ones(Vec{}, {1, 1, 1});
  auto guard = detect_anomaly();
  auto a = variable(ones);
  REQUIRE_THROWS_WITH(a / constant(zero), Catch::Contains("forward of 'div'") && Catch::Contains("(3)"));
}

TEST_CASE("anomaly mode names the op whose backward produces NaN or Inf", "[autograd][anomaly]") {
  auto step = tape();
  Tensor<double, Vec> den(Vec{}, {1e-10, 1, 2});
  Tensor<double, Vec> num(Vec{}, {1e-10, 1, 1});
  auto guard = detect_anomaly();
  auto d = variable(den);
  auto y = constant(num) / d;  // forward is finite (1), but seed·dy/dd = −1e300/1e-10 overflows
  Tensor<double, Vec> seed(Vec{}, {1e300, 1, 1});
  REQUIRE_THROWS_WITH(backward(y, seed.view()), Catch::Contains("backward of 'div'") && Catch::Contains("input 1"));
}

TEST_CASE("without anomaly mode NaN passes through silently, as in PyTorch", "[autograd][anomaly]") {
  auto step = tape();
  Tensor<double, Vec> zero(Vec{}, {0, 1, 2});
  auto y = constant(zero) / constant(zero);
  CHECK(std::isnan(y.value()(0)));
}

TEST_CASE("detach cuts the graph, variable shares the caller's memory", "[autograd]") {
  auto step = tape();
  Tensor<double, Vec> x(Vec{}, {1, 2, 3});
  auto v = variable(x);
  CHECK(v.value().data() == x.data());
  auto d = detach(v * v);
  CHECK_FALSE(d.requires_grad());
  CHECK(d.value()(2) == 9);
}

TEST_CASE("variable and constant of a temporary tensor keep its values for the whole tape scope", "[autograd]") {
  auto step = tape();
  const auto make = [](double first) { return Tensor<double, Vec>(Vec{}, {first, 2, 3}); };
  const auto v = variable(make(1));
  const auto c = constant(make(10));
  // The temporaries are gone: tensors of their size made now may take their memory, and a Var
  // that had kept a view of it would read these values (or, under ASan, freed memory).
  std::vector<Tensor<double, Vec>> later;
  for (int i = 0; i < 8; ++i) later.emplace_back(Vec{}, std::initializer_list<double>{-7, -7, -7});
  CHECK(v.value()(0) == 1);
  CHECK(v.value()(2) == 3);
  CHECK(c.value()(0) == 10);
  CHECK(v.requires_grad());
  CHECK_FALSE(c.requires_grad());
  backward(sum(v * c));
  CHECK(v.grad()(0) == 10);
  CHECK(v.grad()(1) == 2);
  CHECK(v.grad()(2) == 3);
}

}  // namespace autograd_test_tape
