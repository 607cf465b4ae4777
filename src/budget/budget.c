/* The budget tree: creation, destruction, limits, callback tables and statistics. */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/backend.h"
#include "budget/budget_internal.h"
#include "internal/error.h"
#include "internal/structsize.h"

MEMGOV_API void memgov_budget_options_init(memgov_budget_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
}

static uint64_t limit_in(uint64_t v)
{
    return v == 0 ? MG_NO_LIMIT : v;
}

static uint64_t limit_out(uint64_t v)
{
    return v == MG_NO_LIMIT ? 0 : v;
}

static memgov_status check_limits(const char *name, uint64_t hard, uint64_t soft)
{
    if (soft != 0 && hard != 0 && soft > hard) {
        char s[24], h[24];
        memgov_format_bytes(soft, s, sizeof s);
        memgov_format_bytes(hard, h, sizeof h);
        return mg_fail(MEMGOV_ERANGE, "budget '%s': soft limit %s is above the hard limit %s", name, s, h);
    }
    return MEMGOV_OK;
}

memgov_status mg_budget_new(memgov *gov, memgov_budget *parent, const memgov_budget_options *opts,
                            memgov_budget **out)
{
    mg_backend_init();
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_budget_options");
    if (st != MEMGOV_OK)
        return st;
    const char *name = o.name != NULL ? o.name : parent == NULL ? "root" : "budget";
    if ((o.flags & ~MEMGOV_BUDGET_OWN_ARENA) != 0)
        return mg_fail(MEMGOV_EINVAL, "budget '%s': unknown flags 0x%x", name, o.flags & ~MEMGOV_BUDGET_OWN_ARENA);
    if ((st = check_limits(name, o.hard_limit, o.soft_limit)) != MEMGOV_OK)
        return st;
    unsigned depth = parent == NULL ? 1 : parent->depth + 1;
    if (depth > MEMGOV_BUDGET_MAX_DEPTH)
        return mg_fail(MEMGOV_ERANGE, "budget '%s': the tree would be %u levels deep, more than %d", name, depth,
                       MEMGOV_BUDGET_MAX_DEPTH);
    memgov_budget *b = aligned_alloc(alignof(memgov_budget), sizeof *b); /* its hot fields are cache-line aligned */
    char *copy = strdup(name);
    if (b == NULL || copy == NULL) {
        free(b);
        free(copy);
        return mg_fail(MEMGOV_ENOMEM, "budget '%s': no memory for the budget itself", name);
    }
    memset(b, 0, sizeof *b);
    b->gov = gov;
    b->parent = parent;
    b->depth = depth;
    b->name = copy;
    atomic_init(&b->hard, limit_in(o.hard_limit));
    atomic_init(&b->soft, limit_in(o.soft_limit));
    b->own_arena = parent == NULL || (o.flags & MEMGOV_BUDGET_OWN_ARENA) != 0;
    if (b->own_arena) {
        if ((st = mg_arena_acquire(&b->arena)) != MEMGOV_OK) {
            free(copy);
            free(b);
            return st;
        }
    } else {
        b->arena = parent->arena;
    }
    if (parent != NULL) {
        pthread_mutex_lock(&gov->lock);
        memgov_budget **tail = &parent->first_child;
        while (*tail != NULL)
            tail = &(*tail)->next_sibling;
        *tail = b;
        pthread_mutex_unlock(&gov->lock);
    }
    *out = b;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_budget_create(memgov_budget *parent, const memgov_budget_options *opts,
                                              memgov_budget **out)
{
    if (parent == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_create: %s is NULL", parent == NULL ? "parent" : "out");
    return mg_budget_new(parent->gov, parent, opts, out);
}

memgov_status mg_budget_check_idle(memgov_budget *b, const char *what)
{
    uint64_t used = mg_budget_live_locked(b);
    if (used == 0 && b->first_child == NULL)
        return MEMGOV_OK;
    char u[24], children[256] = "";
    memgov_format_bytes(used, u, sizeof u);
    size_t len = 0;
    unsigned count = 0;
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling, count++) {
        if (len < sizeof children) {
            int w = snprintf(children + len, sizeof children - len, "%s'%s'", count ? ", " : "", c->name);
            len += w > 0 ? (size_t)w : 0;
        }
    }
    return mg_fail(MEMGOV_EBUSY, "%s budget '%s': it still has %s live (%llu bytes) and %u children%s%s", what,
                   b->name, u, (unsigned long long)used, count, count ? ": " : "", children);
}

void mg_budget_delete(memgov_budget *b)
{
    mg_drain_own(b);
    if (b->own_arena)
        mg_arena_give_back(b->arena);
    free(b->name);
    free(b);
}

MEMGOV_API memgov_status memgov_budget_destroy(memgov_budget *budget)
{
    if (budget == NULL)
        return MEMGOV_OK;
    if (budget->parent == NULL)
        return mg_fail(MEMGOV_EINVAL, "cannot destroy budget '%s': it is a governor's root; use memgov_close",
                       budget->name);
    memgov *gov = budget->gov;
    pthread_mutex_lock(&gov->lock);
    memgov_status st = mg_budget_check_idle(budget, "cannot destroy");
    if (st == MEMGOV_OK) {
        memgov_budget **link = &budget->parent->first_child;
        while (*link != budget)
            link = &(*link)->next_sibling;
        *link = budget->next_sibling;
    }
    pthread_mutex_unlock(&gov->lock);
    if (st == MEMGOV_OK)
        mg_budget_delete(budget);
    return st;
}

MEMGOV_API const char *memgov_budget_name(const memgov_budget *budget)
{
    return budget != NULL ? budget->name : "";
}

MEMGOV_API memgov_budget *memgov_budget_parent(const memgov_budget *budget)
{
    return budget != NULL ? budget->parent : NULL;
}

MEMGOV_API memgov_status memgov_budget_set_limits(memgov_budget *budget, uint64_t hard_limit,
                                                  uint64_t soft_limit)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_set_limits: budget is NULL");
    memgov_status st = check_limits(budget->name, hard_limit, soft_limit);
    if (st != MEMGOV_OK)
        return st;
    atomic_store(&budget->hard, limit_in(hard_limit));
    atomic_store(&budget->soft, limit_in(soft_limit));
    mg_drain_subtree(budget); /* stocks were sized for the old limits */
    mg_budget_announce_limits(budget);
    return MEMGOV_OK;
}

