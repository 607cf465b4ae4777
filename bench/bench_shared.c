/* memgov_malloc/memgov_free through libmemgov.so, as a program that links the shared library (or Python's ctypes,
 * or R's dyn.load) calls them: a PLT call per function and global-dynamic TLS, which bench_alloc (linked with the
 * internal archive) does not pay. One thread allocates a batch of 32 blocks of one size (touching each) and frees
 * them, ROUNDS times; the figure is nanoseconds per malloc+free pair, the median of 7 runs. Only the public header
 * is used. Compare with bench_alloc's memgov column of the same build (docs/benchmarks.md).
 *
 * usage: bench_shared [SIZE [ROUNDS]]   (defaults 64 and 200000) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "capped.h"
#include "memgov.h"
#include "timing.h"

#define BATCH 32
#define RUNS 7

int main(int argc, char **argv)
{
    long size = argc > 1 ? atol(argv[1]) : 64, rounds = argc > 2 ? atol(argv[2]) : 200000;
    if (argc > 3 || size <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: bench_shared [SIZE [ROUNDS]]\n");
        return 2;
    }
    memgov_budget *b;
    if (bench_open_capped("bench_shared", &b) != 0)
        return 1;
    void *blocks[BATCH];
    double ns[RUNS];
    for (int run = 0; run < RUNS; run++) {
        double t0 = now_ns();
        for (long r = 0; r < rounds; r++) {
            for (int i = 0; i < BATCH; i++) {
                if ((blocks[i] = memgov_malloc(b, (size_t)size)) == NULL) {
                    fprintf(stderr, "bench_shared: %s\n", memgov_last_error());
                    return 1;
                }
                *(volatile char *)blocks[i] = 1;
            }
            for (int i = 0; i < BATCH; i++)
                memgov_free(b, blocks[i]);
        }
        ns[run] = (now_ns() - t0) / ((double)rounds * BATCH);
    }
    qsort(ns, RUNS, sizeof ns[0], by_value);
    printf("libmemgov.so, %ld B, 1 thread: %.1f ns per malloc+free pair (median of %d runs of %ld x %d pairs)\n",
           size, ns[RUNS / 2], RUNS, rounds, BATCH);
    return 0;
}
