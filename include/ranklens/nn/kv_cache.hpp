// KvCache<C, T, D>: the keys and values every attention layer has already computed, so that a
// model reading a sequence piece by piece (generation: the prompt, then one token per step)
// computes each position's keys and values once instead of once per step.
//
//   KvCache<Config> cache(batch, capacity);          // preallocated: no allocation per step
//   KvCache<Config> cache(model.dims(), batch, capacity);   // the same, for any Config (dyn sizes too)
//   auto guard = no_grad();
//   auto logits = model(prompt, cache);              // positions 0 .. P−1, cache.length() = P
//   logits = model(next_token, cache);               // position P attends to 0 .. P
//
// Each layer keeps (batch, capacity, n_kv_heads, head_dim) buffers of keys (after the rotary
// embedding, for RoPE models: a cached key is never rotated again) and values, in the
// (batch, position, head, head_dim) order of the projections, so a cached prefix is read
// through the same kind of strided view as freshly projected keys. The buffers are ordinary
// tensors on device D, outside the tape: what is written there outlives every tape scope, and no
// gradient flows into it.
//
// A forward with a cache writes the new positions and attends over all cached ones. When a
// gradient is wanted for the new positions (grad mode on and parameters trainable), the keys
// and values attended to are the cached prefix, as a constant, joined to the new, differentiable
// ones; otherwise (generation under no_grad) the buffer is read in place.
#pragma once
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "ranklens/backend/strided_copy.hpp"
#include "ranklens/nn/activation_types.hpp"
#include "ranklens/ops/concat.hpp"

namespace ranklens {

// One layer's part of a KvCache: its two buffers and how many positions they hold before the
// tokens of the current forward. A handle: copying it copies pointers.
template <TransformerConfig C, Real T, Device D = cpu_t>
class KvCacheLayer {
  using dims = config_dims<C>;

 public:
  using kv_heads = typename activation_types<C, T, D>::kv_heads;  // (batch, position, kv head, head_dim)
  using buffer_type = Tensor<T, Shape<dyn, dyn, dims::n_kv_heads, dims::head_dim>, D>;

  KvCacheLayer(buffer_type& keys, buffer_type& values, index_t cached) noexcept : keys_(&keys), values_(&values), cached_(cached) {}

  // Positions already cached: the position of the first new token.
  index_t cached() const noexcept { return cached_; }

  // Writes the new keys and values (B, T_new, kv heads, head_dim) at positions
  // [cached, cached + T_new) and returns the keys and values of positions [0, cached + T_new).
  std::pair<kv_heads, kv_heads> append(const kv_heads& new_keys, const kv_heads& new_values) const {
    return {append_one(*keys_, new_keys), append_one(*values_, new_values)};
  }

 private:
  kv_heads append_one(buffer_type& buffer, const kv_heads& fresh) const {
    const index_t total = cached_ + fresh.extent(1);
    if (fresh.extent(0) != buffer.extent(0) || total > buffer.extent(1))
      throw shape_error("KvCache: new keys/values of shape " + to_string(fresh.shape()) + " after " + std::to_string(cached_) +
                        " cached positions do not fit a cache of shape " + to_string(buffer.shape()) + " (batch, capacity, ...)");
    const auto target = slice<1>(buffer.view(), cached_, total);
    const auto source = fresh.value();
    backend::copy_strided<T>(D{}, source.shape().dims, source.data(), source.strides(), target.data(), target.strides(), grad_write::store);

    if (!any_requires_grad(fresh)) return slice<1>(constant(buffer), 0, total);
    // The new positions stay in the graph; the cached prefix is data, as PyTorch's past_key_values.
    if (cached_ == 0) return fresh;
    return concat<1>(slice<1>(constant(buffer), 0, cached_), fresh);
  }

  buffer_type* keys_;
  buffer_type* values_;
  index_t cached_;
};

template <TransformerConfig C, Real T = float, Device D = cpu_t>
class KvCache {
  using dims = config_dims<C>;

