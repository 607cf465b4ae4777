/* The thread-budget controller: capacity, leases, targets and their listeners, statistics (memgov/threads.h).
 *
 * One mutex per governor guards everything here (rank MG_FORK_RANK_THREADS: it may take the configuration's and
 * the budget tree's locks, never the other way round). Memory is reserved and released outside it, since a
 * reservation may run reclaim callbacks and listeners that call back into memgov; the threads of a grant are
 * claimed first, under the lock, so the leased sum never passes the capacity while the memory is being looked
 * for. Listeners are called outside the lock, one delivery per lease at a time (the scheme of
 * internal/delivery.h, with one condition variable per controller instead of one per lease: a lease is made and
 * freed on every acquire, and a condition variable's destruction costs more than the rest of the pair). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/atfork.h"
#include "internal/error.h"
#include "internal/idtable.h"
#include "internal/structsize.h"
#include "threads/threads_internal.h"

#define LEASE_MAGIC 0x6c656173u /* "leas" */
#define KNOWN_FLAGS (MEMGOV_THREADS_ALL_OR_NOTHING | MEMGOV_THREADS_TOP_LEVEL | MEMGOV_THREADS_NOT_CURRENT | \
                     MEMGOV_THREADS_LIMIT_POOLS)

typedef struct lease_listener {
    uint64_t id; /* first: internal/idtable.h */
    memgov_threads_target_fn fn;
    void *user;
} lease_listener;

struct memgov_threads_lease {
    uint32_t magic;
    mg_threads *ctl;
    uint64_t id;                        /* never 0, never reused by the controller */
    memgov_threads_lease *parent;       /* the lease this one draws from; NULL for a top-level lease */
    memgov_threads_lease *prev, *next;  /* the controller's list of held leases, in acquisition order */
    memgov_threads_lease *was_current;  /* the thread's current lease before this one (and its id) */
    uint64_t was_current_id;
    unsigned want, count, target, entitled, depth, flags;
    unsigned children; /* nested leases held */
    unsigned lent;     /* threads lent to them: the sum of their counts minus one each */
    unsigned busy;     /* threads of its own parallel_for loops beside the caller (pfor.c) */
    unsigned loops;    /* parallel_for loops running on it */
    bool released, pending, doomed;
    unsigned refs;     /* deliveries that hold it (it is freed by the last one when doomed) */
    uint64_t bpw, reserved, resizes;
    memgov_budget *budget;
    lease_listener listeners[MEMGOV_THREADS_MAX_LISTENERS];
    size_t nlisteners;
    bool delivering;      /* a thread is calling its listeners (under the controller's lock) */
    pthread_t deliverer;  /* that thread */
    bool growing;         /* a resize is reserving memory for more threads, the lock dropped (grow_locked) */
    pthread_t grower;     /* that thread */
    void *pools; /* the pool hook's state (pools_hook.c) */
};

struct mg_threads {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* broadcast when threads are given back or the capacity changes */
    pthread_cond_t delivered; /* broadcast when a lease's delivery or growth ends */
    mg_fork_lock fork;
    memgov_config *config;
    memgov_budget *root;
    char *proc_root;
    uint64_t config_listener, root_listener;
    bool config_listening, root_listening;
    mg_threads_facts facts;
    bool use_smt;
    unsigned threads_max, capacity, leased, peak_leased, waiting, nleases;
    char capacity_why[160];
    memgov_threads_lease *first, *last;
    uint64_t next_lease_id, next_listener_id;
    uint64_t grants, granted_threads, partial_grants, target_changes;
    uint64_t denials[MEMGOV_THREADS_DENIED_COUNT_];
};

/* The calling thread's current lease, checked against the controller's list before it is used (the lease may
 * have been released and freed by another thread since). */
static _Thread_local memgov_threads_lease *current_lease;
static _Thread_local uint64_t current_id;

/* ---- budgets --------------------------------------------------------------------------------------------------- */

/* The least, over b and its ancestors with a hard limit, of limit minus use; negative when a level is over its
 * limit; INT64_MAX when no level has a limit. The stats are read without the arena fields (no jemalloc refresh). */
static int64_t headroom(memgov_budget *b)
{
    int64_t least = INT64_MAX;
    for (; b != NULL; b = memgov_budget_parent(b)) {
        memgov_budget_stats s;
        memset(&s, 0, sizeof s);
        s.struct_size = offsetof(memgov_budget_stats, arena_allocated);
        if (memgov_budget_get_stats(b, &s) != MEMGOV_OK || s.hard_limit == 0)
            continue;
        int64_t room = s.used > s.hard_limit ? -(int64_t)(s.used - s.hard_limit > INT64_MAX ? INT64_MAX : s.used - s.hard_limit)
                                             : (int64_t)(s.hard_limit - s.used > INT64_MAX ? INT64_MAX : s.hard_limit - s.used);
        if (room < least)
            least = room;
    }
    return least;
}

