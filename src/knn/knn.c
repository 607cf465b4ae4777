/* memgov_knn(): exact k nearest neighbours in tiles. Distances of a block of queries against a tile of base
 * vectors come from one SGEMM; each query keeps its 2k best by those distances in a bounded heap (topk.h) across
 * the tiles; then the distances of those 2k are computed again exactly (in double, in a fixed order) and the k
 * nearest by (exact distance, index) are returned. SGEMM's rounding depends on the tile shapes (its kernels
 * differ at the edges), the recomputation does not: the result is independent of the tile sizes and threads.
 * The tiles are sized by the chunk planner from the scratch budget, so the scratch never exceeds the cap. Built into
 * libmemgov_knn.so (the BLAS stays out of libmemgov.so: docs/chunking.md). Uses libmemgov.so's public API only. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/structsize.h"
#include "knn/topk.h"
#include "memgov/chunk.h"
#include "memgov/extension.h"
#include "memgov/knn.h"

#define BASE_TILE 4096   /* base vectors per tile when memory allows: a 4096-float row per query */
#define MAX_QUERY_BLOCK 2048
#define MAX_THREADS 256

MEMGOV_API void memgov_knn_options_init(memgov_knn_options *o)
{
    if (!mg_struct_init(o, sizeof *o))
        return;
    o->metric = MEMGOV_KNN_L2;
    o->threads = 1;
}

/* One call's shared state. */
typedef struct job {
    const float *base, *queries;
    uint64_t n, m;
    uint32_t d, k;
    uint32_t kk;              /* candidates kept by SGEMM distance: min(2k, n) */
    memgov_knn_options o;
    int64_t *indices;
    float *distances;
    uint64_t qb, nb;          /* queries per block, base vectors per tile */
    uint64_t blocks;
    size_t scratch_bytes;     /* one block's scratch */
    atomic_uint_fast64_t tiles;
    pthread_mutex_t lock;     /* the error and the progress callback */
    memgov_status error;
    char message[512];
    uint64_t done;
} job;

/* A candidate with its exact key (smaller is nearer; the inner product negated). */
typedef struct exact_cand {
    double key;
    int64_t idx;
} exact_cand;

/* The scratch one query needs in a block: its row of the distance tile, its norm, its heap. */
static uint64_t per_query_bytes(uint64_t nb, uint32_t kk)
{
    return nb * sizeof(float) + sizeof(float) + (uint64_t)kk * (sizeof(float) + sizeof(int64_t));
}

/* The scratch a block needs besides its queries: the base tile's norms and one row's exact candidates. */
static uint64_t per_block_bytes(uint64_t nb, uint32_t kk)
{
    return nb * sizeof(float) + (uint64_t)kk * sizeof(exact_cand);
}

static void fail(job *j, memgov_status st, const char *message)
{
    pthread_mutex_lock(&j->lock);
    if (j->error == MEMGOV_OK) {
        j->error = st;
        snprintf(j->message, sizeof j->message, "%s", message);
    }
    pthread_mutex_unlock(&j->lock);
}

