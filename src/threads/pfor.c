/* memgov_parallel_for: loops on a lease's threads, run by the calling thread and helpers of one process-wide pool
 * of parked threads (memgov/threads.h, docs/threads.md).
 *
 * A loop posts W - 1 helper slots; idle pool threads claim them (more threads are started when too few are
 * idle); the caller runs slot 0 and then any slot nobody claimed yet, and waits for the claimed ones. So a loop
 * finishes even when no helper ever shows up (a failed pthread_create, a child of fork). The pool holds threads,
 * not permissions: how many run at once is decided by the leases (mg_threads_loop_begin), so the pool never grows
 * past the most helpers the leases let run at the same time. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "internal/atfork.h"
#include "internal/error.h"
#include "threads/threads_internal.h"

typedef struct loop {
    memgov_parallel_fn fn;
    void *ctx;
    uint64_t n, grain;
    bool is_static;
    unsigned workers;
    memgov_threads_lease *lease;
    _Atomic uint64_t next;  /* dynamic: the next item to hand out */
    _Atomic int stopped;    /* a chunk failed: start no new one */
    _Atomic int status;     /* the first failure's status (MEMGOV_OK until one) */
    char message[MG_ERROR_MAX];
    /* under the pool's lock */
    unsigned next_slot;     /* the next helper slot to claim, 1..workers-1 */
    unsigned running;       /* claimed slots not finished */
    struct loop *queue_next;
} loop;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a loop was posted */
    pthread_cond_t done; /* a slot finished */
    mg_fork_lock fork;
    loop *queue;         /* loops with unclaimed slots */
    unsigned threads, idle;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_after_fork(void *arg)
{
    (void)arg;
    /* the helpers were other threads; loops in flight were theirs or the forking thread's (which is in fork()) */
    pthread_cond_init(&pool.work, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.queue = NULL;
    pool.threads = pool.idle = 0;
}

static void pool_register(void)
{
    mg_fork_lock_add(&pool.fork, &pool.lock, MG_FORK_RANK_LEAF, pool_after_fork, NULL);
}

/* Records the first failure and stops the loop. */
static void fail(loop *lp, memgov_status st, uint64_t b, uint64_t e, unsigned worker)
{
    int ok = MEMGOV_OK;
    const char *last = memgov_last_error();
    if (atomic_compare_exchange_strong(&lp->status, &ok, (int)st))
        snprintf(lp->message, sizeof lp->message, "memgov_parallel_for: items [%llu, %llu) on worker %u returned %s%s%s%s",
                 (unsigned long long)b, (unsigned long long)e, worker, memgov_status_name(st),
                 last[0] != '\0' ? " (that thread's last error: " : "", last, last[0] != '\0' ? ")" : "");
    atomic_store(&lp->stopped, 1);
}

/* Runs one worker's share of the loop on this thread, with the lease current. */
static void run_slot(loop *lp, unsigned w)
{
    mg_threads_current saved;
    mg_threads_current_set(lp->lease, &saved);
    if (lp->is_static) {
        uint64_t chunks = lp->grain == 0 ? lp->workers : (lp->n + lp->grain - 1) / lp->grain;
        for (uint64_t c = w; c < chunks && !atomic_load_explicit(&lp->stopped, memory_order_relaxed); c += lp->workers) {
            uint64_t b = lp->grain == 0 ? lp->n / lp->workers * c + (c < lp->n % lp->workers ? c : lp->n % lp->workers)
                                        : c * lp->grain;
            uint64_t e = lp->grain == 0 ? b + lp->n / lp->workers + (c < lp->n % lp->workers)
                                        : (b + lp->grain < lp->n ? b + lp->grain : lp->n);
            memgov_status st = e > b ? lp->fn(b, e, w, lp->ctx) : MEMGOV_OK;
            if (st != MEMGOV_OK)
                fail(lp, st, b, e, w);
        }
    } else {
        while (!atomic_load_explicit(&lp->stopped, memory_order_relaxed)) {
            uint64_t b = atomic_fetch_add_explicit(&lp->next, lp->grain, memory_order_relaxed);
            if (b >= lp->n)
                break;
            uint64_t e = lp->n - b > lp->grain ? b + lp->grain : lp->n;
            memgov_status st = lp->fn(b, e, w, lp->ctx);
            if (st != MEMGOV_OK)
                fail(lp, st, b, e, w);
        }
    }
    mg_threads_current_restore(&saved);
}

/* Claims the next helper slot of lp (the pool's lock held); dequeues lp when it was the last. */
static unsigned claim_slot(loop *lp)
{
    unsigned s = lp->next_slot++;
    lp->running++;
    if (lp->next_slot == lp->workers) {
        loop **p = &pool.queue;
        while (*p != lp)
            p = &(*p)->queue_next;
        *p = lp->queue_next;
    }
    return s;
}

static void *helper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.queue == NULL) {
            pool.idle++;
            pthread_cond_wait(&pool.work, &pool.lock);
            pool.idle--;
        }
        loop *lp = pool.queue;
        unsigned s = claim_slot(lp);
        pthread_mutex_unlock(&pool.lock);
        run_slot(lp, s);
        pthread_mutex_lock(&pool.lock);
        lp->running--;
        if (lp->running == 0)
            pthread_cond_broadcast(&pool.done);
    }
    return NULL;
}

