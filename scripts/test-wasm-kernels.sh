#!/usr/bin/env bash
# Builds the kernel-related C tests for WebAssembly (emcc) and runs them under
# Node, in two builds:
#   baseline  SIMD128 (kernel path wasm-simd128), into build-wasm-test/
#   relaxed   SIMD128 + relaxed SIMD (-mrelaxed-simd; kernel path
#             wasm-relaxed-simd, fmaf as f32x4.relaxed_madd), into
#             build-wasm-test-relaxed/, run with the flags Node needs for it
#             (Node 20: --experimental-wasm-relaxed-simd --no-liftoff, below).
#             Skipped, with the reason, when this Node has no relaxed SIMD or
#             its relaxed_madd is not fused (the build needs a fused one).
# Tests, in each build:
#   test_kernels      every kernel of the build's path against the scalar
#                     reference, bit for bit (vec_dot, quantize_act, matmul),
#                     and qw_fmaf against the double-based qw_fmaf_soft
#   test_quant_types  the type table
#   test_reference    logits against llama.cpp (reads ../shared via NODERAWFS),
#                     run on the default path and again with QW_KERNELS=scalar;
#                     all outputs (both paths, both builds) must be identical.
#   test_trig         RoPE's sin/cos: the same bits as natively (wasm's libm
#                     differs from glibc in the last bit; ours does not)
# Needs Debian's emscripten and nodejs (installed if missing) and libstb-dev.
# Single-threaded builds (no -pthread).
# Env: JOBS (default 1), BUILD_DIR, RELAXED_BUILD_DIR, RELAXED (default 1; 0
# leaves the relaxed build out), QW_REQUIRE_RELAXED (1: a Node that cannot
# run the relaxed build fails instead of skipping; scripts/test.sh sets it).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-"$ROOT/build-wasm-test"}
RELAXED_BUILD_DIR=${RELAXED_BUILD_DIR:-"$ROOT/build-wasm-test-relaxed"}
RELAXED=${RELAXED:-1}
JOBS=${JOBS:-1}
TESTS="test_kernels test_quant_types test_reference test_trig"

bash scripts/deps.sh wasm
# Debian's emscripten tools find their node modules here
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}

build() { # dir, extra C flags
  local dir=$1 cflags=$2
  mkdir -p "$dir/shim"
  # <stb/stb_ds.h> without putting /usr/include (glibc headers) on emcc's path
  ln -sfn /usr/include/stb "$dir/shim/stb"
  # Emscripten does not pass the process environment to the program: forward
  # QW_KERNELS so the kernel path can be forced from the shell.
  cat >"$dir/shim/env-pre.js" <<'EOF'
Module['preRun'] = Module['preRun'] || [];
Module['preRun'].push(function () {
  if (typeof process === 'object' && process.env && process.env.QW_KERNELS !== undefined)
    ENV['QW_KERNELS'] = process.env.QW_KERNELS;
});
EOF
  echo "== configure ($dir)"
  emcmake cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DQW_WERROR=ON \
    -DCMAKE_C_FLAGS="-msimd128 $cflags -isystem $dir/shim" \
    -DCMAKE_EXE_LINKER_FLAGS="-sALLOW_MEMORY_GROWTH=1 -sNODERAWFS=1 -sEXIT_RUNTIME=1 --pre-js $dir/shim/env-pre.js" \
    >/dev/null
  echo "== build ($dir): $TESTS"
  cmake --build "$dir" -j"$JOBS" --target $TESTS
}

# Node 18+ tries fetch() for the .wasm next to the .js, which fails for files
NODE="node"
if node --no-experimental-fetch -e 0 >/dev/null 2>&1; then NODE="node --no-experimental-fetch"; fi

