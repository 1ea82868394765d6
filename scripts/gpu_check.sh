#!/usr/bin/env bash
# The GPU check, in one call on a machine with an NVIDIA GPU: the CUDA parity tests (every [cuda]
# test, Catch2's console reporter), the op harness's timing of every op on both devices, the kernel benchmark against PyTorch, then compute-sanitizer's
# memcheck and racecheck on the tests at small sizes, writing one markdown report; between the
# benchmark and the sanitizer, whole GPT training steps (bench/bench_cuda_gpt_step.cu, eager and
# replayed as a CUDA graph) against PyTorch's (bench/pytorch_gpt_step.py --device cuda).
#
# The binaries are built elsewhere (scripts/gpu_bundle.sh, on a machine with nvcc and our Debian
# packages) and travel in one folder with this script, bench/pytorch_cuda_kernels.py and the
# shared libraries the GPU machine lacks:
#
#   bash .gpu/gpu_check.sh                 # from the repository root; results go to $OUT
#
# Output ($OUT, or .gpu/out): gpu_check.md (the report), gpu_check.log (everything printed),
# steps.jsonl (whole steps, both sides), tests.log, parity.tsv (every comparison: name, error, tolerance), op_timings.txt, ours.csv and table.md (the
# benchmark), sanitizer.log. The report is rewritten after each phase, so a run cut short still
# leaves what it finished. Phases have time caps (seconds): TESTS_S, BENCH_S, TORCH_S,
# SANITIZER_S, STEPS_S; SKIP_SANITIZER=1 skips the last phase. STEP_WIDTHS (default "64 128 256")
# are the small configs' d_model; STEP_LARGE=1 adds GPT-2 medium's shape (fp32, eager and graph).
set -uo pipefail

bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$bundle/out}"
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
started=$SECONDS
report="$out/gpu_check.md"

tests_s="${TESTS_S:-90}"
bench_s="${BENCH_S:-90}"
torch_s="${TORCH_S:-120}"
sanitizer_s="${SANITIZER_S:-45}"
steps_s="${STEPS_S:-240}"

# Shared libraries: ours beside the binaries, cuBLAS from the machine's CUDA toolkit or PyTorch.
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$bundle/ranklens_cuda_tests" | grep -q "libcublas.*not found"; then
  cublas="$(find /usr/local /opt /usr/lib -name 'libcublasLt.so.13*' -print -quit 2>/dev/null)"
  [ -n "$cublas" ] && export LD_LIBRARY_PATH="$(dirname "$cublas"):$LD_LIBRARY_PATH"
fi
# OpenBLAS (the CPU side of the parity tests) picks its kernels from the CPU it recognises.
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
python="$(command -v python3)"

section() { echo; echo "== $* ($((SECONDS - started)) s)"; }

tests_rc="not run"
ops_rc="not run"
bench_rc="not run"
torch_rc="not run"
memcheck_rc="not run"
racecheck_rc="not run"
steps_rc="not run"

