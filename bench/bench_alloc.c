/* Allocation + free throughput under a cap: memgov_malloc/memgov_free on a capped budget against the same
 * private jemalloc called directly with an explicit tcache (the cost of governance), glibc malloc, Debian's
 * jemalloc and mimalloc, in one run on one machine. Each thread repeatedly allocates a batch of blocks of one
 * size (touching each) and frees them; the figure is nanoseconds per malloc+free pair per thread, the median
 * of several runs.
 *
 * A sixth column, mg-sized, is memgov with memgov_sized_free instead of memgov_free (the ratio column stays
 * memgov/je-direct).
 *
 * Debian's libjemalloc is linked in and so becomes the process's malloc (it cannot be dlopen'ed: static TLS,
 * docs/design.md 4.1); glibc's own malloc is then reached through dlsym on libc.so.6. mimalloc is called as mi_malloc.
 *
 * usage: bench_alloc [RUNS]   (default 5) */
#include <dlfcn.h>
#include <mimalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <time.h>

#include "internal/je.h"
#include "memgov.h"
#include "setup.h"

#define BATCH 32
#define MAX_THREADS 2
#define MAX_RUNS 15

typedef struct allocator {
    const char *name;
    void *(*alloc)(int thread, size_t size);
    void (*release)(int thread, void *p, size_t size);
} allocator;

/* ---- the contenders ------------------------------------------------------------------------------------ */

static memgov_budget *capped;

static void *mg_alloc(int t, size_t size)
{
    (void)t;
    return memgov_malloc(capped, size);
}

static void mg_release(int t, void *p, size_t size)
{
    (void)t;
    (void)size;
    memgov_free(capped, p);
}

/* memgov_sized_free: the caller gives the size, so the free needs no size lookup (the fast path's table). */
static void mg_release_sized(int t, void *p, size_t size)
{
    (void)t;
    memgov_sized_free(capped, p, size);
}

static unsigned direct_arena;
static _Thread_local int direct_tcache = -1;

static int direct_flags(void)
{
    if (direct_tcache < 0) {
        unsigned tc;
        size_t len = sizeof tc;
        if (mgje_mallctl("tcache.create", &tc, &len, NULL, 0) != 0)
            abort();
        direct_tcache = (int)tc;
    }
    return MALLOCX_TCACHE(direct_tcache);
}

static void *je_direct_alloc(int t, size_t size)
{
    (void)t;
    return mgje_mallocx(size, MALLOCX_ARENA(direct_arena) | direct_flags());
}

static void je_direct_release(int t, void *p, size_t size)
{
    (void)t;
    (void)size;
    mgje_dallocx(p, direct_flags());
}

static void *(*glibc_malloc)(size_t);
static void (*glibc_free)(void *);

static void *glibc_alloc(int t, size_t size)
{
    (void)t;
    return glibc_malloc(size);
}

static void glibc_release(int t, void *p, size_t size)
{
    (void)t;
    (void)size;
    glibc_free(p);
}

static void *debian_je_alloc(int t, size_t size)
{
    (void)t;
    return malloc(size);
}

static void debian_je_release(int t, void *p, size_t size)
{
    (void)t;
    (void)size;
    free(p);
}

static void *mi_alloc(int t, size_t size)
{
    (void)t;
    return mi_malloc(size);
}

static void mi_release(int t, void *p, size_t size)
{
    (void)t;
    (void)size;
    mi_free(p);
}

static const allocator allocators[] = {
    {"memgov", mg_alloc, mg_release},
    {"je-direct", je_direct_alloc, je_direct_release},
    {"mg-sized", mg_alloc, mg_release_sized},
    {"glibc", glibc_alloc, glibc_release},
    {"debian-je", debian_je_alloc, debian_je_release},
    {"mimalloc", mi_alloc, mi_release},
};
#define N_ALLOCATORS (sizeof allocators / sizeof allocators[0])

/* ---- the loop ------------------------------------------------------------------------------------------ */

typedef struct job {
    const allocator *a;
    int thread;
    size_t size;
    long rounds;
    pthread_barrier_t *start;
} job;

