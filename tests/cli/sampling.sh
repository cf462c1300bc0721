#!/usr/bin/env bash
# Sampling: free-running output on a random-weight model (raw byte tokens
# galore) is valid UTF-8; the same seed gives the same text; the thread count
# does not change results.
set -u
QW=$1; SHARED=$2
[ -d "$SHARED/models" ] || { echo "no shared data: skipped"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass+1)); echo "ok   $1"; }
bad() { fail=$((fail+1)); echo "FAIL $1"; }
S="$SHARED/models/synth15M-q8_0.gguf"
for seed in 1 2 3; do
  "$QW" run -m "$S" -p "Once upon a time" -n 256 --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed $seed >"$T/out$seed" 2>"$T/err$seed"
  rc=$?
  if [ $rc -eq 0 ] && iconv -f UTF-8 -t UTF-8 "$T/out$seed" >/dev/null 2>&1; then ok "synth15M seed $seed: $(wc -c <"$T/out$seed") bytes of valid UTF-8"
  else bad "synth15M seed $seed (exit $rc)"; fi
done
"$QW" run -m "$S" -p "Once upon a time" -n 256 --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 1 >"$T/again" 2>/dev/null
cmp -s "$T/out1" "$T/again" && ok "same seed, same text" || bad "same seed gave different text"
cmp -s "$T/out1" "$T/out2" && bad "different seeds gave the same text" || ok "different seeds differ"
R="$SHARED/models/stories260K-q4_0.gguf"
"$QW" run -m "$R" -p "Once upon a time" -n 64 --temp 0.9 --top-k 40 --top-p 0.9 --min-p 0.05 --repeat-penalty 1.1 --seed 7 >"$T/a" 2>/dev/null
"$QW" run -m "$R" -p "Once upon a time" -n 64 --temp 0.9 --top-k 40 --top-p 0.9 --min-p 0.05 --repeat-penalty 1.1 --seed 7 --threads 2 >"$T/b" 2>/dev/null
cmp -s "$T/a" "$T/b" && ok "threads 1 and 2 sample the same text" || bad "threads changed sampled text"
"$QW" run -m "$R" -p "Once upon a time" -n 64 --temp 0 --stop "Lily" >"$T/stop" 2>/dev/null
if [ "$(cat "$T/stop")" == "Once upon a time, there was a little girl named " ]; then ok "stop string"; else bad "stop string: '$(cat "$T/stop")'"; fi
for m in synth15M-q4_k_m stories260K-f16; do
  "$QW" eval -m "$SHARED/models/$m.gguf" --prompt "Once upon a time, there was" --threads 1 >"$T/e1" 2>/dev/null
  "$QW" eval -m "$SHARED/models/$m.gguf" --prompt "Once upon a time, there was" --threads 2 >"$T/e2" 2>/dev/null
  [ -s "$T/e1" ] && cmp -s "$T/e1" "$T/e2" && ok "$m: eval identical at 1 and 2 threads" || bad "$m: eval differs across threads"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
