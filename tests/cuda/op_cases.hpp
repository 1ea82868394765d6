// One harness for every differentiable op on every device (as ggml's test-backend-ops): each
// case names an op, the (rows, cols) of its inputs, the range they are drawn from, and apply(),
// written once for any element type and device. run_case<Case, D> runs it forward and backward
// on device D from host values, in an arena poisoned with NaN first (an element an op leaves
// unwritten stays NaN and fails the comparison), with the output weighed by fixed random
// numbers (L = Σ w·y, so every output element's gradient matters), and returns the output and
// every input's gradient on the host. test_op_harness.cu compares cuda_t with cpu_reference/'s
// cpu_t run, checks each case's float64 gradients on the CPU by central differences
// (autograd/gradcheck.hpp), and with RANKLENS_CUDA_TIMING=1 times each case on both devices.
// The sizes are odd and small: the host emulation runs the same cases.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <random>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/core/counter_generator.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/causal_softmax.hpp"
#include "ranklens/ops/concat.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/ops/dropout.hpp"
#include "ranklens/ops/embedding.hpp"
#include "ranklens/ops/fused_causal_attention.hpp"
#include "ranklens/ops/low_rank_update.hpp"
#include "ranklens/ops/masking.hpp"
#include "ranklens/ops/matmul.hpp"
#include "ranklens/ops/matmul_bias.hpp"
#include "ranklens/ops/normalization.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/rope.hpp"
#include "ranklens/ops/softmax.hpp"
#include "ranklens/ops/swiglu.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens::test::op_cases {

using Matrix = Shape<dyn, dyn>;
using Vector = Shape<dyn>;
using Rank3 = Shape<dyn, dyn, dyn>;
using Rank4 = Shape<dyn, dyn, dyn, dyn>;

struct input {
  index_t rows, cols;
  float low = -1, high = 1;  // the range its values are drawn from
};

// Integer data a case needs on its device (targets), kept alive until the run is over.
template <Device D>
struct held {
  std::deque<Tensor<std::int32_t, Shape<dyn>, D>> tensors;
  const Tensor<std::int32_t, Shape<dyn>, D>& on_device(std::vector<std::int32_t> values) {
    Tensor<std::int32_t, Shape<dyn>, cpu_t> host(Shape<dyn>{index_t(values.size())});
    std::copy(values.begin(), values.end(), host.data());
    return tensors.emplace_back(ranklens::on_device<D>(std::move(host)));
  }
};
template <VarType V>
using held_for = held<typename V::device_type>;

// ---- The cases ------------------------------------------------------------------------------

#define RANKLENS_UNARY_CASE(op, low_value, high_value)                                  \
  struct op##_case {                                                                    \
    static constexpr std::string_view name = #op;                                       \
    static std::vector<input> inputs() { return {{7, 37, low_value, high_value}}; }     \
    template <class H, VarType V>                                                       \
    static auto apply(H&, const V& x) {                                                 \
      return op(x);                                                                     \
    }                                                                                   \
  };
RANKLENS_UNARY_CASE(exp, -1, 1)
RANKLENS_UNARY_CASE(log, 0.5f, 2)
RANKLENS_UNARY_CASE(sqrt, 0.5f, 2)
RANKLENS_UNARY_CASE(rsqrt, 0.5f, 2)
RANKLENS_UNARY_CASE(tanh, -1, 1)
RANKLENS_UNARY_CASE(sigmoid, -1, 1)
RANKLENS_UNARY_CASE(silu, -1, 1)
RANKLENS_UNARY_CASE(softplus, -1, 1)
RANKLENS_UNARY_CASE(square, -1, 1)
RANKLENS_UNARY_CASE(gelu, -1, 1)
#undef RANKLENS_UNARY_CASE

