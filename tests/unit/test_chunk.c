/* memgov/chunk.h: the planner's arithmetic and its one formula shared with memgov_config_recommend(), the AIMD
 * batcher against a simulated memory limit, and the CSV chunker's edge cases and its agreement with a plain
 * byte-at-a-time reference on random files (every target, buffer size and thread count). The CSV oracle against
 * Python's csv module is tests/chunk/test_csv_oracle.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <cmocka.h>

#include "memgov.h"
#include "memgov/chunk.h"
#include "budget_support.h" /* child(), KiB, MiB */

#define GiB (1024ull * 1024 * 1024)

/* ---- planner ----------------------------------------------------------------------------------------------- */

static memgov_chunk_plan plan_ok(const memgov_chunk_plan_options *o)
{
    memgov_chunk_plan p = {.struct_size = sizeof p};
    assert_int_equal(memgov_chunk_plan_compute(o, &p), MEMGOV_OK);
    return p;
}

static void planner_arithmetic_from_a_target(void **state)
{
    (void)state;
    memgov_chunk_plan_options o;
    memgov_chunk_plan_options_init(&o);
    o.item_bytes = 100;
    o.target_bytes = 1 * MiB;
    memgov_chunk_plan p = plan_ok(&o);
    assert_int_equal(p.items, MiB / 100);
    assert_int_equal(p.chunks, 0);
    assert_int_equal(p.chunk_bytes, (MiB / 100) * 100);
    assert_non_null(strstr(p.reason, "1.00 MiB target"));
    assert_non_null(strstr(p.reason, "memory decides"));

    o.working_set = 2.5; /* 250 B per item */
    o.in_flight = 4;
    p = plan_ok(&o);
    assert_int_equal(p.items, MiB / 4 / 250);
    assert_int_equal(p.chunk_bytes, p.items * 250);
    assert_int_equal(p.over_memory, 0);

    o.align_items = 64;
    p = plan_ok(&o);
    assert_int_equal(p.items, (MiB / 4 / 250) / 64 * 64);

    o.total_items = 10000;
    p = plan_ok(&o);
    assert_int_equal(p.chunks, (10000 + p.items - 1) / p.items);

    o.max_items = 100;
    p = plan_ok(&o);
    assert_int_equal(p.items, 100);
    assert_int_equal(p.chunks, 100);
    assert_non_null(strstr(p.reason, "max decides"));

    o.max_items = 0;
    o.min_items = 5000; /* more than memory allows: min wins and says so */
    p = plan_ok(&o);
    assert_int_equal(p.items, 5000);
    assert_int_equal(p.over_memory, 1);
    assert_non_null(strstr(p.reason, "min decides"));

    o.min_items = 0;
    o.total_items = 7; /* fewer items than a chunk holds */
    p = plan_ok(&o);
    assert_int_equal(p.items, 7);
    assert_int_equal(p.chunks, 1);
}

static void planner_refuses_bad_input_and_overflow(void **state)
{
    (void)state;
    memgov_chunk_plan_options o;
    memgov_chunk_plan_options_init(&o);
    memgov_chunk_plan p = {.struct_size = sizeof p};
    o.target_bytes = MiB;
    assert_int_equal(memgov_chunk_plan_compute(&o, &p), MEMGOV_EINVAL); /* item_bytes 0 */
    assert_non_null(strstr(memgov_last_error(), "item_bytes is 0"));
    o.item_bytes = 8;
    o.min_items = 10;
    o.max_items = 5;
    assert_int_equal(memgov_chunk_plan_compute(&o, &p), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "max_items 5 is below min_items 10"));
    o.min_items = o.max_items = 0;
    o.working_set = 0.5;
    assert_int_equal(memgov_chunk_plan_compute(&o, &p), MEMGOV_EINVAL);
    o.working_set = 3;
    o.item_bytes = UINT64_MAX / 2;
    assert_int_equal(memgov_chunk_plan_compute(&o, &p), MEMGOV_EOVERFLOW);
    assert_non_null(strstr(memgov_last_error(), "overflows 64 bits"));
    o.working_set = 2.5;
    assert_int_equal(memgov_chunk_plan_compute(&o, &p), MEMGOV_EOVERFLOW);
    o.item_bytes = 8;
    o.working_set = 1;
    o.target_bytes = 0;
    assert_int_equal(memgov_chunk_plan_compute(&o, &p), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "give a budget or a target_bytes"));
    o.target_bytes = 4; /* less than one item: the minimum of one item, flagged */
    p = plan_ok(&o);
    assert_int_equal(p.items, 1);
    assert_int_equal(p.over_memory, 1);
    assert_int_equal(memgov_chunk_plan_compute(NULL, &p), MEMGOV_EINVAL);
    p.struct_size = 0;
    assert_int_equal(memgov_chunk_plan_compute(&o, &p), MEMGOV_EINVAL);
}

