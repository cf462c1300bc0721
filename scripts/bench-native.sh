#!/usr/bin/env bash
# Native throughput benchmarks: builds qwasm (Release), makes the synthetic
# models it needs with `qwasm synth` (cached in build/synth/, outside git),
# runs `qwasm bench` on each and writes its part of docs/BENCHMARKS.md: the
# lines between `<!-- bench-native:begin -->` and `<!-- bench-native:end -->`
# are replaced, the rest of the file (hand-written sections) is kept. A file
# without the two markers is left alone (error); a missing file is created.
#
#   scripts/bench-native.sh [options]
#     --shapes LIST   synth15m,smollm2-135m,llama3.2-1b (default: all three;
#                     synth15m = the llama.cpp-made files in ../shared/models)
#     --types LIST    Q8_0,Q4_0,Q4_K_M (default; F16 also possible)
#     -t LIST         thread counts (default 1,2)
#     -r N            repetitions (default 5)
#     --reps-big N    repetitions for llama3.2-1b (default: as -r)
#     -p N / -n N     prompt / generated tokens (default 64 / 64)
#     --kernels LIST  also force kernel paths, e.g. scalar,avx2 (QW_KERNELS);
#                     default: the path qwasm picks
#     --jobs N        build parallelism (default: nproc)
#     --no-build      use the existing build
#     --build-dir DIR default build (synthetic files: build/synth either way)
#     --fresh         remake the synthetic files even if present
#     --shared DIR    shared data (default ../shared)
#     --out FILE      default docs/BENCHMARKS.md (its generated block only)
# llama3.2-1b is slow on scalar kernels and takes ~2.5 GB of disk for its
# three files: limit it with --shapes / -r.
set -euo pipefail
cd "$(dirname "$0")/.."

SHAPES=synth15m,smollm2-135m,llama3.2-1b
TYPES=Q8_0,Q4_0,Q4_K_M
THREADS=1,2
REPS=5
REPS_BIG=
PP=64
TG=64
KERNELS=
JOBS=$(nproc 2>/dev/null || echo 2)
BUILD=1
FRESH=0
SHARED=../shared
OUT=docs/BENCHMARKS.md
BUILD_DIR=build
SYNTH_DIR=build/synth
SEED=1234

die() { echo "bench-native: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --shapes) need "$@"; SHAPES=$2; shift 2 ;;
    --types) need "$@"; TYPES=$2; shift 2 ;;
    -t|--threads) need "$@"; THREADS=$2; shift 2 ;;
    -r) need "$@"; REPS=$2; shift 2 ;;
    --reps-big) need "$@"; REPS_BIG=$2; shift 2 ;;
    -p) need "$@"; PP=$2; shift 2 ;;
    -n) need "$@"; TG=$2; shift 2 ;;
    --kernels) need "$@"; KERNELS=$2; shift 2 ;;
    --jobs) need "$@"; JOBS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --build-dir) need "$@"; BUILD_DIR=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --shared) need "$@"; SHARED=$2; shift 2 ;;
    --out) need "$@"; OUT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

VOCAB=$SHARED/vocab/ggml-vocab-llama-spm.gguf
[ -f "$VOCAB" ] || die "no vocab at $VOCAB (--shared DIR)"
IFS=, read -r -a shape_list <<<"$SHAPES"
IFS=, read -r -a type_list <<<"$TYPES"
IFS=, read -r -a kernel_list <<<"${KERNELS:-auto}"

if [ $BUILD -eq 1 ]; then
  echo "== build (Release)" >&2
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j"$JOBS" --target qwasm >/dev/null
fi
QW=$BUILD_DIR/qwasm
[ -x "$QW" ] || die "no $QW (drop --no-build)"
mkdir -p "$SYNTH_DIR" "$(dirname "$OUT")"

lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }

