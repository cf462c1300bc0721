#!/usr/bin/env bash
# Installs the Debian packages a job needs, only those missing.
#   scripts/deps.sh build    compiler, cmake, stb
#   scripts/deps.sh fuzz     + clang and libFuzzer runtime
#   scripts/deps.sh wasm     emscripten, nodejs, cmake, stb
#   scripts/deps.sh browser  + chromium, npm, and the npm packages (playwright-core)
set -eu
pkgs="build-essential cmake libstb-dev"
case "${1:-build}" in
  build) ;;
  fuzz|test) pkgs="$pkgs clang libclang-rt-14-dev" ;;
  wasm) pkgs="emscripten nodejs cmake libstb-dev" ;;
  browser) pkgs="emscripten nodejs cmake libstb-dev chromium"
           command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm" ;;
  *) echo "usage: scripts/deps.sh [build|test|fuzz|wasm|browser]" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ "${1:-}" = browser ] && [ ! -d node_modules/playwright-core ]; then
  # the browser itself is Debian's /usr/bin/chromium: never let playwright download one
  (cd "$(dirname "$0")/.." && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null)
fi