static memgov *open_limited(uint64_t root_limit)
{
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    go.root_limit = root_limit;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&go, &gov), MEMGOV_OK);
    return gov;
}

static void planner_uses_the_smallest_headroom_of_the_chain(void **state)
{
    (void)state;
    memgov *gov = open_limited(1 * GiB);
    memgov_budget *etl = child(memgov_root(gov), "etl", 256 * MiB, 128 * MiB, 0);
    memgov_budget *parse = child(etl, "parse", 0, 0, 0);
    memgov_chunk_plan_options o;
    memgov_chunk_plan_options_init(&o);
    o.item_bytes = KiB;
    o.budget = parse;
    memgov_chunk_plan p = plan_ok(&o);
    assert_int_equal(p.items, 128 * MiB / KiB); /* etl's soft limit, the nearest */
    assert_non_null(strstr(p.reason, "budget 'etl'"));

    assert_int_equal(memgov_reserve(parse, 100 * MiB), MEMGOV_OK);
    p = plan_ok(&o);
    assert_int_equal(p.items, 28 * MiB / KiB);
    assert_int_equal(memgov_reserve(parse, 60 * MiB), MEMGOV_OK); /* soft crossed: the hard limit's headroom */
    p = plan_ok(&o);
    assert_int_equal(p.items, 96 * MiB / KiB);
    o.target_bytes = 10 * MiB; /* the smaller of target and headroom */
    p = plan_ok(&o);
    assert_int_equal(p.items, 10 * MiB / KiB);
    assert_non_null(strstr(p.reason, "target"));
    o.target_bytes = 0;

    assert_int_equal(memgov_reserve(parse, 96 * MiB), MEMGOV_OK); /* at the hard limit: no headroom */
    memgov_chunk_plan q = {.struct_size = sizeof q};
    assert_int_equal(memgov_chunk_plan_compute(&o, &q), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "budget 'etl' has no headroom"));
    assert_int_equal(memgov_release(parse, 256 * MiB), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(parse), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(etl), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);

    gov = open_limited(MEMGOV_OPEN_NO_LIMIT); /* no limit anywhere and no target: nothing to plan from */
    o.budget = memgov_root(gov);
    assert_int_equal(memgov_chunk_plan_compute(&o, &q), MEMGOV_ESTATE);
    o.target_bytes = MiB;
    p = plan_ok(&o);
    assert_int_equal(p.items, MiB / KiB);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void planner_honours_the_mode_and_the_keys(void **state)
{
    (void)state;
    memgov_config *cfg = NULL;
    assert_int_equal(memgov_config_create(&cfg), MEMGOV_OK);
    memgov_chunk_plan_options o;
    memgov_chunk_plan_options_init(&o);
    o.item_bytes = 100;
    o.target_bytes = 100 * MiB;
    o.config = cfg;
    memgov_chunk_plan p = plan_ok(&o);
    assert_int_equal(p.items, 100 * MiB / 100);
    assert_int_equal(p.mode, MEMGOV_MODE_NORMAL);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT), MEMGOV_OK);
    p = plan_ok(&o);
    assert_int_equal(p.items, 50 * MiB / 100);
    assert_non_null(strstr(p.reason, "light mode"));
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_MINIMAL), MEMGOV_OK);
    p = plan_ok(&o);
    assert_int_equal(p.items, 25 * MiB / 100);
    /* chunk.rows_max (default 1048576) and chunk.rows_min bound it */
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_NORMAL), MEMGOV_OK);
    o.target_bytes = 10 * GiB;
    p = plan_ok(&o);
    assert_int_equal(p.items, 1048576);
    assert_int_equal(memgov_config_set(cfg, "chunk.rows_min", "5000"), MEMGOV_OK);
    o.target_bytes = 1000;
    p = plan_ok(&o);
    assert_int_equal(p.items, 5000);
    o.min_items = 3; /* an explicit bound wins over the key */
    p = plan_ok(&o);
    assert_int_equal(p.items, 10);
    memgov_config_destroy(cfg);
}

/* The configuration's chunk_rows and the planner are one formula: the planner given the recommendation's memory
 * limit, its threads x 4 chunks in flight and the configuration's keys gives the same rows, in every mode and
 * for data that bounds the rows. */
