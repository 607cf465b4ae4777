/* Stress: threads allocate, resize and free random sizes (16 B to 4 MiB) against tight caps while a watcher
 * reads every budget's use, with arena shards (budget.arena_shards 2: more threads than shards) and with one. The caps must hold at every moment the watcher looks, the books must balance at
 * the end, and (jemalloc backend) each own arena's allocated bytes must equal memgov's accounting. Runs for a
 * fixed wall time (about a second) and asserts nothing about speed. Small blocks go through the per-thread stocks,
 * large ones through the shared counters, and refusals drain the stocks, so all three paths race here; the
 * operation counts, kept in the same per-slot words as the stocks, must come out exact. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "budget/backend.h"
#include "budget/budget_internal.h"
#include "budget/stock.h"
#include "internal/fault.h"
#ifndef MG_ALLOC_LIBC
#include "internal/je.h"
#endif
#include "memgov.h"

#define MiB (1024u * 1024u)
#define WORKERS 6
#define SLOTS 24
#define N_BUDGETS 4

static memgov_budget *budgets[N_BUDGETS]; /* root, a (own arena), b (own arena), a/shared (a's arena) */
static uint64_t caps[N_BUDGETS] = {20 * MiB, 12 * MiB, 12 * MiB, 6 * MiB};
static atomic_bool stop;
static atomic_ulong over_cap_seen, watcher_reads;

typedef struct worker {
    unsigned seed;
    memgov_budget *budget;
    void *blocks[SLOTS];
    size_t sizes[SLOTS];
    unsigned long ops, refused, allocs, frees;
    int corrupted;
    unsigned index, arena; /* the thread's stock slot index and the arena it used for its budget (its shard) */
} worker;

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static size_t random_size(unsigned *s)
{
    unsigned shift = next_rand(s) % 19; /* 16 B << 0..18: up to 4 MiB */
    size_t base = (size_t)16 << shift;
    return base + next_rand(s) % base;
}

static uint64_t used_of(memgov_budget *b)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    memgov_budget_get_stats(b, &st);
    return st.used;
}

/* A governor whose root has a hard limit of `limit` bytes. */
static memgov *open_with_root(uint64_t limit)
{
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = limit;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    return gov;
}

static void *watch(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        for (int i = 0; i < N_BUDGETS; i++) {
            /* The charged total (live bytes and stocks) and the live bytes the stats report. */
            if (atomic_load(&budgets[i]->used) > caps[i] || used_of(budgets[i]) > caps[i])
                atomic_fetch_add(&over_cap_seen, 1);
        }
        atomic_fetch_add(&watcher_reads, 1);
    }
    return NULL;
}

static void *work(void *arg)
{
    worker *w = arg;
    while (!atomic_load(&stop)) {
        unsigned slot = next_rand(&w->seed) % SLOTS;
        size_t size = random_size(&w->seed);
        unsigned char tag = (unsigned char)slot;
        if (w->blocks[slot] == NULL) {
            w->blocks[slot] = memgov_malloc(w->budget, size);
            if (w->blocks[slot] != NULL) {
                w->allocs++;
                w->sizes[slot] = size;
                memset(w->blocks[slot], tag, size < 64 ? size : 64);
            }
        } else if (next_rand(&w->seed) % 2 == 0) {
            void *q = memgov_realloc(w->budget, w->blocks[slot], size);
            if (q != NULL) {
                w->blocks[slot] = q;
                size_t keep = w->sizes[slot] < size ? w->sizes[slot] : size;
                if (((unsigned char *)q)[(keep < 64 ? keep : 64) - 1] != tag)
                    w->corrupted = 1;
                w->sizes[slot] = size;
                memset(q, tag, size < 64 ? size : 64);
            } else {
                w->refused++;
            }
            w->ops++;
            continue;
        } else {
            memgov_sized_free(w->budget, w->blocks[slot], w->sizes[slot]);
            w->frees++;
            w->blocks[slot] = NULL;
            w->ops++;
            continue;
        }
        if (w->blocks[slot] == NULL)
            w->refused++;
        w->ops++;
    }
    /* Live blocks stay for the main thread to check against the arenas; this thread's caches go at exit. */
    w->index = mg_me.index;
    w->arena = mg_budget_arena(w->budget);
    return NULL;
}

