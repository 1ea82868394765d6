// Parity of the CUDA elementwise, reduction, softmax, norm, cross-entropy, embedding, RoPE,
// AdamW and gradient-clipping kernels with their CPU twins (harness: parity.hpp), and the list
// forms of the optimizers and zero_grad (tensor_lists.cuh) against their one-by-one forms.
#include <cstdint>
#include <cstring>
#include <limits>

#include "parity.hpp"
#include "ranklens/cuda/adamw.cuh"
#include "ranklens/cuda/clip_coefficient.cuh"
#include "ranklens/cuda/cross_entropy.cuh"
#include "ranklens/cuda/elementwise.cuh"
#include "ranklens/cuda/embedding.cuh"
#include "ranklens/cuda/norm.cuh"
#include "ranklens/cuda/reduce.cuh"
#include "ranklens/cuda/rope.cuh"
#include "ranklens/cuda/sgd.cuh"
#include "ranklens/cuda/softmax.cuh"
#include "ranklens/cuda/zero_many.cuh"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace ref = ranklens::test::reference;
using ranklens::grad_write;

namespace {

template <class Body>
void for_float_and_bf16(Body&& body) {
  body.template operator()<float>();
  body.template operator()<bfloat16>();
}

// Calls body.template operator()<cuda functor>(reference enum) for every unary function.
template <class Body>
void for_each_unary(Body&& body) {
  body.template operator()<cuda::neg_op>(ref::unary::neg);
  body.template operator()<cuda::square_op>(ref::unary::square);
  body.template operator()<cuda::abs_op>(ref::unary::abs);
  body.template operator()<cuda::reciprocal_op>(ref::unary::reciprocal);
  body.template operator()<cuda::exp_op>(ref::unary::exp);
  body.template operator()<cuda::log_op>(ref::unary::log);
  body.template operator()<cuda::sqrt_op>(ref::unary::sqrt);
  body.template operator()<cuda::rsqrt_op>(ref::unary::rsqrt);
  body.template operator()<cuda::tanh_op>(ref::unary::tanh);
  body.template operator()<cuda::sigmoid_op>(ref::unary::sigmoid);
  body.template operator()<cuda::relu_op>(ref::unary::relu);
  body.template operator()<cuda::silu_op>(ref::unary::silu);
  body.template operator()<cuda::softplus_op>(ref::unary::softplus);
  body.template operator()<cuda::gelu_tanh_op>(ref::unary::gelu_tanh);
  body.template operator()<cuda::gelu_exact_op>(ref::unary::gelu_exact);
  body.template operator()<cuda::erf_op>(ref::unary::erf);
}

template <class Body>
void for_each_binary(Body&& body) {
  body.template operator()<cuda::add_op>(ref::binary::add);
  body.template operator()<cuda::sub_op>(ref::binary::sub);
  body.template operator()<cuda::rsub_op>(ref::binary::rsub);
  body.template operator()<cuda::mul_op>(ref::binary::mul);
  body.template operator()<cuda::div_op>(ref::binary::div);
  body.template operator()<cuda::rdiv_op>(ref::binary::rdiv);
  body.template operator()<cuda::swiglu_op>(ref::binary::swiglu);
}

bool positive_domain(ref::unary f) {
  return f == ref::unary::log || f == ref::unary::sqrt || f == ref::unary::rsqrt || f == ref::unary::reciprocal;
}

std::string label(const char* kernel, const char* function, index_t n) {
  return std::string(kernel) + " " + function + " n=" + std::to_string(n);
}

}  // namespace

// The device functors are the CPU's under another namespace: a caller may name either.
static_assert(std::is_same_v<cuda::device_function_t<cpu::gelu_tanh_op>, cuda::gelu_tanh_op>);
static_assert(std::is_same_v<cuda::device_function_t<cpu::div_op>, cuda::div_op>);
static_assert(std::is_same_v<cuda::device_function_t<cuda::silu_op>, cuda::silu_op>);
static_assert(cuda::default_ignore_index == -100);

TEST_CASE("CUDA unary functions match the CPU forward and backward, added and stored", "[cuda][elementwise]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  for (index_t n : {index_t(1), index_t(37), sized(100003, 3001)}) {
    for_each_unary([&]<class Op>(ref::unary f) {
      for_float_and_bf16([&]<class T>() {
        if (std::is_same_v<T, bfloat16> && n == 1) return;
        const bool positive = positive_domain(f);
        twin<T> x(random_values(n, 1, positive ? 0.1f : -4.0f, positive ? 3.0f : 4.0f));
        twin<T> y(n);
        cuda::unary_forward<Op>(x.data(), y.data(), n);
        std::vector<float> want(n);
        ref::unary_forward(f, x.cpu(), want.data(), n);
        check_close(label("unary_forward", ref::name_of(f), n), y, want);

        // The backward reads the CPU's y (rounded to T) on both sides.
        twin<T> y_in(want), gy(random_values(n, 2));
        for (grad_write mode : {grad_write::store, grad_write::add}) {
          twin<T> gx = mode == grad_write::store ? twin<T>(n) : twin<T>(random_values(n, 3));
          std::vector<float> want_gx = gx.host;
          cuda::unary_backward<Op>(x.data(), y_in.data(), gy.data(), gx.data(), n, mode);
          ref::unary_backward(f, x.cpu(), y_in.cpu(), gy.cpu(), want_gx.data(), n, mode);
          check_close(label(mode == grad_write::store ? "unary_backward (store)" : "unary_backward (add)", ref::name_of(f), n), gx, want_gx);
        }
        if (std::is_same_v<T, float> && n > 1000)
          report_timing(label("unary_forward", ref::name_of(f), n), [&] { cuda::unary_forward<Op>(x.data(), y.data(), n); });
      });
    });
  }
}

