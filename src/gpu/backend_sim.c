/* The simulated device: host memory standing for a device of a configured size, so that CI (no GPU) runs every
 * rule of device budgets. Follows the backends' contract: a block beyond the device's total is MEMGOV_ENOMEM
 * from the device itself (below the budget's limits when the limit is the total minus others' use), and
 * MG_FAULT_GPU (internal/fault.h) makes the next allocations fail the same way, as another process taking the
 * device's memory would. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu/gpu_internal.h"
#include "internal/error.h"
#include "internal/fault.h"

typedef struct sim_device {
    uint64_t total;
    _Atomic uint64_t used;
} sim_device;

static memgov_status sim_open(int index, const memgov_gpu_options *opts, void **state, mg_gpu_info *info)
{
    if (index != 0)
        return mg_fail(MEMGOV_ERANGE, "simulated device: index %d, but there is one simulated device (index 0)",
                       index);
    if (mg_fault_hit(MG_FAULT_GPU))
        return mg_fail(MEMGOV_EUNSUPPORTED, "simulated device: opening it failed (injected fault)");
    sim_device *d = calloc(1, sizeof *d);
    if (d == NULL)
        return mg_fail(MEMGOV_ENOMEM, "simulated device: no host memory for its state");
    d->total = opts->sim_total != 0 ? opts->sim_total : MEMGOV_GPU_SIM_DEFAULT_TOTAL;
    snprintf(info->device, sizeof info->device, "memgov simulated device");
    info->total = d->total;
    info->stream_ordered = false;
    *state = d;
    return MEMGOV_OK;
}

static void sim_close(void *state)
{
    free(state);
}

/* The refusal's message: the request, the device's use and total. */
static void *sim_refused(const sim_device *d, uint64_t size, const char *why)
{
    char s[24], u[24], t[24];
    memgov_format_bytes(size, s, sizeof s);
    memgov_format_bytes(atomic_load(&d->used), u, sizeof u);
    memgov_format_bytes(d->total, t, sizeof t);
    mg_fail(MEMGOV_ENOMEM, "simulated device out of memory for %s%s: %s in use of %s", s, why, u, t);
    return NULL;
}

static void *sim_alloc(void *state, uint64_t size, void *stream)
{
    (void)stream;
    sim_device *d = state;
    if (mg_fault_hit(MG_FAULT_GPU))
        return sim_refused(d, size, " (injected fault)");
    uint64_t old = atomic_load(&d->used);
    do {
        if (old > d->total || size > d->total - old)
            return sim_refused(d, size, "");
    } while (!atomic_compare_exchange_weak(&d->used, &old, old + size));
    void *p = size <= SIZE_MAX ? malloc((size_t)size) : NULL; /* untouched: large blocks cost address space only */
    if (p == NULL) {
        atomic_fetch_sub(&d->used, size);
        return sim_refused(d, size, " (the host has no memory for it)");
    }
    return p;
}

static memgov_status sim_free(void *state, void *ptr, uint64_t size, void *stream)
{
    (void)stream;
    sim_device *d = state;
    free(ptr);
    atomic_fetch_sub(&d->used, size);
    return MEMGOV_OK;
}

static memgov_status sim_mem_info(void *state, uint64_t *free_bytes, uint64_t *total_bytes)
{
    sim_device *d = state;
    uint64_t used = atomic_load(&d->used);
    *free_bytes = used < d->total ? d->total - used : 0;
    *total_bytes = d->total;
    return MEMGOV_OK;
}

const mg_gpu_ops mg_gpu_sim_ops = {
    .short_name = "sim",
    .open = sim_open,
    .close = sim_close,
    .block_alloc = sim_alloc,
    .block_free = sim_free,
    .mem_info = sim_mem_info,
    .trim = NULL,
    .set_release_threshold = NULL,
};
