// Hugging Face's module names for each checkpoint layout: the names a model's parameters take
// (model.layers.0.self_attn.q_proj.weight in Qwen2ForCausalLM, transformer.h.0.attn.c_attn.weight
// in GPT2LMHeadModel). Names inside a module (q_proj, c_attn, gate_proj, weight, bias) belong
// to the module itself; these are the ones that depend on the model family.
#pragma once
#include <string_view>

#include "ranklens/nn/transformer_config.hpp"

namespace ranklens {

template <checkpoint_layout L>
struct hf_names;

template <>
struct hf_names<checkpoint_layout::qwen2> {
  static constexpr std::string_view token_embedding = "model.embed_tokens";
  static constexpr std::string_view position_embedding = "";  // Qwen2 has rotary positions only
  static constexpr std::string_view blocks = "model.layers";
  static constexpr std::string_view final_norm = "model.norm";
  static constexpr std::string_view lm_head = "lm_head";
  static constexpr std::string_view attention_norm = "input_layernorm";
  static constexpr std::string_view attention = "self_attn";
  static constexpr std::string_view mlp_norm = "post_attention_layernorm";
  static constexpr std::string_view mlp = "mlp";
  // Qwen2DecoderLayer registers self_attn, mlp, input_layernorm, post_attention_layernorm.
  static constexpr bool norms_listed_last = true;
};

template <>
struct hf_names<checkpoint_layout::gpt2> {
  static constexpr std::string_view token_embedding = "transformer.wte";
  static constexpr std::string_view position_embedding = "transformer.wpe";
  static constexpr std::string_view blocks = "transformer.h";
  static constexpr std::string_view final_norm = "transformer.ln_f";
  static constexpr std::string_view lm_head = "lm_head";
  static constexpr std::string_view attention_norm = "ln_1";
  static constexpr std::string_view attention = "attn";
  static constexpr std::string_view mlp_norm = "ln_2";
  static constexpr std::string_view mlp = "mlp";
  // GPT2Block registers ln_1, attn, ln_2, mlp.
  static constexpr bool norms_listed_last = false;
};

}  // namespace ranklens
