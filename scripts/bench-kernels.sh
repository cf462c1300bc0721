#!/usr/bin/env bash
# Kernel microbenchmark: the quantized matrix-vector kernels alone (what
# generation spends its time in), natively, under Node and in headless
# Chromium, for both wasm builds; prints one markdown table of the best ns
# per weight block and row (scripts/kbench/). On a shared machine, model-level
# tokens/s moves by +-15% between runs; this is the measurement that shows a
# kernel change of a few percent.
#   bash scripts/bench-kernels.sh                       # --reps 7 --pages 3
#   bash scripts/bench-kernels.sh --reps 5 --pages 2 --no-browser
# Builds what it needs: the native build's qwasm_kbench, the single-threaded
# wasm builds (scripts/build-wasm.sh st st-relaxed) and their kbench target.
set -eu
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
JOBS=${JOBS:-2}

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS" --target qwasm_kbench >/dev/null
for v in st st-relaxed; do
  dir=build-wasm; [ "$v" = st-relaxed ] && dir=build-wasm-relaxed
  [ -f "$dir/CMakeCache.txt" ] || VARIANTS=$v bash scripts/build-wasm.sh >/dev/null
  cmake "$dir" >/dev/null
  cmake --build "$dir" -j"$JOBS" --target qwasm_kbench >/dev/null
done
bash scripts/deps.sh browser >/dev/null
node scripts/kbench/run.mjs "$@"
