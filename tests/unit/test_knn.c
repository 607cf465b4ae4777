/* memgov_knn() (libmemgov_knn): against a brute-force reference on random data with duplicate points (integer
 * coordinates, where every float computation is exact, so results must be identical, ties by the lower index
 * included), on random real data (identical too: the returned k are re-ranked by the reference's exact
 * distance), the same result under a tiny cap as under a
 * large one and with several threads, the scratch under the budget's cap, self-exclusion, k > n, a refusal
 * mid-way (ENOMEM, nothing leaked) and bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "memgov.h"
#include "memgov/knn.h"

typedef struct cand {
    double key;
    int64_t idx;
} cand;

static int by_key_then_index(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The reference: every distance in double, sorted by (key, index). */
static void brute(const float *base, uint64_t n, const float *q, uint64_t m, uint32_t d, uint32_t k,
                  memgov_knn_metric metric, int exclude_self, int64_t *idx, double *key)
{
    cand *c = malloc(n * sizeof *c);
    for (uint64_t i = 0; i < m; i++) {
        uint64_t nc = 0;
        for (uint64_t j = 0; j < n; j++) {
            if (exclude_self && i == j)
                continue;
            double dot = 0, qq = 0, bb = 0, l2 = 0;
            for (uint32_t t = 0; t < d; t++) {
                double a = q[i * d + t], b = base[j * d + t];
                dot += a * b;
                qq += a * a;
                bb += b * b;
                l2 += (a - b) * (a - b);
            }
            double v = metric == MEMGOV_KNN_L2 ? l2 : metric == MEMGOV_KNN_INNER_PRODUCT ? -dot
                       : (qq > 0 && bb > 0 ? 1 - dot / sqrt(qq * bb) : 1);
            c[nc++] = (cand){v, (int64_t)j};
        }
        qsort(c, nc, sizeof *c, by_key_then_index);
        for (uint32_t r = 0; r < k; r++) {
            idx[i * k + r] = r < nc ? c[r].idx : -1;
            key[i * k + r] = r < nc ? (metric == MEMGOV_KNN_INNER_PRODUCT ? -c[r].key : c[r].key) : NAN;
        }
    }
    free(c);
}

/* n points of integer coordinates in -r..r, every `dup`-th a copy of an earlier one. */
static float *points(uint64_t n, uint32_t d, int r, int dup, unsigned *seed)
{
    float *p = malloc(n * d * sizeof *p);
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t t = 0; t < d; t++)
            p[i * d + t] = (dup && i > 0 && i % dup == 0) ? p[(rand_r(seed) % i) * d + t]
                           : r > 0 ? (float)(rand_r(seed) % (2 * r + 1) - r)
                                   : (float)rand_r(seed) / (float)RAND_MAX - 0.5f;
    if (dup) /* copy whole rows: the loop above mixes sources per coordinate */
        for (uint64_t i = dup; i < n; i += dup)
            memcpy(p + i * d, p + (i / 2) * d, d * sizeof *p);
    return p;
}

/* The arrays of one comparison: the reference's indices and keys, memgov's indices and distances. */
typedef struct outputs {
    int64_t *want, *got;
    double *wkey;
    float *dist;
} outputs;

static outputs outputs_new(uint64_t count)
{
    outputs o = {malloc(count * sizeof *o.want), malloc(count * sizeof *o.got), malloc(count * sizeof *o.wkey),
                 malloc(count * sizeof *o.dist)};
    assert_true(o.want != NULL && o.got != NULL && o.wkey != NULL && o.dist != NULL);
    return o;
}

static void outputs_free(outputs *o)
{
    free(o->want);
    free(o->got);
    free(o->wkey);
    free(o->dist);
}

/* memgov's output equals the reference's: the same indices, and the exact distances rounded to float. */
static void expect_reference(const outputs *o, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        assert_int_equal(o->got[i], o->want[i]);
        assert_true(o->dist[i] == (float)o->wkey[i]);
    }
}

/* A governor (no environment) and a budget `name` with a hard limit under its root. */
static memgov_budget *scratch_budget(const char *name, uint64_t hard, memgov **gov)
{
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    assert_int_equal(memgov_open(&go, gov), MEMGOV_OK);
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = name;
    bo.hard_limit = hard;
    memgov_budget *b = NULL;
    assert_int_equal(memgov_budget_create(memgov_root(*gov), &bo, &b), MEMGOV_OK);
    return b;
}

static memgov_knn_options options(memgov_knn_metric metric, uint64_t scratch_bytes, uint32_t threads)
{
    memgov_knn_options o;
    memgov_knn_options_init(&o);
    o.metric = metric;
    o.scratch_bytes = scratch_bytes;
    o.threads = threads;
    return o;
}

