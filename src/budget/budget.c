/* The budget tree: creation, destruction, limits, callback tables and statistics. */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/backend.h"
#include "budget/budget_internal.h"
#include "budget/stock.h"
#include "internal/error.h"
#include "internal/structsize.h"

MEMGOV_API void memgov_budget_options_init(memgov_budget_options *opts)
{
    mg_struct_init(opts, sizeof *opts);
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

memgov_status mg_budget_new(mg_tree *tree, memgov_budget *parent, const memgov_budget_options *opts,
                            memgov_budget **out)
{
    mg_backend_init(mg_stock_plain(), mg_stock_retoken);
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
    b->tree = tree;
    b->parent = parent;
    b->up = parent;
    b->depth = depth;
    b->name = copy;
    atomic_init(&b->hard, mg_limit_in(o.hard_limit));
    atomic_init(&b->soft, mg_limit_in(o.soft_limit));
    b->device = tree->device_owner != NULL;
    b->own_arena = !b->device && (parent == NULL || (o.flags & MEMGOV_BUDGET_OWN_ARENA) != 0);
    if (b->device) {
        b->arena = 0; /* no arena, no home, no shards: allocation refuses first (alloc.c); design.md 4.19 */
    } else if (b->own_arena) {
        if ((st = mg_arena_acquire(&b->arena)) != MEMGOV_OK) {
            free(copy);
            free(b);
            return st;
        }
        b->home = b;
        atomic_init(&b->shard[0], b->arena);
        for (unsigned k = 1; k < MG_SHARDS_MAX; k++)
            atomic_init(&b->shard[k], MG_SHARD_NONE);
    } else {
        b->home = parent->home;
        b->arena = parent->arena;
        b->file = parent->file; /* a child of a file-backed budget uses its file (src/budget/file_budget.c) */
    }
    if (parent != NULL) {
        pthread_mutex_lock(&tree->lock);
        memgov_budget **tail = &parent->first_child;
        while (*tail != NULL)
            tail = &(*tail)->next_sibling;
        *tail = b;
        pthread_mutex_unlock(&tree->lock);
    }
    *out = b;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_budget_create(memgov_budget *parent, const memgov_budget_options *opts,
                                              memgov_budget **out)
{
    if (parent == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_create: %s is NULL", parent == NULL ? "parent" : "out");
    return mg_budget_new(parent->tree, parent, opts, out);
}

memgov_status mg_budget_check_idle(memgov_budget *b, const char *what)
{
    uint64_t used = mg_budget_live_locked(b);
    if (used == 0 && b->first_child == NULL)
        return mg_spill_check_idle(b, what);
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

void mg_budget_free(memgov_budget *b)
{
    if (b->own_file)
        mg_filearena_close(b->file); /* unmaps and closes the file; its arena is destroyed, not pooled */
    else if (b->own_arena)
        for (unsigned k = 0; k < MG_SHARDS_MAX; k++) {
            unsigned a = atomic_load_explicit(&b->shard[k], memory_order_relaxed);
            if (a != MG_SHARD_NONE)
                mg_arena_give_back(a);
        }
    free(b->name);
    free(b);
}

/* ---- arena shards (budget_internal.h) ------------------------------------------------------------------------ */

/* Makes shard k of home: a fresh arena, published with a compare-and-swap (a thread that loses the race gives its
 * arena back and uses the winner's). Shard 0 if no arena can be had. */
static __attribute__((noinline)) unsigned shard_make(memgov_budget *home, unsigned k)
{
    unsigned a, none = MG_SHARD_NONE;
    if (!mg_arena_try_acquire(&a))
        return home->arena; /* no error: the allocation goes on in shard 0 (and retries the shard next time) */
    if (atomic_compare_exchange_strong_explicit(&home->shard[k], &none, a, memory_order_acq_rel,
                                                memory_order_acquire))
        return a;
    mg_arena_give_back(a);
    return none;
}

unsigned mg_budget_arena(memgov_budget *b)
{
    memgov_budget *home = b->home;
    unsigned n = atomic_load_explicit(&b->tree->arena_shards, memory_order_relaxed);
    if (n <= 1 || home->single_arena)
        return home->arena;
    unsigned i = mg_me.index;
    if (i == 0)
        i = mg_stock_take_index();
    unsigned k = (i - 1) % n;
    unsigned a = atomic_load_explicit(&home->shard[k], memory_order_acquire);
    return a != MG_SHARD_NONE ? a : shard_make(home, k);
}

/* Under the lock: the check, the budget's own stocks given back (so that its ancestors' use is exact the moment it
 * leaves the tree), the unlink. Then the wait for the runs of its callbacks in progress on other threads (none
 * start after the unlink: a run looks its callback up in the tree). From inside a callback the destroy does not
 * wait, so that it cannot deadlock on a run that waits for this thread; the last run to end frees the budget. */
MEMGOV_API memgov_status memgov_budget_destroy(memgov_budget *budget)
{
    if (budget == NULL)
        return MEMGOV_OK;
    if (budget->parent == NULL)
        return mg_fail(MEMGOV_EINVAL, "cannot destroy budget '%s': it is a governor's root; use memgov_close",
                       budget->name);
    mg_tree *tree = budget->tree;
    mg_pending p = {0};
    bool free_now = false;
    pthread_mutex_lock(&tree->lock);
    memgov_status st = mg_budget_check_idle(budget, "cannot destroy");
    if (st == MEMGOV_OK) {
        mg_drain_own_locked(budget, &p);
        mg_spill_unlink(budget);
        memgov_budget **link = &budget->parent->first_child;
        while (*link != budget)
            link = &(*link)->next_sibling;
        *link = budget->next_sibling;
        if (mg_in_callback == 0)
            while (budget->pins > 0)
                pthread_cond_wait(&tree->calls_done, &tree->lock);
        free_now = budget->pins == 0;
        budget->dead = !free_now; /* then the last unpin frees it */
    }
    pthread_mutex_unlock(&tree->lock);
    mg_pending_flush(tree, &p);
    if (free_now)
        mg_budget_free(budget);
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
    atomic_store(&budget->hard, mg_limit_in(hard_limit));
    atomic_store(&budget->soft, mg_limit_in(soft_limit));
    mg_drain_subtree(budget); /* stocks were sized for the old limits */
    mg_budget_announce_limits(budget);
    return MEMGOV_OK;
}

/* ---- statistics ------------------------------------------------------------------------------------------ */

MEMGOV_API memgov_status memgov_budget_get_stats(memgov_budget *budget, memgov_budget_stats *out)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_get_stats: budget is NULL");
    memgov_budget_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    st.used = mg_budget_live(budget);
    st.peak = atomic_load(&budget->peak);
    st.hard_limit = mg_limit_out(atomic_load(&budget->hard));
    st.soft_limit = mg_limit_out(atomic_load(&budget->soft));
    st.reserved = atomic_load(&budget->reserved);
    for (int i = 0; i < MG_STOCK_SLOTS; i++) {
        st.allocations += mg_stock_count_allocs(&budget->stock[i]);
        st.frees += mg_stock_count_frees(&budget->stock[i]);
    }
    st.refusals = atomic_load(&budget->n_refusal);
    st.reclaims = atomic_load(&budget->n_reclaim);
    pthread_mutex_lock(&budget->tree->lock);
    for (memgov_budget *c = budget->first_child; c != NULL; c = c->next_sibling)
        st.children++;
    pthread_mutex_unlock(&budget->tree->lock);
#ifndef MG_ALLOC_LIBC
    /* a caller whose struct ends before the arena fields (src/threads reads headroom so) skips the refresh */
    if (budget->own_arena && out != NULL && out->struct_size > offsetof(memgov_budget_stats, arena_allocated)) {
        unsigned arenas[MG_SHARDS_MAX], n = 0;
        for (unsigned k = 0; k < MG_SHARDS_MAX; k++) {
            unsigned a = atomic_load_explicit(&budget->shard[k], memory_order_acquire);
            if (a != MG_SHARD_NONE)
                arenas[n++] = a;
        }
        mg_arena_stats(arenas, n, &st);
    }
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

/* ---- the tree (tree.h) -------------------------------------------------------------------------------------- */

static void tree_after_fork(void *arg)
{
    mg_tree *tree = arg;
    pthread_cond_init(&tree->calls_done, NULL); /* its waiters were other threads */
    mg_callbacks_after_fork(tree);
}

memgov_status mg_tree_open(const memgov_budget_options *root_opts, mg_tree **out)
{
    return mg_tree_open_device(root_opts, NULL, out);
}

memgov_status mg_tree_open_device(const memgov_budget_options *root_opts, void *owner, mg_tree **out)
{
    mg_tree *tree = calloc(1, sizeof *tree);
    if (tree == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_open: no memory for the budget tree");
    tree->device_owner = owner;
    if (pthread_mutex_init(&tree->lock, NULL) != 0) {
        free(tree);
        return mg_fail(MEMGOV_ENOMEM, "memgov_open: could not create the budget tree's lock");
    }
    if (pthread_cond_init(&tree->calls_done, NULL) != 0) {
        pthread_mutex_destroy(&tree->lock);
        free(tree);
        return mg_fail(MEMGOV_ENOMEM, "memgov_open: could not create the budget tree's condition variable");
    }
    atomic_init(&tree->charge_batch, MG_STOCK_BATCH_DEFAULT);
    atomic_init(&tree->arena_shards, 1); /* until the governor reads budget.arena_shards */
    memgov_status st = mg_budget_new(tree, NULL, root_opts, &tree->root);
    if (st != MEMGOV_OK) {
        pthread_cond_destroy(&tree->calls_done);
        pthread_mutex_destroy(&tree->lock);
        free(tree);
        return st;
    }
    mg_fork_lock_add(&tree->fork, &tree->lock, MG_FORK_RANK_TREE, tree_after_fork, tree);
    *out = tree;
    return MEMGOV_OK;
}

memgov_budget *mg_tree_root(const mg_tree *tree)
{
    return tree->root;
}

void *mg_tree_device_owner(const mg_tree *tree)
{
    return tree->device_owner;
}

mg_tree *mg_budget_tree(const memgov_budget *budget)
{
    return budget->tree;
}

memgov_status mg_tree_check_idle(mg_tree *tree, const char *what)
{
    pthread_mutex_lock(&tree->lock);
    memgov_status st = mg_budget_check_idle(tree->root, what);
    pthread_mutex_unlock(&tree->lock);
    return st;
}

void mg_tree_free(mg_tree *tree)
{
    if (tree == NULL)
        return;
    mg_fork_lock_remove(&tree->fork);
    mg_pending p = {0};
    pthread_mutex_lock(&tree->lock);
    mg_drain_own_locked(tree->root, &p); /* the root has no ancestor: nothing is queued */
    pthread_mutex_unlock(&tree->lock);
    mg_budget_free(tree->root);
    pthread_cond_destroy(&tree->calls_done);
    pthread_mutex_destroy(&tree->lock);
    free(tree);
}

mg_tree_levels mg_tree_levels_of(memgov_budget *budget)
{
    return (mg_tree_levels){.live = mg_budget_live(budget),
                            .hard = mg_limit_out(atomic_load(&budget->hard)),
                            .soft = mg_limit_out(atomic_load(&budget->soft))};
}

void mg_tree_set_charge_batch(mg_tree *tree, uint64_t batch)
{
    atomic_store(&tree->charge_batch, batch > MG_TREE_BATCH_MAX ? MG_TREE_BATCH_MAX : batch);
}

void mg_tree_set_arena_shards(mg_tree *tree, unsigned shards)
{
    atomic_store(&tree->arena_shards, shards < 1 ? 1 : shards > MG_SHARDS_MAX ? MG_SHARDS_MAX : shards);
}
