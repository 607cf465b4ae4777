/* Internal to src/threads: the pools of a snapshot one by one, for the leases' pool limits (pools_hook.c), which
 * keep their own saved values instead of the snapshot's (memgov_pools_limit saves one set per snapshot). */
#ifndef MG_THREADS_POOLS_H
#define MG_THREADS_POOLS_H

#include <stdint.h>

#include "memgov/threads.h"

/* MEMGOV_POOL_* flags of pool i (i < memgov_pools_count). */
uint32_t mg_pools_flags(const memgov_pools *pools, size_t i);
/* Pool i's own getter now (for a per-thread pool: the calling thread's). */
int64_t mg_pools_read(const memgov_pools *pools, size_t i);
/* Sets pool i (not MEMGOV_POOL_READ_ONLY) to n through its own setter; n as mg_pools_read() may answer it. */
void mg_pools_write(const memgov_pools *pools, size_t i, int n);
/* What identifies pool i across snapshots while its object stays loaded: its getter's address. */
const void *mg_pools_key(const memgov_pools *pools, size_t i);
/* True if v is a count memgov may save and set back for pool i: 1 .. MEMGOV_POOLS_MAX_THREADS, and -1 for BLIS. */
int mg_pools_restorable(const memgov_pools *pools, size_t i, int64_t v);

#endif
