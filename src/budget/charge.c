/* Charging and crediting a budget chain: per-thread stocks for small charges, the shared counters for the rest, the
 * drains and the refusal path (drain the stocks, reclaim, one retry, message). */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "budget/stock.h"
#include "internal/error.h"

#if defined(__SANITIZE_THREAD__)
#  define MG_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define MG_TSAN 1
#  endif
#endif

/* ---- slot ownership (stock.h) ------------------------------------------------------------------------------ */

_Thread_local mg_thread_stock mg_me;
bool mg_stock_plain_ok;
static pthread_once_t stock_once = PTHREAD_ONCE_INIT;
static pthread_key_t index_key;
static pthread_mutex_t index_lock = PTHREAD_MUTEX_INITIALIZER;
static bool index_taken[MG_STOCK_OWNED];
static _Atomic uint64_t next_tok = 1; /* slots start with tok 0: no thread's */

static long membarrier_cmd(int cmd)
{
#ifdef SYS_membarrier
    return syscall(SYS_membarrier, cmd, 0, 0);
#else
    (void)cmd;
    errno = ENOSYS;
    return -1;
#endif
}

static void index_release(void *unused)
{
    (void)unused;
    unsigned i = mg_me.index;
    mg_me.index = MG_STOCK_OWNED + 1; /* a charge after this (another key's destructor) uses the shared slot */
    if (i >= 1 && i <= MG_STOCK_OWNED) {
        pthread_mutex_lock(&index_lock);
        index_taken[i - 1] = false;
        pthread_mutex_unlock(&index_lock);
    }
}

/* In a child of fork() only the forking thread lives on: the other threads' indices are free again (a slot left
 * marked busy by a thread caught inside its update is recognised by its free index, drain_take). index_lock itself
 * is held across fork() and re-initialised in the child (internal/atfork.h). */
static mg_fork_lock index_fork;

static void stock_after_fork(void *unused)
{
    (void)unused;
    for (unsigned k = 0; k < MG_STOCK_OWNED; k++)
        index_taken[k] = mg_me.index == k + 1;
}

static void stock_init(void)
{
    mg_fork_lock_add(&index_fork, &index_lock, MG_FORK_RANK_LEAF, stock_after_fork, NULL);
    if (pthread_key_create(&index_key, index_release) != 0)
        index_key = 0; /* then pthread_setspecific fails and every thread shares the last slot */
#if defined(MG_TSAN)
    mg_stock_plain_ok = false;
#else
    const char *force = getenv("MG_STOCK_FORCE_LOCKED");
    if (force != NULL && *force != '\0' && *force != '0') {
        mg_stock_plain_ok = false;
        return;
    }
    long cmds = membarrier_cmd(MEMBARRIER_CMD_QUERY);
    mg_stock_plain_ok = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                        membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#endif
}

bool mg_stock_plain(void)
{
    pthread_once(&stock_once, stock_init);
    return mg_stock_plain_ok;
}

void mg_stock_retoken(void)
{
    mg_me.tok = atomic_fetch_add_explicit(&next_tok, 1, memory_order_relaxed);
}

unsigned mg_stock_take_index(void)
{
    pthread_once(&stock_once, stock_init);
    unsigned i = MG_STOCK_OWNED + 1;
    pthread_mutex_lock(&index_lock);
    for (unsigned k = 0; k < MG_STOCK_OWNED; k++)
        if (!index_taken[k]) {
            index_taken[k] = true;
            i = k + 1;
            break;
        }
    pthread_mutex_unlock(&index_lock);
    if (i <= MG_STOCK_OWNED && pthread_setspecific(index_key, &index_key) != 0) {
        pthread_mutex_lock(&index_lock);
        index_taken[i - 1] = false;
        pthread_mutex_unlock(&index_lock);
        i = MG_STOCK_OWNED + 1;
    }
    mg_stock_retoken();
    mg_me.index = i;
    return i;
}

/* ---- the drainer's half of the handshake ------------------------------------------------------------------ */

/* After drain_mark() on the slots and one drain_fence(), drain_take() waits for each owner to leave, empties and
 * closes the slot and lets the owner back. */
static void drain_mark(mg_stock *s)
{
    atomic_fetch_add_explicit(&s->drain, 1, memory_order_seq_cst);
}

