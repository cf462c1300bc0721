#!/usr/bin/env bash
# Fuzzes the GGUF reader/writer with libFuzzer (clang, ASan + UBSan).
#
#   scripts/fuzz.sh [seconds]        default 600
#
# Builds target fuzz_gguf in build-fuzz/ (CMake option QW_FUZZ=ON), runs it in
# a single process (no -jobs/-workers parallelism) on a scratch copy of
# tests/fuzz/corpus/gguf, and prints the number of executions, libFuzzer's
# coverage counters and the line coverage of src/gguf/*.c reached by the final
# corpus. Crashers are left in build-fuzz/artifacts/; minimize one with
#   build-fuzz/fuzz_gguf -minimize_crash=1 -runs=10000 <crash-file>
# and add it to tests/fuzz/corpus/gguf/ as a regression input.
# Environment: QW_FUZZ_MAX_LEN (default 8192), QW_FUZZ_COVERAGE=0 to skip the
# line-coverage step.
set -euo pipefail

secs="${1:-600}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
max_len="${QW_FUZZ_MAX_LEN:-8192}"

# libFuzzer's runtime ships in Debian's libclang-rt-14-dev
if ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
   ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
    echo "fuzz.sh: libFuzzer runtime missing, installing libclang-rt-14-dev" >&2
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get install -y libclang-rt-14-dev
fi

cc="$(command -v clang-14 || command -v clang)"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQW_FUZZ=ON -DQW_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzz_gguf -- -j1

scratch="$(mktemp -d "${TMPDIR:-/tmp}/qw-fuzz-corpus.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
cp "$root"/tests/fuzz/corpus/gguf/* "$scratch"/
mkdir -p "$build/artifacts"
log="$build/fuzz.log"

echo "fuzz.sh: fuzzing for ${secs}s on $(ls "$scratch" | wc -l) seed inputs (log: $log)"
set +e
"$build/fuzz_gguf" "$scratch" -max_total_time="$secs" -max_len="$max_len" \
    -artifact_prefix="$build/artifacts/" -print_final_stats=1 -detect_leaks=1 \
    >"$log" 2>&1
rc=$?
set -e

execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
last="$(grep -E '^#[0-9]+' "$log" | tail -1)"
echo "fuzz.sh: exit code $rc"
echo "fuzz.sh: executions: ${execs:-unknown} in ${secs}s"
echo "fuzz.sh: last status: $last"
echo "fuzz.sh: final corpus: $(ls "$scratch" | wc -l) inputs"
if [ "$rc" != 0 ]; then
    echo "fuzz.sh: the fuzzer found a problem; see $log and $build/artifacts/" >&2
    grep -E 'ERROR|SUMMARY|artifact' "$log" | head -20 >&2 || true
    exit "$rc"
fi

# line coverage of the GGUF sources over the final corpus (clang source-based
# coverage; the replay driver runs every input once)
if [ "${QW_FUZZ_COVERAGE:-1}" != 0 ] && command -v llvm-profdata-14 >/dev/null &&
   command -v llvm-cov-14 >/dev/null; then
    cov="$build/coverage"
    mkdir -p "$cov"
    mapfile -t core < <(ls "$root"/src/*/*.c | grep -v '_fuzz\.c$')
    "$cc" -std=c11 -O1 -g -fprofile-instr-generate -fcoverage-mapping -ffp-contract=off \
        -D_POSIX_C_SOURCE=200809L -I"$root/src" -o "$cov/replay" \
        "$root/src/gguf/gguf_fuzz.c" "$root/tests/fuzz/replay_main.c" "${core[@]}" -lm -lpthread
    LLVM_PROFILE_FILE="$cov/replay.profraw" "$cov/replay" "$scratch" >/dev/null
    llvm-profdata-14 merge -o "$cov/replay.profdata" "$cov/replay.profraw"
    echo "fuzz.sh: line coverage of the final corpus:"
    llvm-cov-14 report "$cov/replay" -instr-profile="$cov/replay.profdata" \
        "$root/src/gguf/gguf.c" "$root/src/gguf/gguf_write.c" "$root/src/gguf/gguf_fuzz.c"
fi