 public:
  using layer_type = KvCacheLayer<C, T, D>;
  using buffer_type = typename layer_type::buffer_type;
  using cached_view = TensorView<const T, Shape<dyn, dyn, dims::n_kv_heads, dims::head_dim>, D>;

  // Room for `capacity` positions of `batch` sequences in every layer, allocated now.
  KvCache(index_t batch, index_t capacity)
    requires StaticTransformerConfig<C>
      : KvCache(static_transformer_dims<C>(), batch, capacity) {}

  // The same for a model of sizes `sizes` (its dims()).
  KvCache(const transformer_dims& sizes, index_t batch, index_t capacity) : batch_(batch), capacity_(capacity), layers_(sizes.n_layers) {
    if (batch < 1 || capacity < 1)
      throw value_error("KvCache: batch and capacity must be positive, got batch " + std::to_string(batch) + ", capacity " +
                        std::to_string(capacity));
    checked_transformer_dims<C>(sizes, "KvCache");
    using buffer_shape = typename buffer_type::shape_type;
    const auto shape = buffer_shape::from_dims(std::array<index_t, 4>{batch, capacity, sizes.n_kv_heads, sizes.head_dim()}, "KvCache");
    keys_.reserve(std::size_t(layers_));
    values_.reserve(std::size_t(layers_));
    for (index_t l = 0; l < layers_; ++l) {
      keys_.push_back(buffer_type::zeros(shape));
      values_.push_back(buffer_type::zeros(shape));
    }
  }

  index_t batch() const noexcept { return batch_; }
  index_t capacity() const noexcept { return capacity_; }
  index_t layers() const noexcept { return layers_; }
  // Positions cached so far: the position offset of the next forward.
  index_t length() const noexcept { return length_; }

  // Forgets every position (the buffers stay allocated).
  void clear() noexcept { length_ = 0; }
  // Keeps only the first `length` positions, e.g. to continue a shared prompt differently.
  void truncate(index_t length) {
    if (length < 0 || length > length_)
      throw value_error("KvCache::truncate: length " + std::to_string(length) + " is not in [0, " + std::to_string(length_) + "]");
    length_ = length;
  }

  // Throws shape_error unless a forward of `new_tokens` positions of `batch` sequences fits.
  void check_fits(index_t batch, index_t new_tokens) const {
    if (batch != batch_ || length_ + new_tokens > capacity_)
      throw shape_error("KvCache: a forward of (batch " + std::to_string(batch) + ", " + std::to_string(new_tokens) +
                        " new tokens) does not fit a cache of batch " + std::to_string(batch_) + " holding " +
                        std::to_string(length_) + " of " + std::to_string(capacity_) + " positions");
  }

  // Layer `layer`'s handle for the forward now running; the model calls advance() after the
  // last layer has appended.
  layer_type layer(index_t layer) {
    const auto l = checked_layer(layer);
    return layer_type(keys_[l], values_[l], length_);
  }
  void advance(index_t new_tokens) {
    check_fits(batch_, new_tokens);
    length_ += new_tokens;
  }

  // The cached keys and values of one layer, positions [0, length()): (batch, position, kv head, head_dim).
  cached_view keys(index_t layer) const { return slice<1>(cached_view(keys_[checked_layer(layer)].view()), 0, length_); }
  cached_view values(index_t layer) const { return slice<1>(cached_view(values_[checked_layer(layer)].view()), 0, length_); }

 private:
  std::size_t checked_layer(index_t layer) const {
    if (layer < 0 || layer >= layers_)
      throw value_error("KvCache: layer " + std::to_string(layer) + " is not in [0, " + std::to_string(layers_) + ")");
    return std::size_t(layer);
  }

  index_t batch_;
  index_t capacity_;
  index_t layers_;
  index_t length_ = 0;
  std::vector<buffer_type> keys_;
  std::vector<buffer_type> values_;
};

}  // namespace ranklens
