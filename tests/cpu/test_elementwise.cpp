#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/elementwise.hpp"
#include "unary_reference.hpp"

namespace cpu_test_elementwise {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;

namespace {

// Checks unary_forward and unary_backward of Op against the long-double reference Ref, on
// every odd size, with inputs drawn from [lo, hi]. Derivatives get an absolute floor of one
// unit, because several cross zero (GELU, SiLU) where only absolute accuracy is possible.
template <class Op, class Ref, class T>
void check_unary(double lo, double hi, double ulps) {
  for (index_t n : odd_sizes) {
    INFO("n = " << n);
    const auto x = random_vector<T>(n, lo, hi, 42 + std::uint64_t(n));
    const auto gy = random_vector<T>(n, -2, 2, 7);
    const auto gx0 = random_vector<T>(n, -1, 1, 9);
    std::vector<T> y(static_cast<std::size_t>(n)), gx = gx0;

    unary_forward<Op>(x.data(), y.data(), n);
    const index_t bad_y = first_mismatch(
        y, [&](std::size_t i) { return Ref::f(x[i]); }, ulps);
    if (bad_y >= 0) FAIL(describe<T>("y", bad_y, y[bad_y], Ref::f(x[bad_y])));

    unary_backward<Op>(x.data(), y.data(), gy.data(), gx.data(), n);
    // gx accumulates: gx0 + f'(x) gy. The tolerance scales with both terms.
    for (index_t i = 0; i < n; ++i) {
      const ld term = Ref::df(x[i]) * ld(gy[i]);
      const ld want = ld(gx0[i]) + term;
      const ld error = std::fabs(ld(gx[i]) - want);
      const ld allowed = ulps * epsilon_of<T>() *
                         (std::fabs(ld(gx0[i])) + std::fabs(term) + std::fabs(ld(gy[i])) + 1);
      if (error > allowed) FAIL(describe<T>("gx", i, gx[i], want));
    }
  }
}

}  // namespace

TEMPLATE_TEST_CASE("unary functions match long-double references, forward and backward",
                   "[cpu][elementwise]", float, double) {
  using T = TestType;
  SECTION("neg") { check_unary<neg_op, neg_ref, T>(-10, 10, 1); }
  SECTION("square") { check_unary<square_op, square_ref, T>(-10, 10, 1); }
  SECTION("abs") { check_unary<abs_op, abs_ref, T>(-10, 10, 1); }
  SECTION("reciprocal") { check_unary<reciprocal_op, reciprocal_ref, T>(0.01, 100, 3); }
  SECTION("exp") { check_unary<exp_op, exp_ref, T>(-20, 20, 3); }
  SECTION("log") { check_unary<log_op, log_ref, T>(1e-3, 1e3, 3); }
  SECTION("sqrt") { check_unary<sqrt_op, sqrt_ref, T>(1e-3, 1e3, 3); }
  SECTION("rsqrt") { check_unary<rsqrt_op, rsqrt_ref, T>(1e-3, 1e3, 4); }
  SECTION("tanh") { check_unary<tanh_op, tanh_ref, T>(-10, 10, 4); }
  SECTION("sigmoid") { check_unary<sigmoid_op, sigmoid_ref_op, T>(-30, 30, 4); }
  SECTION("relu") { check_unary<relu_op, relu_ref, T>(-10, 10, 1); }
  SECTION("silu") { check_unary<silu_op, silu_ref, T>(-30, 30, 4); }
  SECTION("softplus") { check_unary<softplus_op, softplus_ref, T>(-30, 30, 4); }
  SECTION("gelu_tanh") { check_unary<gelu_tanh_op, gelu_tanh_ref, T>(-9, 9, 4); }
  SECTION("gelu_exact") {
    // Down to where x Phi(x) is about to leave T's normal range.
    check_unary<gelu_exact_op, gelu_exact_ref, T>(std::is_same_v<T, float> ? -12 : -36, 10, 4);
  }
  SECTION("erf") { check_unary<erf_op, erf_ref, T>(-6, 6, 4); }
}

TEMPLATE_TEST_CASE("unary functions give the same result on a scalar and in a vector",
                   "[cpu][elementwise]", float, double) {
  using T = TestType;
  const auto x = random_vector<T>(simd_width<T>, -8, 8, 5);
  const simd<T> v = simd<T>::load_unaligned(x.data());
  auto same = [&](auto op) {
    using Op = decltype(op);
    const simd<T> y = Op::forward(v), d = Op::derivative(v, y);
    for (index_t i = 0; i < simd_width<T>; ++i) {
      // Scalars go through std:: functions where vectors use xsimd's: a few ulp apart.
      CHECK(close<T>(Op::forward(x[i]), y.get(static_cast<std::size_t>(i)), 8, 1e-30L));
      CHECK(close<T>(Op::derivative(x[i], Op::forward(x[i])), d.get(static_cast<std::size_t>(i)), 8,
                     1));
    }
  };
  same(gelu_tanh_op{});
  same(gelu_exact_op{});
  same(silu_op{});
  same(sigmoid_op{});
  same(tanh_op{});
  same(erf_op{});
  same(softplus_op{});
}

TEMPLATE_TEST_CASE("unary functions handle infinities and NaN like PyTorch", "[cpu][elementwise]",
                   float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> x = {inf, -inf, nan, T(0), T(-0.0)}, y(x.size());
  auto run = [&](auto op) {
    unary_forward<decltype(op)>(x.data(), y.data(), index_t(x.size()));
    return y;
  };
  auto r = run(relu_op{});
  CHECK(r[0] == inf);
  CHECK(r[1] == 0);
  CHECK(std::isnan(r[2]));
  r = run(sigmoid_op{});
  CHECK(r[0] == 1);
  CHECK(r[1] == 0);
  CHECK(std::isnan(r[2]));
  CHECK(r[3] == T(0.5));
  r = run(gelu_exact_op{});
  CHECK(r[0] == inf);
  CHECK(std::isnan(r[2]));
  CHECK(r[3] == 0);
  r = run(gelu_tanh_op{});
  CHECK(r[0] == inf);
  CHECK(std::isnan(r[2]));
  r = run(tanh_op{});
  CHECK(r[0] == 1);
  CHECK(r[1] == -1);
  r = run(erf_op{});
  CHECK(r[0] == 1);
  CHECK(r[1] == -1);
  CHECK(std::isnan(r[2]));
  r = run(silu_op{});
  CHECK(r[0] == inf);
  CHECK(std::isnan(r[2]));
}

TEMPLATE_TEST_CASE("relu's backward blocks the gradient where x <= 0, a NaN or Inf one too, as PyTorch's threshold_backward",
                   "[cpu][elementwise]", float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // x, gy and PyTorch's gradient (x <= 0 ? 0 : gy), repeated past a vector and into a tail.
  const T pattern[][3] = {{-1, nan, 0}, {0, inf, 0}, {-inf, -inf, 0}, {2, 3, 3}, {inf, 5, 5}, {nan, 7, 7}, {T(0.5), nan, nan}};
  std::vector<T> x, gy, want;
  for (int i = 0; i < 37; ++i) {
    const auto& row = pattern[i % 7];
    x.push_back(row[0]), gy.push_back(row[1]), want.push_back(row[2]);
  }
  const index_t n = index_t(x.size());
  const auto same = [](T got, T expected) { return std::isnan(expected) ? std::isnan(got) : got == expected; };
  std::vector<T> stored(x.size(), T(-99)), added(x.size(), T(1));
  unary_backward<relu_op>(x.data(), nullptr, gy.data(), stored.data(), n, grad_write::store);
  unary_backward<relu_op>(x.data(), nullptr, gy.data(), added.data(), n, grad_write::add);
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("element " << i << ": x " << x[i] << ", gy " << gy[i]);
    CHECK(same(stored[i], want[i]));
    CHECK(same(added[i], T(1) + want[i]));
  }
}