/* WORKERS threads churn budgets[1..3] (round robin; seeds seed0 + step * i) for a second while the watcher looks. */
static void churn_for_a_second(worker *workers, unsigned seed0, unsigned step)
{
    pthread_t tw[WORKERS], watcher;
    atomic_store(&stop, false);
    assert_int_equal(pthread_create(&watcher, NULL, watch, NULL), 0);
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (worker){.seed = seed0 + step * (unsigned)i, .budget = budgets[1 + i % 3]};
        assert_int_equal(pthread_create(&tw[i], NULL, work, &workers[i]), 0);
    }
    struct timespec run = {.tv_sec = 1, .tv_nsec = 0};
    nanosleep(&run, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_join(tw[i], NULL), 0);
    assert_int_equal(pthread_join(watcher, NULL), 0);
}

/* The shards of b's arena home made so far. */
static unsigned shards_made(memgov_budget *b)
{
    unsigned n = 0;
    for (unsigned k = 0; k < MG_SHARDS_MAX; k++)
        n += atomic_load(&b->home->shard[k]) != MG_SHARD_NONE;
    return n;
}

static void churn_with_shards(const char *shards)
{
    unsigned n_shards = (unsigned)atoi(shards);
    memgov *gov = open_with_root(caps[0]);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "budget.arena_shards", shards), MEMGOV_OK);
    budgets[0] = memgov_root(gov);
    const char *names[N_BUDGETS] = {"root", "a", "b", "shared"};
    for (int i = 1; i < N_BUDGETS; i++) {
        memgov_budget_options bo;
        memgov_budget_options_init(&bo);
        bo.name = names[i];
        bo.hard_limit = caps[i];
        bo.flags = i < 3 ? MEMGOV_BUDGET_OWN_ARENA : 0;
        assert_int_equal(memgov_budget_create(i < 3 ? budgets[0] : budgets[1], &bo, &budgets[i]), MEMGOV_OK);
    }

    static worker workers[WORKERS];
    churn_for_a_second(workers, 7u, 31u);

    /* Each worker used shard (index - 1) mod n of its budget's arena home, and only shards some thread used exist
     * (besides shard 0, made with the budget). */
    for (int i = 0; i < WORKERS; i++) {
        memgov_budget *home = workers[i].budget->home;
        unsigned k = (workers[i].index - 1) % n_shards;
        assert_int_equal(workers[i].arena, atomic_load(&home->shard[k]));
    }
    for (int i = 1; i <= 2; i++) {
        unsigned used_shards[MG_SHARDS_MAX] = {0}, expect = 1;
        used_shards[0] = 1;
        for (int w = 0; w < WORKERS; w++)
            if (workers[w].budget->home == budgets[i])
                used_shards[(workers[w].index - 1) % n_shards] = 1;
        for (unsigned k = 1; k < MG_SHARDS_MAX; k++)
            expect += used_shards[k];
        assert_int_equal(shards_made(budgets[i]), expect);
    }

    unsigned long refused = 0;
    for (int i = 0; i < WORKERS; i++) {
        assert_int_equal(workers[i].corrupted, 0);
        assert_true(workers[i].ops > 0);
        refused += workers[i].refused;
    }
    assert_int_equal(atomic_load(&over_cap_seen), 0);
    assert_true(atomic_load(&watcher_reads) > 0);
    assert_true(refused > 0); /* the caps were tight enough to be hit */

    uint64_t live[N_BUDGETS] = {0};
    for (int i = 0; i < WORKERS; i++)
        for (int s = 0; s < SLOTS; s++)
            if (workers[i].blocks[s] != NULL)
                live[1 + i % 3] += memgov_usable_size(workers[i].budget, workers[i].blocks[s]);
    assert_int_equal(used_of(budgets[3]), live[3]);
    assert_int_equal(used_of(budgets[1]), live[1] + live[3]);
    assert_int_equal(used_of(budgets[2]), live[2]);
    assert_int_equal(used_of(budgets[0]), live[1] + live[2] + live[3]);
