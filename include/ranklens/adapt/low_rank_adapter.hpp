// LowRankAdapter<Rank, In, Out>: a LoRA adapter (Hu et al. 2021) for a frozen affine layer of
// widths In → Out. Attached to the layer's AdapterSlot (nn/adapter_slot.hpp), it turns the
// layer's output into
//
//   y = W·x (+ b) + scale · B·A·dropout(x)        A: (Rank, In), B: (Out, Rank)
//
// as PEFT's LoRA layer computes it, with PEFT's names (lora_A.weight, lora_B.weight) and
// initialisation: A ~ U(±1/√In) (kaiming_uniform_ with a = √5), B = 0, so that a fresh adapter
// changes nothing, bit for bit. In and Out may be dyn, for the layers of a model whose sizes are
// known at run time: LowRankAdapter<1, dyn, dyn>(rng, in, out) takes them at construction. scale = alpha / Rank, or alpha / √Rank with rsLoRA
// (Kalajdzievski 2023, "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA").
//
// Ranks up to backend::low_rank_max_rank<D> (64 on the CPU, 16 on CUDA) run as dot products and
// axpys per row, added inside the layer's own product where they can be (ops/low_rank_affine.hpp,
// CPU only; else ops/low_rank_update.hpp); larger ones as two GEMMs. The adapter's activation
// u = A·x per token (one scalar for rank 1) can be captured (adapt/lora_adapters.hpp gathers them
// into the adapter state). A disabled adapter passes the layer's output through (ablation); a
// merged one has folded B·A into the layer's weight (adapt/lora_adapters.hpp) and passes it
// through too.
//
// The device D is the layer's: A and B live there (A drawn on the host from the caller's
// generator, the same draws on every device). Captured and replaced activations are host
// tables on every device, and delta_weight() is a host tensor: they are copied across.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ranklens/autograd/parameter.hpp"
#include "ranklens/backend/low_rank.hpp"
#include "ranklens/nn/adapter_slot.hpp"
#include "ranklens/nn/initialization.hpp"
#include "ranklens/nn/input_width.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/dropout.hpp"
#include "ranklens/ops/low_rank_affine.hpp"
#include "ranklens/ops/low_rank_update.hpp"
#include "ranklens/ops/matmul.hpp"

namespace ranklens {

struct LoraOptions {
  double alpha = 16;    // lora_alpha
  bool rslora = false;  // scale alpha / √rank instead of alpha / rank
  double dropout = 0;   // lora_dropout: on the adapter's input, in training only
};

inline double lora_scale(const LoraOptions& options, index_t rank) {
  return options.rslora ? options.alpha / std::sqrt(double(rank)) : options.alpha / double(rank);
}

// Where captured adapter activations go: row r of a forward's (rows, Rank) activations lands
// in row r, columns [first_column, first_column + Rank) of a (rows, width) table.
struct ActivationSink {
  std::vector<float>* table = nullptr;
  index_t width = 0;
  index_t first_column = 0;
};

// Where an adapter's activations come from instead of A·x (LoraAdapters::replace_state): row r
// of the forward's (rows, Rank) activations is row r, columns [first_column, first_column + Rank)
// of a (rows, width) table.
struct ActivationSource {
  const float* table = nullptr;
  index_t rows = 0;
  index_t width = 0;
  index_t first_column = 0;
};

template <index_t Rank, index_t In, index_t Out, Real T = float, Device D = cpu_t>
class LowRankAdapter final : public AffineAdapter<In, Out, T, D> {
  static_assert(Rank > 0, "LowRankAdapter<Rank, In, Out>: the rank must be a positive compile-time constant.");
  static_assert((In > 0 || In == dyn) && (Out > 0 || Out == dyn), "LowRankAdapter<Rank, In, Out>: both widths must be positive (or dyn).");

 public:
  using a_shape = Shape<Rank, In>;
  using b_shape = Shape<Out, Rank>;
  static constexpr index_t rank = Rank;
  static constexpr index_t in_features = In;
  static constexpr index_t out_features = Out;
  using device_type = D;

