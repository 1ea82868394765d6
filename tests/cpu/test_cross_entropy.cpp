#include <catch2/catch.hpp>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/cross_entropy.hpp"

namespace cpu_test_cross_entropy {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::cpu;
using namespace ranklens::test;
using ld = long double;

namespace {

ld log_sum_exp_ref(const std::vector<ld>& x) {
  ld top = -INFINITY;
  for (ld v : x) top = std::max(top, v);
  ld total = 0;
  for (ld v : x) total += std::exp(v - top);
  return top + std::log(total);
}

}  // namespace

TEMPLATE_TEST_CASE("cross-entropy loss and gradient match long-double references",
                   "[cpu][cross_entropy]", float, double) {
  using T = TestType;
  const std::pair<index_t, index_t> shapes[] = {{0, 5},  {1, 1},     {1, 7},
                                                {9, 17}, {33, 1000}, {4, 50257}};
  for (const auto& [rows, vocab] : shapes) {
    INFO("rows " << rows << " vocab " << vocab);
    const auto logits = random_vector<T>(rows * vocab, -10, 10, 1);
    std::vector<std::int32_t> targets(static_cast<std::size_t>(rows));
    for (index_t r = 0; r < rows; ++r)
      targets[std::size_t(r)] =
          r % 4 == 3 ? default_ignore_index : std::int32_t((r * 7919) % vocab);
    const auto grad_loss = random_vector<T>(rows, 0.5, 2, 2);
    const auto g0 = random_vector<T>(rows * vocab, -1, 1, 3);
    std::vector<T> loss(static_cast<std::size_t>(rows), T(-1)), lse(loss.size(), T(-1)), g = g0;

    const index_t used =
        cross_entropy_forward(logits.data(), targets.data(), loss.data(), lse.data(), rows, vocab);
    const T scale = T(0.25);
    cross_entropy_backward(logits.data(), targets.data(), lse.data(), grad_loss.data(), scale,
                           g.data(), rows, vocab);

    index_t want_used = 0;
    for (index_t r = 0; r < rows; ++r) {
      const std::int32_t target = targets[std::size_t(r)];
      const T* row = logits.data() + r * vocab;
      if (target == default_ignore_index) {
        REQUIRE(loss[std::size_t(r)] == 0);
        for (index_t j = 0; j < vocab; ++j)
          REQUIRE(g[std::size_t(r * vocab + j)] == g0[std::size_t(r * vocab + j)]);
        continue;
      }
      ++want_used;
      const std::vector<ld> x(row, row + vocab);
      const ld want_lse = log_sum_exp_ref(x);
      // The loss is a difference of O(10) terms: an absolute floor of that size.
      REQUIRE(close<T>(loss[std::size_t(r)], want_lse - x[std::size_t(target)], 8, 20));
      const ld weight = ld(scale) * grad_loss[std::size_t(r)];
      for (index_t j = 0; j < vocab; ++j) {
        const std::size_t i = std::size_t(r * vocab + j);
        const ld p = std::exp(x[std::size_t(j)] - want_lse);
        const ld want = g0[i] + weight * (p - (j == target ? 1 : 0));
        REQUIRE(close<T>(g[i], want, 8 + 20, 1));
      }
    }
    CHECK(used == want_used);
  }
}

TEST_CASE("cross-entropy without per-row gradients uses weight 1, and nullptr logsumexp is fine",
          "[cpu][cross_entropy]") {
  const std::vector<double> logits = {0, 0, 0, 0};  // (1, 4): uniform
  const std::vector<std::int32_t> target = {2};
  double loss, lse;
  CHECK(cross_entropy_forward(logits.data(), target.data(), &loss, nullptr, 1, 4) == 1);
  CHECK(loss == Approx(std::log(4.0)));
  cross_entropy_forward(logits.data(), target.data(), &loss, &lse, 1, 4);
  std::vector<double> g(4, 0.0);
  cross_entropy_backward(logits.data(), target.data(), &lse, nullptr, 1.0, g.data(), 1, 4);
  CHECK(g[0] == Approx(0.25));
  CHECK(g[2] == Approx(-0.75));
  // A reduced loss: every row's weight is the loss's gradient times the reduction's factor.
  const double grad_loss = 3.0, factor = 0.5;
  std::vector<double> reduced(4, 1.0);
  cross_entropy_backward_reduced(logits.data(), target.data(), &lse, &grad_loss, &factor, reduced.data(), 1, 4);
  CHECK(reduced[0] == Approx(1 + 1.5 * 0.25));
  CHECK(reduced[2] == Approx(1 - 1.5 * 0.75));
}

TEST_CASE("cross-entropy rejects targets outside the vocabulary", "[cpu][cross_entropy]") {
  const std::vector<float> logits(6, 0.0f);
  std::vector<float> loss(2), lse(2), g(6);
  for (std::int32_t bad : {-1, 3, 1000}) {
    const std::vector<std::int32_t> targets = {0, bad};
    CHECK_THROWS_AS(
        cross_entropy_forward(logits.data(), targets.data(), loss.data(), lse.data(), 2, 3),
        ranklens::value_error);
    CHECK_THROWS_AS(cross_entropy_backward(logits.data(), targets.data(), lse.data(), nullptr, 1.0f,
                                           g.data(), 2, 3),
                    ranklens::value_error);
  }
  // A custom ignore_index is honoured.
  const std::vector<std::int32_t> targets = {0, -1};
  CHECK(cross_entropy_forward(logits.data(), targets.data(), loss.data(), lse.data(), 2, 3, -1) ==
        1);
  CHECK(loss[1] == 0);
}

}  // namespace cpu_test_cross_entropy
