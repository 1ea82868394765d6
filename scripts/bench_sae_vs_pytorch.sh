#!/usr/bin/env bash
# Sparse-autoencoder training-step benchmark, ranklens against PyTorch, back to back on this
# machine with the same thread count: a BatchTopK SAE (float32, batch 4096 tokens, Adam) at the
# seed paper's shape (448 -> 3584, k 16) and a residual-stream shape (512 -> 16384, k 32).
# ranklens: bench/bench_sae_step.cpp (SaeTrainer, sparse decoder and sparse backward);
# PyTorch: bench/pytorch_sae_step.py --impl peer (the same step with SAELens' dense decoder) and,
# when sae-lens is installed, --impl saelens (SAELens' own BatchTopKTrainingSAE).
# Prints a table of tokens/s and the ratios. Environment: THREADS (default 2), SECONDS_PER_RUN
# (default 20), SHAPES (default "paper resid"), PROGRAM (a built bench_sae_step; default: build
# it with CMake as bench/bench_sae_step).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
threads="${THREADS:-2}"
seconds="${SECONDS_PER_RUN:-20}"
shapes="${SHAPES:-paper resid}"
program="${PROGRAM:-}"

# shellcheck source=scripts/bench_setup.sh
source scripts/bench_setup.sh
ensure_python_peers torch -- torch numpy
if [ -z "$program" ]; then
  build_bench_targets -DRANKLENS_BUILD_BENCH=ON -- bench_bench_sae_step
  program=build/bench/bench_sae_step
fi
impls="peer"
.venv/bin/python -c "import sae_lens" 2>/dev/null && impls="peer saelens"

results="$(mktemp)"
for shape in $shapes; do
  for impl in $impls; do
    # PyTorch uses its own BLAS: the OpenBLAS variables do not concern it.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" \
      .venv/bin/python bench/pytorch_sae_step.py --shape "$shape" --impl "$impl" --threads "$threads" --seconds "$seconds" >> "$results"
  done
  (
    export RANKLENS_OPENBLAS_FASTEST=1
    # shellcheck source=scripts/openblas_env.sh
    source scripts/openblas_env.sh 2>/dev/null
    OPENBLAS_NUM_THREADS="$threads" RANKLENS_NUM_THREADS="$threads" "$program" --shape "$shape" --seconds "$seconds" >> "$results"
  )
done

python3 - "$results" "$threads" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["shape"], {})[r["side"]] = r
print(f"SAE training step, batch 4096 tokens, float32, {sys.argv[2]} threads each")
print("| shape | d_in -> d_sae, k | ranklens tokens/s | PyTorch peer tokens/s | ratio | SAELens tokens/s | ratio | ranklens / PyTorch peak RSS (MB) |")
print("|---|---|---|---|---|---|---|---|")
for shape, sides in by.items():
    rl, pt = sides["ranklens"], sides["pytorch"]
    sl = sides.get("saelens")
    saelens = f"{sl['tokens_per_s']:.0f} | {rl['tokens_per_s'] / sl['tokens_per_s']:.1f}" if sl else "- | -"
    print(f"| {shape} | {rl['d_in']} -> {rl['d_sae']}, {rl['k']} | {rl['tokens_per_s']:.0f} | {pt['tokens_per_s']:.0f} | "
          f"{rl['tokens_per_s'] / pt['tokens_per_s']:.1f} | {saelens} | {rl['peak_rss_mb']:.0f} / {pt['peak_rss_mb']:.0f} |")
PY
rm -f "$results"
