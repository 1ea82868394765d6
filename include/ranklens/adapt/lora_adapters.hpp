// LoraAdapters<Rank, Model>: LoRA adapters of rank Rank attached to a Transformer, as PEFT's
// get_peft_model does: chosen by target-module names and layers, the base frozen, only the
// adapters trained.
//
//   Transformer<Qwen2Like<128, 4, 4, 2, 32>> model(rng);
//   LoraAdapters<1, decltype(model)> adapters(model, {.options = {.alpha = 16, .rslora = true}});
//   AdamW optimizer(adapters.parameters(), {.lr = 1e-3, .beta2 = 0.95, .weight_decay = 1e-4});
//   ... train as usual: model(tokens) now runs through the adapters ...
//   auto state = adapters.capture_state([&] { model(tokens); });   // (tokens, sites × Rank)
//   adapters.replace_state(edited, [&] { model(tokens); });         // A·x read from `edited`
//
// By default every projection of every layer is adapted (q, k, v, o, gate, up, down for
// Qwen2: the paper's choice). target_modules follows PEFT: a name matches a projection whose
// path is that name or ends in "." + name ("c_proj" matches both of GPT-2's, "attn.c_proj" one).
// layers selects layers by index (PEFT's layers_to_transform). A target or layer that matches
// nothing is refused, as PEFT refuses it.
//
// The adapters are attached for the lifetime of this object: destroying it detaches them,
// restores merged weights and the parameters' frozen flags. Neither the model nor this object
// may move while attached (the layers point at the adapters, and this object at the layers).
//
// Parameters are named as the walk of nn/module.hpp names them: the model's path of the layer
// plus "lora_A.weight" (model.layers.0.self_attn.q_proj.lora_A.weight); io/peft.hpp adds PEFT's
// "base_model.model." in files. Checkpoints take this object like a model (add_model).
#pragma once
#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/adapt/lora_blocks.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/nn/conv1d.hpp"
#include "ranklens/nn/linear.hpp"
#include "ranklens/nn/transformer.hpp"

namespace ranklens {

struct LoraConfig {
  LoraOptions options{};                    // alpha, rsLoRA, dropout
  std::vector<std::string> target_modules{};  // PEFT's target_modules; empty: every projection
  std::vector<index_t> layers{};              // PEFT's layers_to_transform; empty: every layer
  std::uint64_t seed = 0;                     // draws every A (in site order) and keys dropout
};

// One attached adapter: where it sits and its widths.
struct LoraSite {
  std::string module_path;  // "model.layers.3.mlp.gate_proj"
  std::string_view site;    // "mlp.gate_proj": the projection within its block
  index_t layer = 0;
  index_t in_features = 0, out_features = 0;
};

namespace detail {

// PEFT's rule for a target_modules list: the module's path equals the name or ends in ".name".
inline bool matches_target(std::string_view path, std::string_view target) {
  if (path == target) return true;
  return path.size() > target.size() && path.ends_with(target) && path[path.size() - target.size() - 1] == '.';
}

// A layer's weight as host values, and written back from them (a copy each way off the CPU).
template <class Layer>
std::vector<typename Layer::value_type> weight_on_host(const Layer& layer) {
  const auto& w = layer.weight.value();
  std::vector<typename Layer::value_type> host(std::size_t(w.numel()));
  device_memory<typename Layer::device_type>::copy_to_host(host.data(), w.data(), w.bytes());
  return host;
}
template <class Layer>
void set_weight_from_host(Layer& layer, const std::vector<typename Layer::value_type>& host) {
  auto& w = layer.weight.value();
  device_memory<typename Layer::device_type>::copy_from_host(w.data(), host.data(), w.bytes());
}

// The weight's values plus delta (Out, In), in the layer's own layout: nn.Linear's (Out, In),
// Conv1D's (In, Out).
template <Real T, index_t In, index_t Out, Device D>
std::vector<T> weight_plus(const Linear<In, Out, T, D>& layer, const Tensor<T, Shape<Out, In>>& delta) {
  std::vector<T> w = weight_on_host(layer);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] += delta.data()[i];
  return w;
}
template <Real T, index_t In, index_t Out, Device D>
std::vector<T> weight_plus(const Conv1D<In, Out, T, D>& layer, const Tensor<T, Shape<Out, In>>& delta) {
  std::vector<T> w = weight_on_host(layer);
  const index_t in = layer.input_width(), out = layer.output_width();
  for (index_t o = 0; o < out; ++o)
    for (index_t i = 0; i < in; ++i) w[std::size_t(i * out + o)] += delta.data()[o * in + i];
  return w;
}

}  // namespace detail

template <index_t Rank, class Model>
class LoraAdapters;

// On any device: the adapters live on the model's. Captured and replaced states are host
// tables, and merging goes through host copies of the weights.
template <index_t Rank, TransformerConfig C, Real T, Device D>
class LoraAdapters<Rank, Transformer<C, T, D>> {
  static_assert(Rank > 0, "LoraAdapters<Rank, Model>: the rank must be a positive compile-time constant.");
  using names = hf_names<C::layout>;

