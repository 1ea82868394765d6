// Writes a feature dashboard (interp/feature_dashboard.hpp) for a sparse autoencoder trained on
// synthetic activations whose ground truth is known, for tools/test_feature_dashboard.sh and the
// screenshot in docs/img.
//
//   feature_dashboard_demo OUT.html
//
// The "model" is a made-up token stream in the style of arithmetic reasoning traces: digits,
// operators, brackets and a few words ("Wait", "So", ...), each token with one of four roles. The
// activation at a token is its role's direction + its own direction (+ a bracket-depth direction
// inside brackets) + noise, in 32 dimensions. A SparseAutoencoder<4, 32, 128> (BatchTopK) is
// trained on 64k such tokens; its JumpReLU codes on held-out sequences fill the dashboard, with
// the roles as ground truth for purity.
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "ranklens/interp/feature_dashboard.hpp"
#include "ranklens/sae/sae_trainer.hpp"

using namespace ranklens;

namespace {

constexpr index_t width = 32, latents = 128, length = 48;
using Sae = SparseAutoencoder<4, width, latents>;

struct Vocabulary {
  std::vector<std::string> tokens{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "-", "*", "=", "(", ")", " Wait", " So", " then", " answer"};
  std::string role(const std::string& t) const {
    if (t.size() == 1 && t[0] >= '0' && t[0] <= '9') return "digit";
    if (t == "(" || t == ")") return "bracket";
    if (t.size() == 1) return "operator";
    return "word";
  }
};

struct Stream {
  Vocabulary vocabulary;
  std::map<std::string, std::vector<double>> direction;  // role and token directions, unit norm
  std::vector<double> depth_direction;

  explicit Stream(std::uint64_t seed) {
    Rng gen(seed);
    auto unit = [&] {
      std::vector<double> v(static_cast<std::size_t>(width));
      double norm = 0;
      for (double& x : v) norm += (x = standard_normal(gen)) * x;
      for (double& x : v) x /= std::sqrt(norm);
      return v;
    };
    for (const char* r : {"digit", "operator", "bracket", "word"}) direction[std::string("role:") + r] = unit();
    for (const auto& t : vocabulary.tokens) direction[t] = unit();
    depth_direction = unit();
  }

  // A sequence of `length` tokens: digits and operators alternating, brackets now and then, and
  // a word every so often.
  std::vector<std::string> sequence(Rng& gen) const {
    std::vector<std::string> out;
    bool digit_next = true;
    int depth = 0;
    while (index_t(out.size()) < length) {
      const double u = unit_uniform(gen);
      if (u < 0.08) {
        out.push_back(vocabulary.tokens[std::size_t(16 + uniform_below(gen, 4))]);
      } else if (u < 0.15 && digit_next) {
        out.push_back("(");
        ++depth;
      } else if (u < 0.22 && !digit_next && depth > 0) {
        out.push_back(")");
        --depth;
      } else if (digit_next) {
        out.push_back(vocabulary.tokens[std::size_t(uniform_below(gen, 10))]);
        digit_next = false;
      } else {
        out.push_back(vocabulary.tokens[std::size_t(10 + uniform_below(gen, 4))]);
        digit_next = true;
      }
    }
    return out;
  }

  void activations(const std::vector<std::string>& tokens, Rng& gen, float* out) const {
    int depth = 0;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      if (tokens[t] == "(") ++depth;
      const auto& role = direction.at("role:" + vocabulary.role(tokens[t]));
      const auto& own = direction.at(tokens[t]);
      for (index_t i = 0; i < width; ++i)
        out[t * width + std::size_t(i)] = float(role[std::size_t(i)] + 0.8 * own[std::size_t(i)] +
                                                (depth > 0 ? 0.5 * depth_direction[std::size_t(i)] : 0.0) + 0.05 * standard_normal(gen));
      if (tokens[t] == ")") --depth;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: feature_dashboard_demo OUT.html\n");
    return 2;
  }
  try {
    const Stream stream(1);
    Rng gen(2);
    constexpr index_t train_sequences = 1344;  // 64512 tokens
    Tensor<float, Shape<dyn, width>> train(Shape<dyn, width>{train_sequences * length});
    for (index_t s = 0; s < train_sequences; ++s) stream.activations(stream.sequence(gen), gen, train.data() + s * length * width);

    Rng init(3);
    Sae sae(init, SaeActivation::batch_top_k);
    SaeTrainer trainer(sae, {.lr = 2e-3, .warmup_steps = 50, .decay_steps = 1500, .dead_after_tokens = 100000});
    trainer.initialise(train.view());
    for (index_t step = 0; step < 1500; ++step) {
      const index_t first = (step * 512) % (train.extent(0) - 512);
      trainer.step(TensorView<const float, Shape<dyn, width>, cpu_t>(train.data() + first * width, Shape<dyn, width>{512}));
    }

    interp::FeatureDashboard dashboard(latents, {.title = "SparseAutoencoder<4, 32, 128> on synthetic reasoning-trace activations",
                                                 .description = "Roles: digit, operator, bracket, word. JumpReLU codes on 64 held-out "
                                                                "sequences (tools/feature_dashboard_demo.cpp)."});
    auto guard = no_grad();
    for (index_t s = 0; s < 64; ++s) {
      const auto tokens = stream.sequence(gen);
      std::vector<std::string> roles;
      for (const auto& t : tokens) roles.push_back(stream.vocabulary.role(t));
      Tensor<float, Shape<dyn, width>> x(Shape<dyn, width>{length});
      stream.activations(tokens, gen, x.data());
      auto scope = tape();
      dashboard.add_sequence(std::span<const std::string>(tokens), std::span<const std::string>(roles),
                             sae.encode(constant(x), SaeActivation::jump_relu));
    }
    dashboard.write(argv[1]);
    index_t live = 0, pure = 0;
    for (const auto& f : dashboard.summaries())
      if (f.purity) ++live, pure += *f.purity >= 0.9;
    std::printf("wrote %s: %lld live features of %lld, %lld with purity >= 0.9\n", argv[1], (long long)live, (long long)latents, (long long)pure);
    return 0;
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "feature_dashboard_demo: %s\n", failure.what());
    return 1;
  }
}