# ---- the models
models=()
for shape in "${shape_list[@]}"; do
  for type in "${type_list[@]}"; do
    if [ "$shape" = synth15m ]; then
      f=$SHARED/models/synth15M-$(lower "$type").gguf
      [ -f "$f" ] || die "no $f"
    else
      f=$SYNTH_DIR/$shape-$(lower "$type").gguf
      if [ $FRESH -eq 1 ] || [ ! -s "$f" ]; then
        echo "== synth $shape $type -> $f" >&2
        "$QW" synth --shape "$shape" --type "$type" --vocab "$VOCAB" --seed $SEED -o "$f" >/dev/null
      fi
    fi
    models+=("$f")
  done
done

# ---- the runs
rows=$(mktemp); gen=$(mktemp); spliced=
trap 'rm -f "$rows" "$gen" ${spliced:+"$spliced"}' EXIT
BEGIN_MARK='<!-- bench-native:begin -->'
END_MARK='<!-- bench-native:end -->'
# checked before the runs, so a file without markers costs no benchmark time
check_markers() {
  [ -f "$OUT" ] || return 0
  local nb ne lb le
  nb=$(grep -c -x -F -e "$BEGIN_MARK" "$OUT" || true)
  ne=$(grep -c -x -F -e "$END_MARK" "$OUT" || true)
  [ "$nb" = 1 ] && [ "$ne" = 1 ] ||
    die "$OUT: needs exactly one '$BEGIN_MARK' line and one '$END_MARK' line around the generated part (found $nb and $ne); nothing written"
  lb=$(grep -n -x -F -e "$BEGIN_MARK" "$OUT" | cut -d: -f1)
  le=$(grep -n -x -F -e "$END_MARK" "$OUT" | cut -d: -f1)
  [ "$lb" -lt "$le" ] || die "$OUT: '$END_MARK' comes before '$BEGIN_MARK'; nothing written"
}
check_markers
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
reps_note=
for f in "${models[@]}"; do
  r=$REPS
  case $f in *llama3.2-1b*) r=${REPS_BIG:-$REPS} ;; esac
  [ "$r" != "$REPS" ] && reps_note=" (llama3.2-1b: $r)"
  for k in "${kernel_list[@]}"; do
    echo "== bench $f (kernels: $k, threads $THREADS, r $r)" >&2
    if [ "$k" = auto ]; then
      "$QW" bench -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -r "$r" | tail -n +3 | tee -a "$rows" >&2
    else
      QW_KERNELS=$k "$QW" bench -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -r "$r" | tail -n +3 | tee -a "$rows" >&2
    fi
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# ---- machine
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
flags=$(lscpu 2>/dev/null | sed -n 's/^Flags: *//p' | head -1)
simd=
for fl in sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx_vnni avx512_bf16 amx_tile asimd asimddp sve; do
  case " $flags " in *" $fl "*) simd="$simd $fl" ;; esac
done
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | head -1)
ccv=$("${cc:-cc}" --version 2>/dev/null | head -1)
cflags=$(sed -n 's/^CMAKE_C_FLAGS_RELEASE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
dirty=$(git status --porcelain 2>/dev/null | grep -c . || true)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null)

# ---- shapes: exact parameter counts and file sizes (no data written)
AWK_COMMAS='function commas(n,  s, r) { s = sprintf("%.0f", n); r = "";
  while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
  return s r }'