TEST_CASE("CUDA relu's backward blocks the gradient where x <= 0, a NaN or Inf one too, as PyTorch's threshold_backward",
          "[cuda][elementwise]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const float inf = std::numeric_limits<float>::infinity();
  // x, gy and PyTorch's gradient (x <= 0 ? 0 : gy), repeated past a block's first warp.
  const float pattern[][3] = {{-1, nan_value, 0}, {0, inf, 0}, {-inf, -inf, 0}, {2, 3, 3}, {inf, 5, 5}, {nan_value, 7, 7}, {0.5f, nan_value, nan_value}};
  std::vector<float> x, gy, want;
  for (int i = 0; i < 37; ++i) {
    const auto& row = pattern[i % 7];
    x.push_back(row[0]), gy.push_back(row[1]), want.push_back(row[2]);
  }
  const index_t n = index_t(x.size());
  for_float_and_bf16([&]<class T>() {
    twin<T> x_twin(x), gy_twin(gy), stored(n), added(std::vector<float>(x.size(), 1.0f));
    cuda::unary_backward<cuda::relu_op>(x_twin.data(), nullptr, gy_twin.data(), stored.data(), n, grad_write::store);
    cuda::unary_backward<cuda::relu_op>(x_twin.data(), nullptr, gy_twin.data(), added.data(), n, grad_write::add);
    std::vector<float> want_added;
    for (float w : want) want_added.push_back(1.0f + w);
    check_close("relu backward (store)", stored, want);
    check_close("relu backward (add)", added, want_added);
  });
}

TEST_CASE("CUDA binary functions match the CPU: same shape, scalar, broadcast row and column", "[cuda][elementwise]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t rows = sized(301, 37), cols = sized(333, 29), n = rows * cols;
  for_each_binary([&]<class Op>(ref::binary f) {
    for_float_and_bf16([&]<class T>() {
      const char* name = ref::name_of(f);
      twin<T> a(random_values(n, 10, 0.5f, 2.0f)), b(random_values(n, 11, 0.5f, 2.0f)), gy(random_values(n, 12));
      twin<T> b_row(random_values(cols, 13, 0.5f, 2.0f)), b_column(random_values(rows, 14, 0.5f, 2.0f));
      const float s = representable<T>(1.375f);

      {  // forward
        twin<T> y(n);
        std::vector<float> want(n);
        cuda::binary_forward<Op>(a.data(), b.data(), y.data(), n);
        ref::binary_forward(f, a.cpu(), b.cpu(), want.data(), n);
        check_close(label("binary_forward", name, n), y, want);
        twin<T> ys(n);
        cuda::binary_forward_scalar<Op>(a.data(), cuda::from_float<T>(s), ys.data(), n);
        ref::binary_forward_scalar(f, a.cpu(), s, want.data(), n);
        check_close(label("binary_forward_scalar", name, n), ys, want);
        twin<T> yr(n);
        cuda::binary_forward_broadcast_row<Op>(a.data(), b_row.data(), yr.data(), rows, cols);
        ref::binary_forward_broadcast_row(f, a.cpu(), b_row.cpu(), want.data(), rows, cols);
        check_close(label("binary_forward_broadcast_row", name, n), yr, want);
        twin<T> yc(n);
        cuda::binary_forward_broadcast_column<Op>(a.data(), b_column.data(), yc.data(), rows, cols);
        ref::binary_forward_broadcast_column(f, a.cpu(), b_column.cpu(), want.data(), rows, cols);
        check_close(label("binary_forward_broadcast_column", name, n), yc, want);
      }
      for (grad_write write_a : {grad_write::store, grad_write::add})
        for (grad_write write_b : {grad_write::store, grad_write::add}) {  // same shape, both gradients
          twin<T> ga = write_a == grad_write::store ? twin<T>(n) : twin<T>(random_values(n, 15));
          twin<T> gb = write_b == grad_write::store ? twin<T>(n) : twin<T>(random_values(n, 16));
          std::vector<float> want_a = ga.host, want_b = gb.host;
          cuda::binary_backward<Op>(a.data(), b.data(), gy.data(), ga.data(), gb.data(), n, write_a, write_b);
          ref::binary_backward(f, a.cpu(), b.cpu(), gy.cpu(), want_a.data(), want_b.data(), n, write_a, write_b);
          check_close(label("binary_backward ga", name, n), ga, want_a);
          check_close(label("binary_backward gb", name, n), gb, want_b);
        }
      {  // one gradient only
        twin<T> gb(random_values(n, 17));
        std::vector<float> want_b = gb.host;
        cuda::binary_backward<Op>(a.data(), b.data(), gy.data(), nullptr, gb.data(), n);
        ref::binary_backward(f, a.cpu(), b.cpu(), gy.cpu(), nullptr, want_b.data(), n, grad_write::add, grad_write::add);
        check_close(label("binary_backward gb alone", name, n), gb, want_b);
      }
      {  // scalar, row and column broadcasts: ga added, gb a sum added
        twin<T> ga(random_values(n, 18)), gb(random_values(1, 19));
        std::vector<float> want_a = ga.host, want_b = gb.host;
        cuda::binary_backward_scalar<Op>(a.data(), cuda::from_float<T>(s), gy.data(), ga.data(), gb.data(), n);
        ref::binary_backward_scalar(f, a.cpu(), s, gy.cpu(), want_a.data(), want_b.data(), n);
        check_close(label("binary_backward_scalar ga", name, n), ga, want_a);
        check_close(label("binary_backward_scalar gb", name, n), gb, want_b);

        twin<T> ga_row(random_values(n, 20)), gb_row(random_values(cols, 21));
        want_a = ga_row.host, want_b = gb_row.host;
        cuda::binary_backward_broadcast_row<Op>(a.data(), b_row.data(), gy.data(), ga_row.data(), gb_row.data(), rows, cols);
        ref::binary_backward_broadcast_row(f, a.cpu(), b_row.cpu(), gy.cpu(), want_a.data(), want_b.data(), rows, cols);
        check_close(label("binary_backward_broadcast_row ga", name, n), ga_row, want_a);
        check_close(label("binary_backward_broadcast_row gb", name, n), gb_row, want_b);

        twin<T> ga_column(random_values(n, 22)), gb_column(random_values(rows, 23));
        want_a = ga_column.host, want_b = gb_column.host;
        cuda::binary_backward_broadcast_column<Op>(a.data(), b_column.data(), gy.data(), ga_column.data(), gb_column.data(), rows, cols);
        ref::binary_backward_broadcast_column(f, a.cpu(), b_column.cpu(), gy.cpu(), want_a.data(), want_b.data(), rows, cols);
        check_close(label("binary_backward_broadcast_column ga", name, n), ga_column, want_a);
        check_close(label("binary_backward_broadcast_column gb", name, n), gb_column, want_b);
      }
    });
  });
}