/* Posts lp's helper slots and starts threads if too few are idle (the pool's lock held). */
static void post(loop *lp)
{
    lp->queue_next = NULL;
    loop **p = &pool.queue;
    while (*p != NULL)
        p = &(*p)->queue_next;
    *p = lp;
    unsigned wanted = lp->workers - 1;
    for (unsigned waiting = pool.idle; waiting < wanted && pool.threads < MEMGOV_THREADS_MAX_WANT; waiting++) {
        pthread_attr_t a;
        pthread_t th;
        if (pthread_attr_init(&a) != 0)
            break;
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int e = pthread_create(&th, &a, helper, NULL);
        pthread_attr_destroy(&a);
        if (e != 0)
            break; /* the caller runs the slots nobody claims */
        pool.threads++;
    }
    if (wanted == 1)
        pthread_cond_signal(&pool.work);
    else
        pthread_cond_broadcast(&pool.work);
}

static memgov_status run(memgov_threads_lease *lease, uint64_t n, uint64_t grain, memgov_parallel_fn fn, void *ctx,
                         bool is_static)
{
    if (fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_parallel_for: fn is NULL");
    uint64_t chunks = grain == 0 ? n : n / grain + (n % grain != 0);
    unsigned workers = 1;
    if (lease != NULL) {
        memgov_status st = mg_threads_loop_begin(lease, chunks, &workers);
        if (st != MEMGOV_OK)
            return st;
    }
    if (n == 0) {
        if (lease != NULL)
            mg_threads_loop_end(lease, workers);
        return MEMGOV_OK;
    }
    if (!is_static && grain == 0) {
        grain = n / (8ull * workers);
        if (grain == 0)
            grain = 1;
    }
    loop lp = {.fn = fn, .ctx = ctx, .n = n, .grain = grain, .is_static = is_static, .workers = workers,
               .lease = lease, .next_slot = 1};
    atomic_init(&lp.next, 0);
    atomic_init(&lp.stopped, 0);
    atomic_init(&lp.status, MEMGOV_OK);
    if (workers > 1) {
        pthread_once(&pool_once, pool_register);
        pthread_mutex_lock(&pool.lock);
        post(&lp);
        pthread_mutex_unlock(&pool.lock);
    }
    run_slot(&lp, 0);
    if (workers > 1) {
        pthread_mutex_lock(&pool.lock);
        while (lp.next_slot < lp.workers) { /* slots no helper claimed: run them here */
            unsigned s = claim_slot(&lp);
            pthread_mutex_unlock(&pool.lock);
            run_slot(&lp, s);
            pthread_mutex_lock(&pool.lock);
            lp.running--;
        }
        while (lp.running != 0)
            pthread_cond_wait(&pool.done, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
    if (lease != NULL)
        mg_threads_loop_end(lease, workers);
    memgov_status st = (memgov_status)atomic_load(&lp.status);
    return st == MEMGOV_OK ? MEMGOV_OK : mg_fail(st, "%s", lp.message);
}

MEMGOV_API memgov_status memgov_parallel_for(memgov_threads_lease *lease, uint64_t n, uint64_t grain,
                                             memgov_parallel_fn fn, void *ctx)
{
    return run(lease, n, grain, fn, ctx, false);
}

MEMGOV_API memgov_status memgov_parallel_for_static(memgov_threads_lease *lease, uint64_t n, uint64_t grain,
                                                    memgov_parallel_fn fn, void *ctx)
{
    return run(lease, n, grain, fn, ctx, true);
}
