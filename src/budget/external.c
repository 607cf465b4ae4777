/* Device blocks charged to device budgets (external.h): the charge protocol of charge.c around a block that
 * another allocator (src/gpu's backends) makes. */
#include <stdbool.h>
#include <stdio.h>

#include "budget/budget_internal.h"
#include "budget/external.h"
#include "internal/error.h"

/* One attempt: charge, make; the charge is final when the block exists, rolled back when it does not. *by_device
 * tells a refusal of the device (make) from one of a limit (already reclaimed, retried and announced). */
static memgov_status attempt(memgov_budget *b, uint64_t bytes, mg_external_make_fn make, void *ctx, void **block,
                             bool *by_device)
{
    *by_device = false;
    mg_charge c;
    memgov_status st = mg_charge_begin(b, bytes, true, &c);
    if (st != MEMGOV_OK)
        return st;
    memgov_clear_error();
    void *p = make(bytes, ctx);
    if (p == NULL) {
        mg_charge_rollback(&c);
        *by_device = true;
        st = memgov_last_status();
        return st != MEMGOV_OK ? st : mg_fail(MEMGOV_ENOMEM, "budget '%s': the device refused %llu bytes", b->name,
                                              (unsigned long long)bytes);
    }
    mg_charge_commit(&c);
    *block = p;
    return MEMGOV_OK;
}

memgov_status mg_external_alloc(memgov_budget *b, uint64_t bytes, mg_external_make_fn make, void *ctx, void **block)
{
    bool by_device;
    memgov_status st = attempt(b, bytes, make, ctx, block, &by_device);
    if (st != MEMGOV_ENOMEM || !by_device)
        return st;
    mg_reclaim_run(b, bytes);
    if ((st = attempt(b, bytes, make, ctx, block, &by_device)) != MEMGOV_ENOMEM || !by_device)
        return st;
    char message[MG_ERROR_MAX];
    snprintf(message, sizeof message, "%s", memgov_last_error());
    atomic_fetch_add_explicit(&b->n_refusal, 1, memory_order_relaxed);
    mg_announce(MEMGOV_EVENT_HARD_REFUSAL, b, b, bytes); /* listeners may set errors of their own */
    return mg_fail(MEMGOV_ENOMEM, "%s", message);
}

void mg_external_free(memgov_budget *b, uint64_t bytes)
{
    mg_uncharge_free(b, bytes);
}