/* ---- callback tables ------------------------------------------------------------------------------------- */

MEMGOV_API memgov_status memgov_budget_add_reclaim(memgov_budget *budget, int priority, memgov_reclaim_fn fn,
                                                   void *user)
{
    if (budget == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_add_reclaim: %s is NULL", budget == NULL ? "budget" : "fn");
    memgov_status st = MEMGOV_OK;
    pthread_mutex_lock(&budget->gov->lock);
    if (budget->n_reclaim_cb == MEMGOV_BUDGET_MAX_CALLBACKS)
        st = mg_fail(MEMGOV_ERANGE, "budget '%s' already has %d reclaim callbacks", budget->name,
                     MEMGOV_BUDGET_MAX_CALLBACKS);
    else
        budget->reclaim[budget->n_reclaim_cb++] = (mg_reclaim_entry){.fn = fn, .user = user, .priority = priority};
    pthread_mutex_unlock(&budget->gov->lock);
    return st;
}

MEMGOV_API memgov_status memgov_budget_remove_reclaim(memgov_budget *budget, memgov_reclaim_fn fn, void *user)
{
    if (budget == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_remove_reclaim: %s is NULL", budget == NULL ? "budget" : "fn");
    pthread_mutex_lock(&budget->gov->lock);
    for (unsigned i = 0; i < budget->n_reclaim_cb; i++) {
        if (budget->reclaim[i].fn == fn && budget->reclaim[i].user == user) {
            memmove(&budget->reclaim[i], &budget->reclaim[i + 1],
                    (budget->n_reclaim_cb - i - 1) * sizeof budget->reclaim[0]);
            budget->n_reclaim_cb--;
            pthread_mutex_unlock(&budget->gov->lock);
            return MEMGOV_OK;
        }
    }
    pthread_mutex_unlock(&budget->gov->lock);
    return mg_fail(MEMGOV_ENOTFOUND, "budget '%s' has no such reclaim callback", budget->name);
}

MEMGOV_API memgov_status memgov_budget_add_listener(memgov_budget *budget, memgov_event_fn fn, void *user)
{
    if (budget == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_add_listener: %s is NULL", budget == NULL ? "budget" : "fn");
    memgov_status st = MEMGOV_OK;
    pthread_mutex_lock(&budget->gov->lock);
    if (budget->n_listen == MEMGOV_BUDGET_MAX_CALLBACKS)
        st = mg_fail(MEMGOV_ERANGE, "budget '%s' already has %d listeners", budget->name,
                     MEMGOV_BUDGET_MAX_CALLBACKS);
    else
        budget->listen[budget->n_listen++] = (mg_listener){.fn = fn, .user = user};
    pthread_mutex_unlock(&budget->gov->lock);
    return st;
}

MEMGOV_API memgov_status memgov_budget_remove_listener(memgov_budget *budget, memgov_event_fn fn, void *user)
{
    if (budget == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_remove_listener: %s is NULL", budget == NULL ? "budget" : "fn");
    pthread_mutex_lock(&budget->gov->lock);
    for (unsigned i = 0; i < budget->n_listen; i++) {
        if (budget->listen[i].fn == fn && budget->listen[i].user == user) {
            memmove(&budget->listen[i], &budget->listen[i + 1], (budget->n_listen - i - 1) * sizeof budget->listen[0]);
            budget->n_listen--;
            pthread_mutex_unlock(&budget->gov->lock);
            return MEMGOV_OK;
        }
    }
    pthread_mutex_unlock(&budget->gov->lock);
    return mg_fail(MEMGOV_ENOTFOUND, "budget '%s' has no such listener", budget->name);
}

/* ---- statistics ------------------------------------------------------------------------------------------ */

MEMGOV_API memgov_status memgov_budget_stats_get(memgov_budget *budget, memgov_budget_stats *out)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_stats_get: budget is NULL");
    memgov_budget_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    st.used = mg_budget_live(budget);
    st.peak = atomic_load(&budget->peak);
    st.hard_limit = limit_out(atomic_load(&budget->hard));
    st.soft_limit = limit_out(atomic_load(&budget->soft));
    st.reserved = atomic_load(&budget->reserved);
    for (int i = 0; i < MG_STOCK_SLOTS; i++) {
        st.allocations += mg_stock_count_allocs(&budget->stock[i]);
        st.frees += mg_stock_count_frees(&budget->stock[i]);
    }
    st.refusals = atomic_load(&budget->n_refusal);
    st.reclaims = atomic_load(&budget->n_reclaim);
    pthread_mutex_lock(&budget->gov->lock);
    for (memgov_budget *c = budget->first_child; c != NULL; c = c->next_sibling)
        st.children++;
    pthread_mutex_unlock(&budget->gov->lock);
#ifndef MG_ALLOC_LIBC
    if (budget->own_arena)
        mg_arena_stats(budget->arena, &st);
#endif
    return mg_struct_out(out, &st, sizeof st, "memgov_budget_stats");
}

MEMGOV_API memgov_status memgov_budget_reset_peak(memgov_budget *budget)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_reset_peak: budget is NULL");
    atomic_store(&budget->peak, atomic_load(&budget->used));
    return MEMGOV_OK;
}
