// The CUDA runtime layer: device memory and transfers, the caching allocator, streams, checked
// launches and errors, and captured graphs. Built by nvcc, labelled `cuda`; without a GPU each test
// reports "skipped: no CUDA device".
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // for the listener below
#include <cstdint>
#include <cstdio>

#include "parity.hpp"
#include "ranklens/cuda/elementwise.cuh"
#include "ranklens/cuda/graph.hpp"
#include "ranklens/cuda/reduce.cuh"

using namespace ranklens;
using namespace ranklens::test::parity;

namespace {

// With RANKLENS_TEST_TRACE=1, every test case's name goes to stderr (unbuffered) as it starts, so
// that a compute-sanitizer report in the same log can be read against the test that caused it
// (scripts/gpu_check.sh). Registered here, once for the whole CUDA test binary.
struct test_trace : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    static const bool on = [] {
      const char* flag = std::getenv("RANKLENS_TEST_TRACE");
      return flag != nullptr && std::string(flag) == "1";
    }();
    if (!on) return;
    std::fprintf(stderr, "ranklens-test-start: %s\n", info.name.c_str());
    std::fflush(stderr);
  }
};

template <class T>
__global__ void add_one_kernel(T* x, index_t n) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += T(1);
}
}  // namespace

CATCH_REGISTER_LISTENER(test_trace)

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
  cuda::device_buffer<float> x(4);
  // Shapes past the device's limits are refused before CUDA is asked (which would only say
  // "invalid argument"): 4096 threads per block, a grid.y past 65535, too much shared memory.
  REQUIRE_THROWS_WITH(cuda::launch("add_one (too many threads)", add_one_kernel<float>, cuda::launch_shape{dim3(1), dim3(4096)}, x.data(),
                                   index_t(4)),
                      Catch::Contains("add_one (too many threads)") && Catch::Contains("4096 threads"));
  REQUIRE_THROWS_WITH(cuda::launch("add_one (tall grid)", add_one_kernel<float>, cuda::launch_shape{dim3(1, 70000), dim3(32)}, x.data(),
                                   index_t(4)),
                      Catch::Contains("grid.y = 70000"));
  REQUIRE_THROWS_WITH(cuda::launch("add_one (shared)", add_one_kernel<float>, cuda::launch_shape{dim3(1), dim3(32), std::size_t(1) << 30},
                                   x.data(), index_t(4)),
                      Catch::Contains("dynamic shared memory"));
}

TEST_CASE("the caching allocator reuses freed blocks on the same stream and keeps statistics", "[cuda][allocator]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  auto& allocator = cuda::caching_allocator::instance();
  allocator.empty_cache();  // blocks other tests freed would otherwise answer the requests below
  CHECK(cuda::caching_allocator::rounded_size(1) == 512);
  CHECK(cuda::caching_allocator::rounded_size(513) == 1024);
  CHECK(cuda::caching_allocator::rounded_size((1 << 20) + 1) == std::size_t(2) << 20);
  const auto before = allocator.statistics();
  if (!allocator.caching()) {
    // RANKLENS_CUDA_NO_CACHE=1 (gpu_check.sh's memcheck run): blocks are exact and never reused.
    WARN("the allocator's cache is off (RANKLENS_CUDA_NO_CACHE=1): reuse is not checked, only the uncached accounting");
    void* p = allocator.allocate(3000);
    CHECK(allocator.statistics().in_use == before.in_use + 3000);
    CHECK(allocator.statistics().device_allocations == before.device_allocations + 1);
    allocator.deallocate(p);
    CHECK(allocator.statistics().in_use == before.in_use);
    CHECK(allocator.statistics().cached == 0);
    return;
  }
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
  // A capture that would wait for the device (sum_all copies its result to the host) is refused
  // before CUDA is asked, so the capture is not invalidated and the graph stays usable.
  REQUIRE_THROWS_WITH(g.capture([&] { (void)cuda::sum_all(x.data(), n); }),
                      Catch::Contains("cuda::copy_to_host") && Catch::Contains("captured into a CUDA graph"));
  g.capture(step);
  g.replay();
  cuda::synchronize();
  CHECK(x.download().front() == 6.0f);
}