static void *churn(void *arg)
{
    job *j = arg;
    void *blocks[BATCH];
    pthread_barrier_wait(j->start);
    for (long r = 0; r < j->rounds; r++) {
        for (int i = 0; i < BATCH; i++) {
            blocks[i] = j->a->alloc(j->thread, j->size);
            if (blocks[i] == NULL) {
                fprintf(stderr, "%s: allocation of %zu bytes failed\n", j->a->name, j->size);
                exit(1);
            }
            *(volatile char *)blocks[i] = 1;
        }
        for (int i = BATCH - 1; i >= 0; i--)
            j->a->release(j->thread, blocks[i], j->size);
    }
    return NULL;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Nanoseconds per malloc+free pair per thread, one run. */
static double run_once(const allocator *a, size_t size, int threads, long rounds)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_t tid[MAX_THREADS];
    job jobs[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){.a = a, .thread = t, .size = size, .rounds = rounds, .start = &start};
        pthread_create(&tid[t], NULL, churn, &jobs[t]);
    }
    double t0 = now_ns();
    pthread_barrier_wait(&start);
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double elapsed = now_ns() - t0;
    pthread_barrier_destroy(&start);
    return elapsed / ((double)rounds * BATCH);
}

static int by_value(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median_run(const allocator *a, size_t size, int threads, int runs)
{
    long rounds = size <= 65536 ? 4000 : 200;
    double v[MAX_RUNS];
    run_once(a, size, threads, rounds / 4); /* warm-up: caches, arenas, page faults */
    for (int r = 0; r < runs; r++)
        v[r] = run_once(a, size, threads, rounds);
    qsort(v, (size_t)runs, sizeof v[0], by_value);
    return v[runs / 2];
}

static void describe_machine(int runs)
{
    struct utsname u;
    uname(&u);
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon != NULL) {
                    snprintf(model, sizeof model, "%s", colon + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    printf("machine: %s, %ld online CPUs, %s %s; memgov %s; median of %d runs; batch of %d blocks\n", model,
           sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, memgov_version_string(), runs, BATCH);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: bench_alloc [RUNS]  (1..%d)\n", MAX_RUNS);
        return 2;
    }
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    glibc_malloc = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    glibc_free = libc ? (void (*)(void *))dlsym(libc, "free") : NULL;
    if (glibc_malloc == NULL || glibc_free == NULL || (void *)glibc_malloc == (void *)malloc) {
        fprintf(stderr, "bench_alloc: cannot reach glibc's own malloc (is Debian's libjemalloc linked first?)\n");
        return 1;
    }
    if (bench_setup("bench_alloc", &capped, &direct_arena) != 0)
        return 1;

    describe_machine(runs);
    printf("ns per malloc+free pair per thread (lower is better); memgov under a 1 GiB cap, own arena\n\n");
    printf("%8s %3s", "size", "thr");
    for (size_t a = 0; a < N_ALLOCATORS; a++)
        printf(" %10s", allocators[a].name);
    printf(" %14s\n", "memgov/direct");
    static const size_t sizes[] = {16, 64, 256, 1024, 4096, 16384, 65536, 1 << 20};
    double ns[sizeof sizes / sizeof sizes[0]][MAX_THREADS + 1][N_ALLOCATORS];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int threads = 1; threads <= MAX_THREADS; threads++) {
            char label[16];
            memgov_format_bytes(sizes[s], label, sizeof label);
            printf("%8s %3d", label, threads);
            for (size_t a = 0; a < N_ALLOCATORS; a++) {
                ns[s][threads][a] = median_run(&allocators[a], sizes[s], threads, runs);
                printf(" %10.1f", ns[s][threads][a]);
                fflush(stdout);
            }
            printf(" %14.2f\n", ns[s][threads][0] / ns[s][threads][1]);
        }
    }
    printf("\nscaling to 2 threads (throughput at 2 threads / at 1 thread; 2.00 is perfect)\n%8s", "size");
    for (size_t a = 0; a < N_ALLOCATORS; a++)
        printf(" %10s", allocators[a].name);
    printf("\n");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        char label[16];
        memgov_format_bytes(sizes[s], label, sizeof label);
        printf("%8s", label);
        for (size_t a = 0; a < N_ALLOCATORS; a++)
            printf(" %10.2f", 2.0 * ns[s][1][a] / ns[s][2][a]);
        printf("\n");
    }
    return 0;
}