shapes_md=$(
  echo "| shape | layers | width | heads / kv | head dim | ffn | vocab | output | rope base | ctx | parameters |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
  for shape in stories15m smollm2-135m llama3.2-1b; do
    "$QW" synth --shape $shape --type F16 --vocab "$VOCAB" --dry-run | awk -v s=$shape "$AWK_COMMAS"'
      /^shape:/ { sub(/^shape: +[^ ]+ \(/, ""); sub(/\)$/, ""); n = split($0, a, ", ") ;
        for (i = 1; i <= n; i++) { split(a[i], w, " "); v[i] = a[i] } }
      /^parameters:/ { p = $2 }
      END {
        split(v[1], l, " "); split(v[2], d, " "); split(v[3], h, " "); split(v[4], f, " ");
        split(v[5], vo, " "); split(v[6], o, " "); split(v[7], r, " "); split(v[8], c, " ");
        hk = v[3]; sub(/ heads \/ /, " / ", hk); sub(/ kv heads/, "", hk);
        printf "| %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n",
          s, l[1], d[1], hk, d[1] / h[1], f[2], vo[2], o[1], r[3], c[2], commas(p) }'
  done
  echo
  echo "File sizes in bytes (with the 32000-token Llama SPM vocab, padded to the shape's vocab size), and tensor types:"
  echo
  echo "| shape | type | file bytes | tensor types |"
  echo "| --- | --- | ---: | --- |"
  for shape in stories15m smollm2-135m llama3.2-1b; do
    for type in F16 Q8_0 Q4_0 Q4_K_M; do
      "$QW" synth --shape $shape --type $type --vocab "$VOCAB" --dry-run | awk -v s=$shape -v t=$type "$AWK_COMMAS"'
        /^file size:/ { b = $3 } /^tensors:/ { sub(/^tensors: +/, ""); ty = $0 }
        END { printf "| %s | %s | %s | %s |\n", s, t, commas(b), ty }'
    done
  done
)

