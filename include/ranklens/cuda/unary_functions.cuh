// The elementwise functions of cpu/unary_functions.hpp, on the device: the same names and the
// same interface (forward(x), derivative(x, y), derivative_uses_x/_y, and gradient(x, y, gy)
// where the CPU functor has one), in float.
//
// A kernel takes either one of these functors or the CPU functor of the same name
// (cuda::unary_forward<cpu::gelu_tanh_op>(...)): device_function_t maps each cpu:: functor to its
// twin here, so a caller that picks cpu:: or cuda:: kernels by device names the function once.
// The CPU functors are only declared here (their definitions need xsimd, which nvcc does not
// compile).
//
// The formulas follow the CPU ones, including the accuracy choices that matter in float: sigmoid
// and its slope from exp(−|z|) (no overflow, full relative accuracy in both tails), GELU-tanh as
// x·sigmoid(2u) (no cancellation in 1 + tanh(u)), exact GELU as x·Φ(x) with CUDA's normcdff.
// CUDA's expf, erff, erfcf and normcdff are accurate to a few ulp (no fast-math here); the
// CPU's head-and-tail refinements of 2u and x/√2 are left out, which moves results deep in the
// negative tails by some ulp and the test's norm-wise error not at all.
#pragma once
#include "ranklens/cpu/affine_functions.hpp"
#include "ranklens/cuda/numeric.cuh"

namespace ranklens::cpu {
struct neg_op;
struct square_op;
struct abs_op;
struct reciprocal_op;
struct exp_op;
struct log_op;
struct sqrt_op;
struct rsqrt_op;
struct tanh_op;
struct sigmoid_op;
struct relu_op;
struct silu_op;
struct softplus_op;
struct gelu_tanh_op;
struct gelu_exact_op;
struct erf_op;
}  // namespace ranklens::cpu

namespace ranklens::cuda {

struct sigmoid_and_slope {
  float value, slope;
};
// sigmoid(z) and sigmoid(z)(1 − sigmoid(z)), both to full relative accuracy for every z.
__device__ __forceinline__ sigmoid_and_slope sigmoid_parts(float z) {
  const float a = expf(-fabsf(z));
  const float r = 1.0f / (1.0f + a);
  return {z >= 0.0f ? r : a * r, a * r * r};
}

struct neg_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = false;
  __device__ static float forward(float x) { return -x; }
  __device__ static float derivative(float, float) { return -1.0f; }
};

struct square_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return x * x; }
  __device__ static float derivative(float x, float) { return x + x; }
};

struct abs_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return fabsf(x); }
  // sign(x), with 0 at 0 as PyTorch does.
  __device__ static float derivative(float x, float) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }
};

struct reciprocal_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  __device__ static float forward(float x) { return 1.0f / x; }
  __device__ static float derivative(float, float y) { return -(y * y); }
};

struct exp_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  __device__ static float forward(float x) { return expf(x); }
  __device__ static float derivative(float, float y) { return y; }
};

struct log_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return logf(x); }
  __device__ static float derivative(float x, float) { return 1.0f / x; }
};

struct sqrt_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  __device__ static float forward(float x) { return sqrtf(x); }
  __device__ static float derivative(float, float y) { return 0.5f / y; }
};

// 1 / sqrt(x), correctly rounded twice as on the CPU (rsqrtf is an approximation).
struct rsqrt_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = true;
  __device__ static float forward(float x) { return 1.0f / sqrtf(x); }
  __device__ static float derivative(float, float y) { return -0.5f * y * y * y; }
};

struct tanh_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return tanhf(x); }
  // 1 − tanh²(x) = 4 sigmoid'(2x).
  __device__ static float derivative(float x, float) { return 4.0f * sigmoid_parts(x + x).slope; }
};

struct sigmoid_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return sigmoid_parts(x).value; }
  __device__ static float derivative(float x, float) { return sigmoid_parts(x).slope; }
};

// max(x, 0); NaN stays NaN. The backward is PyTorch's threshold_backward: x <= 0 blocks the
// gradient (a NaN or Inf gy there gives 0, not NaN), a NaN x passes it.
struct relu_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return x < 0.0f ? 0.0f : x; }
  __device__ static float derivative(float x, float) { return x <= 0.0f ? 0.0f : 1.0f; }
  __device__ static float gradient(float x, float, float gy) { return x <= 0.0f ? 0.0f : gy; }
};

// x · sigmoid(x) (swish; Qwen2 and Llama MLPs).
struct silu_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return x * sigmoid_parts(x).value; }
  __device__ static float derivative(float x, float) {
    const sigmoid_and_slope s = sigmoid_parts(x);
    return fmaf(x, s.slope, s.value);
  }
};

// log(1 + exp(x)) = max(x, 0) + log1p(exp(−|x|)), exact for every x.
struct softplus_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  __device__ static float forward(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
  __device__ static float derivative(float x, float) { return sigmoid_parts(x).value; }
};

