#!/usr/bin/env bash
# Builds the kernel-related C tests for WebAssembly (emcc, SIMD128 on) into
# build-wasm-test/ and runs them under Node:
#   test_kernels      every wasm-simd128 kernel against the scalar reference,
#                     bit for bit (vec_dot, quantize_act, matmul)
#   test_quant_types  the type table
#   test_reference    logits against llama.cpp (reads ../shared via NODERAWFS),
#                     run on the default path (wasm-simd128) and again with
#                     QW_KERNELS=scalar; the two outputs must be identical.
#   test_trig         RoPE's sin/cos: the same bits as natively (wasm's libm
#                     differs from glibc in the last bit; ours does not)
# Needs Debian's emscripten and nodejs (installed if missing) and libstb-dev.
# Single-threaded build (no -pthread). Env: JOBS (default 1), BUILD_DIR.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-"$ROOT/build-wasm-test"}
JOBS=${JOBS:-1}
TESTS="test_kernels test_quant_types test_reference test_trig"

bash scripts/deps.sh wasm
# Debian's emscripten tools find their node modules here
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}

mkdir -p "$BUILD_DIR/shim"
# <stb/stb_ds.h> without putting /usr/include (glibc headers) on emcc's path
ln -sfn /usr/include/stb "$BUILD_DIR/shim/stb"
# Emscripten does not pass the process environment to the program: forward
# QW_KERNELS so the kernel path can be forced from the shell.
cat >"$BUILD_DIR/shim/env-pre.js" <<'EOF'
Module['preRun'] = Module['preRun'] || [];
Module['preRun'].push(function () {
  if (typeof process === 'object' && process.env && process.env.QW_KERNELS !== undefined)
    ENV['QW_KERNELS'] = process.env.QW_KERNELS;
});
EOF

echo "== configure ($BUILD_DIR)"
emcmake cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DQW_WERROR=ON \
  -DCMAKE_C_FLAGS="-msimd128 -isystem $BUILD_DIR/shim" \
  -DCMAKE_EXE_LINKER_FLAGS="-sALLOW_MEMORY_GROWTH=1 -sNODERAWFS=1 -sEXIT_RUNTIME=1 --pre-js $BUILD_DIR/shim/env-pre.js" \
  >/dev/null
echo "== build: $TESTS"
cmake --build "$BUILD_DIR" -j"$JOBS" --target $TESTS

# Node 18+ tries fetch() for the .wasm next to the .js, which fails for files
NODE="node"
if node --no-experimental-fetch -e 0 >/dev/null 2>&1; then NODE="node --no-experimental-fetch"; fi

status=0
summary=()
run() { # name, extra env...
  local name=$1; shift
  local t0=$SECONDS rc=0 label="$name${*:+ ($*)}"
  echo "== $label"
  env "$@" $NODE "$BUILD_DIR/$name.js" >"$BUILD_DIR/$name.$$.out" 2>&1 || rc=$?
  cat "$BUILD_DIR/$name.$$.out"
  if [ $rc -eq 0 ]; then summary+=("$label: ok ($((SECONDS - t0)) s)")
  elif [ $rc -eq 77 ]; then summary+=("$label: skipped")
  else summary+=("$label: FAILED (exit $rc)"); status=1; fi
  return 0
}

run test_kernels
run test_quant_types
run test_trig
run test_reference
mv "$BUILD_DIR/test_reference.$$.out" "$BUILD_DIR/test_reference.simd.out"
run test_reference QW_KERNELS=scalar
mv "$BUILD_DIR/test_reference.$$.out" "$BUILD_DIR/test_reference.scalar.out"
if cmp -s "$BUILD_DIR/test_reference.simd.out" "$BUILD_DIR/test_reference.scalar.out"; then
  summary+=("test_reference: wasm-simd128 and scalar outputs identical")
else
  summary+=("test_reference: wasm-simd128 and scalar outputs DIFFER")
  diff "$BUILD_DIR/test_reference.scalar.out" "$BUILD_DIR/test_reference.simd.out" || true
  status=1
fi
rm -f "$BUILD_DIR"/*.$$.out

printf '%s\n' "${summary[@]}"
exit $status
