/* Blocked exact kNN: the 5 nearest neighbours of every point of a small 2-D grid (a KNN graph: each point
 * excludes itself), with the scratch capped by a 16 KiB budget, so the distances are computed in many small
 * tiles; the result is the same as with a large cap. Build: see examples/meson.build (libmemgov_knn). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memgov.h"
#include "memgov/knn.h"

#define SIDE 30
#define N (SIDE * SIDE)
#define K 5

int main(void)
{
    static float pts[N * 2];
    for (int i = 0; i < N; i++) {
        pts[2 * i] = (float)(i % SIDE);
        pts[2 * i + 1] = (float)(i / SIDE);
    }
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    memgov_budget *scratch = NULL;
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "knn-scratch";
    bo.hard_limit = 16 * 1024;
    if (memgov_open(&go, &gov) != MEMGOV_OK || memgov_budget_create(memgov_root(gov), &bo, &scratch) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    static int64_t idx[N * K], idx_big[N * K];
    static float dist[N * K], dist_big[N * K];
    memgov_knn_options o;
    memgov_knn_options_init(&o);
    o.exclude_self = 1;
    o.scratch = scratch;
    memgov_knn_stats st = {.struct_size = sizeof st};
    if (memgov_knn(pts, N, NULL, 0, 2, K, &o, idx, dist, &st) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    printf("%d points, k = %d, scratch cap 16 KiB: %llu tiles of %llu queries x %llu points, %llu B scratch\n", N, K,
           (unsigned long long)st.tiles, (unsigned long long)st.query_block, (unsigned long long)st.base_block,
           (unsigned long long)st.scratch_bytes);
    printf("  %s\n", st.plan);
    int p = SIDE + 1; /* the point (1, 1): its 4 grid neighbours at distance 1, then a diagonal one at 2 */
    printf("neighbours of point %d (1,1):", p);
    for (int j = 0; j < K; j++)
        printf(" %lld (d2=%.0f)", (long long)idx[p * K + j], dist[p * K + j]);
    printf("\n");
    memgov_knn_options big;
    memgov_knn_options_init(&big);
    big.exclude_self = 1;
    big.scratch_bytes = 64u << 20;
    int same = memgov_knn(pts, N, NULL, 0, 2, K, &big, idx_big, dist_big, NULL) == MEMGOV_OK &&
               memcmp(idx, idx_big, sizeof idx) == 0 && memcmp(dist, dist_big, sizeof dist) == 0;
    printf("same result with a 64 MiB cap: %s\n", same ? "yes" : "NO");
    memgov_budget_destroy(scratch);
    memgov_close(gov);
    /* (1,1)'s neighbours: 1, 30, 32, 61 at distance 1 (lower index first), then 0 at distance 2 */
    return same && idx[p * K] == 1 && idx[p * K + 3] == 61 && idx[p * K + 4] == 0 ? 0 : 1;
}