#ifndef MG_ALLOC_LIBC
    /* The workers' caches were given back when they exited: each own arena holds exactly the live blocks of its
     * budget and of the child that shares it. */
    for (int i = 1; i <= 2; i++) {
        memgov_budget_stats st = {.struct_size = sizeof st};
        assert_int_equal(memgov_budget_get_stats(budgets[i], &st), MEMGOV_OK);
        assert_int_equal(st.arena_allocated, st.used);
    }
#endif

    uint64_t allocs[N_BUDGETS] = {0}, frees[N_BUDGETS] = {0};
    for (int i = 0; i < WORKERS; i++) {
        allocs[1 + i % 3] += workers[i].allocs;
        frees[1 + i % 3] += workers[i].frees;
    }
    for (int i = 0; i < N_BUDGETS; i++) {
        memgov_budget_stats st = {.struct_size = sizeof st};
        assert_int_equal(memgov_budget_get_stats(budgets[i], &st), MEMGOV_OK);
        assert_int_equal(st.allocations, allocs[i]);
        assert_int_equal(st.frees, frees[i]);
    }

    for (int i = 0; i < WORKERS; i++)
        for (int s = 0; s < SLOTS; s++)
            if (workers[i].blocks[s] != NULL) {
                memgov_free(workers[i].budget, workers[i].blocks[s]);
                frees[1 + i % 3]++;
            }
    mg_backend_thread_flush();
    for (int i = 0; i < N_BUDGETS; i++) {
        memgov_budget_stats st = {.struct_size = sizeof st};
        assert_int_equal(memgov_budget_get_stats(budgets[i], &st), MEMGOV_OK);
        assert_int_equal(st.frees, frees[i]);
        assert_int_equal(st.frees, st.allocations);
    }
    for (int i = 0; i < N_BUDGETS; i++) {
        memgov_budget_stats st = {.struct_size = sizeof st};
        assert_int_equal(memgov_budget_get_stats(budgets[i], &st), MEMGOV_OK);
        assert_int_equal(st.used, 0);
        assert_true(st.peak <= caps[i]);
        assert_true(st.peak > 0);
#ifndef MG_ALLOC_LIBC
        if (i >= 1 && i <= 2)
            assert_int_equal(st.arena_allocated, 0);
#endif
    }
    assert_int_equal(memgov_budget_destroy(budgets[3]), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(budgets[2]), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(budgets[1]), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void caps_hold_and_the_books_balance_under_concurrent_churn(void **state)
{
    (void)state;
    churn_with_shards("2");
}

static void caps_hold_and_the_books_balance_with_one_shard(void **state)
{
    (void)state;
    churn_with_shards("1"); /* then each budget has shard 0 only (checked inside) */
}

/* Two live threads on a budget with shards for each get different arenas; blocks allocated on one shard and freed
 * through another go back to their own arena; the statistics sum the shards and match the accounting exactly;
 * children without an arena of their own use their parent's shards; a single-arena budget has none. */
typedef struct shard_job {
    memgov_budget *b, *child;
    unsigned arena, child_arena;
    void *blocks[64];
} shard_job;

static void *allocate_on_a_shard(void *arg)
{
    shard_job *j = arg;
    for (int i = 0; i < 64; i++) {
        j->blocks[i] = memgov_malloc(i % 2 ? j->b : j->child, i == 63 ? 300 * 1024 : (size_t)16 << (i % 10));
        assert_non_null(j->blocks[i]);
    }
    j->arena = mg_budget_arena(j->b);
    j->child_arena = mg_budget_arena(j->child);
    return NULL; /* this thread's tcaches are given back as it exits */
}

/* A thread whose shard cannot be made (an injected arena failure) allocates from shard 0, without an error. */
typedef struct fallback_job {
    memgov_budget *b;
    unsigned shard, arena, injected;
    void *block;
} fallback_job;

static void *allocate_without_a_new_shard(void *arg)
{
    fallback_job *j = arg;
    mg_fault_arm(MG_FAULT_ALLOC, 0, 1); /* the shard's arena fails; the allocation after it does not */
    j->block = memgov_malloc(j->b, 100);
    j->injected = mg_fault_injected(MG_FAULT_ALLOC);
    mg_fault_disarm_all();
    j->shard = (mg_me.index - 1) % 16;
    j->arena = mg_budget_arena(j->b);
    return NULL;
}

static void threads_of_a_budget_use_their_own_shards_and_the_books_stay_exact(void **state)
{
    (void)state;
    memgov *gov = open_with_root(64 * MiB);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "budget.arena_shards", "16"), MEMGOV_OK);
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    o.flags = MEMGOV_BUDGET_OWN_ARENA;
    memgov_budget *b = NULL, *c = NULL, *single = NULL;
    assert_int_equal(memgov_budget_create(memgov_root(gov), &o, &b), MEMGOV_OK);
    memgov_budget_options_init(&o);
    assert_int_equal(memgov_budget_create(b, &o, &c), MEMGOV_OK);
    void *mine = memgov_malloc(b, 1000);
    unsigned my_arena = mg_budget_arena(b);
    assert_int_equal(my_arena, atomic_load(&b->shard[(mg_me.index - 1) % 16]));
    fallback_job fj = {.b = b};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, allocate_without_a_new_shard, &fj), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_non_null(fj.block);
    assert_int_equal(fj.injected, 1);
    assert_int_not_equal(fj.shard, (mg_me.index - 1) % 16); /* two live threads: two shards */