struct gelu_tanh_case {
  static constexpr std::string_view name = "gelu (tanh approximation)";
  static std::vector<input> inputs() { return {{7, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    return gelu(x, gelu_approximation::tanh);
  }
};
struct add_row_case {
  static constexpr std::string_view name = "add, a row broadcast";
  static std::vector<input> inputs() { return {{7, 37}, {1, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& a, const V& b) {
    return a + b;
  }
};
struct sub_column_case {
  static constexpr std::string_view name = "sub, a column broadcast";
  static std::vector<input> inputs() { return {{7, 37}, {7, 1}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& a, const V& b) {
    return a - b;
  }
};
struct mul_case {
  static constexpr std::string_view name = "mul";
  static std::vector<input> inputs() { return {{7, 37}, {7, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& a, const V& b) {
    return a * b;
  }
};
struct div_case {
  static constexpr std::string_view name = "div, a row broadcast";
  static std::vector<input> inputs() { return {{7, 37}, {1, 37, 0.5f, 2}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& a, const V& b) {
    return a / b;
  }
};
struct scalar_case {
  static constexpr std::string_view name = "scalar affine and reciprocal";
  static std::vector<input> inputs() { return {{7, 37, 0.5f, 2}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    using T = typename V::value_type;
    return (-x * T(0.5) + T(3)) + T(2) / x;
  }
};
struct matmul_case {
  static constexpr std::string_view name = "matmul";
  static std::vector<input> inputs() { return {{7, 37}, {37, 13}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& a, const V& b) {
    return matmul(a, b);
  }
};
struct matmul_transposed_case {
  static constexpr std::string_view name = "matmul by a transposed view";
  static std::vector<input> inputs() { return {{7, 37}, {13, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& a, const V& b) {
    return matmul(a, transpose(b));
  }
};
struct matmul_bias_case {
  static constexpr std::string_view name = "matmul_bias";
  static std::vector<input> inputs() { return {{7, 37}, {37, 13}, {1, 13}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x, const V& w, const V& b) {
    return matmul_bias(x, w, reshape(b, Vector{13}));
  }
};
struct softmax_case {
  static constexpr std::string_view name = "softmax";
  static std::vector<input> inputs() { return {{7, 37, -3, 3}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    return softmax(x);
  }
};
struct log_softmax_case {
  static constexpr std::string_view name = "log_softmax";
  static std::vector<input> inputs() { return {{7, 37, -3, 3}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    return log_softmax(x);
  }
};
struct causal_softmax_case {
  static constexpr std::string_view name = "causal_softmax";
  static std::vector<input> inputs() { return {{18, 9, -3, 3}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    using T = typename V::value_type;
    return causal_softmax(reshape(x, Rank3{2, 9, 9}), T(0.5));
  }
};
struct causal_mask_case {
  static constexpr std::string_view name = "causal_mask_fill";
  static std::vector<input> inputs() { return {{18, 9}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    using T = typename V::value_type;
    return causal_mask_fill(reshape(x, Rank3{2, 9, 9}), T(-2), 1);
  }
};
struct layer_norm_case {
  static constexpr std::string_view name = "layer_norm";
  static std::vector<input> inputs() { return {{7, 37, -2, 2}, {1, 37}, {1, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x, const V& w, const V& b) {
    return layer_norm(x, reshape(w, Vector{37}), reshape(b, Vector{37}));
  }
};
struct rms_norm_case {
  static constexpr std::string_view name = "rms_norm";
  static std::vector<input> inputs() { return {{7, 37, -2, 2}, {1, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x, const V& w) {
    return rms_norm(x, reshape(w, Vector{37}));
  }
};
struct sum_axis_case {
  static constexpr std::string_view name = "sum over an axis";
  static std::vector<input> inputs() { return {{7, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    return sum<0>(x);
  }
};
struct mean_case {
  static constexpr std::string_view name = "mean over an axis, and of all";
  static std::vector<input> inputs() { return {{7, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    return mean<1>(x) + mean(x);
  }
};
struct swiglu_case {
  static constexpr std::string_view name = "swiglu";
  static std::vector<input> inputs() { return {{7, 37}, {7, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& gate, const V& up) {
    return swiglu(gate, up);
  }
};
struct concat_slice_case {
  static constexpr std::string_view name = "concat, slice, transpose";
  static std::vector<input> inputs() { return {{7, 11}, {7, 26}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& a, const V& b) {
    return contiguous(transpose(slice<1>(concat<1>(a, b), 3, 30)));
  }
};
struct rope_case {
  static constexpr std::string_view name = "rotary_embedding";
  static std::vector<input> inputs() { return {{30, 8}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    return rotary_embedding<1>(reshape(x, Rank4{2, 5, 3, 8}), 10000.0, 2);
  }
};
struct attention_case {
  static constexpr std::string_view name = "fused_causal_attention (grouped heads)";
  static std::vector<input> inputs() { return {{28, 16}, {14, 16}, {14, 16}}; }  // q (2, 7, 2, 16); k, v (2, 7, 1, 16)
  template <class H, VarType V>
  static auto apply(H&, const V& q, const V& k, const V& v) {
    using T = typename V::value_type;
    return fused_causal_attention(reshape(q, Rank4{2, 7, 2, 16}), reshape(k, Rank4{2, 7, 1, 16}), reshape(v, Rank4{2, 7, 1, 16}), T(0.25));
  }
};
struct cross_entropy_case {
  static constexpr std::string_view name = "cross_entropy (mean, an ignored target)";
  static std::vector<input> inputs() { return {{9, 11, -2, 2}}; }
  template <class H, VarType V>
  static auto apply(H& held, const V& logits) {
    const auto& targets = held.on_device({3, 0, 10, -100, 7, 7, 1, 5, 2});
    return cross_entropy(logits, targets.view());
  }
};
struct embedding_case {
  static constexpr std::string_view name = "embedding (a repeated id)";
  static std::vector<input> inputs() { return {{11, 16}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& table) {
    static const std::int32_t ids[] = {4, 0, 10, 4, 7, 2, 9};
    return embedding(table, TensorView<const std::int32_t, Shape<dyn>, cpu_t>(ids, Shape<dyn>{7}));
  }
};
struct low_rank_update_case {
  static constexpr std::string_view name = "low_rank_update (rank 2)";
  static std::vector<input> inputs() { return {{7, 13}, {7, 37}, {2, 37}, {13, 2}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& base, const V& x, const V& a, const V& b) {
    using T = typename V::value_type;
    const auto a2 = reshape(a, Shape<2, dyn>{37});
    const auto b2 = reshape(b, Shape<dyn, 2>{13});
    return low_rank_update(base * T(1), x, a2, b2, T(1.5)).output;
  }
};
struct dropout_case {
  static constexpr std::string_view name = "dropout (the same mask on every device)";
  static std::vector<input> inputs() { return {{7, 37}}; }
  template <class H, VarType V>
  static auto apply(H&, const V& x) {
    CounterGenerator keys(5);
    return dropout(x, 0.25, keys);
  }
};

using all = std::tuple<exp_case, log_case, sqrt_case, rsqrt_case, tanh_case, sigmoid_case, silu_case, softplus_case, square_case, gelu_case,
                       gelu_tanh_case, add_row_case, sub_column_case, mul_case, div_case, scalar_case, matmul_case, matmul_transposed_case,
                       matmul_bias_case, softmax_case, log_softmax_case, causal_softmax_case, causal_mask_case, layer_norm_case,
                       rms_norm_case, sum_axis_case, mean_case, swiglu_case, concat_slice_case, rope_case, attention_case,
                       cross_entropy_case, embedding_case, low_rank_update_case, dropout_case>;
inline constexpr std::size_t count = std::tuple_size_v<all>;

// Calls f.template operator()<Case>() for case number `index`.
template <class F>
decltype(auto) with_case(std::size_t index, F&& f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    using result = decltype(f.template operator()<std::tuple_element_t<0, all>>());
    if constexpr (std::is_void_v<result>) {
      ((I == index ? (f.template operator()<std::tuple_element_t<I, all>>(), 0) : 0), ...);
    } else {
      result r{};
      ((I == index ? (r = f.template operator()<std::tuple_element_t<I, all>>(), 0) : 0), ...);
      return r;
    }
  }(std::make_index_sequence<count>{});
}

template <class Case>
std::vector<std::vector<float>> draw_inputs(std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::vector<std::vector<float>> values;
  for (const input& in : Case::inputs()) {
    std::uniform_real_distribution<float> draw(in.low, in.high);
    auto& v = values.emplace_back(std::size_t(in.rows * in.cols));
    for (float& x : v) x = draw(generator);
  }
  return values;
}

// ---- Running a case -------------------------------------------------------------------------

struct case_result {
  std::vector<float> output;
  std::vector<std::vector<float>> gradients;  // one per input
};

// Fills the next 4 MiB the tape's arena on D hands out with NaN, in the pieces a step takes.
template <Device D>
void poison_arena() {
  auto scope = tape();
  auto& arena = Tape::current().arena<D>();
  for (int piece = 0; piece < 256; ++piece) {
    float* p = arena.template allocate_array<float>(4096);
    backend::fill<float>(D{}, p, std::numeric_limits<float>::quiet_NaN(), index_t(4096));
  }
}

// How many inputs Case::apply takes after its holder, for Vars of type V.
template <class Case, class V>
constexpr std::size_t arity() {
  if constexpr (requires(held<typename V::device_type>& h, const V& v) { Case::apply(h, v); })
    return 1;
  else if constexpr (requires(held<typename V::device_type>& h, const V& v) { Case::apply(h, v, v); })
    return 2;
  else if constexpr (requires(held<typename V::device_type>& h, const V& v) { Case::apply(h, v, v, v); })
    return 3;
  else
    return 4;
}

struct no_timing {
  template <class Step>
  void operator()(Step&&) const {}
};

// Case on device D with these input values: its output and input gradients on the host. Then
// time(step), where step() runs the case forward and backward once more (a timing mode's hook).
template <class Case, Device D, class Time = no_timing>
case_result run_case(const std::vector<std::vector<float>>& values, Time&& time = {}) {
  constexpr std::size_t n = arity<Case, Var<float, Matrix, D>>();
  const std::vector<input> sizes = Case::inputs();
  std::vector<Tensor<float, Matrix, D>> tensors;
  for (std::size_t i = 0; i < n; ++i) {
    Tensor<float, Matrix, cpu_t> host(Matrix{sizes[i].rows, sizes[i].cols});
    std::copy(values[i].begin(), values[i].end(), host.data());
    tensors.push_back(on_device<D>(std::move(host)));
  }
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    case_result result;
    const auto weights_for = [](const auto& shape) {  // the fixed random w of L = Σ w·y
      Tensor<float, std::remove_cvref_t<decltype(shape)>, cpu_t> w(shape);
      std::mt19937_64 generator(99);
      std::uniform_real_distribution<float> draw(-1, 1);
      for (index_t i = 0; i < w.numel(); ++i) w.data()[i] = draw(generator);
      return on_device<D>(std::move(w));
    };
    {
      poison_arena<D>();
      auto step = tape();
      held<D> keep;
      const std::array vars = {variable(tensors[I])...};
      const auto y = contiguous(Case::apply(keep, vars[I]...));
      const auto weights = weights_for(y.shape());
      backward(sum(y * constant(weights)));
      const auto output = to_host(y.value());
      result.output.assign(output.data(), output.data() + output.numel());
      for (const auto& v : vars) {
        const auto g = to_host(v.grad());
        result.gradients.emplace_back(g.data(), g.data() + g.numel());
      }
    }
    time([&] {
      auto step = tape();
      held<D> keep;
      const std::array vars = {variable(tensors[I])...};
      const auto y = contiguous(Case::apply(keep, vars[I]...));
      const auto weights = weights_for(y.shape());
      backward(sum(y * constant(weights)));
    });
    return result;
  }(std::make_index_sequence<n>{});
}

// Case's float64 gradients on the CPU against central differences (autograd/gradcheck.hpp).
template <class Case>
GradcheckResult gradcheck_case() {
  constexpr std::size_t n = arity<Case, Var<double, Matrix, cpu_t>>();
  const std::vector<input> sizes = Case::inputs();
  std::mt19937_64 generator(7);
  std::vector<Tensor<double, Matrix, cpu_t>> inputs;
  for (std::size_t i = 0; i < n; ++i)
    inputs.push_back(random_tensor(Matrix{sizes[i].rows, sizes[i].cols}, generator, sizes[i].low, sizes[i].high));
  held<cpu_t> keep;
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return check_gradients([&](const auto&... v) { return Case::apply(keep, v...); }, inputs[I]...);
  }(std::make_index_sequence<n>{});
}

// The same on cpu_t, compiled in cpu_reference/: case number `index` of `all`, timed there
// (a "timing:" line, the median of 20 runs) when `timed`.
case_result cpu_run_case(std::size_t index, const std::vector<std::vector<float>>& values, bool timed);
GradcheckResult cpu_gradcheck_case(std::size_t index);

}  // namespace ranklens::test::op_cases
