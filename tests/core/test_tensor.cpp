#include <catch2/catch.hpp>

#include <cstdint>

#include "ranklens/core/arena.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/core/xtensor_interop.hpp"

namespace core_test_tensor {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("tensors are row-major, 64-byte aligned and deep-copied", "[core][tensor]") {
  Tensor<float, Shape<dyn, 3>> t(Shape<dyn, 3>{2}, {1, 2, 3, 4, 5, 6});
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  CHECK(t(1, 0) == 4);
  auto copy = t;
  copy(0, 0) = 100;
  CHECK(t(0, 0) == 1);
  auto moved = std::move(copy);
  CHECK(moved(0, 0) == 100);
  const float* storage = t.data();
  t = Tensor<float, Shape<dyn, 3>>(Shape<dyn, 3>{2}, 7.0f);  // same shape: copied in place
  CHECK(t.data() == storage);
  CHECK(t(1, 2) == 7);
  t = Tensor<float, Shape<dyn, 3>>(Shape<dyn, 3>{5}, 1.0f);  // new shape: new storage
  CHECK(t.extent(0) == 5);
  CHECK(Tensor<double, Shape<4>>::zeros(Shape<4>{})(3) == 0.0);
  REQUIRE_THROWS_WITH((Tensor<float, Shape<2>>(Shape<2>{}, {1, 2, 3})), Catch::Contains("needs 2 values, got 3"));
}

TEST_CASE("a strided view reads through its strides and to_tensor and to_host make it contiguous", "[core][tensor]") {
  Tensor<int, Shape<2, 3>> t(Shape<2, 3>{}, {1, 2, 3, 4, 5, 6});
  TensorView<const int, Shape<3, 2>> transposed(t.data(), Shape<3, 2>{}, {1, 3});
  CHECK_FALSE(transposed.is_contiguous());
  CHECK(transposed(2, 1) == 6);
  auto c = to_tensor(transposed);
  CHECK(std::vector<int>(c.span().begin(), c.span().end()) == std::vector<int>{1, 4, 2, 5, 3, 6});
  // to_host of a CPU view is the same row-major copy (tests/cuda copies device views with it).
  auto h = to_host(transposed);
  CHECK(std::vector<int>(h.span().begin(), h.span().end()) == std::vector<int>{1, 4, 2, 5, 3, 6});
  CHECK(h.data() != t.data());
}

TEST_CASE("xtensor sees a tensor's memory without copying, strides included", "[core][xtensor]") {
  Tensor<double, Shape<2, 3>> t(Shape<2, 3>{}, {1, 2, 3, 4, 5, 6});
  auto x = as_xtensor(t);
  CHECK(x(1, 2) == 6);
  x(0, 1) = 20;  // writes land in the tensor
  CHECK(t(0, 1) == 20);
  TensorView<double, Shape<3, 2>> tv(t.data(), Shape<3, 2>{}, {1, 3});
  auto xt_view = as_xtensor(tv);
  CHECK(xt_view(2, 0) == 3);
  CHECK(xt::sum(xt_view)() == 1 + 20 + 3 + 4 + 5 + 6);
}

TEST_CASE("from_xtensor builds a tensor and checks static extents", "[core][xtensor]") {
  xt::xtensor<float, 2> a = {{1, 2, 3}, {4, 5, 6}};
  auto t = from_xtensor<Shape<dyn, 3>>(a);
  CHECK(t.extent(0) == 2);
  CHECK(t(1, 1) == 5);
  auto doubled = from_xtensor<Shape<2, 3>>(a * 2.0f);
  CHECK(doubled(1, 2) == 12);
  REQUIRE_THROWS_WITH((from_xtensor<Shape<dyn, 4>>(a)), Catch::Contains("must be 4, got 3"));
}

TEST_CASE("the arena reuses its blocks after a rewind", "[core][arena]") {
  Arena<> arena(1024);
  auto mark = arena.mark();
  for (int step = 0; step < 3; ++step) {
    arena.rewind(mark);
    for (int i = 0; i < 50; ++i) {
      void* p = arena.allocate(100 + std::size_t(i) * 7);
      CHECK(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
    }
    (void)arena.allocate(5000);  // larger than a first block
  }
  const auto after_first_steps = arena.system_allocations();
  arena.rewind(mark);
  for (int i = 0; i < 50; ++i) (void)arena.allocate(100 + std::size_t(i) * 7);
  (void)arena.allocate(5000);
  CHECK(arena.system_allocations() == after_first_steps);
  CHECK(after_first_steps >= 2);
}

}  // namespace core_test_tensor
