/* Read-only view of a whole file: memory-mapped where the platform can,
 * otherwise read into a heap buffer. */
#ifndef QW_MAPFILE_H
#define QW_MAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "../qwasm.h"

typedef struct qw_mapping {
    const uint8_t *data;
    uint64_t size;
    int is_mmap; /* 1: munmap on release, 0: free */
} qw_mapping;

qw_status qw_map_file(const char *path, qw_mapping *out);
void qw_unmap_file(qw_mapping *m);

#endif
