/* Charging and crediting a budget chain: per-thread stocks for small charges, the shared counters for the rest, the
 * refusal path (drain the stocks, reclaim, one retry, message) and event delivery. */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "budget/budget_internal.h"
#include "internal/error.h"

static uint64_t limit_out(uint64_t v)
{
    return v == MG_NO_LIMIT ? 0 : v;
}

/* Slot ownership. A thread takes one of the MG_STOCK_OWNED slot indices at its first charge and keeps it until
 * it exits (then the index, with whatever its slots hold in each budget, passes to the next thread that takes
 * it); threads beyond MG_STOCK_OWNED share the last slot. The owner of a slot updates its word with a plain
 * atomic load and store (no locked instruction); the only other writers are drainers (a refusal, a limit change,
 * a destroy), and they synchronise with the owner by an asymmetric handshake:
 *   owner:   busy = 1; compiler fence; if drain == 0 { load word; store word }; busy = 0
 *   drainer: drain++; membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED); wait until busy == 0; empty the word with a
 *            compare-and-swap; drain--
 * membarrier runs a full memory barrier on every running thread of the process (a descheduled one passes one
 * when it is switched back in), so after it either the owner's busy = 1 is visible to the drainer, which waits,
 * or the owner's next load of `drain` sees the drainer's increment and the owner takes the compare-and-swap path.
 * Where membarrier cannot be used (no kernel support, a seccomp filter, MG_STOCK_FORCE_LOCKED set in the
 * environment, a ThreadSanitizer build: TSan does not model membarrier and would report the plain updates as
 * races) every slot update is a compare-and-swap, as for the shared slot. */
#if defined(__SANITIZE_THREAD__)
#  define MG_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define MG_TSAN 1
#  endif
#endif

/* The fast path's helpers, inlined into it (gcc otherwise calls slot_put, used from several places). */
#define MG_HOT __attribute__((always_inline))

static bool plain_ok; /* membarrier registered: owners may update their slots without a locked instruction */
static pthread_once_t stock_once = PTHREAD_ONCE_INIT;
static pthread_key_t index_key;
static pthread_mutex_t index_lock = PTHREAD_MUTEX_INITIALIZER;
static bool index_taken[MG_STOCK_OWNED];
static _Thread_local unsigned my_index; /* 0: none yet; 1..MG_STOCK_OWNED: owned index + 1; else the shared one */

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
    unsigned i = my_index;
    my_index = MG_STOCK_OWNED + 1; /* a charge after this (another key's destructor) uses the shared slot */
    if (i >= 1 && i <= MG_STOCK_OWNED) {
        pthread_mutex_lock(&index_lock);
        index_taken[i - 1] = false;
        pthread_mutex_unlock(&index_lock);
    }
}

/* In a child of fork() only the forking thread lives on: the other threads' indices are free again (a slot left
 * marked busy by a thread caught inside its update is recognised by its free index, drain_take). */
static void stock_after_fork(void)
{
    pthread_mutex_init(&index_lock, NULL);
    for (unsigned k = 0; k < MG_STOCK_OWNED; k++)
        index_taken[k] = my_index == k + 1;
}

static void stock_init(void)
{
    pthread_atfork(NULL, NULL, stock_after_fork);
    if (pthread_key_create(&index_key, index_release) != 0)
        index_key = 0; /* then pthread_setspecific fails and every thread shares the last slot */
#if defined(MG_TSAN)
    plain_ok = false;
#else
    const char *force = getenv("MG_STOCK_FORCE_LOCKED");
    if (force != NULL && *force != '\0' && *force != '0') {
        plain_ok = false;
        return;
    }
    long cmds = membarrier_cmd(MEMBARRIER_CMD_QUERY);
    plain_ok = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
               membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#endif
}

bool mg_stock_plain(void)
{
    pthread_once(&stock_once, stock_init);
    return plain_ok;
}

static unsigned take_index(void)
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
    my_index = i;
    return i;
}

MG_HOT static inline mg_stock *my_slot(memgov_budget *b)
{
    unsigned i = my_index;
    if (__builtin_expect(i == 0, 0))
        i = take_index();
    return &b->stock[i <= MG_STOCK_OWNED ? i - 1 : MG_STOCK_OWNED];
}

/* True when the calling thread may update its own slot (the one my_slot() gave) without a locked instruction:
 * then it has entered the slot (busy = 1) and must call owner_leave(). */
