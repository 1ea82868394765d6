// TensorView<T, S, D>: a non-owning, possibly strided window on device memory. T may be const.
// Kernels take raw pointers; views carry shape and strides so ops can tell whether a kernel can
// consume the layout directly (e.g. a transposed operand of GEMM) or needs a contiguous copy.
#pragma once
#include <array>
#include <cassert>
#include <type_traits>

#include "ranklens/core/device.hpp"
#include "ranklens/core/shape.hpp"

namespace ranklens {

template <class T, ShapeType S, Device D = cpu_t>
class TensorView {
 public:
  using value_type = std::remove_const_t<T>;
  using shape_type = S;
  using device_type = D;
  using strides_type = std::array<index_t, S::rank>;
  static constexpr std::size_t rank = S::rank;

  TensorView() = default;
  TensorView(T* data, const S& shape) : data_(data), shape_(shape), strides_(contiguous_strides(shape)) {}
  TensorView(T* data, const S& shape, const strides_type& strides) : data_(data), shape_(shape), strides_(strides) {}

  // A view of non-const T converts to a view of const T. A template, so that a view of const T
  // declares no conversion to its own type (nvcc warns about one, constrained or not).
  template <class U = T>
    requires(!std::is_const_v<U>)
  operator TensorView<const value_type, S, D>() const {
    return {data_, shape_, strides_};
  }

  T* data() const noexcept { return data_; }
  const S& shape() const noexcept { return shape_; }
  const strides_type& strides() const noexcept { return strides_; }
  index_t extent(std::size_t i) const noexcept { return shape_.dims[i]; }
  index_t stride(std::size_t i) const noexcept { return strides_[i]; }
  index_t numel() const noexcept { return shape_.numel(); }
  bool is_contiguous() const noexcept { return is_contiguous_layout(shape_, strides_); }

  // Element access for tests and small host-side loops; hot loops use data() and kernels.
  template <std::integral... I>
    requires(sizeof...(I) == S::rank)
  T& operator()(I... idx) const noexcept
    requires std::same_as<D, cpu_t>
  {
    const std::array<index_t, S::rank> i{static_cast<index_t>(idx)...};
    index_t off = 0;
    for (std::size_t k = 0; k < S::rank; ++k) {
      assert(i[k] >= 0 && i[k] < shape_.dims[k]);
      off += i[k] * strides_[k];
    }
    return data_[off];
  }

  static bool is_contiguous_layout(const S& shape, const strides_type& strides) noexcept {
    index_t expect = 1;
    for (std::size_t k = S::rank; k-- > 0;) {
      if (shape.dims[k] != 1 && strides[k] != expect) return false;
      expect *= shape.dims[k];
    }
    return true;
  }

 private:
  T* data_ = nullptr;
  S shape_{};
  strides_type strides_{};
};

// Visits every element offset of a strided layout in row-major order: f(offset) per element.
// Used by the generic (slow-path) copies; fast paths use contiguous kernels.
template <std::size_t R, class F>
void for_each_offset(const std::array<index_t, R>& dims, const std::array<index_t, R>& strides, F&& f) {
  if constexpr (R == 0) {
    f(index_t{0});
  } else {
    for (auto d : dims)
      if (d == 0) return;
    std::array<index_t, R> idx{};
    index_t off = 0;
    const index_t inner = dims[R - 1], inner_stride = strides[R - 1];
    while (true) {
      for (index_t j = 0; j < inner; ++j) f(off + j * inner_stride);
      std::size_t k = R - 1;
      while (true) {
        if (k == 0) return;
        --k;
        off += strides[k];
        if (++idx[k] < dims[k]) break;
        off -= strides[k] * dims[k];
        idx[k] = 0;
      }
    }
  }
}

// Copies a strided CPU view into contiguous memory (ops copy through cpu/strided_copy.hpp).
template <class T, ShapeType S>
void gather_contiguous(TensorView<const T, S, cpu_t> src, T* dst) {
  if (src.is_contiguous()) {
    device_memory<cpu_t>::copy(dst, src.data(), sizeof(T) * std::size_t(src.numel()));
    return;
  }
  const T* s = src.data();
  for_each_offset<S::rank>(src.shape().dims, src.strides(), [&](index_t off) { *dst++ = s[off]; });
}

}  // namespace ranklens
