// The contract of an optimizer whose state can be saved and restored by name, so that a
// checkpoint (io/checkpoint.hpp) holds any optimizer without knowing which it is.
//
// OptimizerWithState<O>:
//
//   O::kind                     its name in files: "AdamW", "SGD"
//   O::key                      the prefix of its tensor and metadata names: "adamw", "sgd"
//   O::state_names              the names of the tensors it keeps per parameter, PyTorch's where
//                               PyTorch has them: {"exp_avg", "exp_avg_sq"}, {"momentum_buffer"}
//   optimizer.parameters()      the ParameterList it updates; parameter i's state belongs to entry i
//   optimizer.state(i, name)    parameter i's state tensor `name` as bytes (the parameter's dtype
//                               and numel) in the memory of the optimizer's device (its
//                               device_type, cpu_t if it names none), or an empty span while
//                               parameter i has no state
//   optimizer.create_state(i)   gives parameter i zeroed state (kept, and zeroed, if it has some)
//   optimizer.release_state(i)  drops parameter i's state: it starts afresh at its next update
//   optimizer.settings()        its options and step count as key/value text: {"lr", "0.001"}, ...
//   optimizer.check_settings(s) throws value_error if saved settings `s` cannot continue in this
//                               optimizer (an option that differs), io_error if they are malformed
//   optimizer.restore_settings(s) takes over the learning rate and step count of checked settings
//
// State exists only for parameters the optimizer has updated (PyTorch's lazy state), so a frozen
// parameter, or one no gradient reached, costs no optimizer memory.
#pragma once
#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/core/error.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/optim/parameter_list.hpp"

namespace ranklens {

// Shortest text that reads back as the same double.
inline std::string exact_text(double value) {
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
}

// An optimizer's settings as key/value text, with typed reading. A missing key or unreadable
// value is an io_error (the settings were damaged on their way), naming the key.
class OptimizerSettings {
 public:
  void set(std::string key, std::string value) { values_[std::move(key)] = std::move(value); }
  void set(std::string key, const char* value) { set(std::move(key), std::string(value)); }
  void set(std::string key, double value) { set(std::move(key), exact_text(value)); }
  void set(std::string key, bool value) { set(std::move(key), std::string(value ? "true" : "false")); }
  void set(std::string key, long long value) { set(std::move(key), std::to_string(value)); }

  const std::map<std::string, std::string, std::less<>>& values() const noexcept { return values_; }
  bool contains(std::string_view key) const { return values_.find(key) != values_.end(); }

  const std::string& text(std::string_view key) const {
    const auto found = values_.find(key);
    if (found == values_.end()) throw io_error("the optimizer settings have no '" + std::string(key) + "'");
    return found->second;
  }
  double real(std::string_view key) const { return parse<double>(key, "a number"); }
  long long integer(std::string_view key) const { return parse<long long>(key, "an integer"); }
  bool boolean(std::string_view key) const {
    const std::string& value = text(key);
    if (value != "true" && value != "false") throw io_error("'" + std::string(key) + "' is '" + value + "', not true or false");
    return value == "true";
  }

  // Throws value_error unless the saved option `key` equals `mine`, naming both values.
  void require_equal(std::string_view optimizer_kind, std::string_view key, double mine) const {
    const double saved = real(key);
    if (saved != mine)
      throw value_error("the saved " + std::string(optimizer_kind) + " has " + std::string(key) + " = " + exact_text(saved) +
                        ", the registered one " + exact_text(mine) + "; build the optimizer with the saved options");
  }
  void require_equal(std::string_view optimizer_kind, std::string_view key, bool mine) const {
    if (boolean(key) != mine)
      throw value_error("the saved " + std::string(optimizer_kind) + " has " + std::string(key) + " = " + text(key) +
                        ", the registered one the opposite; build the optimizer with the saved options");
  }

 private:
  template <class Number>
  Number parse(std::string_view key, const char* what) const {
    const std::string& value = text(key);
    Number parsed{};
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error != std::errc() || end != value.data() + value.size())
      throw io_error("'" + std::string(key) + "' is '" + value + "', not " + what);
    return parsed;
  }

  std::map<std::string, std::string, std::less<>> values_;
};

// Count state tensors per parameter, each of the parameter's dtype and numel, on device D,
// created (zeroed) when the optimizer first updates the parameter: the storage behind AdamW's
// and SGD's state().
template <std::size_t Count, Device D = cpu_t>
class LazyParameterState {
 public:
  explicit LazyParameterState(const ParameterList& params) : bytes_per_tensor_(params.size()), tensors_(params.size()) {
    for (std::size_t i = 0; i < params.size(); ++i) bytes_per_tensor_[i] = size_of(params[i].type) * std::size_t(params[i].numel);
  }

  bool has(std::size_t i) const { return !tensors_.at(i).empty(); }
  // Tensor k of parameter i as bytes in D's memory, or an empty span while parameter i has no
  // state.
  std::span<std::byte> tensor(std::size_t i, std::size_t k) {
    auto& tensors = tensors_.at(i);
    return tensors.empty() ? std::span<std::byte>() : std::span<std::byte>(tensors[k].data(), tensors[k].bytes());
  }
  template <class T>
  T* data(std::size_t i, std::size_t k) {
    return reinterpret_cast<T*>(tensors_.at(i).at(k).data());
  }
  void create(std::size_t i) {
    auto& tensors = tensors_.at(i);
    if (tensors.empty()) {
      for (std::size_t k = 0; k < Count; ++k) tensors.push_back(bytes::zeros(Shape<dyn>{index_t(bytes_per_tensor_[i])}));
      return;
    }
    for (auto& tensor : tensors) device_memory<D>::zero(tensor.data(), tensor.bytes());
  }
  void release(std::size_t i) { std::vector<bytes>().swap(tensors_.at(i)); }

 private:
  using bytes = Tensor<std::byte, Shape<dyn>, D>;
  std::vector<std::size_t> bytes_per_tensor_;
  std::vector<std::vector<bytes>> tensors_;  // per parameter: none, or Count tensors
};

template <class O>
concept OptimizerWithState =
    requires(O& optimizer, const O& view, std::size_t i, std::string_view name, const OptimizerSettings& settings) {
      { O::kind } -> std::convertible_to<std::string_view>;
      { O::key } -> std::convertible_to<std::string_view>;
      { O::state_names } -> std::convertible_to<std::span<const std::string_view>>;
      { view.parameters() } -> std::same_as<const ParameterList&>;
      { optimizer.state(i, name) } -> std::same_as<std::span<std::byte>>;
      optimizer.create_state(i);
      optimizer.release_state(i);
      { view.settings() } -> std::same_as<OptimizerSettings>;
      view.check_settings(settings);
      optimizer.restore_settings(settings);
    };

}  // namespace ranklens