static void recommendations_and_planner_share_one_formula(void **state)
{
    (void)state;
    memgov_config *cfg = NULL;
    assert_int_equal(memgov_config_create(&cfg), MEMGOV_OK);
    const uint64_t mems[] = {4 * GiB, 16 * GiB, 64 * GiB, 512 * GiB};
    const uint64_t rows[] = {0, 64, 4096, 3 * MiB};
    const uint64_t data[] = {0, 10 * MiB, 2 * GiB};
    for (int mode = 0; mode < 3; mode++) {
        assert_int_equal(memgov_config_set_mode(cfg, (memgov_mode)mode), MEMGOV_OK);
        for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
            for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++)
                for (size_t k = 0; k < sizeof data / sizeof data[0]; k++) {
                    memgov_probe probe = {.struct_size = sizeof probe, .effective_memory = mems[i], .usable_cpus = 8};
                    memgov_recommendation r = {.struct_size = sizeof r};
                    assert_int_equal(memgov_config_recommend(cfg, &probe, data[k], rows[j], &r), MEMGOV_OK);
                    uint64_t row = rows[j] != 0 ? rows[j] : 1024;
                    memgov_chunk_plan_options o;
                    memgov_chunk_plan_options_init(&o);
                    o.item_bytes = row;
                    o.target_bytes = (uint64_t)((double)r.memory_limit / (mode == 0 ? 1.0 : mode == 1 ? 0.5 : 0.25));
                    o.config = cfg;
                    o.in_flight = r.threads * 4;
                    o.total_items = data[k] / row + (data[k] % row != 0);
                    memgov_chunk_plan p = plan_ok(&o);
                    /* the division back by the share may lose a byte or two of memory_limit: at most one row */
                    assert_true(p.items == r.chunk_rows || p.items + 1 == r.chunk_rows || p.items == r.chunk_rows + 1);
                    o.target_bytes = r.memory_limit; /* exact: plan in NORMAL with the limit itself */
                    memgov_mode m = memgov_config_mode(cfg);
                    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_NORMAL), MEMGOV_OK);
                    p = plan_ok(&o);
                    assert_int_equal(p.items, r.chunk_rows);
                    assert_int_equal(memgov_config_set_mode(cfg, m), MEMGOV_OK);
                }
    }
    memgov_config_destroy(cfg);
}

/* ---- batcher ----------------------------------------------------------------------------------------------- */

static memgov_batcher *batcher(uint64_t min, uint64_t max, uint64_t initial, uint64_t step)
{
    memgov_batcher_options o;
    memgov_batcher_options_init(&o);
    o.min = min;
    o.max = max;
    o.initial = initial;
    o.step = step;
    memgov_batcher *b = NULL;
    assert_int_equal(memgov_batcher_create(&o, &b), MEMGOV_OK);
    return b;
}

/* One round against a simulated memory limit: a batch fits when size <= limit. Returns the size tried. */
static uint64_t round_at(memgov_batcher *b, uint64_t limit)
{
    uint64_t s = memgov_batcher_next(b);
    if (s <= limit)
        assert_int_equal(memgov_batcher_success(b, s), MEMGOV_OK);
    else
        memgov_batcher_refused(b, s);
    return s;
}

static void batcher_converges_to_the_largest_size_that_fits(void **state)
{
    (void)state;
    const uint64_t limits[] = {1, 7, 100, 333, 1000, 4095};
    const uint64_t steps[] = {1, 16, 100};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        for (size_t j = 0; j < sizeof steps / sizeof steps[0]; j++) {
            memgov_batcher *b = batcher(1, 4096, 0, steps[j]);
            uint64_t warmup = 300 + limits[i] / steps[j]; /* additive growth: about limit / step rounds */
            for (uint64_t r = 0; r < warmup; r++)
                round_at(b, limits[i]);
            /* settled: over the next rounds the largest success is the limit, and most rounds run at it */
            uint64_t best = 0;
            int at_limit = 0;
            for (int r = 0; r < 90; r++) {
                uint64_t s = round_at(b, limits[i]);
                if (s <= limits[i] && s > best)
                    best = s;
                at_limit += s == limits[i];
            }
            assert_int_equal(best, limits[i]);
            assert_true(at_limit >= 60);
            memgov_batcher_stats st = {.struct_size = sizeof st};
            assert_int_equal(memgov_batcher_get_stats(b, &st), MEMGOV_OK);
            assert_int_equal(st.successes + st.refusals, warmup + 90);
            assert_true(st.ceiling == 0 || st.ceiling > limits[i]);
            memgov_batcher_destroy(b);
        }
}

static void batcher_reprobes_after_the_limit_rises_and_follows_it_down(void **state)
{
    (void)state;
    memgov_batcher *b = batcher(1, 100000, 0, 64);
    for (int r = 0; r < 300; r++)
        round_at(b, 500);
    assert_int_equal(memgov_batcher_next(b), 500);
    int rounds = 0;
    while (memgov_batcher_next(b) != 3000 && rounds < 2000) { /* the limit rises */
        round_at(b, 3000);
        rounds++;
    }
    assert_int_equal(memgov_batcher_next(b), 3000);
    assert_true(rounds < 400);
    for (int r = 0; r < 50; r++) /* and falls: one refusal halves at once, then it settles lower */
        round_at(b, 200);
    memgov_batcher_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_batcher_get_stats(b, &st), MEMGOV_OK);
    assert_true(st.next <= 200);
    for (int r = 0; r < 300; r++)
        round_at(b, 200);
    uint64_t best = 0;
    for (int r = 0; r < 60; r++) {
        uint64_t s = round_at(b, 200);
        if (s <= 200 && s > best)
            best = s;
    }
    assert_int_equal(best, 200);
    memgov_batcher_destroy(b);
}

