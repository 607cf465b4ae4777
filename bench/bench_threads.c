/* bench_threads: the thread-budget controller's costs (docs/threads.md), printed as tables with medians and
 * ratios, same run, same machine.
 *
 * 1. acquire + release of a lease (memgov_threads_acquire + memgov_threads_lease_free), uncontended and on 2
 *    threads at once, with and without a memory reservation, against a POSIX semaphore's sem_wait + sem_post (the
 *    hand-rolled way to cap concurrent workers).
 * 2. parallel-for overhead per task: N tasks of fixed work (about TASK_NS each) run by memgov_parallel_for
 *    (dynamic, grain 1 and automatic; static), by a plain pthread loop (threads created per loop, an atomic
 *    counter or static blocks) and by OpenMP `parallel for` (schedule dynamic,1 and static; gcc -fopenmp), all
 *    with the same W threads (the lease's count). Overhead per task = (time - serial time / W) / N.
 *
 * Usage: bench_threads [TASKS [REPEATS]]   (defaults 20000 and 15; a few seconds on 2 cores) */
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <memgov.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread: on a shared machine the wall time of a short loop is mostly waiting. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process: every thread of a parallel loop, its helpers' spinning or parking included. */
static uint64_t process_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- 1. acquire + release ------------------------------------------------------------------------------------ */

#define PAIRS 200000

typedef struct pair_arg {
    memgov *gov;
    uint64_t bpw;
    sem_t *sem; /* NULL: memgov */
    pthread_barrier_t *start;
    double ns, cpu;
    unsigned busy; /* memgov refusals (EBUSY) */
} pair_arg;

static void *pairs(void *p)
{
    pair_arg *a = p;
    if (a->start != NULL)
        pthread_barrier_wait(a->start);
    uint64_t t0 = now_ns(), c0 = cpu_ns();
    for (int i = 0; i < PAIRS; i++) {
        if (a->sem != NULL) {
            sem_wait(a->sem);
            sem_post(a->sem);
            continue;
        }
        memgov_threads_lease *l;
        if (memgov_threads_acquire(a->gov, 1, a->bpw, NULL, MEMGOV_THREADS_TOP_LEVEL, &l) == MEMGOV_OK)
            memgov_threads_lease_free(l);
        else
            a->busy++;
    }
    a->ns = (double)(now_ns() - t0) / PAIRS;
    a->cpu = (double)(cpu_ns() - c0) / PAIRS;
    return NULL;
}

/* ns per pair on `threads` threads (1 or 2) at once: the median over repeats of the mean of the threads, wall
 * time (returned) and thread CPU time (*cpu). */
static double time_pairs(memgov *gov, uint64_t bpw, sem_t *sem, int threads, int repeats, unsigned *busy,
                         double *cpu)
{
    double v[64], c[64];
    for (int r = 0; r < repeats; r++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)threads);
        pair_arg a[2] = {{gov, bpw, sem, &start, 0, 0, 0}, {gov, bpw, sem, &start, 0, 0, 0}};
        pthread_t t[2];
        for (int i = 1; i < threads; i++)
            pthread_create(&t[i], NULL, pairs, &a[i]);
        pairs(&a[0]);
        for (int i = 1; i < threads; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&start);
        v[r] = threads == 1 ? a[0].ns : (a[0].ns + a[1].ns) / 2;
        c[r] = threads == 1 ? a[0].cpu : (a[0].cpu + a[1].cpu) / 2;
        *busy += a[0].busy + a[1].busy;
    }
    *cpu = median(c, repeats);
    return median(v, repeats);
}

/* ---- 2. parallel-for --------------------------------------------------------------------------------------- */

static volatile double sink;
static unsigned task_iters = 256; /* calibrated to about TASK_NS */
#define TASK_NS 1000.0

static double task(uint64_t i)
{
    double x = (double)i;
    for (unsigned k = 0; k < task_iters; k++)
        x = x * 1.0000001 + 0.5;
    return x;
}

static memgov_status memgov_body(uint64_t b, uint64_t e, unsigned worker, void *ctx)
{
    (void)worker;
    (void)ctx;
    double s = 0;
    for (uint64_t i = b; i < e; i++)
        s += task(i);
    sink = s;
    return MEMGOV_OK;
}

typedef struct plain {
    uint64_t n;
    unsigned w, index;
    _Atomic uint64_t *next; /* NULL: static blocks */
} plain;

static void *plain_worker(void *p)
{
    plain *a = p;
    double s = 0;
    if (a->next != NULL) {
        for (uint64_t i; (i = atomic_fetch_add(a->next, 1)) < a->n;)
            s += task(i);
    } else {
        uint64_t b = a->n * a->index / a->w, e = a->n * (a->index + 1) / a->w;
        for (uint64_t i = b; i < e; i++)
            s += task(i);
    }
    sink = s;
    return NULL;
}

