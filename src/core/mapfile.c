#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if !defined(__EMSCRIPTEN__)
#include <sys/mman.h>
#endif

#include "error.h"

qw_status qw_map_file(const char *path, qw_mapping *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qw_fail(QW_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qw_fail(QW_ERR_IO, "'%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return qw_fail(QW_ERR_BAD_MODEL, "'%s' is empty", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return qw_fail(QW_ERR_OOM, "'%s' is too large for this address space", path);
    }
    size_t size = (size_t)st.st_size;
#if !defined(__EMSCRIPTEN__)
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
        close(fd);
        out->data = p;
        out->size = size;
        out->is_mmap = 1;
        return QW_OK;
    }
#endif
    uint8_t *buf = malloc(size);
    if (!buf) {
        close(fd);
        return qw_fail(QW_ERR_OOM, "cannot allocate %zu bytes for '%s'", size, path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            close(fd);
            return qw_fail(QW_ERR_IO, "short read on '%s'", path);
        }
        got += (size_t)r;
    }
    close(fd);
    out->data = buf;
    out->size = size;
    out->is_mmap = 0;
    return QW_OK;
}

void qw_unmap_file(qw_mapping *m) {
    if (!m->data) return;
#if !defined(__EMSCRIPTEN__)
    if (m->is_mmap) munmap((void *)m->data, (size_t)m->size);
    else
#endif
        free((void *)m->data);
    memset(m, 0, sizeof *m);
}
