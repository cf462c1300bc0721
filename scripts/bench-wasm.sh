#!/usr/bin/env bash
# WebAssembly speed next to native: native `qwasm bench`, the wasm twin under
# Node (st at 1 thread, mt at 2) and in headless Chromium (web/bench/, st at 1
# thread, mt at 2 with cross-origin isolation), per model back to back; writes
# the table into docs/BENCHMARKS.md (section "WebAssembly (wasm) benchmarks").
#   bash scripts/bench-wasm.sh                 # synth15M Q8_0, Q4_0, Q4_K_M; -r 5
#   bash scripts/bench-wasm.sh -r 3 --models synth15M-q8_0.gguf
#   bash scripts/bench-wasm.sh --no-write      # print the table only
# Options are passed to tests/browser/bench-wasm.mjs (--models, -r, --no-node,
# --no-browser). Needs the native build (build/qwasm), the wasm builds
# (scripts/build-wasm.sh), ../shared/models and Chromium (scripts/deps.sh browser).
set -eu
cd "$(dirname "$0")/.."
write=--write
args=()
for a in "$@"; do
  if [ "$a" = --no-write ]; then write=; else args+=("$a"); fi
done
exec node tests/browser/bench-wasm.mjs ${write:+"$write"} "${args[@]+"${args[@]}"}"
