// Autodiff on cuda_t (docs/architecture.md, "Ops on any device", step 4): the graph of
// autograd_graph.hpp, forward and backward through the tape's CUDA arena, against the same graph
// on the CPU. This file is compiled by nvcc (or the host emulation), so the ops and the tape
// reach the CUDA kernels through backend/; cpu_reference/ runs the CPU side. Also: dropout in a
// captured cuda::graph, and anomaly mode's checks of device values.
#include "autograd_graph.hpp"
#include "parity.hpp"
#include "ranklens/autograd/parameter.hpp"
#include "ranklens/cuda/graph.hpp"

using namespace ranklens;
using namespace ranklens::test::parity;
namespace graph = ranklens::test::graph;

namespace {

struct graph_inputs {
  graph::sizes s;
  std::vector<twin<float>> params, grads;
  std::vector<std::int32_t> ids, targets;

  explicit graph_inputs(graph::sizes sizes_) : s(sizes_) {
    for (int p = 0; p < graph::parameter_count; ++p) {
      const index_t n = graph::parameter_size(graph::parameter(p), s);
      const bool norm_scale = p == graph::norm_weight || p == graph::rms_weight;
      params.emplace_back(random_values(n, 900 + std::uint64_t(p), norm_scale ? 0.5f : -0.6f, norm_scale ? 1.5f : 0.6f));
      grads.emplace_back(n);  // NaN: a gradient left unwritten fails the comparison
    }
    std::mt19937_64 gen(31);
    for (index_t i = 0; i < s.batch * s.positions; ++i) {
      ids.push_back(std::int32_t(gen() % std::uint64_t(s.vocabulary)));
      targets.push_back(i % 5 == 4 ? std::int32_t(-100) : std::int32_t(gen() % std::uint64_t(s.vocabulary)));  // some ignored
    }
  }
};

}  // namespace

TEST_CASE("a graph of ops on cuda_t gives the CPU's loss and gradients through the tape", "[cuda][autograd]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  graph_inputs in(graph::sizes{2, sized(37, 9), 13});
  const index_t tokens = in.s.batch * in.s.positions;
  cuda::device_buffer<std::int32_t> targets(tokens);
  targets.assign(in.targets);

  std::vector<const float*> device_params, host_params;
  std::vector<float*> device_grads;
  std::vector<std::vector<float>> host_grads;
  for (int p = 0; p < graph::parameter_count; ++p) {
    device_params.push_back(in.params[std::size_t(p)].data());
    host_params.push_back(in.params[std::size_t(p)].cpu());
    device_grads.push_back(in.grads[std::size_t(p)].data());
    host_grads.emplace_back(std::size_t(in.params[std::size_t(p)].size()), nan_value);
  }
  std::vector<float*> host_grad_pointers;
  for (auto& g : host_grads) host_grad_pointers.push_back(g.data());

  const float want = graph::cpu_loss_and_gradients(in.s, host_params.data(), in.ids.data(), in.targets.data(), host_grad_pointers.data());
  // Twice on the device: the second step reuses the arena and the released gradient buffers.
  for (int round = 0; round < 2; ++round) {
    const float got = graph::loss_and_gradients<cuda_t>(in.s, device_params.data(), in.ids.data(), targets.data(), device_grads.data());
    INFO("round " << round);
    check_close("autograd graph loss", {got}, {want}, tolerance<float>);
    const char* names[] = {"table", "norm weight", "norm bias", "wq", "wkv", "wo", "w1", "b1", "w2", "rms weight"};
    for (int p = 0; p < graph::parameter_count; ++p)
      check_close(std::string("autograd graph gradient of ") + names[p], in.grads[std::size_t(p)], host_grads[std::size_t(p)]);
  }
}

TEST_CASE("the tape's CUDA arena is rewound with the host one and reused by the next step", "[cuda][autograd]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  auto& t = Tape::current();
  const auto before = t.mark();
  const auto run = [] {
    auto step = tape();
    Tensor<float, Shape<dyn>, cpu_t> host(Shape<dyn>{4096});
    for (index_t i = 0; i < 4096; ++i) host.data()[i] = float(i % 7) - 3.0f;
    const auto x_device = to_device(host);
    const auto x = variable(x_device);
    const auto loss = sum(square(x) * 0.5f);
    backward(loss);
    std::vector<float> gradient(4096);
    cuda::copy_to_host(gradient.data(), x.grad().data(), 4096);
    for (index_t i = 0; i < 4096; ++i) REQUIRE(gradient[std::size_t(i)] == host.data()[i]);  // d(x²/2)/dx = x, exactly
    return loss.item();
  };
  const float first = run();
  const std::size_t allocations = t.arena<cuda_t>().system_allocations();
  const float second = run();
  CHECK(first == 8194.5f);  // Σ x²/2 over 585 periods of (9 + 4 + 1 + 0 + 1 + 4 + 9) / 2, then 4.5: exact in float
  CHECK(second == first);
  CHECK(t.arena<cuda_t>().system_allocations() == allocations);  // the second step allocated nothing new
  CHECK(t.entries() == before.entries);
}

