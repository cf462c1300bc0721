/* Minimal test harness: CHECK macros that count, a summary line, exit code.
 * A test binary's main calls the test functions then returns qw_test_end(). */
#ifndef QW_TEST_H
#define QW_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern int qw_test_passed, qw_test_failed;

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (cond) {                                                               \
            qw_test_passed++;                                                     \
        } else {                                                                  \
            qw_test_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

#define CHECKF(cond, ...)                                                         \
    do {                                                                          \
        if (cond) {                                                               \
            qw_test_passed++;                                                     \
        } else {                                                                  \
            qw_test_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

/* Prints "N passed, N failed" and returns the process exit code. */
int qw_test_end(void);

/* Path under the shared data dir (../shared): static buffer, one per call site
 * is enough for tests. Returns NULL-free string always. */
const char *qw_shared_path(const char *rel);
/* Reads a whole file; NULL if it cannot. *size set. Caller frees. */
unsigned char *qw_read_file(const char *path, size_t *size);
/* Exits with 77 (ctest "skipped") if the shared dir is absent. */
void qw_require_shared(void);

#endif
