/* Allocation + free throughput under a cap: memgov_malloc/memgov_free on a capped budget against the same
 * private jemalloc called directly with an explicit tcache (the cost of governance), glibc malloc, Debian's
 * jemalloc and mimalloc, in one run on one machine, for each thread count asked for. Three workloads:
 *
 *   batch  each thread repeatedly allocates a batch of 32 blocks of one size (touching each) and frees them, for
 *          each size (16 B .. 1 MiB);
 *   mix    each thread keeps 1024 slots and replaces a random one at each step: the old block is freed and a new
 *          one allocated, sizes drawn log-uniformly from 16 B to 64 KiB (the same sequence for every allocator);
 *   pc     producer/consumer: thread i allocates batches of 32 blocks (the mix's sizes) and hands them to thread
 *          i + 1 (mod the thread count) through a ring, which frees them: every block is freed by another thread
 *          (with one thread, by the same one).
 *
 * The figure is nanoseconds per malloc+free pair per thread, the median of several runs; each run is sized to
 * take about 40 ms by a calibration run (after a discarded one of that length, the warm-up). The scaling of n
 * threads is n x (ns at 1 thread) / (ns at n threads): n is perfect, the number of CPUs the most a machine can
 * show.
 *
 * After the times, the private jemalloc's arena lock owner switches per 1000 pairs for memgov and je-direct (a
 * lock taken by another thread than its last owner, counted by jemalloc's mutex statistics): how often threads
 * met on a shared arena's locks. They count only what the threads did at the same moment, so they too need the
 * threads to run in parallel (an idle machine).
 *
 * Columns: memgov; je-direct, the private jemalloc called with MALLOCX_ARENA + an explicit tcache (one arena, as
 * memgov before arena shards); mg-sized, memgov with memgov_sized_free; glibc; debian-je; mimalloc; then
 * memgov/direct and memgov/best (best: the fastest of glibc, Debian's jemalloc and mimalloc in that row).
 *
 * Debian's libjemalloc is linked in and so becomes the process's malloc (it cannot be dlopen'ed: static TLS,
 * docs/design.md 4.1); glibc's own malloc is then reached through dlsym on libc.so.6. mimalloc is called as
 * mi_malloc.
 *
 * usage: bench_alloc [RUNS [THREADS [WORKLOADS [SIZES]]]]
 *   RUNS       runs per figure, the median is printed (default 5, 1..15)
 *   THREADS    comma-separated thread counts (default 1,2; at most 64 threads)
 *   WORKLOADS  comma-separated, of batch, mix, pc (default batch,mix,pc)
 *   SIZES      comma-separated batch sizes in bytes (default 16,64,256,1024,4096,16384,65536,1048576) */
#include <dlfcn.h>
#include <math.h>
#include <mimalloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "budget/budget_internal.h"
#include "internal/je.h"
#include "memgov.h"
#include "setup.h"

#define BATCH 32
#define MAX_THREADS 64
#define MAX_RUNS 15
#define MAX_COUNTS 8
#define MAX_SIZES 16
#define MIX_SLOTS 1024
#define MIX_SIZES 4096 /* the mix's size sequence, per thread, repeated */
#define RING 256       /* producer/consumer ring capacity, in blocks (a multiple of BATCH) */
#define RUN_NS 40e6    /* a run's target duration */

typedef struct allocator {
    const char *name;
    void *(*alloc)(size_t size);
    void (*release)(void *p, size_t size);
} allocator;

/* ---- the contenders ------------------------------------------------------------------------------------ */

static memgov_budget *capped;

static void *mg_alloc(size_t size)
{
    return memgov_malloc(capped, size);
}

static void mg_release(void *p, size_t size)
{
    (void)size;
    memgov_free(capped, p);
}

/* memgov_sized_free: the caller gives the size (the general path then needs no size lookup). */
static void mg_release_sized(void *p, size_t size)
{
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

static void *je_direct_alloc(size_t size)
{
    return mgje_mallocx(size, MALLOCX_ARENA(direct_arena) | direct_flags());
}

static void je_direct_release(void *p, size_t size)
{
    (void)size;
    mgje_dallocx(p, direct_flags());
}

/* A thread's explicit tcache of the direct contender goes with the thread (as memgov's do). */
static void direct_thread_done(void)
{
    if (direct_tcache >= 0) {
        unsigned tc = (unsigned)direct_tcache;
        mgje_mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc);
        direct_tcache = -1;
    }
}