 public:
  using model_type = Transformer<C, T, D>;
  using block_type = LoraBlock<C, Rank, T, D>;
  using device_type = D;
  static constexpr index_t rank = Rank;

  LoraAdapters(model_type& model, LoraConfig config = {})
      : model_(model), config_(std::move(config)), blocks_(model.blocks.size()) {
    check_config();
    Rng init_rng(config_.seed);
    std::uint64_t dropout_key = 0;
    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      if (!layer_selected(config_, index_t(l))) continue;
      block_type::for_each_site(blocks_[l], model_.blocks[l], [&](std::string_view site, auto& adapter, auto& layer) {
        const std::string path = std::string(names::blocks) + "." + std::to_string(l) + "." + std::string(site);
        if (!module_targeted(config_, path)) return;
        adapter.emplace(init_rng, layer.input_width(), layer.output_width(), config_.options, mix64(config_.seed ^ ++dropout_key));
        sites_.push_back({path, site, index_t(l), layer.input_width(), layer.output_width()});
      });
    }
    name_parameters(*this);
    // Attach last, and only to free slots, so that a refused configuration leaves the model
    // untouched.
    for_each_attached([&](const LoraSite& site, auto&, auto& layer) {
      if (layer.adapter.attached())
        throw value_error("LoraAdapters: " + site.module_path + " already has an adapter (another LoraAdapters is attached)");
    });
    for_each_attached([&](const LoraSite&, auto& adapter, auto& layer) { layer.adapter.attach(adapter); });
    for_each_parameter(model_, [&](std::string_view, auto& p) { frozen_before_.push_back(p.frozen()); });
    freeze(model_);
  }

  LoraAdapters(const LoraAdapters&) = delete;
  LoraAdapters& operator=(const LoraAdapters&) = delete;

  ~LoraAdapters() {
    if (merged_) unmerge();
    for_each_attached([&](const LoraSite&, auto&, auto& layer) { layer.adapter.detach(); });
    std::size_t i = 0;
    for_each_parameter(model_, [&](std::string_view, auto& p) { p.freeze(frozen_before_[i++]); });
  }

  const LoraConfig& config() const noexcept { return config_; }
  double scale() const noexcept { return lora_scale(config_.options, Rank); }
  // The attached adapters, in the order of the adapter state's columns.
  const std::vector<LoraSite>& sites() const noexcept { return sites_; }
  // Columns of the adapter state: one per site and rank.
  index_t state_width() const noexcept { return index_t(sites_.size()) * Rank; }

  // The trainable parameters: every lora_A and lora_B, none of the model's.
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }
  index_t trainable_parameter_count() const { return parameter_count(*this); }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit(names::blocks, self.blocks_);
  }

  // Dropout on (training) or off (evaluation), for every adapter.
  void set_training(bool training) {
    for_each_attached([&](const LoraSite&, auto& adapter, auto&) { adapter.set_training(training); });
  }

  // Ablation: enabled(site) says which adapters keep acting; the others pass their layer's
  // output through. enable_all() undoes it.
  void set_enabled(const std::function<bool(const LoraSite&)>& enabled) {
    for_each_attached([&](const LoraSite& site, auto& adapter, auto&) { adapter.set_enabled(enabled(site)); });
  }
  void enable_all() {
    set_enabled([](const LoraSite&) { return true; });
  }

  // Folds scale·B·A into each adapted layer's weight (PEFT's merge_adapter): the model alone
  // then computes what model + adapters computed, to float rounding. The weights before
  // merging are kept, so that unmerge() restores them exactly.
  void merge() {
    if (merged_) return;
    original_weights_.clear();
    for_each_attached([&](const LoraSite&, auto& adapter, auto& layer) {
      original_weights_.push_back(detail::weight_on_host(layer));
      detail::set_weight_from_host(layer, detail::weight_plus(layer, adapter.delta_weight()));
      adapter.set_merged(true);
    });
    merged_ = true;
  }
  void unmerge() {
    if (!merged_) return;
    std::size_t i = 0;
    for_each_attached([&](const LoraSite&, auto& adapter, auto& layer) {
      detail::set_weight_from_host(layer, original_weights_[i++]);
      adapter.set_merged(false);
    });
    original_weights_.clear();
    merged_ = false;
  }
  bool merged() const noexcept { return merged_; }

  // The adapter state of one forward pass: run() must run the model once (under no_grad if no
  // training is wanted); the result has one row per token of that forward (batch·seq, in
  // order) and state_width() columns: site s, rank j in column s·Rank + j.
  template <class Run>
  Tensor<float, Shape<dyn, dyn>> capture_state(Run&& run) {
    std::vector<float> table;
    std::size_t s = 0;
    for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
      adapter.set_sink({&table, state_width(), index_t(s++) * Rank});
    });
    struct StopCapture {
      LoraAdapters& self;
      ~StopCapture() {
        self.for_each_attached([](const LoraSite&, auto& adapter, auto&) { adapter.set_sink({}); });
      }
    } stop{*this};
    run();
    const index_t width = std::max<index_t>(state_width(), 1);
    Tensor<float, Shape<dyn, dyn>> state(Shape<dyn, dyn>{index_t(table.size()) / width, state_width()});
    std::copy(table.begin(), table.end(), state.data());
    return state;
  }

  // Runs run() with every adapter's activations read from `state` instead of computed as A·x:
  // a table of capture_state's layout (tokens, state_width()), one row per token of that one
  // forward. Evaluation only (run the forward under no_grad): splicing a sparse autoencoder's
  // reconstruction of the state back into the model measures what the model loses by it. With
  // the state capture_state gave, the model computes what it computed, bit for bit; a row of
  // zeros is the adapters switched off for that token.
  template <class Run>
  void replace_state(const Tensor<float, Shape<dyn, dyn>>& state, Run&& run) {
    if (state.extent(1) != state_width())
      throw shape_error("LoraAdapters::replace_state: the state has " + std::to_string(state.extent(1)) + " columns, the adapters' state " +
                        std::to_string(state_width()) + " (sites x rank)");
    if (merged_) throw value_error("LoraAdapters::replace_state: the adapters are merged into the model (unmerge first)");
    std::size_t s = 0;
    for_each_attached([&](const LoraSite&, auto& adapter, auto&) {
      adapter.set_source({state.data(), state.extent(0), state_width(), index_t(s++) * Rank});
    });
    struct StopReplacing {
      LoraAdapters& self;
      ~StopReplacing() {
        self.for_each_attached([](const LoraSite&, auto& adapter, auto&) { adapter.set_source({}); });
      }
    } stop{*this};
    run();
  }

  // f(module path, generator) for the dropout generator of every attached adapter whose dropout
  // is in force (p > 0), in state order: training state beside the parameters, which
  // training_state::add_model registers.
  template <class F>
  void for_each_dropout_generator(F&& f) {
    for_each_attached([&](const LoraSite& site, auto& adapter, auto&) {
      if (adapter.options().dropout > 0) f(std::string_view(site.module_path), adapter.dropout_generator());
    });
  }

  // f(site, adapter, layer) for every attached adapter, in state order, with their full types.
  template <class F>
  void for_each_attached(F&& f) {
    std::size_t s = 0;
    for (std::size_t l = 0; l < blocks_.size(); ++l)
      block_type::for_each_site(blocks_[l], model_.blocks[l], [&](std::string_view, auto& adapter, auto& layer) {
        if constexpr (!std::is_same_v<std::remove_cvref_t<decltype(adapter)>, Absent>)
          if (adapter) f(sites_[s++], *adapter, layer);
      });
  }

  model_type& model() noexcept { return model_; }
  const model_type& model() const noexcept { return model_; }

  // The module paths `config` selects in `model`, in state order (what the adapters built from
  // it would attach to).
  static std::vector<std::string> selected_paths(const model_type& model, const LoraConfig& config) {
    std::vector<std::string> paths;
    for (std::size_t l = 0; l < model.blocks.size(); ++l) {
      if (!layer_selected(config, index_t(l))) continue;
      for (std::size_t s = 0; s < block_type::site_count; ++s) {
        std::string path = std::string(names::blocks) + "." + std::to_string(l) + "." + std::string(block_type::all_sites[s]);
        if (module_targeted(config, path)) paths.push_back(std::move(path));
      }
    }
    return paths;
  }

 private:
  void check_config() const {
    const index_t layers = index_t(model_.blocks.size());
    for (const index_t l : config_.layers)
      if (l < 0 || l >= layers)
        throw value_error("LoraAdapters: layer " + std::to_string(l) + " does not exist (the model has " + std::to_string(layers) +
                          " layers)");
    for (const std::string& target : config_.target_modules) {
      bool found = false;
      for (index_t l = 0; l < layers && !found; ++l)
        for (std::size_t s = 0; s < block_type::site_count && !found; ++s)
          found = detail::matches_target(std::string(names::blocks) + "." + std::to_string(l) + "." +
                                             std::string(block_type::all_sites[s]),
                                         target);
      if (!found) {
        std::string known;
        for (std::size_t s = 0; s < block_type::site_count; ++s) known += (s ? ", " : "") + std::string(block_type::all_sites[s]);
        throw value_error("LoraAdapters: target module '" + target + "' matches no projection of this model (it has " + known +
                          " in every layer)");
      }
    }
    if (!(config_.options.dropout >= 0 && config_.options.dropout < 1))
      throw value_error("LoraAdapters: dropout must be in [0, 1), got " + std::to_string(config_.options.dropout));
  }

  static bool layer_selected(const LoraConfig& config, index_t layer) {
    return config.layers.empty() || std::find(config.layers.begin(), config.layers.end(), layer) != config.layers.end();
  }
  static bool module_targeted(const LoraConfig& config, std::string_view path) {
    if (config.target_modules.empty()) return true;
    return std::any_of(config.target_modules.begin(), config.target_modules.end(),
                       [&](const std::string& target) { return detail::matches_target(path, target); });
  }

  model_type& model_;
  LoraConfig config_;
  std::vector<block_type> blocks_;
  std::vector<LoraSite> sites_;
  std::vector<bool> frozen_before_;
  std::vector<std::vector<T>> original_weights_;
  bool merged_ = false;
};

}  // namespace ranklens
