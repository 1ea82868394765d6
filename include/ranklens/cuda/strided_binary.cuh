// A binary function over operands in any strided (e.g. broadcast) layouts, forward and
// backward, the twin of cpu/strided_binary.hpp; Op is a functor of binary_functions.cuh or its
// cpu:: twin:
//   y[i·sy] = Op::forward(a[i·sa], b[i·sb])                      for every index i of dims
//   ga[i·sga] += Op::grad_a(a[i·sa], b[i·sb], gy[i·sy]), gb likewise (either may be null)
// One thread per element. A gradient read with stride 0 along an axis (a broadcast operand) sums
// there with atomics, so such sums vary in their last bits from run to run; ga is complete
// before gb starts, so the two may be one array (x·x).
#pragma once
#include <array>
#include <cstddef>

#include "ranklens/cuda/binary_functions.cuh"
#include "ranklens/cuda/strided_copy.cuh"

namespace ranklens::cuda {

namespace detail {

template <class F, class T, std::size_t R>
struct binary_forward_strided_map {
  const T* a;
  const T* b;
  T* y;
  strided_offsets<R, 3> layout;  // a, b, y
  struct loaded {
    float value;
    index_t to;
  };
  __device__ loaded load(index_t i) const {
    const auto o = layout.at(i);
    return {F::forward(to_float(a[o[0]]), to_float(b[o[1]])), o[2]};
  }
  __device__ void store(index_t, loaded v) const { y[v.to] = from_float<T>(v.value); }
};

// The gradient of operand a (WantA) or b, added at its own strides.
template <class F, class T, std::size_t R, bool WantA, bool Atomic>
struct binary_backward_strided_map {
  const T* a;
  const T* b;
  const T* gy;
  T* g;
  strided_offsets<R, 4> layout;  // a, b, gy, g
  struct loaded {
    float value;
    index_t to;
  };
  __device__ loaded load(index_t i) const {
    const auto o = layout.at(i);
    const float av = to_float(a[o[0]]), bv = to_float(b[o[1]]), gv = to_float(gy[o[2]]);
    return {WantA ? F::grad_a(av, bv, gv) : F::grad_b(av, bv, gv), o[3]};
  }
  __device__ void store(index_t, loaded v) const {
    if constexpr (Atomic)
      atomic_add(g + v.to, v.value);
    else
      g[v.to] = from_float<T>(to_float(g[v.to]) + v.value);
  }
};

template <class F, bool WantA, class T, std::size_t R>
void add_strided_gradient(const std::array<index_t, R>& dims, const T* a, const std::array<index_t, R>& a_strides, const T* b,
                          const std::array<index_t, R>& b_strides, const T* gy, const std::array<index_t, R>& gy_strides, T* g,
                          const std::array<index_t, R>& g_strides, index_t n) {
  const strided_offsets<R, 4> layout{dims, {a_strides, b_strides, gy_strides, g_strides}};
  const char* name = WantA ? "cuda::binary_backward_strided (a)" : "cuda::binary_backward_strided (b)";
  if (repeats_elements(dims, g_strides))
    map(name, n, binary_backward_strided_map<F, T, R, WantA, true>{a, b, gy, g, layout});
  else
    map(name, n, binary_backward_strided_map<F, T, R, WantA, false>{a, b, gy, g, layout});
}

}  // namespace detail

template <class Op, DeviceReal T, std::size_t R>
void binary_forward_strided(const std::array<index_t, R>& dims, const T* a, const std::array<index_t, R>& a_strides, const T* b,
                            const std::array<index_t, R>& b_strides, T* y, const std::array<index_t, R>& y_strides) {
  using F = device_function_t<Op>;
  index_t n = 1;
  for (index_t d : dims) n *= d;
  map("cuda::binary_forward_strided", n,
      detail::binary_forward_strided_map<F, T, R>{a, b, y, {dims, {a_strides, b_strides, y_strides}}});
}

template <class Op, DeviceReal T, std::size_t R>
void binary_backward_strided(const std::array<index_t, R>& dims, const T* a, const std::array<index_t, R>& a_strides, const T* b,
                             const std::array<index_t, R>& b_strides, const T* gy, const std::array<index_t, R>& gy_strides, T* ga,
                             const std::array<index_t, R>& ga_strides, T* gb, const std::array<index_t, R>& gb_strides) {
  using F = device_function_t<Op>;
  index_t n = 1;
  for (index_t d : dims) n *= d;
  if (ga) detail::add_strided_gradient<F, true>(dims, a, a_strides, b, b_strides, gy, gy_strides, ga, ga_strides, n);
  if (gb) detail::add_strided_gradient<F, false>(dims, a, a_strides, b, b_strides, gy, gy_strides, gb, gb_strides, n);
}

}  // namespace ranklens::cuda