TEST_CASE("unary_backward reads only the inputs its derivative needs", "[cpu][elementwise]") {
  std::vector<double> x = {0.5, 2.0, 3.0}, y(3), gy = {1, 1, 1}, gx(3, 0.0);
  unary_forward<exp_op>(x.data(), y.data(), 3);
  unary_backward<exp_op>(nullptr, y.data(), gy.data(), gx.data(), 3);  // exp' = y
  CHECK(gx[1] == Approx(std::exp(2.0)));
  unary_backward<relu_op>(x.data(), nullptr, gy.data(), gx.data(), 3);  // relu' from x
  CHECK(gx[1] == Approx(std::exp(2.0) + 1));
  CHECK_THROWS_AS(unary_backward<relu_op>(nullptr, y.data(), gy.data(), gx.data(), 3),
                  ranklens::value_error);
  CHECK_THROWS_AS(unary_backward<exp_op>(x.data(), nullptr, gy.data(), gx.data(), 3),
                  ranklens::value_error);
}

TEMPLATE_TEST_CASE("unary_forward works in place", "[cpu][elementwise]", float, double) {
  using T = TestType;
  auto x = random_vector<T>(1000, -3, 3, 1);
  const auto original = x;
  unary_forward<square_op>(x.data(), x.data(), 1000);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == original[i] * original[i]);
}