TEST_CASE("a Parameter on cuda_t accumulates its gradient across backward passes until zero_grad", "[cuda][autograd]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t n = 4099;  // past a block and a tail
  Tensor<float, Shape<dyn>, cpu_t> host(Shape<dyn>{n});
  for (index_t i = 0; i < n; ++i) host.data()[i] = 0.25f * float(i % 9) - 1.0f;
  Parameter<float, Shape<dyn>, cuda_t> p(to_device(host), "p");
  const auto gradient = [&] {
    std::vector<float> g(static_cast<std::size_t>(n));
    cuda::copy_to_host(g.data(), p.grad().data(), n);
    return g;
  };
  for (int pass = 1; pass <= 2; ++pass) {
    auto step = tape();
    backward(sum(square(p.var()) * 0.5f + 3.0f));  // d/dp = p, added onto what is there
    const auto g = gradient();
    for (index_t i = 0; i < n; ++i) REQUIRE(g[std::size_t(i)] == float(pass) * host.data()[i]);
  }
  p.zero_grad();
  for (float g : gradient()) REQUIRE(g == 0.0f);
  p.freeze();
  auto step = tape();
  CHECK_FALSE(p.var().requires_grad());
}

TEST_CASE("anomaly mode on cuda_t names the op, the input and the element of a NaN/Inf, forward and backward",
          "[cuda][autograd][anomaly]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  using Vec = Shape<3>;
  auto step = tape();
  auto guard = detect_anomaly();
  const auto ones = to_device(Tensor<float, Vec, cpu_t>(Vec{}, {1, 1, 1}));
  const auto zero_in_the_middle = to_device(Tensor<float, Vec, cpu_t>(Vec{}, {1, 0, 2}));
  REQUIRE_THROWS_WITH(variable(ones) / constant(zero_in_the_middle),
                      Catch::StartsWith("anomaly: forward of 'div' produced NaN/Inf at element 1 of its result"));

  // The forward is finite (1, 1, 0.5), but the seed times d(n/d)/dd = -n/d² overflows at element 0.
  const auto denominator = to_device(Tensor<float, Vec, cpu_t>(Vec{}, {1e-20f, 1, 2}));
  const auto numerator = to_device(Tensor<float, Vec, cpu_t>(Vec{}, {1e-20f, 1, 1}));
  const auto d = variable(denominator);
  const auto y = constant(numerator) / d;
  const auto seed = to_device(Tensor<float, Vec, cpu_t>(Vec{}, {1e30f, 1, 1}));
  REQUIRE_THROWS_WITH(backward(y, seed.view()),
                      Catch::StartsWith("anomaly: backward of 'div' produced NaN/Inf in the gradient of input 1") &&
                          Catch::Contains(") at element 0; input shapes"));
}

TEST_CASE("variable, constant and cross_entropy keep a temporary device tensor's values for the whole tape scope", "[cuda][autograd]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  using Vec = Shape<3>;
  auto step = tape();
  const auto on_gpu = [](float first) { return to_device(Tensor<float, Vec, cpu_t>(Vec{}, {first, 2, 3})); };
  const auto v = variable(on_gpu(1));
  const auto c = constant(on_gpu(10));
  // The caching allocator hands the temporaries' blocks to the next tensors of their size: a Var
  // that had kept a view of them would read these.
  std::vector<Tensor<float, Vec, cuda_t>> later;
  for (int i = 0; i < 4; ++i) later.push_back(on_gpu(-7));
  CHECK_FALSE(c.requires_grad());
  backward(sum(v * c));
  const auto value = to_host(v.value()), constant_value = to_host(c.value()), gradient = to_host(v.grad());
  for (index_t i = 0; i < 3; ++i) {
    INFO("element " << i);
    CHECK(value(i) == (i == 0 ? 1.0f : float(i + 1)));
    CHECK(constant_value(i) == (i == 0 ? 10.0f : float(i + 1)));
    CHECK(gradient(i) == constant_value(i));
  }

  // cross_entropy's backward reads its targets: a temporary tensor of them is kept too.
  const auto targets_on_gpu = [](std::int32_t first) { return to_device(Tensor<std::int32_t, Shape<2>, cpu_t>(Shape<2>{}, {first, 0})); };
  const auto logits = variable(to_device(Tensor<float, Shape<2, 3>, cpu_t>(Shape<2, 3>{}, {1, 2, 3, 0, 0, 0})));
  const auto loss = cross_entropy(logits, targets_on_gpu(2));
  std::vector<Tensor<std::int32_t, Shape<2>, cuda_t>> later_targets;
  for (int i = 0; i < 4; ++i) later_targets.push_back(targets_on_gpu(0));
  backward(loss);
  const auto logits_gradient = to_host(logits.grad());
  // (softmax − onehot) / 2 rows; row 0's target is 2.
  const float z = std::exp(1.0f) + std::exp(2.0f) + std::exp(3.0f);
  CHECK(logits_gradient(0, 0) == Approx(std::exp(1.0f) / z / 2));
  CHECK(logits_gradient(0, 2) == Approx((std::exp(3.0f) / z - 1) / 2));
  CHECK(logits_gradient(1, 0) == Approx((1.0f / 3 - 1) / 2));
}

