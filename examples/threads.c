/* examples/threads.c — leases of worker threads (docs/threads.md): a job asks the governor for as many threads as
 * its memory allows, runs its batches with memgov_parallel_for on them, shrinks when the governor moves to
 * MINIMAL mode and grows back when it returns to NORMAL; a nested request inside the lease draws from it instead
 * of adding threads; an error in one task stops a loop. It exits 0 when every step behaved as described.
 * Build: cc threads.c $(pkg-config --cflags --libs memgov) */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <memgov.h>

static void on_target(memgov_threads_lease *lease, unsigned target, void *user)
{
    (void)lease;
    *(unsigned *)user = target; /* remembered; the job resizes between batches, its safe point */
    printf("  the governor asks for %u threads\n", target);
}

#define ITEMS 100000

/* The work of one batch: the sum of items [begin, end), added to the total once per chunk. */
typedef struct work {
    _Atomic uint64_t sum;
    uint64_t bad_item; /* an item that fails (UINT64_MAX: none) */
} work;

static memgov_status task(uint64_t begin, uint64_t end, unsigned worker, void *ctx)
{
    (void)worker; /* below the lease's count: an index for per-worker scratch, unused here */
    work *w = ctx;
    uint64_t part = 0;
    for (uint64_t i = begin; i < end; i++) {
        if (i == w->bad_item)
            return MEMGOV_ECANCELED;
        part += i;
    }
    atomic_fetch_add(&w->sum, part);
    return MEMGOV_OK;
}

/* One batch on the lease's threads; 1 when its sum is right. */
static int batch(int i, memgov_threads_lease *lease)
{
    work w = {.bad_item = UINT64_MAX};
    memgov_status st = memgov_parallel_for(lease, ITEMS, 0, task, &w);
    uint64_t sum = atomic_load(&w.sum);
    printf("  batch %d with %u threads: %s, sum %llu\n", i, memgov_threads_count(lease), memgov_status_name(st),
           (unsigned long long)sum);
    return st == MEMGOV_OK && sum == (uint64_t)ITEMS * (ITEMS - 1) / 2;
}

int main(void)
{
    memgov_options o;
    memgov_options_init(&o);
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov;
    if (memgov_open(&o, &gov) != MEMGOV_OK) {
        fprintf(stderr, "memgov_open: %s\n", memgov_last_error());
        return 1;
    }
    memgov_threads_stats s = {.struct_size = sizeof s};
    memgov_threads_get_stats(gov, &s);
    printf("capacity %u (%s)\n", s.capacity, s.capacity_why);

    /* A budget of 1 GiB for the job; each worker needs 256 MiB: at most 4 workers fit. */
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "job";
    bo.hard_limit = 1ull << 30;
    memgov_budget *job;
    if (memgov_budget_create(memgov_root(gov), &bo, &job) != MEMGOV_OK)
        return 1;
    memgov_threads_lease *lease;
    if (memgov_threads_acquire(gov, 64, 256u << 20, job, 0, &lease) != MEMGOV_OK) {
        fprintf(stderr, "acquire: %s\n", memgov_last_error());
        return 1;
    }
    unsigned granted = memgov_threads_count(lease);
    printf("asked for 64 threads, granted %u (capacity %u, memory for 4)\n", granted, s.capacity);
    int ok = granted >= 1 && granted <= 4 && granted <= s.capacity;

    /* A nested request (e.g. a library call inside a worker) draws from this lease, never from the machine. */
    memgov_threads_lease *inner;
    memgov_threads_acquire(gov, 64, 0, NULL, 0, &inner);
    memgov_threads_get_stats(gov, &s);
    printf("nested request got %u; leased in all: %u\n", memgov_threads_count(inner), s.leased);
    ok = ok && memgov_threads_count(inner) <= granted && s.leased == granted;
    memgov_threads_lease_free(inner);

    unsigned target = granted;
    memgov_threads_lease_add_listener(lease, on_target, &target, NULL);
    memgov_fallback *fb = memgov_governor_fallback(gov);
    for (int i = 0; i < 4; i++) {
        if (i == 1)
            memgov_fallback_pin(fb, MEMGOV_MODE_MINIMAL); /* memory pressure: MINIMAL runs single-threaded */
        if (i == 3)
            memgov_fallback_pin(fb, MEMGOV_MODE_NORMAL); /* recovered */
        if (target != memgov_threads_count(lease))
            memgov_threads_resize(lease, target, NULL); /* the safe point */
        ok = batch(i, lease) && ok;
        if (i == 2)
            ok = ok && memgov_threads_count(lease) == 1;
    }
    ok = ok && memgov_threads_count(lease) == granted;

    /* A task that fails stops the loop: its status comes back, with a message naming the items. */
    work w = {.bad_item = 500};
    memgov_status st = memgov_parallel_for(lease, ITEMS, 100, task, &w);
    printf("a failing task: %s (%s)\n", memgov_status_name(st), memgov_last_error());
    ok = ok && st == MEMGOV_ECANCELED;
    memgov_threads_lease_free(lease);
    memgov_budget_destroy(job);
    memgov_close(gov);
    printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