static void *(*glibc_malloc)(size_t);
static void (*glibc_free)(void *);

static void *glibc_alloc(size_t size)
{
    return glibc_malloc(size);
}

static void glibc_release(void *p, size_t size)
{
    (void)size;
    glibc_free(p);
}

static void *debian_je_alloc(size_t size)
{
    return malloc(size);
}

static void debian_je_release(void *p, size_t size)
{
    (void)size;
    free(p);
}

static void *mi_alloc(size_t size)
{
    return mi_malloc(size);
}

static void mi_release(void *p, size_t size)
{
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
#define FIRST_OTHER 3 /* glibc, debian-je, mimalloc: the contenders of memgov/best */

/* ---- the workloads ------------------------------------------------------------------------------------- */

typedef enum { BATCH_LOOP, MIX, PC } workload;

/* One producer/consumer ring, from thread i to thread i + 1: single producer, single consumer. */
typedef struct ring {
    alignas(64) _Atomic unsigned long head; /* blocks pushed */
    alignas(64) _Atomic unsigned long tail; /* blocks popped */
    void *slot[RING];
    size_t size[RING];
} ring;

typedef struct job {
    const allocator *a;
    workload w;
    size_t size;     /* batch */
    long rounds;     /* batches (batch, pc) or steps / BATCH (mix) */
    const size_t *sizes; /* the mix's sequence (MIX_SIZES) */
    ring *in, *out;  /* pc */
    pthread_barrier_t *start;
    double t0, t1; /* the thread's own start and end (after the barrier) */
} job;

static void *must(const allocator *a, size_t size)
{
    void *p = a->alloc(size);
    if (p == NULL) {
        fprintf(stderr, "%s: allocation of %zu bytes failed\n", a->name, size);
        exit(1);
    }
    *(volatile char *)p = 1;
    return p;
}

static void run_batch(const job *j)
{
    void *blocks[BATCH];
    for (long r = 0; r < j->rounds; r++) {
        for (int i = 0; i < BATCH; i++)
            blocks[i] = must(j->a, j->size);
        for (int i = BATCH - 1; i >= 0; i--)
            j->a->release(blocks[i], j->size);
    }
}

static void run_mix(const job *j)
{
    static _Thread_local void *slot[MIX_SLOTS];
    static _Thread_local size_t slot_size[MIX_SLOTS];
    memset(slot, 0, sizeof slot);
    unsigned x = 12345;
    long steps = j->rounds * BATCH;
    for (long s = 0; s < steps; s++) {
        x = x * 1103515245u + 12345u;
        unsigned k = (x >> 8) % MIX_SLOTS;
        size_t size = j->sizes[s % MIX_SIZES];
        if (slot[k] != NULL)
            j->a->release(slot[k], slot_size[k]);
        slot[k] = must(j->a, size);
        slot_size[k] = size;
    }
    for (unsigned k = 0; k < MIX_SLOTS; k++)
        if (slot[k] != NULL)
            j->a->release(slot[k], slot_size[k]);
}

/* Pushes a batch to the next thread when the ring has room, frees what the previous one sent, until this thread
 * has sent and freed rounds * BATCH blocks. */
static void run_pc(const job *j)
{
    unsigned long total = (unsigned long)j->rounds * BATCH, sent = 0, freed = 0, next_size = 0;
    unsigned idle = 0;
    while (sent < total || freed < total) {
        bool progress = false;
        unsigned long head = atomic_load_explicit(&j->out->head, memory_order_relaxed);
        if (sent < total && head - atomic_load_explicit(&j->out->tail, memory_order_acquire) <= RING - BATCH) {
            for (int i = 0; i < BATCH; i++, head++) {
                size_t size = j->sizes[next_size++ % MIX_SIZES];
                j->out->slot[head % RING] = must(j->a, size);
                j->out->size[head % RING] = size;
            }
            atomic_store_explicit(&j->out->head, head, memory_order_release);
            sent += BATCH;
            progress = true;
        }
        unsigned long tail = atomic_load_explicit(&j->in->tail, memory_order_relaxed);
        unsigned long avail = atomic_load_explicit(&j->in->head, memory_order_acquire);
        if (avail != tail) {
            for (; tail != avail; tail++, freed++)
                j->a->release(j->in->slot[tail % RING], j->in->size[tail % RING]);
            atomic_store_explicit(&j->in->tail, tail, memory_order_release);
            progress = true;
        }
        if (!progress && ++idle % 64 == 0)
            sched_yield(); /* more threads than CPUs: let the other side run */
    }
}

static double now_ns(void);

static void *thread_main(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->t0 = now_ns();
    if (j->w == BATCH_LOOP)
        run_batch(j);
    else if (j->w == MIX)
        run_mix(j);
    else
        run_pc(j);
    j->t1 = now_ns();
    direct_thread_done();
    return NULL;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static size_t mix_sizes[MAX_THREADS][MIX_SIZES];
static ring rings[MAX_THREADS];

/* Nanoseconds per malloc+free pair per thread, one run: from the first thread's start to the last one's end, as
 * the threads see them (thread creation excluded: they start at a barrier; the main thread's scheduling too). */
static double run_once(const allocator *a, workload w, size_t size, int threads, long rounds)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_t tid[MAX_THREADS];
    job jobs[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        atomic_store(&rings[t].head, 0);
        atomic_store(&rings[t].tail, 0);
    }
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){.a = a, .w = w, .size = size, .rounds = rounds, .sizes = mix_sizes[t],
                        .in = &rings[(t + threads - 1) % threads], .out = &rings[t], .start = &start};
        if (pthread_create(&tid[t], NULL, thread_main, &jobs[t]) != 0) {
            fprintf(stderr, "bench_alloc: cannot start thread %d\n", t);
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = 0, t1 = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (t == 0 || jobs[t].t0 < t0)
            t0 = jobs[t].t0;
        if (jobs[t].t1 > t1)
            t1 = jobs[t].t1;
    }
    double elapsed = t1 - t0;
    pthread_barrier_destroy(&start);
    return elapsed / ((double)rounds * BATCH);
}

