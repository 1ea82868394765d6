// LoraBlock<C, Rank, T, D>: the LoRA adapters one TransformerBlock<C, T, D> can carry, one
// optional LowRankAdapter per projection, with the widths and the device of that projection. Which projections a
// layout has, in the order the adapter state lists them (the paper's q, k, v, o, gate, up,
// down for Qwen2):
//
//   Qwen2:  self_attn.q_proj  self_attn.k_proj  self_attn.v_proj  self_attn.o_proj
//           mlp.gate_proj     mlp.up_proj       mlp.down_proj          (nn.Linear, weight (out, in))
//   GPT-2:  attn.c_attn       attn.c_proj       mlp.c_fc          mlp.c_proj   (Conv1D, weight (in, out))
//
// Attention-only configurations have no MLP sites. Parameter names are the block-relative paths
// plus PEFT's "lora_A.weight" / "lora_B.weight".
#pragma once
#include <array>
#include <optional>
#include <string_view>
#include <type_traits>

#include "ranklens/adapt/low_rank_adapter.hpp"
#include "ranklens/nn/transformer_block.hpp"

namespace ranklens {

template <TransformerConfig C, index_t Rank, Real T, Device D = cpu_t, checkpoint_layout L = C::layout>
class LoraBlock;

namespace detail {
template <bool Present, index_t Rank, index_t In, index_t Out, Real T, Device D>
using optional_adapter = std::conditional_t<Present, std::optional<LowRankAdapter<Rank, In, Out, T, D>>, Absent>;
}  // namespace detail

template <TransformerConfig C, index_t Rank, Real T, Device D>
class LoraBlock<C, Rank, T, D, checkpoint_layout::qwen2> {
  using dims = config_dims<C>;
  static constexpr index_t d_model = dims::d_model, q_width = dims::query_width,
                           kv_width = dims::kv_width, mlp_width = dims::mlp_width;
  static constexpr bool has_mlp = dims::has_mlp;

 public:
  static constexpr std::array<std::string_view, 7> all_sites{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                             "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                             "mlp.down_proj"};
  static constexpr std::size_t site_count = has_mlp ? 7 : 4;

  // f(site name, optional adapter, the layer it adapts) for each site, in state order.
  template <class Self, class Block, class F>
  static void for_each_site(Self& self, Block& block, F&& f) {
    f(all_sites[0], self.q_proj, block.attention.q_proj);
    f(all_sites[1], self.k_proj, block.attention.k_proj);
    f(all_sites[2], self.v_proj, block.attention.v_proj);
    f(all_sites[3], self.o_proj, block.attention.o_proj);
    if constexpr (has_mlp) {
      f(all_sites[4], self.gate_proj, block.mlp.gate_proj);
      f(all_sites[5], self.up_proj, block.mlp.up_proj);
      f(all_sites[6], self.down_proj, block.mlp.down_proj);
    }
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit(all_sites[0], self.q_proj);
    visit(all_sites[1], self.k_proj);
    visit(all_sites[2], self.v_proj);
    visit(all_sites[3], self.o_proj);
    visit(all_sites[4], self.gate_proj);
    visit(all_sites[5], self.up_proj);
    visit(all_sites[6], self.down_proj);
  }

  std::optional<LowRankAdapter<Rank, d_model, q_width, T, D>> q_proj;
  std::optional<LowRankAdapter<Rank, d_model, kv_width, T, D>> k_proj;
  std::optional<LowRankAdapter<Rank, d_model, kv_width, T, D>> v_proj;
  std::optional<LowRankAdapter<Rank, q_width, d_model, T, D>> o_proj;
  [[no_unique_address]] detail::optional_adapter<has_mlp, Rank, d_model, mlp_width, T, D> gate_proj;
  [[no_unique_address]] detail::optional_adapter<has_mlp, Rank, d_model, mlp_width, T, D> up_proj;
  [[no_unique_address]] detail::optional_adapter<has_mlp, Rank, mlp_width, d_model, T, D> down_proj;
};

template <TransformerConfig C, index_t Rank, Real T, Device D>
class LoraBlock<C, Rank, T, D, checkpoint_layout::gpt2> {
  using dims = config_dims<C>;
  static constexpr index_t d_model = dims::d_model, mlp_width = dims::mlp_width;
  static constexpr bool has_mlp = dims::has_mlp;

 public:
  static constexpr std::array<std::string_view, 4> all_sites{"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
  static constexpr std::size_t site_count = has_mlp ? 4 : 2;

  template <class Self, class Block, class F>
  static void for_each_site(Self& self, Block& block, F&& f) {
    f(all_sites[0], self.c_attn, block.attention.c_attn);
    f(all_sites[1], self.attn_c_proj, block.attention.c_proj);
    if constexpr (has_mlp) {
      f(all_sites[2], self.c_fc, block.mlp.c_fc);
      f(all_sites[3], self.mlp_c_proj, block.mlp.c_proj);
    }
  }

  template <class Self, class Visit>
  static void visit_parameters(Self& self, Visit&& visit) {
    visit(all_sites[0], self.c_attn);
    visit(all_sites[1], self.attn_c_proj);
    visit(all_sites[2], self.c_fc);
    visit(all_sites[3], self.mlp_c_proj);
  }

  std::optional<LowRankAdapter<Rank, d_model, times_or_dyn(3, d_model), T, D>> c_attn;
  std::optional<LowRankAdapter<Rank, d_model, d_model, T, D>> attn_c_proj;
  [[no_unique_address]] detail::optional_adapter<has_mlp, Rank, d_model, mlp_width, T, D> c_fc;
  [[no_unique_address]] detail::optional_adapter<has_mlp, Rank, mlp_width, d_model, T, D> mlp_c_proj;
};

}  // namespace ranklens
