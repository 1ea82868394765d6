// Parity of the CUDA twins of the kernels that ops' inline loops became (docs/architecture.md,
// "Ops on any device", step 3): dropout, the causal mask, strided copies, binary functions of
// strided operands and the backward of sum_all, called through backend/ as the ops call them
// (harness: parity.hpp).
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "parity.hpp"
#include "ranklens/backend/causal_mask.hpp"
#include "ranklens/backend/dropout.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/reduce.hpp"
#include "ranklens/backend/strided_copy.hpp"
#include "ranklens/cuda/device_buffer.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace ref = ranklens::test::reference;

namespace {

template <class Body>
void for_float_and_bf16(Body&& body) {
  body.template operator()<float>();
  body.template operator()<bfloat16>();
}

}  // namespace

TEST_CASE("CUDA dropout draws the CPU's mask bit for bit and matches its forward and backward", "[cuda][dropout]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  for_float_and_bf16([&]<class T>() {
    const index_t n = sized(100003, 1003);
    const CounterKey key{0x9e3779b97f4a7c15ull, 5};
    const double p = 0.3;
    const float scale = float(1.0 / (1.0 - p));
    twin<T> x(random_values(n, 80)), y(n);
    cuda::device_buffer<std::uint8_t> keep(n);
    std::vector<float> want(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> want_keep(static_cast<std::size_t>(n));
    backend::dropout_forward(cuda_t{}, x.data(), y.data(), keep.data(), n, key, p, cuda::from_float<T>(scale));
    ref::dropout_forward(x.cpu(), want.data(), want_keep.data(), n, key, p, representable<T>(scale));
    check_close("dropout_forward", y, want);
    REQUIRE(keep.to_host() == want_keep);
    // The call number counted from a base in device memory (as a captured graph's launches read
    // it): 3 there and call 2 give the mask of call 5.
    const cuda::device_buffer<std::uint64_t> base(std::vector<std::uint64_t>{3});
    twin<T> y_from_base(n);
    cuda::device_buffer<std::uint8_t> keep_from_base(n);
    backend::dropout_forward(cuda_t{}, x.data(), y_from_base.data(), keep_from_base.data(), n, CounterKey{key.seed, 2, base.data()}, p,
                             cuda::from_float<T>(scale));
    check_close("dropout_forward, the call counted from a device base", y_from_base, want);
    REQUIRE(keep_from_base.to_host() == want_keep);

    twin<T> gy(random_values(n, 81)), stored(n), added(random_values(n, 82));
    std::vector<float> want_stored(static_cast<std::size_t>(n)), want_added = added.host;
    backend::dropout_backward(cuda_t{}, keep.data(), gy.data(), stored.data(), n, cuda::from_float<T>(scale), grad_write::store);
    ref::dropout_backward(want_keep.data(), gy.cpu(), want_stored.data(), n, representable<T>(scale), grad_write::store);
    check_close("dropout_backward (store)", stored, want_stored);
    backend::dropout_backward(cuda_t{}, keep.data(), gy.data(), added.data(), n, cuda::from_float<T>(scale), grad_write::add);
    ref::dropout_backward(want_keep.data(), gy.cpu(), want_added.data(), n, representable<T>(scale), grad_write::add);
    check_close("dropout_backward (add)", added, want_added);
  });
}

TEST_CASE("CUDA causal mask matches the CPU's, and keeps masked gradients out when adding", "[cuda][masking]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  for_float_and_bf16([&]<class T>() {
    const index_t matrices = 3, queries = sized(67, 13), keys = queries + 8;
    const index_t n = matrices * queries * keys;
    for (const index_t offset : {index_t(-2), index_t(0), index_t(8)}) {
      const std::string at = " (offset " + std::to_string(offset) + ")";
      twin<T> x(random_values(n, 83)), y(n);
      std::vector<float> want(static_cast<std::size_t>(n));
      backend::causal_mask_fill_forward(cuda_t{}, x.data(), y.data(), matrices, queries, keys, offset, cuda::from_float<T>(-30.0f));
      ref::causal_mask_fill_forward(x.cpu(), want.data(), matrices, queries, keys, offset, -30.0f);
      check_close("causal_mask_fill_forward" + at, y, want);

      // NaN gradients at the masked entries: storing writes zeros there, adding never reads them.
      std::vector<float> gradient = random_values(n, 84);
      for (index_t e = 0; e < n; ++e)
        if (e % keys >= cpu::visible_keys((e / keys) % queries, offset, keys)) gradient[std::size_t(e)] = nan_value;
      twin<T> gy(gradient), stored(n), added(random_values(n, 85));
      std::vector<float> want_stored(static_cast<std::size_t>(n)), want_added = added.host;
      backend::causal_mask_fill_backward(cuda_t{}, gy.data(), stored.data(), matrices, queries, keys, offset, grad_write::store);
      ref::causal_mask_fill_backward(gy.cpu(), want_stored.data(), matrices, queries, keys, offset, grad_write::store);
      check_close("causal_mask_fill_backward (store)" + at, stored, want_stored);
      backend::causal_mask_fill_backward(cuda_t{}, gy.data(), added.data(), matrices, queries, keys, offset, grad_write::add);
      ref::causal_mask_fill_backward(gy.cpu(), want_added.data(), matrices, queries, keys, offset, grad_write::add);
      check_close("causal_mask_fill_backward (add)" + at, added, want_added);
    }
  });
}

