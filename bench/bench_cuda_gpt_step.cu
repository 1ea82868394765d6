// Whole training steps on the GPU: the GPT-2 style decoder of bench/bench_gpt_step.cpp (learned
// positions, pre-LayerNorm blocks with fused qkv attention, a GELU-tanh MLP of width 4x, tied
// lm_head; Gpt2Like with its sizes given at run time) on cuda_t in fp32, trained by AdamW on
// random tokens, either eagerly (every launch issued by the host each step) or as one step
// captured into a CUDA graph and replayed (cuda/graph.hpp). bench/pytorch_gpt_step.py --device
// cuda is the PyTorch side; scripts/gpu_check.sh runs both and writes the table.
//
// Prints one JSON line: milliseconds per step (CUDA events around `steps` steps, after warm-up;
// the median of `repeats` such runs), the step's FLOP rate (bench/gpt_step_flops.hpp's count),
// the caching allocator's peak bytes in use and, replayed, the graph's nodes and how many of
// them are our kernels (cuda::graph::node_count, launches).
//
//   bench_cuda_gpt_step --d-model 128 [--layers 4 --heads 4 --vocab 64 --context 256 --batch 32]
//                       [--mode eager|graph] [--warmup 3] [--steps 20] [--repeats 5]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpt_step_flops.hpp"
#include "ranklens/autograd/backward.hpp"
#include "ranklens/cuda/device_memory.hpp"
#include "ranklens/cuda/graph.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"

using namespace ranklens;

namespace {

struct Options {
  index_t d_model = 128, layers = 4, heads = 4, vocab = 64, context = 256, batch = 32;
  std::string mode = "eager";
  int warmup = 3, steps = 20, repeats = 5;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("bench_cuda_gpt_step: " + flag + " needs a value");
    const std::string value = argv[++i];
    const auto number = [&] {
      const long long v = std::stoll(value);
      if (v <= 0) throw std::invalid_argument("bench_cuda_gpt_step: " + flag + " must be positive, got " + value);
      return v;
    };
    if (flag == "--d-model") o.d_model = number();
    else if (flag == "--layers") o.layers = number();
    else if (flag == "--heads") o.heads = number();
    else if (flag == "--vocab") o.vocab = number();
    else if (flag == "--context") o.context = number();
    else if (flag == "--batch") o.batch = number();
    else if (flag == "--warmup") o.warmup = int(number());
    else if (flag == "--steps") o.steps = int(number());
    else if (flag == "--repeats") o.repeats = int(number());
    else if (flag == "--mode") o.mode = value;
    else throw std::invalid_argument("bench_cuda_gpt_step: unknown flag " + flag);
  }
  if (o.mode != "eager" && o.mode != "graph") throw std::invalid_argument("bench_cuda_gpt_step: --mode is eager or graph, got " + o.mode);
  if (o.d_model % o.heads != 0) throw std::invalid_argument("bench_cuda_gpt_step: --d-model must be a multiple of --heads");
  return o;
}

using Tokens = Tensor<std::int32_t, Shape<dyn, dyn>, cuda_t>;

struct Training {
  explicit Training(const Options& o)
      : rng(0),
        model(rng, transformer_dims{.d_model = o.d_model, .n_layers = o.layers, .n_heads = o.heads, .n_kv_heads = o.heads,
                                    .vocab_size = o.vocab, .mlp_width = 4 * o.d_model, .max_positions = o.context, .rope_theta = 1e4,
                                    .norm_eps = 1e-5}),
        optimizer(parameters(model), {.lr = 1e-3}),
        inputs(Shape<dyn, dyn>{o.batch, o.context}),
        targets(Shape<dyn, dyn>{o.batch, o.context}),
        loss(Shape<>{}) {
    // As the CPU benchmark: random tokens, each target the next input.
    std::vector<std::int32_t> host_inputs(std::size_t(o.batch * o.context)), host_targets(host_inputs.size());
    for (auto& t : host_inputs) t = std::int32_t(uniform_below(rng, o.vocab));
    for (index_t b = 0; b < o.batch; ++b)
      for (index_t t = 0; t < o.context; ++t)
        host_targets[std::size_t(b * o.context + t)] =
            t + 1 < o.context ? host_inputs[std::size_t(b * o.context + t + 1)] : std::int32_t(uniform_below(rng, o.vocab));
    cuda::copy_to_device(inputs.data(), host_inputs.data(), inputs.numel());
    cuda::copy_to_device(targets.data(), host_targets.data(), targets.numel());
  }

