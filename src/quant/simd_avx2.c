/* x86-64 AVX2+FMA kernels (placeholder: no kernels yet, so the set is
 * reported as unavailable and the reference kernels run). */
#include "kernels.h"

const qw_kernel_set *qw_kernels_avx2(void) { return NULL; }
