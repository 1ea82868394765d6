// One operation over a list of tensors in few launches, as torch's multi_tensor_apply: a launch
// takes up to list_batch_tensors tensors and list_batch_blocks chunks of `chunk` elements by
// value (in the kernel's parameters, so that a captured graph replays the pointers as they were),
// a block per chunk. An optimizer's step, a zero_grad or a gradient clipping over dozens of
// parameters is then a launch or two, not one (or three) per parameter. for_each_in_list applies
// an elementwise operation; for_each_list_batch gives the batches to a kernel of one's own (a
// reduction writing one partial per chunk). Users: adamw_update_many, sgd_update_many,
// zero_many, sum_of_squares_many, scale_by_clip_coefficient_many.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "ranklens/core/error.hpp"
#include "ranklens/cuda/patterns.cuh"

namespace ranklens::cuda {

namespace detail {

inline constexpr int list_batch_tensors = 24;
inline constexpr int list_batch_blocks = 320;
inline constexpr index_t list_chunk = 65536;
inline constexpr int list_threads = 256;

// Tensor: the pointers of one list entry and its element count `n`.
template <class Tensor>
struct tensor_batch {
  Tensor tensors[list_batch_tensors];
  std::uint8_t chunk_tensor[list_batch_blocks];  // the tensor of block b
  std::int32_t chunk_index[list_batch_blocks];   // and which of its chunks
  index_t chunk;
  index_t first_block;  // the list's chunks before this launch's (a block's place in the whole list)

  // Block b's tensor and its elements [begin, end).
  struct block_work {
    Tensor tensor;
    index_t begin, end;
  };
  __device__ block_work work_of(unsigned b) const {
    const Tensor t = tensors[chunk_tensor[b]];
    const index_t begin = index_t(chunk_index[b]) * chunk;
    return {t, begin, begin + chunk < t.n ? begin + chunk : t.n};
  }
};

// Op: `bind()` gives each thread its bound form (constants read from device memory once), whose
// load(t, i) reads element i of tensor t and store(t, i, x) writes it; a block's loads are issued
// `items` at a time before their stores, as map's.
template <class Tensor, class Op>
__global__ void __launch_bounds__(list_threads) tensor_list_kernel(tensor_batch<Tensor> batch, Op op) {
  const auto [t, begin, end] = batch.work_of(blockIdx.x);
  const auto element = op.bind();
  constexpr int items = 4;
  for (index_t first = begin + threadIdx.x; first < end; first += index_t(items) * blockDim.x) {
    decltype(element.load(t, first)) x[items];
    for (int j = 0; j < items; ++j) {
      const index_t i = first + index_t(j) * blockDim.x;
      if (i < end) x[j] = element.load(t, i);
    }
    for (int j = 0; j < items; ++j) {
      const index_t i = first + index_t(j) * blockDim.x;
      if (i < end) element.store(t, i, x[j]);
    }
  }
}

}  // namespace detail

// Chunks of `chunk` elements of every tensor of `tensors` (empty ones skipped), in order, a block
// each, in batches of up to list_batch_tensors tensors and list_batch_blocks chunks:
// launch_batch(batch, blocks) launches each. `chunk` (elements per block) is for the tests.
template <class Tensor, class LaunchBatch>
void for_each_list_batch(const char* name, std::span<const Tensor> tensors, index_t chunk, LaunchBatch&& launch_batch) {
  if (chunk <= 0) throw value_error(std::string(name) + ": chunk = " + std::to_string(chunk) + " must be positive");
  detail::tensor_batch<Tensor> batch{};
  batch.chunk = chunk;
  int count = 0, blocks = 0;
  const auto flush = [&] {
    if (blocks > 0) launch_batch(batch, blocks);
    batch.first_block += blocks;
    count = blocks = 0;
  };
  for (const Tensor& t : tensors) {
    if (t.n <= 0) continue;
    int slot = -1;  // t's place in the batch being filled
    const index_t chunks = (t.n + chunk - 1) / chunk;
    for (index_t k = 0; k < chunks; ++k) {
      if (blocks == detail::list_batch_blocks) {
        flush();
        slot = -1;
      }
      if (slot < 0) {
        if (count == detail::list_batch_tensors) flush();
        slot = count++;
        batch.tensors[slot] = t;
      }
      batch.chunk_tensor[blocks] = std::uint8_t(slot);
      batch.chunk_index[blocks] = std::int32_t(k);
      ++blocks;
    }
  }
  flush();
}

// The chunks (blocks) for_each_list_batch gives `tensors`.
template <class Tensor>
index_t list_chunks(std::span<const Tensor> tensors, index_t chunk = detail::list_chunk) {
  index_t chunks = 0;
  for (const Tensor& t : tensors)
    if (t.n > 0) chunks += (t.n + chunk - 1) / chunk;
  return chunks;
}

// Applies `op` to every element of every tensor of `tensors`: a launch of `name` per batch of
// for_each_list_batch.
template <class Tensor, class Op>
void for_each_in_list(const char* name, std::span<const Tensor> tensors, Op op, index_t chunk = detail::list_chunk) {
  static_assert(sizeof(detail::tensor_batch<Tensor>) + sizeof(Op) <= 4096, "a kernel's parameters must fit CUDA's 4 KB");
  for_each_list_batch(name, tensors, chunk, [&](const detail::tensor_batch<Tensor>& batch, int blocks) {
    launch(name, detail::tensor_list_kernel<Tensor, Op>, launch_shape{dim3(unsigned(blocks)), dim3(detail::list_threads)}, batch, op);
  });
}

}  // namespace ranklens::cuda
