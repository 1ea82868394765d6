// Learning-rate schedules: the learning rate as a function of the step index t = 0, 1, 2, ...
// (the number of optimizer steps taken before this one). A schedule is any callable
// double(index_t); set it before each step:
//
//   WarmupCosineLr schedule{.peak_lr = 3e-4, .warmup_steps = 100, .total_steps = 5000, .min_lr = 3e-5};
//   optimizer.set_lr(schedule(t));
//   optimizer.step();
#pragma once
#include <algorithm>
#include <cmath>
#include <concepts>
#include <numbers>
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens {

template <class S>
concept LrSchedule = requires(const S& schedule, index_t step) {
  { schedule(step) } -> std::convertible_to<double>;
};

// The same learning rate at every step.
struct ConstantLr {
  double lr = 1e-3;

  double operator()(index_t) const noexcept { return lr; }
};

// Linear warm-up from 0, then cosine decay to a floor, as Hugging Face's
// get_cosine_with_min_lr_schedule_with_warmup (num_cycles = 0.5) defines it up to total_steps;
// after that the floor holds, as in nanoGPT (HF's cosine would climb again):
//
//   t < warmup:                lr_t = peak · t / warmup
//   warmup <= t <= total:      lr_t = min + (peak − min) · ½ (1 + cos(π · (t − warmup) / (total − warmup)))
//   t > total:                 lr_t = min
//
// So step 0 of a warm-up runs at lr 0 (as in HF), the peak is reached at t = warmup, and the
// floor at t = total. Without warm-up (warmup_steps = 0) the decay starts from the peak at t = 0;
// with warmup_steps = total_steps the peak lasts one step and the floor follows.
struct WarmupCosineLr {
  double peak_lr = 1e-3;
  index_t warmup_steps = 0;
  index_t total_steps = 1;
  double min_lr = 0;

  double operator()(index_t step) const {
    check();
    if (step < 0) throw value_error("WarmupCosineLr: the step must be >= 0, got " + std::to_string(step));
    if (step < warmup_steps) return peak_lr * double(step) / double(warmup_steps);
    const index_t decay_steps = std::max<index_t>(1, total_steps - warmup_steps);
    const double progress = std::min(1.0, double(step - warmup_steps) / double(decay_steps));
    return min_lr + (peak_lr - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
  }

  // Throws value_error for a schedule that cannot mean anything.
  void check() const {
    if (!(peak_lr >= 0) || !(min_lr >= 0) || min_lr > peak_lr || !std::isfinite(peak_lr))
      throw value_error("WarmupCosineLr: need 0 <= min_lr <= peak_lr (finite), got min_lr " + std::to_string(min_lr) +
                        ", peak_lr " + std::to_string(peak_lr));
    if (warmup_steps < 0 || total_steps < warmup_steps || total_steps < 1)
      throw value_error("WarmupCosineLr: need 0 <= warmup_steps <= total_steps and total_steps >= 1, got warmup_steps " +
                        std::to_string(warmup_steps) + ", total_steps " + std::to_string(total_steps));
  }
};

}  // namespace ranklens
