/* Events and callbacks: the one callback table (reclaim callbacks and listeners), their registration, the runs of
 * reclaim callbacks on a refusal and the delivery of events, and the pins that keep a budget alive while a
 * callback uses it. */
#include <stdlib.h>
#include <string.h>

#include "budget/budget_internal.h"
#include "internal/error.h"
#include "internal/grow.h"

_Thread_local unsigned mg_in_callback;

/* ---- the table (under tree->lock) ---------------------------------------------------------------------------- */

static mg_callback *table_find(mg_callback_table *t, uint64_t id)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->entry[i].id == id)
            return &t->entry[i];
    return NULL;
}

static void table_delete(mg_callback_table *t, mg_callback *e)
{
    size_t i = (size_t)(e - t->entry);
    memmove(e, e + 1, (t->n - i - 1) * sizeof *e);
    t->n--;
}

/* One run of entry `id` ended: the last run of a removed entry deletes it. Wakes the removals that wait. */
static void table_run_done(mg_tree *tree, mg_callback_table *t, uint64_t id)
{
    mg_callback *e = table_find(t, id);
    if (e != NULL && e->running > 0 && --e->running == 0 && e->removed)
        table_delete(t, e);
    pthread_cond_broadcast(&tree->calls_done);
}

static memgov_status table_add(memgov_budget *b, mg_callback_table *t, mg_callback e, const char *what,
                               uint64_t *id_out)
{
    mg_tree *tree = b->tree;
    memgov_status st = MEMGOV_OK;
    pthread_mutex_lock(&tree->lock);
    if (t->live == MEMGOV_BUDGET_MAX_CALLBACKS || t->n == MG_CALLBACK_ROOM) {
        st = mg_fail(MEMGOV_ERANGE, "budget '%s' already has %u %s (MEMGOV_BUDGET_MAX_CALLBACKS is %d%s)", b->name,
                     t->n, what, MEMGOV_BUDGET_MAX_CALLBACKS,
                     t->live < t->n ? ", removed ones still running count until they return" : "");
    } else {
        e.id = ++tree->last_id;
        t->entry[t->n++] = e;
        t->live++;
        if (id_out != NULL)
            *id_out = e.id;
    }
    pthread_mutex_unlock(&tree->lock);
    return st;
}

/* Removes entry `id`. Outside a callback, waits until no run of it is in progress on any thread; inside one (this
 * thread is running some memgov callback) it does not wait, so that no removal can deadlock on a run that waits
 * for it: the entry then starts no run after this returns, and goes away when its last run returns. */
static memgov_status table_remove(memgov_budget *b, mg_callback_table *t, uint64_t id, const char *what)
{
    mg_tree *tree = b->tree;
    pthread_mutex_lock(&tree->lock);
    mg_callback *e = table_find(t, id);
    if (e == NULL || e->removed) {
        pthread_mutex_unlock(&tree->lock);
        return mg_fail(MEMGOV_ENOTFOUND, "budget '%s' has no %s with id %llu", b->name, what,
                       (unsigned long long)id);
    }
    t->live--;
    if (e->running == 0) {
        table_delete(t, e);
    } else {
        e->removed = true;
        if (mg_in_callback == 0)
            while (table_find(t, id) != NULL)
                pthread_cond_wait(&tree->calls_done, &tree->lock);
    }
    pthread_mutex_unlock(&tree->lock);
    return MEMGOV_OK;
}

/* ---- pins (under tree->lock) ------------------------------------------------------------------------------- */

void mg_unpin_locked(memgov_budget *b)
{
    if (--b->pins == 0) {
        pthread_cond_broadcast(&b->tree->calls_done);
        if (b->dead)
            mg_budget_free(b);
    }
}

static void pin_chain(memgov_budget *b)
{
    for (memgov_budget *x = b; x != NULL; x = x->parent)
        x->pins++;
}

static void unpin_chain(memgov_budget *b)
{
    while (b != NULL) {
        memgov_budget *up = b->parent; /* read first: the unpin may free b */
        mg_unpin_locked(b);
        b = up;
    }
}

/* ---- events ------------------------------------------------------------------------------------------------ */

/* Delivers the event to the listeners of its budget and of every ancestor. The chain is pinned meanwhile (a
 * listener may destroy budgets); each level's table is looked at under the lock (its runs counted) and called
 * outside it. */
