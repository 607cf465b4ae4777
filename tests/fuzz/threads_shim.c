/* For the CSV and kernels fuzz targets: the thread leases and memgov_parallel_for_static without the governor,
 * so that the targets link the chunker's or the kernels' sources alone. A "lease" of the default governor is granted as asked, and a
 * static loop runs its workers' shares one after the other on the calling thread, with the library's partition
 * (one contiguous run per worker), so every thread count the input chooses is still exercised. */
#include <stdint.h>
#include <stdlib.h>

#include "memgov/threads.h"

struct memgov_threads_lease {
    unsigned count;
};

static int shim_governor;

memgov *memgov_default(void)
{
    return (memgov *)&shim_governor;
}

memgov_status memgov_threads_acquire(memgov *gov, unsigned want, uint64_t bytes_per_worker, memgov_budget *budget,
                                     unsigned flags, memgov_threads_lease **out)
{
    (void)gov;
    (void)bytes_per_worker;
    (void)budget;
    (void)flags;
    *out = malloc(sizeof **out);
    if (*out == NULL)
        return MEMGOV_ENOMEM;
    (*out)->count = want;
    return MEMGOV_OK;
}

unsigned memgov_threads_count(const memgov_threads_lease *lease)
{
    return lease != NULL ? lease->count : 0;
}

memgov_status memgov_threads_lease_free(memgov_threads_lease *lease)
{
    free(lease);
    return MEMGOV_OK;
}

memgov_status memgov_parallel_for_static(memgov_threads_lease *lease, uint64_t n, uint64_t grain,
                                         memgov_parallel_fn fn, void *ctx)
{
    (void)grain; /* the chunker always asks for one run per worker */
    uint64_t w = lease != NULL ? lease->count : 1;
    if (w > n)
        w = n;
    for (uint64_t c = 0; c < w; c++) {
        uint64_t b = n / w * c + (c < n % w ? c : n % w), e = b + n / w + (c < n % w);
        memgov_status st = fn(b, e, (unsigned)c, ctx);
        if (st != MEMGOV_OK)
            return st;
    }
    return MEMGOV_OK;
}