TEST_CASE("Var::to_tensor on cuda_t copies the value on the device, and it outlives the tape scope", "[cuda][autograd]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  using Matrix = Shape<2, 3>;
  const auto on_gpu = [](float first) { return to_device(Tensor<float, Matrix, cpu_t>(Matrix{}, {first, 2, 3, 4, 5, 6})); };
  Tensor<float, Matrix, cuda_t> kept(Matrix{});
  {
    auto step = tape();
    const auto y = variable(on_gpu(1)) * 2.0f;
    kept = y.to_tensor();
    REQUIRE_THROWS_WITH(transpose(y).to_tensor(), Catch::StartsWith("Var::to_tensor: the value of shape") && Catch::Contains("on cuda is a strided view"));
  }
  {  // the next scope's values take the arena's memory again
    auto step = tape();
    const auto z = variable(on_gpu(-1)) * 3.0f;
    CHECK(to_host(z.value()).data()[0] == -3.0f);
  }
  const auto host = to_host(kept.view());
  for (index_t i = 0; i < 6; ++i) CHECK(host.data()[i] == 2.0f * float(i + 1));
}

namespace {

// One step of dropout's uses: two calls of one generator and one of another, forward and
// backward, the outputs copied into `out` and the gradient left in p.grad().
void dropout_step(Parameter<float, Shape<dyn>, cuda_t>& p, CounterGenerator& twice, CounterGenerator& once,
                  Tensor<float, Shape<dyn>, cuda_t>& out) {
  const index_t n = p.value().numel();
  p.zero_grad();
  auto scope = tape();
  const auto first = dropout(p.var(), 0.5, twice);
  const auto second = dropout(p.var(), 0.25, twice);
  const auto third = dropout(p.var(), 0.5, once);
  backward(sum(first + second * 2.0f + third * 3.0f));
  device_memory<cuda_t>::copy(out.data(), first.value().data(), sizeof(float) * std::size_t(n));
  device_memory<cuda_t>::copy(out.data() + n, second.value().data(), sizeof(float) * std::size_t(n));
  device_memory<cuda_t>::copy(out.data() + 2 * n, third.value().data(), sizeof(float) * std::size_t(n));
}

}  // namespace

TEST_CASE("dropout captured into a cuda::graph draws each replay the masks eager calls would, and counts its calls on the host",
          "[cuda][autograd][graph]") {
  RANKLENS_REQUIRE_CUDA_DEVICE();
  const index_t n = 1000;
  Tensor<float, Shape<dyn>, cpu_t> ones(Shape<dyn>{n});
  for (index_t i = 0; i < n; ++i) ones.data()[i] = 1.0f;
  Parameter<float, Shape<dyn>, cuda_t> replayed_p(to_device(ones), "p"), eager_p(to_device(ones), "p");
  Tensor<float, Shape<dyn>, cuda_t> replayed_out(Shape<dyn>{3 * n}), eager_out(Shape<dyn>{3 * n});
  CounterGenerator replayed_twice(9), replayed_once(12), eager_twice(9), eager_once(12);
  const auto host = [](const auto& device) {
    const auto h = to_host(device.view());
    return std::vector<float>(h.data(), h.data() + h.numel());
  };

  cuda::graph g;
  const auto replayed_step = [&] { dropout_step(replayed_p, replayed_twice, replayed_once, replayed_out); };
  std::vector<float> previous;
  for (int s = 0; s < 5; ++s) {
    dropout_step(eager_p, eager_twice, eager_once, eager_out);
    if (s == 0) {
      g.warm_up(replayed_step);
    } else {
      if (s == 1) {
        g.capture(replayed_step);  // recorded, not run: takes no calls
        CHECK(replayed_twice.calls() == 2);
        CHECK(replayed_once.calls() == 1);
      }
      g.replay();
    }
    const std::vector<float> out = host(replayed_out);
    REQUIRE(out == host(eager_out));                         // each call's mask, bit for bit
    REQUIRE(host(replayed_p.grad()) == host(eager_p.grad()));  // and backward's
    CHECK(out != previous);                                  // a new mask each step
    previous = out;
  }
  CHECK(replayed_twice.calls() == 10);  // what a checkpoint saves: the calls of five steps
  CHECK(replayed_once.calls() == 5);
  CHECK(eager_twice.calls() == 10);

#if !defined(RANKLENS_CUDA_EMULATION)
  // A capture begun by hand, not through cuda::graph, would freeze the keys: refused by name.
  cuda::stream by_hand;
  cuda::stream_scope on(by_hand);
  cuda::check(cudaStreamBeginCapture(by_hand.handle(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  {
    auto scope = tape();
    CHECK_THROWS_WITH(dropout(replayed_p.var(), 0.5, replayed_once), Catch::Contains("captured into a CUDA graph by hand"));
  }
  cudaGraph_t abandoned = nullptr;
  cuda::check(cudaStreamEndCapture(by_hand.handle(), &abandoned), "cudaStreamEndCapture");
  if (abandoned) cuda::check(cudaGraphDestroy(abandoned), "cudaGraphDestroy");
#endif
}
