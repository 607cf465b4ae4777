/* bench_gpu: device budgets (memgov/gpu.h). Two modes:
 *
 *   bench_gpu pairs BACKEND [LIBRARY]   median ns per allocate+free pair of 64 KiB, 2 MiB and 64 MiB blocks,
 *                                       memgov_gpu_malloc/free against the backend's own calls (simulated: malloc
 *                                       and free; cuda: cuMemAllocFromPoolAsync / cuMemFreeAsync on a pool of its
 *                                       own with the same release threshold, and cuMemAlloc / cuMemFree)
 *   bench_gpu check [LIBRARY]           on a real CUDA device: the cap holds against the driver's own count, a
 *                                       refusal's message, the device refusal path; exit status 0 = all held
 *
 * BACKEND: sim or cuda. LIBRARY: the CUDA driver library (default libcuda.so.1). scripts/gpu-check.sh runs both
 * on a GPU machine; docs/benchmarks.md has the simulated figures and the command. Medians of 31 rounds of 200
 * pairs; the clock is CLOCK_MONOTONIC. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memgov.h"
#include "timing.h"

#define MiB ((uint64_t)1 << 20)
#define ROUNDS 31
#define PAIRS 200

typedef int (*cu_alloc_async_fn)(unsigned long long *, size_t, void *, void *);
typedef int (*cu_free_async_fn)(unsigned long long, void *);
typedef int (*cu_alloc_fn)(unsigned long long *, size_t);
typedef int (*cu_free_fn)(unsigned long long);
typedef int (*cu_pool_create_fn)(void **, const void *);
typedef int (*cu_pool_set_fn)(void *, int, void *);
typedef int (*cu_ctx_fn)(void *);
typedef int (*cu_ctx_pop_fn)(void **);
typedef int (*cu_sync_fn)(void);
typedef int (*cu_retain_fn)(void **, int);
typedef int (*cu_init_fn)(unsigned);

/* The driver's functions for the raw comparison (the same library memgov loads). */
typedef struct raw_cuda {
    cu_alloc_async_fn alloc_async;
    cu_free_async_fn free_async;
    cu_alloc_fn alloc;
    cu_free_fn free;
    cu_ctx_fn push;
    cu_ctx_pop_fn pop;
    cu_sync_fn sync;
    void *pool, *ctx;
} raw_cuda;

typedef enum { WAY_MEMGOV, WAY_SIM_RAW, WAY_CUDA_POOL, WAY_CUDA_PLAIN } way;

/* One round: PAIRS allocate+free pairs of `size`; ns per pair. */
static double round_ns(way w, memgov_budget *b, raw_cuda *rc, size_t size)
{
    double t0 = now_ns();
    for (int i = 0; i < PAIRS; i++) {
        if (w == WAY_MEMGOV) {
            void *p = memgov_gpu_malloc(b, size, NULL);
            if (p == NULL) {
                fprintf(stderr, "bench_gpu: %s\n", memgov_last_error());
                exit(2);
            }
            memgov_gpu_free(b, p, NULL);
        } else if (w == WAY_SIM_RAW) {
            void *p = malloc(size);
            __asm__ volatile("" : : "r"(p) : "memory");
            free(p);
        } else {
            unsigned long long p = 0;
            rc->push(rc->ctx);
            int r = w == WAY_CUDA_POOL ? rc->alloc_async(&p, size, rc->pool, NULL) : rc->alloc(&p, size);
            if (r != 0) {
                fprintf(stderr, "bench_gpu: driver allocation failed: %d\n", r);
                exit(2);
            }
            if (w == WAY_CUDA_POOL)
                rc->free_async(p, NULL);
            else
                rc->free(p);
            void *prev;
            rc->pop(&prev);
        }
    }
    if (w == WAY_CUDA_POOL || (w == WAY_MEMGOV && rc->sync != NULL)) {
        rc->push(rc->ctx);
        rc->sync();
        void *prev;
        rc->pop(&prev);
    }
    return (now_ns() - t0) / PAIRS;
}

static double median_ns(way w, memgov_budget *b, raw_cuda *rc, size_t size)
{
    double r[ROUNDS];
    round_ns(w, b, rc, size); /* warm-up */
    for (int i = 0; i < ROUNDS; i++)
        r[i] = round_ns(w, b, rc, size);
    qsort(r, ROUNDS, sizeof r[0], by_value);
    return r[ROUNDS / 2];
}

