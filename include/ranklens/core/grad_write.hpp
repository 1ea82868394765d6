// How a backward kernel puts its result into a gradient buffer: add onto what is there, or
// store over it when the buffer was just created for exactly this result (Var::grad_sink in
// autograd/var.hpp), which saves a zeroing pass and a read of zeros. Autodiff decides, the
// kernels of every backend obey, so the choice lives below both.
#pragma once

namespace ranklens {

enum class grad_write { add, store };

}  // namespace ranklens
