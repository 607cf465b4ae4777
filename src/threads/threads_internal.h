/* Internal to src/threads and its owner, the governor: the thread-budget controller (memgov/threads.h,
 * docs/threads.md, docs/design.md 4.16). */
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

/* ---- the hook of the BLAS/OpenMP pool limits (pools_hook.c; docs/threads.md) --------------------------------- */

/* Called for a lease acquired with MEMGOV_THREADS_LIMIT_POOLS, outside the controller's lock: when it is
 * granted, each time its count changes, and when it is released (count 0). `state` is the lease's slot for the
 * pool support's saved values (NULL at first). Today they do nothing: the pool support is issue 15's other part. */
void mg_threads_pools_apply(memgov_threads_lease *lease, unsigned count, void **state);
void mg_threads_pools_restore(memgov_threads_lease *lease, void **state);

#endif
