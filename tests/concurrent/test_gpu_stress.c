/* Stress on device budgets (memgov/gpu.h), the simulated device: threads allocate and free random device blocks
 * (4 KiB to 4 MiB) against tight caps in a device tree (the device budget and two children) while a watcher reads
 * every budget's use and the monitor samples the device's metrics and evaluates the fallback machine (device
 * pressure included). The caps must hold at every moment the watcher looks, the device's own count must never pass
 * its total, and at the end the books balance: blocks, allocations and frees as the workers counted them, and
 * nothing left on the device. Runs for a fixed wall time (about a second); asserts nothing about speed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "internal/fault.h"
#include "memgov.h"

#define MiB ((uint64_t)1 << 20)
#define WORKERS 4
#define SLOTS 16
#define N_BUDGETS 3

static memgov_budget *budgets[N_BUDGETS]; /* the device budget, a, b */
static const uint64_t caps[N_BUDGETS] = {24 * MiB, 16 * MiB, 12 * MiB};
static memgov_gpu *gpu;
static memgov *gov;
static atomic_bool stop;
static atomic_ulong over_cap_seen, watcher_reads;

typedef struct worker {
    unsigned seed;
    memgov_budget *budget;
    void *blocks[SLOTS];
    unsigned long allocs, frees, refused, errors;
    char error[512]; /* the first unexpected error's message */
} worker;

static void unexpected(worker *w, const char *what)
{
    if (w->errors++ == 0)
        snprintf(w->error, sizeof w->error, "%s: %s: %s", what, memgov_status_name(memgov_last_status()),
                 memgov_last_error());
}

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static uint64_t used_of(memgov_budget *b)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    memgov_budget_get_stats(b, &st);
    return st.used;
}

static void *watch(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        for (int i = 0; i < N_BUDGETS; i++)
            if (used_of(budgets[i]) > caps[i])
                atomic_fetch_add(&over_cap_seen, 1);
        memgov_gpu_stats s = {.struct_size = sizeof s};
        memgov_gpu_get_stats(gpu, &s);
        if (s.device_total - s.device_free > s.device_total || s.used > caps[0])
            atomic_fetch_add(&over_cap_seen, 1);
        memgov_monitor_sample(memgov_governor_monitor(gov)); /* metrics and the fallback machine's pressure */
        atomic_fetch_add(&watcher_reads, 1);
    }
    return NULL;
}

static void *work(void *arg)
{
    worker *w = arg;
    while (!atomic_load(&stop)) {
        unsigned slot = next_rand(&w->seed) % SLOTS;
        if (w->blocks[slot] == NULL) {
            size_t size = (size_t)4096 << (next_rand(&w->seed) % 11); /* 4 KiB .. 4 MiB */
            w->blocks[slot] = memgov_gpu_malloc(w->budget, size, NULL);
            if (w->blocks[slot] != NULL) {
                w->allocs++;
                memset(w->blocks[slot], (int)slot, 64); /* simulated device memory is host memory */
            } else if (memgov_last_status() == MEMGOV_ENOMEM) {
                w->refused++;
            } else {
                unexpected(w, "memgov_gpu_malloc");
            }
        } else {
            if (memgov_gpu_free(w->budget, w->blocks[slot], NULL) == MEMGOV_OK)
                w->frees++;
            else
                unexpected(w, "memgov_gpu_free");
            w->blocks[slot] = NULL;
        }
    }
    return NULL;
}

static void caps_hold_and_the_books_balance_on_the_device(void **state)
{
    (void)state;
    memgov_options o;
    memgov_options_init(&o);
    o.flags = MEMGOV_OPEN_NO_ENV;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    memgov_gpu_options go;
    memgov_gpu_options_init(&go);
    go.sim_total = 32 * MiB;
    go.limit = caps[0];
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &go, &gpu), MEMGOV_OK);
    budgets[0] = memgov_gpu_budget(gpu);
    const char *names[N_BUDGETS] = {"device", "a", "b"};
    for (int i = 1; i < N_BUDGETS; i++) {
        memgov_budget_options bo;
        memgov_budget_options_init(&bo);
        bo.name = names[i];
        bo.hard_limit = caps[i];
        assert_int_equal(memgov_budget_create(budgets[0], &bo, &budgets[i]), MEMGOV_OK);
    }
    /* every 50th device call fails for a while: device refusals race with limit refusals */
    mg_fault_arm(MG_FAULT_GPU, 50, 200);
    worker workers[WORKERS];
    pthread_t threads[WORKERS], watcher;
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < WORKERS; i++) {
        workers[i].seed = 1234u + (unsigned)i * 77u;
        workers[i].budget = budgets[i % 3]; /* the device budget itself, a, b, and the device budget again */
        assert_int_equal(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    }
    assert_int_equal(pthread_create(&watcher, NULL, watch, NULL), 0);
    struct timespec t = {1, 0};
    nanosleep(&t, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    pthread_join(watcher, NULL);
    mg_fault_disarm_all();

    assert_int_equal(atomic_load(&over_cap_seen), 0);
    assert_true(atomic_load(&watcher_reads) > 0);
    unsigned long allocs = 0, frees = 0, refused = 0, live = 0;
    for (int i = 0; i < WORKERS; i++) {
        if (workers[i].errors != 0)
            fail_msg("worker %d: %lu unexpected error(s), the first: %s", i, workers[i].errors, workers[i].error);
        allocs += workers[i].allocs;
        frees += workers[i].frees;
        refused += workers[i].refused;
        for (int s = 0; s < SLOTS; s++)
            live += workers[i].blocks[s] != NULL;
    }
    assert_true(allocs > 0);
    assert_true(refused > 0); /* the caps were reached: the refusal path raced too */
    memgov_gpu_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_gpu_get_stats(gpu, &s), MEMGOV_OK);
    assert_int_equal(s.allocations, allocs);
    assert_int_equal(s.frees, frees);
    assert_int_equal(s.blocks, live);
    assert_int_equal(s.device_total - s.device_free, s.used); /* the device holds what the budgets count */
    for (int i = 0; i < WORKERS; i++)
        for (int k = 0; k < SLOTS; k++)
            if (workers[i].blocks[k] != NULL)
                assert_int_equal(memgov_gpu_free(workers[i].budget, workers[i].blocks[k], NULL), MEMGOV_OK);
    assert_int_equal(memgov_gpu_get_stats(gpu, &s), MEMGOV_OK);
    assert_int_equal(s.used, 0);
    assert_int_equal(s.device_free, s.device_total);
    assert_int_equal(s.blocks, 0);
    for (int i = 1; i < N_BUDGETS; i++)
        assert_int_equal(memgov_budget_destroy(budgets[i]), MEMGOV_OK);
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(caps_hold_and_the_books_balance_on_the_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
