/* Charging and crediting a budget chain: the shared counters of every level (charges all or nothing, credits,
 * peaks, soft-limit events), the refills of the per-thread stocks (stock.c) and the refusal path (drain the
 * stocks, reclaim, one retry, message). */
#include <stdlib.h>

#include "budget/stock.h"
#include "internal/error.h"

/* ---- the shared counters --------------------------------------------------------------------------------- */

/* The level from b up whose hard limit refuses `bytes` on top of its use now, or NULL. */
static memgov_budget *limit_refuser(memgov_budget *b, uint64_t bytes)
{
    for (memgov_budget *x = b; x != NULL; x = x->up) {
        uint64_t used = atomic_load_explicit(&x->used, memory_order_relaxed);
        uint64_t hard = atomic_load_explicit(&x->hard, memory_order_relaxed);
        if (hard != MG_NO_LIMIT && (used > hard || bytes > hard - used))
            return x;
    }
    return NULL;
}

/* Charges `bytes` to every level from b up, or to none. Returns NULL on success, else the refusing level. One
 * rule for the two ways to fail: a level whose hard limit the charge would pass refuses it (*overflow false,
 * MEMGOV_ENOMEM), wherever it is in the chain; only when no limit refuses it and the use of some level would pass
 * 2^64 - 1 (possible only without a limit) is it an overflow (*overflow true, MEMGOV_EOVERFLOW). */
