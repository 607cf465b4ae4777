/* The hook point where the BLAS and OpenMP thread pools are limited to a lease's count (flag
 * MEMGOV_THREADS_LIMIT_POOLS, memgov/threads.h). The pool discovery and limits are issue 15's other part and are
 * not here yet: these functions change nothing, and the flag is documented as reserved until they do. */
#include "threads/threads_internal.h"

void mg_threads_pools_apply(memgov_threads_lease *lease, unsigned count, void **state)
{
    (void)lease;
    (void)count;
    (void)state;
}

void mg_threads_pools_restore(memgov_threads_lease *lease, void **state)
{
    (void)lease;
    (void)state;
}
