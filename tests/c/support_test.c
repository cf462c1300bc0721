#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qw_test.h"

int qw_test_passed, qw_test_failed;

int qw_test_end(void) {
    printf("%d passed, %d failed\n", qw_test_passed, qw_test_failed);
    return qw_test_failed ? 1 : 0;
}

const char *qw_shared_path(const char *rel) {
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, 1024, "%s/%s", QW_SHARED_DIR, rel);
    return b;
}

unsigned char *qw_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0) { fclose(f); return NULL; }
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; *size = (size_t)n; }
    return buf;
}

void qw_require_shared(void) {
    struct stat st;
    if (stat(QW_SHARED_DIR "/models", &st) != 0) {
        printf("shared data not found at %s: skipped\n", QW_SHARED_DIR);
        exit(77);
    }
}