TEST_CASE("CUDA fill, copy, scale, axpy and add_inplace match the CPU", "[cuda][elementwise]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t n = sized(100003, 1003);
  for_float_and_bf16([&]<class T>() {
    twin<T> x(random_values(n, 30)), y(random_values(n, 31));
    std::vector<float> want = y.host;
    twin<T> filled(n);
    cuda::fill(filled.data(), cuda::from_float<T>(0.75f), n);
    ref::fill(want.data(), 0.75f, n);
    check_close("fill", filled, want);
    twin<T> copied(n);
    cuda::copy(x.data(), copied.data(), n);
    check_close("copy", copied, x.host);
    twin<T> scaled(n);
    cuda::scale(x.data(), cuda::from_float<T>(-1.5f), scaled.data(), n);
    ref::scale(x.cpu(), -1.5f, want.data(), n);
    check_close("scale", scaled, want);
    want = y.host;
    cuda::axpy(cuda::from_float<T>(0.25f), x.data(), y.data(), n);
    ref::axpy(0.25f, x.cpu(), want.data(), n);
    check_close("axpy", y, want);
    twin<T> z(random_values(n, 32));
    want = z.host;
    cuda::add_inplace(x.data(), z.data(), n);
    ref::add_inplace(x.cpu(), want.data(), n);
    check_close("add_inplace", z, want);
  });
}

TEST_CASE("CUDA reductions match the CPU: sums and maxima over any axis, their backward, column sums", "[cuda][reduce]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  struct view {
    index_t outer, n, inner;
  };
  for (view s : {view{1, sized(100003, 3001), 1}, view{37, 129, 1}, view{3, 2001, 1}, view{1, 513, 67}, view{5, 33, 7}, view{3, 1, 5}}) {
    const std::string shape = " (" + std::to_string(s.outer) + ", " + std::to_string(s.n) + ", " + std::to_string(s.inner) + ")";
    for_float_and_bf16([&]<class T>() {
      const index_t total = s.outer * s.n * s.inner, kept = s.outer * s.inner;
      twin<T> x(random_values(total, 40));
      twin<T> y(kept);
      std::vector<float> want(kept);
      cuda::sum_axis(x.data(), y.data(), s.outer, s.n, s.inner);
      ref::sum_axis(x.cpu(), want.data(), s.outer, s.n, s.inner);
      check_close("sum_axis" + shape, y, want);

      twin<T> gy(random_values(kept, 41)), gx(random_values(total, 42));
      std::vector<float> want_gx = gx.host;
      cuda::sum_axis_backward(gy.data(), gx.data(), s.outer, s.n, s.inner);
      ref::sum_axis_backward(gy.cpu(), want_gx.data(), s.outer, s.n, s.inner);
      check_close("sum_axis_backward" + shape, gx, want_gx);

      // Few distinct values, so that ties decide many maxima: the first index must win.
      std::vector<float> coarse = random_values(total, 43, -4.0f, 4.0f);
      for (auto& v : coarse) v = std::round(v);
      twin<T> xc(coarse), ymax(kept);
      cuda::device_buffer<index_t> argmax(kept);
      std::vector<index_t> want_argmax(kept);
      cuda::max_axis(xc.data(), ymax.data(), argmax.data(), s.outer, s.n, s.inner);
      ref::max_axis(xc.cpu(), want.data(), want_argmax.data(), s.outer, s.n, s.inner);
      check_close("max_axis" + shape, ymax, want);
      CHECK(argmax.to_host() == want_argmax);

      twin<T> gx_max(random_values(total, 44));
      want_gx = gx_max.host;
      cuda::device_buffer<index_t> argmax_in(want_argmax);
      cuda::max_axis_backward(argmax_in.data(), gy.data(), gx_max.data(), s.outer, s.n, s.inner);
      ref::max_axis_backward(want_argmax.data(), gy.cpu(), want_gx.data(), s.outer, s.n, s.inner);
      check_close("max_axis_backward" + shape, gx_max, want_gx);
    });
  }
  for_float_and_bf16([&]<class T>() {
    const index_t n = sized(1000003, 20001);
    twin<T> x(random_values(n, 45));
    const float got = cuda::to_float(cuda::sum_all(x.data(), n));
    check_close("sum_all (" + std::string(type_name<T>()) + ")", {got}, {ref::sum_all(x.cpu(), n)}, tolerance<T>);
    twin<T> squared(random_values(n, 48, -2.0f, 2.0f)), squares_total(1);
    cuda::sum_of_squares(squared.data(), n, squares_total.data());
    check_close("sum_of_squares (" + std::string(type_name<T>()) + ")", squares_total.download(),
                std::vector<float>{ref::sum_of_squares(squared.cpu(), n)}, tolerance<T>);
    for (index_t rows : {index_t(1), index_t(67), sized(8192, 301)}) {
      const index_t cols = 129;
      twin<T> dy(random_values(rows * cols, 46)), gb(random_values(cols, 47));
      std::vector<float> want = gb.host;
      cuda::add_column_sums(dy.data(), gb.data(), rows, cols);
      ref::add_column_sums(dy.cpu(), want.data(), rows, cols);
      check_close("add_column_sums rows=" + std::to_string(rows), gb, want);
      if (std::is_same_v<T, float> && rows > 1000)
        report_timing("add_column_sums (8192, 129)", [&] { cuda::add_column_sums(dy.data(), gb.data(), rows, cols); });
    }
  });
}

TEST_CASE("CUDA scale_by_clip_coefficient leaves gradients untouched at a coefficient of 1 and scales them otherwise",
          "[cuda][clip]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t n = sized(100003, 5003);
  std::vector<float> values = random_values(n, 49);
  values[17] = std::numeric_limits<float>::signaling_NaN();  // x·1 would quiet it: other bits
  cuda::device_buffer<float> x(n), coefficient(1);
  x.assign(values);
  coefficient.assign({1.0f});
  cuda::scale_by_clip_coefficient(coefficient.data(), x.data(), n);
  const std::vector<float> kept = x.to_host();
  CHECK(std::memcmp(kept.data(), values.data(), sizeof(float) * std::size_t(n)) == 0);

  coefficient.assign({0.25f});  // a power of two: the products are exact
  cuda::scale_by_clip_coefficient(coefficient.data(), x.data(), n);
  const std::vector<float> scaled = x.to_host();
  index_t wrong = 0;
  for (index_t i = 0; i < n; ++i)
    if (i != 17 && scaled[std::size_t(i)] != values[std::size_t(i)] * 0.25f) ++wrong;
  CHECK(wrong == 0);
  CHECK(std::isnan(scaled[17]));
}

