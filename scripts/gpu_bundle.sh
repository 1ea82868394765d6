#!/usr/bin/env bash
# Builds what scripts/gpu_check.sh runs on a GPU machine that has the CUDA toolkit and PyTorch but
# none of our Debian packages, and puts it in one folder:
#
#   scripts/gpu_bundle.sh DESTINATION      # e.g. /path/to/checkout/.gpu (ignored by git)
#
# The test binary and the benchmark, stripped, with OpenBLAS and libgfortran linked statically
# (the CPU side of the parity tests needs them) and the CUDA runtime statically; cuBLAS and
# cuBLASLt stay shared (hundreds of MB; the GPU machine has them). The CPU code is built for
# x86-64-v4 (AVX-512), not -march=native: the GPU machine's processor is another model. Plus
# gpu_check.sh and the PyTorch sides (bench/pytorch_cuda_kernels.py, bench/pytorch_gpt_step.py).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
destination="${1:?usage: scripts/gpu_bundle.sh DESTINATION}"
build="$repo_root/build-gpu"
openblas_static="${OPENBLAS_STATIC:-/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a}"
gfortran_static="$(g++ -print-file-name=libgfortran.a)"

start=$SECONDS
launcher=()  # ccache when installed (install_deps.sh does not install it)
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRANKLENS_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v4 \
  -DRANKLENS_BUILD_TESTS=ON -DRANKLENS_BUILD_BENCH=ON -DRANKLENS_BUILD_EXAMPLES=OFF "${launcher[@]}" > /dev/null
nice cmake --build "$build" -j "${GPU_BUNDLE_JOBS:-2}" --target ranklens_cuda_tests bench_bench_cuda_kernels bench_bench_cuda_gpt_step
echo "gpu_bundle: built in $((SECONDS - start)) s"

# Relink the test binary with static OpenBLAS: the same link line, the shared library swapped.
link_dir="$build/tests"
link_line="$(cat "$link_dir/CMakeFiles/ranklens_cuda_tests.dir/link.txt")"
shared_openblas="$(echo "$link_line" | tr ' ' '\n' | grep -m1 'libopenblas\.so' || true)"
[ -n "$shared_openblas" ] || { echo "gpu_bundle: no libopenblas.so on the link line" >&2; exit 1; }
static_line="${link_line//$shared_openblas/$openblas_static $gfortran_static -lquadmath}"
static_line="${static_line//-o ranklens_cuda_tests/-o ranklens_cuda_tests.static}"
(cd "$link_dir" && eval "$static_line")

mkdir -p "$destination/lib"
strip -o "$destination/ranklens_cuda_tests" "$link_dir/ranklens_cuda_tests.static"
strip -o "$destination/bench_cuda_kernels" "$build/bench/bench_cuda_kernels"
strip -o "$destination/bench_cuda_gpt_step" "$build/bench/bench_cuda_gpt_step"
# libquadmath is small and not on every image: it travels.
cp -L "$(g++ -print-file-name=libquadmath.so.0)" "$destination/lib/"
cp scripts/gpu_check.sh bench/pytorch_cuda_kernels.py bench/pytorch_gpt_step.py "$destination/"

echo "gpu_bundle: shared libraries the binaries still need:"
for binary in "$destination/ranklens_cuda_tests" "$destination/bench_cuda_kernels" "$destination/bench_cuda_gpt_step"; do
  echo "  $(basename "$binary"): $(ldd "$binary" | awk '{print $1}' | grep -vE 'linux-vdso|ld-linux' | tr '\n' ' ')"
done
if ldd "$destination/ranklens_cuda_tests" | grep -q openblas; then
  echo "gpu_bundle: the test binary still links OpenBLAS dynamically" >&2
  exit 1
fi
du -sh "$destination"
