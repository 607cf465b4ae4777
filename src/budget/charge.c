/* Charging and crediting a budget chain, the refusal path (reclaim, one retry, message) and event delivery. */
#include <stdlib.h>

#include "budget/budget_internal.h"
#include "internal/error.h"

static uint64_t limit_out(uint64_t v)
{
    return v == MG_NO_LIMIT ? 0 : v;
}

/* ---- events ---------------------------------------------------------------------------------------------- */

/* Delivers the event to the listeners of its budget and of every ancestor, each table copied under the lock and
 * called outside it. */
static void deliver(memgov_event *ev)
{
    memgov *gov = ev->budget->gov;
    for (memgov_budget *x = ev->budget; x != NULL; x = x->parent) {
        mg_listener copy[MEMGOV_BUDGET_MAX_CALLBACKS];
        pthread_mutex_lock(&gov->lock);
        unsigned n = x->n_listen;
        for (unsigned i = 0; i < n; i++)
            copy[i] = x->listen[i];
        pthread_mutex_unlock(&gov->lock);
        for (unsigned i = 0; i < n; i++)
            copy[i].fn(ev, copy[i].user);
    }
}

static void announce(memgov_event_kind kind, memgov_budget *b, memgov_budget *origin, uint64_t used,
                     uint64_t request)
{
    memgov_event ev = {
        .struct_size = sizeof ev,
        .kind = kind,
        .budget = b,
        .origin = origin,
        .used = used,
        .peak = atomic_load(&b->peak),
        .hard_limit = limit_out(atomic_load(&b->hard)),
        .soft_limit = limit_out(atomic_load(&b->soft)),
        .request = request,
    };
    deliver(&ev);
}

void mg_budget_announce_limits(memgov_budget *b)
{
    announce(MEMGOV_EVENT_LIMIT_CHANGED, b, b, atomic_load(&b->used), 0);
}

/* ---- one attempt ----------------------------------------------------------------------------------------- */

/* Charges every level from b up, or none. Returns NULL on success, else the refusing level (*overflow set when
 * the refusal is a 64-bit overflow rather than a limit). */
