# Sourced by the bench scripts (not run): what each needs before it measures anything.
#   ensure_python_peers MODULE... -- PACKAGE...: .venv with the Python peers; "--" separates the
#       modules to import from the pip packages to install when one import fails.
#   build_bench_targets CMAKE_OPTION... -- TARGET...: the Debian packages, then a Release build/
#       of the targets at full optimisation (-DRANKLENS_QUICK_PROGRAMS=OFF: the test command may
#       have configured build/ at -O1).
# The caller has cd'd to the repository root.

ensure_python_peers() {
  local modules=()
  while [ "$1" != "--" ]; do modules+=("$1"); shift; done
  shift
  local imports
  imports="$(IFS=,; echo "import ${modules[*]}")"
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "$imports" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q "$@"
  fi
}

build_bench_targets() {
  local options=()
  while [ "$1" != "--" ]; do options+=("$1"); shift; done
  shift
  scripts/install_deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRANKLENS_QUICK_PROGRAMS=OFF "${options[@]}" > /dev/null
  cmake --build build -j "$(nproc)" --target "$@"
}
