#!/usr/bin/env bash
# Cross-builds qwasm for 64-bit ARM and runs the kernel and quantization
# tests (and the thread pool's, whose memory ordering an emulated weakly
# ordered CPU exercises) under qemu-user, so the NEON kernel set is checked bit for bit
# against the scalar reference on an x86 machine. Two builds:
#   base     ARMv8.0 NEON (the default target), run on an emulated
#            Cortex-A53, which has no newer instructions: build-neon/
#   dotprod  -march=armv8.2-a+dotprod (the vdotq_s32 paths), run on
#            qemu's "max" CPU: build-neon-dotprod/
#
#   bash scripts/test-neon.sh                      # both, tests "kernels|quant|pool"
#   NEON_VARIANTS=base bash scripts/test-neon.sh   # one variant
#   TESTS=reference bash scripts/test-neon.sh      # another ctest -R pattern
#   JOBS=1 bash scripts/test-neon.sh               # parallelism (default nproc)
#
# Installs the Debian packages it needs when they are missing:
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user.
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
TESTS=${TESTS:-kernels|quant|pool}
NEON_VARIANTS=${NEON_VARIANTS:-base dotprod}
SYSROOT=/usr/aarch64-linux-gnu

need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
{ [ -e "$SYSROOT/lib/libc.so.6" ] && [ -e "$SYSROOT/include/stdio.h" ]; } || need+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# only the test binaries the selected tests need (not the CLI)
targets=()
for src in tests/c/test_*.c; do
  name=$(basename "$src" .c)
  if printf '%s\n' "$name" | grep -Eq -- "$TESTS"; then targets+=("$name"); fi
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "no C test matches '$TESTS'" >&2
  exit 1
fi

summary=()
for variant in $NEON_VARIANTS; do
  case "$variant" in
    base) build=build-neon; cflags=; cpu=cortex-a53 ;;
    dotprod) build=build-neon-dotprod; cflags=-march=armv8.2-a+dotprod; cpu=max ;;
    *) echo "unknown variant '$variant' (base, dotprod)" >&2; exit 1 ;;
  esac
  echo "== [$variant] cross build into $build"
  # CFLAGS only seeds a new build directory's cache; each variant has its own
  CFLAGS="$cflags" cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$JOBS" --target "${targets[@]}"
  echo "== [$variant] ctest -R '$TESTS' under qemu-aarch64 -cpu $cpu"
  QEMU_CPU=$cpu ctest --test-dir "$build" --output-on-failure -j"$JOBS" -R "$TESTS"
  summary+=("neon $variant (qemu $cpu): ok")
done

printf '%s\n' "${summary[@]}"
echo "done in $(( $(date +%s) - start ))s"