  // A from rng as PEFT initialises it; B zero. dropout_seed keys the dropout masks.
  template <class Generator>
    requires(In != dyn && Out != dyn)
  explicit LowRankAdapter(Generator& rng, LoraOptions options = {}, std::uint64_t dropout_seed = 0)
      : LowRankAdapter(rng, In, Out, options, dropout_seed) {}

  // The same with the widths given at run time (each must equal its static one, if any).
  template <class Generator>
  LowRankAdapter(Generator& rng, index_t in, index_t out, LoraOptions options = {}, std::uint64_t dropout_seed = 0)
      : lora_A(kaiming_uniform(rng, module_size(In, in, "LowRankAdapter", "the input width")), "lora_A.weight"),
        lora_B(Tensor<T, b_shape, D>::zeros(b_shape::from_dims(std::array<index_t, 2>{module_size(Out, out, "LowRankAdapter", "the output width"), Rank},
                                                            "LowRankAdapter")),
               "lora_B.weight"),
        options_(options),
        dropout_generator_(dropout_seed) {
    if (!(options.dropout >= 0 && options.dropout < 1))
      throw value_error("LowRankAdapter: dropout must be in [0, 1), got " + std::to_string(options.dropout));
    if (!std::isfinite(options.alpha)) throw value_error("LowRankAdapter: alpha must be finite");
  }

  // Not copyable or movable: layers point at it while it is attached.
  LowRankAdapter(const LowRankAdapter&) = delete;
  LowRankAdapter& operator=(const LowRankAdapter&) = delete;

  index_t input_width() const noexcept { return lora_A.shape()[1]; }
  index_t output_width() const noexcept { return lora_B.shape()[0]; }
  // The generator of the dropout masks: its call count is training state, which a checkpoint
  // saves (io/checkpoint.hpp) so that a resumed run draws the masks of one that never stopped.
  CounterGenerator& dropout_generator() const noexcept { return dropout_generator_; }

  // x: (..., In), base: the frozen layer's output (..., Out) for that x.
  template <ShapeType SX, ShapeType SY>
  Var<T, SY, D> operator()(const Var<T, SX, D>& x, const Var<T, SY, D>& base) const {
    static_assert(In == dyn || SX::static_extents[SX::rank - 1] == dyn || SX::static_extents[SX::rank - 1] == In,
                  "LowRankAdapter<Rank, In, Out>: the input's last extent must equal In.");
    static_assert(Out == dyn || SY::static_extents[SY::rank - 1] == dyn || SY::static_extents[SY::rank - 1] == Out,
                  "LowRankAdapter<Rank, In, Out>: the base output's last extent must equal Out.");
    const index_t in = input_width(), out = output_width(), rows = base.numel() / out;
    return reshape(adapt(reshape(x, Shape<dyn, In>::from_dims(std::array<index_t, 2>{rows, in}, "LowRankAdapter")),
                         reshape(base, Shape<dyn, Out>::from_dims(std::array<index_t, 2>{rows, out}, "LowRankAdapter"))),
                   base.shape());
  }

  Var<T, Shape<dyn, Out>, D> adapt(const Var<T, Shape<dyn, In>, D>& x, const Var<T, Shape<dyn, Out>, D>& base) const override {
    if (x.extent(0) != base.extent(0) || x.extent(1) != input_width() || base.extent(1) != output_width())
      throw shape_error("LowRankAdapter<" + std::to_string(Rank) + ", " + std::to_string(input_width()) + ", " +
                        std::to_string(output_width()) + ">: input " + to_string(x.shape()) + " and base output " + to_string(base.shape()) +
                        " do not fit");
    const bool adds = enabled_ && !merged_;
    if (source_.table != nullptr) return replaced(base);
    if (!adds && sink_.table == nullptr) return base;
    const Var<T, Shape<dyn, In>, D> input = options_.dropout > 0 ? dropout(x, options_.dropout, dropout_generator_, training_) : x;
    if (!adds) {  // only the activations are wanted
      auto guard = no_grad();
      capture(activations(input));
      return base;
    }
    if constexpr (row_kernels) {
      const auto result = low_rank_update(base, input, lora_A.var(), lora_B.var(), T(scale()));
      capture(result.activation);
      return result.output;
    } else {
      const auto u = matmul(input, transpose(lora_A.var()));
      capture(u);
      return base + matmul(u, transpose(lora_B.var())) * T(scale());
    }
  }

