/* Replays a libFuzzer entry point over every regular file in a directory
 * (argv[1]) without libFuzzer: the seed corpus and every saved crasher run on
 * each ctest (fuzz_gguf_corpus), under whatever sanitizers the build uses.
 * A crash ends the process; a file that cannot be read counts as failed. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "cannot open directory %s\n", argv[1]);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) return 1;
            names = nn;
        }
        size_t len = strlen(argv[1]) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) return 1;
        snprintf(names[n], len, "%s/%s", argv[1], e->d_name);
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode)) {
            free(names[i]);
            continue;
        }
        FILE *f = fopen(names[i], "rb");
        uint8_t *buf = NULL;
        size_t size = (size_t)st.st_size;
        if (f) {
            buf = malloc(size ? size : 1);
            if (buf && fread(buf, 1, size, f) != size) {
                free(buf);
                buf = NULL;
            }
            fclose(f);
        }
        if (!buf) {
            fprintf(stderr, "cannot read %s\n", names[i]);
            failed++;
        } else {
            /* an exact-size copy so a sanitizer sees reads past the end */
            LLVMFuzzerTestOneInput(buf, size);
            free(buf);
            passed++;
        }
        free(names[i]);
    }
    free(names);
    printf("%d passed, %d failed\n", passed, failed);
    return (failed || passed == 0) ? 1 : 0;
}
