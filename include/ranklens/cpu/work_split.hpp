// How the kernels split their work over the thread pool: how many elements are worth a
// thread (by arithmetic cost per element), chunks of elements that end on cache-line borders,
// and whole rows.
#pragma once
#include <algorithm>

#include "ranklens/core/config.hpp"
#include "ranklens/cpu/thread_pool.hpp"

namespace ranklens::cpu {

// Elements worth giving one thread, for a loop doing about `cost` adds' worth of arithmetic
// per element (the functors' cost): below it, dispatching to the pool costs more than it
// saves, so small tensors stay on the calling thread. Measured for y = a + b in float on two
// cores (Zen 5): 32k elements take 2.7 us on one thread and 1.9 us split in two; 8k elements
// break even. parallel_for splits from two grains up, so the first split is at 32k.
inline constexpr index_t cheap_parallel_grain = index_t(1) << 14;
constexpr index_t parallel_grain(int cost) noexcept {
  return std::max<index_t>(cheap_parallel_grain / std::max(cost, 1), 1024);
}

// parallel_for over [0, n) elements whose chunk borders fall on multiples of 64 elements
// (whole cache lines for float and double), so that no two threads write one cache line.
template <class F>
void parallel_for_elements(index_t n, index_t grain, F&& fn) {
  constexpr index_t line = 64;
  const index_t lines = (n + line - 1) / line;
  parallel_for(lines, std::max<index_t>(grain / line, 1),
               [&](index_t begin, index_t end) { fn(begin * line, std::min(end * line, n)); });
}

// Runs row(r) for r in [0, rows), over the pool when rows * cols elements at `cost` each are
// worth it.
template <class Row>
void parallel_for_rows(index_t rows, index_t cols, int cost, Row&& row) {
  parallel_for(rows, std::max<index_t>(parallel_grain(cost) / std::max<index_t>(cols, 1), 1),
               [&](index_t first, index_t last) {
                 for (index_t r = first; r < last; ++r) row(r);
               });
}

}  // namespace ranklens::cpu
