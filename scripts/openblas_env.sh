# shellcheck shell=sh
# Source this file (". scripts/openblas_env.sh") before running anything that calls OpenBLAS.
#
# Debian 12's OpenBLAS 0.3.21 picks its kernels from the CPU model and does not know newer
# CPUs: it can fall back to generic kernels, about 5x slower for sgemm. OPENBLAS_CORETYPE
# names the kernel family to use instead, chosen here from the instruction sets the CPU reports.
#
# Two modes:
#  * default (tests, CI): a value the caller already exported is left alone, since machines
#    may preset it on purpose; an unset one is chosen from /proc/cpuinfo.
#  * RANKLENS_OPENBLAS_FASTEST=1 (the run command and benchmarks): on an AVX-512 CPU, a preset
#    weaker family (e.g. Haswell, half the sgemm speed here) is replaced by SkylakeX.
# Plain POSIX sh, no "exit": it runs inside the caller's shell.

ranklens_best_core=""
if [ -r /proc/cpuinfo ] && grep -qw avx512f /proc/cpuinfo; then
  ranklens_best_core=SkylakeX
elif [ -r /proc/cpuinfo ] && grep -qw avx2 /proc/cpuinfo; then
  ranklens_best_core=Haswell
fi

if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if [ -n "$ranklens_best_core" ]; then
    export OPENBLAS_CORETYPE="$ranklens_best_core"
    echo "openblas_env: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (chosen from /proc/cpuinfo)" >&2
  else
    echo "openblas_env: OPENBLAS_CORETYPE unset (no AVX2; OpenBLAS chooses its own kernels)" >&2
  fi
elif [ "${RANKLENS_OPENBLAS_FASTEST:-0}" = 1 ] && [ "$ranklens_best_core" = SkylakeX ] \
     && [ "$OPENBLAS_CORETYPE" != SkylakeX ] && [ "$OPENBLAS_CORETYPE" != Cooperlake ] \
     && [ "$OPENBLAS_CORETYPE" != SapphireRapids ]; then
  echo "openblas_env: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE was preset; using SkylakeX, the fastest" \
       "kernels for this AVX-512 CPU (set RANKLENS_OPENBLAS_FASTEST=0 to keep the preset)" >&2
  export OPENBLAS_CORETYPE=SkylakeX
else
  echo "openblas_env: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (already set by the caller)" >&2
fi
unset ranklens_best_core
