/*
 * memgov/governor.h — the governor: one instance of memgov with its root budget. A program opens its own
 * governors or uses the process default (memgov_default()).
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_GOVERNOR_H
#define MEMGOV_GOVERNOR_H

#include "memgov/budget.h"
#include "memgov/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A governor. Opaque; created by memgov_open(), destroyed by memgov_close(). */
typedef struct memgov memgov;

/* Options of memgov_open(). Begins with struct_size (docs/abi.md); fill with memgov_options_init(). */
typedef struct memgov_options {
    size_t struct_size;
    uint64_t root_limit;      /* hard limit of the root budget in bytes; 0 = none */
    uint64_t root_soft_limit; /* soft limit of the root budget in bytes; 0 = none; must be <= root_limit */
} memgov_options;

/* Fills *opts with the defaults (no root limits) and sets struct_size. Thread safety: any thread. */
MEMGOV_API void memgov_options_init(memgov_options *opts);

/* Opens a governor. opts may be NULL (defaults). The root budget, named "root", has its own jemalloc arena.
 * On success *out is the governor, owned by the caller until memgov_close().
 * Errors: MEMGOV_EINVAL (out NULL, bad struct_size), MEMGOV_ERANGE (soft above hard), MEMGOV_ENOMEM.
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_open(const memgov_options *opts, memgov **out);

/* Closes a governor whose root has no live bytes and no children; otherwise MEMGOV_EBUSY with a message naming
 * them, and the governor stays open. The process default cannot be closed (MEMGOV_EINVAL). NULL is a no-op
 * returning MEMGOV_OK. Thread safety: any thread, but no other thread may still use the governor. */
MEMGOV_API memgov_status memgov_close(memgov *gov);

/* The process-wide default governor, created on first use (thread-safe) with the default options and living
 * until the process ends. NULL if it could not be created (the last status says why; a later call answers
 * the same). Thread safety: any thread. */
MEMGOV_API memgov *memgov_default(void);

/* The governor's root budget: the ancestor of all its budgets. A listener registered on it
 * (memgov_budget_add_listener) receives the events of every budget of the governor, hard refusals included.
 * NULL for NULL. Thread safety: any thread. */
MEMGOV_API memgov_budget *memgov_root(memgov *gov);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_GOVERNOR_H */