static memgov_budget *try_charge(memgov_budget *b, uint64_t bytes, mg_charge *c, bool *overflow)
{
    c->charged = bytes;
    c->levels = 0;
    *overflow = false;
    for (memgov_budget *x = b; x != NULL; x = x->up) {
        uint64_t old = atomic_load_explicit(&x->used, memory_order_relaxed);
        for (;;) {
            uint64_t hard = atomic_load_explicit(&x->hard, memory_order_relaxed);
            if (old > hard || bytes > hard - old) { /* with no limit (hard 2^64 - 1): the sum would overflow */
                mg_charge_rollback(c);
                c->levels = 0;
                if (hard != MG_NO_LIMIT)
                    return x; /* x's limit refused the use it saw: a refusal even if frees came since, never an
                                 overflow (the re-read below could see those frees; the GPU stress test met it) */
                memgov_budget *r = limit_refuser(x, bytes);
                *overflow = r == NULL;
                return r != NULL ? r : x;
            }
            if (atomic_compare_exchange_weak_explicit(&x->used, &old, old + bytes, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        }
        c->after[c->levels++] = old + bytes;
    }
    return NULL;
}

/* Credits the shared counters of every level from b up: SOFT_CLEARED for a level announced over its soft limit
 * that is now at or below it, announced at once, or queued in *p when the caller holds the tree's lock (p set). */
void mg_credit_levels_queued(memgov_budget *b, uint64_t bytes, memgov_budget *origin, mg_pending *p)
{
    for (memgov_budget *x = b; x != NULL; x = x->up) {
        uint64_t before = atomic_fetch_sub_explicit(&x->used, bytes, memory_order_relaxed);
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (before - bytes > soft || !atomic_load_explicit(&x->soft_over, memory_order_relaxed) ||
            !atomic_exchange(&x->soft_over, false))
            continue;
        if (p != NULL)
            mg_pending_add(p, x, origin, bytes);
        else
            mg_announce(MEMGOV_EVENT_SOFT_CLEARED, x, origin, bytes);
    }
}

static void uncharge_levels(memgov_budget *b, uint64_t bytes, memgov_budget *origin)
{
    mg_credit_levels_queued(b, bytes, origin, NULL);
}

void mg_credit_levels(memgov_budget *b, uint64_t bytes)
{
    uncharge_levels(b, bytes, b);
}

void mg_charge_rollback(const mg_charge *c)
{
    if (c->levels == 0) {
        if (c->slot != NULL && !mg_slot_put(c->slot, c->bytes))
            uncharge_levels(c->budget, c->bytes, c->budget);
        return;
    }
    memgov_budget *x = c->budget;
    for (unsigned i = 0; i < c->levels; i++, x = x->up)
        atomic_fetch_sub_explicit(&x->used, c->charged, memory_order_relaxed);
}

static bool all_levels_within(memgov_budget *b);

/* A charge took level `top` (and maybe levels below it) over a soft limit not yet announced: the stocks below
 * `top` are drained and closed first (bytes in stocks are not in use, and no free may hide in a stock while a
 * level is over), then each level from the charged budget up to `top` still over its soft limit is announced. */
static void soft_crossed(const mg_charge *c, memgov_budget *top)
{
    mg_drain_subtree(top);
    for (memgov_budget *x = c->budget;; x = x->up) {
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (atomic_load_explicit(&x->used, memory_order_relaxed) > soft && !atomic_exchange(&x->soft_over, true))
            mg_announce(MEMGOV_EVENT_SOFT_CROSSED, x, c->budget, c->bytes);
        if (x == top)
            break;
    }
}

void mg_charge_commit(const mg_charge *c)
{
    memgov_budget *x = c->budget, *crossed = NULL;
    for (unsigned i = 0; i < c->levels; i++, x = x->up) {
        uint64_t after = c->after[i];
        uint64_t peak = atomic_load_explicit(&x->peak, memory_order_relaxed);
        while (after > peak &&
               !atomic_compare_exchange_weak_explicit(&x->peak, &peak, after, memory_order_relaxed,
                                                      memory_order_relaxed))
            ;
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (after > soft && !atomic_load_explicit(&x->soft_over, memory_order_relaxed))
            crossed = x;
    }
    if (c->extra > 0) {
        /* The refill opens the slot. Should a level have gone over a limit since refill_room looked, the
         * slot closes again: either this check sees that level's use, or the drain that follows the crossing
         * (soft_crossed, a limit change) sees the open slot; both sides fence between write and read. */
        mg_slot_refill(c->slot, c->extra, c->cap);
        atomic_thread_fence(memory_order_seq_cst);
        if (!all_levels_within(c->budget)) {
            /* Under the lock, as a drain: no reader sees the bytes gone from the slot and still in the levels. */
            mg_tree *tree = c->budget->tree;
            mg_pending p = {0};
            pthread_mutex_lock(&tree->lock);
            uint64_t back = mg_slot_close(c->slot);
            if (back > 0)
                mg_credit_levels_queued(c->budget, back, c->budget, &p);
            pthread_mutex_unlock(&tree->lock);
            mg_pending_flush(tree, &p);
        }
    }
    if (c->allocation)
        mg_slot_count(&mg_my_slot(c->budget)->n_alloc, 1); /* c->slot, when set, is this slot */
    if (crossed != NULL)
        soft_crossed(c, crossed);
}

/* ---- stocks ---------------------------------------------------------------------------------------------- */

/* The batch of the caller's slot s for its next refill (`base`: the tree's charge_batch), adapted to how busy the
 * slot is: an owned slot that went back to the shared counters (a refill, or a free it had no room for) within
 * MG_STOCK_BUSY_OPS of its operations doubles its batch, up to MG_STOCK_GROW x base; one that took more than
 * MG_STOCK_IDLE_OPS halves it, down to base. So a thread that turns over more than a batch per round (a batch of
 * 32 blocks of 64 KiB is 2 MiB) stops meeting other threads on the shared counters, and a quiet one holds little.
 * Growth also stops at 1/16 of b's own hard limit, so that stocks stay small against a small budget (a refill is
 * limited by the headroom anyway; this bounds what frees may leave in a slot). The shared slot keeps `base`.
 * Updates the slot's mark. */
static uint64_t stock_batch(memgov_budget *b, mg_stock *s)
{
    uint64_t base = atomic_load_explicit(&b->tree->charge_batch, memory_order_relaxed);
    if (base == 0 || !mg_slot_owned())
        return base;
    uint64_t max = base > MG_STOCK_BATCH_MAX / MG_STOCK_GROW ? MG_STOCK_BATCH_MAX : base * MG_STOCK_GROW;
    uint64_t hard = atomic_load_explicit(&b->hard, memory_order_relaxed);
    if (hard / 16 < max)
        max = hard / 16 > base ? hard / 16 : base;
    uint64_t batch = mg_slot_cap(s) / 2; /* 0: the slot's first refill, which starts at base */
    uint32_t ops = (uint32_t)(atomic_load_explicit(&s->n_alloc, memory_order_relaxed) +
                              atomic_load_explicit(&s->n_free, memory_order_relaxed));
    uint32_t since = ops - s->mark;
    s->mark = ops;
    if (batch == 0)
        return base;
    batch = batch < base ? base : batch > max ? max : batch;
    if (since < MG_STOCK_BUSY_OPS)
        batch = batch > max / 2 ? max : batch * 2;
    else if (since > MG_STOCK_IDLE_OPS)
        batch = batch / 2 < base ? base : batch / 2;
    return batch;
}

/* How much a refill may add on top of `bytes`: the headroom every level keeps below its soft and hard limits,
 * at most `batch`. */
static uint64_t refill_room(memgov_budget *b, uint64_t bytes, uint64_t batch)
{
    uint64_t room = batch;
    for (memgov_budget *x = b; x != NULL && room > 0; x = x->up) {
        uint64_t used = atomic_load_explicit(&x->used, memory_order_relaxed);
        uint64_t hard = atomic_load_explicit(&x->hard, memory_order_relaxed);
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        uint64_t limit = soft < hard ? soft : hard;
        uint64_t here = used > limit || bytes > limit - used ? 0 : limit - used - bytes;
        if (here < room)
            room = here;
    }
    return room;
}

/* True when no level is above its soft or hard limit: then a credit may stay in a stock without hiding a
 * SOFT_CLEARED event or a return below a lowered limit. */
static bool all_levels_within(memgov_budget *b)
{
    for (memgov_budget *x = b; x != NULL; x = x->up) {
        uint64_t used = atomic_load_explicit(&x->used, memory_order_relaxed);
        uint64_t hard = atomic_load_explicit(&x->hard, memory_order_relaxed);
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (used > hard || used > soft)
            return false;
    }
    return true;
}

/* Credits `bytes`, to this thread's stock when it is open and has room; `is_free`: counted as a free. */
static inline void credit(memgov_budget *b, uint64_t bytes, bool is_free)
{
    mg_stock *s = mg_my_slot(b);
    if (is_free)
        mg_slot_count(&s->n_free, 1);
    if (bytes <= MG_STOCK_MAX_CHARGE && mg_slot_put(s, bytes))
        return;
    if (bytes <= MG_STOCK_MAX_CHARGE && mg_slot_owned())
        mg_stock_overflow(b, s, bytes);
    else
        uncharge_levels(b, bytes, b);
}

void mg_stock_overflow(memgov_budget *b, mg_stock *s, uint64_t bytes)
{
    /* What the slot holds above its batch goes too: one credit, and the next frees fit again. The slot may be
     * closed (a drain) or have room after all (a drainer emptied it since the caller looked): then `bytes` alone
     * goes back, and nothing is taken from it. */
    uint64_t give = bytes, w;
    bool plain = mg_owner_enter(s);
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        uint64_t keep = mg_slot_cap(s) / 2;
        if ((w & MG_STOCK_OPEN) == 0 || mg_stock_bytes(w) <= keep)
            break;
        if (plain) {
            atomic_store_explicit(&s->word, keep | MG_STOCK_OPEN, memory_order_relaxed);
            give += mg_stock_bytes(w) - keep;
            break;
        }
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, keep | MG_STOCK_OPEN, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            give += mg_stock_bytes(w) - keep;
            break;
        }
    }
    if (plain)
        mg_owner_leave(s);
    if (give > bytes) {
        /* The slot turned over: its next refill's batch (the cap it sets) adapts; a slot that only frees grows
         * here. */
        uint64_t batch = stock_batch(b, s);
        if (2 * batch > mg_slot_cap(s))
            atomic_store_explicit(&s->cap, 2 * batch, memory_order_relaxed);
    }
    uncharge_levels(b, give, b);
}