TEST_CASE("CUDA sum_of_squares_many and scale_by_clip_coefficient_many treat a list of gradients chunk by chunk, in few launches",
          "[cuda][clip]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  // More arrays than a launch takes, of odd sizes (some empty); in chunks of 64 the blocks overflow
  // a launch too, so that a partial's place must count the launches before it.
  const index_t sizes_cycle[] = {1, 0, 63, 64, 65, 1000};
  const int count = cuda::detail::list_batch_tensors + 8;
  std::vector<std::vector<float>> values;
  std::vector<cuda::device_buffer<float>> arrays;
  for (int t = 0; t < count; ++t) {
    const index_t n = t == 2 ? sized(200003, 25003) : sizes_cycle[t % 6];
    values.push_back(random_values(n, 500 + std::uint64_t(t), -2.0f, 2.0f));
    if (t == 5) values.back()[3] = std::numeric_limits<float>::signaling_NaN();  // x·1 would quiet it: other bits
    arrays.emplace_back(n);
    arrays.back().assign(values.back());
  }
  std::vector<cpu::array_range<const float>> read;
  std::vector<cpu::array_range<float>> written;
  for (auto& a : arrays) {
    read.push_back({a.data(), a.size()});
    written.push_back({a.data(), a.size()});
  }
  for (const index_t chunk : {index_t(64), cuda::detail::list_chunk}) {
    INFO("chunk " << chunk);
    // Each partial against the reference sum of its chunk (the array with the NaN left out).
    std::vector<float> want;
    for (int t = 0; t < count; ++t)
      for (index_t begin = 0; begin < index_t(values[t].size()); begin += chunk)
        want.push_back(ref::sum_of_squares(values[t].data() + begin, std::min(chunk, index_t(values[t].size()) - begin)));
    const index_t partials = cuda::sum_of_squares_partials<float>(read, chunk);
    REQUIRE(partials == index_t(want.size()));
    CHECK(partials > cuda::detail::list_batch_blocks * (chunk == 64 ? 1 : 0));
    cuda::device_buffer<float> got(partials + 1);  // and one more, which must stay NaN
    got.assign(std::vector<float>(std::size_t(partials + 1), std::numeric_limits<float>::quiet_NaN()));
    cuda::launch_census census;
    cuda::detail::open_launch_census() = &census;
    cuda::sum_of_squares_many<float>(read, got.data(), chunk);
    cuda::detail::open_launch_census() = nullptr;
    CHECK(census.total() >= 2);  // more arrays than a launch takes
    CHECK(census.total() <= 2 + int(partials / cuda::detail::list_batch_blocks));
    const std::vector<float> host = got.to_host();
    CHECK(std::isnan(host.back()));
    std::size_t k = 0;
    for (int t = 0; t < count; ++t)
      for (index_t begin = 0; begin < index_t(values[t].size()); begin += chunk, ++k) {
        INFO("array " << t << ", chunk from " << begin);
        if (t == 5 && begin == 0)
          CHECK(std::isnan(host[k]));
        else
          check_close("sum_of_squares_many partial", {host[k]}, {want[k]}, tolerance<float>);
      }
  }

  cuda::device_buffer<float> coefficient(1);
  coefficient.assign({1.0f});
  cuda::scale_by_clip_coefficient_many(coefficient.data(), written, 64);
  for (int t = 0; t < count; ++t) {
    const std::vector<float> kept = arrays[t].to_host();
    CHECK((kept.empty() || std::memcmp(kept.data(), values[t].data(), sizeof(float) * kept.size()) == 0));
  }
  coefficient.assign({0.25f});  // a power of two: the products are exact
  for (const index_t chunk : {index_t(64), cuda::detail::list_chunk}) {
    cuda::scale_by_clip_coefficient_many(coefficient.data(), written, chunk);
    for (int t = 0; t < count; ++t) {
      for (float& v : values[t]) v *= 0.25f;
      const std::vector<float> scaled = arrays[t].to_host();
      index_t wrong = 0;
      for (std::size_t i = 0; i < scaled.size(); ++i)
        if (!(t == 5 && i == 3) && scaled[i] != values[t][i]) ++wrong;
      INFO("array " << t << ", chunk " << chunk);
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("CUDA softmax, log-softmax and causal softmax match the CPU forward and backward", "[cuda][softmax]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  struct shape {
    index_t rows, cols;
  };
  for (shape s : {shape{37, 1}, shape{sized(301, 37), 129}, shape{7, 3001}}) {
    const std::string at = " (" + std::to_string(s.rows) + ", " + std::to_string(s.cols) + ")";
    for_float_and_bf16([&]<class T>() {
      const index_t n = s.rows * s.cols;
      twin<T> x(random_values(n, 50, -5.0f, 5.0f)), gy(random_values(n, 51));
      twin<T> y(n), ly(n);
      std::vector<float> want(n), want_log(n);
      cuda::softmax_forward(x.data(), y.data(), s.rows, s.cols);
      ref::softmax_forward(x.cpu(), want.data(), s.rows, s.cols);
      check_close("softmax_forward" + at, y, want);
      cuda::log_softmax_forward(x.data(), ly.data(), s.rows, s.cols);
      ref::log_softmax_forward(x.cpu(), want_log.data(), s.rows, s.cols);
      check_close("log_softmax_forward" + at, ly, want_log);

      twin<T> y_in(want), ly_in(want_log), gx(random_values(n, 52)), lgx(random_values(n, 53));
      std::vector<float> want_gx = gx.host, want_lgx = lgx.host;
      cuda::softmax_backward(y_in.data(), gy.data(), gx.data(), s.rows, s.cols);
      ref::softmax_backward(y_in.cpu(), gy.cpu(), want_gx.data(), s.rows, s.cols);
      check_close("softmax_backward" + at, gx, want_gx);
      cuda::log_softmax_backward(ly_in.data(), gy.data(), lgx.data(), s.rows, s.cols);
      ref::log_softmax_backward(ly_in.cpu(), gy.cpu(), want_lgx.data(), s.rows, s.cols);
      check_close("log_softmax_backward" + at, lgx, want_lgx);
    });
  }
  for_float_and_bf16([&]<class T>() {
    const index_t matrices = 3, t = sized(257, 67), n = matrices * t * t;
    const float scale = 0.3f;
    twin<T> x(random_values(n, 54, -4.0f, 4.0f)), y(n), gy(random_values(n, 55));
    std::vector<float> want(n);
    cuda::causal_softmax_forward(x.data(), y.data(), matrices, t, scale);
    ref::causal_softmax_forward(x.cpu(), want.data(), matrices, t, scale);
    check_close("causal_softmax_forward", y, want);
    twin<T> y_in(want), gx(random_values(n, 56));
    std::vector<float> want_gx = gx.host;
    cuda::causal_softmax_backward(y_in.data(), gy.data(), gx.data(), matrices, t, scale);
    ref::causal_softmax_backward(y_in.cpu(), gy.cpu(), want_gx.data(), matrices, t, scale);
    check_close("causal_softmax_backward", gx, want_gx);
  });
}

TEST_CASE("CUDA layer norm and RMS norm match the CPU forward and backward, with and without weights", "[cuda][norm]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  struct shape {
    index_t rows, cols;
  };
  for (shape s : {shape{37, 64}, shape{sized(8192, 67), 256}, shape{29, 1000}, shape{7, 2500}}) {
    const std::string at = " (" + std::to_string(s.rows) + ", " + std::to_string(s.cols) + ")";
    for (bool affine : {true, false}) {
      for_float_and_bf16([&]<class T>() {
        const index_t n = s.rows * s.cols;
        const float eps = 1e-5f;
        // Rows away from zero: the two-pass variance must not cancel.
        twin<T> x(random_values(n, 60, 2.0f, 4.0f)), gy(random_values(n, 61));
        twin<T> weight(random_values(s.cols, 62, 0.5f, 1.5f)), bias(random_values(s.cols, 63));
        T* w = affine ? weight.data() : nullptr;
        T* bb = affine ? bias.data() : nullptr;
        const float* w_cpu = affine ? weight.cpu() : nullptr;
        const float* b_cpu = affine ? bias.cpu() : nullptr;

        twin<T> y(n);
        twin<float> mean(s.rows), rstd(s.rows);
        std::vector<float> want(n), want_mean(s.rows), want_rstd(s.rows);
        cuda::layernorm_forward(x.data(), w, bb, y.data(), mean.data(), rstd.data(), s.rows, s.cols, eps);
        ref::layernorm_forward(x.cpu(), w_cpu, b_cpu, want.data(), want_mean.data(), want_rstd.data(), s.rows, s.cols, eps);
        check_close("layernorm_forward y" + at, y, want);
        check_close("layernorm_forward mean" + at, mean, want_mean);
        check_close("layernorm_forward rstd" + at, rstd, want_rstd);

        // The backward takes the CPU's saved statistics on both sides.
        twin<float> mean_in(want_mean), rstd_in(want_rstd);
        for (grad_write mode : {grad_write::store, grad_write::add}) {
          twin<T> gx = mode == grad_write::store ? twin<T>(n) : twin<T>(random_values(n, 64));
          twin<T> gw(random_values(s.cols, 65)), gb(random_values(s.cols, 66));
          std::vector<float> want_gx = gx.host, want_gw = gw.host, want_gb = gb.host;
          cuda::layernorm_backward(x.data(), w, mean_in.data(), rstd_in.data(), gy.data(), gx.data(), gw.data(), gb.data(), s.rows, s.cols,
                                   mode);
          ref::layernorm_backward(x.cpu(), w_cpu, mean_in.cpu(), rstd_in.cpu(), gy.cpu(), want_gx.data(), want_gw.data(), want_gb.data(),
                                  s.rows, s.cols, mode);
          check_close("layernorm_backward gx" + at, gx, want_gx);
          check_close("layernorm_backward gweight" + at, gw, want_gw);
          check_close("layernorm_backward gbias" + at, gb, want_gb);
        }
        // One parameter gradient at a time (both at once are one reduction over twice the columns).
        for (bool weight_only : {true, false}) {
          twin<T> g_one(random_values(s.cols, 67));
          std::vector<float> want_one = g_one.host;
          cuda::layernorm_backward(x.data(), w, mean_in.data(), rstd_in.data(), gy.data(), nullptr, weight_only ? g_one.data() : nullptr,
                                   weight_only ? nullptr : g_one.data(), s.rows, s.cols);
          ref::layernorm_backward(x.cpu(), w_cpu, mean_in.cpu(), rstd_in.cpu(), gy.cpu(), nullptr, weight_only ? want_one.data() : nullptr,
                                  weight_only ? nullptr : want_one.data(), s.rows, s.cols, grad_write::add);
          check_close(std::string(weight_only ? "layernorm_backward gweight alone" : "layernorm_backward gbias alone") + at, g_one, want_one);
        }

        twin<T> ry(n);
        twin<float> r_rstd(s.rows);
        std::vector<float> want_r(n), want_r_rstd(s.rows);
        cuda::rmsnorm_forward(x.data(), w, ry.data(), r_rstd.data(), s.rows, s.cols, eps);
        ref::rmsnorm_forward(x.cpu(), w_cpu, want_r.data(), want_r_rstd.data(), s.rows, s.cols, eps);
        check_close("rmsnorm_forward y" + at, ry, want_r);
        check_close("rmsnorm_forward rstd" + at, r_rstd, want_r_rstd);
        twin<float> r_rstd_in(want_r_rstd);
        for (grad_write mode : {grad_write::store, grad_write::add}) {
          twin<T> gx = mode == grad_write::store ? twin<T>(n) : twin<T>(random_values(n, 67));
          twin<T> gw(random_values(s.cols, 68));
          std::vector<float> want_gx = gx.host, want_gw = gw.host;
          cuda::rmsnorm_backward(x.data(), w, r_rstd_in.data(), gy.data(), gx.data(), gw.data(), s.rows, s.cols, mode);
          ref::rmsnorm_backward(x.cpu(), w_cpu, r_rstd_in.cpu(), gy.cpu(), want_gx.data(), want_gw.data(), s.rows, s.cols, mode);
          check_close("rmsnorm_backward gx" + at, gx, want_gx);
          check_close("rmsnorm_backward gweight" + at, gw, want_gw);
        }
        if (std::is_same_v<T, float> && affine && s.rows > 1000) {
          report_timing("layernorm_forward" + at, [&] {
            cuda::layernorm_forward(x.data(), w, bb, y.data(), mean.data(), rstd.data(), s.rows, s.cols, eps);
          });
        }
      });
    }
  }
}

TEST_CASE("CUDA cross-entropy matches the CPU, skips ignore_index rows and names a bad target", "[cuda][cross_entropy]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  struct shape {
    index_t rows, vocab;
  };
  for (shape s : {shape{sized(8192, 301), 64}, shape{37, sized(50304, 3001)}, shape{5, 1}}) {
    const std::string at = " (" + std::to_string(s.rows) + ", " + std::to_string(s.vocab) + ")";
    for_float_and_bf16([&]<class T>() {
      const index_t n = s.rows * s.vocab;
      twin<T> logits(random_values(n, 70, -6.0f, 6.0f));
      std::vector<std::int32_t> targets(s.rows);
      std::mt19937 gen(71);
      for (auto& t : targets) t = gen() % 5 == 0 ? cuda::default_ignore_index : std::int32_t(gen() % s.vocab);
      cuda::device_buffer<std::int32_t> device_targets(targets);
      twin<T> loss(s.rows);
      twin<float> lse(s.rows);
      std::vector<float> want_loss(s.rows), want_lse(s.rows);
      const index_t used = cuda::cross_entropy_forward(logits.data(), device_targets.data(), loss.data(), lse.data(), s.rows, s.vocab);
      const index_t want_used =
          ref::cross_entropy_forward(logits.cpu(), targets.data(), want_loss.data(), want_lse.data(), s.rows, s.vocab, -100);
      CHECK(used == want_used);
      check_close("cross_entropy_forward loss" + at, loss, want_loss);
      check_close("cross_entropy_forward logsumexp" + at, lse, want_lse);

      twin<float> lse_in(want_lse);
      twin<T> grad_loss(random_values(s.rows, 72));
      for (bool per_row : {false, true}) {
        twin<T> glogits(random_values(n, 73));
        std::vector<float> want = glogits.host;
        const float scale = 1.0f / float(std::max<index_t>(used, 1));
        cuda::cross_entropy_backward(logits.data(), device_targets.data(), lse_in.data(), per_row ? grad_loss.data() : nullptr, scale,
                                     glogits.data(), s.rows, s.vocab);
        ref::cross_entropy_backward(logits.cpu(), targets.data(), lse_in.cpu(), per_row ? grad_loss.cpu() : nullptr, scale, want.data(),
                                    s.rows, s.vocab, -100);
        check_close(std::string("cross_entropy_backward") + (per_row ? " per row" : " reduced") + at, glogits, want);
      }
      {  // A reduced loss's backward in one launch: g = the loss's gradient (the first of an array
         // of random values, so that reading one per row would show) times the factor.
        std::vector<float> g_values = grad_loss.host;
        g_values[0] = 0.75f;
        twin<T> g(g_values), factor(std::vector<float>{0.5f});
        twin<T> glogits(random_values(n, 74));
        std::vector<float> want = glogits.host;
        cuda::cross_entropy_backward_reduced(logits.data(), device_targets.data(), lse_in.data(), g.data(), factor.data(), glogits.data(),
                                             s.rows, s.vocab);
        ref::cross_entropy_backward(logits.cpu(), targets.data(), lse_in.cpu(), nullptr, 0.375f, want.data(), s.rows, s.vocab, -100);
        check_close("cross_entropy_backward_reduced" + at, glogits, want);
      }
      if (std::is_same_v<T, float> && s.vocab > 1000 && !emulated)
        report_timing("cross_entropy_forward" + at, [&] {
          cuda::cross_entropy_forward(logits.data(), device_targets.data(), loss.data(), lse.data(), s.rows, s.vocab);
        });
    });
  }
  twin<float> logits(random_values(12, 74)), loss(3);
  cuda::device_buffer<std::int32_t> bad(std::vector<std::int32_t>{1, -100, 4});
  REQUIRE_THROWS_WITH(cuda::cross_entropy_forward(logits.data(), bad.data(), loss.data(), nullptr, 3, 4),
                      Catch::Contains("target[2] = 4 is outside [0, 4)"));
}

