/* memgov_knn() alone from C: the KNN graph (queries = base, self excluded) of N x 64 uniform float32 points,
 * k = 15, scratch capped at 256 MiB, THREADS worker threads; prints the wall time and the tiling. For sizes where
 * the Python comparison (bench/bench_knn.py) takes too long. usage: bench_knn_c [N [THREADS]] (run with
 * OPENBLAS_NUM_THREADS=1 when THREADS > 1). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "memgov/knn.h"

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    uint32_t d = 64, k = 15, threads = argc > 2 ? (uint32_t)atoi(argv[2]) : 1;
    float *x = malloc(n * d * sizeof *x);
    int64_t *idx = malloc(n * k * sizeof *idx);
    float *dist = malloc(n * k * sizeof *dist);
    if (n == 0 || x == NULL || idx == NULL || dist == NULL) {
        fprintf(stderr, "usage: bench_knn_c [N [THREADS]]\n");
        return 2;
    }
    unsigned seed = 1;
    for (uint64_t i = 0; i < n * d; i++)
        x[i] = (float)rand_r(&seed) / (float)RAND_MAX;
    memgov_knn_options o;
    memgov_knn_options_init(&o);
    o.exclude_self = 1;
    o.scratch_bytes = 256u << 20;
    o.threads = threads;
    memgov_knn_stats st = {.struct_size = sizeof st};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    memgov_status s = memgov_knn(x, n, NULL, 0, d, k, &o, idx, dist, &st);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (s != MEMGOV_OK) {
        fprintf(stderr, "bench_knn_c: %s\n", memgov_last_error());
        return 1;
    }
    printf("bench_knn_c: %llu x %u float32, k = %u, %u thread(s): %.1f s, %llu tiles of %llu queries x %llu "
           "points, %llu B scratch per thread\n", (unsigned long long)n, d, k, threads,
           (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9, (unsigned long long)st.tiles,
           (unsigned long long)st.query_block, (unsigned long long)st.base_block,
           (unsigned long long)st.scratch_bytes);
    free(x);
    free(idx);
    free(dist);
    return 0;
}
