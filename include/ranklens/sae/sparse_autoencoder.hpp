// SparseAutoencoder<K, DIn, DSae, T>: a TopK / BatchTopK sparse autoencoder (Gao et al. 2024,
// "Scaling and evaluating sparse autoencoders"; Bussmann et al. 2024, "BatchTopK sparse
// autoencoders") over activations of width DIn, with a dictionary of DSae latents of which K
// are active per token (on average over a batch, for BatchTopK):
//
//   pre  = (s·x − b_dec) · W_enc + b_enc          W_enc (DIn, DSae), b_enc (DSae)
//   z    = the chosen entries of pre, through a ReLU
//   x̂    = (z · W_dec + b_dec) / s                 W_dec (DSae, DIn), b_dec (DIn)
//
// with s the input scale (1 unless activations are normalised, SAELens' "expected_average_only_in")
// and the b_dec centring only when apply_b_dec_to_input (SAELens' default). Names and layouts are
// SAELens' (io/saelens_files.hpp reads and writes its directories).
//
// How z is chosen (SaeActivation):
//   top_k        the K largest pre-activations of each token (Gao et al.);
//   batch_top_k  the K·B largest positive ones of a batch of B tokens (Bussmann et al.), so that
//                tokens share a budget of K on average; the codes depend on the batch;
//   jump_relu    pre > θ_j per latent: BatchTopK's inference form, batch-independent, with θ
//                estimated during training (sae_trainer.hpp) as SAELens' BatchTopK does.
//
// Encoding is one dense product; everything after it, forward and backward, touches only the
// chosen entries (ops/sparse_encode.hpp, ops/sparse_decode.hpp). Parameters are walked by
// for_each_parameter under SAELens' names (W_enc, b_enc, W_dec, b_dec), so AdamW, checkpoints
// and named_parameters work unchanged.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <string_view>

#include "ranklens/backend/elementwise.hpp"
#include "ranklens/backend/unit_norm_rows.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/nn/module.hpp"
#include "ranklens/ops/arithmetic.hpp"
#include "ranklens/ops/sparse_decode.hpp"
#include "ranklens/ops/sparse_encode.hpp"

namespace ranklens {

enum class SaeActivation { top_k, batch_top_k, jump_relu };

constexpr std::string_view name_of(SaeActivation activation) noexcept {
  switch (activation) {
    case SaeActivation::top_k: return "top_k";
    case SaeActivation::batch_top_k: return "batch_top_k";
    case SaeActivation::jump_relu: return "jump_relu";
  }
  return "?";
}

// The four parameters as Vars on the current tape: the functional form of the autoencoder, for
// losses and gradient checks that differentiate with respect to Vars of any origin.
template <class T, index_t DIn, index_t DSae, Device D = cpu_t>
struct SaeVars {
  Var<T, Shape<DIn, DSae>, D> W_enc;
  Var<T, Shape<DSae>, D> b_enc;
  Var<T, Shape<DSae, DIn>, D> W_dec;
  Var<T, Shape<DIn>, D> b_dec;
};

// D: the device of the parameters and of every op (cuda_t in a .cu translation unit). The
// thresholds θ_j and the settings stay on the host; initialisation draws on the host.
template <index_t K, index_t DIn, index_t DSae, Real T = float, Device D = cpu_t>
class SparseAutoencoder {
  static_assert(K > 0, "SparseAutoencoder: K, the number of active latents per token, must be positive.");
  static_assert(DIn > 0, "SparseAutoencoder: the input width DIn must be positive.");
  static_assert(K <= DSae, "SparseAutoencoder: K cannot exceed the dictionary size DSae.");

 public:
  using value_type = T;
  using device_type = D;
  static constexpr index_t k = K;
  static constexpr index_t d_in = DIn;
  static constexpr index_t d_sae = DSae;
  using activations_type = Var<T, Shape<dyn, DIn>, D>;  // (tokens, DIn)
  using code_type = SparseActivations<T, D>;
  using vars_type = SaeVars<T, DIn, DSae, D>;

  Parameter<T, Shape<DIn, DSae>, D> W_enc;
  Parameter<T, Shape<DSae>, D> b_enc;
  Parameter<T, Shape<DSae, DIn>, D> W_dec;
  Parameter<T, Shape<DIn>, D> b_dec;

  SaeActivation activation = SaeActivation::batch_top_k;  // what encode() uses by default
  bool apply_b_dec_to_input = true;
  double input_scale = 1.0;                               // s above
  Tensor<T, Shape<DSae>> threshold = Tensor<T, Shape<DSae>>::zeros(Shape<DSae>{});  // θ_j of jump_relu
  std::string hook_name;                                  // where the activations come from (stored in files)

