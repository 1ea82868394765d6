// The CPU twins of the device's list kernels (cuda/tensor_lists.cuh: one launch or a few for many
// arrays) against their one-by-one forms: the same bits, each array with its own settings.
#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernel_test_support.hpp"
#include "ranklens/cpu/adamw.hpp"
#include "ranklens/cpu/clip_coefficient.hpp"
#include "ranklens/cpu/reduce.hpp"
#include "ranklens/cpu/sgd.hpp"
#include "ranklens/cpu/zero_many.hpp"

namespace cpu_test_list_kernels {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::test;

namespace {
const index_t sizes[] = {0, 1, 17, 1000, 100003};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {  // memcmp must not see an empty vector's null data
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
}  // namespace

TEST_CASE("cpu::adamw_update_many and cpu::sgd_update_many update each array as the one-by-one form does", "[cpu][optim_lists]") {
  const auto coefficients = cpu::adamw_coefficients_at<float>(3, 1e-2, 0.9, 0.999, 1e-8, 0.1);
  const cpu::sgd_coefficients<float> sgd{.lr = 1.0f, .momentum = 0.9f, .dampening_complement = 0.75f, .weight_decay = 0.01f, .nesterov = false,
                                         .first = false};
  const float lr = 0.05f;
  struct arrays {
    std::vector<float> value, grad, m, v;
  };
  std::vector<arrays> one_by_one, listed;
  for (std::size_t t = 0; t < std::size(sizes); ++t) {
    const index_t n = sizes[t];
    arrays a{random_vector<float>(n, -1, 1, 10 * t), random_vector<float>(n, -1, 1, 10 * t + 1), random_vector<float>(n, -0.1, 0.1, 10 * t + 2),
             random_vector<float>(n, 0, 0.01, 10 * t + 3)};
    one_by_one.push_back(a);
    listed.push_back(a);
  }
  SECTION("AdamW") {
    std::vector<cpu::adamw_tensor<float>> list;
    for (auto& a : listed) list.push_back({a.value.data(), a.grad.data(), a.m.data(), a.v.data(), index_t(a.value.size())});
    cpu::adamw_update_many<float>(list, &coefficients);
    for (auto& a : one_by_one) cpu::adamw_update(a.value.data(), a.grad.data(), a.m.data(), a.v.data(), index_t(a.value.size()), coefficients);
  }
  SECTION("SGD, every other array at its first step (its buffer, m here, written whole)") {
    std::vector<cpu::sgd_tensor<float>> list;
    for (std::size_t t = 0; t < listed.size(); ++t) {
      auto& a = listed[t];
      list.push_back({a.value.data(), a.grad.data(), a.m.data(), index_t(a.value.size()), t % 2 == 0});
    }
    cpu::sgd_update_many<float>(list, sgd, &lr);
    for (std::size_t t = 0; t < one_by_one.size(); ++t) {
      auto& a = one_by_one[t];
      cpu::sgd_coefficients<float> each = sgd;
      each.first = t % 2 == 0;
      each.lr = lr;
      cpu::sgd_update(a.value.data(), a.grad.data(), a.m.data(), index_t(a.value.size()), each);
    }
  }
  for (std::size_t t = 0; t < listed.size(); ++t) {
    INFO("array " << t << " of " << sizes[t] << " elements");
    CHECK(same_bits(listed[t].value, one_by_one[t].value));
    CHECK(same_bits(listed[t].m, one_by_one[t].m));
    CHECK(same_bits(listed[t].v, one_by_one[t].v));
  }
  // The update moved something: a list form that did nothing would match nothing above but empties.
  CHECK_FALSE(same_bits(listed.back().value, random_vector<float>(sizes[std::size(sizes) - 1], -1, 1, 10 * (std::size(sizes) - 1))));
}

TEST_CASE("cpu::zero_many, sum_of_squares_many and scale_by_clip_coefficient_many treat every array of a list", "[cpu][optim_lists]") {
  std::vector<std::vector<float>> values;
  for (std::size_t t = 0; t < std::size(sizes); ++t) values.push_back(random_vector<float>(sizes[t], -2, 2, 100 + t));
  values[2][5] = std::numeric_limits<float>::signaling_NaN();  // x·1 would quiet it: other bits
  std::vector<std::vector<float>> arrays = values;
  std::vector<cpu::array_range<const float>> read;
  std::vector<cpu::array_range<float>> written;
  for (auto& a : arrays) {
    read.push_back({a.data(), index_t(a.size())});
    written.push_back({a.data(), index_t(a.size())});
  }

  REQUIRE(cpu::sum_of_squares_partials<float>(read) == index_t(std::size(sizes)));
  std::vector<float> partials(std::size(sizes));
  cpu::sum_of_squares_many<float>(read, partials.data());
  for (std::size_t t = 0; t < std::size(sizes); ++t) {
    INFO("array " << t);
    if (t == 2)
      CHECK(std::isnan(partials[t]));
    else
      CHECK(partials[t] == float(cpu::sum_of_squares(values[t].data(), sizes[t])));
  }

  const float one = 1.0f, quarter = 0.25f;
  cpu::scale_by_clip_coefficient_many(&one, written);
  for (std::size_t t = 0; t < std::size(sizes); ++t) CHECK(same_bits(arrays[t], values[t]));
  cpu::scale_by_clip_coefficient_many(&quarter, written);
  for (std::size_t t = 0; t < std::size(sizes); ++t)
    for (std::size_t i = 0; i < arrays[t].size(); ++i)
      if (!(t == 2 && i == 5)) REQUIRE(arrays[t][i] == values[t][i] * 0.25f);

  std::vector<std::uint32_t> words(64, 0xffffffffu);
  const std::vector<cpu::array_range<std::uint32_t>> runs = {{words.data() + 1, 3}, {words.data() + 10, 0}, {words.data() + 20, 40}};
  cpu::zero_many(runs);
  for (std::size_t i = 0; i < words.size(); ++i) {
    INFO("word " << i);
    CHECK(words[i] == ((i >= 1 && i < 4) || (i >= 20 && i < 60) ? 0u : 0xffffffffu));
  }
}

}  // namespace cpu_test_list_kernels