/* The raw driver path with a pool of its own at the same release threshold as memgov's. */
static int open_raw_cuda(const char *library, uint64_t threshold, raw_cuda *rc)
{
    void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return -1;
    cu_init_fn init = (cu_init_fn)dlsym(lib, "cuInit");
    cu_retain_fn retain = (cu_retain_fn)dlsym(lib, "cuDevicePrimaryCtxRetain");
    cu_pool_create_fn create = (cu_pool_create_fn)dlsym(lib, "cuMemPoolCreate");
    cu_pool_set_fn set = (cu_pool_set_fn)dlsym(lib, "cuMemPoolSetAttribute");
    rc->alloc_async = (cu_alloc_async_fn)dlsym(lib, "cuMemAllocFromPoolAsync");
    rc->free_async = (cu_free_async_fn)dlsym(lib, "cuMemFreeAsync");
    rc->alloc = (cu_alloc_fn)dlsym(lib, "cuMemAlloc_v2");
    rc->free = (cu_free_fn)dlsym(lib, "cuMemFree_v2");
    rc->push = (cu_ctx_fn)dlsym(lib, "cuCtxPushCurrent_v2");
    rc->pop = (cu_ctx_pop_fn)dlsym(lib, "cuCtxPopCurrent_v2");
    rc->sync = (cu_sync_fn)dlsym(lib, "cuCtxSynchronize");
    if (!init || !retain || !create || !set || !rc->alloc_async || !rc->free_async || !rc->alloc || !rc->free ||
        !rc->push || !rc->pop || !rc->sync || init(0) != 0 || retain(&rc->ctx, 0) != 0)
        return -1;
    struct {
        int alloc_type, handle_types, location_type, location_id;
        void *win32;
        unsigned char reserved[64];
    } props;
    memset(&props, 0, sizeof props);
    props.alloc_type = 1;
    props.location_type = 1;
    rc->push(rc->ctx);
    int r = create(&rc->pool, &props);
    if (r == 0)
        r = set(rc->pool, 4, &threshold);
    void *prev;
    rc->pop(&prev);
    return r == 0 ? 0 : -1;
}

static int pairs(const char *backend, const char *library)
{
    memgov *gov = NULL;
    if (memgov_open(NULL, &gov) != MEMGOV_OK)
        return 2;
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.library = library;
    o.sim_total = 4096 * MiB;
    o.flags = MEMGOV_GPU_NO_METRICS;
    memgov_gpu *gpu = NULL;
    int cuda = strcmp(backend, "cuda") == 0;
    if (memgov_gpu_open(gov, cuda ? MEMGOV_GPU_CUDA : MEMGOV_GPU_SIMULATED, 0, &o, &gpu) != MEMGOV_OK) {
        fprintf(stderr, "bench_gpu: %s\n", memgov_last_error());
        return 2;
    }
    memgov_gpu_stats s = {.struct_size = sizeof s};
    memgov_gpu_get_stats(gpu, &s);
    raw_cuda rc = {0};
    if (cuda && open_raw_cuda(library != NULL ? library : "libcuda.so.1", s.release_threshold, &rc) != 0) {
        fprintf(stderr, "bench_gpu: the raw driver path could not be set up\n");
        return 2;
    }
    printf("bench_gpu pairs: %s (%s), %llu bytes, release threshold %llu, %d rounds x %d pairs, medians\n",
           backend, s.device, (unsigned long long)s.device_total, (unsigned long long)s.release_threshold, ROUNDS,
           PAIRS);
    printf("%-10s %14s %14s %8s%s\n", "size", "memgov ns", cuda ? "pool ns" : "malloc ns", "ratio",
           cuda ? "   plain ns  ratio" : "");
    static const size_t sizes[] = {64 << 10, 2 << 20, 64 << 20};
    for (int i = 0; i < 3; i++) {
        double m = median_ns(WAY_MEMGOV, memgov_gpu_budget(gpu), &rc, sizes[i]);
        double r = median_ns(cuda ? WAY_CUDA_POOL : WAY_SIM_RAW, NULL, &rc, sizes[i]);
        printf("%-10zu %14.0f %14.0f %8.2f", sizes[i], m, r, m / r);
        if (cuda) {
            double p = median_ns(WAY_CUDA_PLAIN, NULL, &rc, sizes[i]);
            printf(" %10.0f %6.2f", p, m / p);
        }
        printf("\n");
    }
    memgov_gpu_close(gpu);
    memgov_close(gov);
    return 0;
}