TEMPLATE_TEST_CASE("functors that hold numbers: affine_op and scaled_reciprocal_op", "[cpu][elementwise]", float, double) {
  using T = TestType;
  const std::vector<T> x = {T(-2), T(0.5), T(4)};
  std::vector<T> y(3), gx = {T(1), T(1), T(1)};
  const std::vector<T> gy = {T(1), T(2), T(3)};

  const affine_op<T> affine{T(3), T(-1)};  // y = 3x − 1, dy/dx = 3
  unary_forward(x.data(), y.data(), 3, affine);
  CHECK(y == std::vector<T>{T(-7), T(0.5), T(11)});
  unary_backward(x.data(), y.data(), gy.data(), gx.data(), 3, affine);
  CHECK(gx == std::vector<T>{T(4), T(7), T(10)});

  const scaled_reciprocal_op<T> reciprocal{T(2)};  // y = 2 / x, dy/dx = −y / x
  unary_forward(x.data(), y.data(), 3, reciprocal);
  CHECK(y == std::vector<T>{T(-1), T(4), T(0.5)});
  unary_backward(x.data(), y.data(), gy.data(), gx.data(), 3, reciprocal, grad_write::store);
  CHECK(gx == std::vector<T>{T(-0.5), T(-16), T(-0.375)});
}

// ---------------------------------------------------------------------------------------

