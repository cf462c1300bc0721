#!/usr/bin/env bash
# qwasm run at temperature 0 on every stories260K file prints exactly
# llama.cpp's greedy text (../shared/reference/greedy-*.txt). The reference
# starts with the BOS piece "<s>" and the space SentencePiece puts before the
# first word; qwasm echoes the prompt as typed, so both are stripped from the
# reference before comparing. The rest must match byte for byte.
set -u
QW=$1; SHARED=$2
[ -d "$SHARED/models" ] || { echo "no shared data: skipped"; exit 77; }
pass=0; fail=0
for q in f32 f16 q8_0 q4_0 q4_k_m; do
  model="$SHARED/models/stories260K-$q.gguf"
  ref="$SHARED/reference/greedy-stories260K-$q.txt"
  expected=$(sed '1s/^<s> //' "$ref"; printf x); expected=${expected%x}
  got=$("$QW" run -m "$model" -p "Once upon a time" -n 64 --temp 0 2>/dev/null; printf x); got=${got%x}
  if [ "$got" == "$expected" ]; then pass=$((pass+1)); echo "ok   $q"
  else fail=$((fail+1)); echo "FAIL $q"; diff <(printf '%s' "$expected") <(printf '%s' "$got") | head -5; fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
