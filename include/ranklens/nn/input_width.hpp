// The one check every module with a static input width makes on its input's last axis: a
// static extent must equal the width (checked at compile time), a dynamic one is checked when
// the module runs. Linear, Conv1D and the norms use it:
//
//   static_assert(last_extent_may_be<S, In>, "Linear<In, Out>: the input's last extent must equal In.");
//   if constexpr (last_extent_may_be<S, In>) {
//     require_last_extent_is(x, input_width(), "Linear", In, Out);   // "Linear<16, 8>: input shape (dyn=2, dyn=12) must end in 16"
//     ...
//   }
//
// A static_assert message must be a string literal in C++20, so each module keeps its own
// sentence; the condition and the run-time error are written here once. The `if constexpr`
// stops a failed check from cascading into the op's own errors: one message is enough.
#pragma once
#include <concepts>
#include <string>
#include <string_view>

#include "ranklens/core/error.hpp"
#include "ranklens/core/shape.hpp"

namespace ranklens {

// Whether an input of shape S can end in Width: its last extent is Width or dynamic (or Width
// itself is dynamic: a module whose width is known at run time).
template <ShapeType S, index_t Width>
inline constexpr bool last_extent_may_be =
    S::rank >= 1 && (Width == dyn || S::static_extents[S::rank - 1] == Width || S::static_extents[S::rank - 1] == dyn);

// Throws shape_error unless x's last extent is `width` (a module's width known at run time).
// The error names the module as "<name><template_arguments...>" and x's shape.
template <class X, std::convertible_to<index_t>... TemplateArguments>
void require_last_extent_is(const X& x, index_t width, std::string_view module_name, TemplateArguments... template_arguments) {
  if (x.shape().dims[X::shape_type::rank - 1] == width) [[likely]]
    return;
  std::string named(module_name);  // not `module`: nvcc's front end reads that as the C++20 keyword
  if constexpr (sizeof...(TemplateArguments) > 0) {
    const char* separator = "<";
    const auto argument = [](index_t value) { return value == dyn ? std::string("dyn") : std::to_string(value); };
    ((named += separator + argument(index_t(template_arguments)), separator = ", "), ...);
    named += '>';
  }
  throw shape_error(named + ": input shape " + to_string(x.shape()) + " must end in " + std::to_string(width));
}

// A module's size: the static one, or `run_time` where the module's template leaves it dyn;
// shape_error naming the module if a run-time value contradicts a static one or is not positive.
inline index_t module_size(index_t static_size, index_t run_time, std::string_view module_name, std::string_view what) {
  if (static_size != dyn && run_time != static_size)
    throw shape_error(std::string(module_name) + ": " + std::string(what) + " is fixed at " + std::to_string(static_size) + ", got " +
                      std::to_string(run_time));
  if (run_time <= 0) throw shape_error(std::string(module_name) + ": " + std::string(what) + " must be positive, got " + std::to_string(run_time));
  return run_time;
}

}  // namespace ranklens