/* Workers whose memory fits: headroom / bpw (bpw 0: unbounded). */
static unsigned memory_fits(memgov_budget *b, uint64_t bpw)
{
    if (bpw == 0)
        return MEMGOV_THREADS_MAX_WANT;
    int64_t room = headroom(b);
    if (room <= 0)
        return 0;
    uint64_t n = (uint64_t)room / bpw;
    return n > MEMGOV_THREADS_MAX_WANT ? MEMGOV_THREADS_MAX_WANT : (unsigned)n;
}

/* ---- the controller -------------------------------------------------------------------------------------------- */

static void notify_and_unlock(mg_threads *t);

/* Reads the keys (outside the lock: the configuration has its own). */
static void read_keys(memgov_config *cfg, bool *use_smt, unsigned *threads_max)
{
    int smt = 1;
    uint64_t max = 0;
    memgov_config_get_bool(cfg, "threads.use_smt", &smt);
    memgov_config_get_unsigned(cfg, "threads.max", &max);
    if (max == 0 && memgov_config_mode(cfg) == MEMGOV_MODE_MINIMAL)
        max = 1; /* MINIMAL's default: single-threaded unless [mode.minimal] threads.max says otherwise */
    *use_smt = smt != 0;
    *threads_max = max > MEMGOV_THREADS_MAX_WANT ? MEMGOV_THREADS_MAX_WANT : (unsigned)max;
}

static void set_capacity_locked(mg_threads *t)
{
    t->capacity = mg_threads_capacity(&t->facts, t->use_smt, t->threads_max, t->capacity_why, sizeof t->capacity_why);
    pthread_cond_broadcast(&t->freed);
}

/* The targets of every held lease, from the capacity, the budgets' headroom and the parents' targets; a lease
 * whose target changes gets a delivery (notify_and_unlock). Parents come before their children in the list. */
static void retarget_locked(mg_threads *t)
{
    uint64_t entitled = 0;
    for (memgov_threads_lease *l = t->first; l != NULL; l = l->next)
        if (l->parent == NULL)
            entitled += l->entitled;
    for (memgov_threads_lease *l = t->first; l != NULL; l = l->next) {
        uint64_t want;
        if (l->parent == NULL)
            want = entitled <= t->capacity ? l->entitled : (uint64_t)l->entitled * t->capacity / entitled;
        else
            want = l->entitled < l->parent->target ? l->entitled : l->parent->target;
        if (l->bpw != 0) {
            int64_t room = headroom(l->budget);
            uint64_t by_memory;
            if (room >= 0) {
                uint64_t more = (uint64_t)room / l->bpw;
                by_memory = l->count + (more > MEMGOV_THREADS_MAX_WANT ? MEMGOV_THREADS_MAX_WANT : more);
            } else {
                uint64_t over = (uint64_t)(-(room + 1)) + 1;
                uint64_t shed = over / l->bpw + (over % l->bpw != 0);
                by_memory = shed >= l->count ? 0 : l->count - shed;
            }
            if (by_memory < want)
                want = by_memory;
        }
        unsigned target = want < 1 ? 1 : want > l->entitled ? l->entitled : (unsigned)want;
        if (target != l->target) {
            l->target = target;
            l->pending = true;
        }
    }
}

/* Whether a held lease runs below its entitlement: only then can a release let a target grow. */
static bool some_may_grow_locked(const mg_threads *t)
{
    for (const memgov_threads_lease *l = t->first; l != NULL; l = l->next)
        if (l->target < l->entitled)
            return true;
    return false;
}

static void on_config_change(memgov_config *cfg, const char *key, void *user)
{
    mg_threads *t = user;
    if (key != NULL && strcmp(key, "mode") != 0 && strncmp(key, "threads.", 8) != 0)
        return;
    bool smt;
    unsigned max;
    read_keys(cfg, &smt, &max);
    pthread_mutex_lock(&t->lock);
    t->use_smt = smt;
    t->threads_max = max;
    set_capacity_locked(t);
    retarget_locked(t);
    notify_and_unlock(t);
}

static void on_budget_event(const memgov_event *ev, void *user)
{
    mg_threads *t = user;
    if (ev->kind != MEMGOV_EVENT_LIMIT_CHANGED)
        return;
    pthread_mutex_lock(&t->lock);
    retarget_locked(t);
    notify_and_unlock(t);
}

static void threads_after_fork(void *arg)
{
    mg_threads *t = arg;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&t->freed, &a); /* its waiters were other threads */
    pthread_condattr_destroy(&a);
    pthread_cond_init(&t->delivered, NULL);
    t->waiting = 0;
    for (memgov_threads_lease *l = t->first; l != NULL; l = l->next) {
        l->delivering = false; /* a delivery in progress was another thread's */
        l->growing = false;    /* so was a growth: what it claimed stays counted, as the vanished leases do */
        l->refs = 0;
    }
}