#ifndef MG_ALLOC_LIBC
    unsigned from = 0;
    size_t len = sizeof from;
    assert_int_equal(mgje_mallctl("arenas.lookup", &from, &len, &fj.block, sizeof fj.block), 0);
    assert_int_equal(from, b->arena); /* the shard could not be made: shard 0 served the block */
#endif
    assert_int_equal(atomic_load(&b->shard[fj.shard]), fj.arena); /* made at the thread's next call */
    memgov_free(b, fj.block);
    shard_job j = {.b = b, .child = c};
    assert_int_equal(pthread_create(&t, NULL, allocate_on_a_shard, &j), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_not_equal(j.arena, my_arena); /* both threads alive at once: different indices, 16 shards */
    assert_int_equal(j.child_arena, j.arena);
    uint64_t live = memgov_usable_size(b, mine);
    for (int i = 0; i < 64; i++)
        live += memgov_usable_size(b, j.blocks[i]);
    mg_backend_thread_flush();
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(b, &st), MEMGOV_OK);
    assert_int_equal(st.used, live);
#ifndef MG_ALLOC_LIBC
    assert_int_equal(st.arena_allocated, live); /* the sum over both shards */
#endif
    for (int i = 0; i < 64; i++) /* freed through this thread's shard */
        memgov_free(i % 2 ? b : c, j.blocks[i]);
    memgov_free(b, mine);
    mg_backend_thread_flush();
    assert_int_equal(memgov_budget_get_stats(b, &st), MEMGOV_OK);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.allocations, st.frees);
#ifndef MG_ALLOC_LIBC
    assert_int_equal(st.arena_allocated, 0);