/* The private jemalloc's arena locks (bins, large, extents, decay...), merged over its arenas: lock operations and
 * owner switches (the lock taken by another thread than its last owner: contention that a loaded machine does not
 * make up, unlike waiting times). */
static void je_locks(uint64_t *ops, uint64_t *switches)
{
    mg_je_stats_refresh();
    unsigned nbins = 0;
    size_t len = sizeof nbins;
    mgje_mallctl("arenas.nbins", &nbins, &len, NULL, 0);
    static const char *const arena_mutexes[] = {"large", "extent_avail", "extents_dirty", "extents_muzzy",
                                                "extents_retained", "decay_dirty", "decay_muzzy", "base",
                                                "tcache_list"};
    *ops = *switches = 0;
    char name[128];
    for (unsigned j = 0; j < nbins + sizeof arena_mutexes / sizeof arena_mutexes[0]; j++) {
        for (int k = 0; k < 2; k++) {
            const char *leaf = k == 0 ? "num_ops" : "num_owner_switch";
            if (j < nbins)
                snprintf(name, sizeof name, "stats.arenas.%u.bins.%u.mutex.%s", MALLCTL_ARENAS_ALL, j, leaf);
            else
                snprintf(name, sizeof name, "stats.arenas.%u.mutexes.%s.%s", MALLCTL_ARENAS_ALL,
                         arena_mutexes[j - nbins], leaf);
            uint64_t v = 0;
            len = sizeof v;
            if (mgje_mallctl(name, &v, &len, NULL, 0) == 0)
                *(k == 0 ? ops : switches) += v;
        }
    }
}

