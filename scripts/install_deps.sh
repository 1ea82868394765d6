#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and benchmarking ranklens need.
# Idempotent: when every package is already installed it only asks dpkg and returns, so the
# test and run scripts can call it every time without touching the network.
set -euo pipefail

packages=(
  build-essential cmake g++
  # clang-14 builds the libFuzzer targets; its fuzzer runtime (libclang_rt.fuzzer) lives in
  # libclang-rt-14-dev, which clang only recommends, and we install without recommends.
  clang clang-14 libclang-rt-14-dev
  libxtensor-dev libxsimd-dev libopenblas-dev libboost-dev
  catch2 nlohmann-json3-dev libcli11-dev libbenchmark-dev
  python3 python3-venv
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install_deps: need root (or sudo) to run: apt-get install ${missing[*]}" >&2
  exit 1
fi

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