/* n base points and m queries (integer coordinates in -r..r, or real ones when r is 0; every dup-th base point a
 * duplicate), every metric of `metrics`: memgov_knn() with `threads` equals the reference. */
static void compare_with_reference(unsigned seed, uint64_t n, uint64_t m, uint32_t d, uint32_t k, int r, int dup,
                                   const memgov_knn_metric *metrics, int nmetrics, uint32_t threads)
{
    float *base = points(n, d, r, dup, &seed), *q = points(m, d, r, 0, &seed);
    outputs out = outputs_new(m * k);
    for (int mi = 0; mi < nmetrics; mi++) {
        brute(base, n, q, m, d, k, metrics[mi], 0, out.want, out.wkey);
        memgov_knn_options o = options(metrics[mi], 8 << 20, threads);
        assert_int_equal(memgov_knn(base, n, q, m, d, k, &o, out.got, out.dist, NULL), MEMGOV_OK);
        expect_reference(&out, m * k); /* real data: the 2k candidates by SGEMM hold the k nearest */
    }
    free(base);
    free(q);
    outputs_free(&out);
}

static void exact_on_integer_data_with_duplicates(void **state)
{
    (void)state;
    const memgov_knn_metric metrics[] = {MEMGOV_KNN_L2, MEMGOV_KNN_INNER_PRODUCT};
    compare_with_reference(42, 700, 90, 13, 9, 3, 5, metrics, 2, 1);
}

static void real_data_matches_brute_force(void **state)
{
    (void)state;
    const memgov_knn_metric metrics[] = {MEMGOV_KNN_L2, MEMGOV_KNN_INNER_PRODUCT, MEMGOV_KNN_COSINE};
    compare_with_reference(3, 1500, 120, 32, 15, 0, 0, metrics, 3, 2);
}

/* The threads come from a lease: the caller's (any count gives the reference result; a released one is refused
 * by the loop), or, with `threads` alone, one of the default governor held during the call. */
static int leased_during_the_call(uint64_t done, uint64_t total, void *user)
{
    (void)done;
    (void)total;
    memgov_threads_stats s = {.struct_size = sizeof s};
    if (memgov_threads_get_stats(memgov_default(), &s) == MEMGOV_OK && s.leased >= 1 && s.leased <= s.capacity)
        *(int *)user += 1;
    return 0;
}

static void the_threads_come_from_a_lease(void **state)
{
    (void)state;
    unsigned seed = 11;
    const uint64_t n = 900, m = 200;
    const uint32_t d = 8, k = 5;
    float *base = points(n, d, 0, 0, &seed), *q = points(m, d, 0, 0, &seed);
    outputs out = outputs_new(m * k);
    brute(base, n, q, m, d, k, MEMGOV_KNN_L2, 0, out.want, out.wkey);
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&go, &gov), MEMGOV_OK);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "threads.max", "4"), MEMGOV_OK);
    for (unsigned want = 1; want <= 4; want++) {
        memgov_threads_lease *l = NULL;
        assert_int_equal(memgov_threads_acquire(gov, want, 0, NULL, 0, &l), MEMGOV_OK);
        memgov_knn_options o = options(MEMGOV_KNN_L2, 1 << 20, 1);
        o.lease = l;
        assert_int_equal(memgov_knn(base, n, q, m, d, k, &o, out.got, out.dist, NULL), MEMGOV_OK);
        expect_reference(&out, m * k);
        assert_int_equal(memgov_threads_release(l), MEMGOV_OK);
        assert_int_equal(memgov_knn(base, n, q, m, d, k, &o, out.got, out.dist, NULL), MEMGOV_ESTATE);
        assert_int_equal(memgov_threads_lease_free(l), MEMGOV_OK);
    }
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    int leased = 0;
    memgov_knn_options o = options(MEMGOV_KNN_L2, 1 << 20, 3);
    o.progress = leased_during_the_call;
    o.progress_user = &leased;
    assert_int_equal(memgov_knn(base, n, q, m, d, k, &o, out.got, out.dist, NULL), MEMGOV_OK);
    expect_reference(&out, m * k);
    assert_true(leased > 0);
    memgov_threads_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_threads_get_stats(memgov_default(), &s), MEMGOV_OK);
    assert_int_equal(s.leased, 0); /* given back after the call */
    assert_true(s.grants >= 1);
    free(base);
    free(q);
    outputs_free(&out);
}

