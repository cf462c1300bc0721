#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_last_error[512];

qw_status qw_fail(qw_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return code;
}

void qw_clear_error(void) { g_last_error[0] = '\0'; }

const char *qw_last_error(void) { return g_last_error; }

const char *qw_status_name(qw_status s) {
    switch (s) {
    case QW_OK: return "OK";
    case QW_ERR_IO: return "IO";
    case QW_ERR_BAD_MODEL: return "BAD_MODEL";
    case QW_ERR_UNSUPPORTED: return "UNSUPPORTED_TYPE";
    case QW_ERR_OOM: return "OUT_OF_MEMORY";
    case QW_ERR_INVALID_ARG: return "INVALID_ARGUMENT";
    case QW_ERR_TRUNCATED: return "TRUNCATED";
    case QW_ERR_ABORTED: return "ABORTED";
    }
    return "UNKNOWN";
}