TEST_CASE("CUDA strided copies match the CPU's: a transposed gather, a slice, and adds into a repeated destination",
          "[cuda][strided_copy]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  for_float_and_bf16([&]<class T>() {
    const std::array<index_t, 3> dims{3, sized(301, 37), 5};
    const index_t n = dims[0] * dims[1] * dims[2];
    const std::array<index_t, 3> dense{dims[1] * dims[2], dims[2], 1};
    const std::array<index_t, 3> transposed{dims[1] * dims[2], 1, dims[1]};  // (3, 5, rows) stored, read as (3, rows, 5)
    twin<T> src(random_values(n, 86)), gathered(n);
    std::vector<float> want(static_cast<std::size_t>(n));
    backend::copy_strided<T>(cuda_t{}, dims, src.data(), transposed, gathered.data(), dense, grad_write::store);
    ref::copy_strided(dims, src.cpu(), transposed, want.data(), dense, grad_write::store);
    check_close("copy_strided (gather a transposed view)", gathered, want);

    // Into columns 2..6 of a wider (3, rows, 9) tensor, adding.
    const std::array<index_t, 3> wide{dims[1] * 9, 9, 1};
    twin<T> out(random_values(dims[0] * dims[1] * 9, 87));
    std::vector<float> want_out = out.host;
    backend::copy_strided<T>(cuda_t{}, dims, src.data(), dense, out.data() + 2, wide, grad_write::add);
    ref::copy_strided(dims, src.cpu(), dense, want_out.data() + 2, wide, grad_write::add);
    check_close("copy_strided (add into a slice)", out, want_out);

    // An expanded view's gradient: stride 0 along the rows, so every row adds into the same (3, 5).
    const std::array<index_t, 3> expanded{dims[2], 0, 1};
    twin<T> sums(random_values(dims[0] * dims[2], 88));
    std::vector<float> want_sums = sums.host;
    backend::copy_strided<T>(cuda_t{}, dims, src.data(), dense, sums.data(), expanded, grad_write::add);
    ref::copy_strided(dims, src.cpu(), dense, want_sums.data(), expanded, grad_write::add);
    check_close("copy_strided (add into a repeated destination)", sums, want_sums);
  });
}

TEST_CASE("CUDA sum_all_backward adds the one gradient, read on the device, to every element", "[cuda][reduce]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  for_float_and_bf16([&]<class T>() {
    const index_t n = sized(100003, 1003);
    twin<T> gy(std::vector<float>{0.375f}), gx(random_values(n, 89));
    std::vector<float> want = gx.host;
    backend::sum_all_backward<T>(cuda_t{}, gy.data(), gx.data(), n);
    ref::sum_all_backward(gy.cpu(), want.data(), n);
    check_close("sum_all_backward", gx, want);
  });
}

TEST_CASE("CUDA binary functions of broadcast operands match the CPU's, gradients summed over the broadcast axes",
          "[cuda][elementwise]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  // a: (3, 1, 5) and b: (rows, 1), broadcast to y: (3, rows, 5); a's gradient sums over the rows,
  // b's over the 3 and the 5.
  const index_t rows = sized(301, 37);
  const std::array<index_t, 3> dims{3, rows, 5}, a_strides{5, 0, 1}, b_strides{0, 1, 0}, dense{rows * 5, 5, 1};
  const index_t n = 3 * rows * 5;
  for_float_and_bf16([&]<class T>() {
    const auto run = [&]<class Op>(ref::binary f) {
      const std::string name = ref::name_of(f);
      twin<T> a(random_values(15, 90, 0.5f, 2.0f)), b(random_values(rows, 91, 0.5f, 2.0f)), y(n);
      std::vector<float> want(static_cast<std::size_t>(n));
      backend::binary_forward_strided<Op, T>(cuda_t{}, dims, a.data(), a_strides, b.data(), b_strides, y.data(), dense);
      ref::binary_forward_strided(f, dims, a.cpu(), a_strides, b.cpu(), b_strides, want.data(), dense);
      check_close("binary_forward_strided " + name, y, want);

      twin<T> gy(random_values(n, 92)), ga(random_values(15, 93)), gb(random_values(rows, 94));
      std::vector<float> want_ga = ga.host, want_gb = gb.host;
      backend::binary_backward_strided<Op, T>(cuda_t{}, dims, a.data(), a_strides, b.data(), b_strides, gy.data(), dense, ga.data(),
                                              a_strides, gb.data(), b_strides);
      ref::binary_backward_strided(f, dims, a.cpu(), a_strides, b.cpu(), b_strides, gy.cpu(), dense, want_ga.data(), a_strides,
                                   want_gb.data(), b_strides);
      check_close("binary_backward_strided " + name + " (a)", ga, want_ga);
      check_close("binary_backward_strided " + name + " (b)", gb, want_gb);
    };
    run.template operator()<cpu::add_op>(ref::binary::add);
    run.template operator()<cpu::mul_op>(ref::binary::mul);
    run.template operator()<cpu::div_op>(ref::binary::div);
  });
}
