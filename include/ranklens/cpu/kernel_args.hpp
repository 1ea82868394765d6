// Conventions and argument checks shared by every kernel of the cpu/ layer.
//
//  * Arrays are contiguous and row-major; shapes are written next to each kernel, e.g.
//    // x: (rows, cols).
//  * Forward kernels overwrite their outputs. Backward kernels ADD into their gradient
//    outputs (gx[i] += ...), because autodiff accumulates gradients; those that take a
//    grad_write (core/grad_write.hpp) may instead store over them, when the buffer was just
//    created for this result (no zeroing pass before, no read of zeros).
//  * A gradient output that is not wanted may be nullptr; such parameters have the type
//    optional_out<T> (a plain T* that does not take part in deducing T, so that a literal
//    nullptr is accepted).
//  * An output may be the very same array as an input (in place) unless a kernel says
//    otherwise, but must not partly overlap one.
#pragma once
#include <string>
#include <type_traits>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/core/grad_write.hpp"

namespace ranklens::cpu {

template <class T>
using optional_out = std::type_identity_t<T>*;
template <class T>
using optional_in = const std::type_identity_t<T>*;

namespace detail {

// Calls body.template operator()<grad_write::add>() or <grad_write::store>(), so that the
// choice is made once per call, not once per element.
template <class F>
decltype(auto) with_grad_write(grad_write mode, F&& body) {
  return mode == grad_write::store ? body.template operator()<grad_write::store>() : body.template operator()<grad_write::add>();
}

inline void require(bool ok, const char* kernel, const char* what) {
  if (!ok) throw value_error(std::string(kernel) + ": " + what);
}

inline void require_extents(const char* kernel, index_t rows, index_t cols) {
  if (rows < 0 || cols < 0)
    throw shape_error(std::string(kernel) + ": negative extent (" + std::to_string(rows) + ", " +
                      std::to_string(cols) + ")");
}

}  // namespace detail
}  // namespace ranklens::cpu
