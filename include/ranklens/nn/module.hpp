// The module contract, and the one walk over a model's parameters that optimizers, checkpoints
// and adapters all use.
//
// A module lists its parts, under their Hugging Face names, in one static member function:
//
//   template <class Self, class Visit>
//   static void visit_parameters(Self& self, Visit&& visit) {
//     visit("weight", self.weight);
//     visit("bias", self.bias);
//   }
//
// Self is the module or its const form, so one listing serves both. A part may be a Parameter,
// another module, a std::optional of either (skipped when empty), a std::vector of modules
// (named "layers.0", "layers.1", ...), or Absent (a part the configuration leaves out). Paths
// join the names with dots, so a model's listing yields "model.layers.0.self_attn.q_proj.weight".
// Hook points are listed the same way, under TransformerLens names (nn/hooks.hpp).
//
// Why an explicit listing rather than Boost.Hana's member reflection: the Hugging Face name of
// a part depends on the checkpoint layout (Qwen2's "self_attn" is GPT-2's "attn", "model.layers"
// is "transformer.h", and lm_head disappears when tied), and the top-level names are dotted
// paths, not C++ identifiers. Hana would need one C++ class per layout or hand-specialised
// accessors with compile-time strings; a listing says the same in plain strings.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ranklens/autograd/parameter.hpp"

namespace ranklens {

// A member that a configuration leaves out (the MLP of an attention-only block, the lm_head of
// a model with tied embeddings). Walks skip it; declare it [[no_unique_address]]. It accepts
// and ignores the constructor arguments the present part would take, so a constructor can
// initialise the member the same way whether or not the configuration has it.
struct Absent {
  constexpr Absent() noexcept = default;
  template <class... Args>
  constexpr explicit Absent(Args&&...) noexcept {}
};

// The device a module keeps its parameters on: its device_type, or cpu_t where it names none.
template <class M>
using module_device_t = device_of_t<M>;

template <class P> struct is_parameter : std::false_type {};
template <class T, class S, class D> struct is_parameter<Parameter<T, S, D>> : std::true_type {};

namespace detail {

template <class X> struct is_optional : std::false_type {};
template <class X> struct is_optional<std::optional<X>> : std::true_type {};
template <class X> struct is_vector : std::false_type {};
template <class X, class A> struct is_vector<std::vector<X, A>> : std::true_type {};

// A visitor that accepts anything: used only to ask whether a listing exists.
struct any_visitor {
  template <class Child>
  void operator()(std::string_view, Child&) const {}
};

}  // namespace detail

// A class that lists its parameters (see the top of this file).
template <class M>
concept Module = requires(M& m) { M::visit_parameters(m, detail::any_visitor{}); };

namespace detail {

// Appends ".name" (or "name" at the root) to `path` for the duration of one call.
template <class F>
void with_path(std::string& path, std::string_view name, F&& f) {
  const std::size_t saved = path.size();
  if (!path.empty() && !name.empty()) path += '.';
  path += name;
  f();
  path.resize(saved);
}

// The walk shared by parameters and hook points. Traversal says which members are leaves and
// how a node lists its children: parameter_traversal here, hook_traversal in nn/hooks.hpp.
template <class Traversal, class Node, class F>
void walk(Node& node, std::string& path, F& f) {
  using N = std::remove_const_t<Node>;
  if constexpr (std::is_same_v<N, Absent>) {
    return;
  } else if constexpr (Traversal::template is_leaf<N>) {
    f(std::string_view(path), node);
  } else if constexpr (is_optional<N>::value) {
    if (node) walk<Traversal>(*node, path, f);
  } else if constexpr (is_vector<N>::value) {
    for (std::size_t i = 0; i < node.size(); ++i) with_path(path, std::to_string(i), [&] { walk<Traversal>(node[i], path, f); });
  } else {
    Traversal::list_children(node, [&](std::string_view name, auto& child) {
      with_path(path, name, [&] { walk<Traversal>(child, path, f); });
    });
  }
}

struct parameter_traversal {
  template <class N>
  static constexpr bool is_leaf = is_parameter<N>::value;

  template <class Node, class Visit>
  static void list_children(Node& node, Visit&& visit) {
    using N = std::remove_const_t<Node>;
    static_assert(Module<N>, "for_each_parameter: a member is neither a Parameter nor a module with visit_parameters.");
    if constexpr (Module<N>) N::visit_parameters(node, visit);
  }
};

}  // namespace detail

// f(std::string_view path, Parameter<T, S, D>& parameter) for every parameter of `module`, in
// listing order, with the parameter's full static type. `prefix` is prepended to every path.
template <class M, class F>
void for_each_parameter(M& module, F&& f, std::string prefix = {}) {
  detail::walk<detail::parameter_traversal>(module, prefix, f);
}

// Sets every parameter's own name to its path, so that the type-erased ParameterRefs handed to
// optimizers and checkpoints carry full Hugging Face names ("model.norm.weight").
template <class M>
void name_parameters(M& module, std::string prefix = {}) {
  for_each_parameter(module, [](std::string_view path, auto& p) { p.set_name(std::string(path)); }, std::move(prefix));
}

// (path, reference) for every parameter, in listing order (PyTorch's named_parameters()).
template <class M>
std::vector<std::pair<std::string, ParameterRef>> named_parameters(M& module) {
  std::vector<std::pair<std::string, ParameterRef>> out;
  for_each_parameter(module, [&](std::string_view path, auto& p) { out.emplace_back(std::string(path), p.ref()); });
  return out;
}

// The type-erased list optimizers take (an optim ParameterList). Each reference's name is the
// parameter's own name: call name_parameters first (Transformer does) for full paths.
// References point into the module: take them once the module sits where it will stay (moving
// the module afterwards leaves them dangling, as it would a pointer to one of its members).
template <class M>
std::vector<ParameterRef> parameters(M& module) {
  std::vector<ParameterRef> out;
  for_each_parameter(module, [&](std::string_view, auto& p) { out.push_back(p.ref()); });
  return out;
}

// Freezes (or unfreezes) every parameter of `module`: frozen parameters get no gradient.
template <class M>
void freeze(M& module, bool frozen = true) {
  for_each_parameter(module, [&](std::string_view, auto& p) { p.freeze(frozen); });
}

// The number of scalars in all parameters of `module`.
template <class M>
index_t parameter_count(const M& module) {
  index_t n = 0;
  for_each_parameter(module, [&](std::string_view, const auto& p) { n += p.numel(); });
  return n;
}

}  // namespace ranklens