namespace {

struct binary_case {
  const char* name;
  ld (*f)(ld, ld);
  ld (*da)(ld, ld);  // d f / d a
  ld (*db)(ld, ld);  // d f / d b
  int ulps = 2;       // for y; 4 for the gradients (the larger of the two, where more)
};

const binary_case binary_cases[] = {
    {"add", [](ld a, ld b) { return a + b; }, [](ld, ld) -> ld { return 1; },
     [](ld, ld) -> ld { return 1; }},
    {"sub", [](ld a, ld b) { return a - b; }, [](ld, ld) -> ld { return 1; },
     [](ld, ld) -> ld { return -1; }},
    {"rsub", [](ld a, ld b) { return b - a; }, [](ld, ld) -> ld { return -1; },
     [](ld, ld) -> ld { return 1; }},
    {"mul", [](ld a, ld b) { return a * b; }, [](ld, ld b) { return b; },
     [](ld a, ld) { return a; }},
    {"div", [](ld a, ld b) { return a / b; }, [](ld, ld b) { return 1 / b; },
     [](ld a, ld b) { return -a / (b * b); }},
    {"rdiv", [](ld a, ld b) { return b / a; }, [](ld a, ld b) { return -b / (a * a); },
     [](ld a, ld) { return 1 / a; }},
    {"swiglu", [](ld a, ld b) { return a / (1 + std::exp(-a)) * b; },
     [](ld a, ld b) {
       const ld s = 1 / (1 + std::exp(-a));
       return b * (s + a * s * (1 - s));
     },
     [](ld a, ld) { return a / (1 + std::exp(-a)); },
     6},  // silu's own error (4 ulp, above) times b
};

// How b is laid out relative to a (rows, cols).
enum class layout { same, scalar, row, column };

template <class Op, class T>
void run_forward(layout l, const T* a, const T* b, T* y, index_t rows, index_t cols) {
  switch (l) {
    case layout::same:
      binary_forward<Op>(a, b, y, rows * cols);
      break;
    case layout::scalar:
      binary_forward_scalar<Op>(a, b[0], y, rows * cols);
      break;
    case layout::row:
      binary_forward_broadcast_row<Op>(a, b, y, rows, cols);
      break;
    case layout::column:
      binary_forward_broadcast_column<Op>(a, b, y, rows, cols);
      break;
  }
}

template <class Op, class T>
void run_backward(layout l, const T* a, const T* b, const T* gy, T* ga, T* gb, index_t rows,
                  index_t cols) {
  switch (l) {
    case layout::same:
      binary_backward<Op>(a, b, gy, ga, gb, rows * cols);
      break;
    case layout::scalar:
      binary_backward_scalar<Op>(a, b[0], gy, ga, gb, rows * cols);
      break;
    case layout::row:
      binary_backward_broadcast_row<Op>(a, b, gy, ga, gb, rows, cols);
      break;
    case layout::column:
      binary_backward_broadcast_column<Op>(a, b, gy, ga, gb, rows, cols);
      break;
  }
}

template <class Op, class T>
void check_binary(const binary_case& ref, layout l, index_t rows, index_t cols, bool want_a,
                  bool want_b) {
  INFO(ref.name << " layout " << int(l) << " rows " << rows << " cols " << cols << " want "
                << want_a << want_b);
  const index_t n = rows * cols;
  const index_t nb = l == layout::same     ? n
                     : l == layout::scalar ? 1
                     : l == layout::row    ? cols
                                           : rows;
  auto b_index = [&](index_t i) -> index_t {
    switch (l) {
      case layout::same:
        return i;
      case layout::scalar:
        return 0;
      case layout::row:
        return i % cols;
      case layout::column:
        return i / cols;
    }
    return 0;
  };
  // Operands kept away from zero so that div and rdiv stay well conditioned.
  auto a = random_vector<T>(n, 0.5, 2, 11);
  auto b = random_vector<T>(nb, 0.5, 2, 12);
  for (index_t i = 0; i < n; i += 3) a[std::size_t(i)] = -a[std::size_t(i)];
  const auto gy = random_vector<T>(n, -1, 1, 13);
  const auto ga0 = random_vector<T>(n, -1, 1, 14);
  const auto gb0 = random_vector<T>(nb, -1, 1, 15);
  std::vector<T> y(static_cast<std::size_t>(n)), ga = ga0, gb = gb0;

  run_forward<Op>(l, a.data(), b.data(), y.data(), rows, cols);
  for (index_t i = 0; i < n; ++i) {
    const ld want = ref.f(a[i], b[b_index(i)]);
    if (!close<T>(y[i], want, ref.ulps)) FAIL(describe<T>("y", i, y[i], want));
  }

  run_backward<Op>(l, a.data(), b.data(), gy.data(), want_a ? ga.data() : nullptr,
                   want_b ? gb.data() : nullptr, rows, cols);
  std::vector<ld> want_gb(gb0.begin(), gb0.end()), abs_gb(std::size_t(nb), 0);
  for (index_t i = 0; i < n; ++i) {
    const ld ai = a[i], bi = b[b_index(i)];
    const ld want = want_a ? ga0[i] + gy[i] * ref.da(ai, bi) : ga0[i];
    if (!close<T>(ga[i], want, std::max(4, ref.ulps), 1)) FAIL(describe<T>("ga", i, ga[i], want));
    want_gb[std::size_t(b_index(i))] += gy[i] * ref.db(ai, bi);
    abs_gb[std::size_t(b_index(i))] += std::fabs(gy[i] * ref.db(ai, bi));
  }
  for (index_t j = 0; j < nb; ++j) {
    const ld want = want_b ? want_gb[std::size_t(j)] : ld(gb0[j]);
    // A sum's error scales with the sum of magnitudes; blocked summation keeps it to a few
    // dozen ulp of that even for the 100k-element scalar case.
    const ld allowed = 64 * epsilon_of<T>() * (abs_gb[std::size_t(j)] + 1);
    if (std::fabs(gb[j] - want) > allowed) FAIL(describe<T>("gb", j, gb[j], want));
  }
}

template <class Op>
void check_binary_all_layouts(const binary_case& ref) {
  const std::pair<index_t, index_t> shapes[] = {{0, 5},   {1, 1},    {3, 7},
                                                {17, 33}, {5, 1000}, {1000, 101}};
  for (const auto& [rows, cols] : shapes)
    for (layout l : {layout::same, layout::scalar, layout::row, layout::column})
      for (auto [want_a, want_b] : {std::pair{true, true}, {true, false}, {false, true}}) {
        check_binary<Op, float>(ref, l, rows, cols, want_a, want_b);
        check_binary<Op, double>(ref, l, rows, cols, want_a, want_b);
      }
}

}  // namespace