void mg_uncharge(memgov_budget *b, uint64_t bytes)
{
    credit(b, bytes, false);
}

void mg_uncharge_free(memgov_budget *b, uint64_t bytes)
{
    credit(b, bytes, true);
}

/* ---- the refusal path ------------------------------------------------------------------------------------ */

static memgov_status refuse(memgov_budget *b, memgov_budget *r, uint64_t bytes)
{
    atomic_fetch_add_explicit(&r->n_refusal, 1, memory_order_relaxed);
    uint64_t used = mg_budget_live(r), peak = atomic_load(&r->peak), hard = atomic_load(&r->hard);
    char req[24], u[24], p[24], h[24];
    memgov_format_bytes(bytes, req, sizeof req);
    memgov_format_bytes(used, u, sizeof u);
    memgov_format_bytes(peak, p, sizeof p);
    memgov_format_bytes(hard, h, sizeof h);
    mg_announce(MEMGOV_EVENT_HARD_REFUSAL, r, b, bytes);
    if (r == b)
        return mg_fail(MEMGOV_ENOMEM, "budget '%s' refused %s: use %s (peak %s) + request would exceed its hard "
                       "limit of %s", r->name, req, u, p, h);
    return mg_fail(MEMGOV_ENOMEM, "budget '%s' refused %s requested on its descendant '%s': use %s (peak %s) + "
                   "request would exceed its hard limit of %s", r->name, req, b->name, u, p, h);
}

