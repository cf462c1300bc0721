#!/usr/bin/env bash
# The main job: install what is needed, build, fetch the default model and
# run it. (The browser chat page joins this script with the wasm build.)
set -eu
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target qwasm
model=$(bash models/fetch.sh stories260K)
./build/qwasm info "$model"
echo
./build/qwasm run -m "$model" -p "${PROMPT:-Once upon a time}" -n "${N:-200}" --temp "${TEMP:-0.8}" --seed "${SEED:-42}"
