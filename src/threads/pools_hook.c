/* The BLAS and OpenMP pools limited to a lease's count while it is held (MEMGOV_THREADS_LIMIT_POOLS,
 * memgov/threads.h, docs/threads.md): the hook the controller calls at acquire, resize and release
 * (threads_internal.h), outside its lock.
 *
 * Process-wide pools (OpenBLAS with pthreads, BLIS, MKL) have one count for all threads while several leases may
 * be held at once on several threads: each such pool runs at the smallest count among the leases holding it, and
 * goes back to the count it had before the first of them when the last one is released (the registry below, keyed
 * by the pool's getter). Per-thread pools (the OpenMP runtimes, an OpenMP-built OpenBLAS) are set for the thread
 * that acquires the lease and put back by the lease itself, from that thread: a stack of nested leases restores
 * them in turn. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "internal/atfork.h"
#include "internal/grow.h"
#include "threads/pools.h"
#include "threads/threads_internal.h"

/* ---- the registry of process-wide pools held by leases ----------------------------------------------------- */

typedef struct held_pool {
    const void *key;  /* mg_pools_key(): the pool's getter */
    int saved;        /* its count before the first lease */
    unsigned *counts; /* the holding leases' counts, a multiset */
    size_t n, cap;
} held_pool;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_fork_lock registry_fork;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static held_pool *held;
static size_t nheld, held_cap;

static void registry_init(void)
{
    mg_fork_lock_add(&registry_fork, &registry_lock, MG_FORK_RANK_LEAF, NULL, NULL);
}

static unsigned smallest(const held_pool *h)
{
    unsigned least = h->counts[0];
    for (size_t i = 1; i < h->n; i++)
        if (h->counts[i] < least)
            least = h->counts[i];
    return least;
}

static held_pool *lookup_locked(const void *key)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].key == key)
            return &held[i];
    return NULL;
}

/* Adds a lease of `count` to pool i's holders and sets the pool to the smallest count. False (nothing changed)
 * when memory ran out or the pool's count now cannot be saved. */
static bool hold(const memgov_pools *pools, size_t i, unsigned count)
{
    bool ok = false;
    pthread_mutex_lock(&registry_lock);
    held_pool *h = lookup_locked(mg_pools_key(pools, i));
    if (h == NULL) {
        int64_t now = mg_pools_read(pools, i);
        held_pool *grown = mg_pools_restorable(pools, i, now) ?
                           mg_grow(held, &held_cap, nheld, sizeof *held, 4) : NULL;
        if (grown != NULL) {
            held = grown;
            h = &held[nheld++];
            *h = (held_pool){.key = mg_pools_key(pools, i), .saved = (int)now};
        }
    }
    if (h != NULL) {
        unsigned *grown = mg_grow(h->counts, &h->cap, h->n, sizeof *h->counts, 4);
        if (grown != NULL) {
            h->counts = grown;
            h->counts[h->n++] = count;
            ok = true;
        }
        if (h->n == 0) { /* just made, and its first count could not be stored */
            *h = held[--nheld];
        } else {
            mg_pools_write(pools, i, (int)smallest(h));
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return ok;
}

/* Replaces one holder's count `from` by `to` (to 0: removes the holder) and sets the pool accordingly: the
 * smallest count left, or the saved count when no holder is left. */
static void rehold(const memgov_pools *pools, size_t i, unsigned from, unsigned to)
{
    pthread_mutex_lock(&registry_lock);
    held_pool *h = lookup_locked(mg_pools_key(pools, i));
    size_t at = 0;
    while (h != NULL && at < h->n && h->counts[at] != from)
        at++;
    if (h != NULL && at < h->n) {
        if (to != 0)
            h->counts[at] = to;
        else
            h->counts[at] = h->counts[--h->n];
        if (h->n > 0) {
            mg_pools_write(pools, i, (int)smallest(h));
        } else {
            mg_pools_write(pools, i, h->saved);
            free(h->counts);
            *h = held[--nheld];
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ---- a lease's pools --------------------------------------------------------------------------------------- */

typedef struct lease_pools {
    memgov_pools *pools;
    unsigned count;   /* the count the lease's pools are set for */
    pthread_t thread; /* the thread whose per-thread pools were set */
    bool *touched;    /* per pool: set by this lease (per-thread) or held in the registry (process-wide) */
    int *saved;       /* per pool: a per-thread pool's count before this lease */
} lease_pools;

static void lease_pools_free(lease_pools *lp)
{
    memgov_pools_destroy(lp->pools);
    free(lp->touched);
    free(lp->saved);
    free(lp);
}

/* The pools found now, limited to count: per-thread ones for the calling thread, process-wide ones through the
 * registry. NULL (nothing limited) when memory ran out. */
static lease_pools *limit_for_lease(unsigned count)
{
    lease_pools *lp = calloc(1, sizeof *lp);
    if (lp == NULL || memgov_pools_find(&lp->pools) != MEMGOV_OK) {
        free(lp);
        return NULL;
    }
    size_t n = memgov_pools_count(lp->pools);
    lp->touched = calloc(n + 1, sizeof *lp->touched);
    lp->saved = calloc(n + 1, sizeof *lp->saved);
    if (lp->touched == NULL || lp->saved == NULL) {
        lease_pools_free(lp);
        return NULL;
    }
    lp->count = count;
    lp->thread = pthread_self();
    pthread_once(&registry_once, registry_init);
    for (size_t i = 0; i < n; i++) {
        uint32_t flags = mg_pools_flags(lp->pools, i);
        if (flags & MEMGOV_POOL_READ_ONLY)
            continue;
        if (flags & MEMGOV_POOL_PER_THREAD) {
            int64_t now = mg_pools_read(lp->pools, i);
            if (!mg_pools_restorable(lp->pools, i, now))
                continue;
            lp->saved[i] = (int)now;
            mg_pools_write(lp->pools, i, (int)count);
            lp->touched[i] = true;
        } else {
            lp->touched[i] = hold(lp->pools, i, count);
        }
    }
    return lp;
}

void mg_threads_pools_apply(memgov_threads_lease *lease, unsigned count, void **state)
{
    (void)lease;
    if (count == 0 || count > MEMGOV_POOLS_MAX_THREADS)
        return;
    lease_pools *lp = *state;
    if (lp == NULL) {
        *state = limit_for_lease(count);
        return;
    }
    bool same_thread = pthread_equal(lp->thread, pthread_self());
    for (size_t i = 0; i < memgov_pools_count(lp->pools); i++) {
        if (!lp->touched[i])
            continue;
        if (mg_pools_flags(lp->pools, i) & MEMGOV_POOL_PER_THREAD) {
            if (same_thread)
                mg_pools_write(lp->pools, i, (int)count);
        } else {
            rehold(lp->pools, i, lp->count, count);
        }
    }
    lp->count = count;
}

void mg_threads_pools_restore(memgov_threads_lease *lease, void **state)
{
    (void)lease;
    lease_pools *lp = *state;
    if (lp == NULL)
        return;
    bool same_thread = pthread_equal(lp->thread, pthread_self());
    for (size_t i = memgov_pools_count(lp->pools); i-- > 0;) {
        if (!lp->touched[i])
            continue;
        if (mg_pools_flags(lp->pools, i) & MEMGOV_POOL_PER_THREAD) {
            if (same_thread) /* another thread's OpenMP count cannot be reached from here */
                mg_pools_write(lp->pools, i, lp->saved[i]);
        } else {
            rehold(lp->pools, i, lp->count, 0);
        }
    }
    lease_pools_free(lp);
    *state = NULL;
}