static int exact_order(const void *a, const void *b)
{
    const exact_cand *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The exact key of q against b, in double, in one fixed order. */
static double exact_key(const float *q, const float *b, uint32_t d, memgov_knn_metric metric)
{
    double dot = 0, qq = 0, bb = 0, l2 = 0;
    for (uint32_t t = 0; t < d; t++) {
        double x = q[t], y = b[t];
        dot += x * y;
        qq += x * x;
        bb += y * y;
        l2 += (x - y) * (x - y);
    }
    if (metric == MEMGOV_KNN_L2)
        return l2;
    if (metric == MEMGOV_KNN_INNER_PRODUCT)
        return -dot;
    return qq > 0 && bb > 0 ? 1 - dot / sqrt(qq * bb) : 1;
}

/* The norm the metric needs of each of `rows` vectors: |v|^2 for L2, |v| for cosine. */
static void norms(const float *v, uint64_t rows, uint32_t d, memgov_knn_metric metric, float *out)
{
    for (uint64_t i = 0; i < rows; i++) {
        const float *x = v + i * d;
        float s = 0;
        for (uint32_t t = 0; t < d; t++)
            s += x[t] * x[t];
        out[i] = metric == MEMGOV_KNN_COSINE ? sqrtf(s) : s;
    }
}

/* Computes query block b: all base tiles, then the sorted rows into the caller's arrays. */
static void run_block(job *j, uint64_t b, char *scratch)
{
    uint64_t r0 = b * j->qb, rows = j->m - r0 < j->qb ? j->m - r0 : j->qb;
    const float *q = j->queries + r0 * j->d;
    float *tile = (float *)scratch;                     /* rows x nb */
    float *qn = tile + rows * j->nb;                   /* rows */
    float *bn = qn + rows;                             /* nb */
    float *hkey = bn + j->nb;                          /* rows x kk */
    /* rows x kk int64, rounded up to 8 bytes (block_bytes() counts the padding; the scratch itself is aligned) */
    int64_t *hidx = (int64_t *)(((uintptr_t)(hkey + rows * j->kk) + 7) & ~(uintptr_t)7);
    exact_cand *ex = (exact_cand *)(void *)(hidx + rows * j->kk); /* kk */
    memgov_knn_metric metric = j->o.metric;
    if (metric != MEMGOV_KNN_INNER_PRODUCT)
        norms(q, rows, j->d, metric, qn);
    /* Each row's heap lives in hkey / hidx; only its count is kept between tiles, here. */
    uint32_t kept[MAX_QUERY_BLOCK];
    memset(kept, 0, rows * sizeof kept[0]);
    for (uint64_t c0 = 0; c0 < j->n; c0 += j->nb) {
        uint64_t cols = j->n - c0 < j->nb ? j->n - c0 : j->nb;
        const float *bt = j->base + c0 * j->d;
        if (metric != MEMGOV_KNN_INNER_PRODUCT)
            norms(bt, cols, j->d, metric, bn);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)j->d, 1.0f, q, (int)j->d,
                    bt, (int)j->d, 0.0f, tile, (int)cols);
        atomic_fetch_add(&j->tiles, 1);
        for (uint64_t i = 0; i < rows; i++) {
            mg_topk h = {.key = hkey + i * j->kk, .idx = hidx + i * j->kk, .k = j->kk, .n = kept[i]};
            const float *g = tile + i * cols;
            uint64_t self = j->o.exclude_self ? r0 + i : UINT64_MAX;
            float worst = h.n == h.k ? h.key[0] : INFINITY;
            for (uint64_t c = 0; c < cols; c++) {
                float key;
                if (metric == MEMGOV_KNN_L2) {
                    key = qn[i] + bn[c] - 2.0f * g[c];
                    key = key < 0.0f ? 0.0f : key;
                } else if (metric == MEMGOV_KNN_COSINE) {
                    float den = qn[i] * bn[c];
                    key = den > 0.0f ? 1.0f - g[c] / den : 1.0f;
                } else
                    key = -g[c];
                /* the full heap's worst key rejects most candidates with one compare */
                if (key > worst || c0 + c == self)
                    continue;
                if (h.n == h.k && mg_topk_worse(key, (int64_t)(c0 + c), h.key[0], h.idx[0]))
                    continue;
                mg_topk_push(&h, key, (int64_t)(c0 + c));
                worst = h.n == h.k ? h.key[0] : INFINITY;
            }
            kept[i] = h.n;
        }
    }
    float sign = metric == MEMGOV_KNN_INNER_PRODUCT ? -1.0f : 1.0f;
    for (uint64_t i = 0; i < rows; i++) {
        uint32_t nc = kept[i];
        for (uint32_t c = 0; c < nc; c++) {
            int64_t bi = hidx[i * j->kk + c];
            ex[c] = (exact_cand){exact_key(q + i * j->d, j->base + (uint64_t)bi * j->d, j->d, metric), bi};
        }
        qsort(ex, nc, sizeof *ex, exact_order);
        int64_t *oi = j->indices + (r0 + i) * j->k;
        float *od = j->distances + (r0 + i) * j->k;
        for (uint32_t r = 0; r < j->k; r++) {
            oi[r] = r < nc ? ex[r].idx : -1;
            od[r] = r < nc ? sign * (float)ex[r].key : sign * INFINITY;
        }
    }
}