#endif

    /* One shard: every thread uses shard 0; a single-arena budget never has more. */
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "budget.arena_shards", "1"), MEMGOV_OK);
    shard_job k = {.b = b, .child = c};
    assert_int_equal(pthread_create(&t, NULL, allocate_on_a_shard, &k), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(k.arena, b->arena);
    for (int i = 0; i < 64; i++)
        memgov_free(i % 2 ? b : c, k.blocks[i]);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "budget.arena_shards", "16"), MEMGOV_OK);
    memgov_budget_options_init(&o);
    o.flags = MEMGOV_BUDGET_OWN_ARENA;
    assert_int_equal(memgov_budget_create(memgov_root(gov), &o, &single), MEMGOV_OK);
    single->single_arena = true;
    shard_job s = {.b = single, .child = single};
    assert_int_equal(pthread_create(&t, NULL, allocate_on_a_shard, &s), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s.arena, single->arena);
    assert_int_equal(shards_made(single), 1);
    for (int i = 0; i < 64; i++)
        memgov_free(single, s.blocks[i]);
    assert_int_equal(memgov_budget_destroy(single), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(c), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* Reservations from several threads against one cap: every successful one fits, the total never crosses it. */
static atomic_ulong reserved_ok;

/* The same churn and watcher over a file-backed budget (memgov/memmap.h: its arena's extents come from a file,
 * no thread caches), its child sharing the file, and a RAM budget spilling its refused large requests into it:
 * the caps hold whenever the watcher looks, spilled blocks are found and freed by the RAM budget from any thread,
 * and the books balance, the file arena's allocated bytes included. */
static void caps_hold_on_a_file_backed_budget_and_its_spill_under_concurrent_churn(void **state)
{
    (void)state;
    uint64_t saved[N_BUDGETS];
    memcpy(saved, caps, sizeof caps);
    uint64_t file_caps[N_BUDGETS] = {20 * MiB, 24 * MiB, 8 * MiB, 6 * MiB};
    memcpy(caps, file_caps, sizeof caps);
    memgov *gov = open_with_root(caps[0]);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "budget.arena_shards", "2"), MEMGOV_OK);
    budgets[0] = memgov_root(gov);
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "file";
    bo.hard_limit = caps[1];
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo); /* $TMPDIR, else /var/tmp */
    assert_int_equal(memgov_file_budget_create(budgets[0], &bo, &fo, &budgets[1]), MEMGOV_OK);
    bo.name = "ram";
    bo.hard_limit = caps[2];
    assert_int_equal(memgov_budget_create(budgets[0], &bo, &budgets[2]), MEMGOV_OK);
    bo.name = "file/shared";
    bo.hard_limit = caps[3];
    assert_int_equal(memgov_budget_create(budgets[1], &bo, &budgets[3]), MEMGOV_OK);
    assert_int_equal(memgov_budget_set_spill(budgets[2], budgets[1], 256 * 1024), MEMGOV_OK);

    static worker workers[WORKERS];
    atomic_store(&over_cap_seen, 0);
    churn_for_a_second(workers, 11u, 17u);
    assert_int_equal(atomic_load(&over_cap_seen), 0);

    assert_int_equal(shards_made(budgets[1]), 1); /* a file-backed budget has exactly one arena */
    memgov_spill_stats sp = {.struct_size = sizeof sp};
    assert_int_equal(memgov_spill_get_stats(budgets[2], &sp), MEMGOV_OK);
    uint64_t live[N_BUDGETS] = {0}, spilled = 0;
    for (int i = 0; i < WORKERS; i++) {
        assert_int_equal(workers[i].corrupted, 0);
        for (int s = 0; s < SLOTS; s++) {
            void *p = workers[i].blocks[s];
            if (p == NULL)
                continue;
            uint64_t n = memgov_usable_size(workers[i].budget, p);
            if (workers[i].budget == budgets[2] && mg_spill_owner(budgets[2], p) != NULL)
                spilled += n;
            else
                live[1 + i % 3] += n;
        }
    }
    assert_true(sp.spilled > 0); /* the RAM budget's cap was hit by requests that could spill */
    assert_int_equal(sp.live_bytes, spilled);
    assert_int_equal(used_of(budgets[3]), live[3]);
    assert_int_equal(used_of(budgets[1]), live[1] + live[3] + spilled);
    assert_int_equal(used_of(budgets[2]), live[2]);
    assert_int_equal(used_of(budgets[0]), live[2]); /* the file's bytes are not charged to the root */