TEST_CASE("binary functions and their gradients, for every broadcast layout",
          "[cpu][elementwise]") {
  SECTION("add") { check_binary_all_layouts<add_op>(binary_cases[0]); }
  SECTION("sub") { check_binary_all_layouts<sub_op>(binary_cases[1]); }
  SECTION("rsub") { check_binary_all_layouts<rsub_op>(binary_cases[2]); }
  SECTION("mul") { check_binary_all_layouts<mul_op>(binary_cases[3]); }
  SECTION("div") { check_binary_all_layouts<div_op>(binary_cases[4]); }
  SECTION("rdiv") { check_binary_all_layouts<rdiv_op>(binary_cases[5]); }
  SECTION("swiglu") { check_binary_all_layouts<swiglu_op>(binary_cases[6]); }
}

TEST_CASE("broadcast gradients are identical whatever the thread count", "[cpu][elementwise]") {
  const index_t rows = 4097, cols = 129;
  const auto a = random_vector<float>(rows * cols, -1, 1, 1);
  const auto b = random_vector<float>(cols, 0.5, 2, 2);
  const auto gy = random_vector<float>(rows * cols, -1, 1, 3);
  const int before = num_threads();
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<float> gb(std::size_t(cols), 0.0f);
    binary_backward_broadcast_row<mul_op>(a.data(), b.data(), gy.data(), nullptr, gb.data(), rows,
                                          cols);
    results.push_back(gb);
  }
  set_num_threads(before);
  CHECK(results[0] == results[1]);
  CHECK(results[0] == results[2]);
}

TEMPLATE_TEST_CASE("fill, copy, scale, axpy, add_inplace", "[cpu][elementwise]", float, double) {
  using T = TestType;
  for (index_t n : odd_sizes) {
    INFO("n = " << n);
    const auto x = random_vector<T>(n, -5, 5, 21);
    const auto y0 = random_vector<T>(n, -5, 5, 22);
    std::vector<T> y(static_cast<std::size_t>(n));

    fill(y.data(), T(2.5), n);
    for (index_t i = 0; i < n; ++i) REQUIRE(y[i] == T(2.5));

    copy(x.data(), y.data(), n);
    REQUIRE(y == x);

    scale(x.data(), T(-3), y.data(), n);
    for (index_t i = 0; i < n; ++i) REQUIRE(y[i] == T(-3) * x[i]);

    y = y0;
    axpy(T(0.75), x.data(), y.data(), n);
    for (index_t i = 0; i < n; ++i)
      REQUIRE(close<T>(y[i], ld(y0[i]) + 0.75L * x[i], 1, std::fabs(ld(x[i])) + 1));

    y = y0;
    add_inplace(x.data(), y.data(), n);
    for (index_t i = 0; i < n; ++i) REQUIRE(y[i] == y0[i] + x[i]);
  }
}

}  // namespace cpu_test_elementwise
