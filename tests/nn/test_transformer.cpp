#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "nn_test_support.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/reduce.hpp"
#include "ranklens/optim/adamw.hpp"

namespace nn_test_transformer {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

// Untied, visible rotations (θ = 100), 4 query heads over 2 key/value heads of width 4.
struct TinyQwen : Qwen2Like<16, 2, 4, 2, 13, 24, /*TiedEmbeddings=*/false> {
  static constexpr double rope_theta = 100.0;
};
using TinyGpt2 = Gpt2Like<16, 2, 4, 13, 8>;  // tied, learned positions
struct AttentionOnly : Qwen2Like<8, 2, 2, 1, 7> {
  static constexpr mlp_kind mlp = mlp_kind::none;
};

// ---- the reference: every formula spelled out with plain loops over one sequence ----

namespace reference {

using Rows = std::vector<std::vector<double>>;  // (position, width)
using Dict = std::map<std::string, std::vector<double>>;

// y = x·Wᵀ + b with W (out, in) as nn.Linear stores it, or y = x·W + b with W (in, out) as
// HF's Conv1D stores it.
Rows affine(const Rows& x, const std::vector<double>& w, const std::vector<double>* b, std::size_t in, std::size_t out,
            bool stored_out_by_in) {
  Rows y(x.size(), std::vector<double>(out));
  for (std::size_t t = 0; t < x.size(); ++t)
    for (std::size_t o = 0; o < out; ++o) {
      double sum = b ? (*b)[o] : 0.0;
      for (std::size_t i = 0; i < in; ++i) sum += x[t][i] * (stored_out_by_in ? w[o * in + i] : w[i * out + o]);
      y[t][o] = sum;
    }
  return y;
}

Rows rms_norm(const Rows& x, const std::vector<double>& w, double eps) {
  Rows y = x;
  for (auto& row : y) {
    double squares = 0;
    for (double v : row) squares += v * v;
    const double inv = 1 / std::sqrt(squares / double(row.size()) + eps);
    for (std::size_t i = 0; i < row.size(); ++i) row[i] = row[i] * inv * w[i];
  }
  return y;
}

Rows layer_norm(const Rows& x, const std::vector<double>& w, const std::vector<double>& b, double eps) {
  Rows y = x;
  for (auto& row : y) {
    double mean = 0, var = 0;
    for (double v : row) mean += v;
    mean /= double(row.size());
    for (double v : row) var += (v - mean) * (v - mean);
    var /= double(row.size());
    for (std::size_t i = 0; i < row.size(); ++i) row[i] = (row[i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
  }
  return y;
}

// HF's rotate_half convention; angles and cos/sin in float32 as HF computes its cache.
void rope(Rows& x, std::size_t heads, std::size_t head_dim, double theta) {
  const std::size_t half = head_dim / 2;
  for (std::size_t t = 0; t < x.size(); ++t)
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t i = 0; i < half; ++i) {
        const float inv_freq = 1.0f / std::pow(float(theta), float(2 * i) / float(head_dim));
        const double angle = double(float(t) * inv_freq);
        const double c = double(float(std::cos(angle))), s = double(float(std::sin(angle)));
        double& a = x[t][h * head_dim + i];
        double& b = x[t][h * head_dim + i + half];
        const double a0 = a, b0 = b;
        a = a0 * c - b0 * s;
        b = b0 * c + a0 * s;
      }
}

// Causal attention; query head h reads key/value head h / (heads / kv_heads).
Rows attention(const Rows& q, const Rows& k, const Rows& v, std::size_t heads, std::size_t kv_heads, std::size_t head_dim) {
  const std::size_t T = q.size(), group = heads / kv_heads;
  Rows z(T, std::vector<double>(heads * head_dim, 0.0));
  for (std::size_t h = 0; h < heads; ++h) {
    const std::size_t kv = h / group;
    for (std::size_t i = 0; i < T; ++i) {
      std::vector<double> p(i + 1);
      double max_score = -1e300, total = 0;
      for (std::size_t j = 0; j <= i; ++j) {
        double s = 0;
        for (std::size_t d = 0; d < head_dim; ++d) s += q[i][h * head_dim + d] * k[j][kv * head_dim + d];
        p[j] = s / std::sqrt(double(head_dim));
        max_score = std::max(max_score, p[j]);
      }
      for (auto& e : p) total += (e = std::exp(e - max_score));
      for (std::size_t j = 0; j <= i; ++j)
        for (std::size_t d = 0; d < head_dim; ++d) z[i][h * head_dim + d] += p[j] / total * v[j][kv * head_dim + d];
    }
  }
  return z;
}

void add_into(Rows& h, const Rows& delta) {
  for (std::size_t t = 0; t < h.size(); ++t)
    for (std::size_t i = 0; i < h[t].size(); ++i) h[t][i] += delta[t][i];
}

Rows embed(const std::vector<std::int32_t>& tokens, const std::vector<double>& table, std::size_t width) {
  Rows h;
  for (auto id : tokens) h.emplace_back(table.begin() + std::ptrdiff_t(id * width), table.begin() + std::ptrdiff_t((id + 1) * width));
  return h;
}

// Qwen2ForCausalLM.forward for one sequence, reading HF-named weights.
Rows qwen2(const Dict& p, const std::vector<std::int32_t>& tokens, std::size_t layers, std::size_t d, std::size_t heads,
           std::size_t kv_heads, std::size_t mlp, std::size_t vocab, double theta, double eps, bool tied) {
  const std::size_t hd = d / heads;
  Rows h = embed(tokens, p.at("model.embed_tokens.weight"), d);
  for (std::size_t l = 0; l < layers; ++l) {
    const std::string layer = "model.layers." + std::to_string(l) + ".";
    const Rows n = rms_norm(h, p.at(layer + "input_layernorm.weight"), eps);
    auto proj = [&](const char* name, std::size_t out) {
      const std::string base = layer + "self_attn." + name;
      return affine(n, p.at(base + ".weight"), &p.at(base + ".bias"), d, out, true);
    };
    Rows q = proj("q_proj", heads * hd), k = proj("k_proj", kv_heads * hd), v = proj("v_proj", kv_heads * hd);
    rope(q, heads, hd, theta);
    rope(k, kv_heads, hd, theta);
    add_into(h, affine(attention(q, k, v, heads, kv_heads, hd), p.at(layer + "self_attn.o_proj.weight"), nullptr, d, d, true));
    const Rows n2 = rms_norm(h, p.at(layer + "post_attention_layernorm.weight"), eps);
    Rows gate = affine(n2, p.at(layer + "mlp.gate_proj.weight"), nullptr, d, mlp, true);
    const Rows up = affine(n2, p.at(layer + "mlp.up_proj.weight"), nullptr, d, mlp, true);
    for (std::size_t t = 0; t < gate.size(); ++t)
      for (std::size_t j = 0; j < mlp; ++j) gate[t][j] = gate[t][j] / (1 + std::exp(-gate[t][j])) * up[t][j];
    add_into(h, affine(gate, p.at(layer + "mlp.down_proj.weight"), nullptr, mlp, d, true));
  }
  const Rows final_norm = rms_norm(h, p.at("model.norm.weight"), eps);
  return affine(final_norm, p.at(tied ? "model.embed_tokens.weight" : "lm_head.weight"), nullptr, d, vocab, true);
}

// GPT2LMHeadModel.forward for one sequence (tied output projection).
Rows gpt2(const Dict& p, const std::vector<std::int32_t>& tokens, std::size_t layers, std::size_t d, std::size_t heads,
          std::size_t vocab, double eps) {
  const std::size_t hd = d / heads, mlp = 4 * d;
  Rows h = embed(tokens, p.at("transformer.wte.weight"), d);
  const auto& wpe = p.at("transformer.wpe.weight");
  for (std::size_t t = 0; t < h.size(); ++t)
    for (std::size_t i = 0; i < d; ++i) h[t][i] += wpe[t * d + i];
  for (std::size_t l = 0; l < layers; ++l) {
    const std::string block = "transformer.h." + std::to_string(l) + ".";
    const Rows n = layer_norm(h, p.at(block + "ln_1.weight"), p.at(block + "ln_1.bias"), eps);
    const Rows qkv = affine(n, p.at(block + "attn.c_attn.weight"), &p.at(block + "attn.c_attn.bias"), d, 3 * d, false);
    Rows q(h.size()), k(h.size()), v(h.size());
    for (std::size_t t = 0; t < h.size(); ++t) {
      q[t].assign(qkv[t].begin(), qkv[t].begin() + std::ptrdiff_t(d));
      k[t].assign(qkv[t].begin() + std::ptrdiff_t(d), qkv[t].begin() + std::ptrdiff_t(2 * d));
      v[t].assign(qkv[t].begin() + std::ptrdiff_t(2 * d), qkv[t].end());
    }
    add_into(h, affine(attention(q, k, v, heads, heads, hd), p.at(block + "attn.c_proj.weight"), &p.at(block + "attn.c_proj.bias"),
                       d, d, false));
    const Rows n2 = layer_norm(h, p.at(block + "ln_2.weight"), p.at(block + "ln_2.bias"), eps);
    Rows hidden = affine(n2, p.at(block + "mlp.c_fc.weight"), &p.at(block + "mlp.c_fc.bias"), d, mlp, false);
    for (auto& row : hidden)
      for (double& x : row) x = 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
    add_into(h, affine(hidden, p.at(block + "mlp.c_proj.weight"), &p.at(block + "mlp.c_proj.bias"), mlp, d, false));
  }
  const Rows final_norm = layer_norm(h, p.at("transformer.ln_f.weight"), p.at("transformer.ln_f.bias"), eps);
  return affine(final_norm, p.at("transformer.wte.weight"), nullptr, d, vocab, true);
}

}  // namespace reference

template <class Logits, class Reference>
void require_matches_reference(const Logits& logits, const Tensor<std::int32_t, Shape<dyn, dyn>>& tokens, Reference&& forward) {
  for (index_t b = 0; b < tokens.extent(0); ++b) {
    std::vector<std::int32_t> sequence(std::size_t(tokens.extent(1)));
    for (index_t t = 0; t < tokens.extent(1); ++t) sequence[std::size_t(t)] = tokens(b, t);
    const auto expected = forward(sequence);
    for (index_t t = 0; t < tokens.extent(1); ++t)
      for (index_t v = 0; v < logits.extent(2); ++v)
        REQUIRE(logits(b, t, v) == Approx(expected[std::size_t(t)][std::size_t(v)]).epsilon(1e-11).margin(1e-12));
  }
}

}  // namespace

TEST_CASE("Transformer maps (batch, seq) token ids to (batch, seq, vocab) logits", "[nn][transformer]") {
  std::mt19937 rng(0);
  Transformer<TinyQwen> qwen(rng);
  Transformer<TinyGpt2> gpt2(rng);
  Transformer<AttentionOnly> attention_only(rng);
  auto step = tape();
  const auto tokens = nn_test::random_tokens(3, 5, 7, 1);
  auto a = qwen(tokens);
  auto b = gpt2.forward(tokens);
  auto c = attention_only(tokens);
  static_assert(std::is_same_v<decltype(a), Var<float, Shape<dyn, dyn, 13>>>);
  static_assert(std::is_same_v<decltype(c), Var<float, Shape<dyn, dyn, 7>>>);
  CHECK(b.extent(0) == 3);
  CHECK(b.extent(1) == 5);
  CHECK(qwen.blocks.size() == 2);
  static_assert(std::is_same_v<decltype(gpt2.lm_head), Absent>);
  static_assert(std::is_same_v<decltype(qwen.position_embedding), Absent>);
}

TEST_CASE("a Qwen2-style forward matches the loop-by-loop reference", "[nn][transformer][reference]") {
  std::mt19937 rng(1);
  Transformer<TinyQwen, double> model(rng);
  nn_test::randomize_parameters(model, 2);
  const auto dict = nn_test::state_dict(model);
  const auto tokens = nn_test::random_tokens(2, 6, 13, 3);
  auto step = tape();
  const auto logits = model(tokens).to_tensor();
  require_matches_reference(logits, tokens, [&](const auto& sequence) {
    return reference::qwen2(dict, sequence, 2, 16, 4, 2, 24, 13, 100.0, 1e-6, false);
  });
}

TEST_CASE("a GPT-2-style forward matches the loop-by-loop reference", "[nn][transformer][reference]") {
  std::mt19937 rng(4);
  Transformer<TinyGpt2, double> model(rng);
  nn_test::randomize_parameters(model, 5);
  const auto dict = nn_test::state_dict(model);
  const auto tokens = nn_test::random_tokens(2, 7, 13, 6);
  auto step = tape();
  const auto logits = model(tokens).to_tensor();
  require_matches_reference(logits, tokens, [&](const auto& sequence) { return reference::gpt2(dict, sequence, 2, 16, 4, 13, 1e-5); });
}

TEST_CASE("whole models pass the gradient check with respect to a few parameters", "[nn][transformer][gradcheck]") {
  const auto tokens = nn_test::random_tokens(2, 4, 13, 7);
  std::mt19937 rng(8);
  SECTION("Qwen2 layout, untied") {
    Transformer<TinyQwen, double> model(rng);
    nn_test::randomize_parameters(model, 9);
    CHECK(nn_test::check_parameter_gradients([&] { return model(tokens, 2); }, model.token_embedding.weight,
                                             model.blocks[0].attention.q_proj.weight, *model.blocks[1].attention.v_proj.bias,
                                             model.blocks[1].mlp.gate_proj.weight, model.final_norm.weight,
                                             model.lm_head.weight));
  }
  SECTION("GPT-2 layout, tied: the embedding collects both uses") {
    Transformer<TinyGpt2, double> model(rng);
    nn_test::randomize_parameters(model, 10);
    CHECK(nn_test::check_parameter_gradients([&] { return model(tokens, 1); }, model.token_embedding.weight,
                                             model.position_embedding.weight, model.blocks[0].attention.c_proj.bias,
                                             model.blocks[1].mlp.c_fc.weight, model.final_norm.bias));
  }
}

TEST_CASE("initialisation is seeded and follows HF's scheme", "[nn][transformer][init]") {
  std::mt19937 a(42), b(42), c(43);
  Transformer<TinyGpt2> first(a), same(b), other(c);
  bool all_equal = true, any_different = false;
  for_each_parameter(first, [&](std::string_view name, const auto& p) {
    for_each_parameter(same, [&](std::string_view n2, const auto& q) {
      if constexpr (std::is_same_v<decltype(p), decltype(q)>)
        if (n2 == name) all_equal = all_equal && std::equal(p.value().span().begin(), p.value().span().end(), q.value().span().begin());
    });
    for_each_parameter(other, [&](std::string_view n2, const auto& q) {
      if constexpr (std::is_same_v<decltype(p), decltype(q)>)
        if (n2 == name && p.name().find("weight") != std::string::npos && p.name().find("ln") == std::string::npos)
          any_different = any_different || !std::equal(p.value().span().begin(), p.value().span().end(), q.value().span().begin());
    });
  });
  CHECK(all_equal);
  CHECK(any_different);
  // Norms start at weight 1, bias 0; every bias at 0; weight matrices and tables ~ N(0, 0.02²).
  for_each_parameter(first, [&](std::string_view name, const auto& p) {
    const auto values = p.value().span();
    const std::string n(name);
    if (n.find("ln_") != std::string::npos) {
      const float expected = n.ends_with("weight") ? 1.0f : 0.0f;
      CHECK(std::all_of(values.begin(), values.end(), [&](float v) { return v == expected; }));
    } else if (n.ends_with("bias")) {
      CHECK(std::all_of(values.begin(), values.end(), [](float v) { return v == 0.0f; }));
    } else {
      double squares = 0;
      for (float v : values) squares += double(v) * v;
      CAPTURE(n);
      CHECK(std::sqrt(squares / double(values.size())) == Approx(0.02).epsilon(0.25));
    }
  });
}

TEST_CASE("position_offset shifts positions: learned rows move, rotary logits only see distances", "[nn][transformer]") {
  std::mt19937 rng(11);
  Transformer<TinyQwen, double> qwen(rng);
  Transformer<TinyGpt2, double> gpt2(rng);
  nn_test::randomize_parameters(qwen, 12);
  nn_test::randomize_parameters(gpt2, 13);
  const auto tokens = nn_test::random_tokens(1, 4, 13, 14);
  auto step = tape();
  const auto at_zero = qwen(tokens).to_tensor(), at_five = qwen(tokens, 5).to_tensor();
  for (index_t i = 0; i < at_zero.numel(); ++i) REQUIRE(at_five.data()[i] == Approx(at_zero.data()[i]).epsilon(1e-5));
  CHECK(gpt2(tokens, 3).value()(0, 0, 0) != gpt2(tokens).value()(0, 0, 0));
  REQUIRE_THROWS_WITH(gpt2(tokens, 5), Catch::Contains("max_positions"));
}

TEST_CASE("frozen parameters get no gradient buffer and no optimizer state", "[nn][transformer][frozen]") {
  std::mt19937 rng(15);
  Transformer<TinyQwen> model(rng);
  const auto tokens = nn_test::random_tokens(2, 5, 13, 16);
  freeze(model);
  {
    auto step = tape();
    CHECK_FALSE(model(tokens).requires_grad());  // nothing to differentiate
  }
  model.final_norm.weight.freeze(false);  // e.g. one trainable part over a frozen base
  AdamW optimizer(parameters(model));
  {
    auto step = tape();
    backward(sum(model(tokens)));
  }
  optimizer.step();
  for_each_parameter(model, [&](std::string_view name, const auto& p) {
    CAPTURE(name);
    const bool trainable = name == "model.norm.weight";
    REQUIRE(p.has_grad() == trainable);
    if (trainable) {
      const auto g = p.grad().span();
      CHECK(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; }));
    }
  });
  for (std::size_t i = 0; i < optimizer.parameters().size(); ++i) {
    CAPTURE(optimizer.parameters()[i].name);
    CHECK(optimizer.state(i, "exp_avg").empty() == (optimizer.parameters()[i].name != "model.norm.weight"));
  }
}

}  // namespace nn_test_transformer