static memgov_status overflowed(memgov_budget *r, uint64_t bytes)
{
    return mg_fail(MEMGOV_EOVERFLOW, "budget '%s': a charge of %llu bytes would overflow its use of %llu bytes",
                   r->name, (unsigned long long)bytes, (unsigned long long)atomic_load(&r->used));
}

memgov_status mg_charge_begin(memgov_budget *b, uint64_t bytes, bool allocation, mg_charge *c)
{
    c->budget = b;
    c->bytes = bytes;
    c->extra = 0;
    c->cap = 0;
    c->slot = NULL;
    c->allocation = allocation;
    c->levels = 0;
    bool overflow;
    if (bytes <= MG_STOCK_MAX_CHARGE) {
        mg_stock *s = mg_my_slot(b);
        if (mg_slot_take(s, bytes)) {
            c->slot = s;
            return MEMGOV_OK;
        }
        uint64_t batch = stock_batch(b, s);
        uint64_t extra = refill_room(b, bytes, batch);
        if (extra > 0 && try_charge(b, bytes + extra, c, &overflow) == NULL) {
            c->slot = s;
            c->extra = extra;
            c->cap = 2 * batch;
            return MEMGOV_OK;
        }
    }
    memgov_budget *r = try_charge(b, bytes, c, &overflow);
    if (r == NULL)
        return MEMGOV_OK;
    if (overflow)
        return overflowed(r, bytes);
    /* Bytes held in stocks under the refusing budget are not in use: give them back and look again. */
    mg_drain_subtree(r);
    if ((r = try_charge(b, bytes, c, &overflow)) == NULL)
        return MEMGOV_OK;
    if (overflow)
        return overflowed(r, bytes);
    uint64_t used = atomic_load(&r->used), hard = atomic_load(&r->hard), needed;
    if (used > hard)
        needed = bytes > UINT64_MAX - (used - hard) ? UINT64_MAX : used - hard + bytes;
    else
        needed = bytes > hard - used ? bytes - (hard - used) : 1;
    mg_reclaim_run(r, needed);
    if ((r = try_charge(b, bytes, c, &overflow)) == NULL)
        return MEMGOV_OK;
    if (overflow)
        return overflowed(r, bytes);
    return refuse(b, r, bytes);
}
