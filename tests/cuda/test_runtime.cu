// The CUDA runtime layer: device memory and transfers, the caching allocator, streams, checked
// launches and errors, and captured graphs. Built by nvcc, labelled `cuda`; without a GPU each test
// reports "skipped: no CUDA device".
#include <cstdint>

#include "parity.hpp"
#include "ranklens/cuda/elementwise.cuh"
#include "ranklens/cuda/graph.hpp"
#include "ranklens/cuda/reduce.cuh"

using namespace ranklens;
using namespace ranklens::test::parity;

namespace {
template <class T>
__global__ void add_one_kernel(T* x, index_t n) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += T(1);
}
}  // namespace

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
  const index_t n = sized(1 << 20, 4099);
  Tensor<float, Shape<dyn>> a(Shape<dyn>{n}), b(Shape<dyn>{n});
  for (index_t i = 0; i < n; ++i) a(i) = float(i % 97), b(i) = float(i % 13) * 0.25f;
  auto da = to_device(a), db = to_device(b);
  Tensor<float, Shape<dyn>, cuda_t> dy(Shape<dyn>{n});
  cuda::add(da, db, dy);
  auto y = to_host(dy);
  for (index_t i = 0; i < n; i += 7) REQUIRE(y(i) == a(i) + b(i));
  Tensor<float, Shape<dyn>, cuda_t> small(Shape<dyn>{3});
  REQUIRE_THROWS_AS(cuda::add(da, db, small), shape_error);
}

TEST_CASE("CUDA errors become ranklens exceptions naming the call or the kernel", "[cuda]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  REQUIRE_THROWS_WITH(cuda::check(cudaErrorInvalidValue, "cudaMemcpy"), Catch::Contains("cudaMemcpy"));
  if (cuda::emulated) return;  // the emulation runs any launch
  cuda::device_buffer<float> x(4);
  // 4096 threads per block is more than any device allows.
  REQUIRE_THROWS_WITH(cuda::launch("add_one (too many threads)", add_one_kernel<float>, cuda::launch_shape{dim3(1), dim3(4096)}, x.data(),
                                   index_t(4)),
                      Catch::Contains("add_one (too many threads)"));
}

TEST_CASE("the caching allocator reuses freed blocks on the same stream and keeps statistics", "[cuda][allocator]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  auto& allocator = cuda::caching_allocator::instance();
  allocator.empty_cache();  // blocks other tests freed would otherwise answer the requests below
  CHECK(cuda::caching_allocator::rounded_size(1) == 512);
  CHECK(cuda::caching_allocator::rounded_size(513) == 1024);
  CHECK(cuda::caching_allocator::rounded_size((1 << 20) + 1) == std::size_t(2) << 20);
  const auto before = allocator.statistics();
  void* p = allocator.allocate(3000);
  CHECK(allocator.statistics().in_use == before.in_use + 3072);
  allocator.deallocate(p);
  CHECK(allocator.statistics().in_use == before.in_use);
  const std::size_t mallocs = allocator.statistics().device_allocations;
  void* q = allocator.allocate(3000);
  CHECK(q == p);  // the cached block, without a cudaMalloc
  CHECK(allocator.statistics().device_allocations == mallocs);
  void* r = allocator.allocate(3000);  // the first is taken: a new one
  CHECK(r != q);
  CHECK(allocator.statistics().peak_in_use >= before.in_use + 2 * 3072);
  allocator.deallocate(q);
  allocator.deallocate(r);
  {
    cuda::stream other;
    cuda::stream_scope on(other);
    void* s = allocator.allocate(3000);  // blocks of another stream are not reused
    CHECK(s != p);
    CHECK(s != r);
    allocator.deallocate(s);
  }
  allocator.empty_cache();
  CHECK(allocator.statistics().cached == 0);
}

TEST_CASE("stream_scope routes launches and copies to a stream and restores the previous one", "[cuda][stream]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const cudaStream_t outer = cuda::current_stream();
  cuda::stream side;
  const index_t n = 1000;
  twin<float> x(std::vector<float>(n, 1.0f));
  {
    cuda::stream_scope on(side);
    CHECK(cuda::current_stream() == side.handle());
    cuda::axpy(2.0f, x.data(), x.data(), n);  // x = 3
    side.synchronize();
  }
  CHECK(cuda::current_stream() == outer);
  const std::vector<float> got = x.download();
  CHECK(got.front() == 3.0f);
  CHECK(got.back() == 3.0f);
}

TEST_CASE("a captured graph replays its launches on fresh data each time", "[cuda][graph]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  if (cuda::emulated) {
    WARN("skipped: CUDA graphs have no host emulation");
    return;
  }
  const index_t n = 4097;
  twin<float> x(std::vector<float>(n, 1.0f)), y(std::vector<float>(n, 0.0f));
  cuda::graph g;
  auto step = [&] {  // y += 2x, then x += 1: two kernels of the backend, one of our own
    cuda::axpy(2.0f, x.data(), y.data(), n);
    cuda::launch("add_one", add_one_kernel<float>, cuda::launch_shape{dim3(cuda::blocks_for(n, 256)), dim3(256)}, x.data(), n);
  };
  g.warm_up(step);  // x = 2, y = 2
  g.capture(step);  // recorded, not run
  CHECK(x.download().front() == 2.0f);
  for (int i = 0; i < 3; ++i) g.replay();  // y = 2 + 4 + 6 + 8, x = 5
  cuda::synchronize();
  const std::vector<float> got_x = x.download(), got_y = y.download();
  CHECK(got_x.front() == 5.0f);
  CHECK(got_x.back() == 5.0f);
  CHECK(got_y.front() == 20.0f);
  CHECK(got_y.back() == 20.0f);
  // A capture that synchronises fails with the CUDA error, and the graph stays usable.
  REQUIRE_THROWS_AS(g.capture([&] { (void)cuda::sum_all(x.data(), n); }), cuda::cuda_error);
}
