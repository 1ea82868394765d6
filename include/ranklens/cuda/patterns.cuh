// The four kernel shapes most of the backend is made of, each a kernel template that takes small
// functor structs (named structs rather than lambdas: nvcc needs no --extended-lambda then):
//
//   map            element i of n: f.load(i) for four elements a thread first, then f.store(i, v),
//                  so that each thread has four independent loads in flight; stores read any
//                  array they accumulate into themselves, so in-place and aliasing outputs keep
//                  the order of a sequential loop element by element.
//   row_reduce     out(r, Σ_j value(r, j)) for every row, one row group per row (numeric.cuh).
//   column_reduce  out(c, Σ_r value(r, c)) for every column, in two deterministic stages: blocks
//                  of rows into partial sums, then the partials of each column in order.
//   total_reduce   out(0, Σ_i value(i)), in two deterministic stages.
//
// Sums are taken in float. The stages' order depends on the shape only, never on the device or
// the launch, so results repeat bit for bit.
#pragma once
#include <type_traits>
#include <utility>

#include "ranklens/core/config.hpp"
#include "ranklens/cuda/device_buffer.hpp"
#include "ranklens/cuda/launch.cuh"
#include "ranklens/cuda/numeric.cuh"

namespace ranklens::cuda {

// Where a reduction puts its result: added to what is there, or stored over it.
template <class T>
struct add_into {
  T* out;
  __device__ void operator()(index_t i, float v) const { out[i] = from_float<T>(to_float(out[i]) + v); }
};
template <class T>
struct store_into {
  T* out;
  __device__ void operator()(index_t i, float v) const { out[i] = from_float<T>(v); }
};

namespace detail {

inline constexpr int map_threads = 256;
inline constexpr int map_items_per_thread = 4;

template <class F>
__global__ void __launch_bounds__(map_threads) map_kernel(F f, index_t n) {
  using loaded = decltype(f.load(index_t(0)));
  const index_t base = index_t(blockIdx.x) * (map_threads * map_items_per_thread) + threadIdx.x;
  loaded v[map_items_per_thread];
#pragma unroll
  for (int k = 0; k < map_items_per_thread; ++k) {
    const index_t i = base + index_t(k) * map_threads;
    if (i < n) v[k] = f.load(i);
  }
#pragma unroll
  for (int k = 0; k < map_items_per_thread; ++k) {
    const index_t i = base + index_t(k) * map_threads;
    if (i < n) f.store(i, v[k]);
  }
}

// The geometry of row kernels: Threads consecutive threads per row, blocks of at least 256
// threads. Rows past the end are clamped to the last row (so that loads stay in bounds and every
// thread takes part in the group's shuffles and barriers); `valid` says whether to store.
template <int Threads>
struct row_group {
  static constexpr int block_threads = Threads >= 256 ? Threads : 256;
  static constexpr int rows_per_block = block_threads / Threads;
  index_t row;
  int lane;
  bool valid;
  __device__ explicit row_group(index_t rows) {
    lane = int(threadIdx.x % Threads);
    const index_t r = index_t(blockIdx.x) * rows_per_block + threadIdx.x / Threads;
    valid = r < rows;
    row = valid ? r : rows - 1;
  }
  static launch_shape shape(index_t rows, std::size_t shared_bytes = 0) {
    return {dim3(blocks_for(rows, rows_per_block)), dim3(block_threads), shared_bytes};
  }
};

// Calls body.template operator()<Threads>() with the row group size for rows of `cols`: a warp
// up to 1024 columns, a block of 512 beyond.
template <class Body>
void with_row_threads(index_t cols, Body&& body) {
  if (cols <= 1024)
    body.template operator()<32>();
  else
    body.template operator()<512>();
}

template <int Threads, class Value, class Out>
__global__ void __launch_bounds__(row_group<Threads>::block_threads) row_reduce_kernel(Value value, Out out, index_t rows, index_t cols) {
  const row_group<Threads> g(rows);
  float s = 0;
  for (index_t j = g.lane; j < cols; j += Threads) s += value(g.row, j);
  s = group_sum<Threads>(s);
  if (g.valid && g.lane == 0) out(g.row, s);
}

inline constexpr int column_block_x = 32, column_block_y = 8;

template <class Value>
__global__ void __launch_bounds__(column_block_x* column_block_y)
    column_partials_kernel(Value value, index_t rows, index_t cols, index_t rows_per_chunk, float* partials) {
  __shared__ float sums[column_block_y][column_block_x + 1];
  const index_t c = index_t(blockIdx.x) * column_block_x + threadIdx.x;
  const index_t first = index_t(blockIdx.y) * rows_per_chunk;
  const index_t last = first + rows_per_chunk < rows ? first + rows_per_chunk : rows;
  float s = 0;
  if (c < cols)
    for (index_t r = first + threadIdx.y; r < last; r += column_block_y) s += value(r, c);
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0;
#pragma unroll
    for (int k = 0; k < column_block_y; ++k) total += sums[k][threadIdx.x];
    partials[index_t(blockIdx.y) * cols + c] = total;
  }
}

template <class Out>
__global__ void column_finish_kernel(const float* partials, index_t chunks, index_t cols, Out out) {
  const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float total = 0;
  for (index_t k = 0; k < chunks; ++k) total += partials[k * cols + c];
  out(c, total);
}

inline constexpr int total_threads = 256;

template <class Value>
__global__ void __launch_bounds__(total_threads) total_partials_kernel(Value value, index_t n, float* partials) {
  float s = 0;
  for (index_t i = index_t(blockIdx.x) * total_threads + threadIdx.x; i < n; i += index_t(gridDim.x) * total_threads) s += value(i);
  s = group_sum<total_threads>(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

template <class Out>
__global__ void __launch_bounds__(total_threads) total_finish_kernel(const float* partials, index_t count, Out out) {
  float s = 0;
  for (index_t i = threadIdx.x; i < count; i += total_threads) s += partials[i];
  s = group_sum<total_threads>(s);
  if (threadIdx.x == 0) out(0, s);
}

}  // namespace detail

// f.store(i, f.load(i)) for i in [0, n).
template <class F>
void map(const char* name, index_t n, const F& f) {
  if (n <= 0) return;
  launch(name, detail::map_kernel<F>,
         launch_shape{dim3(blocks_for(n, detail::map_threads * detail::map_items_per_thread)), dim3(detail::map_threads)}, f, n);
}

// out(r, Σ_j value(r, j)) for r in [0, rows).
template <class Value, class Out>
void row_reduce(const char* name, index_t rows, index_t cols, const Value& value, const Out& out) {
  if (rows <= 0) return;
  detail::with_row_threads(cols, [&]<int Threads>() {
    launch(name, detail::row_reduce_kernel<Threads, Value, Out>, detail::row_group<Threads>::shape(rows), value, out, rows, cols);
  });
}

// out(c, Σ_r value(r, c)) for c in [0, cols); with rows = 0, out(c, 0).
template <class Value, class Out>
void column_reduce(const char* name, index_t rows, index_t cols, const Value& value, const Out& out) {
  if (cols <= 0) return;
  const index_t column_blocks = (cols + detail::column_block_x - 1) / detail::column_block_x;
  // About a thousand blocks in the first stage, each at least 32 rows: enough to fill a GPU, and
  // a function of the shape alone (deterministic sums).
  const index_t wanted_chunks = std::max<index_t>(1, 1024 / column_blocks);
  const index_t rows_per_chunk = std::max<index_t>(32, (rows + wanted_chunks - 1) / wanted_chunks);
  const index_t chunks = std::max<index_t>(1, (rows + rows_per_chunk - 1) / rows_per_chunk);
  device_buffer<float> partials(chunks * cols);
  launch(name, detail::column_partials_kernel<Value>,
         launch_shape{dim3(unsigned(column_blocks), unsigned(chunks)), dim3(detail::column_block_x, detail::column_block_y)}, value, rows,
         cols, rows_per_chunk, partials.data());
  launch(name, detail::column_finish_kernel<Out>, launch_shape{dim3(blocks_for(cols, 256)), dim3(256)}, partials.data(), chunks, cols,
         out);
}

// out(0, Σ_i value(i)) for i in [0, n).
template <class Value, class Out>
void total_reduce(const char* name, index_t n, const Value& value, const Out& out) {
  const index_t blocks = std::clamp<index_t>((n + 2047) / 2048, 1, 1024);
  device_buffer<float> partials(blocks);
  launch(name, detail::total_partials_kernel<Value>, launch_shape{dim3(unsigned(blocks)), dim3(detail::total_threads)}, value, n,
         partials.data());
  launch(name, detail::total_finish_kernel<Out>, launch_shape{dim3(1), dim3(detail::total_threads)}, partials.data(), blocks, out);
}

}  // namespace ranklens::cuda