write_report() {
  {
    echo "# GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)"
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
    echo "- Phases (exit codes): tests $tests_rc, op timings $ops_rc, benchmark $bench_rc, PyTorch $torch_rc, whole steps $steps_rc, memcheck $memcheck_rc, racecheck $racecheck_rc; $((SECONDS - started)) s in all"
    echo
    echo "## Parity tests"
    echo
    if [ -f "$out/tests.log" ]; then
      echo '```'
      grep -E "^(test cases|assertions|All tests passed)" "$out/tests.log" | tail -n 2
      echo '```'
      if grep -q "FAILED" "$out/tests.log"; then
        echo
        echo "Failures (first 60 lines of their reports):"
        echo '```'
        grep -B3 -A12 "FAILED" "$out/tests.log" | head -n 60
        echo '```'
      fi
    fi
    if [ -s "$out/parity.tsv" ]; then
      echo
      "$python" - "$out/parity.tsv" <<'PY'
import sys
from collections import OrderedDict
worst = OrderedDict()
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 4:
        continue
    name, error, tolerance, bad = parts[0], float(parts[1]), float(parts[2]), int(parts[3])
    kernel = name.split(" ")[0]
    dtype = "bf16" if "bfloat16" in name or tolerance > 1e-3 else "fp32"
    key = (kernel, dtype)
    ratio = error / tolerance if tolerance > 0 else float("inf")
    count, best_ratio, best_name, failures = worst.get(key, (0, -1.0, "", 0))
    failures += int(ratio > 1 or bad > 0)
    if ratio > best_ratio:
        best_ratio, best_name = ratio, name
    worst[key] = (count + 1, best_ratio, best_name, failures)
print("| kernel | dtype | comparisons | failed | worst error / tolerance | worst case |")
print("|---|---|---:|---:|---:|---|")
for (kernel, dtype), (count, ratio, name, failures) in worst.items():
    print(f"| {kernel} | {dtype} | {count} | {failures} | {ratio:.3f} | {name} |")
PY
    fi
    echo
    if [ -s "$out/sass.txt" ]; then
      echo "## Tensor-core instructions in the kernels (cuobjdump)"
      echo
      echo '```'
      cut -c1-160 "$out/sass.txt" | head -n 20
      echo '```'
      echo
    fi
    echo "## Every op of the harness, forward and backward (tests/cuda/op_cases.hpp; median of 20)"
    echo
    if [ -s "$out/op_timings.txt" ]; then
      "$python" - "$out/op_timings.txt" <<'PY'
import re, sys
from collections import OrderedDict
times = OrderedDict()
for line in open(sys.argv[1]):
    m = re.match(r"^timing: (.*) \((cuda|cpu)\)\s+([0-9.]+) us", line)
    if m:
        times.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
print("| op | GPU (us) | CPU (us) | CPU / GPU |")
print("|---|---:|---:|---:|")
for name, t in times.items():
    gpu, cpu = t.get("cuda"), t.get("cpu")
    ratio = f"{cpu / gpu:.1f}" if gpu and cpu else ""
    print(f"| {name} | {gpu if gpu is not None else ''} | {cpu if cpu is not None else ''} | {ratio} |")
PY
    fi
    echo
    echo "## Benchmark against PyTorch"
    echo
    if [ -s "$out/table.md" ]; then cat "$out/table.md"; elif [ -s "$out/ours.csv" ]; then echo '```'; cat "$out/ours.csv"; echo '```'; fi
    echo
    echo "## Whole training steps against PyTorch (fp32, TF32 off; ms per step, median of 5 runs)"
    echo
    if [ -s "$out/steps.jsonl" ]; then
      "$python" - "$out/steps.jsonl" <<'PY'
import json, sys
from collections import OrderedDict
rows = OrderedDict()
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    key = (r["d_model"], r["layers"], r["heads"], r["vocab"], r["context"], r["batch"])
    name = ("ours " if r["side"] == "ranklens" else "torch ") + r["mode"] + (" fused" if r.get("fused_adamw") else "")
    rows.setdefault(key, OrderedDict())[name] = r
columns = ["ours eager", "ours graph", "torch eager fused", "torch eager", "torch compile fused", "torch reduce-overhead fused"]
print("| d, L, H, V, T, B | " + " | ".join(columns) + " | best torch / ours graph | ours graph TFLOP/s | peak MB ours graph / torch best | graph nodes (our kernels) |")
print("|---|" + "---:|" * (len(columns) + 4))
for key, found in rows.items():
    cells = [f"{found[c]['ms_per_step']:.3f}" if c in found else "" for c in columns]
    torch_runs = [r for n, r in found.items() if n.startswith("torch")]
    best = min(torch_runs, key=lambda r: r["ms_per_step"]) if torch_runs else None
    graph = found.get("ours graph")
    ratio = f"{best['ms_per_step'] / graph['ms_per_step']:.2f}" if best and graph else ""
    tflops = f"{graph['tflops']:.1f}" if graph else ""
    memory = f"{graph['peak_mb']:.0f} / {best['peak_mb']:.0f}" if best and graph else ""
    nodes = f"{graph['graph_nodes']} ({graph['graph_launches']})" if graph and "graph_nodes" in graph else ""
    print("| " + ", ".join(str(k) for k in key) + " | " + " | ".join(cells) + f" | {ratio} | {tflops} | {memory} | {nodes} |")
PY
    fi
    echo
    echo "## compute-sanitizer (small sizes, no allocator cache)"
    echo
    if [ -f "$out/sanitizer.log" ]; then
      echo '```'
      grep -E "ERROR SUMMARY|RACECHECK SUMMARY|test cases|assertions" "$out/sanitizer.log" | head -n 20
      echo '```'
      echo
      "$python" - "$out/sanitizer.log" <<'PY'
# Which tests failed, and which test each sanitizer report came from: the test binary prints
# "ranklens-test-start: <name>" to stderr as each test starts (RANKLENS_TEST_TRACE=1), so a report
# belongs to the last test started before it.
import re, sys
from collections import OrderedDict
lines = open(sys.argv[1], errors="replace").read().splitlines()
not_reports = ("COMPUTE-SANITIZER", "ERROR SUMMARY", "RACECHECK SUMMARY", "LEAK SUMMARY", "Target application returned", "Saved host backtrace")
current, reports, failed = "(before the first test)", OrderedDict(), []
i = 0
while i < len(lines):
    line = lines[i]
    if line.startswith("ranklens-test-start: "):
        current = line[len("ranklens-test-start: "):]
    elif re.match(r"^========= \S", line) and not any(word in line for word in not_reports):
        reports.setdefault(current, []).append(line[len("========= "):])
    elif re.match(r"^-{70,}$", line):  # a Catch header: the test's name, then its failures
        j, name = i + 1, []
        while j < len(lines) and not re.match(r"^-{70,}$", lines[j]):
            name.append(lines[j].strip())
            j += 1
        k = j + 1
        while k < len(lines) and not re.match(r"^-{70,}$", lines[k]) and not lines[k].startswith("===="):
            if "FAILED" in lines[k] or "due to unexpected exception" in lines[k]:
                failed.append(" ".join(name))
                break
            k += 1
        i = j
    i += 1
print("Failing tests: " + ("; ".join(dict.fromkeys(failed)) if failed else "none") + ".")
print()
if reports:
    print("| test | sanitizer reports | first report |")
    print("|---|---:|---|")
    for test, found in reports.items():
        print(f"| {test} | {len(found)} | {found[0][:160]} |")
else:
    print("No sanitizer reports.")
PY
    fi
  } > "$report.tmp" && mv "$report.tmp" "$report"
}

