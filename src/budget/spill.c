/* Spill (memgov/memmap.h): a budget's refused large requests served from its spill target, a file-backed budget;
 * spilled blocks recognised by their address (mg_spill_owner, budget_internal.h) and freed, resized and measured
 * on the target. docs/memmap.md, docs/design.md 4.9. */
#include <stdio.h>
#include <string.h>

#include "budget/budget_internal.h"
#include "internal/error.h"
#include "internal/structsize.h"

void mg_tree_set_spill_direct(mg_tree *tree, bool direct)
{
    atomic_store(&tree->spill_direct, direct);
}

bool mg_spill_direct(memgov_budget *b, size_t size)
{
    return atomic_load_explicit(&b->tree->spill_direct, memory_order_relaxed) && size >= b->spill_min;
}

static void count_live(memgov_budget *b, uint64_t blocks, uint64_t bytes, bool add)
{
    if (add) {
        atomic_fetch_add(&b->spill_live_blocks, blocks);
        atomic_fetch_add(&b->spill_live_bytes, bytes);
    } else {
        atomic_fetch_sub(&b->spill_live_blocks, blocks);
        atomic_fetch_sub(&b->spill_live_bytes, bytes);
    }
}

void *mg_spill_alloc(memgov_budget *b, size_t size, size_t align, bool zero, bool direct)
{
    memgov_budget *t = atomic_load_explicit(&b->spill, memory_order_relaxed);
    if (t == NULL || size < b->spill_min)
        return NULL; /* b's own refusal stands */
    char why[MG_ERROR_MAX];
    snprintf(why, sizeof why, "%s", direct ? "" : memgov_last_error());
    void *p = zero ? memgov_calloc(t, 1, size) : align != 0 ? memgov_aligned_alloc(t, align, size)
                                                            : memgov_malloc(t, size);
    if (p == NULL) {
        atomic_fetch_add(&b->n_spill_failed, 1);
        char theirs[MG_ERROR_MAX];
        snprintf(theirs, sizeof theirs, "%s", memgov_last_error());
        mg_fail(memgov_last_status(), "%s%sand its spill target refused it too: %s", why, direct ? "" : "; ",
                theirs);
        return NULL;
    }
    atomic_fetch_add(&b->n_spilled, 1);
    if (direct)
        atomic_fetch_add(&b->n_spilled_direct, 1);
    count_live(b, 1, memgov_usable_size(t, p), true);
    mg_announce(MEMGOV_EVENT_SPILLED, b, b, size);
    return p;
}

void mg_spill_free(memgov_budget *b, memgov_budget *target, void *ptr)
{
    count_live(b, 1, memgov_usable_size(target, ptr), false);
    memgov_free(target, ptr);
}

void *mg_spill_realloc(memgov_budget *b, memgov_budget *target, void *ptr, size_t size)
{
    size_t old = memgov_usable_size(target, ptr);
    void *q = memgov_realloc(target, ptr, size);
    if (q != NULL) {
        count_live(b, 0, old, false);
        count_live(b, 0, memgov_usable_size(target, q), true);
    }
    return q;
}

size_t mg_spill_usable(memgov_budget *target, const void *ptr)
{
    return memgov_usable_size(target, ptr);
}

memgov_status mg_spill_check_idle(memgov_budget *b, const char *what)
{
    if (b->spill_refs > 0)
        return mg_fail(MEMGOV_EBUSY, "%s budget '%s': it is the spill target of %u budget(s); remove it there first "
                       "(memgov_budget_set_spill with target NULL)", what, b->name, b->spill_refs);
    uint64_t live = atomic_load(&b->spill_live_blocks);
    if (live > 0)
        return mg_fail(MEMGOV_EBUSY, "%s budget '%s': %llu of its blocks spilled to '%s' are still live", what,
                       b->name, (unsigned long long)live, atomic_load(&b->spill)->name);
    return MEMGOV_OK;
}

