// SparseActivations<T>: the active latents of a batch of tokens, as a sparse (tokens, latents)
// matrix: the pattern (which latent each entry is, row by row) lives in the tape's arena as plain
// data, and the values are a Var, so gradients flow through them into the encoder that produced
// them and the decoder that reads them (ops/sparse_encode.hpp, ops/sparse_decode.hpp).
//
// An entry may hold 0 (TopK keeps exactly k entries per token, and a ReLU zeroes those whose
// pre-activation is negative); active() counts the positive ones, which is what L0 means.
#pragma once
#include <cstdint>

#include "ranklens/autograd/record.hpp"
#include "ranklens/cpu/sparse_rows.hpp"

namespace ranklens {

template <class T, Device D = cpu_t>
struct SparseActivations {
  cpu::CompressedRows pattern{};
  cpu::EntriesByColumn by_column{};  // empty (nullptrs) unless a backward needs it
  Var<T, Shape<dyn>, D> values{};

  index_t rows() const noexcept { return pattern.rows; }
  index_t latents() const noexcept { return pattern.cols; }
  index_t entries() const noexcept { return pattern.entries(); }
  bool has_by_column() const noexcept { return by_column.column_offsets != nullptr; }

  // The latent of entry e, and the entries of token r: [row_begin(r), row_end(r)).
  std::int32_t latent(index_t e) const noexcept { return pattern.columns[e]; }
  index_t row_begin(index_t r) const noexcept { return pattern.row_offsets[r]; }
  index_t row_end(index_t r) const noexcept { return pattern.row_offsets[r + 1]; }

  // Entries with a positive value (the L0 of the whole batch).
  index_t active() const
    requires std::same_as<D, cpu_t>
  {
    index_t count = 0;
    const T* v = values.value().data();
    for (index_t e = 0; e < entries(); ++e) count += v[e] > T(0);
    return count;
  }

  // The dense (rows, latents) matrix, zeros off the pattern.
  Tensor<T, Shape<dyn, dyn>, D> to_dense() const
    requires std::same_as<D, cpu_t>
  {
    auto dense = Tensor<T, Shape<dyn, dyn>, D>::zeros(Shape<dyn, dyn>{rows(), latents()});
    const T* v = values.value().data();
    for (index_t r = 0; r < rows(); ++r)
      for (index_t e = row_begin(r); e < row_end(r); ++e) dense(r, index_t(latent(e))) = v[e];
    return dense;
  }
};

namespace detail {

// The pattern's entries grouped by latent, in the arena.
template <Device D>
cpu::EntriesByColumn group_by_latent(const cpu::CompressedRows& pattern) {
  auto& arena = Tape::current().arena<D>();
  const std::size_t n = std::size_t(std::max<index_t>(pattern.entries(), 1));
  auto* offsets = arena.template allocate_array<index_t>(std::size_t(pattern.cols + 1));
  auto* entries = arena.template allocate_array<index_t>(n);
  auto* rows = arena.template allocate_array<std::int32_t>(n);
  cpu::group_by_column(pattern, offsets, entries, rows);
  return {.column_offsets = offsets, .entries = entries, .entry_rows = rows};
}

}  // namespace detail

}  // namespace ranklens
