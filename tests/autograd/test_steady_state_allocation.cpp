// A steady-state training step must not call the general-purpose allocator: the tape arena and
// the kernels' scratch are sized by the first step and reused. Counted by replacing the global
// operator new for this test program (not under AddressSanitizer, which owns operator new).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>

#include "ranklens/autograd/backward.hpp"
#include "ranklens/cpu/blas.hpp"
#include "ranklens/cpu/scratch.hpp"
#include "ranklens/nn/linear.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/ops/unary.hpp"
#include "ranklens/optim/adamw.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define RANKLENS_COUNT_ALLOCATIONS 0
#else
#define RANKLENS_COUNT_ALLOCATIONS 1
#endif

#if RANKLENS_COUNT_ALLOCATIONS
namespace {
std::atomic<long> operator_new_calls{0};
}
void* operator new(std::size_t size) {
  operator_new_calls.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

using namespace ranklens;

namespace {
// Runs `step` a few times to size everything, then counts operator new calls over more steps.
template <class Step>
long allocations_in_steady_state(Step&& step) {
  for (int i = 0; i < 3; ++i) step();
#if RANKLENS_COUNT_ALLOCATIONS
  const long before = operator_new_calls.load();
  for (int i = 0; i < 5; ++i) step();
  return operator_new_calls.load() - before;
#else
  return 0;
#endif
}
}  // namespace

TEST_CASE("an MLP training step allocates nothing once warmed up", "[autograd][arena][allocation]") {
  std::mt19937 rng(0);
  Linear<16, 64> fc1(rng);
  Linear<64, 1> fc2(rng);
  auto params = fc1.parameters();
  for (auto& p : fc2.parameters()) params.push_back(p);
  AdamW opt(params);
  Tensor<float, Shape<dyn, 16>> x(Shape<dyn, 16>{512}, 0.5f);
  Tensor<float, Shape<dyn, 1>> y(Shape<dyn, 1>{512}, 1.0f);
  const long calls = allocations_in_steady_state([&] {
    auto step = tape();
    auto error = fc2(tanh(fc1(constant(x)))) - constant(y);
    auto loss = mean(error * error);
    opt.zero_grad();
    backward(loss);
    opt.step();
  });
  CHECK(calls == 0);
}

// On one thread exactly nothing. On more, a pool worker that has not yet run a chunk of some
// kernel (the caller may claim every chunk of a small job, so which thread runs what varies
// from run to run) sizes its own scratch the first time it does: at most a few allocations per
// thread and scratch slot over the program's life, never one per step.
TEST_CASE("a transformer training step allocates nothing once warmed up", "[autograd][arena][allocation]") {
  std::mt19937 rng(1);
  Transformer<Gpt2Like<32, 2, 4, 64, 64>> model(rng);
  AdamW opt(parameters(model));
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens(Shape<dyn, dyn>{4, 64}, 3);
  Tensor<std::int32_t, Shape<dyn, dyn>> targets(Shape<dyn, dyn>{4, 64}, 5);
  const auto step = [&] {
    auto scope = tape();
    auto loss = cross_entropy(model(tokens.view()), targets);
    opt.zero_grad();
    backward(loss);
    opt.step();
  };
  const int threads = cpu::num_threads();
  cpu::set_all_threads(1);
  const long single_thread_calls = allocations_in_steady_state(step);
  cpu::set_all_threads(2);
  long pool_calls = allocations_in_steady_state(step);
  for (int round = 0; round < 10; ++round) pool_calls += allocations_in_steady_state(step);
  cpu::set_all_threads(threads);
  CHECK(single_thread_calls == 0);
  CHECK(pool_calls <= 2 * long(cpu::scratch_slot::count));  // one worker, each slot growing at most twice
}