void mg_spill_unlink(memgov_budget *b)
{
    memgov_budget *t = atomic_exchange(&b->spill, NULL);
    if (t != NULL)
        t->spill_refs--;
}

static bool related(memgov_budget *a, memgov_budget *b)
{
    for (memgov_budget *x = a; x != NULL; x = x->parent)
        if (x == b)
            return true;
    for (memgov_budget *x = b; x != NULL; x = x->parent)
        if (x == a)
            return true;
    return false;
}

MEMGOV_API memgov_status memgov_budget_set_spill(memgov_budget *budget, memgov_budget *target, uint64_t min_bytes)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_set_spill: budget is NULL");
    if (min_bytes == 0)
        min_bytes = MEMGOV_SPILL_MIN_DEFAULT;
    if (min_bytes < MEMGOV_SPILL_MIN_LOWEST)
        return mg_fail(MEMGOV_ERANGE, "budget '%s': a spill minimum of %llu bytes is below "
                       "MEMGOV_SPILL_MIN_LOWEST (%llu)", budget->name, (unsigned long long)min_bytes,
                       (unsigned long long)MEMGOV_SPILL_MIN_LOWEST);
    if (target != NULL) {
        if (target->file == NULL)
            return mg_fail(MEMGOV_EINVAL, "budget '%s': spill target '%s' is not file-backed "
                           "(memgov_file_budget_create)", budget->name, target->name);
        if (target->tree != budget->tree || related(budget, target))
            return mg_fail(MEMGOV_EINVAL, "budget '%s': spill target '%s' is %s", budget->name, target->name,
                           target->tree != budget->tree ? "in another governor"
                                                        : "the budget itself, an ancestor or a descendant");
    }
    mg_tree *tree = budget->tree;
    memgov_status st = MEMGOV_OK;
    pthread_mutex_lock(&tree->lock);
    memgov_budget *old = atomic_load(&budget->spill);
    if (target != NULL && atomic_load(&target->spill) != NULL)
        st = mg_fail(MEMGOV_EINVAL, "budget '%s': spill target '%s' has a spill target of its own", budget->name,
                     target->name);
    else if (target != NULL && budget->spill_refs > 0)
        st = mg_fail(MEMGOV_EINVAL, "budget '%s' is itself a spill target and cannot spill", budget->name);
    else if (old != target && atomic_load(&budget->spill_live_blocks) > 0)
        st = mg_fail(MEMGOV_EBUSY, "budget '%s': %llu blocks spilled to '%s' are still live", budget->name,
                     (unsigned long long)atomic_load(&budget->spill_live_blocks), old->name);
    if (st == MEMGOV_OK) {
        if (old != NULL)
            old->spill_refs--;
        if (target != NULL)
            target->spill_refs++;
        budget->spill_min = min_bytes;
        if (old != target) {
            atomic_store(&budget->n_spilled, 0);
            atomic_store(&budget->n_spilled_direct, 0);
            atomic_store(&budget->n_spill_failed, 0);
        }
        atomic_store(&budget->spill, target);
    }
    pthread_mutex_unlock(&tree->lock);
    return st;
}

MEMGOV_API memgov_status memgov_spill_get_stats(memgov_budget *budget, memgov_spill_stats *out)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_spill_get_stats: budget is NULL");
    memgov_spill_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    st.target = atomic_load(&budget->spill);
    st.min_bytes = st.target != NULL ? budget->spill_min : 0;
    st.spilled = atomic_load(&budget->n_spilled);
    st.spilled_direct = atomic_load(&budget->n_spilled_direct);
    st.live_blocks = atomic_load(&budget->spill_live_blocks);
    st.live_bytes = atomic_load(&budget->spill_live_bytes);
    st.failed = atomic_load(&budget->n_spill_failed);
    return mg_struct_out(out, &st, sizeof st, "memgov_spill_stats");
}
