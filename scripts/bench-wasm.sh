#!/usr/bin/env bash
# WebAssembly speed next to native: native `qwasm bench`, the wasm twin under
# Node (st at 1 thread, mt at 2) and in headless Chromium (web/bench/, st at 1
# thread, mt at 2 with cross-origin isolation), per model back to back; writes
# the table into docs/BENCHMARKS.md (section "WebAssembly (wasm) benchmarks").
#   bash scripts/bench-wasm.sh                 # synth15M Q8_0, Q4_0, Q4_K_M; -r 5
#   bash scripts/bench-wasm.sh -r 3 --models synth15M-q8_0.gguf
#   bash scripts/bench-wasm.sh --no-write      # print the table only
# Options are passed to tests/browser/bench-wasm.mjs (--models, -r, --no-node,
# --no-browser).
#
# --paired: Chromium against native round by round instead (tests/browser/
# bench-paired.mjs: one native and one Chromium measurement at a time,
# alternating; the median of the per-round ratios), into its own block of
# docs/BENCHMARKS.md; options --models, --threads 1,2, -n ROUNDS, -k REPS.
#   bash scripts/bench-wasm.sh --paired        # the three models, 1 and 2 threads, 11 rounds of 5
#
# Needs the native build (build/qwasm), the wasm builds (scripts/build-wasm.sh),
# ../shared/models and Chromium (scripts/deps.sh browser).
set -eu
cd "$(dirname "$0")/.."
write=--write
script=tests/browser/bench-wasm.mjs
args=()
for a in "$@"; do
  case $a in
    --no-write) write= ;;
    --paired) script=tests/browser/bench-paired.mjs ;;
    *) args+=("$a") ;;
  esac
done
exec node "$script" ${write:+"$write"} "${args[@]+"${args[@]}"}"
