// The switch point between ops and kernels (docs/architecture.md, "Ops on any device", step 1).
// An op calls backend::f(D{}, args...) once, whatever its device D; the overload for D passes
// the same pointer-level arguments to that device's kernel (cpu::f today; cuda::f in a .cu file
// once ops run on cuda_t). A device without the kernel meets the generic overload, whose
// static_assert names the kernel (and the compiler's note names the device): that is the one
// plain message for a kernel a backend lacks.
#pragma once
#include <utility>

#include "ranklens/core/device.hpp"

namespace ranklens::backend {

// Always false, but only once D is known: the generic overload's assertion fires when it is
// chosen, not when the header is read.
template <Device D>
inline constexpr bool device_has_kernel = false;

}  // namespace ranklens::backend

// Declares backend::kernel for every device: the generic overload with the message, and the
// cpu_t overload calling cpu::kernel. Template arguments given explicitly (the element type, a
// functor) go through unchanged; the rest are deduced by cpu::kernel as if it were called
// directly. Kernels that are not templates are called directly (they are host-side set-up).
#define RANKLENS_BACKEND_KERNEL(kernel)                                                                     \
  template <class... KernelArgs, ::ranklens::Device D, class... Args>                                     \
  void kernel(D, Args&&...) {                                                                             \
    static_assert(::ranklens::backend::device_has_kernel<D>,                                              \
                  "backend::" #kernel " has no kernel for device D (named where the compiler shows this instantiation): "  \
                  "ops run on cpu_t until the CUDA kernels are wired in (docs/architecture.md, Ops on any device).");\
  }                                                                                                       \
  template <class... KernelArgs, class... Args>                                                           \
  decltype(auto) kernel(::ranklens::cpu_t, Args&&... args) {                                              \
    return ::ranklens::cpu::kernel<KernelArgs...>(std::forward<Args>(args)...);                           \
  }
