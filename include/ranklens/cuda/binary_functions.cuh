// The elementwise functions of two arguments of cpu/binary_functions.hpp, on the device, with
// the same names and interface (forward(a, b), grad_a(a, b, gy), grad_b(a, b, gy), and which
// inputs each gradient reads). As for unary functions, a kernel takes either functor and maps a
// cpu:: one to its twin here (device_function_t).
#pragma once
#include "ranklens/cuda/unary_functions.cuh"

namespace ranklens::cpu {
struct add_op;
struct sub_op;
struct rsub_op;
struct mul_op;
struct div_op;
struct rdiv_op;
struct swiglu_op;
}  // namespace ranklens::cpu

namespace ranklens::cuda {

struct add_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = false, grad_b_uses_a = false, grad_b_uses_b = false;
  __device__ static float forward(float a, float b) { return a + b; }
  __device__ static float grad_a(float, float, float gy) { return gy; }
  __device__ static float grad_b(float, float, float gy) { return gy; }
};

struct sub_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = false, grad_b_uses_a = false, grad_b_uses_b = false;
  __device__ static float forward(float a, float b) { return a - b; }
  __device__ static float grad_a(float, float, float gy) { return gy; }
  __device__ static float grad_b(float, float, float gy) { return -gy; }
};

// b − a.
struct rsub_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = false, grad_b_uses_a = false, grad_b_uses_b = false;
  __device__ static float forward(float a, float b) { return b - a; }
  __device__ static float grad_a(float, float, float gy) { return -gy; }
  __device__ static float grad_b(float, float, float gy) { return gy; }
};

struct mul_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = true, grad_b_uses_a = true, grad_b_uses_b = false;
  __device__ static float forward(float a, float b) { return a * b; }
  __device__ static float grad_a(float, float b, float gy) { return gy * b; }
  __device__ static float grad_b(float a, float, float gy) { return gy * a; }
};

struct div_op {
  static constexpr bool grad_a_uses_a = false, grad_a_uses_b = true, grad_b_uses_a = true, grad_b_uses_b = true;
  __device__ static float forward(float a, float b) { return a / b; }
  __device__ static float grad_a(float, float b, float gy) { return gy / b; }
  // −gy a / b², as (gy / b)(a / b) so that b² cannot overflow.
  __device__ static float grad_b(float a, float b, float gy) { return -((gy / b) * (a / b)); }
};

// b / a.
struct rdiv_op {
  static constexpr bool grad_a_uses_a = true, grad_a_uses_b = true, grad_b_uses_a = true, grad_b_uses_b = false;
  __device__ static float forward(float a, float b) { return b / a; }
  __device__ static float grad_a(float a, float b, float gy) { return div_op::grad_b(b, a, gy); }
  __device__ static float grad_b(float a, float, float gy) { return gy / a; }
};

// silu(a) · b: the gate of Qwen2's MLP in one pass.
struct swiglu_op {
  static constexpr bool grad_a_uses_a = true, grad_a_uses_b = true, grad_b_uses_a = true, grad_b_uses_b = false;
  __device__ static float forward(float a, float b) { return silu_op::forward(a) * b; }
  __device__ static float grad_a(float a, float b, float gy) { return gy * b * silu_op::derivative(a, a); }
  __device__ static float grad_b(float a, float, float gy) { return gy * silu_op::forward(a); }
};

template <>
struct device_function<cpu::add_op> {
  using type = add_op;
};
template <>
struct device_function<cpu::sub_op> {
  using type = sub_op;
};
template <>
struct device_function<cpu::rsub_op> {
  using type = rsub_op;
};
template <>
struct device_function<cpu::mul_op> {
  using type = mul_op;
};
template <>
struct device_function<cpu::div_op> {
  using type = div_op;
};
template <>
struct device_function<cpu::rdiv_op> {
  using type = rdiv_op;
};

template <>
struct device_function<cpu::swiglu_op> {
  using type = swiglu_op;
};

template <class Op>
concept device_binary_function = requires(float x) {
  { Op::forward(x, x) } -> std::convertible_to<float>;
  { Op::grad_a(x, x, x) } -> std::convertible_to<float>;
  { Op::grad_b(x, x, x) } -> std::convertible_to<float>;
  { Op::grad_a_uses_a } -> std::convertible_to<bool>;
  { Op::grad_b_uses_b } -> std::convertible_to<bool>;
};

}  // namespace ranklens::cuda