  // The layer and this adapter in one op (ops/low_rank_affine.hpp) when it adds A·x as it is:
  // enabled, not merged, no spliced activations, no dropout in force, a rank the row kernels
  // take, on the CPU (the op has no CUDA twin yet: there the layer's product and
  // low_rank_update run one after the other).
  std::optional<Var<T, Shape<dyn, Out>, D>> adapt_product(const Var<T, Shape<dyn, In>, D>& x, const Var<T, Shape<In, Out>, D>& w,
                                                          const std::optional<Var<T, Shape<Out>, D>>& bias) const override {
    if constexpr (!std::same_as<D, cpu_t> || Rank > cpu::low_rank_max_rank) {
      return std::nullopt;
    } else {
      if (!enabled_ || merged_ || source_.table != nullptr || (options_.dropout > 0 && training_)) return std::nullopt;
      if (x.extent(1) != input_width() || w.extent(0) != input_width() || w.extent(1) != output_width()) return std::nullopt;  // adapt() says why
      const auto result = low_rank_affine(x, w, bias, lora_A.var(), lora_B.var(), T(scale()));
      capture(result.activation);
      return result.output;
    }
  }

  // u = A·x per row: (rows, Rank), not differentiated; a host copy on every device.
  Tensor<T, Shape<dyn, Rank>> activations_of(const Var<T, Shape<dyn, In>, D>& x) const {
    auto guard = no_grad();
    return to_host(contiguous(activations(x)).value());
  }

  double scale() const noexcept { return lora_scale(options_, Rank); }
  const LoraOptions& options() const noexcept { return options_; }
  void set_options(const LoraOptions& options) { options_ = options; }

  // Ablation: a disabled adapter leaves the layer's output as it was.
  bool enabled() const noexcept { return enabled_; }
  void set_enabled(bool enabled) noexcept { enabled_ = enabled; }
  // Dropout applies in training only (PyTorch's module.train() / eval()).
  bool training() const noexcept { return training_; }
  void set_training(bool training) noexcept { training_ = training; }
  // Set while B·A is folded into the layer's weight (adapt/lora_adapters.hpp merges).
  bool merged() const noexcept { return merged_; }
  void set_merged(bool merged) noexcept { merged_ = merged; }
  // Where this adapter's activations go on each forward; a default sink stops capturing.
  void set_sink(ActivationSink sink) noexcept { sink_ = sink; }
  // Where its activations come from instead of A·x; a default source computes them again. For
  // evaluation only: a replaced adapter's output carries no gradient.
  void set_source(ActivationSource source) noexcept { source_ = source; }

  // The change to the layer's weight, scale · B·A, as an (Out, In) matrix in host memory (on
  // every device: merging adds it to the layer's weight through a host copy).
  Tensor<T, Shape<Out, In>> delta_weight() const {
    const index_t in = input_width(), out = output_width();
    auto delta = Tensor<T, Shape<Out, In>>::zeros(Shape<Out, In>::from_dims(std::array<index_t, 2>{out, in}, "LowRankAdapter"));
    const auto a_host = to_host(lora_A.value().view());
    const auto b_host = to_host(lora_B.value().view());
    const T* a = a_host.data();
    const T* b = b_host.data();
    for (index_t o = 0; o < out; ++o)
      for (index_t j = 0; j < Rank; ++j) {
        const T c = T(scale()) * b[o * Rank + j];
        for (index_t i = 0; i < in; ++i) delta.data()[o * in + i] += c * a[j * in + i];
      }
    return delta;
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("lora_A.weight", self.lora_A);
    visit("lora_B.weight", self.lora_B);
  }
  std::vector<ParameterRef> parameters() { return ranklens::parameters(*this); }

  Parameter<T, a_shape, D> lora_A;
  Parameter<T, b_shape, D> lora_B;

 private:
  // Whether the row kernels of D take this rank (else two GEMMs).
  static constexpr bool row_kernels = Rank <= backend::low_rank_max_rank<D>;

  template <class Generator>
  static Tensor<T, a_shape, D> kaiming_uniform(Generator& rng, index_t in) {
    const T bound = T(1) / std::sqrt(T(in));
    return on_device<D>(uniform_tensor<T>(a_shape::from_dims(std::array<index_t, 2>{Rank, in}, "LowRankAdapter"), -bound, bound, rng));
  }

