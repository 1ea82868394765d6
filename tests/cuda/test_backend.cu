// The switch point in a CUDA translation unit (docs/architecture.md, "Ops on any device", step
// 2): backend::f(cuda_t{}, ...) reaches the CUDA kernel with the arguments an op passes on the
// CPU, template arguments included (a cpu:: functor is mapped to its device twin), and its
// results match the CPU kernels (harness: parity.hpp). In this file only cuda_t overloads exist:
// the CPU kernels are never compiled by nvcc.
#include "parity.hpp"
#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/reduce.hpp"
#include "ranklens/backend/softmax.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace ref = ranklens::test::reference;

TEST_CASE("backend:: calls on cuda_t reach the CUDA kernels and match the CPU ones", "[cuda][backend]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t rows = sized(301, 37), cols = 129, n = rows * cols;

  twin<float> x(random_values(n, 70, -3.0f, 3.0f)), y(n);
  std::vector<float> want(static_cast<std::size_t>(n));
  backend::unary_forward<cpu::exp_op>(cuda_t{}, x.data(), y.data(), n);  // the op's spelling
  ref::unary_forward(ref::unary::exp, x.cpu(), want.data(), n);
  check_close("backend::unary_forward<cpu::exp_op>", y, want);

  twin<float> probabilities(n);
  backend::softmax_forward<float>(cuda_t{}, x.data(), probabilities.data(), rows, cols);
  ref::softmax_forward(x.cpu(), want.data(), rows, cols);
  check_close("backend::softmax_forward", probabilities, want);

  twin<float> total(1);
  backend::sum_all<float>(cuda_t{}, x.data(), n, total.data());  // into device memory, as the sum op does
  check_close("backend::sum_all", total, {ref::sum_all(x.cpu(), n)});

  twin<float> column_sums(cols);
  backend::sum_axis<float>(cuda_t{}, x.data(), column_sums.data(), index_t(1), rows, cols);
  std::vector<float> want_sums(static_cast<std::size_t>(cols));
  ref::sum_axis(x.cpu(), want_sums.data(), 1, rows, cols);
  check_close("backend::sum_axis", column_sums, want_sums);
}