MG_HOT static inline bool owner_enter(mg_stock *s)
{
    if (!plain_ok || my_index > MG_STOCK_OWNED)
        return false;
    atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* the drainer's membarrier orders the store before the load */
    if (__builtin_expect(atomic_load_explicit(&s->drain, memory_order_acquire) == 0, 1))
        return true;
    atomic_store_explicit(&s->busy, 0, memory_order_release);
    return false;
}

MG_HOT static inline void owner_leave(mg_stock *s)
{
    atomic_store_explicit(&s->busy, 0, memory_order_release);
}

/* ---- a slot's word: bytes and counts in one atomic step (budget_internal.h) ------------------------------ */

/* The 64-bit counter that takes the spills of the count field at bit `at` (MG_STOCK_ALLOCS_AT or
 * MG_STOCK_FREES_AT). */
static _Atomic uint64_t *counter_of(mg_stock *s, unsigned at)
{
    return at == MG_STOCK_ALLOCS_AT ? &s->n_alloc : &s->n_free;
}

/* `w` with one more operation in the count field at bit `at` (0: none); *spill set when the field reached
 * MG_STOCK_SPILL and was cleared instead, for the caller to add MG_STOCK_SPILL to the field's counter once the
 * word is stored. */
MG_HOT static inline uint64_t count_one(uint64_t w, unsigned at, bool *spill)
{
    if (at == 0)
        return w;
    uint64_t field = (w >> at) & 0xffff;
    *spill = field + 1 == MG_STOCK_SPILL;
    return *spill ? w - (field << at) : w + ((uint64_t)1 << at);
}

static inline void settle(mg_stock *s, unsigned at, bool spill)
{
    if (spill)
        atomic_fetch_add_explicit(counter_of(s, at), MG_STOCK_SPILL, memory_order_relaxed);
}

/* Takes `bytes` out of the slot if it holds that many, counting one operation in the field at bit `at` (0:
 * none). */
MG_HOT static inline bool slot_take(mg_stock *s, uint64_t bytes, unsigned at)
{
    uint64_t w;
    bool spill = false;
    if (owner_enter(s)) {
        w = atomic_load_explicit(&s->word, memory_order_relaxed);
        bool ok = mg_stock_bytes(w) >= bytes;
        if (ok)
            atomic_store_explicit(&s->word, count_one(w - bytes, at, &spill), memory_order_relaxed);
        owner_leave(s);
        settle(s, at, spill);
        return ok;
    }
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    do {
        if (mg_stock_bytes(w) < bytes)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->word, &w, count_one(w - bytes, at, &spill),
                                                    memory_order_relaxed, memory_order_relaxed));
    settle(s, at, spill);
    return true;
}

/* Puts `bytes` (at most `limit`) into the slot if it then holds at most `limit`, counting one operation in the
 * field at bit `at` (0: none). */
MG_HOT static inline bool slot_put(mg_stock *s, uint64_t bytes, uint64_t limit, unsigned at)
{
    uint64_t w;
    bool spill = false;
    if (owner_enter(s)) {
        w = atomic_load_explicit(&s->word, memory_order_relaxed);
        bool ok = mg_stock_bytes(w) <= limit - bytes;
        if (ok)
            atomic_store_explicit(&s->word, count_one(w + bytes, at, &spill), memory_order_relaxed);
        owner_leave(s);
        settle(s, at, spill);
        return ok;
    }
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    do {
        if (mg_stock_bytes(w) > limit - bytes)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->word, &w, count_one(w + bytes, at, &spill),
                                                    memory_order_relaxed, memory_order_relaxed));
    settle(s, at, spill);
    return true;
}

/* The drainer's half of the handshake: after drain_mark() on the slots and one drain_fence(), drain_take() waits
 * for the owner to leave, empties the slot and lets the owner back. */
static void drain_mark(mg_stock *s)
{
    atomic_fetch_add_explicit(&s->drain, 1, memory_order_seq_cst);
}

static void drain_fence(void)
{
    pthread_once(&stock_once, stock_init); /* a drainer may not have charged anything yet */
    if (!plain_ok)
        return;
    /* Registered at start-up, so it cannot fail for lack of registration; retry anything transient. */
    while (membarrier_cmd(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
        if (errno == EPERM) /* registration lost (it survives fork on Linux 6; should a kernel drop it) */
            membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
        sched_yield();
    }
}

static uint64_t slot_empty(mg_stock *s);

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
    uint64_t got = slot_empty(s);
    atomic_fetch_sub_explicit(&s->drain, 1, memory_order_release);
    return got;
}

/* Empties the slot of bytes (its counts stay) with a compare-and-swap; returns how many it held. Only with the
 * slot marked and fenced (drain_take), or when no owner can be using it. */
