/* Error codes and the thread-local "last error" message.
 * Library code never aborts: every failure returns a qw_status and leaves a
 * readable one-line message retrievable with qw_last_error(). */
#ifndef QW_ERROR_H
#define QW_ERROR_H

#include "../qwasm.h"

/* Sets the thread-local message (printf-style) and returns `code`, so call
 * sites can write `return qw_fail(QW_ERR_BAD_MODEL, "...", ...)`. */
qw_status qw_fail(qw_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Clears the message (used by tests). */
void qw_clear_error(void);

#endif
