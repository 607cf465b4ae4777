/*
 * memgov/knn.h — exact k nearest neighbours in blocks, with scratch memory under a budget's cap.
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 * MEMGOV_LIBRARY: libmemgov_knn
 *
 * This header's functions live in their own library, libmemgov_knn.so.1 (pkg-config memgov-knn; link with
 * -lmemgov_knn -lmemgov), because they need a BLAS: OpenBLAS would add libopenblas, libgfortran and libquadmath
 * to every process that loads libmemgov.so, and start OpenBLAS's thread pool in it (docs/chunking.md, "Why a
 * separate library"). Exported under the MEMGOV_EXPERIMENTAL version node of that library.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_KNN_H
#define MEMGOV_KNN_H

#include "memgov/budget.h"
#include "memgov/common.h"
#include "memgov/threads.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Distance measures. Values are pinned. */
typedef enum memgov_knn_metric {
    MEMGOV_KNN_L2 = 1,            /* squared Euclidean distance |q - b|^2 (as faiss IndexFlatL2); smallest first */
    MEMGOV_KNN_INNER_PRODUCT = 2, /* the inner product q . b; largest first */
    MEMGOV_KNN_COSINE = 3,        /* 1 - cos(q, b) (1 when either vector is zero); smallest first */
} memgov_knn_metric;

/* Called after each block of queries is finished, from the thread that computed it (one call at a time): rows
 * finished so far out of all. Return 0 to go on, non-zero to stop (memgov_knn() then returns
 * MEMGOV_ECANCELED). It may change budgets' limits (tests use it to shrink the cap mid-way). */
typedef int (*memgov_knn_progress_fn)(uint64_t done, uint64_t total, void *user);

/* Options (struct_size rule; fill with memgov_knn_options_init()). */
typedef struct memgov_knn_options {
    size_t struct_size;
    memgov_knn_metric metric;   /* 0 = MEMGOV_KNN_L2 */
    int exclude_self;           /* 1 = queries are the base (queries NULL): row i never lists itself (KNN graphs) */
    memgov_budget *scratch;     /* the scratch (distance tiles, norms, heaps) is allocated from it, and the tiles
                                   are sized by the chunk planner from its headroom, so the scratch never exceeds
                                   its cap. Borrowed. NULL = scratch_bytes alone, from malloc */
    uint64_t scratch_bytes;     /* a byte target for the scratch of all threads together; with a budget the smaller
                                   of the two. 0 = the budget's headroom alone (then a budget is required) */
    uint32_t threads;           /* worker threads, each with its own blocks of queries and its own scratch; 0 = 1.
                                   Each calls the BLAS on its own: set OPENBLAS_NUM_THREADS=1 to avoid
                                   oversubscription. At most 256. They run on memgov_parallel_for: without a
                                   lease (below), on a lease of up to this many from the default governor
                                   (memgov_default()), nested in the calling thread's current lease of it, taken
                                   for the call; the scratch is planned for `threads` either way */
    memgov_knn_progress_fn progress; /* NULL = none */
    void *progress_user;
    memgov_threads_lease *lease; /* run on this lease's threads instead (memgov/threads.h); `threads` is then
                                    ignored and the scratch is planned for the lease's count. Borrowed: it must
                                    stay held during the call. NULL = see threads */
} memgov_knn_options;

/* Fills o with the defaults (L2, no exclusion, no budget, 1 thread) and sets struct_size. Thread safety: any. */
MEMGOV_API void memgov_knn_options_init(memgov_knn_options *o);

/* What a call did (struct_size rule, stats direction). */
typedef struct memgov_knn_stats {
    size_t struct_size;
    uint64_t query_block;   /* queries per block (the planner's items) */
    uint64_t base_block;    /* base vectors per tile */
    uint64_t tiles;         /* query block x base tile products computed */
    uint64_t scratch_bytes; /* the scratch of one thread, bytes; all threads hold threads x this at most */
    char plan[192];         /* the planner's reason for query_block */
} memgov_knn_stats;

/* The k nearest base vectors of each query. base: n x d float32, row-major; queries: m x d, or NULL for the base
 * itself (m is then ignored and taken as n). Writes, for query row i, indices[i*k .. i*k+k-1] (int64, base row
 * numbers) and distances[...] (float32, by the metric) in order, nearest first; ties are broken by the lower
 * index, so results are the same whatever the tile sizes and thread count. When fewer than k candidates exist
 * (k > n, or k >= n with exclude_self), the rest of the row is index -1 and distance +inf (-inf for the inner
 * product). stats may be NULL.
 *
 * Candidates come from SGEMM (OpenBLAS): |q|^2 + |b|^2 - 2 q.b for L2; each query keeps its 2k best by those,
 * whose distances are then computed again exactly (in double) and returned rounded to float, the k nearest by
 * (exact distance, index). A neighbour is missed only if more than k points are nearer by SGEMM's rounding but
 * not exactly (docs/chunking.md).
 *
 * Tiles: base tiles of at most 4096 vectors (fewer when the cap is small) and blocks of queries sized by
 * memgov_chunk_plan_compute() with item_bytes = the scratch one query needs (its tile row, its norm, its heap of
 * 2k) and in_flight = threads. Scratch is allocated per block from the budget and freed after it.
 *
 * Errors: MEMGOV_EINVAL (NULL arrays, n, d or k 0, exclude_self with queries given, unknown metric, bad
 * struct_size), MEMGOV_ERANGE (threads over 256), MEMGOV_EOVERFLOW (m x k or a tile's bytes overflow),
 * MEMGOV_ENOMEM (the cap is smaller than the scratch of one query against one base vector, or the budget refused
 * a block's scratch: the message names both; rows of blocks not finished are not written, so the output is
 * incomplete), MEMGOV_ECANCELED (progress returned non-zero; output incomplete). Nothing is leaked on failure.
 * Thread safety: any thread; base and queries are read only. */
MEMGOV_API memgov_status memgov_knn(const float *base, uint64_t n, const float *queries, uint64_t m, uint32_t d,
                                   uint32_t k, const memgov_knn_options *opts, int64_t *indices, float *distances,
                                   memgov_knn_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_KNN_H */
