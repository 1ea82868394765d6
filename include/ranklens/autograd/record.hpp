// How an op joins the graph: after computing its result, it calls
//   record("op_name", out, [saved...](const auto& out, const auto& a, const auto& b) { ... }, a, b);
// The callback runs during backward only if a gradient reached `out`; it reads out.grad() and
// accumulates into in.grad_accumulator() for each input that requires grad. One place per op
// holds its forward and its backward (mlx's primitives, Stan's reverse_pass_callback).
#pragma once
#include <cmath>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ranklens/autograd/var.hpp"

namespace ranklens {

// True when the result of an op on these inputs must record a backward pass.
template <VarType... V>
bool any_requires_grad(const V&... inputs) noexcept {
  return grad_mode_enabled() && (inputs.requires_grad() || ...);
}

namespace detail {

// The row-major index of v's first NaN (or ±inf, unless allowed), or -1. Values on another
// device are copied to the host first (anomaly mode is for finding bugs, not for speed).
template <class T, ShapeType S, Device D>
index_t first_non_finite(TensorView<const T, S, D> v, bool infinity_allowed = false) {
  if constexpr (!std::is_same_v<D, cpu_t>) {
    index_t last = 0;  // the furthest element the view reaches (strides are not negative)
    for (std::size_t k = 0; k != S::rank; ++k) {
      if (v.shape().dims[k] == 0) return -1;
      last += (v.shape().dims[k] - 1) * v.strides()[k];
    }
    std::vector<T> host(std::size_t(last) + 1);
    device_memory<D>::copy_to_host(host.data(), v.data(), sizeof(T) * host.size());
    return first_non_finite(TensorView<const T, S, cpu_t>{host.data(), v.shape(), v.strides()}, infinity_allowed);
  }
  index_t found = -1, i = 0;
  const T* p = v.data();
  for_each_offset<S::rank>(v.shape().dims, v.strides(), [&](index_t off) {
    const double x = double(p[off]);
    if (found < 0 && (infinity_allowed ? std::isnan(x) : !std::isfinite(x))) found = i;
    ++i;
  });
  return found;
}

template <VarType... V>
std::string describe_inputs(const V&... inputs) {
  std::string s;
  ((s += (s.empty() ? "" : ", ") + to_string(inputs.shape())), ...);
  return s.empty() ? "no tensor inputs" : "input shapes " + s;
}

// The anomaly messages, built out of line and only when a check fails: written inside each op's
// entry, their string code was most of the code the tests' tape compiled (1.3 of 1.5 MB in the
// largest test batch).
[[noreturn, gnu::noinline, gnu::cold]] inline void throw_forward_anomaly(const char* op, index_t element, const std::string& shape,
                                                                          const std::string& inputs) {
  throw anomaly_error(std::string("anomaly: forward of '") + op + "' produced NaN/Inf at element " + std::to_string(element) +
                      " of its result (shape " + shape + "); " + inputs);
}

[[noreturn, gnu::noinline, gnu::cold]] inline void throw_backward_anomaly(const char* op, std::size_t position, const std::string& shape,
                                                                           index_t element, const std::string& inputs) {
  throw anomaly_error(std::string("anomaly: backward of '") + op + "' produced NaN/Inf in the gradient of input " +
                      std::to_string(position) + " (shape " + shape + ") at element " + std::to_string(element) + "; " + inputs);
}

// The index of the first NaN/Inf in an input's gradient, or -1 (also when it has none).
template <VarType V>
index_t first_non_finite_gradient(const V& in) {
  return in.requires_grad() && in.has_grad() ? first_non_finite(in.grad()) : -1;
}

template <class Out, class Backward, class... Ins>
struct OpEntry : TapeEntry {
  OpEntry(const char* name, const Out& o, const Backward& b, const Ins&... i) : out(o), backward(b), inputs(i...) {
    op = name;
    run = &run_entry;
    check_inputs = &check_entry;
    release_output_grad = &release_entry;
  }

  static void run_entry(TapeEntry* base) {
    auto* self = static_cast<OpEntry*>(base);
    if (!self->out.has_grad()) return;  // nothing downstream needed this result
    std::apply([&](const Ins&... in) { self->backward(self->out, in...); }, self->inputs);
  }

  // Hands out's gradient buffer back to the tape, unless an input shares out's storage (then
  // the buffer is that input's gradient too, still to be read by older entries).
  static void release_entry(TapeEntry* base) {
    auto* self = static_cast<OpEntry*>(base);
    StorageNode* node = self->out.node();
    if (!node || !node->grad) return;
    const bool shared = std::apply([&](const Ins&... in) { return ((in.node() == node) || ...); }, self->inputs);
    if (shared) return;
    Tape::current().release_gradient_buffer<typename Out::device_type>(node->grad, size_of(node->type) * std::size_t(node->numel));
    node->grad = nullptr;
  }

  static void check_entry(TapeEntry* base) {
    auto* self = static_cast<OpEntry*>(base);
    if (!self->out.has_grad()) return;
    std::size_t position = 0;
    std::apply(
        [&](const Ins&... in) {
          (
              [&] {
                if (const index_t bad = first_non_finite_gradient(in); bad >= 0)
                  self->throw_gradient_anomaly(position, to_string(in.shape()), bad);
                ++position;
              }(),
              ...);
        },
        self->inputs);
  }

  [[noreturn, gnu::noinline, gnu::cold]] void throw_gradient_anomaly(std::size_t position, const std::string& shape, index_t element) const {
    throw_backward_anomaly(op, position, shape, element, std::apply([](const Ins&... all) { return describe_inputs(all...); }, inputs));
  }

  Out out;
  Backward backward;
  std::tuple<Ins...> inputs;
};

}  // namespace detail

// What anomaly mode accepts in an op's forward result: ops that write −inf on purpose (causal
// masks before a softmax) declare it, and are then checked for NaN only.
enum class forward_values { finite, may_be_infinite };

// Records `backward` for `out` (see the top of this file). In anomaly mode it first checks the
// forward result and throws anomaly_error naming the op and its input shapes.
template <forward_values Expect = forward_values::finite, VarType Out, class Backward, VarType... Ins>
void record(const char* op, const Out& out, Backward&& backward, const Ins&... inputs) {
  if (anomaly_mode_enabled()) {
    if (const index_t bad = detail::first_non_finite(out.value(), Expect == forward_values::may_be_infinite); bad >= 0)
      detail::throw_forward_anomaly(op, bad, to_string(out.shape()), detail::describe_inputs(inputs...));
  }
  if (!out.requires_grad()) return;
  using Entry = detail::OpEntry<Out, std::decay_t<Backward>, Ins...>;
  Tape::current().push<Entry>(op, out, backward, inputs...);
}

}  // namespace ranklens
