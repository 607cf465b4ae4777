/* A budget shared by worker threads. With MEMGOV_BUDGET_OWN_ARENA the budget's blocks come from jemalloc arenas of
 * its own, split into shards (configuration key budget.arena_shards; default: one per usable CPU, at most 16) so
 * that its threads do not queue on one arena's locks (docs/budgets.md, "Arena shards"). Nothing in the API
 * changes: threads allocate and free on the budget, blocks may be freed by another thread, the cap holds for all of
 * them together, and the statistics are the sums over the shards.
 *
 * Build: cc budget_threads.c -lmemgov -pthread */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <memgov.h>

#define THREADS 4
#define BLOCKS 1000

static memgov_budget *work;

/* Each worker allocates BLOCKS blocks of 16 B to 64 KiB and hands them to the main thread, which frees them. */
static void *worker(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < BLOCKS; i++)
        if ((blocks[i] = memgov_malloc(work, (size_t)16 << (i % 13))) == NULL)
            fprintf(stderr, "refused: %s\n", memgov_last_error());
    return NULL;
}

int main(void)
{
    memgov *gov;
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 1ull << 30;
    if (memgov_open(&o, &gov) != MEMGOV_OK) {
        fprintf(stderr, "memgov_open: %s\n", memgov_last_error());
        return 1;
    }
    /* Two shards whatever this machine's CPU count (the default follows the CPUs). */
    if (memgov_config_set(memgov_governor_config(gov), "budget.arena_shards", "2") != MEMGOV_OK) {
        fprintf(stderr, "budget.arena_shards: %s\n", memgov_last_error());
        return 1;
    }
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "workers";
    bo.hard_limit = 256ull << 20;
    bo.flags = MEMGOV_BUDGET_OWN_ARENA;
    if (memgov_budget_create(memgov_root(gov), &bo, &work) != MEMGOV_OK) {
        fprintf(stderr, "memgov_budget_create: %s\n", memgov_last_error());
        return 1;
    }

    static void *blocks[THREADS][BLOCKS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, blocks[i]) != 0)
            return 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);

    memgov_budget_stats st = {.struct_size = sizeof st};
    memgov_budget_get_stats(work, &st);
    printf("after %d threads x %d blocks: used %" PRIu64 " bytes, %" PRIu64 " allocations, arena allocated %" PRIu64
           " bytes (summed over the shards; it includes blocks cached free by threads)\n",
           THREADS, BLOCKS, st.used, st.allocations, st.arena_allocated);
    int ok = st.allocations == THREADS * BLOCKS && st.used > 0;

    for (int i = 0; i < THREADS; i++) /* freed by another thread than the one that allocated them */
        for (int k = 0; k < BLOCKS; k++)
            memgov_free(work, blocks[i][k]);
    memgov_budget_get_stats(work, &st);
    printf("after the frees: used %" PRIu64 " bytes, %" PRIu64 " frees\n", st.used, st.frees);
    ok = ok && st.used == 0 && st.frees == THREADS * BLOCKS;

    memgov_budget_destroy(work);
    memgov_close(gov);
    printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
