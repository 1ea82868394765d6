#!/usr/bin/env bash
# Training-step benchmark, ranklens against PyTorch, back to back on this machine with the same
# thread count: a GPT-2 style decoder (vocab 64, context 256, 4 layers, 4 heads, MLP 4x, batch
# 32, float32) at d_model 64, 128 and 256. Prints a table (tokens/s of each side, the ratio,
# GFLOP/s of each side and ranklens' share of the measured FMA peak, peak RSS, OpenBLAS core)
# and appends it, with the date and this command, to docs/performance.md. Environment: THREADS
# (default 2), SECONDS_PER_RUN (default 20), WIDTHS (default "64 128 256").
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
threads="${THREADS:-2}"
seconds="${SECONDS_PER_RUN:-20}"
widths="${WIDTHS:-64 128 256}"

# shellcheck source=scripts/bench_setup.sh
source scripts/bench_setup.sh
build_bench_targets -DRANKLENS_BUILD_BENCH=ON -- bench_bench_gpt_step
ensure_python_peers torch -- torch numpy

results="$(mktemp)"
for d in $widths; do
  # PyTorch runs with its own BLAS (MKL in the pip wheel): the OpenBLAS variables, which the
  # machine may preset, do not concern it (and slow a current numpy), so they are unset there.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" \
    .venv/bin/python bench/pytorch_gpt_step.py --d-model "$d" --threads "$threads" --seconds "$seconds" >> "$results"
  (
    export RANKLENS_OPENBLAS_FASTEST=1
    # shellcheck source=scripts/openblas_env.sh
    source scripts/openblas_env.sh 2>/dev/null
    OPENBLAS_NUM_THREADS="$threads" RANKLENS_NUM_THREADS="$threads" \
      build/bench/bench_gpt_step --d-model "$d" --seconds "$seconds" >> "$results"
  )
done

table="$(python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["d_model"], {})[r["side"]] = r
# GFLOP/s: both sides do the same work per token, counted by bench_gpt_step (step_flops: matrix
# products fwd + bwd, attention without causal halving); the FMA peak is measured by
# bench_gpt_step on the same threads just before its run.
print("| d_model | ranklens tokens/s | PyTorch tokens/s | ratio | ranklens GFLOP/s | PyTorch GFLOP/s | FMA peak GFLOP/s | ranklens % of peak | ranklens peak RSS (MB) | PyTorch peak RSS (MB) | OpenBLAS core | torch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for d in sorted(by):
    rl, pt = by[d]["ranklens"], by[d]["pytorch"]
    flop_per_token = rl["gflop_per_step"] * 1e9 / (rl["tokens_per_s"] * rl["seconds"] / rl["steps"])
    pt_gflops = pt["tokens_per_s"] * flop_per_token / 1e9
    print(f"| {d} | {rl['tokens_per_s']:.0f} | {pt['tokens_per_s']:.0f} | {rl['tokens_per_s'] / pt['tokens_per_s']:.2f} | "
          f"{rl['gflops']:.0f} | {pt_gflops:.0f} | {rl['fma_peak_gflops']:.0f} | {rl['peak_percent']:.0f}% | "
          f"{rl['peak_rss_mb']:.0f} | {pt['peak_rss_mb']:.0f} | {rl['openblas_core']} | {pt['torch']} |")
PY
)"
rm -f "$results"
echo "$table"
{
  echo
  echo "### Training step vs PyTorch, $(date -u +%Y-%m-%d), ${threads} threads each"
  echo
  echo "Command: \`THREADS=$threads SECONDS_PER_RUN=$seconds WIDTHS=\"$widths\" scripts/bench_vs_pytorch.sh\`"
  echo "(batch 32, context 256, 4 layers, 4 heads, vocab 64, float32, AdamW; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo
  echo "$table"
} >> docs/performance.md
