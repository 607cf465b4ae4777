/* Internal to src/threads and its owner, the governor: the thread-budget controller (memgov/threads.h,
 * docs/threads.md, docs/design.md 4.20). */
#ifndef MG_THREADS_INTERNAL_H
#define MG_THREADS_INTERNAL_H

#include <stdbool.h>

#include "memgov/config.h"
#include "memgov/governor.h"
#include "memgov/threads.h"

typedef struct mg_threads mg_threads;

/* What the controller is wired to: the governor's configuration (threads.* keys and the mode) and root budget
 * (LIMIT_CHANGED events, the default budget), and where /proc and /sys are read. */
typedef struct mg_threads_setup {
    memgov_config *config;
    memgov_budget *root;
    const char *proc_root; /* NULL = the real ones; copied */
} mg_threads_setup;

/* Creates a controller: probes the CPUs, reads the keys, listens to the configuration and the root. */
memgov_status mg_threads_open(const mg_threads_setup *setup, mg_threads **out);
/* MEMGOV_EBUSY (naming the count) while leases are held. */
memgov_status mg_threads_check_idle(mg_threads *t);
/* Unwires and frees it; no lease may be held. NULL is ignored. */
void mg_threads_close(mg_threads *t);

/* The governor's controller, created on first use (defined in src/governor/governor.c). NULL with the last
 * error set when it could not be created. */
mg_threads *mg_governor_threads(memgov *gov);

/* ---- capacity (capacity.c) ---------------------------------------------------------------------------------- */

/* The facts behind the capacity; 0 = unknown or no limit. */
typedef struct mg_threads_facts {
    unsigned allowed_cpus;
    double cpu_quota;
    unsigned physical_cores, logical_cpus;
} mg_threads_facts;

/* Reads them from the probe under proc_root (hwloc for the cores). */
void mg_threads_probe(const char *proc_root, mg_threads_facts *f);

/* The capacity from the facts and the keys: min(allowed CPUs, ceil(quota), cores or hardware threads, max),
 * at least 1; threads_max 0 is no limit. `why` (size bytes) names what decided it. */
unsigned mg_threads_capacity(const mg_threads_facts *f, bool use_smt, unsigned threads_max, char *why,
                             size_t size);

/* ---- loops (pfor.c) on a lease (lease.c) --------------------------------------------------------------------- */

/* Starts a loop on a held lease: *workers = 1 (the caller) + the lease's idle threads (its count or target,
 * whichever is lower, minus the threads busy in other loops and lent to nested leases), at most `most` (the
 * loop's chunks), which become busy until mg_threads_loop_end(). MEMGOV_EINVAL for a handle that is not a lease,
 * MEMGOV_ESTATE for a released one. */
memgov_status mg_threads_loop_begin(memgov_threads_lease *lease, uint64_t most, unsigned *workers);
void mg_threads_loop_end(memgov_threads_lease *lease, unsigned workers);

/* The calling thread's current lease (lease.c's thread-local), saved and set around a loop's chunks. */
typedef struct mg_threads_current {
    memgov_threads_lease *lease;
    uint64_t id;
} mg_threads_current;
void mg_threads_current_set(memgov_threads_lease *lease, mg_threads_current *saved);
void mg_threads_current_restore(const mg_threads_current *saved);

/* ---- the hook of the BLAS/OpenMP pool limits (pools_hook.c; docs/threads.md) --------------------------------- */

/* Called for a lease acquired with MEMGOV_THREADS_LIMIT_POOLS, outside the controller's lock: when it is
 * granted, each time its count changes, and when it is released (count 0). `state` is the lease's slot for the
 * pool support's saved values (NULL at first). Today they do nothing: the pool support is issue 15's other part. */
void mg_threads_pools_apply(memgov_threads_lease *lease, unsigned count, void **state);
void mg_threads_pools_restore(memgov_threads_lease *lease, void **state);

#endif
