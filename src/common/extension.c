/* memgov_error_set(): the last-error setter for libraries built on libmemgov.so (memgov/extension.h). */
#include <stdarg.h>
#include <stdio.h>

#include "internal/error.h"
#include "memgov/extension.h"

MEMGOV_API memgov_status memgov_error_set(memgov_status status, const char *fmt, ...)
{
    if (status == MEMGOV_OK) {
        memgov_clear_error();
        return status;
    }
    if (fmt == NULL)
        return mg_fail(status, "%s", memgov_status_str(status));
    char text[MG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return mg_fail(status, "%s", text);
}
