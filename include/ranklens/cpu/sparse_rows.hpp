// A sparse (rows, cols) matrix in compressed rows: the pattern the sparse-autoencoder kernels
// share (rows are tokens, columns are latents). Values are kept apart from the pattern: in ops/
// they are a differentiable Var, the pattern is plain data.
//
// Backward passes that accumulate per column (a decoder row or an encoder column per latent)
// read the same entries grouped by column, so that each column is written by one thread, in
// row order: no atomics, and the same bits for any thread count.
#pragma once
#include <cstdint>
#include <string>

#include "ranklens/cpu/kernel_args.hpp"

namespace ranklens::cpu {

// Row r owns entries [row_offsets[r], row_offsets[r + 1]); entry e sits at column columns[e].
struct CompressedRows {
  index_t rows = 0;
  index_t cols = 0;
  const index_t* row_offsets = nullptr;  // rows + 1
  const std::int32_t* columns = nullptr; // row_offsets[rows]

  index_t entries() const noexcept { return rows > 0 ? row_offsets[rows] : 0; }
};

// The entries of a CompressedRows by column: column j's are entries[column_offsets[j] ..
// column_offsets[j + 1]), indices into the compressed rows, ascending; entry e lies in row
// entry_rows[e].
struct EntriesByColumn {
  const index_t* column_offsets = nullptr;  // cols + 1
  const index_t* entries = nullptr;         // one per entry
  const std::int32_t* entry_rows = nullptr; // one per entry, indexed by entry
};

// Fills the arrays of EntriesByColumn (a counting sort; O(entries + cols)). Throws if a column
// index is out of range.
inline void group_by_column(const CompressedRows& pattern, index_t* column_offsets, index_t* entries, std::int32_t* entry_rows) {
  const index_t cols = pattern.cols, nnz = pattern.entries();
  for (index_t j = 0; j <= cols; ++j) column_offsets[j] = 0;
  for (index_t r = 0; r < pattern.rows; ++r)
    for (index_t e = pattern.row_offsets[r]; e < pattern.row_offsets[r + 1]; ++e) {
      const std::int32_t j = pattern.columns[e];
      if (j < 0 || j >= cols)
        throw value_error("group_by_column: entry " + std::to_string(e) + " has column " + std::to_string(j) + ", outside [0, " +
                          std::to_string(cols) + ")");
      entry_rows[e] = std::int32_t(r);
      ++column_offsets[j + 1];
    }
  for (index_t j = 0; j < cols; ++j) column_offsets[j + 1] += column_offsets[j];
  // column_offsets[j] walks forward as column j fills, then is moved back.
  for (index_t e = 0; e < nnz; ++e) entries[column_offsets[pattern.columns[e]]++] = e;
  for (index_t j = cols; j > 0; --j) column_offsets[j] = column_offsets[j - 1];
  column_offsets[0] = 0;
}

}  // namespace ranklens::cpu
