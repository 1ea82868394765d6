// CUDA tests: built by nvcc, labelled `cuda`, and each reports "skipped: no CUDA device" and
// passes where no GPU is present (CI); run them on a GPU machine for real.
#include <catch2/catch.hpp>

#include "ranklens/cuda/elementwise.cuh"

using namespace ranklens;

#define RANKLENS_REQUIRE_CUDA_DEVICE()       \
  if (!cuda::device_available()) {           \
    WARN("skipped: no CUDA device");         \
    return;                                  \
  }

TEST_CASE("tensors round-trip between host and device memory", "[cuda]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  Tensor<float, Shape<dyn, 3>> host(Shape<dyn, 3>{1000}, 0.0f);
  for (index_t i = 0; i < host.numel(); ++i) host.data()[i] = float(i) * 0.5f;
  auto device = to_device(host);
  auto copy = device;  // device-to-device copy
  auto back = to_host(copy);
  for (index_t i = 0; i < host.numel(); ++i) REQUIRE(back.data()[i] == host.data()[i]);
  auto zeros = to_host(Tensor<double, Shape<7>, cuda_t>::zeros(Shape<7>{}));
  CHECK(zeros(6) == 0.0);
}

TEST_CASE("the CUDA add kernel matches the CPU, and bad shapes are refused", "[cuda]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t n = 1 << 20;
  Tensor<float, Shape<dyn>> a(Shape<dyn>{n}), b(Shape<dyn>{n});
  for (index_t i = 0; i < n; ++i) a(i) = float(i % 97), b(i) = float(i % 13) * 0.25f;
  auto da = to_device(a), db = to_device(b);
  Tensor<float, Shape<dyn>, cuda_t> dy(Shape<dyn>{n});
  cuda::add(da, db, dy);
  auto y = to_host(dy);
  for (index_t i = 0; i < n; i += 4099) REQUIRE(y(i) == a(i) + b(i));
  Tensor<float, Shape<dyn>, cuda_t> small(Shape<dyn>{3});
  REQUIRE_THROWS_AS(cuda::add(da, db, small), shape_error);
}

TEST_CASE("CUDA errors become ranklens exceptions naming the call", "[cuda]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  REQUIRE_THROWS_WITH(cuda::check(cudaErrorInvalidValue, "cudaMemcpy"), Catch::Contains("cudaMemcpy"));
}