static int by_value(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The last median_run's private-jemalloc lock owner switches per 1000 malloc+free pairs (all its runs). */
static double last_switches;

static double median_run(const allocator *a, workload w, size_t size, int threads, int runs)
{
    /* Calibration: a short probe, then a run of about RUN_NS that is discarded (the warm-up: caches, arenas,
     * page faults) and gives the rounds of the measured runs. Before (issue 17), the probe alone gave the rounds,
     * capped at 20000: the fast contenders' runs lasted 5-10 ms, not RUN_NS, and a cold first contender (memgov,
     * the first on its arena in a row) ran still fewer, so that the per-run costs (a new thread's empty thread
     * caches, the mix's 1024 first allocations) weighed more: the same code measured twice in a row differed by
     * 6 ns per pair in the mix at one thread (22.0 against 15.8). */
    long rounds = 50;
    for (int k = 0; k < 2; k++) {
        double ns = run_once(a, w, size, threads, rounds);
        double want = RUN_NS / (ns * BATCH);
        rounds = want < 20 ? 20 : want > 1e6 ? 1000000 : (long)want;
    }
    double v[MAX_RUNS];
    uint64_t ops0, sw0, ops1, sw1;
    je_locks(&ops0, &sw0);
    for (int r = 0; r < runs; r++)
        v[r] = run_once(a, w, size, threads, rounds);
    je_locks(&ops1, &sw1);
    last_switches = 1000.0 * (double)(sw1 - sw0) / ((double)runs * rounds * BATCH * threads);
    qsort(v, (size_t)runs, sizeof v[0], by_value);
    return v[runs / 2];
}

/* ---- the tables ---------------------------------------------------------------------------------------- */

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
    double load[3] = {0};
    getloadavg(load, 3);
    const char *conf = getenv("MGJE_MALLOC_CONF");
    printf("machine: %s, %ld online CPUs, %s %s, load average %.2f %.2f %.2f at start\n", model,
           sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, load[0], load[1], load[2]);
    printf("memgov %s, %u arena shards per budget; private jemalloc malloc_conf: built-in%s%s; median of %d runs\n",
           memgov_version_string(), atomic_load(&capped->tree->arena_shards), conf ? " + MGJE_MALLOC_CONF=" : "",
           conf ? conf : "", runs);
}