# Can this Node run the relaxed-SIMD build? The engine's own probe
# (wasm/engine.mjs relaxedSimdSupport: relaxed SIMD present, relaxed_madd
# fused, relaxed_dot_i8x16_i7x16_add_s exact) under the flags Node may need:
# Node 20 (V8 11.3) has relaxed SIMD behind --experimental-wasm-relaxed-simd,
# and its baseline compiler (Liftoff) gets the dot product wrong (twice the
# products, addend ignored; optimized code is right), hence --no-liftoff.
# Prints "ok" or the reason it cannot.
RELAXED_PROBE='import("./wasm/engine.mjs").then((m) => { const r = m.relaxedSimdSupport(); console.log(r.ok ? "ok" : r.reason); })'
relaxed_node=""
relaxed_why="RELAXED=0"
if [ "$RELAXED" != 0 ]; then
  for flags in "" "--experimental-wasm-relaxed-simd" "--experimental-wasm-relaxed-simd --no-liftoff"; do
    node $flags -e 0 >/dev/null 2>&1 || continue # a flag this Node does not know
    why=$($NODE $flags -e "$RELAXED_PROBE" 2>&1 | tail -n 1) || true
    if [ "$why" = ok ]; then relaxed_node="$NODE $flags"; break; fi
    relaxed_why="node $(node --version) ${flags:+with $flags}: $why"
  done
fi

status=0
summary=()
run() { # label, dir, node command, test name, extra env...
  local label=$1 dir=$2 node=$3 name=$4; shift 4
  local t0=$SECONDS rc=0
  label="[$label] $name${*:+ ($*)}"
  echo "== $label"
  env "$@" $node "$dir/$name.js" >"$dir/$name.$$.out" 2>&1 || rc=$?
  cat "$dir/$name.$$.out"
  if [ $rc -eq 0 ]; then summary+=("$label: ok ($((SECONDS - t0)) s)")
  elif [ $rc -eq 77 ]; then summary+=("$label: skipped")
  else summary+=("$label: FAILED (exit $rc)"); status=1; fi
  return 0
}

run_build() { # label, dir, node command
  local label=$1 dir=$2 node=$3
  run "$label" "$dir" "$node" test_kernels
  run "$label" "$dir" "$node" test_quant_types
  run "$label" "$dir" "$node" test_trig
  run "$label" "$dir" "$node" test_reference
  mv "$dir/test_reference.$$.out" "$dir/test_reference.simd.out"
  run "$label" "$dir" "$node" test_reference QW_KERNELS=scalar
  mv "$dir/test_reference.$$.out" "$dir/test_reference.scalar.out"
  rm -f "$dir"/*.$$.out
}

# test_reference's outputs must all equal the first one (baseline, default path)
same_reference() { # label, file
  if cmp -s "$BUILD_DIR/test_reference.simd.out" "$2"; then
    summary+=("test_reference: $1 output identical")
  else
    summary+=("test_reference: $1 output DIFFERS from wasm-simd128's")
    diff "$BUILD_DIR/test_reference.simd.out" "$2" || true
    status=1
  fi
}

build "$BUILD_DIR" ""
run_build wasm-simd128 "$BUILD_DIR" "$NODE"
same_reference "wasm-simd128 QW_KERNELS=scalar" "$BUILD_DIR/test_reference.scalar.out"

if [ -n "$relaxed_node" ]; then
  build "$RELAXED_BUILD_DIR" "-mrelaxed-simd"
  # CMake renumbers the fma opcode after linking (scripts/wasm-relaxed.mjs);
  # --check confirms none of the early opcode is left, and that the kernels
  # and the reference really contain relaxed_madd instructions
  for t in $TESTS; do
    c=$(node scripts/wasm-relaxed.mjs "$RELAXED_BUILD_DIR/$t.wasm" --check)
    echo "$c"
    case $t in test_kernels|test_reference)
      if ! [[ $c =~ \ 0\ early-numbered.*\ ([1-9][0-9]*)\ already ]]; then
        summary+=("[wasm-relaxed-simd] $t.wasm: early fma opcodes left, or no relaxed_madd at all"); status=1
      fi ;;
    esac
  done
  run_build wasm-relaxed-simd "$RELAXED_BUILD_DIR" "$relaxed_node"
  same_reference "wasm-relaxed-simd" "$RELAXED_BUILD_DIR/test_reference.simd.out"
  same_reference "wasm-relaxed-simd QW_KERNELS=scalar" "$RELAXED_BUILD_DIR/test_reference.scalar.out"
elif [ "${QW_REQUIRE_RELAXED:-0}" = 1 ]; then
  summary+=("[wasm-relaxed-simd] FAILED: QW_REQUIRE_RELAXED=1 but $relaxed_why"); status=1
else
  summary+=("[wasm-relaxed-simd] skipped: $relaxed_why")
fi

printf '%s\n' "${summary[@]}"
exit $status
