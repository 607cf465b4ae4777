/* Internal: setting the calling thread's last status and message (see memgov_last_error() in common.h). */
#ifndef MG_INTERNAL_ERROR_H
#define MG_INTERNAL_ERROR_H

#include "memgov/common.h"

/* Records status and a printf-style message for the calling thread and returns status, so that a failure
 * path reads `return mg_fail(MEMGOV_EINVAL, "...", ...);`. The message is truncated to MG_ERROR_MAX - 1. */
#define MG_ERROR_MAX 512
memgov_status mg_fail(memgov_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
