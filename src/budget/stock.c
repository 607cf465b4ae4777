/* The per-thread stocks (stock.h): slot ownership, the drainer's half of the handshake, refills of a slot, the
 * bytes a subtree holds in stocks, and the drains that give them back to the levels. */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "budget/stock.h"

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

/* After mg_drain_mark() on the slots and one mg_drain_fence(), mg_drain_take() waits for each owner to leave,
 * empties and closes the slot and lets the owner back. */
void mg_drain_mark(mg_stock *s)
{
    atomic_fetch_add_explicit(&s->drain, 1, memory_order_seq_cst);
}

void mg_drain_fence(void)
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
uint64_t mg_slot_close(mg_stock *s)
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
uint64_t mg_drain_take(mg_stock *s, unsigned k)
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
    uint64_t got = mg_slot_close(s);
    atomic_fetch_sub_explicit(&s->drain, 1, memory_order_release);
    return got;
}

/* Opens the caller's slot with `bytes` more in it, and up to `cap` bytes of room for frees. */
void mg_slot_refill(mg_stock *s, uint64_t bytes, uint64_t cap)
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
        if (c->up == b) /* not a file-backed budget: its charges, stocks included, stop at itself */
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

void mg_drain_own_locked(memgov_budget *b, mg_pending *p)
{
    uint64_t sum = 0;
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        mg_drain_mark(&b->stock[i]);
    mg_drain_fence();
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        sum += mg_drain_take(&b->stock[i], (unsigned)i);
    if (sum == 0)
        return;
    /* b itself is going away: no event of its own; its ancestors' are queued. */
    atomic_fetch_sub_explicit(&b->used, sum, memory_order_relaxed);
    if (b->up != NULL)
        mg_credit_levels_queued(b->up, sum, b->up, p);
}

static void mark_stocks(memgov_budget *b)
{
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        mg_drain_mark(&b->stock[i]);
    for (memgov_budget *c = b->first_child; c != NULL; c = c->next_sibling)
        mark_stocks(c);
}

/* With every slot of the subtree marked and fenced: takes them all (and unmarks them) and credits the levels. */
static void take_stocks(memgov_budget *b, mg_pending *p)
{
    uint64_t sum = 0;
    for (int i = 0; i < MG_STOCK_SLOTS; i++)
        sum += mg_drain_take(&b->stock[i], (unsigned)i);
    if (sum > 0)
        mg_credit_levels_queued(b, sum, b, p);
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
    mg_drain_fence();
    take_stocks(b, &p);
    pthread_mutex_unlock(&tree->lock);
    mg_pending_flush(tree, &p);
}
