// The tape: an arena for per-step intermediates plus the list of backward callbacks the ops
// recorded, newest last. `auto step = tape();` rewinds both when `step` ends, so in steady-state
// training no op calls the system allocator (Stan Math's reverse_pass_callback design).
//
// Values and gradients live in the arena of their device; the tape's own records (entries,
// storage nodes) always in host memory. The CUDA arena is made on first use, which only a CUDA
// translation unit can ask for (docs/architecture.md, "Ops on any device", step 4); a mark and
// a rewind cover both arenas.
#pragma once
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "ranklens/autograd/grad_mode.hpp"
#include "ranklens/autograd/storage_node.hpp"
#include "ranklens/core/arena.hpp"

namespace ranklens {

// One recorded op. `run` propagates the op's output gradient to its inputs; `check_inputs`
// (anomaly mode) verifies the gradients it produced; `release_output_grad` hands the output's
// gradient buffer back to the tape once `run` is done with it (backward without
// keep_intermediate_grads). Entries live in the arena and are never destroyed, which is why
// their payloads must be trivially destructible.
struct TapeEntry {
  TapeEntry* previous = nullptr;
  void (*run)(TapeEntry*) = nullptr;
  void (*check_inputs)(TapeEntry*) = nullptr;
  void (*release_output_grad)(TapeEntry*) = nullptr;
  const char* op = "";
};

class Tape {
 public:
  struct Mark {
    BlockArena::Mark host;
    BlockArena::Mark cuda;  // the start, if the CUDA arena did not exist yet
    TapeEntry* last;
    std::size_t entries;
  };

  // The calling thread's tape.
  static Tape& current() {
    thread_local Tape tape;
    return tape;
  }

  // Device D's arena (for cuda_t, only in a translation unit where device_memory<cuda_t> is
  // defined: a CUDA one).
  template <Device D>
  BlockArena& arena() {
    if constexpr (std::is_same_v<D, cpu_t>) {
      return cpu_arena_;
    } else {
      if (!cuda_arena_) cuda_arena_ = std::make_unique<Arena<cuda_t>>();
      return *cuda_arena_;
    }
  }

  StorageNode* new_node(void* value, index_t numel, dtype type, bool requires_grad) {
    auto* node = new (cpu_arena_.allocate(sizeof(StorageNode), alignof(StorageNode))) StorageNode{};
    node->value = value;
    node->numel = numel;
    node->type = type;
    node->requires_grad = requires_grad;
    return node;
  }

  // Places an entry (constructed from args) in the arena and links it as the newest.
  template <class Entry, class... Args>
  Entry* push(Args&&... args) {
    static_assert(std::is_base_of_v<TapeEntry, Entry>);
    static_assert(std::is_trivially_destructible_v<Entry>,
                  "A backward closure must be trivially destructible: capture Vars, scalars and arena pointers, not containers.");
    auto* e = new (cpu_arena_.allocate(sizeof(Entry), alignof(Entry))) Entry(std::forward<Args>(args)...);
    e->previous = last_;
    last_ = e;
    ++entries_;
    return e;
  }

  // Runs every recorded callback, newest first, then forgets them (like PyTorch freeing the
  // graph) so that a second forward/backward in the same step accumulates each gradient once.
  // Without keep_intermediate_grads, each op's output gradient is released as soon as the op's
  // callback has run: every op that could still add to it is newer and has run already.
  void run_backward(bool keep_entries = false, bool keep_intermediate_grads = true) {
    for (TapeEntry* e = last_; e; e = e->previous) {
      e->run(e);
      if (anomaly_mode_enabled()) e->check_inputs(e);
      if (!keep_intermediate_grads) e->release_output_grad(e);
    }
    if (!keep_entries) {
      last_ = nullptr;
      entries_ = 0;
    }
  }

  // Released gradient buffers, for gradients that arrive later in the same backward pass: a
  // transformer's layers repeat their shapes, so a released buffer of the exact size is almost
  // always there, and the arena stops growing by one gradient per intermediate (PyTorch frees
  // those as the backward pass goes). The list lives inside the released buffers themselves, so
  // keeping it allocates nothing; buffers under reusable_gradient_bytes are not worth listing.
  // A device buffer cannot hold the host's list, so device D's list lives in the host arena,
  // one small record per released buffer (rewound with the rest).
  static constexpr std::size_t reusable_gradient_bytes = 4096;
  template <Device D>
  void release_gradient_buffer(void* buffer, std::size_t bytes) noexcept {
    if (bytes < reusable_gradient_bytes) return;
    if constexpr (std::is_same_v<D, cpu_t>) {
      free_gradients_[0] = new (buffer) FreeGradient{free_gradients_[0], bytes, buffer};
    } else {
      try {
        void* record = cpu_arena_.allocate(sizeof(FreeGradient), alignof(FreeGradient));
        free_gradients_[1] = new (record) FreeGradient{free_gradients_[1], bytes, buffer};
      } catch (...) {  // out of host memory: the buffer is simply not reused
      }
    }
  }
  // A released buffer of device D of exactly `bytes`, or nullptr. Its contents are garbage.
  template <Device D>
  void* reuse_gradient_buffer(std::size_t bytes) noexcept {
    if (bytes < reusable_gradient_bytes) return nullptr;
    for (FreeGradient** link = &free_gradients_[std::is_same_v<D, cpu_t> ? 0 : 1]; *link; link = &(*link)->next) {
      if ((*link)->bytes != bytes) continue;
      FreeGradient* found = *link;
      *link = found->next;
      return found->buffer;
    }
    return nullptr;
  }

  Mark mark() const noexcept { return {cpu_arena_.mark(), cuda_arena_ ? cuda_arena_->mark() : BlockArena::Mark{}, last_, entries_}; }
  void rewind(const Mark& m) noexcept {
    free_gradients_[0] = free_gradients_[1] = nullptr;  // they may lie in the memory being rewound
    cpu_arena_.rewind(m.host);
    if (cuda_arena_) cuda_arena_->rewind(m.cuda);
    last_ = m.last;
    entries_ = m.entries;
  }
  std::size_t entries() const noexcept { return entries_; }
  std::size_t system_allocations() const noexcept { return cpu_arena_.system_allocations(); }
  std::size_t arena_capacity() const noexcept { return cpu_arena_.capacity(); }

 private:
  struct FreeGradient {
    FreeGradient* next;
    std::size_t bytes;
    void* buffer;
  };

  Tape() = default;
  Arena<cpu_t> cpu_arena_;
  std::unique_ptr<BlockArena> cuda_arena_;
  TapeEntry* last_ = nullptr;
  std::size_t entries_ = 0;
  FreeGradient* free_gradients_[2] = {nullptr, nullptr};  // cpu_t's, cuda_t's
};

// Releases everything the tape gained during its lifetime: `auto step = tape();`.
// Vars created inside the scope must not be used after it ends (copy results out first).
class TapeScope {
 public:
  TapeScope() : mark_(Tape::current().mark()) {}
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;
  ~TapeScope() { Tape::current().rewind(mark_); }

 private:
  Tape::Mark mark_;
};

[[nodiscard]] inline TapeScope tape() { return TapeScope{}; }

}  // namespace ranklens
