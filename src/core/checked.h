/* Overflow-checked size arithmetic for everything read from a file. */
#ifndef QW_CHECKED_H
#define QW_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

/* *r = a + b; false (and *r untouched) on overflow */
static inline bool add_u64(uint64_t a, uint64_t b, uint64_t *r) {
    if (a > UINT64_MAX - b) return false;
    *r = a + b;
    return true;
}

/* *r = a * b; false (and *r untouched) on overflow */
static inline bool mul_u64(uint64_t a, uint64_t b, uint64_t *r) {
    if (a != 0 && b > UINT64_MAX / a) return false;
    *r = a * b;
    return true;
}

#endif
