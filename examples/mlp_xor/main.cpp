// The smallest real training run: a two-layer MLP learns XOR-like labels (the sign of x·y) of
// random points in the square [-1, 1]², and prints its loss and accuracy falling. It is the
// main example until the experiment programs exist.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <random>

#include "ranklens/ranklens.hpp"

using namespace ranklens;

namespace {
constexpr index_t hidden = 32;
using Points = Shape<dyn, 2>;
using Labels = Shape<dyn, 1>;

struct Batch {
  Tensor<float, Points> x;
  Tensor<float, Labels> y;  // +1 or −1
};

Batch make_batch(std::mt19937& rng, index_t n) {
  Batch b{Tensor<float, Points>(Points{n}), Tensor<float, Labels>(Labels{n})};
  for (index_t i = 0; i < n; ++i) {
    b.x(i, 0) = uniform<float>(rng, -1, 1);
    b.x(i, 1) = uniform<float>(rng, -1, 1);
    b.y(i, 0) = b.x(i, 0) * b.x(i, 1) > 0 ? 1.0f : -1.0f;
  }
  return b;
}

struct XorNet {
  Linear<2, hidden> fc1;
  Linear<hidden, 1> fc2;
  explicit XorNet(std::mt19937& rng) : fc1(rng), fc2(rng) {}
  auto operator()(const Var<float, Points>& x) const { return fc2(tanh(fc1(x))); }
  ParameterList parameters() {
    auto p = fc1.parameters();
    for (auto& r : fc2.parameters()) p.push_back(r);
    return p;
  }
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a two-layer MLP on XOR-like data and print the loss falling."};
  int steps = 400;
  index_t batch_size = 256;
  double lr = 1e-2;
  unsigned seed = 0;
  app.add_option("--steps", steps, "training steps")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch_size, "points per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "AdamW learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);

  cpu::check_openblas_core();
  std::mt19937 rng(seed);
  XorNet model(rng);
  AdamW opt(model.parameters(), {.lr = lr, .weight_decay = 0});
  const Batch test = make_batch(rng, 4096);

  std::printf("%6s  %10s  %10s\n", "step", "train MSE", "test acc");
  for (int s = 1; s <= steps; ++s) {
    const Batch batch = make_batch(rng, batch_size);
    auto step = tape();
    auto error = model(constant(batch.x)) - constant(batch.y);
    auto loss = mean(error * error);
    opt.zero_grad();
    backward(loss);
    opt.step();
    if (s == 1 || s % 50 == 0) {
      auto eval = tape();
      auto guard = no_grad();
      auto prediction = model(constant(test.x));
      index_t correct = 0;
      for (index_t i = 0; i < test.x.extent(0); ++i) correct += (prediction.value()(i, 0) > 0) == (test.y(i, 0) > 0);
      std::printf("%6d  %10.4f  %9.1f%%\n", s, double(loss.item()), 100.0 * double(correct) / double(test.x.extent(0)));
    }
  }
  return 0;
}
