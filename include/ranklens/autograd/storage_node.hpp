// The unit autodiff tracks: one contiguous buffer of values and, once a gradient reaches it,
// a buffer of the same size for the gradient. Var handles are (possibly strided) windows on a
// node, so views (transpose, slice, reshape) cost no node and share the gradient buffer.
#pragma once
#include "ranklens/core/config.hpp"
#include "ranklens/core/dtype.hpp"

namespace ranklens {

struct StorageNode {
  void* value = nullptr;
  void* grad = nullptr;  // null until a gradient flows here (then zero-initialised)
  index_t numel = 0;
  dtype type = dtype::f32;
  bool requires_grad = false;
  // The value is an op's result in the tape's arena, which ops may reuse in place; a leaf's
  // value (a parameter, a caller's tensor) belongs to someone else and is never written.
  bool is_result = false;
};

}  // namespace ranklens