  // Nothing here waits for the device: the step can be captured.
  void step() {
    optimizer.zero_grad();
    {
      auto scope = tape();
      const auto value = cross_entropy(model(TensorView<const std::int32_t, Shape<dyn, dyn>, cuda_t>(inputs.data(), inputs.shape())),
                                       targets.view());
      backward(value, {.keep_intermediate_grads = false});
      device_memory<cuda_t>::copy(loss.data(), value.value().data(), sizeof(float));
    }
    optimizer.step();
  }

  std::mt19937 rng;
  Transformer<AnyGpt2Like, float, cuda_t> model;
  AdamW<cuda_t> optimizer;
  Tokens inputs, targets;
  Tensor<float, Shape<>, cuda_t> loss;
};

int run(const Options& o) {
  Training training(o);
  cuda::graph graph;
  const bool replayed = o.mode == "graph";
  if (replayed) {
    graph.warm_up([&] { training.step(); });
    graph.capture([&] { training.step(); });
  }
  // Every step from here runs on the graph's stream when replayed, else on the current one.
  const auto one_step = [&] {
    if (replayed)
      graph.replay();
    else
      training.step();
  };
  for (int i = 0; i < o.warmup; ++i) one_step();
  cuda::synchronize();
  cuda::caching_allocator::instance().reset_peak();
  const cudaEvent_t start = cuda::runtime::create_event(), stop = cuda::runtime::create_event();
  std::vector<double> ms_per_step;
  for (int r = 0; r < o.repeats; ++r) {
    cuda::runtime::record_event(start, cuda::current_stream());
    for (int i = 0; i < o.steps; ++i) one_step();
    cuda::runtime::record_event(stop, cuda::current_stream());
    cuda::runtime::synchronize_event(stop);
    ms_per_step.push_back(double(cuda::runtime::elapsed_ms(start, stop)) / o.steps);
  }
  cuda::runtime::destroy_event(start);
  cuda::runtime::destroy_event(stop);
  std::sort(ms_per_step.begin(), ms_per_step.end());
  const double ms = ms_per_step[ms_per_step.size() / 2];
  const double flops = bench::gpt_step_flops(o.d_model, o.layers, o.vocab, o.context, o.batch).per_step;
  float last_loss = 0;
  cuda::copy_to_host(&last_loss, training.loss.data(), 1);
  std::printf(
      "{\"side\": \"ranklens\", \"mode\": \"%s\", \"d_model\": %ld, \"layers\": %ld, \"heads\": %ld, \"vocab\": %ld, \"context\": %ld, "
      "\"batch\": %ld, \"ms_per_step\": %.4f, \"min_ms_per_step\": %.4f, \"tflops\": %.2f, \"peak_mb\": %.1f, \"loss\": %.4f, "
      "\"steps_taken\": %lld, \"graph_nodes\": %zu, \"graph_launches\": %d}\n",
      o.mode.c_str(), long(o.d_model), long(o.layers), long(o.heads), long(o.vocab), long(o.context), long(o.batch), ms, ms_per_step.front(),
      flops / (ms * 1e-3) / 1e12, double(cuda::caching_allocator::instance().statistics().peak_in_use) / (1 << 20), double(last_loss),
      training.optimizer.steps_taken(), graph.node_count(), graph.launches().total());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    if (!cuda::device_available()) {
      std::fprintf(stderr, "bench_cuda_gpt_step: no CUDA device\n");
      return 2;
    }
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
