#!/usr/bin/env bash
# qwasm synth: random-weight stories15m files (Q8_0, Q4_K_M, Llama SPM vocab)
# load with the right shape and parameter count, generate 16 tokens, are
# byte-identical for the same seed (whatever the thread count) and differ for
# another seed; bad arguments give one-line errors. Also a tiny qwasm bench
# run (one table row per thread count). About 10 s.
set -u
QW=$1; SHARED=$2
V="$SHARED/vocab/ggml-vocab-llama-spm.gguf"
[ -f "$V" ] || { echo "no shared data: skipped"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "ok   $1"; }
bad() { fail=$((fail+1)); echo "FAIL $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# expect_error DESCRIPTION SUBSTRING CMD...
expect_error() {
  local what=$1 sub=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  local lines; lines=$(wc -l <"$T/err")
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$lines" -eq 1 ] && grep -qF -- "$sub" "$T/err"; then
    ok "$what: $(cat "$T/err")"
  else
    bad "$what (exit $rc, $lines lines): $(head -3 "$T/err")"
  fi
}

for q in Q8_0 Q4_K_M; do
  f="$T/s15-$q.gguf"
  if ! "$QW" synth --shape stories15m --type $q --vocab "$V" -t 2 -o "$f" >"$T/synth.out" 2>"$T/synth.err"; then
    bad "synth $q: $(head -3 "$T/synth.err")"; continue
  fi
  ok "synth $q ($(stat -c %s "$f") bytes)"
  "$QW" info "$f" >"$T/info" 2>&1
  shape_ok=1
  for want in "parameters:      24407712 " "vocab:           32000 (bos 1, eos 2" \
              "width:           288" "layers:          6" "heads:           6 (kv 6, head size 48)" \
              "feed-forward:    768" "output:          separate" "context (train): 256"; do
    grep -qF -- "$want" "$T/info" || { shape_ok=0; echo "     missing: '$want'"; }
  done
  check "info $q: shape and parameter count" [ $shape_ok -eq 1 ]
  "$QW" run -m "$f" -p "Once upon a time" -n 16 --temp 0 >"$T/run.out" 2>"$T/run.err"
  check "run $q: 16 tokens ($(grep -o 'generation: [0-9]* tokens' "$T/run.err"))" \
    grep -q "generation: 16 tokens" "$T/run.err"
done
grep -q "Q5_0 x35 Q8_0 x3 Q4_K x4 Q6_K x2" "$T/info" && ok "Q4_K_M mix as llama-quantize's" \
  || bad "Q4_K_M mix: $(grep types "$T/info")"

# determinism: same seed, different thread counts -> same bytes; other seed -> different
"$QW" synth --shape stories15m --type Q8_0 --seed 7 -t 1 -o "$T/a.gguf" >/dev/null 2>&1
"$QW" synth --shape stories15m --type Q8_0 --seed 7 -t 2 -o "$T/b.gguf" >/dev/null 2>&1
"$QW" synth --shape stories15m --type Q8_0 --seed 8 -t 2 -o "$T/c.gguf" >/dev/null 2>&1
check "same seed: byte-identical" cmp -s "$T/a.gguf" "$T/b.gguf"
check "other seed: different" bash -c "[ -s '$T/c.gguf' ] && ! cmp -s '$T/a.gguf' '$T/c.gguf'"
check "generated vocab: loads" bash -c "'$QW' info '$T/a.gguf' | grep -qF 'vocab:           32000 (bos 1, eos 2, add bos yes)'"

# bench: one row per thread count
"$QW" bench -m "$T/a.gguf" -p 8 -n 4 -r 1 -t 1,2 >"$T/bench" 2>"$T/bench.err"
check "bench: header + 2 rows" [ "$(grep -c '^| a.gguf | Q8_0 |' "$T/bench")" -eq 2 ]

expect_error "unknown shape"     "unknown shape 'gpt5'"  "$QW" synth --shape gpt5 --type Q8_0 -o "$T/x.gguf"
expect_error "unknown type"      "unknown type 'Q3_K'"   "$QW" synth --shape stories15m --type Q3_K -o "$T/x.gguf"
expect_error "missing -o"        "-o FILE"               "$QW" synth --shape stories15m --type Q8_0
expect_error "missing --shape"   "--shape"               "$QW" synth --type Q8_0 -o "$T/x.gguf"
expect_error "missing --type"    "--type"                "$QW" synth --shape stories15m -o "$T/x.gguf"
expect_error "unwritable path"   "cannot create"         "$QW" synth --shape stories15m --type Q8_0 -o "$T/no/such/dir/x.gguf"
expect_error "missing vocab"     "cannot open"           "$QW" synth --shape stories15m --type Q8_0 --vocab "$T/none.gguf" -o "$T/x.gguf"
expect_error "BPE vocab"         "not supported"         "$QW" synth --shape stories15m --type Q8_0 --vocab "$SHARED/vocab/ggml-vocab-gpt-2.gguf" -o "$T/x.gguf"
expect_error "bad seed"          "--seed"                "$QW" synth --shape stories15m --type Q8_0 --seed -1 -o "$T/x.gguf"
expect_error "thread list"       "list of thread counts" "$QW" synth --shape stories15m --type Q8_0 -t 1,2 -o "$T/x.gguf"
expect_error "bench bad -p"      "-p expects"            "$QW" bench -m "$T/a.gguf" -p many
expect_error "bench bad -t"      "-t expects"            "$QW" bench -m "$T/a.gguf" -t 1,0
check "no partial file left" [ ! -e "$T/x.gguf" ]
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