/* Computes query blocks [first, end) (a memgov_parallel_fn); a failure, recorded in the job, stops the loop. */
static memgov_status run_blocks(uint64_t first, uint64_t end, unsigned worker, void *arg)
{
    (void)worker;
    job *j = arg;
    for (uint64_t b = first; b < end; b++) {
        pthread_mutex_lock(&j->lock);
        memgov_status stop = j->error;
        pthread_mutex_unlock(&j->lock);
        if (stop != MEMGOV_OK)
            return stop;
        char *scratch = j->o.scratch != NULL ? memgov_malloc(j->o.scratch, j->scratch_bytes) : malloc(j->scratch_bytes);
        if (scratch == NULL) {
            char why[400];
            snprintf(why, sizeof why, "memgov_knn: the scratch of query block %llu (%zu bytes) was refused: %s",
                     (unsigned long long)b, j->scratch_bytes,
                     j->o.scratch != NULL ? memgov_last_error() : "malloc failed");
            fail(j, MEMGOV_ENOMEM, why);
            return MEMGOV_ENOMEM;
        }
        run_block(j, b, scratch);
        if (j->o.scratch != NULL)
            memgov_free(j->o.scratch, scratch);
        else
            free(scratch);
        pthread_mutex_lock(&j->lock);
        uint64_t rows = j->m - b * j->qb < j->qb ? j->m - b * j->qb : j->qb;
        j->done += rows;
        if (j->error == MEMGOV_OK && j->o.progress != NULL &&
            j->o.progress(j->done, j->m, j->o.progress_user) != 0) {
            j->error = MEMGOV_ECANCELED;
            snprintf(j->message, sizeof j->message, "memgov_knn: canceled by the progress callback after %llu of "
                     "%llu queries", (unsigned long long)j->done, (unsigned long long)j->m);
        }
        stop = j->error;
        pthread_mutex_unlock(&j->lock);
        if (stop != MEMGOV_OK)
            return stop;
    }
    return MEMGOV_OK;
}

/* Bytes of one block's scratch for `rows` queries, the int64 heap indices 8-byte aligned. */
static int block_bytes(uint64_t rows, uint64_t nb, uint32_t kk, size_t *out)
{
    uint64_t floats = rows * nb + rows + nb + rows * (uint64_t)kk;
    uint64_t bytes = floats * sizeof(float);
    bytes = (bytes + 7) / 8 * 8 + rows * (uint64_t)kk * sizeof(int64_t) + (uint64_t)kk * sizeof(exact_cand);
    if (rows != 0 && floats / rows < nb) /* overflow check of the largest product, loosely */
        return -1;
    *out = (size_t)bytes;
    return 0;
}

/* Sizes the tiles: the memory the scratch may take (budget headroom and/or the byte target, as the planner
 * reads them), a base tile that lets at least one query fit per thread, then the planner's queries per block. */