/* On a real device: allocate 64 MiB blocks until refused; the cap must hold and the driver must agree. */
static int check(const char *library)
{
    int failures = 0;
    memgov *gov = NULL;
    memgov_open(NULL, &gov);
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.library = library;
    memgov_gpu *gpu = NULL;
    if (memgov_gpu_open(gov, MEMGOV_GPU_CUDA, 0, &o, &gpu) != MEMGOV_OK) {
        printf("FAIL open: %s\n", memgov_last_error());
        return 1;
    }
    memgov_gpu_stats s0 = {.struct_size = sizeof s0}, s1 = {.struct_size = sizeof s1};
    memgov_gpu_get_stats(gpu, &s0);
    memgov_gpu_close(gpu);
    /* the cap: 1 GiB, or a quarter of a smaller device, in whole 64 MiB blocks */
    uint64_t cap = s0.device_free / 4 < 1024 * MiB ? s0.device_free / 4 / (64 * MiB) * (64 * MiB) : 1024 * MiB;
    o.limit = cap;
    if (cap == 0 || memgov_gpu_open(gov, MEMGOV_GPU_CUDA, 0, &o, &gpu) != MEMGOV_OK) {
        printf("FAIL open with a cap of %llu: %s\n", (unsigned long long)cap, memgov_last_error());
        return 1;
    }
    memgov_gpu_get_stats(gpu, &s0);
    printf("device: %s, total %llu, free %llu, stream-ordered %u, threshold %llu\n", s0.device,
           (unsigned long long)s0.device_total, (unsigned long long)s0.device_free, s0.stream_ordered,
           (unsigned long long)s0.release_threshold);
    void *blocks[64];
    int n = 0;
    while (n < 64 && (blocks[n] = memgov_gpu_malloc(memgov_gpu_budget(gpu), 64 * MiB, NULL)) != NULL)
        n++;
    const char *why = memgov_last_error();
    memgov_gpu_get_stats(gpu, &s1);
    uint64_t driver_used = s0.device_free - s1.device_free;
    printf("%d blocks of 64 MiB fit under the cap of %llu; budget used %llu; the driver's free fell by %llu\n", n,
           (unsigned long long)cap, (unsigned long long)s1.used, (unsigned long long)driver_used);
    printf("refusal: %s\n", why);
    if ((uint64_t)n != cap / (64 * MiB) || s1.used != cap) {
        printf("FAIL cap: expected %llu blocks and the cap used\n", (unsigned long long)(cap / (64 * MiB)));
        failures++;
    }
    if (driver_used < cap) {
        printf("FAIL driver: the device's free memory fell by less than the blocks (%llu)\n",
               (unsigned long long)driver_used);
        failures++;
    }
    if (strstr(why, "device cuda0") == NULL || strstr(why, "hard limit") == NULL) {
        printf("FAIL message: the refusal does not name the device and the limit\n");
        failures++;
    }
    for (int i = 0; i < n; i++)
        memgov_gpu_free(memgov_gpu_budget(gpu), blocks[i], NULL);
    memgov_gpu_close(gpu);
    /* a device refusal: two device budgets on the same GPU (as two frameworks, or another process, would be);
     * the first takes all but an eighth of the free memory, the second asks for a quarter: its own budget allows
     * it, the device cannot */
    memgov_gpu *other = NULL;
    o.limit = 0;
    o.name = "first";
    memgov_gpu_open(gov, MEMGOV_GPU_CUDA, 0, &o, &gpu);
    o.name = "second";
    memgov_gpu_open(gov, MEMGOV_GPU_CUDA, 0, &o, &other);
    memgov_gpu_get_stats(gpu, &s0);
    uint64_t eighth = s0.device_free / 8;
    void *most = memgov_gpu_malloc(memgov_gpu_budget(gpu), (size_t)(s0.device_free - eighth), NULL);
    void *more = most != NULL ? memgov_gpu_malloc(memgov_gpu_budget(other), (size_t)(2 * eighth), NULL) : NULL;
    printf("device refusal: %s\n", most == NULL || more == NULL ? memgov_last_error() : "(allocated?)");
    memgov_gpu_get_stats(other, &s1);
    if (most == NULL || more != NULL || s1.device_refusals != 1 || strstr(memgov_last_error(), "free of") == NULL) {
        printf("FAIL device refusal: expected the second device budget's block refused by the device, once\n");
        failures++;
    }
    memgov_gpu_free(memgov_gpu_budget(other), more, NULL);
    memgov_gpu_free(memgov_gpu_budget(gpu), most, NULL);
    memgov_gpu_close(other);
    memgov_gpu_close(gpu);
    memgov_close(gov);
    printf("%s\n", failures == 0 ? "CHECK OK" : "CHECK FAILED");
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "pairs") == 0 && argc >= 3)
        return pairs(argv[2], argc >= 4 ? argv[3] : NULL);
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return check(argc >= 3 ? argv[2] : NULL);
    fprintf(stderr, "usage: bench_gpu pairs sim|cuda [LIBRARY] | bench_gpu check [LIBRARY]\n");
    return 2;
}