/* Parses a comma-separated list of positive integers; returns how many, or -1. */
static int parse_list(const char *text, long *out, int max, long lo, long hi)
{
    int n = 0;
    const char *p = text;
    while (*p != '\0') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < lo || v > hi || n == max || (*end != ',' && *end != '\0'))
            return -1;
        out[n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

typedef struct row {
    workload w;
    size_t size;
    char label[24];
} row;

static void print_header(const char *first)
{
    printf("%-14s %3s", first, "thr");
    for (size_t a = 0; a < N_ALLOCATORS; a++)
        printf(" %10s", allocators[a].name);
    printf(" %13s %11s\n", "memgov/direct", "memgov/best");
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_alloc [RUNS [THREADS [WORKLOADS [SIZES]]]]\n"
                    "  RUNS 1..%d (default 5); THREADS e.g. 1,2,4,8,16 (default 1,2, at most %d);\n"
                    "  WORKLOADS of batch,mix,pc (default all); SIZES in bytes for batch (default 16 B .. 1 MiB)\n",
            MAX_RUNS, MAX_THREADS);
    return 2;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    long counts[MAX_COUNTS] = {1, 2}, sizes[MAX_SIZES] = {16, 64, 256, 1024, 4096, 16384, 65536, 1 << 20};
    int n_counts = 2, n_sizes = 8;
    bool want[3] = {true, true, true};
    if (runs < 1 || runs > MAX_RUNS)
        return usage();
    if (argc > 2 && (n_counts = parse_list(argv[2], counts, MAX_COUNTS, 1, MAX_THREADS)) <= 0)
        return usage();
    if (argc > 3) {
        want[0] = strstr(argv[3], "batch") != NULL;
        want[1] = strstr(argv[3], "mix") != NULL;
        want[2] = strstr(argv[3], "pc") != NULL;
        if (!want[0] && !want[1] && !want[2])
            return usage();
    }
    if (argc > 4 && (n_sizes = parse_list(argv[4], sizes, MAX_SIZES, 1, 1L << 30)) <= 0)
        return usage();
    if (argc > 5)
        return usage();

    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    glibc_malloc = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    glibc_free = libc ? (void (*)(void *))dlsym(libc, "free") : NULL;
    if (glibc_malloc == NULL || glibc_free == NULL || (void *)glibc_malloc == (void *)malloc) {
        fprintf(stderr, "bench_alloc: cannot reach glibc's own malloc (is Debian's libjemalloc linked first?)\n");
        return 1;
    }
    if (bench_setup("bench_alloc", &capped, &direct_arena) != 0)
        return 1;
    /* The mix's sizes: log-uniform from 16 B to 64 KiB, one sequence per thread, the same for every allocator. */
    for (int t = 0; t < MAX_THREADS; t++) {
        unsigned x = 977u * (unsigned)t + 1u;
        for (int i = 0; i < MIX_SIZES; i++) {
            x = x * 1103515245u + 12345u;
            double u = (double)(x >> 8) / (double)(1u << 24);
            mix_sizes[t][i] = (size_t)exp(log(16.0) + u * (log(65536.0) - log(16.0)));
        }
    }

    row rows[MAX_SIZES + 2];
    int n_rows = 0;
    if (want[0])
        for (int s = 0; s < n_sizes; s++) {
            rows[n_rows] = (row){.w = BATCH_LOOP, .size = (size_t)sizes[s]};
            char b[16];
            memgov_format_bytes((uint64_t)sizes[s], b, sizeof b);
            snprintf(rows[n_rows].label, sizeof rows[n_rows].label, "batch %s", b);
            n_rows++;
        }
    if (want[1])
        rows[n_rows++] = (row){.w = MIX, .label = "mix"};
    if (want[2])
        rows[n_rows++] = (row){.w = PC, .label = "pc"};

    describe_machine(runs);
    printf("ns per malloc+free pair per thread (lower is better); memgov under a 1 GiB cap, own arena\n\n");
    print_header("workload");
    static double ns[MAX_SIZES + 2][MAX_COUNTS][N_ALLOCATORS], switches[MAX_SIZES + 2][MAX_COUNTS][2];
    for (int r = 0; r < n_rows; r++) {
        for (int c = 0; c < n_counts; c++) {
            printf("%-14s %3ld", rows[r].label, counts[c]);
            fflush(stdout);
            double best = 0;
            for (size_t a = 0; a < N_ALLOCATORS; a++) {
                ns[r][c][a] = median_run(&allocators[a], rows[r].w, rows[r].size, (int)counts[c], runs);
                if (a < 2)
                    switches[r][c][a] = last_switches;
                if (a >= FIRST_OTHER && (best == 0 || ns[r][c][a] < best))
                    best = ns[r][c][a];
                printf(" %10.1f", ns[r][c][a]);
                fflush(stdout);
            }
            printf(" %13.2f %11.2f\n", ns[r][c][0] / ns[r][c][1], ns[r][c][0] / best);
        }
    }
    printf("\nthe private jemalloc's arena lock owner switches per 1000 pairs (a lock taken by another thread than its "
           "last owner: contention on shared arenas, counted by jemalloc, not timed)\n%-14s", "workload");
    for (int c = 0; c < n_counts; c++)
        printf("   memgov/%-3ld direct/%-3ld", counts[c], counts[c]);
    printf("\n");
    for (int r = 0; r < n_rows; r++) {
        printf("%-14s", rows[r].label);
        for (int c = 0; c < n_counts; c++)
            printf(" %10.2f %10.2f", switches[r][c][0], switches[r][c][1]);
        printf("\n");
    }
    if (counts[0] != 1) {
        printf("\n(no scaling table: the first thread count is not 1)\n");
        return 0;
    }
    for (int c = 1; c < n_counts; c++) {
        printf("\nscaling to %ld threads (throughput at %ld / at 1; %ld.00 is perfect, this machine's CPUs the most it "
               "can show)\n", counts[c], counts[c], counts[c]);
        printf("%-14s", "workload");
        for (size_t a = 0; a < N_ALLOCATORS; a++)
            printf(" %10s", allocators[a].name);
        printf("\n");
        for (int r = 0; r < n_rows; r++) {
            printf("%-14s", rows[r].label);
            for (size_t a = 0; a < N_ALLOCATORS; a++)
                printf(" %10.2f", (double)counts[c] * ns[r][0][a] / ns[r][c][a]);
            printf("\n");
        }
    }
    return 0;
}