static memgov_status plan_tiles(job *j, memgov_knn_stats *st)
{
    uint32_t threads = j->o.threads;
    memgov_chunk_plan_options po;
    memgov_chunk_plan_options_init(&po);
    po.item_bytes = 1;
    po.budget = j->o.scratch;
    po.target_bytes = j->o.scratch_bytes;
    memgov_chunk_plan mem = {.struct_size = sizeof mem};
    memgov_status s = memgov_chunk_plan_compute(&po, &mem);
    if (s != MEMGOV_OK)
        return s;
    uint64_t memory = mem.memory_bytes, per_thread = memory / threads;
    uint64_t nb = j->n < BASE_TILE ? j->n : BASE_TILE;
    /* 8 bytes of alignment slack per block */
    while (nb > 1 && per_block_bytes(nb, j->kk) + per_query_bytes(nb, j->kk) + 8 > per_thread)
        nb /= 2;
    uint64_t least = per_block_bytes(nb, j->kk) + per_query_bytes(nb, j->kk) + 8;
    if (least > per_thread)
        return memgov_error_set(MEMGOV_ENOMEM, "memgov_knn: a scratch cap of %llu bytes over %u thread(s) is "
                                "smaller than one query against one base vector with k = %u needs (%llu bytes "
                                "per thread)", (unsigned long long)memory, threads, j->k, (unsigned long long)least);
    po.budget = NULL;
    po.item_bytes = per_query_bytes(nb, j->kk);
    po.target_bytes = memory - (uint64_t)threads * (per_block_bytes(nb, j->kk) + 8);
    po.in_flight = threads;
    po.total_items = j->m;
    po.max_items = MAX_QUERY_BLOCK;
    if (threads > 1) { /* a few blocks per thread, so that they share the work */
        uint64_t share = (j->m + 4ull * threads - 1) / (4ull * threads);
        if (share < po.max_items)
            po.max_items = share > 0 ? share : 1;
    }
    memgov_chunk_plan p = {.struct_size = sizeof p};
    if ((s = memgov_chunk_plan_compute(&po, &p)) != MEMGOV_OK)
        return s;
    j->qb = p.items;
    j->nb = nb;
    j->blocks = (j->m + j->qb - 1) / j->qb;
    if (block_bytes(j->qb, nb, j->kk, &j->scratch_bytes) != 0)
        return memgov_error_set(MEMGOV_EOVERFLOW, "memgov_knn: a block's scratch size overflows");
    st->query_block = j->qb;
    st->base_block = nb;
    st->scratch_bytes = j->scratch_bytes;
    snprintf(st->plan, sizeof st->plan, "%s", p.reason);
    return MEMGOV_OK;
}

