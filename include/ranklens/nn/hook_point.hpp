// HookPoint<V>: a named place in a forward pass where user functions may read an activation or
// replace it (TransformerLens's HookPoint). The activation type V (a Var with static widths) is
// fixed per point; a hook receives the activation and returns the one the forward continues
// with: the same Var to only read it, another of the same shape to patch or ablate it.
// Gradients flow through whatever the hook returns.
//
// A point with no hooks costs one branch: operator() returns its argument when the list is empty.
#pragma once
#include <functional>
#include <vector>

#include "ranklens/autograd/var.hpp"

namespace ranklens {

template <VarType V>
class HookPoint {
 public:
  using activation_type = V;
  using hook_function = std::function<V(const V&)>;

  V operator()(const V& activation) const {
    if (hooks_.empty()) [[likely]]
      return activation;
    return run(activation);
  }

  void add(hook_function f) { hooks_.push_back(std::move(f)); }
  void clear() noexcept { hooks_.clear(); }
  bool empty() const noexcept { return hooks_.empty(); }
  std::size_t size() const noexcept { return hooks_.size(); }

 private:
  // Hooks run in the order they were added; each sees what the previous one returned.
  V run(V activation) const {
    for (const auto& hook : hooks_) activation = hook(activation);
    return activation;
  }

  std::vector<hook_function> hooks_;
};

}  // namespace ranklens