static void deliver(memgov_event *ev)
{
    mg_tree *tree = ev->budget->tree;
    pthread_mutex_lock(&tree->lock);
    pin_chain(ev->budget);
    pthread_mutex_unlock(&tree->lock);
    for (memgov_budget *x = ev->budget; x != NULL; x = x->parent) {
        mg_callback call[MG_CALLBACK_ROOM];
        unsigned n = 0;
        pthread_mutex_lock(&tree->lock);
        for (unsigned i = 0; i < x->listen.n; i++) {
            mg_callback *e = &x->listen.entry[i];
            if (!e->removed) {
                e->running++;
                call[n++] = *e;
            }
        }
        pthread_mutex_unlock(&tree->lock);
        if (n == 0)
            continue;
        mg_in_callback++;
        for (unsigned i = 0; i < n; i++)
            call[i].fn.event(ev, call[i].user);
        mg_in_callback--;
        pthread_mutex_lock(&tree->lock);
        for (unsigned i = 0; i < n; i++)
            table_run_done(tree, &x->listen, call[i].id);
        pthread_mutex_unlock(&tree->lock);
    }
    pthread_mutex_lock(&tree->lock);
    unpin_chain(ev->budget);
    pthread_mutex_unlock(&tree->lock);
}

void mg_announce(memgov_event_kind kind, memgov_budget *b, memgov_budget *origin, uint64_t request)
{
    memgov_event ev = {
        .struct_size = sizeof ev,
        .kind = kind,
        .budget = b,
        .origin = origin,
        .used = mg_budget_live(b),
        .peak = atomic_load(&b->peak),
        .hard_limit = mg_limit_out(atomic_load(&b->hard)),
        .soft_limit = mg_limit_out(atomic_load(&b->soft)),
        .request = request,
    };
    deliver(&ev);
}

void mg_budget_announce_limits(memgov_budget *b)
{
    mg_announce(MEMGOV_EVENT_LIMIT_CHANGED, b, b, 0);
}

void mg_pending_add(mg_pending *p, memgov_budget *b, memgov_budget *origin, uint64_t request)
{
    mg_pending_event *grown = mg_grow(p->ev, &p->cap, p->n, sizeof *grown, 4);
    if (grown == NULL) {
        /* No memory to queue it: the budget stays marked over its soft limit, so the next credit announces it. */
        atomic_store(&b->soft_over, true);
        return;
    }
    p->ev = grown;
    p->ev[p->n++] = (mg_pending_event){b, origin, request};
    pin_chain(origin);
}

void mg_pending_flush(mg_tree *tree, mg_pending *p)
{
    if (p->n == 0)
        return;
    for (size_t i = 0; i < p->n; i++)
        mg_announce(MEMGOV_EVENT_SOFT_CLEARED, p->ev[i].budget, p->ev[i].origin, p->ev[i].request);
    pthread_mutex_lock(&tree->lock);
    for (size_t i = 0; i < p->n; i++)
        unpin_chain(p->ev[i].origin);
    pthread_mutex_unlock(&tree->lock);
    free(p->ev);
    *p = (mg_pending){0};
}

/* ---- reclaim runs ------------------------------------------------------------------------------------------ */

typedef struct reclaim_call {
    uint64_t id;
    int priority;
    size_t order;
} reclaim_call;