static void drain_fence(void)
{
    pthread_once(&stock_once, stock_init); /* a drainer may not have charged anything yet */
    /* Orders the caller's earlier update of a level's use before its reads of the slots (a refill that opened a
     * slot meanwhile rechecks the levels after a fence of its own: commit_refill). */
    atomic_thread_fence(memory_order_seq_cst);
    if (!mg_stock_plain_ok)
        return;
    /* Registered at start-up, so it cannot fail for lack of registration; retry anything transient. */
    while (membarrier_cmd(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
        if (errno == EPERM) /* registration lost (it survives fork on Linux 6; should a kernel drop it) */
            membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
        sched_yield();
    }
}

/* Empties and closes the slot with a compare-and-swap; returns how many bytes it held. Only with the slot marked
 * and fenced (drain_take), or by its owner. */
static uint64_t slot_close(mg_stock *s)
{
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    while (w != 0 && !atomic_compare_exchange_weak_explicit(&s->word, &w, 0, memory_order_relaxed,
                                                            memory_order_relaxed))
        ;
    return mg_stock_bytes(w);
}

/* True while some thread holds slot index k. */
static bool index_held(unsigned k)
{
    pthread_mutex_lock(&index_lock);
    bool held = index_taken[k];
    pthread_mutex_unlock(&index_lock);
    return held;
}

/* `k`: the slot's index in its budget. */
static uint64_t drain_take(mg_stock *s, unsigned k)
{
    for (unsigned spins = 0; atomic_load_explicit(&s->busy, memory_order_acquire) != 0; spins++) {
        if (spins < 64)
            continue;
        if (k < MG_STOCK_OWNED && !index_held(k)) {
            /* No thread holds the index, so none is inside an update: a stale mark from a thread that did not
             * survive a fork. A thread taking the index from now on sees the drain mark (the membarrier came
             * first) and keeps to compare-and-swap. */
            atomic_store_explicit(&s->busy, 0, memory_order_relaxed);
            break;
        }
        sched_yield(); /* the owner may be preempted inside its few instructions */
    }
    uint64_t got = slot_close(s);
    atomic_fetch_sub_explicit(&s->drain, 1, memory_order_release);
    return got;
}

/* Opens the caller's slot with `bytes` more in it, and up to `cap` bytes of room for frees. */
static void slot_refill(mg_stock *s, uint64_t bytes, uint64_t cap)
{
    uint64_t w;
    atomic_store_explicit(&s->cap, cap, memory_order_relaxed);
    if (mg_owner_enter(s)) {
        w = atomic_load_explicit(&s->word, memory_order_relaxed);
        atomic_store_explicit(&s->word, (w + bytes) | MG_STOCK_OPEN, memory_order_relaxed);
        mg_owner_leave(s);
        return;
    }
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->word, &w, (w + bytes) | MG_STOCK_OPEN, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

uint64_t mg_stock_count_allocs(mg_stock *s)
{
    return atomic_load(&s->n_alloc);
}

uint64_t mg_stock_count_frees(mg_stock *s)
{
    return atomic_load(&s->n_free);
}

/* ---- stocks of a subtree ----------------------------------------------------------------------------------- */

static uint64_t own_stock(memgov_budget *b)
{
    uint64_t sum = 0;
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        sum += mg_stock_bytes(atomic_load_explicit(&b->stock[i].word, memory_order_relaxed));
    return sum;
}

static uint64_t subtree_stock(memgov_budget *b)
{
    uint64_t sum = own_stock(b);
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling)
        sum += subtree_stock(c);
    return sum;
}

uint64_t mg_budget_live_locked(memgov_budget *b)
{
    uint64_t used = atomic_load(&b->used);
    uint64_t stocked = subtree_stock(b);
    return used > stocked ? used - stocked : 0;
}

uint64_t mg_budget_live(memgov_budget *b)
{
    pthread_mutex_lock(&b->tree->lock);
    uint64_t live = mg_budget_live_locked(b);
    pthread_mutex_unlock(&b->tree->lock);
    return live;
}

/* ---- the shared counters --------------------------------------------------------------------------------- */

/* The level from b up whose hard limit refuses `bytes` on top of its use now, or NULL. */
static memgov_budget *limit_refuser(memgov_budget *b, uint64_t bytes)
{
    for (memgov_budget *x = b; x != NULL; x = x->parent) {
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
    for (memgov_budget *x = b; x != NULL; x = x->parent) {
        uint64_t old = atomic_load_explicit(&x->used, memory_order_relaxed);
        for (;;) {
            uint64_t hard = atomic_load_explicit(&x->hard, memory_order_relaxed);
            if (old > hard || bytes > hard - old) { /* with no limit (hard 2^64 - 1): the sum would overflow */
                mg_charge_rollback(c);
                c->levels = 0;
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
static void credit_levels(memgov_budget *b, uint64_t bytes, memgov_budget *origin, mg_pending *p)
{
    for (memgov_budget *x = b; x != NULL; x = x->parent) {
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
    credit_levels(b, bytes, origin, NULL);
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
    for (unsigned i = 0; i < c->levels; i++, x = x->parent)
        atomic_fetch_sub_explicit(&x->used, c->charged, memory_order_relaxed);
}

static bool all_levels_within(memgov_budget *b);

/* A charge took level `top` (and maybe levels below it) over a soft limit not yet announced: the stocks below
 * `top` are drained and closed first (bytes in stocks are not in use, and no free may hide in a stock while a
 * level is over), then each level from the charged budget up to `top` still over its soft limit is announced. */
static void soft_crossed(const mg_charge *c, memgov_budget *top)
{
    mg_drain_subtree(top);
    for (memgov_budget *x = c->budget;; x = x->parent) {
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
    for (unsigned i = 0; i < c->levels; i++, x = x->parent) {
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
        slot_refill(c->slot, c->extra, atomic_load_explicit(&c->budget->tree->charge_batch, memory_order_relaxed));
        atomic_thread_fence(memory_order_seq_cst);
        if (!all_levels_within(c->budget)) {
            /* Under the lock, as a drain: no reader sees the bytes gone from the slot and still in the levels. */
            mg_tree *tree = c->budget->tree;
            mg_pending p = {0};
            pthread_mutex_lock(&tree->lock);
            uint64_t back = slot_close(c->slot);
            if (back > 0)
                credit_levels(c->budget, back, c->budget, &p);
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

/* How much a refill may add on top of `bytes`: the headroom every level keeps below its soft and hard limits,
 * at most the governor's charge_batch. */
static uint64_t refill_room(memgov_budget *b, uint64_t bytes)
{
    uint64_t room = atomic_load_explicit(&b->tree->charge_batch, memory_order_relaxed);
    for (memgov_budget *x = b; x != NULL && room > 0; x = x->parent) {
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
    for (memgov_budget *x = b; x != NULL; x = x->parent) {
        uint64_t used = atomic_load_explicit(&x->used, memory_order_relaxed);
        uint64_t hard = atomic_load_explicit(&x->hard, memory_order_relaxed);
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (used > hard || used > soft)
            return false;
    }
    return true;
}

void mg_drain_own_locked(memgov_budget *b, mg_pending *p)
{
    uint64_t sum = 0;
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        drain_mark(&b->stock[i]);
    drain_fence();
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        sum += drain_take(&b->stock[i], (unsigned)i);
    if (sum == 0)
        return;
    /* b itself is going away: no event of its own; its ancestors' are queued. */
    atomic_fetch_sub_explicit(&b->used, sum, memory_order_relaxed);
    if (b->parent != NULL)
        credit_levels(b->parent, sum, b->parent, p);
}

static void mark_stocks(memgov_budget *b)
{
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        drain_mark(&b->stock[i]);
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling)
        mark_stocks(c);
}

/* With every slot of the subtree marked and fenced: takes them all (and unmarks them) and credits the levels. */
static void take_stocks(memgov_budget *b, mg_pending *p)
{
    uint64_t sum = 0;
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        sum += drain_take(&b->stock[i], (unsigned)i);
    if (sum > 0)
        credit_levels(b, sum, b, p);
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling)
        take_stocks(c, p);
}

/* The slots are emptied and the levels credited under the lock, so that a reader holding it (statistics, a
 * destroy's check, a refused thread's own drain before its second look) sees either neither or both. */
void mg_drain_subtree(memgov_budget *b)
{
    mg_tree *tree = b->tree;
    mg_pending p = {0};
    pthread_mutex_lock(&tree->lock);
    mark_stocks(b);
    drain_fence();
    take_stocks(b, &p);
    pthread_mutex_unlock(&tree->lock);
    mg_pending_flush(tree, &p);
}

/* Credits `bytes`, to this thread's stock when it is open and has room; `is_free`: counted as a free. */
static inline void credit(memgov_budget *b, uint64_t bytes, bool is_free)
{
    mg_stock *s = mg_my_slot(b);
    if (is_free)
        mg_slot_count(&s->n_free, 1);
    if (bytes <= MG_STOCK_MAX_CHARGE && mg_slot_put(s, bytes))
        return;
    uncharge_levels(b, bytes, b);
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
        uint64_t extra = refill_room(b, bytes);
        if (extra > 0 && try_charge(b, bytes + extra, c, &overflow) == NULL) {
            c->slot = s;
            c->extra = extra;
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