memgov_status mg_threads_open(const mg_threads_setup *s, mg_threads **out)
{
    mg_threads *t = calloc(1, sizeof *t);
    if (t == NULL)
        return mg_fail(MEMGOV_ENOMEM, "no memory for the thread controller");
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0) {
        free(t);
        return mg_fail(MEMGOV_ENOMEM, "cannot initialise the thread controller's condition variable");
    }
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int e = pthread_cond_init(&t->freed, &a);
    pthread_condattr_destroy(&a);
    int d = e == 0 ? pthread_cond_init(&t->delivered, NULL) : -1;
    if (d != 0 || pthread_mutex_init(&t->lock, NULL) != 0) {
        if (e == 0)
            pthread_cond_destroy(&t->freed);
        if (d == 0)
            pthread_cond_destroy(&t->delivered);
        free(t);
        return mg_fail(MEMGOV_ENOMEM, "cannot initialise the thread controller's lock");
    }
    t->config = s->config;
    t->root = s->root;
    if (s->proc_root != NULL && (t->proc_root = strdup(s->proc_root)) == NULL) {
        mg_threads_close(t);
        return mg_fail(MEMGOV_ENOMEM, "no memory for the thread controller");
    }
    t->next_lease_id = 1;
    t->next_listener_id = 1;
    mg_threads_probe(t->proc_root, &t->facts);
    read_keys(t->config, &t->use_smt, &t->threads_max);
    t->capacity = mg_threads_capacity(&t->facts, t->use_smt, t->threads_max, t->capacity_why, sizeof t->capacity_why);
    mg_fork_lock_add(&t->fork, &t->lock, MG_FORK_RANK_THREADS, threads_after_fork, t);
    memgov_status st = memgov_config_add_listener(t->config, on_config_change, t, &t->config_listener);
    if (st == MEMGOV_OK) {
        t->config_listening = true;
        st = memgov_budget_add_listener(t->root, on_budget_event, t, &t->root_listener);
        t->root_listening = st == MEMGOV_OK;
    }
    if (st != MEMGOV_OK) {
        mg_threads_close(t);
        return st;
    }
    *out = t;
    return MEMGOV_OK;
}

memgov_status mg_threads_check_idle(mg_threads *t)
{
    if (t == NULL)
        return MEMGOV_OK;
    pthread_mutex_lock(&t->lock);
    unsigned n = t->nleases, leased = t->leased;
    pthread_mutex_unlock(&t->lock);
    if (n != 0)
        return mg_fail(MEMGOV_EBUSY, "cannot close the governor: %u thread leases (%u threads) are still held", n,
                       leased);
    return MEMGOV_OK;
}

void mg_threads_close(mg_threads *t)
{
    if (t == NULL)
        return;
    if (t->config_listening)
        memgov_config_remove_listener(t->config, t->config_listener);
    if (t->root_listening)
        memgov_budget_remove_listener(t->root, t->root_listener);
    if (t->fork.lock != NULL)
        mg_fork_lock_remove(&t->fork);
    pthread_cond_destroy(&t->freed);
    pthread_cond_destroy(&t->delivered);
    pthread_mutex_destroy(&t->lock);
    free(t->proc_root);
    free(t);
}

/* ---- deliveries ------------------------------------------------------------------------------------------------ */

static void lease_destroy(memgov_threads_lease *l)
{
    l->magic = 0;
    free(l);
}

/* For a removal or a free: returns once no delivery to l runs on another thread (at once on the deliverer's). */
static void wait_delivery_locked(mg_threads *t, const memgov_threads_lease *l)
{
    while (l->delivering && !pthread_equal(l->deliverer, pthread_self()))
        pthread_cond_wait(&t->delivered, &t->lock);
}

/* Delivers the pending targets of l's listeners until none is left, unless another thread is delivering to l
 * (it will deliver them). Called with the lock held; returns with it held. */
static void deliver_locked(mg_threads *t, memgov_threads_lease *l)
{
    if (l->delivering)
        return;
    l->delivering = true;
    l->deliverer = pthread_self();
    while (l->pending && !l->released) {
        l->pending = false;
        unsigned target = l->target;
        lease_listener copy[MEMGOV_THREADS_MAX_LISTENERS];
        size_t n = l->nlisteners;
        memcpy(copy, l->listeners, n * sizeof copy[0]);
        t->target_changes += n != 0;
        pthread_mutex_unlock(&t->lock);
        for (size_t i = 0; i < n; i++)
            copy[i].fn(l, target, copy[i].user);
        pthread_mutex_lock(&t->lock);
    }
    l->delivering = false;
    pthread_cond_broadcast(&t->delivered);
}

/* Delivers every pending target, then unlocks. Each lease is held (refs) while its listeners run, so a
 * memgov_threads_lease_free() meanwhile leaves the freeing to the delivery. */
