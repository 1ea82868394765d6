// SparseActivations<T, D>: the active latents of a batch of tokens, as a sparse (tokens, latents)
// matrix: the pattern (which latent each entry is, row by row) lives in the tape's arena, in D's
// memory, as plain data, and the values are a Var, so gradients flow through them into the
// encoder that produced them and the decoder that reads them (ops/sparse_encode.hpp,
// ops/sparse_decode.hpp).
//
// An entry may hold 0 (TopK keeps exactly k entries per token, and a ReLU zeroes those whose
// pre-activation is negative); active() counts the positive ones, which is what L0 means.
#pragma once
#include <algorithm>
#include <cstdint>

#include "ranklens/autograd/record.hpp"
#include "ranklens/cpu/sparse_rows.hpp"

namespace ranklens {

template <class T, Device D = cpu_t>
struct SparseActivations {
  cpu::CompressedRows pattern{};     // arrays in D's memory (the tape's arena)
  cpu::EntriesByColumn by_column{};  // cpu_t only, and empty (nullptrs) unless a backward needs it
  Var<T, Shape<dyn>, D> values{};

  index_t rows() const noexcept { return pattern.rows; }
  index_t latents() const noexcept { return pattern.cols; }
  // The entry count, known on the host (a device pattern's offsets are not).
  index_t entries() const noexcept {
    if constexpr (std::same_as<D, cpu_t>)
      return pattern.entries();
    else
      return pattern.rows > 0 ? values.extent(0) : 0;
  }
  bool has_by_column() const noexcept { return by_column.column_offsets != nullptr; }

  // The latent of entry e, and the entries of token r: [row_begin(r), row_end(r)). Host reads:
  // a device code is read through to_host().
  std::int32_t latent(index_t e) const noexcept
    requires std::same_as<D, cpu_t>
  {
    return pattern.columns[e];
  }
  index_t row_begin(index_t r) const noexcept
    requires std::same_as<D, cpu_t>
  {
    return pattern.row_offsets[r];
  }
  index_t row_end(index_t r) const noexcept
    requires std::same_as<D, cpu_t>
  {
    return pattern.row_offsets[r + 1];
  }

  // The same code on the host: itself on the CPU; elsewhere a copy of the pattern (in the current
  // tape's CPU arena) and of the values (a constant: no gradient flows back through the copy).
  SparseActivations<T, cpu_t> to_host() const {
    if constexpr (std::same_as<D, cpu_t>) {
      return *this;
    } else {
      auto& arena = Tape::current().arena<cpu_t>();
      const index_t count = entries();
      auto* offsets = arena.template allocate_array<index_t>(std::size_t(rows() + 1));
      auto* columns = arena.template allocate_array<std::int32_t>(std::size_t(std::max<index_t>(count, 1)));
      if (rows() > 0) {
        device_memory<D>::copy_to_host(offsets, pattern.row_offsets, sizeof(index_t) * std::size_t(rows() + 1));
        if (count > 0) device_memory<D>::copy_to_host(columns, pattern.columns, sizeof(std::int32_t) * std::size_t(count));
      } else {
        offsets[0] = 0;
      }
      SparseActivations<T, cpu_t> host;
      host.pattern = {.rows = rows(), .cols = latents(), .row_offsets = offsets, .columns = columns};
      host.values = new_var<T, Shape<dyn>, cpu_t>(Shape<dyn>{count}, false);
      if (count > 0) device_memory<D>::copy_to_host(host.values.mutable_data(), values.value().data(), sizeof(T) * std::size_t(count));
      return host;
    }
  }

  // Entries with a positive value (the L0 of the whole batch).
  index_t active() const {
    if constexpr (!std::same_as<D, cpu_t>) {
      return to_host().active();
    } else {
      index_t count = 0;
      const T* v = values.value().data();
      for (index_t e = 0; e < entries(); ++e) count += v[e] > T(0);
      return count;
    }
  }

  // The dense (rows, latents) matrix, zeros off the pattern, on the host.
  Tensor<T, Shape<dyn, dyn>, cpu_t> to_dense() const {
    if constexpr (!std::same_as<D, cpu_t>) {
      return to_host().to_dense();
    } else {
      auto dense = Tensor<T, Shape<dyn, dyn>, D>::zeros(Shape<dyn, dyn>{rows(), latents()});
      const T* v = values.value().data();
      for (index_t r = 0; r < rows(); ++r)
        for (index_t e = row_begin(r); e < row_end(r); ++e) dense(r, index_t(latent(e))) = v[e];
      return dense;
    }
  }
};

namespace detail {

// The pattern's entries grouped by latent, in the arena: what the CPU's backward passes read to
// add per latent without atomics. Other devices add with atomics and need none.
template <Device D>
cpu::EntriesByColumn group_by_latent(const cpu::CompressedRows& pattern) {
  if constexpr (!std::same_as<D, cpu_t>) return {};
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