static uint64_t slot_empty(mg_stock *s)
{
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    while (mg_stock_bytes(w) > 0 &&
           !atomic_compare_exchange_weak_explicit(&s->word, &w, w - mg_stock_bytes(w), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    return mg_stock_bytes(w);
}

uint64_t mg_stock_count_allocs(mg_stock *s)
{
    return atomic_load(&s->n_alloc) + mg_stock_allocs(atomic_load(&s->word));
}

uint64_t mg_stock_count_frees(mg_stock *s)
{
    return atomic_load(&s->n_free) + mg_stock_frees(atomic_load(&s->word));
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
    pthread_mutex_lock(&b->gov->lock);
    uint64_t live = mg_budget_live_locked(b);
    pthread_mutex_unlock(&b->gov->lock);
    return live;
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

static void announce(memgov_event_kind kind, memgov_budget *b, memgov_budget *origin, uint64_t request)
{
    memgov_event ev = {
        .struct_size = sizeof ev,
        .kind = kind,
        .budget = b,
        .origin = origin,
        .used = mg_budget_live(b),
        .peak = atomic_load(&b->peak),
        .hard_limit = limit_out(atomic_load(&b->hard)),
        .soft_limit = limit_out(atomic_load(&b->soft)),
        .request = request,
    };
    deliver(&ev);
}

void mg_budget_announce_limits(memgov_budget *b)
{
    announce(MEMGOV_EVENT_LIMIT_CHANGED, b, b, 0);
}

/* ---- the shared counters --------------------------------------------------------------------------------- */

/* Charges `bytes` to every level from b up, or to none. Returns NULL on success, else the refusing level
 * (*overflow set when the refusal is a 64-bit overflow rather than a limit). */
static memgov_budget *try_charge(memgov_budget *b, uint64_t bytes, mg_charge *c, bool *overflow)
{
    c->charged = bytes;
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
                c->levels = 0;
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

/* Credits the shared counters of every level from b up (soft-limit events). */
static void uncharge_levels(memgov_budget *b, uint64_t bytes, memgov_budget *origin)
{
    for (memgov_budget *x = b; x != NULL; x = x->parent) {
        uint64_t before = atomic_fetch_sub_explicit(&x->used, bytes, memory_order_relaxed);
        uint64_t soft = atomic_load_explicit(&x->soft, memory_order_relaxed);
        if (before > soft && before - bytes <= soft)
            announce(MEMGOV_EVENT_SOFT_CLEARED, x, origin, bytes);
    }
}

void mg_charge_rollback(const mg_charge *c)
{
    if (c->levels == 0) {
        if (c->slot != NULL) {
            if (!slot_put(c->slot, c->bytes, MG_STOCK_BYTES_MAX, 0))
                uncharge_levels(c->budget, c->bytes, c->budget);
            if (c->allocation)
                atomic_fetch_sub_explicit(&c->slot->n_alloc, 1, memory_order_relaxed);
        }
        return;
    }
    memgov_budget *x = c->budget;
    for (unsigned i = 0; i < c->levels; i++, x = x->parent)
        atomic_fetch_sub_explicit(&x->used, c->charged, memory_order_relaxed);
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
        if (after > soft && after - c->charged <= soft)
            announce(MEMGOV_EVENT_SOFT_CROSSED, x, c->budget, c->bytes);
    }
    if (c->levels == 0) /* served by a stock, counted there */
        return;
    if (c->extra > 0 && slot_put(c->slot, c->extra, MG_STOCK_BYTES_MAX, c->allocation ? MG_STOCK_ALLOCS_AT : 0))
        return;
    if (c->extra > 0)
        uncharge_levels(c->budget, c->extra, c->budget);
    if (c->allocation)
        atomic_fetch_add_explicit(&(c->slot != NULL ? c->slot : my_slot(c->budget))->n_alloc, 1,
                                  memory_order_relaxed);
}

/* ---- stocks ---------------------------------------------------------------------------------------------- */

/* How much a refill may add on top of `bytes`: the headroom every level keeps below its soft and hard limits,
 * at most MG_STOCK_BATCH. */
static uint64_t refill_room(memgov_budget *b, uint64_t bytes)
{
    uint64_t room = MG_STOCK_BATCH;
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
MG_HOT static inline bool all_levels_within(memgov_budget *b)
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

void mg_drain_own(memgov_budget *b)
{
    uint64_t sum = 0;
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        drain_mark(&b->stock[i]);
    drain_fence();
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        sum += drain_take(&b->stock[i], (unsigned)i);
    if (sum > 0)
        uncharge_levels(b, sum, b);
}

typedef struct drained {
    memgov_budget *budget;
    uint64_t bytes;
} drained;

static void mark_stocks(memgov_budget *b)
{
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        drain_mark(&b->stock[i]);
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling)
        mark_stocks(c);
}

/* With every slot of the subtree marked and fenced: takes them all (and unmarks them). */
static void take_stocks(memgov_budget *b, drained **list, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 8;
        drained *grown = realloc(*list, grown_cap * sizeof *grown);
        if (grown != NULL) {
            *list = grown;
            *cap = grown_cap;
        }
    }
    uint64_t sum = 0;
    for (int i = 0; i < MG_STOCK_SLOTS; i++) {
        if (*n < *cap)
            sum += drain_take(&b->stock[i], (unsigned)i);
        else /* no memory for the list: this budget's stocks stay; the rest is still drained */
            atomic_fetch_sub_explicit(&b->stock[i].drain, 1, memory_order_release);
    }
    if (sum > 0)
        (*list)[(*n)++] = (drained){b, sum};
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling)
        take_stocks(c, list, n, cap);
}

void mg_drain_subtree(memgov_budget *b)
{
    drained *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&b->gov->lock);
    mark_stocks(b);
    drain_fence();
    take_stocks(b, &list, &n, &cap);
    pthread_mutex_unlock(&b->gov->lock);
    for (size_t i = 0; i < n; i++)
        uncharge_levels(list[i].budget, list[i].bytes, list[i].budget);
    free(list);
}

