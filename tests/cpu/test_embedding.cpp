#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/autograd/gradcheck.hpp"
#include "ranklens/cpu/embedding.hpp"
#include "ranklens/ops/embedding.hpp"

namespace cpu_test_embedding {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("cpu::embedding_forward and embedding_backward reproduce the embedding op", "[cpu][embedding]") {
  constexpr index_t vocab = 7, width = 5, count = 9;
  std::mt19937_64 rng(5);
  auto table = random_tensor(Shape<dyn, width>{vocab}, rng);
  Tensor<std::int32_t, Shape<dyn>> ids(Shape<dyn>{count}, {3, 0, 6, 3, 3, 1, 6, 2, 0});
  auto seed = random_tensor(Shape<dyn, width>{count}, rng);

  auto step = tape();
  auto weight = variable(table);
  auto y = embedding(weight, ids);
  backward(y, seed.view());

  std::vector<double> gathered(count * width), gradient(vocab * width, 0.5);
  cpu::embedding_forward(table.data(), ids.data(), gathered.data(), count, vocab, width);
  cpu::embedding_backward(ids.data(), seed.data(), gradient.data(), count, width);
  for (index_t i = 0; i < count * width; ++i) REQUIRE(gathered[std::size_t(i)] == y.value().data()[i]);
  for (index_t i = 0; i < vocab * width; ++i) REQUIRE(gradient[std::size_t(i)] == Approx(0.5 + weight.grad().data()[i]).epsilon(1e-15));
}

TEST_CASE("cpu::embedding_forward names the first id out of range and writes nothing", "[cpu][embedding]") {
  const double table[4] = {1, 2, 3, 4};  // (vocab 2, width 2)
  const std::int32_t ids[3] = {1, 2, -1};
  double y[6] = {9, 9, 9, 9, 9, 9};
  REQUIRE_THROWS_WITH(cpu::embedding_forward(table, ids, y, 3, 2, 2), Catch::Contains("ids[1] = 2 is outside [0, 2)"));
  for (double v : y) CHECK(v == 9);
}

}  // namespace cpu_test_embedding