static void batcher_rules_floor_ceiling_history(void **state)
{
    (void)state;
    memgov_batcher *b = batcher(4, 64, 32, 8);
    assert_int_equal(memgov_batcher_next(b), 32);
    assert_int_equal(memgov_batcher_success(b, 32), MEMGOV_OK); /* additive: +8 (no slow start with initial) */
    assert_int_equal(memgov_batcher_next(b), 40);
    assert_int_equal(memgov_batcher_refused(b, 40), MEMGOV_OK); /* halved, ceiling 40, last good 32 */
    assert_int_equal(memgov_batcher_next(b), 20);
    assert_int_equal(memgov_batcher_success(b, 20), MEMGOV_OK); /* multiplicative up to last good */
    assert_int_equal(memgov_batcher_next(b), 32);
    assert_int_equal(memgov_batcher_success(b, 32), MEMGOV_OK); /* half-way to the ceiling: 32 + 4 */
    assert_int_equal(memgov_batcher_next(b), 36);
    for (int i = 0; i < 10; i++)
        assert_int_equal(memgov_batcher_refused(b, memgov_batcher_next(b)), memgov_batcher_next(b) <= 4 ?
                         MEMGOV_ERANGE : MEMGOV_OK);
    assert_int_equal(memgov_batcher_next(b), 4); /* the floor */
    assert_int_equal(memgov_batcher_refused(b, 4), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "already at the floor of 4"));
    assert_int_equal(memgov_batcher_next(b), 4);
    for (int i = 0; i < 100; i++)
        memgov_batcher_success(b, memgov_batcher_next(b));
    assert_true(memgov_batcher_next(b) <= 64); /* never above max */
    assert_int_equal(memgov_batcher_success(b, 0), MEMGOV_EINVAL);
    assert_int_equal(memgov_batcher_refused(NULL, 3), MEMGOV_EINVAL);

    memgov_batcher_event e = {.struct_size = sizeof e};
    assert_int_equal(memgov_batcher_history(b, 0, &e), MEMGOV_OK);
    assert_int_equal(e.seq, 1);
    assert_int_equal(e.kind, MEMGOV_BATCHER_SUCCESS);
    assert_int_equal(e.size, 32);
    assert_int_equal(e.next, 40);
    assert_int_equal(memgov_batcher_history(b, 1, &e), MEMGOV_OK);
    assert_int_equal(e.kind, MEMGOV_BATCHER_REFUSED);
    assert_int_equal(e.ceiling, 40);
    assert_int_equal(e.last_good, 32);
    memgov_batcher_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_batcher_get_stats(b, &st), MEMGOV_OK);
    assert_int_equal(st.history_kept, st.successes + st.refusals);
    assert_int_equal(memgov_batcher_history(b, st.history_kept, &e), MEMGOV_ENOTFOUND);
    memgov_batcher_destroy(b);

    memgov_batcher_options o; /* a small ring keeps the newest */
    memgov_batcher_options_init(&o);
    o.history_capacity = 4;
    assert_int_equal(memgov_batcher_create(&o, &b), MEMGOV_OK);
    for (int i = 0; i < 10; i++)
        memgov_batcher_success(b, 1);
    assert_int_equal(memgov_batcher_history(b, 0, &e), MEMGOV_OK);
    assert_int_equal(e.seq, 7);
    assert_int_equal(memgov_batcher_history(b, 4, &e), MEMGOV_ENOTFOUND);
    memgov_batcher_destroy(b);

    o.min = 10;
    o.max = 5;
    assert_int_equal(memgov_batcher_create(&o, &b), MEMGOV_EINVAL);
    o.max = 50;
    o.initial = 60;
    assert_int_equal(memgov_batcher_create(&o, &b), MEMGOV_EINVAL);
    o.initial = 0;
    o.history_capacity = (1u << 20) + 1;
    assert_int_equal(memgov_batcher_create(&o, &b), MEMGOV_ERANGE);

    memgov_config *cfg = NULL; /* batch.min / batch.max as defaults */
    assert_int_equal(memgov_config_create(&cfg), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "batch.min", "3"), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "batch.max", "48"), MEMGOV_OK);
    memgov_batcher_options_init(&o);
    o.config = cfg;
    assert_int_equal(memgov_batcher_create(&o, &b), MEMGOV_OK);
    assert_int_equal(memgov_batcher_get_stats(b, &st), MEMGOV_OK);
    assert_int_equal(st.min, 3);
    assert_int_equal(st.max, 48);
    memgov_batcher_destroy(b);
    memgov_config_destroy(cfg);
}

static void *hammer(void *arg)
{
    memgov_batcher *b = arg;
    for (int i = 0; i < 20000; i++)
        round_at(b, 300);
    return NULL;
}