static int by_priority(const void *a, const void *b)
{
    const reclaim_call *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static size_t collect(memgov_budget *x, reclaim_call *calls, size_t n, size_t cap)
{
    for (unsigned i = 0; i < x->reclaim.n; i++) {
        const mg_callback *e = &x->reclaim.entry[i];
        if (e->removed)
            continue;
        if (calls != NULL && n < cap)
            calls[n] = (reclaim_call){.id = e->id, .priority = e->priority, .order = n};
        n++;
    }
    for (memgov_budget *ch = x->first_child; ch != NULL; ch = ch->next_sibling)
        n = collect(ch, calls, n, cap);
    return n;
}

/* The registered reclaim callback `id` in x's subtree (*owner: its budget), NULL when it is gone. */
static mg_callback *find_in_subtree(memgov_budget *x, uint64_t id, memgov_budget **owner)
{
    mg_callback *e = table_find(&x->reclaim, id);
    if (e != NULL) {
        *owner = x;
        return e->removed ? NULL : e;
    }
    for (memgov_budget *ch = x->first_child; ch != NULL; ch = ch->next_sibling)
        if ((e = find_in_subtree(ch, id, owner)) != NULL)
            return e;
    return NULL;
}

/* Runs reclaim callback `id` if it is still registered under `refusing`: its budget is pinned and the run counted
 * while it runs. Returns its answer (0 if it did not run). */
static uint64_t run_one(memgov_budget *refusing, uint64_t id, uint64_t needed)
{
    mg_tree *tree = refusing->tree;
    memgov_budget *owner = NULL;
    pthread_mutex_lock(&tree->lock);
    mg_callback *e = find_in_subtree(refusing, id, &owner);
    if (e == NULL) {
        pthread_mutex_unlock(&tree->lock);
        return 0;
    }
    e->running++;
    owner->pins++;
    atomic_fetch_add_explicit(&owner->n_reclaim, 1, memory_order_relaxed);
    memgov_reclaim_fn fn = e->fn.reclaim;
    void *user = e->user;
    pthread_mutex_unlock(&tree->lock);
    mg_in_callback++;
    uint64_t got = fn(refusing, needed, user);
    mg_in_callback--;
    pthread_mutex_lock(&tree->lock);
    table_run_done(tree, &owner->reclaim, id);
    mg_unpin_locked(owner);
    pthread_mutex_unlock(&tree->lock);
    return got;
}

void mg_reclaim_run(memgov_budget *refusing, uint64_t needed)
{
    mg_tree *tree = refusing->tree;
    pthread_mutex_lock(&tree->lock);
    size_t n = collect(refusing, NULL, 0, 0);
    reclaim_call *calls = n > 0 ? malloc(n * sizeof *calls) : NULL;
    if (calls != NULL)
        collect(refusing, calls, 0, n);
    pthread_mutex_unlock(&tree->lock);
    if (calls == NULL)
        return;
    qsort(calls, n, sizeof *calls, by_priority);
    uint64_t freed = 0;
    for (size_t i = 0; i < n && freed < needed; i++) {
        uint64_t got = run_one(refusing, calls[i].id, needed);
        freed = got > UINT64_MAX - freed ? UINT64_MAX : freed + got;
    }
    free(calls);
}

/* ---- after fork ------------------------------------------------------------------------------------------- */

static void budget_after_fork(memgov_budget *b)
{
    b->pins = 0;
    mg_callback_table *tables[] = {&b->reclaim, &b->listen};
    for (int k = 0; k < 2; k++) {
        mg_callback_table *t = tables[k];
        for (unsigned i = t->n; i-- > 0;) {
            t->entry[i].running = 0;
            if (t->entry[i].removed)
                table_delete(t, &t->entry[i]);
        }
    }
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling)
        budget_after_fork(c);
}

void mg_callbacks_after_fork(mg_tree *tree)
{
    /* The runs and deliveries of the parent's other threads never end in the child. (Budgets destroyed while
     * pinned by them stay allocated in the child.) */
    if (tree->root != NULL)
        budget_after_fork(tree->root);
}

/* ---- the public registration functions --------------------------------------------------------------------- */

MEMGOV_API memgov_status memgov_budget_add_reclaim(memgov_budget *budget, memgov_reclaim_fn fn, void *user,
                                                   int priority, uint64_t *id_out)
{
    if (budget == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_add_reclaim: %s is NULL", budget == NULL ? "budget" : "fn");
    mg_callback e = {.fn.reclaim = fn, .user = user, .priority = priority};
    return table_add(budget, &budget->reclaim, e, "reclaim callbacks", id_out);
}

MEMGOV_API memgov_status memgov_budget_remove_reclaim(memgov_budget *budget, uint64_t id)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_remove_reclaim: budget is NULL");
    return table_remove(budget, &budget->reclaim, id, "reclaim callback");
}

MEMGOV_API memgov_status memgov_budget_add_listener(memgov_budget *budget, memgov_event_fn fn, void *user,
                                                    uint64_t *id_out)
{
    if (budget == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_add_listener: %s is NULL", budget == NULL ? "budget" : "fn");
    mg_callback e = {.fn.event = fn, .user = user};
    return table_add(budget, &budget->listen, e, "listeners", id_out);
}

MEMGOV_API memgov_status memgov_budget_remove_listener(memgov_budget *budget, uint64_t id)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_budget_remove_listener: budget is NULL");
    return table_remove(budget, &budget->listen, id, "listener");
}