static memgov_status check_args(const float *base, uint64_t n, const float *queries, uint64_t m, uint32_t d,
                                uint32_t k, const memgov_knn_options *o, int64_t *indices, float *distances)
{
    if (base == NULL || indices == NULL || distances == NULL)
        return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: %s is NULL",
                                base == NULL ? "base" : indices == NULL ? "indices" : "distances");
    if (n == 0 || d == 0 || k == 0 || (queries != NULL && m == 0))
        return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: n %llu, m %llu, d %u and k %u must not be 0",
                                (unsigned long long)n, (unsigned long long)m, d, k);
    if (o->exclude_self && queries != NULL)
        return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: exclude_self needs queries NULL (the base itself)");
    if (o->metric < MEMGOV_KNN_L2 || o->metric > MEMGOV_KNN_COSINE)
        return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: metric %d is not one of 1 (L2), 2 (inner product), "
                                "3 (cosine)", (int)o->metric);
    if (o->threads > MAX_THREADS)
        return memgov_error_set(MEMGOV_ERANGE, "memgov_knn: threads %u exceeds the bound of %d", o->threads,
                                MAX_THREADS);
    if (o->scratch == NULL && o->scratch_bytes == 0)
        return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: give a scratch budget or scratch_bytes");
    uint64_t mk;
    uint64_t rows = queries != NULL ? m : n;
    if (__builtin_mul_overflow(rows, (uint64_t)k, &mk) || mk > SIZE_MAX / sizeof(int64_t) || d > (1u << 30) ||
        k > (1u << 30) ||
        n > (uint64_t)INT32_MAX * BASE_TILE)
        return memgov_error_set(MEMGOV_EOVERFLOW, "memgov_knn: %llu queries x k %u (or d %u) is too large",
                                (unsigned long long)rows, k, d);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_knn(const float *base, uint64_t n, const float *queries, uint64_t m, uint32_t d,
                                   uint32_t k, const memgov_knn_options *opts, int64_t *indices, float *distances,
                                   memgov_knn_stats *stats)
{
    if (stats != NULL && stats->struct_size < sizeof(size_t))
        return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: stats->struct_size is %zu", stats->struct_size);
    memgov_knn_options o;
    memgov_knn_options_init(&o);
    if (opts != NULL) {
        if (opts->struct_size < sizeof(size_t))
            return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: opts->struct_size is %zu; set it with "
                                    "memgov_knn_options_init()", opts->struct_size);
        size_t have = opts->struct_size < sizeof o ? opts->struct_size : sizeof o;
        for (size_t i = sizeof o; i < opts->struct_size; i++)
            if (((const unsigned char *)opts)[i] != 0)
                return memgov_error_set(MEMGOV_EINVAL, "memgov_knn: opts->struct_size %zu is larger than this "
                                        "library's %zu and the tail is not zero", opts->struct_size, sizeof o);
        memset(&o, 0, sizeof o);
        memcpy(&o, opts, have);
        o.struct_size = sizeof o;
    }
    if (o.metric == 0)
        o.metric = MEMGOV_KNN_L2;
    if (o.threads == 0)
        o.threads = 1;
    memgov_status s = check_args(base, n, queries, m, d, k, &o, indices, distances);
    if (s != MEMGOV_OK)
        return s;
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return memgov_error_set(MEMGOV_ENOMEM, "memgov_knn: no memory for the job");
    *j = (job){.base = base, .queries = queries != NULL ? queries : base, .n = n, .m = queries != NULL ? m : n,
               .d = d, .k = k, .o = o, .indices = indices, .distances = distances};
    uint64_t kk = 2 * (uint64_t)k;
    j->kk = (uint32_t)(kk < n ? kk : n); /* k <= 2^31 is checked: see check_args() */
    memgov_knn_stats st = {.struct_size = sizeof st};
    if (o.lease != NULL) { /* the scratch is planned for the threads that may run */
        unsigned count = memgov_threads_count(o.lease);
        j->o.threads = count > 1 ? count : 1;
    }
    if ((s = plan_tiles(j, &st)) != MEMGOV_OK) {
        free(j);
        return s;
    }
    pthread_mutex_init(&j->lock, NULL);
    memgov_threads_lease *lease = o.lease, *taken = NULL;
    memgov *gov;
    if (lease == NULL && o.threads > 1 && j->blocks > 1 && (gov = memgov_default()) != NULL &&
        memgov_threads_acquire(gov, o.threads, 0, NULL, MEMGOV_THREADS_NOT_CURRENT, &taken) == MEMGOV_OK)
        lease = taken; /* otherwise (nothing free, no default governor) the calling thread does every block */
    memgov_status ran = memgov_parallel_for(lease, j->blocks, 1, run_blocks, j);
    memgov_threads_lease_free(taken);
    st.tiles = atomic_load(&j->tiles);
    s = j->error;
    if (s != MEMGOV_OK)
        memgov_error_set(s, "%s", j->message);
    else
        s = ran; /* the loop itself refused (a released lease): its message is the last error */
    pthread_mutex_destroy(&j->lock);
    free(j);
    if (stats != NULL) {
        size_t have = stats->struct_size < sizeof st ? stats->struct_size : sizeof st;
        size_t theirs = stats->struct_size;
        memcpy(stats, &st, have);
        if (theirs > have)
            memset((char *)stats + have, 0, theirs - have);
        stats->struct_size = theirs;
    }
    return s;
}