  Var<T, Shape<dyn, Rank>, D> activations(const Var<T, Shape<dyn, In>, D>& x) const { return matmul(x, transpose(lora_A.var())); }

  // base + scale·u·Bᵀ with u read from source_ (set_source), for an enabled, unmerged adapter;
  // a disabled one leaves base as it is, as always.
  Var<T, Shape<dyn, Out>, D> replaced(const Var<T, Shape<dyn, Out>, D>& base) const {
    if (merged_) throw value_error("LowRankAdapter: cannot replace the activations of a merged adapter (unmerge it first)");
    if (grad_mode_enabled()) throw value_error("LowRankAdapter: replaced activations are for evaluation: run the forward under no_grad()");
    const index_t rows = base.extent(0), out = output_width();
    if (rows != source_.rows)
      throw shape_error("LowRankAdapter: the forward has " + std::to_string(rows) + " rows, but the replacement activations have " +
                        std::to_string(source_.rows) + " (one replacement must run one forward of as many tokens)");
    if (!enabled_) return base;
    Tensor<T, Shape<dyn, Rank>> host_u(Shape<dyn, Rank>{rows});
    for (index_t r = 0; r < rows; ++r)
      for (index_t j = 0; j < Rank; ++j) host_u.data()[r * Rank + j] = T(source_.table[r * source_.width + source_.first_column + j]);
    // Results in the tape's arena, as every op's: they outlive this call.
    auto u = new_var<T, Shape<dyn, Rank>, D>(Shape<dyn, Rank>{rows}, false);
    device_memory<D>::copy_from_host(u.mutable_data(), host_u.data(), host_u.bytes());
    if constexpr (!row_kernels) {
      return base + matmul(u, transpose(lora_B.var())) * T(scale());
    } else {
      // As adapt() computes it, so that equal u give equal outputs: the row kernels' forward
      // with x = u and A = the identity, whose activations are then u exactly (one nonzero
      // product per sum), and which adds scale·u·Bᵀ to y as adapt() does.
      auto host_identity = Tensor<T, Shape<Rank, Rank>>::zeros(Shape<Rank, Rank>{});
      for (index_t j = 0; j < Rank; ++j) host_identity.data()[j * Rank + j] = T(1);
      auto identity = new_var<T, Shape<Rank, Rank>, D>(Shape<Rank, Rank>{}, false);
      device_memory<D>::copy_from_host(identity.mutable_data(), host_identity.data(), host_identity.bytes());
      auto u_again = new_var<T, Shape<dyn, Rank>, D>(Shape<dyn, Rank>{rows}, false);
      auto y = clone(contiguous(base));
      backend::low_rank_forward<T>(D{}, u.value().data(), identity.value().data(), lora_B.value().data(), u_again.mutable_data(),
                                   y.mutable_data(), rows, Rank, out, Rank, T(scale()));
      return y;
    }
  }

  void capture(const Var<T, Shape<dyn, Rank>, D>& u) const {
    if (sink_.table == nullptr) return;
    const index_t rows = u.extent(0);
    std::vector<float>& table = *sink_.table;
    if (table.empty()) table.assign(std::size_t(rows * sink_.width), 0.0f);
    if (index_t(table.size()) != rows * sink_.width)
      throw shape_error("LowRankAdapter: captured " + std::to_string(rows) + " rows, but the activation table was sized for " +
                        std::to_string(index_t(table.size()) / std::max<index_t>(sink_.width, 1)) +
                        " (one capture must run one forward)");
    const auto host_u = to_host(contiguous(u).value());
    const auto values = host_u.view();
    for (index_t r = 0; r < rows; ++r)
      for (index_t j = 0; j < Rank; ++j)
        table[std::size_t(r * sink_.width + sink_.first_column + j)] = float(values(r, j));
  }

  LoraOptions options_;
  mutable CounterGenerator dropout_generator_;
  bool enabled_ = true;
  bool training_ = true;
  bool merged_ = false;
  ActivationSink sink_{};
  ActivationSource source_{};
};

}  // namespace ranklens
