// Host counters that a captured CUDA graph must see advance: dropout's call counts. A captured
// launch keeps the arguments it was given, so a key passed by value would give every replay the
// capture's mask. While a graph captures, each dropout call instead takes its call number as an
// offset from a slot in device memory (CounterKey's base); before each replay, one launch writes
// every generator's current count into its slot and the host counts advance by what the capture
// took. Replays then draw the masks eager steps would, and a generator's calls() stays the truth
// that checkpoints save. A generator used in a capture must outlive the graph's replays, as the
// buffers its launches name must.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ranklens/core/counter_generator.hpp"
#include "ranklens/cuda/device_buffer.hpp"
#include "ranklens/cuda/launch.cuh"

namespace ranklens::cuda {

namespace detail {

// One launch's worth of counts, passed by value (2 KB of kernel parameters, under CUDA's 4 KB).
inline constexpr int counters_per_launch = 256;
struct counter_values {
  std::uint64_t value[counters_per_launch];
};

template <class Values>
__global__ void write_counters_kernel(std::uint64_t* slots, Values values, int count) {
  for (int i = int(threadIdx.x); i < count; i += int(blockDim.x)) slots[i] = values.value[i];
}

}  // namespace detail

class replay_counters {
 public:
  replay_counters() = default;
  replay_counters(const replay_counters&) = delete;
  replay_counters& operator=(const replay_counters&) = delete;

  // The counters of the graph capturing on this thread (nullptr outside a capture).
  static replay_counters*& capturing() noexcept {
    thread_local replay_counters* counters = nullptr;
    return counters;
  }

  // The key of the generator's next call within the capture: its seed, the call's number within
  // one replay (1, 2, ...), and the slot that holds, when a replay runs, the calls taken before it.
  CounterKey take(CounterGenerator& generator) {
    const auto found = std::find_if(counters_.begin(), counters_.end(), [&](const counter& c) { return c.generator == &generator; });
    counter* c = found != counters_.end() ? &*found : nullptr;
    if (c == nullptr) {
      const std::size_t index = counters_.size();
      if (index % detail::counters_per_launch == 0) slots_.emplace_back(detail::counters_per_launch);
      counters_.push_back(counter{&generator, slots_.back().data() + index % detail::counters_per_launch, 0});
      c = &counters_.back();
    }
    return CounterKey{generator.seed(), ++c->taken, c->slot};
  }

  // Before a replay: writes each generator's count into its slot (on the current stream) and
  // counts the replay's calls on the host.
  void before_replay() {
    for (std::size_t first = 0; first < counters_.size(); first += detail::counters_per_launch) {
      const int count = int(std::min<std::size_t>(detail::counters_per_launch, counters_.size() - first));
      detail::counter_values values{};
      for (int i = 0; i < count; ++i) values.value[i] = counters_[first + std::size_t(i)].generator->calls();
      launch("cuda::write_counters", detail::write_counters_kernel<detail::counter_values>, launch_shape{dim3(1), dim3(256)},
             slots_[first / detail::counters_per_launch].data(), values, count);
    }
    for (counter& c : counters_) c.generator->set_calls(c.generator->calls() + c.taken);
  }

  void clear() noexcept {
    counters_.clear();
    slots_.clear();
  }

 private:
  struct counter {
    CounterGenerator* generator;
    std::uint64_t* slot;
    std::uint64_t taken;  // calls within one replay
  };
  std::vector<counter> counters_;
  std::vector<device_buffer<std::uint64_t>> slots_;  // counters_per_launch slots each
};

}  // namespace ranklens::cuda