#ifndef MG_ALLOC_LIBC
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(budgets[1], &st), MEMGOV_OK);
    assert_int_equal(st.arena_allocated, st.used); /* no thread cache holds a block of the file's arena */
#endif
    for (int i = 0; i < WORKERS; i++)
        for (int s = 0; s < SLOTS; s++)
            memgov_free(workers[i].budget, workers[i].blocks[s]);
    mg_backend_thread_flush();
    for (int i = 0; i < N_BUDGETS; i++) {
        memgov_budget_stats b = {.struct_size = sizeof b};
        assert_int_equal(memgov_budget_get_stats(budgets[i], &b), MEMGOV_OK);
        assert_int_equal(b.used, 0);
        assert_true(b.peak <= caps[i]);
    }
    assert_int_equal(memgov_budget_set_spill(budgets[2], NULL, 0), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(budgets[3]), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(budgets[2]), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(budgets[1]), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    memcpy(caps, saved, sizeof caps);
}

static void *reserve_loop(void *arg)
{
    memgov_budget *b = arg;
    for (int i = 0; i < 20000; i++) {
        if (memgov_reserve(b, 4096) == MEMGOV_OK) {
            atomic_fetch_add(&reserved_ok, 1);
            memgov_release(b, 4096);
        }
    }
    return NULL;
}

static void concurrent_reservations_respect_the_cap(void **state)
{
    (void)state;
    memgov *gov = open_with_root(3 * 4096);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reserve_loop, memgov_root(gov)), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(memgov_root(gov), &st), MEMGOV_OK);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.reserved, 0);
    assert_true(st.peak <= 3 * 4096);
    assert_true(atomic_load(&reserved_ok) > 0);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* The first calls of memgov_default() race: every thread must get the same governor. */
static void *ask_default(void *arg)
{
    (void)arg;
    return memgov_default();
}

static void the_default_governor_is_created_once_under_a_race(void **state)
{
    (void)state;
    pthread_t t[4];
    void *got[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ask_default, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], &got[i]), 0);
    assert_non_null(got[0]);
    for (int i = 1; i < 4; i++)
        assert_ptr_equal(got[i], got[0]);
    assert_ptr_equal(memgov_default(), got[0]);
}

/* Refusals on several threads at once: each runs the reclaim callback once and reaches the root's listener. */
static atomic_ulong refusals_heard, reclaim_calls;

static void hear(const memgov_event *ev, void *user)
{
    (void)user;
    if (ev->kind == MEMGOV_EVENT_HARD_REFUSAL)
        atomic_fetch_add(&refusals_heard, 1);
}

static uint64_t reclaim_nothing(memgov_budget *refusing, uint64_t needed, void *user)
{
    (void)refusing, (void)needed, (void)user;
    atomic_fetch_add(&reclaim_calls, 1);
    return 0;
}

#define REFUSALS_PER_THREAD 2000

static void *over_ask(void *arg)
{
    memgov_budget *b = arg;
    for (int i = 0; i < REFUSALS_PER_THREAD; i++)
        if (memgov_reserve(b, 2 * MiB) != MEMGOV_ENOMEM)
            return arg;
    return NULL;
}