static memgov_budget *try_charge(memgov_budget *b, uint64_t bytes, mg_charge *c, bool *overflow)
{
    c->budget = b;
    c->bytes = bytes;
    c->levels = 0;
    *overflow = false;
    for (memgov_budget *x = b; x != NULL; x = x->parent) {
        uint64_t old = atomic_load_explicit(&x->used, memory_order_relaxed);
        for (;;) {
            uint64_t hard = atomic_load_explicit(&x->hard, memory_order_relaxed);
            if (bytes > UINT64_MAX - old)
                *overflow = true;
            if (*overflow || old > hard || bytes > hard - old) {
                mg_charge_rollback(c);
                return x;
            }
            if (atomic_compare_exchange_weak_explicit(&x->used, &old, old + bytes, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        }
        c->after[c->levels++] = old + bytes;
    }
    return NULL;
}

void mg_charge_rollback(const mg_charge *c)
{
    memgov_budget *x = c->budget;
    for (unsigned i = 0; i < c->levels; i++, x = x->parent)
        atomic_fetch_sub_explicit(&x->used, c->bytes, memory_order_relaxed);
}

void mg_charge_commit(const mg_charge *c)
{
    memgov_budget *x = c->budget;
    for (unsigned i = 0; i < c->levels; i++, x = x->parent) {
        uint64_t after = c->after[i];
        uint64_t peak = atomic_load_explicit(&x->peak, memory_order_relaxed);
        while (after > peak &&
               !atomic_compare_exchange_weak_explicit(&x->peak, &peak, after, memory_order_relaxed,
                                                      memory_order_relaxed))
            ;
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (after > soft && after - c->bytes <= soft)
            announce(MEMGOV_EVENT_SOFT_CROSSED, x, c->budget, after, c->bytes);
    }
}

void mg_uncharge(memgov_budget *b, uint64_t bytes)
{
    for (memgov_budget *x = b; x != NULL; x = x->parent) {
        uint64_t before = atomic_fetch_sub_explicit(&x->used, bytes, memory_order_relaxed);
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (before > soft && before - bytes <= soft)
            announce(MEMGOV_EVENT_SOFT_CLEARED, x, b, before - bytes, bytes);
    }
}

/* ---- the refusal path ------------------------------------------------------------------------------------ */

typedef struct reclaim_call {
    mg_reclaim_entry e;
    memgov_budget *owner;
    size_t order;
} reclaim_call;

static int by_priority(const void *a, const void *b)
{
    const reclaim_call *x = a, *y = b;
    if (x->e.priority != y->e.priority)
        return x->e.priority > y->e.priority ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static size_t collect(memgov_budget *x, reclaim_call *calls, size_t n, size_t cap)
{
    for (unsigned i = 0; i < x->n_reclaim_cb; i++) {
        if (calls != NULL && n < cap)
            calls[n] = (reclaim_call){.e = x->reclaim[i], .owner = x, .order = n};
        n++;
    }
    for (memgov_budget *ch = x->first_child; ch != NULL; ch = ch->next_sibling)
        n = collect(ch, calls, n, cap);
    return n;
}

/* Runs the reclaim callbacks of `refusing` and of every budget below it, highest priority first, until their
 * answers add up to `needed`. Returns whether any callback ran. */
static bool reclaim(memgov_budget *refusing, uint64_t needed)
{
    memgov *gov = refusing->gov;
    pthread_mutex_lock(&gov->lock);
    size_t n = collect(refusing, NULL, 0, 0);
    reclaim_call *calls = n > 0 ? malloc(n * sizeof *calls) : NULL;
    if (calls != NULL)
        collect(refusing, calls, 0, n);
    pthread_mutex_unlock(&gov->lock);
    if (calls == NULL)
        return false;
    qsort(calls, n, sizeof *calls, by_priority);
    uint64_t freed = 0;
    for (size_t i = 0; i < n && freed < needed; i++) {
        atomic_fetch_add_explicit(&calls[i].owner->n_reclaim, 1, memory_order_relaxed);
        uint64_t got = calls[i].e.fn(refusing, needed, calls[i].e.user);
        freed = got > UINT64_MAX - freed ? UINT64_MAX : freed + got;
    }
    free(calls);
    return true;
}

static memgov_status refuse(memgov_budget *b, memgov_budget *r, uint64_t bytes)
{
    atomic_fetch_add_explicit(&r->n_refusal, 1, memory_order_relaxed);
    uint64_t used = atomic_load(&r->used), peak = atomic_load(&r->peak), hard = atomic_load(&r->hard);
    char req[24], u[24], p[24], h[24];
    memgov_format_bytes(bytes, req, sizeof req);
    memgov_format_bytes(used, u, sizeof u);
    memgov_format_bytes(peak, p, sizeof p);
    memgov_format_bytes(hard, h, sizeof h);
    announce(MEMGOV_EVENT_HARD_REFUSAL, r, b, used, bytes);
    if (r == b)
        return mg_fail(MEMGOV_ENOMEM, "budget '%s' refused %s: use %s (peak %s) + request would exceed its hard "
                       "limit of %s", r->name, req, u, p, h);
    return mg_fail(MEMGOV_ENOMEM, "budget '%s' refused %s requested on its descendant '%s': use %s (peak %s) + "
                   "request would exceed its hard limit of %s", r->name, req, b->name, u, p, h);
}

memgov_status mg_charge_begin(memgov_budget *b, uint64_t bytes, mg_charge *c)
{
    bool overflow;
    memgov_budget *r = try_charge(b, bytes, c, &overflow);
    if (r == NULL)
        return MEMGOV_OK;
    if (overflow)
        return mg_fail(MEMGOV_EOVERFLOW, "budget '%s': a charge of %llu bytes would overflow its use of %llu bytes",
                       r->name, (unsigned long long)bytes, (unsigned long long)atomic_load(&r->used));
    uint64_t used = atomic_load(&r->used), hard = atomic_load(&r->hard);
    uint64_t over = used > hard ? used - hard : 0;
    uint64_t needed = over > 0 ? (bytes > UINT64_MAX - over ? UINT64_MAX : over + bytes) : bytes - (hard - used);
    reclaim(r, needed);
    r = try_charge(b, bytes, c, &overflow);
    if (r == NULL)
        return MEMGOV_OK;
    if (overflow)
        return mg_fail(MEMGOV_EOVERFLOW, "budget '%s': a charge of %llu bytes would overflow its use of %llu bytes",
                       r->name, (unsigned long long)bytes, (unsigned long long)atomic_load(&r->used));
    return refuse(b, r, bytes);
}