static void batcher_is_thread_safe(void **state)
{
    (void)state;
    memgov_batcher *b = batcher(1, 1024, 0, 8);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, b), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    memgov_batcher_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_batcher_get_stats(b, &st), MEMGOV_OK);
    assert_int_equal(st.successes + st.refusals, 80000);
    assert_true(st.next >= 1 && st.next <= 1024);
    memgov_batcher_destroy(b);
}

/* ---- CSV chunker ------------------------------------------------------------------------------------------- */

static char tmpdir[64];

static int csv_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/memgov-test-chunk-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int csv_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *put_file(const char *name, const char *data, size_t len)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

typedef struct chunks {
    size_t n;
    memgov_csv_chunk c[700000]; /* at most one chunk per byte of the largest test file */
    uint64_t header;
    memgov_status end; /* what the last memgov_csv_next() returned */
} chunks;

static chunks got, want; /* large: outside the stack */

static memgov_csv_options csv_opts(uint64_t target, int header, unsigned threads, uint64_t buffer)
{
    memgov_csv_options o;
    memgov_csv_options_init(&o);
    o.target_bytes = target;
    o.has_header = header;
    o.threads = threads;
    o.buffer_bytes = buffer;
    return o;
}

static memgov_status run_chunker(const char *path, const memgov_csv_options *o, chunks *out)
{
    out->n = 0;
    out->header = 0;
    memgov_csv *csv = NULL;
    memgov_status st = memgov_csv_open(path, o, &csv);
    if (st != MEMGOV_OK)
        return out->end = st;
    assert_int_equal(memgov_csv_header(csv, &out->header), MEMGOV_OK);
    for (;;) {
        memgov_csv_chunk c = {.struct_size = sizeof c};
        st = memgov_csv_next(csv, &c);
        if (st != MEMGOV_OK)
            break;
        assert_true(out->n < sizeof out->c / sizeof out->c[0]);
        out->c[out->n++] = c;
    }
    memgov_csv_close(csv);
    return out->end = st;
}

/* The reference: a byte-at-a-time chunker written from the rules in chunk.h, with no blocks and no threads. */
static void reference(const char *d, size_t n, uint64_t target, int header, char quote, chunks *out)
{
    out->n = 0;
    out->header = 0;
    size_t i = 0, start = 0;
    int inq = 0;
    if (header) {
        for (; i < n; i++) {
            if (d[i] == quote)
                inq ^= 1;
            else if (d[i] == '\n' && !inq) {
                i++;
                break;
            }
        }
        out->header = i;
        start = i;
    }
    size_t last = 0; /* end of the last record in the current chunk; 0 = none */
    for (; i < n; i++) {
        if (i - start == target && start + target < n) {
            if (last > start) {
                out->c[out->n++] = (memgov_csv_chunk){.offset = start, .length = last - start};
                start = last;
                last = 0;
            }
        }
        if (d[i] == quote)
            inq ^= 1;
        else if (d[i] == '\n' && !inq) {
            if (i + 1 - start > target) { /* the oversized record ends here */
                out->c[out->n++] = (memgov_csv_chunk){.offset = start, .length = i + 1 - start,
                                                      .flags = MEMGOV_CSV_CHUNK_OVERSIZED};
                start = i + 1;
                last = 0;
            } else
                last = i + 1;
        }
    }
    if (inq) {
        out->end = MEMGOV_EPARSE;
        return;
    }
    if (start < n)
        out->c[out->n++] = (memgov_csv_chunk){.offset = start, .length = n - start,
            .flags = (n - start > target ? MEMGOV_CSV_CHUNK_OVERSIZED : 0) |
                     (last == n ? 0 : MEMGOV_CSV_CHUNK_NO_FINAL_NEWLINE)};
    out->end = MEMGOV_ENOTFOUND;
}

static void same_chunks(const chunks *g, const chunks *w)
{
    assert_int_equal(g->end, w->end);
    if (w->end != MEMGOV_ENOTFOUND)
        return;
    assert_int_equal(g->header, w->header);
    assert_int_equal(g->n, w->n);
    for (size_t i = 0; i < w->n; i++) {
        assert_int_equal(g->c[i].offset, w->c[i].offset);
        assert_int_equal(g->c[i].length, w->c[i].length);
        assert_int_equal(g->c[i].flags, w->c[i].flags);
        assert_int_equal(g->c[i].index, i);
    }
}