section "device"
nvidia-smi || true
ldd "$bundle/ranklens_cuda_tests" | grep -E "not found|cublas" || true
write_report

section "tensor-core instructions"
# The bf16 attention kernels must run on the tensor cores: count HMMA (mma.sync) and LDSM
# (ldmatrix) in their machine code (the benchmark binary holds the same kernels as the tests).
if command -v cuobjdump > /dev/null 2>&1; then
  cuobjdump --dump-sass "$bundle/bench_cuda_kernels" 2>/dev/null | awk '
    /Function :/ { name = $3 }
    /HMMA/ { hmma[name]++ } /LDSM/ { ldsm[name]++ } /LDGSTS/ { ldgsts[name]++ }
    END { for (f in hmma) print hmma[f] " HMMA, " ldsm[f] " LDSM, " ldgsts[f] " LDGSTS: " f }' | sort -t: -k2 > "$out/sass.txt"
  cat "$out/sass.txt"
else
  echo "cuobjdump not found" | tee "$out/sass.txt"
fi
write_report

section "parity tests"
RANKLENS_PARITY_LOG="$out/parity.tsv" timeout "$tests_s" "$bundle/ranklens_cuda_tests" "[cuda]" --durations yes > "$out/tests.log" 2>&1
tests_rc=$?
tail -n 40 "$out/tests.log"
write_report