static void concurrent_refusals_each_reclaim_once_and_are_all_heard(void **state)
{
    (void)state;
    memgov *gov = open_with_root(1 * MiB);
    memgov_budget *root = memgov_root(gov), *b;
    assert_int_equal(memgov_budget_create(root, NULL, &b), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_listener(root, hear, NULL, NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_reclaim(b, reclaim_nothing, NULL, 0, NULL), MEMGOV_OK);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, over_ask, b), 0);
    for (int i = 0; i < WORKERS; i++) {
        void *failed;
        assert_int_equal(pthread_join(t[i], &failed), 0);
        assert_null(failed);
    }
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(root, &st), MEMGOV_OK);
    assert_int_equal(st.refusals, WORKERS * REFUSALS_PER_THREAD);
    assert_int_equal(st.used, 0);
    assert_int_equal(atomic_load(&refusals_heard), WORKERS * REFUSALS_PER_THREAD);
    assert_int_equal(atomic_load(&reclaim_calls), WORKERS * REFUSALS_PER_THREAD);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- stocks held by other threads: the drain handshake (charge.c) ------------------------------------------ */

static pthread_barrier_t holder_bar;

static void *hold_a_stock(void *arg)
{
    memgov_budget *b = arg;
    void *p = memgov_malloc(b, 100); /* takes this thread's slot and leaves a stock of pre-charged bytes in it */
    assert_non_null(p);
    pthread_barrier_wait(&holder_bar); /* the stock is there */
    pthread_barrier_wait(&holder_bar); /* the main thread has allocated past it */
    memgov_free(b, p);
    return NULL;
}

static void a_refusal_drains_stocks_held_by_other_threads(void **state)
{
    (void)state;
    memgov *gov = open_with_root(7 * MiB + 64 * 1024);
    memgov_budget *root = memgov_root(gov);
    pthread_barrier_init(&holder_bar, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_a_stock, root), 0);
    pthread_barrier_wait(&holder_bar);
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(root, &st), MEMGOV_OK);
    assert_true(st.peak > st.used + 60 * 1024); /* the other thread's stock (budget.charge_batch) is charged */
    /* Fits beside the other thread's live block, not beside its stock: the refusal path must take the stock. */
    void *big = memgov_malloc(root, 7 * MiB); /* a size class of its own */
    assert_non_null(big);
    assert_int_equal(memgov_budget_get_stats(root, &st), MEMGOV_OK);
    assert_int_equal(st.refusals, 0);
    pthread_barrier_wait(&holder_bar);
    pthread_join(t, NULL);
    memgov_free(root, big);
    assert_int_equal(memgov_budget_get_stats(root, &st), MEMGOV_OK);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.allocations, 2);
    assert_int_equal(st.frees, 2);
    pthread_barrier_destroy(&holder_bar);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

#define CHURNERS 2
#define CHURN_OPS 400000
static atomic_int churners_done;

static void *churn_small(void *arg)
{
    memgov_budget *b = arg;
    void *held[8] = {0};
    for (int i = 0; i < CHURN_OPS; i++) {
        int k = i & 7;
        if (held[k] != NULL)
            memgov_free(b, held[k]);
        held[k] = memgov_malloc(b, 16 + (size_t)(i % 61) * 16);
        assert_non_null(held[k]);
    }
    for (int k = 0; k < 8; k++)
        memgov_free(b, held[k]);
    atomic_fetch_add(&churners_done, 1);
    return NULL;
}

/* Owners update their slots while another thread keeps draining them (a limit change drains the subtree): no
 * update may be lost, so the books come out exact. Short-lived threads beyond the owned slot indices use the
 * shared slot and hand their indices on. */
