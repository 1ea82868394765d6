// The machine's FP32 FMA peak, measured: `threads` threads each run independent chains of
// vector fused multiply-adds (the widest vector the build targets: AVX-512 with -march=native
// on this machine) for a fixed count, and the total is divided by the wall time.
// Sixteen chains per thread cover the FMA latency (4 cycles) times the FMA ports (2) with room
// to spare, so the loop is bound by FMA throughput alone. One FMA counts as 2 FLOPs.
#pragma once
#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "ranklens/cpu/simd.hpp"

namespace ranklens::bench {

namespace detail {

// Runs `iterations` rounds of 16 independent FMAs on one thread; returns a value that depends
// on every chain so the compiler cannot drop the loop. The chains are sixteen named variables,
// not an array, so that they stay in registers.
inline float fma_chains(long iterations) {
  using batch = cpu::simd<float>;
  // x ← x·a + b with a ≈ 1 and b ≈ 0 keeps every value finite and normal for any count. The
  // factors come through volatiles and each chain through an empty asm every round, so the
  // optimiser can neither fold the chains nor drop the loop (GCC -O3 did both otherwise).
  volatile float a_source = 0.9999999f, b_source = 1e-7f;
  const batch a(a_source), b(b_source);
  batch c0(1.0f), c1(1.0f), c2(1.0f), c3(1.0f), c4(1.0f), c5(1.0f), c6(1.0f), c7(1.0f), c8(1.0f), c9(1.0f), c10(1.0f),
      c11(1.0f), c12(1.0f), c13(1.0f), c14(1.0f), c15(1.0f);
  auto chain = [&](batch& c) {
    c = cpu::multiply_add(c, a, b);  // one fused multiply-add instruction (xsimd 8.1 would split it on AVX-512)
    __asm__("" : "+v"(c.data));
  };
  for (long i = 0; i < iterations; ++i) {
    chain(c0), chain(c1), chain(c2), chain(c3), chain(c4), chain(c5), chain(c6), chain(c7);
    chain(c8), chain(c9), chain(c10), chain(c11), chain(c12), chain(c13), chain(c14), chain(c15);
  }
  const batch total = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15));
  return xsimd::hadd(total);
}

}  // namespace detail

struct FmaPeak {
  double gflops;   // best of the repeats, all threads together
  int threads;
  int lanes;       // floats per vector register in this build
};

// FLOPs per second of `threads` threads running FMA chains at once, best of `repeats` runs of
// about `seconds` each.
inline FmaPeak measure_fma_peak(int threads, double seconds = 0.2, int repeats = 3) {
  using clock = std::chrono::steady_clock;
  constexpr int lanes = int(cpu::simd_width<float>);
  constexpr double flops_per_iteration = 16.0 * lanes * 2.0;
  // Calibrate the count on one thread so each run lasts about `seconds`.
  long iterations = 1 << 20;
  for (;;) {
    const auto start = clock::now();
    volatile float sink = detail::fma_chains(iterations);
    (void)sink;
    const double t = std::chrono::duration<double>(clock::now() - start).count();
    if (t > seconds / 4) {
      iterations = long(double(iterations) * seconds / t);
      break;
    }
    iterations *= 4;
  }
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    std::vector<float> results(std::size_t(threads), 0.0f);
    const auto start = clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { results[std::size_t(t)] = detail::fma_chains(iterations); });
    for (auto& w : workers) w.join();
    const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    best = std::max(best, flops_per_iteration * double(iterations) * threads / elapsed / 1e9);
  }
  return {best, threads, lanes};
}

}  // namespace ranklens::bench