static void csv_edge_cases(void **state)
{
    (void)state;
    /* quoted newlines, doubled quotes, CRLF; target 12: "a,b\r\n" is the header */
    const char *text = "a,b\r\n\"x\ny\",1\r\n\"he said \"\"hi\"\"\",2\r\n3,4\r\n";
    const char *path = put_file("edge.csv", text, strlen(text));
    memgov_csv_options o = csv_opts(12, 1, 1, 0);
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    assert_int_equal(got.header, 5);
    assert_int_equal(got.n, 3);
    assert_int_equal(got.c[0].offset, 5);
    assert_int_equal(got.c[0].length, 9); /* "x\ny",1\r\n : the quoted LF does not end it */
    assert_int_equal(got.c[0].flags, 0);
    assert_int_equal(got.c[1].offset, 14);
    assert_int_equal(got.c[1].length, 20); /* longer than 12: alone, flagged */
    assert_int_equal(got.c[1].flags, MEMGOV_CSV_CHUNK_OVERSIZED);
    assert_int_equal(got.c[2].length, 5);
    assert_int_equal(got.c[2].offset + got.c[2].length, strlen(text));

    /* no final newline; no header: chunks start at 0 */
    path = put_file("nofinal.csv", "1,2\n3,4\n5,6", 11);
    o = csv_opts(8, 0, 1, 0);
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    assert_int_equal(got.header, 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.c[0].length, 8);
    assert_int_equal(got.c[1].offset, 8);
    assert_int_equal(got.c[1].flags, MEMGOV_CSV_CHUNK_NO_FINAL_NEWLINE);

    /* empty file; header only; header without newline */
    path = put_file("empty.csv", "", 0);
    o = csv_opts(8, 1, 1, 0);
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    assert_int_equal(got.n, 0);
    assert_int_equal(got.header, 0);
    path = put_file("hdr.csv", "a,b\n", 4);
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    assert_int_equal(got.header, 4);
    assert_int_equal(got.n, 0);
    path = put_file("hdr2.csv", "a,\"b\nc\"", 7);
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    assert_int_equal(got.header, 7);

    /* NUL bytes and invalid UTF-8 are bytes */
    static const char bin[] = "a\0\xff\xfe,\"\x80\n\0\"\n\xc3\x28,x\n";
    path = put_file("bin.csv", bin, sizeof bin - 1);
    o = csv_opts(4, 0, 1, 0);
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    reference(bin, sizeof bin - 1, 4, 0, '"', &want);
    same_chunks(&got, &want);
    assert_int_equal(got.c[0].length, 11);

    /* another quote character: single quotes quote, double quotes are plain */
    const char *sq = "'a\nb',\"\n'c'\n";
    path = put_file("sq.csv", sq, strlen(sq));
    o = csv_opts(1000, 0, 1, 0);
    o.quote = '\'';
    o.delimiter = ';';
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    assert_int_equal(got.n, 1);
    o.target_bytes = 8;
    assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.c[0].length, 8); /* 'a\nb'," + LF */
}

static void csv_unterminated_quote_names_offset_and_line(void **state)
{
    (void)state;
    const char *text = "a,b\n1,2\n3,\"open\n4,5\n";
    const char *path = put_file("open.csv", text, strlen(text));
    for (unsigned threads = 1; threads <= 3; threads++) {
        memgov_csv_options o = csv_opts(4, 1, threads, 0);
            assert_int_equal(run_chunker(path, &o, &got), MEMGOV_EPARSE);
        assert_non_null(strstr(memgov_last_error(), "quote at byte 10 (line 3) is never closed"));
        assert_int_equal(got.n, 1); /* "1,2\n" came before the error */
    }
    memgov_csv *csv = NULL; /* the error is sticky */
    memgov_csv_options o = csv_opts(1000, 0, 1, 0);
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_OK);
    memgov_csv_chunk c = {.struct_size = sizeof c};
    assert_int_equal(memgov_csv_next(csv, &c), MEMGOV_EPARSE);
    memgov_clear_error();
    assert_int_equal(memgov_csv_next(csv, &c), MEMGOV_EPARSE);
    assert_non_null(strstr(memgov_last_error(), "byte 10"));
    memgov_csv_close(csv);
    o.has_header = 1; /* in the header: open fails */
    path = put_file("open2.csv", "\"a,b\n", 5);
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_EPARSE);
    assert_non_null(strstr(memgov_last_error(), "quote at byte 0 (line 1)"));
}

static void csv_file_changing_size_is_eio(void **state)
{
    (void)state;
    static char big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = i % 10 == 9 ? '\n' : 'x';
    const char *path = put_file("grow.csv", big, sizeof big);
    memgov_csv_options o = csv_opts(1000, 0, 1, 64 * KiB);
    memgov_csv *csv = NULL;
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_OK);
    FILE *f = fopen(path, "ab");
    fputs("more\n", f);
    fclose(f);
    memgov_csv_chunk c = {.struct_size = sizeof c};
    memgov_status st;
    while ((st = memgov_csv_next(csv, &c)) == MEMGOV_OK)
        ;
    assert_int_equal(st, MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), "changed size from 300000 to 300005"));
    memgov_csv_close(csv);

    path = put_file("shrink.csv", big, sizeof big);
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_OK);
    assert_int_equal(truncate(path, 100000), 0);
    while ((st = memgov_csv_next(csv, &c)) == MEMGOV_OK)
        ;
    assert_int_equal(st, MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), "shrank"));
    memgov_csv_close(csv);
}