/* The plain pthread loop: W - 1 threads created for the loop, the caller the W-th. */
static void plain_loop(uint64_t n, unsigned w, int dynamic)
{
    _Atomic uint64_t next = 0;
    plain a[64];
    pthread_t t[64];
    for (unsigned i = 0; i < w; i++)
        a[i] = (plain){n, w, i, dynamic ? &next : NULL};
    for (unsigned i = 1; i < w; i++)
        pthread_create(&t[i], NULL, plain_worker, &a[i]);
    plain_worker(&a[0]);
    for (unsigned i = 1; i < w; i++)
        pthread_join(t[i], NULL);
}

#ifdef _OPENMP
static void omp_loop(uint64_t n, unsigned w, int dynamic)
{
    double s = 0;
    if (dynamic) {
#pragma omp parallel for num_threads(w) schedule(dynamic, 1) reduction(+ : s)
        for (long i = 0; i < (long)n; i++)
            s += task((uint64_t)i);
    } else {
#pragma omp parallel for num_threads(w) schedule(static) reduction(+ : s)
        for (long i = 0; i < (long)n; i++)
            s += task((uint64_t)i);
    }
    sink = s;
}
#endif

enum { M_DYN1, M_DYNAUTO, M_STATIC, P_DYN, P_STATIC, O_DYN, O_STATIC, METHODS };
static const char *const method_name[METHODS] = {
    "memgov_parallel_for, grain 1", "memgov_parallel_for, grain auto", "memgov_parallel_for_static",
    "plain pthreads per loop, atomic counter", "plain pthreads per loop, static blocks",
    "OpenMP parallel for, dynamic,1", "OpenMP parallel for, static"};

static void run_method(int m, memgov_threads_lease *lease, uint64_t n, unsigned w)
{
    switch (m) {
    case M_DYN1: memgov_parallel_for(lease, n, 1, memgov_body, NULL); break;
    case M_DYNAUTO: memgov_parallel_for(lease, n, 0, memgov_body, NULL); break;
    case M_STATIC: memgov_parallel_for_static(lease, n, 0, memgov_body, NULL); break;
    case P_DYN: plain_loop(n, w, 1); break;
    case P_STATIC: plain_loop(n, w, 0); break;
#ifdef _OPENMP
    case O_DYN: omp_loop(n, w, 1); break;
    case O_STATIC: omp_loop(n, w, 0); break;
#endif
    default: break;
    }
}

