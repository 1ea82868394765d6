#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/clip_grad_norm.hpp"
#include "ranklens/optim/optimizer_state.hpp"
#include "ranklens/optim/sgd.hpp"

namespace optim_test_optimizers {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {
using V = Shape<3>;
Parameter<double, V> param(std::initializer_list<double> value, std::initializer_list<double> grad) {
  Parameter<double, V> p(Tensor<double, V>(V{}, value), "p");
  p.gradient_buffer() = Tensor<double, V>(V{}, grad);
  return p;
}
}  // namespace

TEST_CASE("AdamW's first step moves each weight by lr·g/(|g|+eps) after decoupled decay", "[optim][adamw]") {
  auto p = param({1, -2, 3}, {0.5, -4, 0});
  AdamW opt({p.ref()}, {.lr = 0.1, .weight_decay = 0.01});
  opt.step();
  CHECK(p.value()(0) == Approx(1 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-12));
  CHECK(p.value()(1) == Approx(-2 * (1 - 0.1 * 0.01) + 0.1 * 4 / (4 + 1e-8)).epsilon(1e-12));
  CHECK(p.value()(2) == Approx(3 * (1 - 0.1 * 0.01)).epsilon(1e-12));
}

TEST_CASE("AdamW's second step follows the bias-corrected moments", "[optim][adamw]") {
  auto p = param({1, 1, 1}, {1, 1, 1});
  AdamW opt({p.ref()}, {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0});
  opt.step();
  p.gradient_buffer() = Tensor<double, V>(V{}, {3, 3, 3});
  opt.step();
  const double m = 0.9 * 0.1 + 0.1 * 3, v = 0.999 * 0.001 + 0.001 * 9;
  const double m_hat = m / (1 - 0.81), v_hat = v / (1 - 0.999 * 0.999);
  const double expected = 1 - 0.01 / (1 + 1e-8) - 0.01 * m_hat / (std::sqrt(v_hat) + 1e-8);
  CHECK(p.value()(0) == Approx(expected).epsilon(1e-12));
}

TEST_CASE("optimizers skip frozen parameters", "[optim]") {
  auto p = param({1, 2, 3}, {1, 1, 1});
  p.freeze();
  AdamW opt({p.ref()});
  opt.step();
  SGD sgd({p.ref()}, {.lr = 1});
  sgd.step();
  CHECK(p.value()(0) == 1);
}

TEST_CASE("a parameter without a gradient is skipped: no update, no state", "[optim]") {
  Parameter<double, V> untouched(Tensor<double, V>(V{}, {1, 2, 3}), "untouched");
  auto p = param({1, 1, 1}, {1, 1, 1});
  AdamW adamw({untouched.ref(), p.ref()}, {.lr = 0.1, .weight_decay = 0.5});
  SGD sgd({untouched.ref(), p.ref()}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
  adamw.step();
  sgd.step();
  CHECK(untouched.value()(2) == 3);  // not even weight decay, as PyTorch skips .grad None
  CHECK(adamw.state(0, "exp_avg").empty());
  CHECK(sgd.state(0, "momentum_buffer").empty());
  CHECK_FALSE(adamw.state(1, "exp_avg").empty());
  CHECK_FALSE(sgd.state(1, "momentum_buffer").empty());
  CHECK(clip_grad_norm({untouched.ref(), p.ref()}, 1e9) == Approx(std::sqrt(3.0)));
  CHECK_FALSE(untouched.has_grad());

  // Frozen: no state either, even with a gradient buffer.
  auto frozen = param({1, 2, 3}, {1, 1, 1});
  frozen.freeze();
  AdamW for_frozen({frozen.ref()});
  for_frozen.step();
  CHECK(for_frozen.state(0, "exp_avg_sq").empty());

  // SGD without momentum keeps no buffers at all.
  SGD plain({p.ref()}, {.lr = 0.1});
  plain.step();
  CHECK(plain.state(0, "momentum_buffer").empty());
}

TEST_CASE("SGD with momentum matches torch.optim.SGD's recurrence", "[optim][sgd]") {
  auto p = param({1, 1, 1}, {1, 2, 3});
  SGD opt({p.ref()}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.0});
  opt.step();  // buffer = g
  CHECK(p.value()(1) == Approx(1 - 0.1 * 2));
  opt.step();  // buffer = 0.9·2 + 2 = 3.8
  CHECK(p.value()(1) == Approx(1 - 0.2 - 0.1 * 3.8));
  REQUIRE_THROWS_AS(SGD({p.ref()}, {.nesterov = true}), value_error);
}

// Off the CPU, SGD reads its rate from memory (a captured CUDA graph then sees set_lr); the CPU
// twin of that form must give the same numbers as the rate passed by value.
TEST_CASE("cpu::sgd_update with the rate in memory equals the rate in its coefficients", "[optim][sgd]") {
  const std::vector<float> grad{0.5f, -1.5f, 2.0f, 0.25f, -3.0f};
  std::vector<float> by_value{1, 2, 3, 4, 5}, by_value_buffer{0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  std::vector<float> in_memory = by_value, in_memory_buffer = by_value_buffer;
  const float rate = 0.125f;
  const cpu::sgd_coefficients<float> with_rate{.lr = rate, .momentum = 0.9f, .dampening_complement = 0.75f, .weight_decay = 0.01f,
                                               .nesterov = false, .first = false};
  cpu::sgd_coefficients<float> without_rate = with_rate;
  without_rate.lr = 99.0f;  // unused by the form that reads the rate from memory
  cpu::sgd_update(by_value.data(), grad.data(), by_value_buffer.data(), 5, with_rate);
  cpu::sgd_update(in_memory.data(), grad.data(), in_memory_buffer.data(), 5, without_rate, &rate);
  CHECK(in_memory == by_value);
  CHECK(in_memory_buffer == by_value_buffer);
  CHECK(by_value[0] != 1.0f);
}

TEST_CASE("AdamW and SGD give their state and settings by name", "[optim][state]") {
  STATIC_REQUIRE(OptimizerWithState<AdamW<>>);
  STATIC_REQUIRE(OptimizerWithState<SGD<>>);
  auto p = param({1, 1, 1}, {2, 0, -1});
  AdamW adamw({p.ref()}, {.lr = 0.1, .beta1 = 0.5, .beta2 = 0.75});
  adamw.step();
  const auto m = adamw.state(0, "exp_avg"), v = adamw.state(0, "exp_avg_sq");
  REQUIRE(m.size() == 3 * sizeof(double));
  CHECK(reinterpret_cast<const double*>(m.data())[0] == 0.5 * 2);        // (1 − β₁)·g
  CHECK(reinterpret_cast<const double*>(v.data())[2] == 0.25 * 1);       // (1 − β₂)·g²
  CHECK_THROWS_AS(adamw.state(0, "momentum_buffer"), value_error);
  const OptimizerSettings settings = adamw.settings();
  CHECK(settings.text("steps_taken") == "1");
  CHECK(settings.real("beta2") == 0.75);

  AdamW other({p.ref()}, {.lr = 0.2, .beta1 = 0.5, .beta2 = 0.75});
  CHECK_NOTHROW(other.check_settings(settings));
  other.restore_settings(settings);
  CHECK(other.lr() == 0.1);
  CHECK(other.steps_taken() == 1);
  AdamW different({p.ref()}, {.beta1 = 0.9});
  CHECK_THROWS_WITH(different.check_settings(settings), Catch::Contains("beta1 = 0.5, the registered one 0.9"));
  OptimizerSettings damaged = settings;
  damaged.set("lr", "fast");
  CHECK_THROWS_AS(other.check_settings(damaged), io_error);

  SGD sgd({p.ref()}, {.lr = 0.1, .momentum = 0.9});
  sgd.step();
  CHECK(reinterpret_cast<const double*>(sgd.state(0, "momentum_buffer").data())[0] == 2);  // the first step copies g
  CHECK(sgd.settings().boolean("has_stepped"));
  CHECK(sgd.settings().boolean("nesterov") == false);
}

TEST_CASE("clip_grad_norm scales the global norm down to max_norm and reports the norm", "[optim][clip]") {
  auto a = param({0, 0, 0}, {3, 0, 0});
  auto b = param({0, 0, 0}, {0, 4, 0});
  const double norm = clip_grad_norm({a.ref(), b.ref()}, 1.0);
  CHECK(norm == Approx(5));
  CHECK(a.grad()(0) == Approx(3.0 / (5 + 1e-6)));
  CHECK(b.grad()(1) == Approx(4.0 / (5 + 1e-6)));
  const double small = clip_grad_norm({a.ref(), b.ref()}, 10.0);  // below the limit: unchanged
  CHECK(small == Approx(1.0).epsilon(1e-5));
  CHECK(a.grad()(0) == Approx(3.0 / (5 + 1e-6)));
}

TEST_CASE("clip_grad_norm_into clips as clip_grad_norm does, leaving the norm in memory, and passes NaN on", "[optim][clip]") {
  const auto f32 = [](std::vector<float> grad) {
    Parameter<float, Shape<dyn>> p(Tensor<float, Shape<dyn>>(Shape<dyn>{index_t(grad.size())}), "p");
    p.gradient_buffer() = Tensor<float, Shape<dyn>>(Shape<dyn>{index_t(grad.size())});
    std::copy(grad.begin(), grad.end(), p.grad().data());
    return p;
  };
  auto a = f32({3, 0, 0, 1}), b = f32({0, 4, 2}), a_twin = f32({3, 0, 0, 1}), b_twin = f32({0, 4, 2});
  Tensor<float, Shape<>> norm(Shape<>{});
  clip_grad_norm_into({a.ref(), b.ref()}, 2.0, norm);
  const double want = clip_grad_norm({a_twin.ref(), b_twin.ref()}, 2.0);
  CHECK(norm.data()[0] == Approx(std::sqrt(30.0)).epsilon(1e-7));
  CHECK(norm.data()[0] == Approx(want).epsilon(1e-7));
  for (index_t i = 0; i < 4; ++i) CHECK(a.grad().data()[i] == Approx(a_twin.grad().data()[i]).epsilon(1e-6));
  for (index_t i = 0; i < 3; ++i) CHECK(b.grad().data()[i] == Approx(b_twin.grad().data()[i]).epsilon(1e-6));

  const std::vector<float> before(b.grad().data(), b.grad().data() + 3);
  clip_grad_norm_into({b.ref()}, 10.0, norm);  // below the limit: unchanged, bit for bit
  CHECK(std::vector<float>(b.grad().data(), b.grad().data() + 3) == before);

  // A NaN gradient is not refused (nothing may wait for the norm): it spreads, as torch's does
  // with error_if_nonfinite=False; clip_grad_norm refuses it.
  b.grad().data()[1] = std::nanf("");
  clip_grad_norm_into({a.ref(), b.ref()}, 2.0, norm);
  CHECK(std::isnan(norm.data()[0]));
  CHECK(std::isnan(a.grad().data()[0]));
  CHECK(std::isnan(b.grad().data()[2]));
  auto nan_twin = f32({std::nanf("")});
  CHECK_THROWS_WITH(clip_grad_norm({b_twin.ref(), nan_twin.ref()}, 2.0), Catch::Contains("not finite"));
  // Nothing to clip: a norm of 0.
  norm.data()[0] = 7;
  clip_grad_norm_into({}, 1.0, norm);
  CHECK(norm.data()[0] == 0.0f);
}

TEST_CASE("scale_by_clip_coefficient leaves gradients untouched at a coefficient of 1 and scales them otherwise", "[optim][clip]") {
  // A signaling NaN shows whether the element was multiplied: x·1 would quiet it (other bits).
  const float signaling = std::numeric_limits<float>::signaling_NaN();
  std::vector<float> x = {signaling, 2.0f, -3.0f};
  const auto bits = [](float v) { return std::bit_cast<std::uint32_t>(v); };
  const std::uint32_t before = bits(x[0]);
  volatile float stored[2] = {1.0f, 0.5f};  // unknown to the compiler, which would fold x·1 away
  const float one = stored[0], half = stored[1];
  cpu::scale_by_clip_coefficient(&one, x.data(), 3);
  CHECK(bits(x[0]) == before);
  CHECK(x[1] == 2.0f);
  cpu::scale_by_clip_coefficient(&half, x.data() + 1, 2);
  CHECK(x[1] == 1.0f);
  CHECK(x[2] == -1.5f);
}

TEST_CASE("parameter references carry their device, zero gradients there, and optimizers check it", "[optim][device]") {
  auto p = param({1, 2, 3}, {4, 5, 6});
  const ParameterRef ref = p.ref();
  CHECK(ref.device == "cpu");
  CHECK(ref.is_on<cpu_t>());
  CHECK_FALSE(ref.is_on<cuda_t>());
  zero_grad(ParameterList{ref});
  CHECK(p.grad()(2) == 0.0);
  Parameter<double, V> fresh(Tensor<double, V>(V{}, {1, 1, 1}), "fresh");
  CHECK_NOTHROW(zero_grad(ParameterList{fresh.ref()}));  // no buffer: stays without
  CHECK_FALSE(fresh.has_grad());

  // A reference that claims another device (a cuda_t parameter cannot exist in a C++ file) is
  // refused by name before any host loop reads it.
  ParameterRef elsewhere = p.ref();
  elsewhere.device = cuda_t::name;
  CHECK_THROWS_WITH(SGD({elsewhere}), Catch::Contains("SGD: parameter 'p' lives on cuda, not cpu"));
  CHECK_THROWS_WITH(AdamW({p.ref(), elsewhere}), Catch::Contains("AdamW: parameter 'p' lives on cuda, not cpu"));
  p.gradient_buffer() = Tensor<double, V>(V{}, {1, 1, 1});
  CHECK_THROWS_WITH(clip_grad_norm({elsewhere}, 1.0), Catch::Contains("'p' lives on cuda; clip_grad_norm<cpu_t> reads cpu_t parameters only"));
}

TEST_CASE("an optimizer's zero_grad zeroes every gradient buffer in one call, frozen ones too, and creates none", "[optim][zero_grad]") {
  for (const bool sgd : {false, true}) {
    INFO((sgd ? "SGD" : "AdamW"));
    auto trained = param({1, 2, 3}, {4, 5, 6});
    auto frozen = param({1, 2, 3}, {7, 8, 9});
    frozen.freeze();
    Parameter<double, V> fresh(Tensor<double, V>(V{}, {1, 1, 1}), "fresh");
    Parameter<float, V> odd(Tensor<float, V>(V{}, {1, 2, 3}), "odd");
    odd.gradient_buffer() = Tensor<float, V>(V{}, {1, 2, 3});
    ParameterRef odd_ref = odd.ref();
    odd_ref.type = dtype::bf16;  // as if 3 bf16 (6 bytes, not whole words): zeroed alone, by its parameter
    const ParameterList params{trained.ref(), frozen.ref(), fresh.ref(), odd_ref};
    if (sgd) {
      SGD optimizer(params);
      optimizer.zero_grad();
    } else {
      AdamW optimizer(params);
      optimizer.zero_grad();
    }
    for (index_t i = 0; i < 3; ++i) {
      CHECK(trained.grad()(i) == 0.0);
      CHECK(frozen.grad()(i) == 0.0);
      CHECK(odd.grad()(i) == 0.0f);
    }
    CHECK(trained.value()(2) == 3.0);
    CHECK_FALSE(fresh.has_grad());
  }
}

}  // namespace optim_test_optimizers
