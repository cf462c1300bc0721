/* WebAssembly SIMD128 kernels (none yet: the reference kernels run). */
#include "kernels.h"

const qw_kernel_set *qw_kernels_wasm_simd128(void) { return NULL; }