TEST_CASE("CUDA embedding gathers and scatter-adds rows as the CPU does", "[cuda][embedding]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t vocab = 50, width = 37, count = sized(8192, 101);
  std::vector<std::int32_t> ids(count);
  std::mt19937 gen(80);
  for (auto& id : ids) id = std::int32_t(gen() % vocab);  // many repeats: the backward must sum them
  cuda::device_buffer<std::int32_t> device_ids(ids);
  for_float_and_bf16([&]<class T>() {
    twin<T> weight(random_values(vocab * width, 81)), y(count * width), gy(random_values(count * width, 82));
    std::vector<float> want(count * width);
    cuda::embedding_forward(weight.data(), device_ids.data(), y.data(), count, vocab, width);
    ref::embedding_forward(weight.cpu(), ids.data(), want.data(), count, vocab, width);
    check_close("embedding_forward", y, want);
    // bf16 sums of many rows round at every atomic add; float keeps the test's 1e-5.
    if (std::is_same_v<T, float>) {
      twin<T> gw(random_values(vocab * width, 83));
      std::vector<float> want_gw = gw.host;
      cuda::embedding_backward(device_ids.data(), gy.data(), gw.data(), count, width);
      ref::embedding_backward(ids.data(), gy.cpu(), want_gw.data(), count, width);
      check_close("embedding_backward", gw, want_gw);
    }
  });
  // An id outside the table gives a NaN row on the device (the op checks ids on the host).
  cuda::device_buffer<std::int32_t> bad(std::vector<std::int32_t>{0, 50});
  twin<float> weight(random_values(vocab * width, 84)), y(2 * width);
  cuda::embedding_forward(weight.data(), bad.data(), y.data(), 2, vocab, width);
  const std::vector<float> rows = y.download();
  CHECK(rows[0] == weight.host[0]);
  CHECK(std::isnan(rows[width]));
}

