// Registering hooks by name. Modules list their hook points under TransformerLens names in
//   template <class Self, class Visit> static void visit_hook_points(Self& self, Visit&& visit);
// exactly as they list parameters (nn/module.hpp), so a model's points are named
// "hook_embed", "blocks.0.attn.hook_pattern", "ln_final.hook_normalized", ...
//
// A hook is any callable taking the activation (const Var&), or the activation and the hook's
// name (const Var&, std::string_view). It returns void to only read the activation, or a Var of
// the same type and shape to replace it:
//
//   model.add_hook("blocks.0.attn.hook_pattern", [&](const Model::pattern_activation& p) { saved = p.to_tensor(); });
//   model.add_hook("blocks.0.attn.hook_z", [&](const Model::head_activation& z) { return z * constant(head_mask); });
//   model.add_hook(name, [&](const auto& activation, std::string_view hook) { log(hook, activation.shape()); });
//
// The name is looked up at run time, so a callable is compiled for every activation type of the
// model that it accepts: a generic lambda's body must compile for each of them (or take a
// concrete type, such as the aliases Transformer provides).
#pragma once
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ranklens/nn/hook_point.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/views.hpp"

namespace ranklens {

namespace detail {

template <class P> struct is_hook_point : std::false_type {};
template <class V> struct is_hook_point<HookPoint<V>> : std::true_type {};

template <class M>
concept HasHookPoints = requires(M& m) { M::visit_hook_points(m, any_visitor{}); };

// Hook points are the leaves; modules without visit_hook_points (Linear, norms) have none.
struct hook_traversal {
  template <class N>
  static constexpr bool is_leaf = is_hook_point<N>::value;

  template <class Node, class Visit>
  static void list_children(Node& node, Visit&& visit) {
    using N = std::remove_const_t<Node>;
    if constexpr (HasHookPoints<N>) N::visit_hook_points(node, visit);
  }
};

template <class F, class V>
inline constexpr bool hook_takes_name = std::is_invocable_v<F&, const V&, std::string_view>;
template <class F, class V>
inline constexpr bool hook_takes_activation = hook_takes_name<F, V> || std::is_invocable_v<F&, const V&>;

template <class F, class V>
auto call_hook(F& f, const V& activation, std::string_view name) {
  if constexpr (hook_takes_name<F, V>)
    return f(activation, name);
  else
    return f(activation);
}

// "(dyn, 4, dyn, dyn)": an activation type as the error messages show it.
template <VarType V>
std::string activation_type_name() {
  return "Var of shape " + extents_to_string(V::shape_type::static_extents);
}

// The user's callable as the point's hook_function: void results pass the activation on, and
// a replacement must have the activation's run-time shape.
template <VarType V, class F>
typename HookPoint<V>::hook_function make_hook(F f, std::string name) {
  using R = decltype(call_hook(f, std::declval<const V&>(), std::string_view{}));
  static_assert(std::is_void_v<R> || std::is_convertible_v<R, V>,
                "add_hook: a hook must return void or an activation of the type it receives.");
  return [f = std::move(f), name = std::move(name)](const V& activation) mutable -> V {
    if constexpr (std::is_void_v<R>) {
      call_hook(f, activation, name);
      return activation;
    } else {
      V replaced = call_hook(f, activation, name);
      if (replaced.shape() != activation.shape())
        throw shape_error("hook '" + name + "': the replacement has shape " + to_string(replaced.shape()) +
                          ", the activation has shape " + to_string(activation.shape()));
      return replaced;
    }
  };
}

}  // namespace detail

// f(std::string_view name, HookPoint<V>& point) for every hook point of `module`, in forward order.
template <class M, class F>
void for_each_hook_point(M& module, F&& f, std::string prefix = {}) {
  detail::walk<detail::hook_traversal>(module, prefix, f);
}

template <class M>
std::vector<std::string> hook_names(const M& module) {
  std::vector<std::string> names;
  for_each_hook_point(module, [&](std::string_view name, const auto&) { names.emplace_back(name); });
  return names;
}

// The valid names in short: numeric path parts (layer indices) become "{L}", once each.
inline std::string summarize_hook_names(const std::vector<std::string>& names) {
  std::vector<std::string> patterns;
  index_t layers = 0;
  for (const auto& name : names) {
    std::string pattern;
    std::size_t start = 0;
    while (start <= name.size()) {
      std::size_t end = name.find('.', start);
      if (end == std::string::npos) end = name.size();
      const std::string_view part(name.data() + start, end - start);
      const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit((unsigned char)c); });
      if (!pattern.empty()) pattern += '.';
      if (numeric) {
        pattern += "{L}";
        layers = std::max<index_t>(layers, std::stol(std::string(part)) + 1);
      } else {
        pattern += part;
      }
      start = end + 1;
    }
    if (std::find(patterns.begin(), patterns.end(), pattern) == patterns.end()) patterns.push_back(pattern);
  }
  std::string out;
  for (const auto& p : patterns) out += (out.empty() ? "" : ", ") + p;
  if (layers > 0) out += " (L = 0.." + std::to_string(layers - 1) + ")";
  return out;
}

// Adds `hook` to the point called `name`. Throws value_error for an unknown name (listing the
// valid ones) and for a callable that does not accept that point's activation type.
template <class M, class F>
void add_hook(M& module, std::string_view name, F&& hook) {
  bool found = false;
  for_each_hook_point(module, [&](std::string_view point_name, auto& point) {
    if (point_name != name) return;
    found = true;
    using V = typename std::remove_cvref_t<decltype(point)>::activation_type;
    if constexpr (detail::hook_takes_activation<std::decay_t<F>, V>)
      point.add(detail::make_hook<V>(std::decay_t<F>(hook), std::string(name)));
    else
      throw value_error("add_hook: hook point '" + std::string(name) + "' passes a " + detail::activation_type_name<V>() +
                        "; the function given does not accept it");
  });
  if (!found)
    throw value_error("add_hook: there is no hook point named '" + std::string(name) +
                      "'; valid names: " + summarize_hook_names(hook_names(module)));
}

// Removes every hook from every point of `module`.
template <class M>
void reset_hooks(M& module) {
  for_each_hook_point(module, [](std::string_view, auto& point) { point.clear(); });
}

}  // namespace ranklens