  // Gao et al.'s initialisation: decoder rows uniformly random on the unit sphere, the encoder
  // their transpose, both biases zero (the trainer then moves b_dec to the data's geometric median).
  // The normal draws are made on the host, so they are the same on every device; each device
  // scales the rows to unit norm itself (equal up to rounding).
  explicit SparseAutoencoder(Rng& rng, SaeActivation activation = SaeActivation::batch_top_k)
      : W_enc(Tensor<T, Shape<DIn, DSae>, D>(Shape<DIn, DSae>{}), "W_enc"),
        b_enc(Tensor<T, Shape<DSae>, D>::zeros(Shape<DSae>{}), "b_enc"),
        W_dec(on_device<D>(normal_draws(rng)), "W_dec"),
        b_dec(Tensor<T, Shape<DIn>, D>::zeros(Shape<DIn>{}), "b_dec"),
        activation(activation) {
    backend::normalize_rows(D{}, W_dec.value().data(), DSae, DIn);
    tie_encoder_to_decoder();
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit("W_enc", self.W_enc);
    visit("b_enc", self.b_enc);
    visit("W_dec", self.W_dec);
    visit("b_dec", self.b_dec);
  }

  // W_enc = W_decᵀ (through the host on a device).
  void tie_encoder_to_decoder() {
    const auto decoder = to_host(W_dec.value().view());
    Tensor<T, Shape<DIn, DSae>> encoder(Shape<DIn, DSae>{});
    for (index_t j = 0; j < DSae; ++j)
      for (index_t i = 0; i < DIn; ++i) encoder(i, j) = decoder(j, i);
    copy_from_host(W_enc.value(), encoder);
  }

  vars_type vars() const { return {W_enc.var(), b_enc.var(), W_dec.var(), b_dec.var()}; }

  // The rule `rule` for this autoencoder's K and thresholds.
  LatentSelector<T> selector(SaeActivation rule) const {
    switch (rule) {
      case SaeActivation::top_k: return LatentSelector<T>::top_k(K);
      case SaeActivation::batch_top_k: return LatentSelector<T>::batch_top_k(K);
      case SaeActivation::jump_relu: return LatentSelector<T>::jump_relu(threshold.span());
    }
    throw value_error("SparseAutoencoder: unknown activation rule");
  }

  code_type encode(const activations_type& x) const { return encode(x, activation); }
  code_type encode(const activations_type& x, SaeActivation rule) const {
    return encode_with<1>(vars(), x, std::array<LatentSelector<T>, 1>{selector(rule)})[0];
  }
  activations_type decode(const code_type& code) const { return decode_with(vars(), code); }

  // The reconstruction x̂ of x: (tokens, DIn), or any (..., DIn) shape (flattened and restored).
  template <ShapeType S>
  Var<T, S> operator()(const Var<T, S>& x) const {
    return reconstruct(x, activation);
  }
  template <ShapeType S>
  Var<T, S> reconstruct(const Var<T, S>& x, SaeActivation rule) const {
    static_assert(S::rank >= 1 && (S::static_extents[S::rank - 1] == DIn || S::static_extents[S::rank - 1] == dyn),
                  "SparseAutoencoder: the activations' last axis must have width DIn.");
    if (x.extent(S::rank - 1) != DIn)
      throw shape_error("SparseAutoencoder: activations of shape " + to_string(x.shape()) + " do not end in width " + std::to_string(DIn));
    const auto rows = reshape(x, Shape<dyn, DIn>{DIn > 0 ? x.numel() / DIn : 0});
    return reshape(decode(encode(rows, rule)), x.shape());
  }

  // Functional forms: encode with several selectors at once (one dense product), decode.
  template <std::size_t N>
  std::array<code_type, N> encode_with(const vars_type& v, const activations_type& x, const std::array<LatentSelector<T>, N>& selectors) const {
    const auto scaled = input_scale == 1.0 ? x : x * T(input_scale);
    if (apply_b_dec_to_input) return sparse_encode<N>(scaled, v.b_dec, v.W_enc, v.b_enc, selectors);
    return sparse_encode<N>(scaled, zero_centre(), v.W_enc, v.b_enc, selectors);
  }
  activations_type decode_with(const vars_type& v, const code_type& code) const {
    const auto y = sparse_decode(code, v.W_dec, v.b_dec);
    return input_scale == 1.0 ? y : y * T(1.0 / input_scale);
  }
  // code · W_dec / s, without b_dec (AuxK reconstructs a residual with it).
  activations_type decode_directions_with(const vars_type& v, const code_type& code) const {
    const auto y = sparse_decode(code, v.W_dec);
    return input_scale == 1.0 ? y : y * T(1.0 / input_scale);
  }

 private:
  static Var<T, Shape<DIn>, D> zero_centre() {
    auto zeros = new_var<T, Shape<DIn>, D>(Shape<DIn>{}, false);
    backend::fill<T>(D{}, zeros.mutable_data(), T(0), DIn);
    return zeros;
  }

  // (DSae, DIn) draws from a standard normal: rows that, scaled to unit norm, are uniform on the sphere.
  static Tensor<T, Shape<DSae, DIn>> normal_draws(Rng& rng) {
    Tensor<T, Shape<DSae, DIn>> rows(Shape<DSae, DIn>{});
    for (T& v : rows.span()) v = T(standard_normal(rng));
    return rows;
  }
};

}  // namespace ranklens