static void drains_racing_with_owners_lose_no_update(void **state)
{
    (void)state;
    memgov *gov = open_with_root(64 * MiB);
    memgov_budget *root = memgov_root(gov);
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "child";
    bo.hard_limit = 32 * MiB;
    memgov_budget *b;
    assert_int_equal(memgov_budget_create(root, &bo, &b), MEMGOV_OK);
    atomic_store(&churners_done, 0);
    pthread_t t[CHURNERS];
    for (int i = 0; i < CHURNERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn_small, b), 0);
    unsigned long drains = 0;
    while (atomic_load(&churners_done) < CHURNERS) {
        assert_int_equal(memgov_budget_set_limits(b, 32 * MiB, 0), MEMGOV_OK);
        drains++;
    }
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(t[i], NULL);
    /* More threads than owned slot indices, all at once, then gone. */
    pthread_t many[MG_STOCK_OWNED + 4];
    for (int i = 0; i < MG_STOCK_OWNED + 4; i++)
        assert_int_equal(pthread_create(&many[i], NULL, churn_small, b), 0);
    for (int i = 0; i < MG_STOCK_OWNED + 4; i++)
        pthread_join(many[i], NULL);
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(b, &st), MEMGOV_OK);
    assert_int_equal(st.used, 0);
    uint64_t ops = (uint64_t)(CHURNERS + MG_STOCK_OWNED + 4) * CHURN_OPS;
    assert_int_equal(st.allocations, ops);
    assert_int_equal(st.frees, ops);
    assert_true(drains > 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(memgov_budget_get_stats(root, &st), MEMGOV_OK);
    assert_int_equal(st.used, 0);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static atomic_bool churn_stop;

static void *churn_until_stopped(void *arg)
{
    memgov_budget *b = arg;
    while (!atomic_load(&churn_stop)) {
        void *p = memgov_malloc(b, 48);
        assert_non_null(p);
        memgov_free(b, p);
    }
    return NULL;
}

/* fork() while another thread updates its slot: in the child that thread is gone (its slot index is free, a slot
 * it left marked busy does not block a drain), and draining, allocating and freeing work. */
static void a_child_of_fork_drains_and_allocates(void **state)
{
    (void)state;
#if defined(__SANITIZE_THREAD__)
    /* Every lock of the library is taken before fork() (src/internal/atfork.h), and jemalloc's prefork takes one
     * per arena and bin: together more than the 64 locks one thread may hold under TSan's deadlock detector, which
     * then fails a CHECK. The jemalloc and ASan builds run this test (and tests/concurrent/test_budget_races.c's). */
    print_message("skipped under ThreadSanitizer: fork() holds more locks than its deadlock detector can track\n");
    skip();
#endif
    memgov *gov = open_with_root(64 * MiB);
    /* With shards: the child's thread allocates on its own shard of the root, the churning thread on another. */
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "budget.arena_shards", "4"), MEMGOV_OK);
    memgov_budget *root = memgov_root(gov);
    atomic_store(&churn_stop, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn_until_stopped, root), 0);
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(20); /* a hang fails the test instead of stalling it */
            int ok = memgov_budget_set_limits(root, 64 * MiB, 0) == MEMGOV_OK; /* drains every slot */
            void *p = memgov_malloc(root, 48);
            ok = ok && p != NULL;
            memgov_free(root, p);
            _exit(ok ? 0 : 1);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    atomic_store(&churn_stop, true);
    pthread_join(t, NULL);
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(root, &st), MEMGOV_OK);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.allocations, st.frees);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(caps_hold_and_the_books_balance_under_concurrent_churn),
        cmocka_unit_test(caps_hold_and_the_books_balance_with_one_shard),
        cmocka_unit_test(threads_of_a_budget_use_their_own_shards_and_the_books_stay_exact),
        cmocka_unit_test(caps_hold_on_a_file_backed_budget_and_its_spill_under_concurrent_churn),
        cmocka_unit_test(concurrent_reservations_respect_the_cap),
        cmocka_unit_test(the_default_governor_is_created_once_under_a_race),
        cmocka_unit_test(concurrent_refusals_each_reclaim_once_and_are_all_heard),
        cmocka_unit_test(a_refusal_drains_stocks_held_by_other_threads),
        cmocka_unit_test(drains_racing_with_owners_lose_no_update),
        cmocka_unit_test(a_child_of_fork_drains_and_allocates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