static void csv_bad_options_and_files(void **state)
{
    (void)state;
    memgov_csv *csv = NULL;
    memgov_csv_options o = csv_opts(0, 0, 1, 0);
    const char *path = put_file("ok.csv", "a\n", 2);
    o.quote = '\n';
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_EINVAL);
    o.quote = '"';
    o.delimiter = '"';
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "delimiter 0x22"));
    o.delimiter = ',';
    o.buffer_bytes = 1000;
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_ERANGE);
    o.buffer_bytes = 0;
    o.threads = 1000;
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_ERANGE);
    o.threads = 1;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.csv", tmpdir);
    assert_int_equal(memgov_csv_open(missing, &o, &csv), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_csv_open(tmpdir, &o, &csv), MEMGOV_EIO); /* a directory */
    assert_int_equal(memgov_csv_open(NULL, &o, &csv), MEMGOV_EINVAL);
    assert_int_equal(memgov_csv_next(NULL, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_csv_size(NULL), 0);
    memgov_csv_close(NULL);
}

static void csv_buffer_comes_from_the_budget(void **state)
{
    (void)state;
    memgov *gov = open_limited(1 * GiB);
    memgov_budget *io = child(memgov_root(gov), "io", 1 * MiB, 0, 0);
    const char *path = put_file("b.csv", "a,b\n1,2\n", 8);
    memgov_csv_options o = csv_opts(0, 1, 1, 256 * KiB);
    o.budget = io;
    memgov_csv *csv = NULL;
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_OK);
    memgov_budget_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_budget_get_stats(io, &s), MEMGOV_OK);
    assert_true(s.used >= 256 * KiB && s.used < 300 * KiB);
    assert_int_equal(memgov_csv_size(csv), 8);
    memgov_csv_close(csv);
    assert_int_equal(memgov_budget_get_stats(io, &s), MEMGOV_OK);
    assert_int_equal(s.used, 0);
    o.buffer_bytes = 2 * MiB; /* more than the cap: refused, nothing left behind */
    assert_int_equal(memgov_csv_open(path, &o, &csv), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "'io'"));
    assert_int_equal(memgov_budget_get_stats(io, &s), MEMGOV_OK);
    assert_int_equal(s.used, 0);
    assert_int_equal(memgov_budget_destroy(io), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* The summary of a block that starts inside quotes: its out-of-quote line feeds are those of odd local parity.
 * Block 1 (64..128 KiB) starts inside a quoted field, has plain records after it closes and opens another one
 * that runs past the chunk's target in block 2: the chunk ends at block 1's last plain record. */
static void csv_block_starting_inside_quotes(void **state)
{
    (void)state;
    static char d[200000];
    size_t i = 0;
    d[i++] = '"';
    for (; i < 70000; i++)
        d[i] = i % 50 == 0 ? '\n' : 'q';
    d[i++] = '"';
    d[i++] = '\n';
    for (; i < 100000; i++)
        d[i] = i % 10 == 0 ? '\n' : 'p';
    d[i++] = '"';
    for (; i < 160000; i++)
        d[i] = i % 50 == 0 ? '\n' : 'q';
    d[i++] = '"';
    for (; i < sizeof d; i++)
        d[i] = i % 10 == 0 ? '\n' : 'p';
    const char *path = put_file("inq.csv", d, sizeof d);
    reference(d, sizeof d, 150000, 0, '"', &want);
    assert_int_equal(want.c[0].length, 99991); /* the line feed at 99990 */
    for (unsigned threads = 1; threads <= 4; threads++) {
        memgov_csv_options o = csv_opts(150000, 0, threads, 64 * KiB);
        run_chunker(path, &o, &got);
        same_chunks(&got, &want);
    }
}

/* The first pass runs on a lease (memgov_parallel_for_static): any count gives the reference's chunks, and a
 * released lease makes the read fail with the loop's error. */
static void csv_reads_on_a_lease(void **state)
{
    (void)state;
    static char d[300000];
    for (size_t i = 0; i < sizeof d; i++)
        d[i] = i % 37 == 0 ? '\n' : i % 101 == 0 ? '"' : 'x';
    d[sizeof d - 1] = '\n';
    size_t quotes = 0;
    for (size_t i = 0; i < sizeof d; i++)
        quotes += d[i] == '"';
    if (quotes % 2) /* balance the quotes */
        d[101] = 'x';
    const char *path = put_file("leased.csv", d, sizeof d);
    reference(d, sizeof d, 20000, 0, '"', &want);
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&go, &gov), MEMGOV_OK);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "threads.max", "4"), MEMGOV_OK);
    for (unsigned n = 1; n <= 4; n++) {
        memgov_threads_lease *l = NULL;
        assert_int_equal(memgov_threads_acquire(gov, n, 0, NULL, 0, &l), MEMGOV_OK);
        memgov_csv_options o = csv_opts(20000, 0, 1, 64 * KiB);
        o.lease = l;
        assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ENOTFOUND);
        same_chunks(&got, &want);
        assert_int_equal(memgov_threads_release(l), MEMGOV_OK);
        assert_int_equal(run_chunker(path, &o, &got), MEMGOV_ESTATE);
        assert_non_null(strstr(memgov_last_error(), "released"));
        assert_int_equal(memgov_threads_lease_free(l), MEMGOV_OK);
    }
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* Random files with quotes, doubled quotes, quoted newlines and CRLF, some past a 64 KiB block and several
 * windows: every target, buffer and thread count gives the reference's chunks. */
