// embedding(weight, ids): row ids[...] of a (V, D) table for every token id, giving (ids..., D).
// Its backward scatter-adds each output row's gradient into the row it was read from, so a
// token that occurs several times collects the sum of its gradients. The loops are
// cpu/embedding.hpp's.
#pragma once
#include <concepts>
#include <cstdint>
#include <string>

#include "ranklens/autograd/record.hpp"
#include "ranklens/backend/embedding.hpp"
#include "ranklens/core/shape_algebra.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {
// "(1, 3)": the multi-index of row-major position `flat` in `dims`.
template <std::size_t R>
std::string index_to_string(index_t flat, const std::array<index_t, R>& dims) {
  std::array<index_t, R> index{};
  for (std::size_t k = R; k-- > 0;) {
    index[k] = dims[k] ? flat % dims[k] : 0;
    flat = dims[k] ? flat / dims[k] : 0;
  }
  std::string out = "(";
  for (std::size_t k = 0; k < R; ++k) out += (k ? ", " : "") + std::to_string(index[k]);
  return out + ")";
}
// The rows of weight that the `count` kernel_ids (on D, in the arena, row-major) name, as a Var
// of `shape`.
template <class T, ShapeType SW, Device D, ShapeType R>
Var<T, R, D> embedding_rows(const Var<T, SW, D>& weight, const std::int32_t* kernel_ids, index_t count, const R& shape) {
  const index_t vocabulary = weight.shape().dims[0], width = weight.shape().dims[1];
  // The kernels read a contiguous table (a parameter is one already).
  const auto table = contiguous(weight);
  auto out = new_var<T, R, D>(shape, any_requires_grad(table));
  backend::embedding_forward(D{}, table.value().data(), kernel_ids, out.mutable_data(), count, vocabulary, width);
  record(
      "embedding", out,
      [kernel_ids, count, width](const auto& result, const auto& contiguous_weight) {
        backend::embedding_backward(D{}, kernel_ids, result.grad().data(), contiguous_weight.grad_accumulator().data(), count, width);
      },
      table);
  return out;
}

}  // namespace detail

// weight: (V, D), ids: any shape of int32 token ids in [0, V). Throws value_error naming the
// first id out of range, its position in ids and V.
template <class T, ShapeType SW, Device D, class I, index_t... E>
  requires std::same_as<std::remove_const_t<I>, std::int32_t>
auto embedding(const Var<T, SW, D>& weight, TensorView<I, Shape<E...>, cpu_t> ids) {
  static_assert(SW::rank == 2, "embedding: the weight must be a (vocabulary, width) matrix.");
  if constexpr (SW::rank == 2) {
    using R = Shape<E..., SW::static_extents[1]>;
    constexpr std::size_t ids_rank = sizeof...(E);

    const index_t vocabulary = weight.shape().dims[0], width = weight.shape().dims[1];
    std::array<index_t, R::rank> dims{};
    for (std::size_t k = 0; k < ids_rank; ++k) dims[k] = ids.shape().dims[k];
    dims[ids_rank] = width;
    R shape;
    shape.dims = dims;

    // The ids, checked (before any work) and gathered into the arena in row-major order: the
    // kernels take them contiguous, and backward needs them after the caller's buffer may have
    // changed or gone.
    const index_t count = ids.numel();
    std::int32_t* gathered_ids = Tape::current().arena<cpu_t>().allocate_array<std::int32_t>(std::size_t(count));
    const I* id_data = ids.data();
    index_t position = 0;
    for_each_offset<ids_rank>(ids.shape().dims, ids.strides(), [&](index_t offset) {
      const std::int32_t id = id_data[offset];
      if (id < 0 || id >= vocabulary)
        throw value_error("embedding: token id " + std::to_string(id) + " at position " +
                          detail::index_to_string(position, ids.shape().dims) + " of ids " + to_string(ids.shape()) +
                          " is out of range for a vocabulary of V = " + std::to_string(vocabulary) + " (weight " +
                          to_string(weight.shape()) + ")");
      gathered_ids[position++] = id;
    });
    const std::int32_t* kernel_ids = gathered_ids;  // on the weight's device
    if constexpr (!std::is_same_v<D, cpu_t>) {
      std::int32_t* device_ids = Tape::current().arena<D>().template allocate_array<std::int32_t>(std::size_t(count));
      device_memory<D>::copy_from_host(device_ids, gathered_ids, sizeof(std::int32_t) * std::size_t(count));
      kernel_ids = device_ids;
    }
    return detail::embedding_rows(weight, kernel_ids, count, shape);
  }
}

// The same with ids that already live on the weight's device D (not the CPU), contiguous: a
// training step that keeps its batch in fixed device buffers can then be captured into a CUDA
// graph (cuda/graph.hpp) and replayed on new batches. The ids are copied into the arena by
// backend::embedding_ids, which first checks them (waiting for the device) and refuses a bad one
// by position as above, except while a graph is being captured: then a bad id's row is NaN and
// gets no gradient.
template <class T, ShapeType SW, Device D, class I, index_t... E>
  requires(std::same_as<std::remove_const_t<I>, std::int32_t> && !std::same_as<D, cpu_t>)
auto embedding(const Var<T, SW, D>& weight, TensorView<I, Shape<E...>, D> ids) {
  static_assert(SW::rank == 2, "embedding: the weight must be a (vocabulary, width) matrix.");
  using R = Shape<E..., SW::static_extents[1]>;
  if (!ids.is_contiguous()) throw shape_error("embedding: ids " + to_string(ids.shape()) + " on " + std::string(D::name) + " must be contiguous");
  const index_t vocabulary = weight.shape().dims[0];
  std::array<index_t, R::rank> dims{};
  for (std::size_t k = 0; k + 1 < R::rank; ++k) dims[k] = ids.shape().dims[k];
  dims[R::rank - 1] = weight.shape().dims[1];
  R shape;
  shape.dims = dims;
  const index_t count = ids.numel();
  std::int32_t* kernel_ids = Tape::current().arena<D>().template allocate_array<std::int32_t>(std::size_t(count));
  const cpu::bad_id bad = backend::embedding_ids(D{}, ids.data(), kernel_ids, count, vocabulary);
  if (bad.position >= 0)
    throw value_error("embedding: token id " + std::to_string(bad.id) + " at position " + detail::index_to_string(bad.position, ids.shape().dims) +
                      " of ids " + to_string(ids.shape()) + " is out of range for a vocabulary of V = " + std::to_string(vocabulary) +
                      " (weight " + to_string(weight.shape()) + ")");
  return detail::embedding_rows(weight, kernel_ids, count, shape);
}

template <class T, ShapeType SW, Device D, ShapeType SI>
auto embedding(const Var<T, SW, D>& weight, const Tensor<std::int32_t, SI, cpu_t>& ids) {
  return embedding(weight, ids.view());
}

}  // namespace ranklens
