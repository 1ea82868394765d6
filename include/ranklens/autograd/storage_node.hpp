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
};

}  // namespace ranklens