static void csv_matches_the_reference_on_random_files(void **state)
{
    (void)state;
    static char data[600000];
    unsigned seed = 12345;
    for (int file = 0; file < 24; file++) {
        size_t n = file < 12 ? (size_t)(rand_r(&seed) % 3000) : 150000 + (size_t)(rand_r(&seed) % 450000);
        int quoted = rand_r(&seed) % 4; /* 0: no quotes at all */
        size_t i = 0;
        while (i < n) {
            int r = rand_r(&seed) % 100;
            if (quoted && r < 8 && i + 1 < n) { /* a quoted field, maybe with newlines and doubled quotes */
                data[i++] = '"';
                size_t len = (size_t)(rand_r(&seed) % (file % 5 == 4 ? 90000 : 40));
                for (size_t k = 0; k < len && i + 2 < n; k++) {
                    int q = rand_r(&seed) % 20;
                    if (q == 0) {
                        data[i++] = '"';
                        data[i++] = '"';
                    } else
                        data[i++] = q == 1 ? '\n' : q == 2 ? ',' : (char)('a' + q);
                }
                if (i < n)
                    data[i++] = '"';
            } else if (r < 14)
                data[i++] = '\n';
            else if (r < 16 && i + 1 < n) {
                data[i++] = '\r';
                data[i++] = '\n';
            } else if (r < 30)
                data[i++] = ',';
            else
                data[i++] = (char)('0' + r % 10);
        }
        if (file >= 18) { /* long quoted fields with newlines across block ends, plain records between */
            i = 0;
            while (i < n) {
                size_t len = 20000 + (size_t)(rand_r(&seed) % 60000);
                data[i++] = '"';
                for (size_t k = 0; k < len && i < n; k++)
                    data[i++] = k % 53 == 52 ? '\n' : 'q';
                if (i < n)
                    data[i++] = '"';
                len = (size_t)(rand_r(&seed) % 40000);
                for (size_t k = 0; k < len && i < n; k++)
                    data[i++] = k % 11 == 10 ? '\n' : 'p';
            }
            if (file == 23)
                data[n - 1] = '"'; /* an unterminated quote at the end, maybe */
        }
        const char *path = put_file("rand.csv", data, n);
        const uint64_t targets[] = {1, 7, 64, 1000, 70000, 150000, 1 << 20};
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++)
            for (int header = 0; header <= 1; header++) {
                            reference(data, n, targets[t], header, '"', &want);
                const unsigned threads[] = {1, 3, 8};
                for (size_t th = 0; th < 3; th++) {
                    memgov_csv_options o = csv_opts(targets[t], header, threads[th], th == 2 ? 64 * KiB : 192 * KiB);
                                    run_chunker(path, &o, &got);
                    same_chunks(&got, &want);
                }
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(planner_arithmetic_from_a_target),
        cmocka_unit_test(planner_refuses_bad_input_and_overflow),
        cmocka_unit_test(planner_uses_the_smallest_headroom_of_the_chain),
        cmocka_unit_test(planner_honours_the_mode_and_the_keys),
        cmocka_unit_test(recommendations_and_planner_share_one_formula),
        cmocka_unit_test(batcher_converges_to_the_largest_size_that_fits),
        cmocka_unit_test(batcher_reprobes_after_the_limit_rises_and_follows_it_down),
        cmocka_unit_test(batcher_rules_floor_ceiling_history),
        cmocka_unit_test(batcher_is_thread_safe),
        cmocka_unit_test(csv_edge_cases),
        cmocka_unit_test(csv_unterminated_quote_names_offset_and_line),
        cmocka_unit_test(csv_file_changing_size_is_eio),
        cmocka_unit_test(csv_bad_options_and_files),
        cmocka_unit_test(csv_buffer_comes_from_the_budget),
        cmocka_unit_test(csv_block_starting_inside_quotes),
        cmocka_unit_test(csv_reads_on_a_lease),
        cmocka_unit_test(csv_matches_the_reference_on_random_files),
    };
    return cmocka_run_group_tests(tests, csv_setup, csv_teardown);
}
