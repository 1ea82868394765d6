// Sums computed by several threads that still give the same bits on every run and for every
// thread count: the work is cut into blocks whose borders depend only on the shape, each block
// writes its own partial, and the partials are added in block order by one thread.
//
// Weight and bias gradients, full sums and the scalar operand of a binary op all reduce this
// way. Within a block, sums run in T (short chains); across blocks, in double.
#pragma once
#include <algorithm>
#include <cstring>

#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/cpu/thread_pool.hpp"

namespace ranklens::cpu {

// Σ of partial(begin, end) over fixed blocks of `block` elements covering [0, n), where
// partial returns the (double) sum of its range. Blocks run in parallel, `grain` elements
// at least per thread.
template <class Partial>
double blocked_sum(index_t n, index_t block, index_t grain, Partial&& partial) {
  if (n <= 0) return 0;
  block = std::max<index_t>(block, 1);
  const index_t blocks = (n + block - 1) / block;
  if (blocks == 1) return partial(index_t(0), n);
  const std::span<double> partials = thread_scratch<double>(scratch_slot::partial_sums, std::size_t(blocks));
  parallel_for(blocks, std::max<index_t>(grain / block, 1), [&](index_t first, index_t last) {
    for (index_t b = first; b < last; ++b)
      partials[std::size_t(b)] = partial(b * block, std::min(n, (b + 1) * block));
  });
  double total = 0;
  for (const double p : partials) total += p;
  return total;
}

// Column sums over rows: for `width` columns, calls contribute(row_begin, row_end, acc) to add
// the contributions of those rows into acc[0..width) (acc starts at zero, in T), then
// finish(column, total) once per column with the column's total over all rows (in double).
// `grain_rows` is the least number of rows worth giving one thread.
template <Real T, class Contribute, class Finish>
void sum_over_row_blocks(index_t rows, index_t width, index_t grain_rows, Contribute&& contribute,
                         Finish&& finish) {
  if (width <= 0) return;
  if (rows <= 0) {
    for (index_t j = 0; j < width; ++j) finish(j, 0.0);
    return;
  }
  // Block borders depend on the shape only. Blocks of 64 rows keep the chains summed in T
  // short; the block count is capped so that the partials stay small next to the input.
  const index_t max_blocks = std::clamp<index_t>((index_t(1) << 22) / width, 1, 1024);
  const index_t blocks = std::clamp<index_t>((rows + 63) / 64, 1, max_blocks);
  const index_t block_rows = (rows + blocks - 1) / blocks;
  const index_t used_blocks = (rows + block_rows - 1) / block_rows;

  const std::span<T> partials = thread_scratch<T>(scratch_slot::partial_sums, std::size_t(used_blocks * width));
  std::fill(partials.begin(), partials.end(), T(0));
  parallel_for(used_blocks, std::max<index_t>(grain_rows / block_rows, 1),
               [&](index_t first, index_t last) {
                 for (index_t b = first; b < last; ++b)
                   contribute(b * block_rows, std::min(rows, (b + 1) * block_rows),
                              partials.data() + b * width);
               });
  const std::span<double> totals = thread_scratch<double>(scratch_slot::totals, std::size_t(width));
  std::fill(totals.begin(), totals.end(), 0.0);
  for (index_t b = 0; b < used_blocks; ++b) {
    const T* partial = partials.data() + b * width;
    for (index_t j = 0; j < width; ++j) totals[std::size_t(j)] += double(partial[j]);
  }
  for (index_t j = 0; j < width; ++j) finish(j, totals[std::size_t(j)]);
}

}  // namespace ranklens::cpu