section "op harness timings"
RANKLENS_CUDA_TIMING=1 timeout "$tests_s" "$bundle/ranklens_cuda_tests" "op harness: every op on*" > "$out/op_timings.log" 2>&1
ops_rc=$?
grep "^timing:" "$out/op_timings.log" > "$out/op_timings.txt" || true
cat "$out/op_timings.txt"
write_report

section "benchmark (ours)"
timeout "$bench_s" "$bundle/bench_cuda_kernels" > "$out/ours.csv"
bench_rc=$?
cat "$out/ours.csv"
write_report

section "benchmark (PyTorch)"
PYTHONUNBUFFERED=1 timeout "$torch_s" "$python" "$bundle/pytorch_cuda_kernels.py" --ours "$out/ours.csv" --out "$out/table.md"
torch_rc=$?
write_report

section "whole training steps"
# One JSON line per run in steps.jsonl; every run of a config back to back on this card.
steps_started=$SECONDS
steps_rc=0
run_step() {  # a command line; skipped once the phase's time is spent
  local left=$((steps_s - (SECONDS - steps_started)))
  if [ "$left" -le 5 ]; then steps_rc="cut short"; return; fi
  PYTHONUNBUFFERED=1 timeout "$left" "$@" >> "$out/steps.jsonl" 2>> "$out/steps.log" || steps_rc=$?
}
: > "$out/steps.jsonl"
configs=()
for width in ${STEP_WIDTHS:-64 128 256}; do configs+=("--d-model $width --layers 4 --heads 4 --vocab 64 --context 256 --batch 32"); done
[ "${STEP_LARGE:-0}" = 1 ] && configs+=("--d-model 1024 --layers 24 --heads 16 --vocab 50304 --context 1024 --batch 16")
for config in "${configs[@]}"; do
  # shellcheck disable=SC2086
  {
    run_step "$bundle/bench_cuda_gpt_step" $config --mode eager
    run_step "$bundle/bench_cuda_gpt_step" $config --mode graph
    run_step "$python" "$bundle/pytorch_gpt_step.py" --device cuda $config --mode eager --fused-adamw
    run_step "$python" "$bundle/pytorch_gpt_step.py" --device cuda $config --mode eager
    run_step "$python" "$bundle/pytorch_gpt_step.py" --device cuda $config --mode compile --fused-adamw
    run_step "$python" "$bundle/pytorch_gpt_step.py" --device cuda $config --mode reduce-overhead --fused-adamw
  }
done
cat "$out/steps.jsonl"
write_report

if [ "${SKIP_SANITIZER:-0}" != 1 ]; then
  sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
  if [ -n "$sanitizer" ]; then
    section "memcheck"
    RANKLENS_TEST_TRACE=1 RANKLENS_PARITY_SMALL=1 RANKLENS_CUDA_NO_CACHE=1 timeout "$sanitizer_s" "$sanitizer" --tool memcheck --print-limit 50 --error-exitcode 3 \
      "$bundle/ranklens_cuda_tests" "[cuda]" > "$out/sanitizer.log" 2>&1
    memcheck_rc=$?
    write_report
    section "racecheck"
    RANKLENS_TEST_TRACE=1 RANKLENS_PARITY_SMALL=1 timeout "$sanitizer_s" "$sanitizer" --tool racecheck --print-limit 50 --error-exitcode 3 \
      "$bundle/ranklens_cuda_tests" "[attention],[softmax],[norm],[sae],[cross_entropy],[reduce]" >> "$out/sanitizer.log" 2>&1
    racecheck_rc=$?
    write_report
  else
    echo "compute-sanitizer not found"
  fi
fi

section "done"
cat "$report"