// GELU with the tanh approximation (GPT-2): 0.5 x (1 + tanh(u)) = x · sigmoid(2u),
// u = √(2/π) (x + 0.044715 x³).
struct gelu_tanh_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr double c1_exact = 2 * 0.797884560802865355879892119868763737;
  static constexpr float c1 = float(c1_exact), c3 = float(c1_exact * 0.044715), three_c3 = float(3 * c1_exact * 0.044715);
  __device__ static float forward(float x) {
    const float z = x * fmaf(c3, x * x, c1);
    return x * sigmoid_parts(z).value;
  }
  __device__ static float derivative(float x, float) {
    const float x2 = x * x;
    const float z = x * fmaf(c3, x2, c1);
    const float dz = fmaf(three_c3, x2, c1);
    const sigmoid_and_slope s = sigmoid_parts(z);
    return fmaf(x * s.slope, dz, s.value);
  }
};

// Exact GELU, x · Φ(x) (PyTorch's default approximate='none').
struct gelu_exact_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr float inv_sqrt_2pi = 0.398942280401432677939946059934381868f;
  __device__ static float forward(float x) { return x * normcdff(x); }
  __device__ static float derivative(float x, float) { return fmaf(x, inv_sqrt_2pi * expf(-0.5f * x * x), normcdff(x)); }
};

struct erf_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = false;
  static constexpr float two_over_sqrt_pi = 1.12837916709551257389615890312154517f;
  __device__ static float forward(float x) { return erff(x); }
  __device__ static float derivative(float x, float) { return two_over_sqrt_pi * expf(-x * x); }
};

// The twins of cpu/affine_functions.hpp: functors that carry their numbers to the device (a
// kernel holds the functor object, so these are passed by value into every thread).
struct affine_op {
  static constexpr bool derivative_uses_x = false, derivative_uses_y = false;
  float scale, shift;
  __device__ float forward(float x) const { return scale * x + shift; }
  __device__ float derivative(float, float) const { return scale; }
};
struct scaled_reciprocal_op {
  static constexpr bool derivative_uses_x = true, derivative_uses_y = true;
  float numerator;
  __device__ float forward(float x) const { return numerator / x; }
  __device__ float derivative(float x, float y) const { return -(y / x); }
};

// The device functor for Op: Op itself, or the twin here of a cpu:: functor; device_functor(op)
// makes the object a kernel holds (its numbers, for the functors above).
template <class Op>
struct device_function {
  using type = Op;
  static type from(const Op& op) { return op; }
};
template <class T>
struct device_function<cpu::affine_op<T>> {
  using type = affine_op;
  static type from(const cpu::affine_op<T>& op) { return {float(op.scale), float(op.shift)}; }
};
template <class T>
struct device_function<cpu::scaled_reciprocal_op<T>> {
  using type = scaled_reciprocal_op;
  static type from(const cpu::scaled_reciprocal_op<T>& op) { return {float(op.numerator)}; }
};
#define RANKLENS_CUDA_TWIN(name)                      \
  template <>                                         \
  struct device_function<cpu::name> {                 \
    using type = name;                                \
    static type from(const cpu::name&) { return {}; } \
  }
RANKLENS_CUDA_TWIN(neg_op);
RANKLENS_CUDA_TWIN(square_op);
RANKLENS_CUDA_TWIN(abs_op);
RANKLENS_CUDA_TWIN(reciprocal_op);
RANKLENS_CUDA_TWIN(exp_op);
RANKLENS_CUDA_TWIN(log_op);
RANKLENS_CUDA_TWIN(sqrt_op);
RANKLENS_CUDA_TWIN(rsqrt_op);
RANKLENS_CUDA_TWIN(tanh_op);
RANKLENS_CUDA_TWIN(sigmoid_op);
RANKLENS_CUDA_TWIN(relu_op);
RANKLENS_CUDA_TWIN(silu_op);
RANKLENS_CUDA_TWIN(softplus_op);
RANKLENS_CUDA_TWIN(gelu_tanh_op);
RANKLENS_CUDA_TWIN(gelu_exact_op);
RANKLENS_CUDA_TWIN(erf_op);
#undef RANKLENS_CUDA_TWIN

template <class Op>
using device_function_t = typename device_function<Op>::type;
template <class Op>
device_function_t<Op> device_functor(const Op& op) {
  return device_function<Op>::from(op);
}

template <class Op>
concept device_unary_function = requires(const Op& op, float x) {
  { op.forward(x) } -> std::convertible_to<float>;
  { op.derivative(x, x) } -> std::convertible_to<float>;
  { Op::derivative_uses_x } -> std::convertible_to<bool>;
  { Op::derivative_uses_y } -> std::convertible_to<bool>;
};

}  // namespace ranklens::cuda
