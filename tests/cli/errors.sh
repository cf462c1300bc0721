#!/usr/bin/env bash
# Every CLI error is one clear line on stderr and a non-zero exit, never a
# crash (exit >= 128 means a signal).
set -u
QW=$1; SHARED=$2
[ -d "$SHARED/models" ] || { echo "no shared data: skipped"; exit 77; }
M="$SHARED/models/stories260K-f32.gguf"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0; fail=0
# expect_error DESCRIPTION SUBSTRING CMD...
expect_error() {
  local what=$1 sub=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  local lines; lines=$(wc -l <"$T/err")
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$lines" -eq 1 ] && grep -qF -- "$sub" "$T/err"; then
    pass=$((pass+1)); echo "ok   $what: $(cat "$T/err")"
  else
    fail=$((fail+1)); echo "FAIL $what (exit $rc, $lines lines): $(head -3 "$T/err")"
  fi
}
head -c 1000 "$M" >"$T/trunc.gguf"
printf 'GGUF' >"$T/tiny.gguf"
printf 'not a model at all' >"$T/text.gguf"
: >"$T/empty.gguf"
expect_error "missing file"      "cannot open"        "$QW" run -m "$T/nope.gguf" -p hi
expect_error "empty file"        "empty"              "$QW" info "$T/empty.gguf"
expect_error "truncated file"    "gguf"               "$QW" run -m "$T/trunc.gguf" -p hi
expect_error "4-byte file"       "gguf"               "$QW" info "$T/tiny.gguf"
expect_error "bad magic"         "magic"              "$QW" info "$T/text.gguf"
expect_error "a directory"       "regular file"       "$QW" info "$T"
expect_error "token out of range" "out of range"      "$QW" eval -m "$M" --tokens "1 403 99999"
expect_error "negative token"    "out of range"       "$QW" eval -m "$M" --tokens "1 -5"
expect_error "garbage tokens"    "--tokens"           "$QW" eval -m "$M" --tokens "1 abc"
expect_error "no prompt"         "prompt"             "$QW" run -m "$M"
expect_error "bad temperature"   "--temp"             "$QW" run -m "$M" -p hi --temp nan
expect_error "bad -n"            "-n"                 "$QW" run -m "$M" -p hi -n -3
expect_error "bad threads"       "--threads"          "$QW" run -m "$M" -p hi --threads 0
expect_error "unknown option"    "unknown option"     "$QW" run -m "$M" -p hi --frobnicate 1
expect_error "unknown command"   "unknown command"    "$QW" frobnicate
expect_error "context too small" "context"            "$QW" run -m "$M" -p "Once upon a time there was" --ctx 3
expect_error "missing value"     "needs a value"      "$QW" run -m
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
