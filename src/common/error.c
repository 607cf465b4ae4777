/* The thread-local last status and message. TLS uses the global-dynamic model (the default for PIC code), so
 * the library can be loaded with dlopen; see docs/design.md 4.1 for the trap this avoids. */
#include <stdarg.h>
#include <stdio.h>

#include "internal/error.h"

static _Thread_local memgov_status last_status = MEMGOV_OK;
static _Thread_local char last_message[MG_ERROR_MAX];

memgov_status mg_fail(memgov_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

MEMGOV_API memgov_status memgov_last_status(void)
{
    return last_status;
}

MEMGOV_API const char *memgov_last_error(void)
{
    return last_message;
}

MEMGOV_API void memgov_clear_error(void)
{
    last_status = MEMGOV_OK;
    last_message[0] = '\0';
}
