# shellcheck shell=sh
# Source this file (". scripts/openblas_env.sh") before running anything that calls OpenBLAS.
#
# Debian 12's OpenBLAS 0.3.21 picks its kernels from the CPU model, and it does not know the
# newer AMD Zen parts: it falls back to its generic kernels, about 5x slower for sgemm.
# OPENBLAS_CORETYPE names the kernel family to use instead, chosen here from the instruction
# sets the CPU reports. A value the caller already exported is left alone.
# Plain POSIX sh, no "exit": it runs inside the caller's shell.

if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if [ -r /proc/cpuinfo ] && grep -qw avx512f /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [ -r /proc/cpuinfo ] && grep -qw avx2 /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=Haswell
  fi
  if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "openblas_env: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (chosen from /proc/cpuinfo)" >&2
  else
    echo "openblas_env: OPENBLAS_CORETYPE unset (no AVX2; OpenBLAS chooses its own kernels)" >&2
  fi
else
  echo "openblas_env: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (already set by the caller)" >&2
fi
