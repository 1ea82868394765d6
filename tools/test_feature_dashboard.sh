#!/usr/bin/env bash
# Tests the feature dashboard (include/ranklens/interp/feature_dashboard.hpp) in a real headless
# browser: builds tools/feature_dashboard_demo.cpp, writes a dashboard with it, and checks with
# Chromium (Debian's `chromium` package) that
#
#   1. the page runs its own sort check (?selftest) and reports "selftest: pass";
#   2. no script error reached the page's #errors element or the browser console;
#   3. a copy of the page with a broken script fails checks 1 and 2 (so the checks can fail);
#
# and, with --screenshot FILE, saves a screenshot (docs/img/feature_dashboard.png in the docs).
# --page FILE checks a dashboard a program wrote (lora_sae's adapter_sae_dashboard.html, say)
# instead of the demo's.
#
#   tools/test_feature_dashboard.sh [--page FILE] [--screenshot docs/img/feature_dashboard.png]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
screenshot="" page=""
while [ $# -gt 0 ]; do
  case "$1" in
    --screenshot) screenshot="$(realpath -m "${2:?--screenshot needs a file}")"; shift 2 ;;
    --page) page="$(realpath "${2:?--page needs a file}")"; shift 2 ;;
    *) echo "test_feature_dashboard: unknown argument '$1' (see the comment at the top)" >&2; exit 2 ;;
  esac
done

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "test_feature_dashboard: no chromium found (Debian: apt-get install -y chromium)" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -n "$page" ]; then
  cp "$page" "$work/dashboard.html"
else
  program="$repo_root/build-quick/feature_dashboard_demo"
  mkdir -p "$repo_root/build-quick"
  if [ ! -x "$program" ] || [ tools/feature_dashboard_demo.cpp -nt "$program" ] || [ include/ranklens/interp/feature_dashboard.hpp -nt "$program" ]; then
    echo "compiling $program" >&2
    g++ -std=c++20 -O2 -march=native -I include tools/feature_dashboard_demo.cpp -o "$program" -lopenblas -pthread
  fi
  "$program" "$work/dashboard.html"
fi

flags=(--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" --virtual-time-budget=10000)

# Runs the page (with ?selftest) and prints "ok" or what went wrong.
check_page() {
  local page="$1" log="$work/console.log"
  local dom
  dom="$("$browser" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$page?selftest" 2>"$log" || true)"
  local problems=()
  grep -q 'selftest: pass' <<<"$dom" || problems+=("no 'selftest: pass' in the page ($(grep -o 'selftest: FAIL[^<]*' <<<"$dom" || echo 'the self-check did not run'))")
  grep -q '<div id="errors"></div>' <<<"$dom" || problems+=("the page recorded script errors: $(grep -o '<div id="errors">[^<]*' <<<"$dom")")
  if grep -E 'CONSOLE.*(Uncaught|Error)' "$log" >/dev/null; then
    problems+=("console errors: $(grep -E 'CONSOLE.*(Uncaught|Error)' "$log" | head -3)")
  fi
  if [ ${#problems[@]} -eq 0 ]; then echo ok; else printf '%s\n' "${problems[@]}"; fi
}

result="$(check_page "$work/dashboard.html")"
if [ "$result" != ok ]; then
  echo "test_feature_dashboard: FAILED" >&2
  echo "$result" >&2
  exit 1
fi
echo "dashboard: selftest passed, no console errors"

# The checks must catch a broken page: the same page with a syntax error in its script.
sed 's/  render();/  render(;/' "$work/dashboard.html" >"$work/broken.html"
broken="$(check_page "$work/broken.html")"
if [ "$broken" = ok ]; then
  echo "test_feature_dashboard: FAILED: a page with a broken script passed the checks" >&2
  exit 1
fi
echo "broken page: caught ($(head -1 <<<"$broken" | cut -c1-100)...)"

if [ -n "$screenshot" ]; then
  mkdir -p "$(dirname "$screenshot")"
  "$browser" "${flags[@]}" --hide-scrollbars --window-size=1400,1000 --screenshot="$screenshot" "file://$work/dashboard.html" 2>/dev/null
  echo "screenshot: $screenshot"
fi