TEST_CASE("CUDA RoPE uses the CPU's tables and rotates as the CPU does, forward and backward", "[cuda][rope]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t batch = 3, positions = sized(256, 19), heads = 5, width = 64;
  const index_t rows = batch * positions * heads, n = rows * width;
  std::vector<float> want_cos(positions * width / 2), want_sin(want_cos.size());
  ref::rope_tables(positions, width, 1e4, 7, want_cos.data(), want_sin.data());
  twin<float> cos(index_t(want_cos.size())), sin(index_t(want_sin.size()));
  cuda::rope_tables(positions, width, 1e4, 7, cos.data(), sin.data());
  CHECK(cos.download() == want_cos);
  CHECK(sin.download() == want_sin);
  for_float_and_bf16([&]<class T>() {
    twin<T> x(random_values(n, 90)), y(n), gy(random_values(n, 91));
    std::vector<float> want(n);
    cuda::rope_forward(x.data(), cos.data(), sin.data(), y.data(), rows, width, positions, heads);
    ref::rope_forward(x.cpu(), want_cos.data(), want_sin.data(), want.data(), rows, width, positions, heads);
    check_close("rope_forward", y, want);
    for (grad_write mode : {grad_write::store, grad_write::add}) {
      twin<T> gx = mode == grad_write::store ? twin<T>(n) : twin<T>(random_values(n, 92));
      std::vector<float> want_gx = gx.host;
      cuda::rope_backward(gy.data(), cos.data(), sin.data(), gx.data(), rows, width, positions, heads, mode);
      ref::rope_backward(gy.cpu(), want_cos.data(), want_sin.data(), want_gx.data(), rows, width, positions, heads, mode);
      check_close(mode == grad_write::store ? "rope_backward (store)" : "rope_backward (add)", gx, want_gx);
    }
  });
}

