/* ARM NEON kernels (none yet: the reference kernels run). */
#include "kernels.h"

const qw_kernel_set *qw_kernels_neon(void) { return NULL; }
