// The switch point between ops and kernels (docs/architecture.md, "Ops on any device", steps 1
// and 2). An op calls backend::f(D{}, args...) once, whatever its device D; the overload for D
// passes the same pointer-level arguments to that device's kernel. Which overloads exist depends
// on the translation unit: C++ files get cpu_t's (cpu::f), files that nvcc compiles (or the host
// emulation of CUDA, scripts/cuda_emulation_test.sh) get cuda_t's (cuda::f), so that xsimd and
// OpenBLAS never reach nvcc. A device without the kernel meets the generic overload, whose
// static_assert names the kernel (and the compiler's instantiation line names the device): the
// one plain message for a kernel a backend lacks. Only this folder looks at __CUDACC__; ops,
// modules and everything above them read the same in both kinds of file.
#pragma once
#include <utility>

#include "ranklens/core/device.hpp"

#if defined(__CUDACC__) || defined(RANKLENS_CUDA_EMULATION)
#define RANKLENS_BACKEND_CUDA_UNIT 1
#else
#define RANKLENS_BACKEND_CUDA_UNIT 0
#endif

namespace ranklens::backend {

// Always false, but only once D is known: the generic overload's assertion fires when it is
// chosen, not when the header is read.
template <Device D>
inline constexpr bool device_has_kernel = false;

}  // namespace ranklens::backend

// The generic overload of backend::kernel: any device this translation unit has no kernel for.
#define RANKLENS_BACKEND_MISSING(kernel)                                                               \
  template <class... KernelArgs, ::ranklens::Device D, class... Args>                                \
  void kernel(D, Args&&...) {                                                                        \
    static_assert(::ranklens::backend::device_has_kernel<D>,                                         \
                  "backend::" #kernel " has no kernel for device D in this translation unit (D is "  \
                  "named where the compiler shows this instantiation): cpu_t kernels are compiled "  \
                  "in C++ files, cuda_t ones in .cu files, and some have no CUDA twin yet "          \
                  "(docs/architecture.md, Ops on any device).");                                     \
  }

// The overload for one device: its arguments, and any template arguments given explicitly (the
// element type, a functor), go to ns::kernel unchanged, which deduces the rest as if called
// directly.
#define RANKLENS_BACKEND_FORWARD(device, ns, kernel)                                                  \
  template <class... KernelArgs, class... Args>                                                      \
  decltype(auto) kernel(::ranklens::device, Args&&... args) {                                        \
    return ::ranklens::ns::kernel<KernelArgs...>(std::forward<Args>(args)...);                       \
  }

// The same for a kernel that is a plain function, not a template (a qualified call cannot name
// template arguments of a non-template).
#define RANKLENS_BACKEND_FORWARD_PLAIN(device, ns, kernel)                                            \
  template <class... Args>                                                                           \
  decltype(auto) kernel(::ranklens::device, Args&&... args) {                                        \
    return ::ranklens::ns::kernel(std::forward<Args>(args)...);                                      \
  }

// A kernel with twins in cpu/ and cuda/ (the same pointer-level contract).
#if RANKLENS_BACKEND_CUDA_UNIT
#define RANKLENS_BACKEND_KERNEL(kernel) \
  RANKLENS_BACKEND_MISSING(kernel)      \
  RANKLENS_BACKEND_FORWARD(cuda_t, cuda, kernel)
#else
#define RANKLENS_BACKEND_KERNEL(kernel) \
  RANKLENS_BACKEND_MISSING(kernel)      \
  RANKLENS_BACKEND_FORWARD(cpu_t, cpu, kernel)
#endif

// A kernel that only cpu/ has so far: in a CUDA translation unit, only the message.
#if RANKLENS_BACKEND_CUDA_UNIT
#define RANKLENS_BACKEND_CPU_KERNEL(kernel) RANKLENS_BACKEND_MISSING(kernel)
#else
#define RANKLENS_BACKEND_CPU_KERNEL(kernel) \
  RANKLENS_BACKEND_MISSING(kernel)          \
  RANKLENS_BACKEND_FORWARD(cpu_t, cpu, kernel)
#endif

// A kernel with twins in cpu/ and cuda/ that is a plain function (RANKLENS_BACKEND_KERNEL for
// one that is not a template).
#if RANKLENS_BACKEND_CUDA_UNIT
#define RANKLENS_BACKEND_PLAIN_KERNEL(kernel) \
  RANKLENS_BACKEND_MISSING(kernel)            \
  RANKLENS_BACKEND_FORWARD_PLAIN(cuda_t, cuda, kernel)
#else
#define RANKLENS_BACKEND_PLAIN_KERNEL(kernel) \
  RANKLENS_BACKEND_MISSING(kernel)            \
  RANKLENS_BACKEND_FORWARD_PLAIN(cpu_t, cpu, kernel)
#endif
