#!/usr/bin/env bash
# Builds the WebAssembly module used by wasm/engine.mjs and wasm/cli.mjs, in four
# variants, each an ES module factory (qwasm.mjs + qwasm.wasm; the pthreads ones
# also qwasm.worker.js) that runs in Node, browsers and workers:
#   build-wasm/              single-threaded, baseline SIMD128
#   build-wasm-mt/           pthreads (-pthread); the engine sizes the worker pool
#                            per module instance (Module.qwPoolSize = threads - 1),
#                            and the pool is loaded before the module resolves, so
#                            creating the threads never waits on the event loop
#   build-wasm-relaxed/      the same two with relaxed SIMD (-mrelaxed-simd): a
#   build-wasm-mt-relaxed/   fused f32x4.relaxed_madd where the baseline emulates
#                            fmaf exactly in f64x2 (same bits, much faster); the
#                            engine uses them only where relaxed SIMD exists and
#                            the multiply-add is fused (wasm/engine.mjs
#                            relaxedSimdSupport). CMake renumbers clang 14's early
#                            fma opcode to the standard one after linking
#                            (scripts/wasm-relaxed.mjs).
# All: -O3 -msimd128, plain wasm32 (no Memory64/JSPI/Asyncify), memory
# growth up to 4 GB. Needs Debian's emscripten (3.1.6+), nodejs and libstb-dev
# (installed if missing).
#   bash scripts/build-wasm.sh                  # all four
#   VARIANTS="st mt" bash scripts/build-wasm.sh   # some (st mt st-relaxed mt-relaxed)
# Env: JOBS (default 2), VARIANTS ("st mt st-relaxed mt-relaxed").
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-2}
VARIANTS=${VARIANTS:-"st mt st-relaxed mt-relaxed"}

bash scripts/deps.sh wasm
# Debian's emscripten tools find their node modules here
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}

build() { # dir, extra compile flags, extra link flags
  local dir=$1 cflags=$2 lflags=$3
  mkdir -p "$dir/shim"
  # <stb/stb_ds.h> without putting /usr/include (glibc headers) on emcc's path
  ln -sfn /usr/include/stb "$dir/shim/stb"
  echo "== configure $dir"
  emcmake cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DQW_WERROR=ON -DQW_TESTS=OFF \
    -DCMAKE_C_FLAGS="-msimd128 $cflags -isystem $dir/shim" \
    -DCMAKE_EXE_LINKER_FLAGS="$lflags" >/dev/null
  echo "== build $dir"
  cmake --build "$dir" -j"$JOBS" --target qwasm_wasm
  ls -l "$dir"/qwasm.mjs "$dir"/qwasm.wasm
}

MT_LINK="-pthread -sPTHREAD_POOL_SIZE=Module.qwPoolSize||1 -sPTHREAD_POOL_SIZE_STRICT=2"
for v in $VARIANTS; do
  case $v in
    st) build "$ROOT/build-wasm" "" "" ;;
    mt) build "$ROOT/build-wasm-mt" "-pthread" "$MT_LINK" ;;
    st-relaxed) build "$ROOT/build-wasm-relaxed" "-mrelaxed-simd" "" ;;
    mt-relaxed) build "$ROOT/build-wasm-mt-relaxed" "-mrelaxed-simd -pthread" "$MT_LINK" ;;
    *) echo "unknown variant '$v' (st, mt, st-relaxed, mt-relaxed)" >&2; exit 2 ;;
  esac
done
