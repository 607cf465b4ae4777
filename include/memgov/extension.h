/*
 * memgov/extension.h — for libraries built on libmemgov.so (libmemgov_knn, language bindings): report a failure
 * through memgov's per-thread last status and message, so that their callers read it with memgov_last_error()
 * like any other memgov failure.
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_EXTENSION_H
#define MEMGOV_EXTENSION_H

#include "memgov/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets the calling thread's last status to `status` and its message to the printf-style text (cut to 511
 * bytes), and returns `status`, so that a failure path reads `return memgov_error_set(MEMGOV_EINVAL, "...");`.
 * MEMGOV_OK clears both as memgov_clear_error() does; fmt NULL gives memgov_status_str(status). Thread safety:
 * per thread. */
MEMGOV_API memgov_status memgov_error_set(memgov_status status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_EXTENSION_H */