int main(int argc, char **argv)
{
    uint64_t tasks = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    int repeats = argc > 2 ? atoi(argv[2]) : 15;
    if (repeats < 1 || repeats > 64 || tasks == 0) {
        fprintf(stderr, "usage: bench_threads [TASKS [REPEATS (1..64)]]\n");
        return 2;
    }
    memgov_options o;
    memgov_options_init(&o);
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov;
    if (memgov_open(&o, &gov) != MEMGOV_OK) {
        fprintf(stderr, "memgov_open: %s\n", memgov_last_error());
        return 1;
    }
    memgov_threads_stats st = {.struct_size = sizeof st};
    memgov_threads_get_stats(gov, &st);
    double load[3] = {0};
    getloadavg(load, 3);
    printf("machine: %ld CPUs online, thread capacity %u (%s), load average %.2f %.2f %.2f\n",
           sysconf(_SC_NPROCESSORS_ONLN), st.capacity, st.capacity_why, load[0], load[1], load[2]);

    printf("\n1. acquire + release, ns per pair (median of %d runs of %d pairs)\n", repeats, PAIRS);
    sem_t sem;
    sem_init(&sem, 0, st.capacity);
    printf("%-48s %10s %10s %10s %10s\n", "", "wall 1 th", "wall 2 th", "CPU 1 th", "CPU 2 th");
    unsigned busy = 0;
    double c[6], wall[6];
    wall[0] = time_pairs(gov, 0, &sem, 1, repeats, &busy, &c[0]);
    wall[1] = time_pairs(gov, 0, &sem, 2, repeats, &busy, &c[1]);
    wall[2] = time_pairs(gov, 0, NULL, 1, repeats, &busy, &c[2]);
    wall[3] = time_pairs(gov, 0, NULL, 2, repeats, &busy, &c[3]);
    wall[4] = time_pairs(gov, 1 << 20, NULL, 1, repeats, &busy, &c[4]);
    wall[5] = time_pairs(gov, 1 << 20, NULL, 2, repeats, &busy, &c[5]);
    static const char *const rows[] = {"sem_wait + sem_post", "memgov acquire(1) + lease_free, no memory",
                                       "memgov acquire(1) + lease_free, 1 MiB reserved"};
    for (int i = 0; i < 3; i++)
        printf("%-48s %10.1f %10.1f %10.1f %10.1f\n", rows[i], wall[2 * i], wall[2 * i + 1], c[2 * i], c[2 * i + 1]);
    printf("%-48s %9.1fx %9.1fx %9.1fx %9.1fx\n", "ratio memgov (no memory) / semaphore", wall[2] / wall[0], wall[3] / wall[1],
           c[2] / c[0], c[3] / c[1]);
    printf("(memgov requests refused because all threads were leased: %u)\n", busy);

    memgov_threads_lease *lease;
    if (memgov_threads_acquire(gov, 64, 0, NULL, 0, &lease) != MEMGOV_OK) {
        fprintf(stderr, "acquire: %s\n", memgov_last_error());
        return 1;
    }
    unsigned w = memgov_threads_count(lease);
    /* calibrate the task to about TASK_NS */
    uint64_t t0 = now_ns();
    for (int i = 0; i < 2000; i++)
        sink = task((uint64_t)i);
    double per = (double)(now_ns() - t0) / 2000;
    task_iters = (unsigned)fmax(16, task_iters * TASK_NS / per);
    double serial[64], serial_cpu[64];
    for (int r = 0; r < repeats; r++) {
        t0 = now_ns();
        uint64_t c0 = process_cpu_ns();
        memgov_body(0, tasks, 0, NULL);
        serial[r] = (double)(now_ns() - t0);
        serial_cpu[r] = (double)(process_cpu_ns() - c0);
    }
    double ser = median(serial, repeats), ser_cpu = median(serial_cpu, repeats);
    printf("\n2. parallel-for: %llu tasks of %.0f ns CPU (serial: %.2f ms wall, %.2f ms CPU), W = %u threads; medians "
           "of %d runs\n", (unsigned long long)tasks, ser_cpu / (double)tasks, ser / 1e6, ser_cpu / 1e6, w, repeats);
    printf("%-44s %9s %9s %12s %12s %9s %9s\n", "", "wall ms", "CPU ms", "wall ovh/task", "CPU ovh/task",
           "wall/OMP", "CPU/OMP");
    double result[METHODS], cpu[METHODS];
    for (int m = 0; m < METHODS; m++) {
#ifndef _OPENMP
        if (m >= O_DYN) {
            result[m] = cpu[m] = NAN;
            continue;
        }
#endif
        double v[64], cv[64];
        run_method(m, lease, tasks, w); /* warm-up: the pool's and OpenMP's threads exist afterwards */
        for (int r = 0; r < repeats; r++) {
            t0 = now_ns();
            uint64_t c0 = process_cpu_ns();
            run_method(m, lease, tasks, w);
            v[r] = (double)(now_ns() - t0);
            cv[r] = (double)(process_cpu_ns() - c0);
        }
        result[m] = median(v, repeats);
        cpu[m] = median(cv, repeats);
    }
    for (int m = 0; m < METHODS; m++) {
        if (isnan(result[m])) {
            printf("%-44s (not built with OpenMP)\n", method_name[m]);
            continue;
        }
        int omp = m == M_STATIC || m == P_STATIC ? O_STATIC : O_DYN;
        printf("%-44s %9.2f %9.2f %9.1f ns %9.1f ns %8.2fx %8.2fx\n", method_name[m], result[m] / 1e6, cpu[m] / 1e6,
               (result[m] - ser / w) / (double)tasks, (cpu[m] - ser_cpu) / (double)tasks,
               result[m] / result[omp], cpu[m] / cpu[omp]);
    }
    /* the fork/join cost of one loop with W tiny tasks */
    task_iters = 1;
    printf("\n3. one loop of W = %u empty tasks, us per loop (medians of %d x 2000 loops)\n", w, repeats);
    printf("%-44s %9s %9s\n", "", "wall", "CPU");
    for (int m = 0; m < METHODS; m++) {
#ifndef _OPENMP
        if (m >= O_DYN)
            continue;
#endif
        double v[64], cv[64];
        for (int r = 0; r < repeats; r++) {
            t0 = now_ns();
            uint64_t c0 = process_cpu_ns();
            for (int i = 0; i < 2000; i++)
                run_method(m, lease, w, w);
            v[r] = (double)(now_ns() - t0) / 2000 / 1000;
            cv[r] = (double)(process_cpu_ns() - c0) / 2000 / 1000;
        }
        printf("%-44s %9.2f %9.2f\n", method_name[m], median(v, repeats), median(cv, repeats));
    }
    memgov_threads_lease_free(lease);
    sem_destroy(&sem);
    memgov_close(gov);
    return 0;
}