TEST_CASE("CUDA AdamW repeats the CPU's update over three steps", "[cuda][adamw]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t n = sized(100003, 3001);
  twin<float> value(random_values(n, 100)), m(std::vector<float>(n, 0.0f)), v(std::vector<float>(n, 0.0f));
  std::vector<float> want_value = value.host, want_m = m.host, want_v = v.host;
  for (int step = 1; step <= 3; ++step) {
    twin<float> grad(random_values(n, 100 + step));
    const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999;
    const cpu::adamw_coefficients<float> c{.decay = float(1 - lr * 1e-2),
                                           .beta1 = float(beta1),
                                           .beta2 = float(beta2),
                                           .step_size = float(lr / (1 - std::pow(beta1, step))),
                                           .inv_bias2_sqrt = float(1 / std::sqrt(1 - std::pow(beta2, step))),
                                           .eps = 1e-8f};
    cuda::adamw_update(value.data(), grad.data(), m.data(), v.data(), n, c);
    ref::adamw_update(want_value.data(), grad.cpu(), want_m.data(), want_v.data(), n, c);
  }
  // The same operations in the same order: within a few ulp (the CPU compiler may fuse some).
  const std::vector<float> got = value.download();
  index_t identical = 0;
  for (index_t i = 0; i < n; ++i) identical += got[i] == want_value[i];
  INFO(identical << " of " << n << " values identical to the bit");
  check_close("adamw value", got, want_value, 1e-6);
  check_close("adamw m", m.download(), want_m, 1e-6);
  check_close("adamw v", v.download(), want_v, 1e-6);
}

TEST_CASE("CUDA adamw_update_many updates a list of tensors as adamw_update does one by one, to the bit, in few launches",
          "[cuda][adamw]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  // More tensors than a launch takes, of odd sizes (some empty). In chunks of 64 elements the
  // blocks overflow a launch too, in the middle of the fifth tensor, and many small tensors
  // follow it into the next launch: its place in a launch must move with it.
  const index_t small_sizes[] = {0, 1, 33, 64, 65, 1000};
  const int count = cuda::detail::list_batch_tensors + 6;
  std::vector<index_t> sizes;
  for (int t = 0; t < count; ++t) sizes.push_back(t < 5 ? sized(70001, 5003) : small_sizes[t % 6]);
  struct arrays {
    cuda::device_buffer<float> value, grad, m, v;
  };
  const auto make = [&](std::uint64_t seed) {
    std::vector<arrays> out;
    for (int t = 0; t < count; ++t) {
      const index_t n = sizes[std::size_t(t)];
      arrays a{cuda::device_buffer<float>(n), cuda::device_buffer<float>(n), cuda::device_buffer<float>(n), cuda::device_buffer<float>(n)};
      a.value.assign(random_values(n, seed + 4 * std::uint64_t(t)));
      a.grad.assign(random_values(n, seed + 4 * std::uint64_t(t) + 1));
      a.m.assign(random_values(n, seed + 4 * std::uint64_t(t) + 2, -0.1f, 0.1f));
      a.v.assign(random_values(n, seed + 4 * std::uint64_t(t) + 3, 0.0f, 0.01f));
      out.push_back(std::move(a));
    }
    return out;
  };
  const auto list = [](std::vector<arrays>& all) {
    std::vector<cpu::adamw_tensor<float>> out;
    for (auto& a : all) out.push_back({a.value.data(), a.grad.data(), a.m.data(), a.v.data(), a.value.size()});
    return out;
  };
  cuda::device_buffer<cpu::adamw_coefficients<float>> c(1);
  c.assign({cpu::adamw_coefficients_at<float>(3, 1e-2, 0.9, 0.999, 1e-8, 0.1)});
  std::vector<arrays> one_by_one = make(300), small_chunks = make(300), default_chunks = make(300);
  for (auto& a : one_by_one) cuda::adamw_update(a.value.data(), a.grad.data(), a.m.data(), a.v.data(), a.value.size(), c.data());
  cuda::launch_census census;
  cuda::detail::open_launch_census() = &census;
  cuda::adamw_update_many<float>(list(small_chunks), c.data(), 64);
  const int small_chunk_launches = census.total();
  cuda::adamw_update_many<float>(list(default_chunks), c.data());
  cuda::detail::open_launch_census() = nullptr;
  // Launches: at the default chunk these tensors fill fewer blocks than a launch has, so the
  // tensor limit decides; in chunks of 64 the blocks overflow too.
  int nonempty = 0;
  index_t chunks_of_64 = 0;
  for (index_t n : sizes) {
    nonempty += n > 0;
    chunks_of_64 += (n + 63) / 64;
  }
  CHECK(census.total() - small_chunk_launches == (nonempty + cuda::detail::list_batch_tensors - 1) / cuda::detail::list_batch_tensors);
  CHECK(chunks_of_64 > cuda::detail::list_batch_blocks);
  CHECK(small_chunk_launches >= int((chunks_of_64 + cuda::detail::list_batch_blocks - 1) / cuda::detail::list_batch_blocks));
  for (int t = 0; t < count; ++t)
    for (const auto* many : {&small_chunks, &default_chunks}) {
      INFO("tensor " << t << " of " << sizes[std::size_t(t)] << " elements, chunk " << (many == &small_chunks ? "64" : "default"));
      CHECK((*many)[t].value.to_host() == one_by_one[t].value.to_host());
      CHECK((*many)[t].m.to_host() == one_by_one[t].m.to_host());
      CHECK((*many)[t].v.to_host() == one_by_one[t].v.to_host());
    }
  CHECK_THROWS_WITH(cuda::adamw_update_many<float>(list(small_chunks), c.data(), 0), Catch::Contains("chunk = 0 must be positive"));
}