/* Credits `bytes`, to this thread.s stock when it has room, counting one operation in the field at bit `at` (0:
 * none). */
MG_HOT static inline void credit(memgov_budget *b, uint64_t bytes, unsigned at)
{
    mg_stock *s = my_slot(b);
    if (bytes <= MG_STOCK_MAX_CHARGE && all_levels_within(b) && slot_put(s, bytes, MG_STOCK_BATCH, at))
        return;
    if (at != 0)
        atomic_fetch_add_explicit(counter_of(s, at), 1, memory_order_relaxed);
    uncharge_levels(b, bytes, b);
}

void mg_uncharge(memgov_budget *b, uint64_t bytes)
{
    credit(b, bytes, 0);
}

void mg_uncharge_free(memgov_budget *b, uint64_t bytes)
{
    credit(b, bytes, MG_STOCK_FREES_AT);
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
 * answers add up to `needed`. */
static void reclaim(memgov_budget *refusing, uint64_t needed)
{
    memgov *gov = refusing->gov;
    pthread_mutex_lock(&gov->lock);
    size_t n = collect(refusing, NULL, 0, 0);
    reclaim_call *calls = n > 0 ? malloc(n * sizeof *calls) : NULL;
    if (calls != NULL)
        collect(refusing, calls, 0, n);
    pthread_mutex_unlock(&gov->lock);
    if (calls == NULL)
        return;
    qsort(calls, n, sizeof *calls, by_priority);
    uint64_t freed = 0;
    for (size_t i = 0; i < n && freed < needed; i++) {
        atomic_fetch_add_explicit(&calls[i].owner->n_reclaim, 1, memory_order_relaxed);
        uint64_t got = calls[i].e.fn(refusing, needed, calls[i].e.user);
        freed = got > UINT64_MAX - freed ? UINT64_MAX : freed + got;
    }
    free(calls);
}

static memgov_status refuse(memgov_budget *b, memgov_budget *r, uint64_t bytes)
{
    atomic_fetch_add_explicit(&r->n_refusal, 1, memory_order_relaxed);
    uint64_t used = mg_budget_live(r), peak = atomic_load(&r->peak), hard = atomic_load(&r->hard);
    char req[24], u[24], p[24], h[24];
    memgov_format_bytes(bytes, req, sizeof req);
    memgov_format_bytes(used, u, sizeof u);
    memgov_format_bytes(peak, p, sizeof p);
    memgov_format_bytes(hard, h, sizeof h);
    announce(MEMGOV_EVENT_HARD_REFUSAL, r, b, bytes);
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
        mg_stock *s = my_slot(b);
        if (slot_take(s, bytes, allocation ? MG_STOCK_ALLOCS_AT : 0)) {
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
    reclaim(r, needed);
    if ((r = try_charge(b, bytes, c, &overflow)) == NULL)
        return MEMGOV_OK;
    if (overflow)
        return overflowed(r, bytes);
    return refuse(b, r, bytes);
}