static void notify_and_unlock(mg_threads *t)
{
    for (;;) {
        memgov_threads_lease *l = t->first;
        while (l != NULL && !(l->pending && !l->delivering))
            l = l->next;
        if (l == NULL)
            break;
        l->refs++;
        deliver_locked(t, l);
        l->refs--;
        if (l->doomed && l->refs == 0) {
            /* freed by memgov_threads_lease_free() during the delivery: out of the list already */
            lease_destroy(l);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

/* ---- granting -------------------------------------------------------------------------------------------------- */

static bool is_held_locked(mg_threads *t, const memgov_threads_lease *l, uint64_t id)
{
    for (const memgov_threads_lease *x = t->first; x != NULL; x = x->next)
        if (x == l && x->id == id)
            return true;
    return false;
}

/* Threads free for l's parent (NULL: the capacity) now. */
static unsigned free_locked(mg_threads *t, const memgov_threads_lease *parent)
{
    if (parent == NULL)
        return t->capacity > t->leased ? t->capacity - t->leased : 0;
    unsigned have = parent->count < parent->target ? parent->count : parent->target;
    unsigned used = 1 + parent->busy + parent->lent;
    return have > used ? have - used : 0;
}

/* Claims up to `more` threads (at least `least`) for a lease under `parent`; 0 when fewer than `least` are
 * free. A nested lease's first thread is its caller, already counted in the parent: `first` says whether the
 * claim includes it. */
static unsigned claim_locked(mg_threads *t, memgov_threads_lease *parent, unsigned more, unsigned least, bool first)
{
    unsigned extra = first && parent != NULL ? 1 : 0; /* the caller itself, free of charge */
    unsigned avail = free_locked(t, parent) + extra;
    unsigned n = more < avail ? more : avail;
    if (n < least || n == 0)
        return 0;
    if (parent != NULL) {
        parent->lent += n - extra;
    } else {
        t->leased += n;
        if (t->leased > t->peak_leased)
            t->peak_leased = t->leased;
    }
    return n;
}

static void unclaim_locked(mg_threads *t, memgov_threads_lease *parent, unsigned n, bool first)
{
    if (n == 0)
        return;
    if (parent != NULL)
        parent->lent -= n - (first ? 1 : 0);
    else
        t->leased -= n;
    pthread_cond_broadcast(&t->freed);
}

static memgov_status deny_locked(mg_threads *t, memgov_threads_denial why)
{
    t->denials[why]++;
    return MEMGOV_EBUSY;
}

/* Reserves the memory of up to n workers (at least `least`) on b; returns how many it reserved, 0 if not
 * even `least`. Outside the lock. */
static unsigned reserve_workers(memgov_budget *b, uint64_t bpw, unsigned n, unsigned least)
{
    if (bpw == 0)
        return n;
    while (n >= least && n > 0) {
        unsigned fit = memory_fits(b, bpw);
        if (fit < n)
            n = fit;
        if (n < least || n == 0)
            return 0;
        if (memgov_reserve(b, (uint64_t)n * bpw) == MEMGOV_OK)
            return n;
        n--; /* another thread took the headroom meanwhile: look again */
    }
    return 0;
}

typedef struct request {
    unsigned want, flags;
    uint64_t bpw;
    memgov_budget *budget;
    uint64_t timeout_ns;
    const char *fn;
} request;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits on `freed` until the deadline; false when it passed. */
static bool wait_locked(mg_threads *t, uint64_t deadline)
{
    if (deadline != UINT64_MAX && now_ns() >= deadline)
        return false;
    t->waiting++;
    if (deadline == UINT64_MAX) {
        pthread_cond_wait(&t->freed, &t->lock);
    } else {
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u), .tv_nsec = (long)(deadline % 1000000000u)};
        pthread_cond_timedwait(&t->freed, &t->lock, &ts);
    }
    t->waiting--;
    return true;
}

static memgov_status check_request(memgov *gov, const request *r, memgov_threads_lease **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: out is NULL", r->fn);
    *out = NULL;
    if (gov == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: gov is NULL", r->fn);
    if (r->want == 0)
        return mg_fail(MEMGOV_EINVAL, "%s: want is 0 (ask for at least 1 thread)", r->fn);
    if (r->want > MEMGOV_THREADS_MAX_WANT)
        return mg_fail(MEMGOV_ERANGE, "%s: want %u is above MEMGOV_THREADS_MAX_WANT (%u)", r->fn, r->want,
                       MEMGOV_THREADS_MAX_WANT);
    if (r->flags & ~KNOWN_FLAGS)
        return mg_fail(MEMGOV_EINVAL, "%s: unknown flags 0x%x", r->fn, r->flags & ~KNOWN_FLAGS);
    return MEMGOV_OK;
}

static memgov_status acquire(memgov *gov, request r, memgov_threads_lease **out)
{
    memgov_status st = check_request(gov, &r, out);
    if (st != MEMGOV_OK)
        return st;
    mg_threads *t = mg_governor_threads(gov);
    if (t == NULL)
        return memgov_last_status();
    if (r.bpw == MEMGOV_THREADS_DEFAULT_BYTES) {
        r.bpw = 0;
        if ((st = memgov_config_get_size(t->config, "threads.bytes_per_worker", &r.bpw)) != MEMGOV_OK)
            return st;
    }
    bool aon = r.flags & MEMGOV_THREADS_ALL_OR_NOTHING;
    if (aon && r.bpw != 0 && r.want > UINT64_MAX / r.bpw)
        return mg_fail(MEMGOV_EOVERFLOW, "%s: want %u x bytes_per_worker %llu is above 2^64 - 1 bytes", r.fn, r.want,
                       (unsigned long long)r.bpw);
    memgov_threads_lease *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return mg_fail(MEMGOV_ENOMEM, "%s: no memory for the lease", r.fn);
    }
    uint64_t deadline = r.timeout_ns == 0 ? 0 : r.timeout_ns == UINT64_MAX ? UINT64_MAX : now_ns() + r.timeout_ns;
    if (deadline < r.timeout_ns)
        deadline = UINT64_MAX;
    pthread_mutex_lock(&t->lock);
    memgov_threads_lease *parent = NULL;
    if (!(r.flags & MEMGOV_THREADS_TOP_LEVEL) && current_lease != NULL && is_held_locked(t, current_lease, current_id))
        parent = current_lease;
    if (r.budget == NULL)
        r.budget = parent != NULL ? parent->budget : t->root;
    unsigned n;
    bool waited = false;
    while ((n = claim_locked(t, parent, r.want, aon ? r.want : 1, true)) == 0) {
        if (r.timeout_ns == 0 || !wait_locked(t, deadline)) {
            unsigned cap = parent != NULL ? parent->count : t->capacity;
            unsigned used = parent != NULL ? 1 + parent->busy + parent->lent : t->leased;
            deny_locked(t, waited ? MEMGOV_THREADS_DENIED_TIMEOUT
                                  : parent != NULL ? MEMGOV_THREADS_DENIED_PARENT : MEMGOV_THREADS_DENIED_CAPACITY);
            pthread_mutex_unlock(&t->lock);
            lease_destroy(l);
            return mg_fail(MEMGOV_EBUSY, "%s: %s%u of %u threads %s are in use, want %u%s", r.fn,
                           waited ? "timed out: " : "", used, cap, parent != NULL ? "of the parent lease" : "leased",
                           r.want, aon ? " (all or nothing)" : "");
        }
        waited = true;
    }
    if (parent != NULL)
        parent->children++; /* from here on the parent cannot be released under this acquire */
    unsigned got = n;
    if (r.bpw != 0) { /* outside the lock: a reservation may call back into memgov */
        pthread_mutex_unlock(&t->lock);
        got = reserve_workers(r.budget, r.bpw, n, aon ? n : 1);
        pthread_mutex_lock(&t->lock);
    }
    if (got == 0) {
        unclaim_locked(t, parent, n, true);
        if (parent != NULL)
            parent->children--;
        deny_locked(t, MEMGOV_THREADS_DENIED_MEMORY);
        pthread_mutex_unlock(&t->lock);
        lease_destroy(l);
        int64_t room = headroom(r.budget);
        char h[24], w[24];
        memgov_format_bytes(room > 0 ? (uint64_t)room : 0, h, sizeof h);
        memgov_format_bytes(r.bpw, w, sizeof w);
        return mg_fail(MEMGOV_ENOMEM, "%s: budget \"%s\" has %s of headroom, not enough for %u workers of %s each",
                       r.fn, memgov_budget_name(r.budget), h, aon ? r.want : 1, w);
    }
    unclaim_locked(t, parent, n - got, false);
    l->magic = LEASE_MAGIC;
    l->ctl = t;
    l->id = t->next_lease_id++;
    l->parent = parent;
    l->want = r.want;
    l->count = l->target = l->entitled = got;
    l->depth = parent != NULL ? parent->depth + 1 : 0;
    l->flags = r.flags;
    l->bpw = r.bpw;
    l->reserved = (uint64_t)got * r.bpw;
    l->budget = r.budget;
    l->prev = t->last;
    if (t->last != NULL)
        t->last->next = l;
    else
        t->first = l;
    t->last = l;
    t->nleases++;
    t->grants++;
    t->granted_threads += got;
    t->partial_grants += got < r.want;
    if (!(r.flags & MEMGOV_THREADS_NOT_CURRENT)) {
        l->was_current = current_lease;
        l->was_current_id = current_id;
        current_lease = l;
        current_id = l->id;
    }
    pthread_mutex_unlock(&t->lock);
    if (r.flags & MEMGOV_THREADS_LIMIT_POOLS)
        mg_threads_pools_apply(l, got, &l->pools);
    *out = l;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_threads_acquire(memgov *gov, unsigned want, uint64_t bytes_per_worker,
                                                memgov_budget *budget, unsigned flags, memgov_threads_lease **out)
{
    request r = {want, flags, bytes_per_worker, budget, 0, "memgov_threads_acquire"};
    return acquire(gov, r, out);
}

MEMGOV_API memgov_status memgov_threads_acquire_wait(memgov *gov, unsigned want, uint64_t bytes_per_worker,
                                                     memgov_budget *budget, unsigned flags, uint64_t timeout_ns,
                                                     memgov_threads_lease **out)
{
    request r = {want, flags, bytes_per_worker, budget, timeout_ns, "memgov_threads_acquire_wait"};
    return acquire(gov, r, out);
}

/* ---- releasing, resizing --------------------------------------------------------------------------------------- */

static bool valid(const memgov_threads_lease *l)
{
    return l != NULL && l->magic == LEASE_MAGIC;
}

MEMGOV_API memgov_status memgov_threads_release(memgov_threads_lease *l)
{
    if (!valid(l))
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_release: %s", l == NULL ? "lease is NULL" : "not a lease");
    mg_threads *t = l->ctl;
    pthread_mutex_lock(&t->lock);
    /* A resize on another thread (a listener following the target) may be growing the lease with the lock
     * dropped: let it finish, so that its claim is counted in what the release gives back (it was lost before:
     * the TSan run of threads-races met it as a lease count left at 1). */
    while (l->growing && !pthread_equal(l->grower, pthread_self()))
        pthread_cond_wait(&t->delivered, &t->lock);
    if (l->released) {
        pthread_mutex_unlock(&t->lock);
        return MEMGOV_OK;
    }
    if (l->growing) { /* the caller's own growth, from a callback of the reservation */
        pthread_mutex_unlock(&t->lock);
        return mg_fail(MEMGOV_EBUSY, "memgov_threads_release: the lease is being resized on this thread");
    }
    if (l->children != 0 || l->loops != 0) {
        unsigned c = l->children, n = l->loops;
        pthread_mutex_unlock(&t->lock);
        if (n != 0)
            return mg_fail(MEMGOV_EBUSY, "memgov_threads_release: %u memgov_parallel_for loops still run on the "
                                         "lease", n);
        return mg_fail(MEMGOV_EBUSY, "memgov_threads_release: %u nested leases acquired from this lease are still "
                                     "held: release them first", c);
    }
    unclaim_locked(t, l->parent, l->count, true);
    if (l->parent != NULL)
        l->parent->children--;
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        t->first = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    else
        t->last = l->prev;
    l->prev = l->next = NULL;
    t->nleases--;
    l->released = true;
    l->pending = false;
    l->count = l->target = 0;
    uint64_t bytes = l->reserved;
    l->reserved = 0;
    if (current_lease == l) {
        current_lease = l->was_current;
        current_id = l->was_current_id;
    }
    if (bytes != 0 || (l->flags & MEMGOV_THREADS_LIMIT_POOLS)) {
        pthread_mutex_unlock(&t->lock);
        if (l->flags & MEMGOV_THREADS_LIMIT_POOLS)
            mg_threads_pools_restore(l, &l->pools);
        if (bytes != 0)
            memgov_release(l->budget, bytes);
        pthread_mutex_lock(&t->lock);
    }
    if (some_may_grow_locked(t))
        retarget_locked(t);
    notify_and_unlock(t);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_threads_lease_free(memgov_threads_lease *l)
{
    if (l == NULL)
        return MEMGOV_OK;
    memgov_status st = memgov_threads_release(l);
    if (st != MEMGOV_OK)
        return st;
    mg_threads *t = l->ctl;
    pthread_mutex_lock(&t->lock);
    wait_delivery_locked(t, l);
    bool later = l->refs != 0; /* a delivery on this thread (a listener freeing its own lease) holds it */
    l->doomed = true;
    pthread_mutex_unlock(&t->lock);
    if (!later)
        lease_destroy(l);
    return MEMGOV_OK;
}

/* A field of l (one of its own) read under the controller's lock; 0 for NULL. */
static unsigned read_locked(const memgov_threads_lease *l, const unsigned *field)
{
    if (!valid(l))
        return 0;
    pthread_mutex_lock(&l->ctl->lock);
    unsigned n = *field;
    pthread_mutex_unlock(&l->ctl->lock);
    return n;
}

MEMGOV_API unsigned memgov_threads_count(const memgov_threads_lease *l)
{
    return l != NULL ? read_locked(l, &l->count) : 0;
}

MEMGOV_API unsigned memgov_threads_target(const memgov_threads_lease *l)
{
    return l != NULL ? read_locked(l, &l->target) : 0;
}

/* Shrinks a held lease to n (< count) under the lock; returns the bytes to release outside it. */
static uint64_t shrink_locked(mg_threads *t, memgov_threads_lease *l, unsigned n)
{
    unclaim_locked(t, l->parent, l->count - n, false);
    uint64_t bytes = (uint64_t)(l->count - n) * l->bpw;
    l->reserved -= bytes;
    if (n < l->target)
        l->entitled = n; /* below the advice: the holder wants fewer for good */
    l->count = n;
    return bytes;
}

/* Grows a held lease towards n (> count) with what is free now; the lock is dropped while the memory is
 * reserved, and meanwhile a release of the lease on another thread waits (l->growing). */
static void grow_locked(mg_threads *t, memgov_threads_lease *l, unsigned n)
{
    unsigned more = claim_locked(t, l->parent, n - l->count, 1, false);
    if (more == 0)
        return;
    l->growing = true;
    l->grower = pthread_self();
    pthread_mutex_unlock(&t->lock);
    unsigned got = reserve_workers(l->budget, l->bpw, more, 1);
    pthread_mutex_lock(&t->lock);
    l->growing = false;
    pthread_cond_broadcast(&t->delivered);
    unclaim_locked(t, l->parent, more - got, false);
    l->count += got;
    l->reserved += (uint64_t)got * l->bpw;
    if (l->count > l->entitled)
        l->entitled = l->count;
}

MEMGOV_API memgov_status memgov_threads_resize(memgov_threads_lease *l, unsigned n, unsigned *granted)
{
    if (!valid(l))
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_resize: %s", l == NULL ? "lease is NULL" : "not a lease");
    if (n == 0)
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_resize: n is 0 (release the lease instead)");
    if (n > MEMGOV_THREADS_MAX_WANT)
        return mg_fail(MEMGOV_ERANGE, "memgov_threads_resize: n %u is above MEMGOV_THREADS_MAX_WANT (%u)", n,
                       MEMGOV_THREADS_MAX_WANT);
    mg_threads *t = l->ctl;
    pthread_mutex_lock(&t->lock);
    if (l->released) {
        pthread_mutex_unlock(&t->lock);
        return mg_fail(MEMGOV_ESTATE, "memgov_threads_resize: the lease was released");
    }
    unsigned before = l->count;
    uint64_t bytes = 0;
    if (n < l->count)
        bytes = shrink_locked(t, l, n);
    else if (n > l->count)
        grow_locked(t, l, n);
    if (l->count != before) {
        l->resizes++;
        if (l->count > l->target || l->target > l->entitled)
            l->target = l->count;
    }
    unsigned now = l->count;
    if (granted != NULL)
        *granted = now;
    pthread_mutex_unlock(&t->lock);
    if (bytes != 0)
        memgov_release(l->budget, bytes);
    if (now != before && (l->flags & MEMGOV_THREADS_LIMIT_POOLS))
        mg_threads_pools_apply(l, now, &l->pools);
    pthread_mutex_lock(&t->lock);
    retarget_locked(t);
    notify_and_unlock(t);
    return MEMGOV_OK;
}

/* ---- loops ---------------------------------------------------------------------------------------------------- */

memgov_status mg_threads_loop_begin(memgov_threads_lease *l, uint64_t most, unsigned *workers)
{
    if (!valid(l))
        return mg_fail(MEMGOV_EINVAL, "memgov_parallel_for: not a lease");
    mg_threads *t = l->ctl;
    pthread_mutex_lock(&t->lock);
    if (l->released) {
        pthread_mutex_unlock(&t->lock);
        return mg_fail(MEMGOV_ESTATE, "memgov_parallel_for: the lease was released");
    }
    unsigned have = l->count < l->target ? l->count : l->target;
    unsigned used = 1 + l->busy + l->lent;
    unsigned w = 1 + (have > used ? have - used : 0);
    if (w > most)
        w = most < 1 ? 1 : (unsigned)most;
    l->busy += w - 1;
    l->loops++;
    pthread_mutex_unlock(&t->lock);
    *workers = w;
    return MEMGOV_OK;
}

void mg_threads_loop_end(memgov_threads_lease *l, unsigned workers)
{
    mg_threads *t = l->ctl;
    pthread_mutex_lock(&t->lock);
    l->busy -= workers - 1;
    l->loops--;
    pthread_cond_broadcast(&t->freed); /* a nested wait may find idle threads now */
    pthread_mutex_unlock(&t->lock);
}

void mg_threads_current_set(memgov_threads_lease *l, mg_threads_current *saved)
{
    saved->lease = current_lease;
    saved->id = current_id;
    current_lease = l;
    current_id = l != NULL ? l->id : 0;
}

void mg_threads_current_restore(const mg_threads_current *saved)
{
    current_lease = saved->lease;
    current_id = saved->id;
}

/* ---- listeners ------------------------------------------------------------------------------------------------- */

MEMGOV_API memgov_status memgov_threads_lease_add_listener(memgov_threads_lease *l, memgov_threads_target_fn fn,
                                                           void *user, uint64_t *id_out)
{
    if (!valid(l) || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_lease_add_listener: %s is NULL", fn == NULL ? "fn" : "lease");
    mg_threads *t = l->ctl;
    pthread_mutex_lock(&t->lock);
    memgov_status st = MEMGOV_OK;
    if (l->released) {
        st = mg_fail(MEMGOV_ESTATE, "memgov_threads_lease_add_listener: the lease was released");
    } else if (l->nlisteners == MEMGOV_THREADS_MAX_LISTENERS) {
        st = mg_fail(MEMGOV_ERANGE, "memgov_threads_lease_add_listener: the lease already has "
                                    "MEMGOV_THREADS_MAX_LISTENERS (%d) listeners", MEMGOV_THREADS_MAX_LISTENERS);
    } else {
        lease_listener *e = &l->listeners[l->nlisteners++];
        e->id = t->next_listener_id++;
        e->fn = fn;
        e->user = user;
        if (id_out != NULL)
            *id_out = e->id;
    }
    pthread_mutex_unlock(&t->lock);
    return st;
}

MEMGOV_API memgov_status memgov_threads_lease_remove_listener(memgov_threads_lease *l, uint64_t id)
{
    if (!valid(l))
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_lease_remove_listener: lease is NULL");
    mg_threads *t = l->ctl;
    pthread_mutex_lock(&t->lock);
    memgov_status st = mg_id_table_remove(l->listeners, &l->nlisteners, sizeof l->listeners[0], id,
                                          "memgov_threads_lease_remove_listener", "listener");
    if (st == MEMGOV_OK)
        wait_delivery_locked(t, l);
    pthread_mutex_unlock(&t->lock);
    return st;
}

/* ---- refresh and statistics ------------------------------------------------------------------------------------ */

MEMGOV_API memgov_status memgov_threads_refresh(memgov *gov)
{
    if (gov == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_refresh: gov is NULL");
    mg_threads *t = mg_governor_threads(gov);
    if (t == NULL)
        return memgov_last_status();
    mg_threads_facts f;
    mg_threads_probe(t->proc_root, &f);
    bool smt;
    unsigned max;
    read_keys(t->config, &smt, &max);
    pthread_mutex_lock(&t->lock);
    t->facts = f;
    t->use_smt = smt;
    t->threads_max = max;
    set_capacity_locked(t);
    retarget_locked(t);
    notify_and_unlock(t);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_threads_get_stats(memgov *gov, memgov_threads_stats *out)
{
    if (gov == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_get_stats: %s is NULL", gov == NULL ? "gov" : "out");
    mg_threads *t = mg_governor_threads(gov);
    if (t == NULL)
        return memgov_last_status();
    memgov_threads_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    pthread_mutex_lock(&t->lock);
    s.capacity = t->capacity;
    s.leased = t->leased;
    s.peak_leased = t->peak_leased;
    s.waiting = t->waiting;
    s.leases = t->nleases;
    s.grants = t->grants;
    s.granted_threads = t->granted_threads;
    s.partial_grants = t->partial_grants;
    memcpy(s.denials, t->denials, sizeof s.denials);
    s.target_changes = t->target_changes;
    s.allowed_cpus = t->facts.allowed_cpus;
    s.cpu_quota = t->facts.cpu_quota;
    s.physical_cores = t->facts.physical_cores;
    s.logical_cpus = t->facts.logical_cpus;
    s.use_smt = t->use_smt;
    s.threads_max = t->threads_max;
    snprintf(s.capacity_why, sizeof s.capacity_why, "%s", t->capacity_why);
    pthread_mutex_unlock(&t->lock);
    return mg_struct_out(out, &s, sizeof s, "memgov_threads_stats");
}

MEMGOV_API memgov_status memgov_threads_lease_get_info(const memgov_threads_lease *l, memgov_threads_lease_info *out)
{
    if (!valid(l) || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_threads_lease_get_info: %s is NULL", out == NULL ? "out" : "lease");
    memgov_threads_lease_info i;
    memset(&i, 0, sizeof i);
    i.struct_size = sizeof i;
    pthread_mutex_lock(&l->ctl->lock);
    i.want = l->want;
    i.count = l->count;
    i.target = l->target;
    i.entitled = l->entitled;
    i.depth = l->depth;
    i.flags = l->flags;
    i.bytes_per_worker = l->bpw;
    i.reserved = l->reserved;
    i.budget = l->budget;
    i.resizes = l->resizes;
    pthread_mutex_unlock(&l->ctl->lock);
    return mg_struct_out(out, &i, sizeof i, "memgov_threads_lease_info");
}
