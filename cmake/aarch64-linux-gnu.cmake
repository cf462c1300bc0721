# Cross-compiling for 64-bit ARM Linux with Debian's cross toolchain
# (packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross); test binaries run
# under qemu-user, so ctest works unchanged:
#   cmake -S . -B build-neon -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(QW_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "cross toolchain prefix")
set(CMAKE_C_COMPILER ${QW_CROSS_PREFIX}gcc)
set(QW_CROSS_SYSROOT /usr/aarch64-linux-gnu CACHE PATH "target libraries for qemu -L")
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;${QW_CROSS_SYSROOT}")

set(CMAKE_FIND_ROOT_PATH ${QW_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# Debian 12's aarch64 GCC (12.2) crashes (ICE in vect_transform_reduction) on
# fmin/fmax reductions over doubles, e.g. in tests/c/test_quant_legacy.c.
# Loop vectorization only affects speed here (no -ffast-math, so no float
# reassociation), and the NEON kernels are written with intrinsics.
set(CMAKE_C_FLAGS_INIT "-fno-tree-loop-vectorize")