static void self_graph_excludes_self_and_breaks_ties_by_index(void **state)
{
    (void)state;
    unsigned seed = 7;
    const uint64_t n = 500;
    const uint32_t d = 4, k = 6;
    float *base = points(n, d, 2, 3, &seed);
    outputs out = outputs_new(n * k);
    int64_t *want = out.want, *got = out.got;
    double *wkey = out.wkey;
    float *dist = out.dist;
    brute(base, n, base, n, d, k, MEMGOV_KNN_L2, 1, want, wkey);
    memgov_knn_options o = options(MEMGOV_KNN_L2, 1 << 20, 1);
    o.exclude_self = 1;
    assert_int_equal(memgov_knn(base, n, NULL, 0, d, k, &o, got, dist, NULL), MEMGOV_OK);
    int zero_ties = 0;
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t r = 0; r < k; r++) {
            assert_int_equal(got[i * k + r], want[i * k + r]);
            assert_true(got[i * k + r] != (int64_t)i);
            assert_true(dist[i * k + r] == (float)wkey[i * k + r]);
            if (r > 0 && dist[i * k + r] == dist[i * k + r - 1]) {
                assert_true(got[i * k + r] > got[i * k + r - 1]); /* equal distance: lower index first */
                zero_ties += dist[i * k + r] == 0.0f;
            }
        }
    assert_true(zero_ties > 0); /* the duplicates made exact ties */
    free(base);
    outputs_free(&out);
}

/* A cap small enough for a few queries against a few base vectors gives bit for bit what a large cap gives,
 * with 1 and 3 threads, and the scratch stays under the budget's hard limit. */
static void tiny_cap_gives_the_same_result_and_stays_under_it(void **state)
{
    (void)state;
    unsigned seed = 11;
    const uint64_t n = 2000, m = 300;
    const uint32_t d = 24, k = 10;
    float *base = points(n, d, 0, 7, &seed), *q = points(m, d, 0, 0, &seed);
    int64_t *i1 = malloc(m * k * sizeof *i1), *i2 = malloc(m * k * sizeof *i2);
    float *d1 = malloc(m * k * sizeof *d1), *d2 = malloc(m * k * sizeof *d2);
    memgov_knn_options big = options(MEMGOV_KNN_L2, 256 << 20, 1);
    memgov_knn_stats sb = {.struct_size = sizeof sb};
    assert_int_equal(memgov_knn(base, n, q, m, d, k, &big, i1, d1, &sb), MEMGOV_OK);
    assert_int_equal(sb.tiles, 1);

    memgov *gov = NULL;
    const uint64_t cap = 6 * 1024;
    memgov_budget *scratch = scratch_budget("knn-scratch", cap, &gov);
    for (uint32_t threads = 1; threads <= 3; threads += 2) {
        memgov_knn_options tiny = options(MEMGOV_KNN_L2, 0, threads);
        tiny.scratch = scratch;
        memgov_knn_stats st = {.struct_size = sizeof st};
        memset(i2, 0, m * k * sizeof *i2);
        assert_int_equal(memgov_knn(base, n, q, m, d, k, &tiny, i2, d2, &st), MEMGOV_OK);
        assert_true(st.tiles > 100);
        assert_true(st.scratch_bytes * threads <= cap);
        assert_memory_equal(i1, i2, m * k * sizeof *i1);
        assert_memory_equal(d1, d2, m * k * sizeof *d1);
        memgov_budget_stats bs = {.struct_size = sizeof bs};
        assert_int_equal(memgov_budget_get_stats(scratch, &bs), MEMGOV_OK);
        assert_true(bs.peak <= cap);
        assert_true(bs.peak >= st.scratch_bytes);
        assert_int_equal(bs.used, 0);
        assert_int_equal(bs.refusals, 0);
    }
    memgov_knn_options none = options(MEMGOV_KNN_L2, 64, 1); /* below one query against one vector */
    assert_int_equal(memgov_knn(base, n, q, m, d, k, &none, i2, d2, NULL), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "smaller than one query against one base vector"));
    assert_int_equal(memgov_budget_destroy(scratch), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    free(base);
    free(q);
    free(i1);
    free(i2);
    free(d1);
    free(d2);
}

/* The progress callback lowers the budget's limit after the first block: the next block's scratch is refused. */
static int shrink_after_first(uint64_t done, uint64_t total, void *user)
{
    (void)total;
    if (done > 0)
        memgov_budget_set_limits(user, 1024, 0);
    return 0;
}

static int cancel_at_once(uint64_t done, uint64_t total, void *user)
{
    (void)done;
    (void)total;
    (void)user;
    return 1;
}