{
cat <<EOF
Generated by \`scripts/bench-native.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Rerun it to refresh
this file (options: \`--shapes\`, \`--types\`, \`-t\`, \`-r\`, \`--kernels\`; see \`--help\`).

## Machine

- CPU: ${cpu:-unknown} ($(nproc 2>/dev/null || echo "?") logical CPUs online), memory ${mem:-?}
- SIMD flags: ${simd:- none found}
- Compiler: ${ccv:-unknown}; CMake Release (\`${cflags:-?}\`, plus \`-ffp-contract=off\`)
- qwasm: commit $commit$([ "$dirty" -gt 0 ] && echo " with $dirty uncommitted changes")
- Load average (1/5/15 min) before: $load_before, after: $load_after. The machine may be shared:
  compare rows from the same run, and prefer the median.

## Method

\`qwasm bench -m MODEL -p $PP -n $TG -t $THREADS -r $REPS\`: for each thread count, a short warm-up,
then $REPS repetitions$reps_note of

- **pp$PP**: a fresh context, $PP random valid token ids decoded as one batch;
- **tg$TG**: a fresh context, $TG tokens decoded one at a time, each the greedy (argmax) pick on the
  previous logits, starting from BOS.

Cells are tokens/s as *median (min-max)*. **peak RSS** is the bench process's \`ru_maxrss\` (the
kernel's high-water mark of its resident set, = \`VmHWM\`) after the row: the process's peak so
far, so a row never shows less than the rows before it of the same model. It counts every page
of the memory-mapped model file that was touched (all of the weights: the loader checks them),
the KV cache, scratch, heap and the binary's pages (the CLI links statically when it can).
**kernels** is \`qw_kernel_path()\`: the SIMD kernel set used
(\`scalar\` = the portable reference kernels; \`avx2\` = the x86 AVX2 set, work in progress at the
time of writing). The kernel path decides most of the speed: compare rows with the same path.

Models: \`synth15M-*\` are the llama.cpp-quantized random-weight files of \`shared/models\`
(stories15M shape, llama.cpp \`general.file_type\` naming); the others are made by
\`qwasm synth --shape SHAPE --type TYPE --vocab ggml-vocab-llama-spm.gguf --seed $SEED\` (random
weights, NOT language models; see "Synthetic shapes" below).

## Results

| model | type | size | params | kernels | threads | pp$PP t/s | tg$TG t/s | peak RSS |
| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |
EOF
cat "$rows"
cat <<'EOF'

## Synthetic shapes

`qwasm synth` (src/model/synth.c) writes random-weight GGUF files of real llama-architecture
shapes that both qwasm and llama.cpp load:

- **stories15m**: karpathy's stories15M (llama2.c), as `shared/models/synth15M` (which says
  `context_length` 128: the llama2c converter's default; synth writes the trained 256).
- **smollm2-135m**: HuggingFaceTB/SmolLM2-135M (tied embeddings, GQA 3:1).
- **llama3.2-1b**: meta-llama/Llama-3.2-1B (tied embeddings, GQA 4:1). Differences from the
  real model: no `rope_freqs` tensor (Llama 3's RoPE frequency scaling) and a SentencePiece
  vocabulary instead of the 128K-token BPE one; neither changes the amount of work per token.

EOF
echo "$shapes_md"
cat <<'EOF'

Parameter counts include the token embedding (and the separate output matrix of stories15m)
and the norms. File sizes differ by a few hundred bytes from llama.cpp's for the same data
(metadata only): synth's stories15m files have exactly the tensor types and data sizes of
`shared/models/synth15M-*` (which are 224 bytes smaller).

How the files are made:

- **Weights**: seeded Gaussian noise (Marsaglia polar method on splitmix64; each row's stream
  depends only on seed, tensor and row, so the file does not depend on the thread count and a
  seed gives the same underlying weights in every type). Standard deviations are synth15M's
  (token_embd 0.02, output 0.15, block matrices 0.05) at width 288; output and block matrices
  are scaled by sqrt(288 / width) at other widths (block matrices 0.0354 at 576, 0.01875 at
  2048), so every matrix-vector product has synth15M's output variance (unscaled, it would be
  2x / 7.1x larger at 576 / 2048 wide). Norms are 1.0 (F32).
- **Types**: llama-quantize's per-tensor choices (llama.cpp `src/llama-quant.cpp`): F16 and
  Q8_0 put every matrix in that type; Q4_0 uses Q4_0 but Q6_K for the output (or the tied
  token_embd); Q4_K_M uses Q4_K, with Q6_K for attn_v and ffn_down on the "use_more_bits"
  layers (first and last eighth, every third in between) and for the output / tied
  token_embd. A type whose block does not divide the row length falls back as in llama.cpp:
  Q4_K -> Q5_0, Q6_K -> Q8_0, output -> Q8_0. Widths 288 and 576 are not multiples of 256, so
  stories15m and smollm2-135m Q4_K_M files are mostly Q5_0 (real K-quant blocks only in
  ffn_down), as llama.cpp's own files of those models are.
- **Quantizers**: qwasm's reference ones, ports of llama.cpp's `quantize_row_*_ref` (what
  llama-quantize uses without an importance matrix).
- **Vocabulary**: with `--vocab`, the `tokenizer.ggml.*` keys of that GGUF; a shorter vocab is
  padded with `<unused_N>` tokens (type UNUSED, score -1000), a longer one is cut at the end
  (its byte tokens must survive; special-token ids past the end are dropped). Without
  `--vocab`, a generated SentencePiece vocab (`<unk>`, `<s>`, `</s>`, `<0x00>`..`<0xFF>`,
  filler pieces) keeps the file self-contained.
EOF
} >"$gen"

# ---- into $OUT: only the block between the markers
if [ -f "$OUT" ]; then
  check_markers # again: the file may have been edited during the runs
  spliced=$(mktemp "$OUT.XXXXXX")
  awk -v gen="$gen" -v b="$BEGIN_MARK" -v e="$END_MARK" '
    $0 == b { print; while ((getline line < gen) > 0) print line; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$OUT" >"$spliced"
  chmod --reference="$OUT" "$spliced" 2>/dev/null || true
  mv "$spliced" "$OUT"
  spliced=
  echo "updated the generated block of $OUT" >&2
else
  { echo "# Native benchmarks"; echo; echo "$BEGIN_MARK"; cat "$gen"; echo "$END_MARK"; } >"$OUT"
  echo "wrote $OUT" >&2
fi
