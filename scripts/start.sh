#!/usr/bin/env bash
# The main job: install what is needed, build (native CLI and both WebAssembly
# variants), fetch the default model (stories260K), show it running natively,
# then serve the browser chat page and print its URL.
#   PROMPT=… N=… TEMP=… SEED=…   the native demo run (N=0 skips it)
#   PORT=8080 HOST=127.0.0.1     where the page is served
#   NO_ISOLATION=1               serve without COOP/COEP (the page then runs single-threaded)
set -eu
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
bash scripts/deps.sh wasm
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target qwasm
bash scripts/build-wasm.sh
model=$(bash models/fetch.sh stories260K)
./build/qwasm info "$model"
if [ "${N:-200}" != 0 ]; then
  echo
  ./build/qwasm run -m "$model" -p "${PROMPT:-Once upon a time}" -n "${N:-200}" --temp "${TEMP:-0.8}" --seed "${SEED:-42}"
fi
echo
args=(--host "${HOST:-127.0.0.1}")
[ -n "${PORT:-}" ] && args+=(--port "$PORT")
[ -n "${NO_ISOLATION:-}" ] && args+=(--no-isolation)
exec node scripts/serve.mjs "${args[@]}"