TEST_CASE("CUDA sgd_update_many updates a list of tensors as sgd_update does one by one, each with its own first step, to the bit",
          "[cuda][sgd]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  // More tensors than a launch takes, some empty; in chunks of 64 the blocks overflow a launch
  // too. Every third tensor takes its first step (its buffer is written whole, never read: it
  // starts as NaN, which any read would carry into the value).
  const index_t sizes_cycle[] = {0, 1, 63, 64, 65, 3001};
  const int count = cuda::detail::list_batch_tensors + 5;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct arrays {
    cuda::device_buffer<float> value, grad, buffer;
    bool first;
  };
  const auto make = [&] {
    std::vector<arrays> out;
    for (int t = 0; t < count; ++t) {
      const index_t n = t < 2 ? sized(70001, 5003) : sizes_cycle[t % 6];
      const bool first = t % 3 == 0;
      arrays a{cuda::device_buffer<float>(n), cuda::device_buffer<float>(n), cuda::device_buffer<float>(n), first};
      a.value.assign(random_values(n, 400 + 3 * std::uint64_t(t)));
      a.grad.assign(random_values(n, 401 + 3 * std::uint64_t(t)));
      a.buffer.assign(first ? std::vector<float>(std::size_t(n), nan) : random_values(n, 402 + 3 * std::uint64_t(t)));
      out.push_back(std::move(a));
    }
    return out;
  };
  const auto list = [](std::vector<arrays>& all) {
    std::vector<cpu::sgd_tensor<float>> out;
    for (auto& a : all) out.push_back({a.value.data(), a.grad.data(), a.buffer.data(), a.value.size(), a.first});
    return out;
  };
  cuda::device_buffer<float> lr(1);
  lr.assign({0.05f});
  for (const bool nesterov : {false, true}) {
    const cpu::sgd_coefficients<float> c{
        .lr = 1.0f, .momentum = 0.9f, .dampening_complement = nesterov ? 1.0f : 0.75f, .weight_decay = 0.01f, .nesterov = nesterov, .first = false};
    std::vector<arrays> one_by_one = make(), small_chunks = make(), default_chunks = make();
    for (auto& a : one_by_one) {
      cpu::sgd_coefficients<float> each = c;
      each.first = a.first;
      cuda::sgd_update(a.value.data(), a.grad.data(), a.buffer.data(), a.value.size(), each, lr.data());
    }
    cuda::launch_census census;
    cuda::detail::open_launch_census() = &census;
    cuda::sgd_update_many<float>(list(small_chunks), c, lr.data(), 64);
    const int small_chunk_launches = census.total();
    cuda::sgd_update_many<float>(list(default_chunks), c, lr.data());
    cuda::detail::open_launch_census() = nullptr;
    int nonempty = 0;
    index_t chunks_of_64 = 0;
    for (const arrays& a : one_by_one) {
      nonempty += a.value.size() > 0;
      chunks_of_64 += (a.value.size() + 63) / 64;
    }
    CHECK(chunks_of_64 > cuda::detail::list_batch_blocks);
    CHECK(small_chunk_launches >= int((chunks_of_64 + cuda::detail::list_batch_blocks - 1) / cuda::detail::list_batch_blocks));
    CHECK(census.total() - small_chunk_launches == (nonempty + cuda::detail::list_batch_tensors - 1) / cuda::detail::list_batch_tensors);
    for (int t = 0; t < count; ++t)
      for (const auto* many : {&small_chunks, &default_chunks}) {
        INFO((nesterov ? "Nesterov, " : "") << "tensor " << t << " of " << one_by_one[t].value.size() << " elements"
                                            << (one_by_one[t].first ? ", first step" : "") << ", chunk "
                                            << (many == &small_chunks ? "64" : "default"));
        const std::vector<float> value = (*many)[t].value.to_host(), buffer = (*many)[t].buffer.to_host();
        CHECK((value.empty() || std::memcmp(value.data(), one_by_one[t].value.to_host().data(), value.size() * sizeof(float)) == 0));
        CHECK((buffer.empty() || std::memcmp(buffer.data(), one_by_one[t].buffer.to_host().data(), buffer.size() * sizeof(float)) == 0));
        for (float x : value) REQUIRE(std::isfinite(x));
      }
  }
}

TEST_CASE("CUDA zero_many zeroes every run of a list and no word outside them", "[cuda][zero]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  // Runs cut from one buffer of random words, with gaps between them (and empty runs), more runs
  // than a launch takes; in chunks of 64 the blocks overflow a launch too.
  const index_t lengths_cycle[] = {1, 0, 63, 64, 65, 1000, 7};
  const int count = cuda::detail::list_batch_tensors + 4;
  std::vector<std::pair<index_t, index_t>> runs;  // begin, length
  index_t end = 0;
  for (int r = 0; r < count; ++r) {
    const index_t length = r == 3 ? sized(70001, 5003) : lengths_cycle[r % 7];
    runs.push_back({end + 1 + r % 2, length});
    end = runs.back().first + length;
  }
  const index_t words = end + 5;
  std::vector<std::uint32_t> initial(static_cast<std::size_t>(words));
  std::mt19937 rng(77);
  for (auto& w : initial) w = std::uint32_t(rng()) | 1u;  // never zero
  std::vector<std::uint32_t> want = initial;
  for (const auto& [begin, length] : runs) std::fill_n(want.begin() + begin, length, 0u);
  for (const index_t chunk : {index_t(64), cuda::detail::list_chunk}) {
    INFO("chunk " << chunk);
    cuda::device_buffer<std::uint32_t> buffer(words);
    buffer.assign(initial);
    std::vector<cpu::array_range<std::uint32_t>> ranges;
    for (const auto& [begin, length] : runs) ranges.push_back({buffer.data() + begin, length});
    cuda::zero_many(ranges, chunk);
    CHECK(buffer.to_host() == want);
  }
}