static void refusal_mid_way_is_enomem_and_leaks_nothing(void **state)
{
    (void)state;
    unsigned seed = 5;
    const uint64_t n = 400, m = 200;
    const uint32_t d = 8, k = 3;
    float *base = points(n, d, 0, 0, &seed);
    int64_t *idx = malloc(m * k * sizeof *idx);
    float *dist = malloc(m * k * sizeof *dist);
    memgov *gov = NULL;
    const uint64_t cap = 64 * 1024;
    memgov_budget *scratch = scratch_budget("shrinking", cap, &gov);
    memgov_knn_options o = options(MEMGOV_KNN_L2, 0, 1);
    o.scratch = scratch;
    o.scratch_bytes = 40 * 1024; /* several blocks */
    o.progress = shrink_after_first;
    o.progress_user = scratch;
    memgov_knn_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_knn(base, n, base, m, d, k, &o, idx, dist, &st), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "query block 1"));
    assert_non_null(strstr(memgov_last_error(), "shrinking"));
    memgov_budget_stats bs = {.struct_size = sizeof bs};
    assert_int_equal(memgov_budget_get_stats(scratch, &bs), MEMGOV_OK);
    assert_int_equal(bs.used, 0);
    assert_int_equal(memgov_budget_set_limits(scratch, 64 * 1024, 0), MEMGOV_OK);
    o.progress = cancel_at_once;
    assert_int_equal(memgov_knn(base, n, base, m, d, k, &o, idx, dist, NULL), MEMGOV_ECANCELED);
    assert_int_equal(memgov_budget_get_stats(scratch, &bs), MEMGOV_OK);
    assert_int_equal(bs.used, 0);
    assert_int_equal(memgov_budget_destroy(scratch), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    free(base);
    free(idx);
    free(dist);
}

static void k_above_n_and_bad_arguments(void **state)
{
    (void)state;
    const float base[] = {0, 0, 1, 0, 0, 2};
    int64_t idx[16]; /* up to 3 rows x k 4 */
    float dist[16];
    memgov_knn_options o = options(MEMGOV_KNN_L2, 1 << 20, 1);
    const float q[] = {0, 0, 3, 3};
    assert_int_equal(memgov_knn(base, 3, q, 2, 2, 4, &o, idx, dist, NULL), MEMGOV_OK);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 2);
    assert_int_equal(idx[3], -1);
    assert_true(isinf(dist[3]) && dist[3] > 0);
    assert_true(dist[1] == 1.0f && dist[2] == 4.0f);
    o.exclude_self = 1;
    assert_int_equal(memgov_knn(base, 3, NULL, 0, 2, 3, &o, idx, dist, NULL), MEMGOV_OK);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[2], -1); /* only two others */
    assert_int_equal(memgov_knn(base, 3, q, 2, 2, 3, &o, idx, dist, NULL), MEMGOV_EINVAL); /* self with queries */
    o.exclude_self = 0;
    assert_int_equal(memgov_knn(NULL, 3, q, 2, 2, 3, &o, idx, dist, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_knn(base, 0, q, 2, 2, 3, &o, idx, dist, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_knn(base, 3, q, 2, 2, 0, &o, idx, dist, NULL), MEMGOV_EINVAL);
    o.metric = (memgov_knn_metric)9;
    assert_int_equal(memgov_knn(base, 3, q, 2, 2, 3, &o, idx, dist, NULL), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "metric 9"));
    o.metric = MEMGOV_KNN_L2;
    o.threads = 1000;
    assert_int_equal(memgov_knn(base, 3, q, 2, 2, 3, &o, idx, dist, NULL), MEMGOV_ERANGE);
    o.threads = 1;
    o.scratch_bytes = 0;
    assert_int_equal(memgov_knn(base, 3, q, 2, 2, 3, &o, idx, dist, NULL), MEMGOV_EINVAL);
    o.scratch_bytes = 1 << 20;
    assert_int_equal(memgov_knn(base, UINT64_MAX / 2, NULL, 0, 2, 3, &o, idx, dist, NULL), MEMGOV_EOVERFLOW);
    o.struct_size = 0;
    assert_int_equal(memgov_knn(base, 3, q, 2, 2, 3, &o, idx, dist, NULL), MEMGOV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_on_integer_data_with_duplicates),
        cmocka_unit_test(self_graph_excludes_self_and_breaks_ties_by_index),
        cmocka_unit_test(real_data_matches_brute_force),
        cmocka_unit_test(the_threads_come_from_a_lease),
        cmocka_unit_test(tiny_cap_gives_the_same_result_and_stays_under_it),
        cmocka_unit_test(refusal_mid_way_is_enomem_and_leaks_nothing),
        cmocka_unit_test(k_above_n_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
