/* Specification of memgov/budget.h: the tree, limits, allocation and its accounting, the
 * refusal path, reserve/release, events and statistics. Expected byte counts use memgov_usable_size(), so the
 * tests hold for both allocation backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "budget/backend.h"
#include "budget/budget_internal.h"
#include "budget/stock.h"
#include "memgov.h"
#if MG_BACKEND_KNOWS_SIZE_BEFORE
#include "internal/je.h"
#endif

#include "budget_support.h"

/* ---- the tree --------------------------------------------------------------------------------------------- */

static void create_validates_its_arguments(void **state)
{
    fixture *f = *state;
    memgov_budget *b = NULL;
    assert_int_equal(memgov_budget_create(NULL, NULL, &b), MEMGOV_EINVAL);
    assert_int_equal(memgov_budget_create(f->root, NULL, NULL), MEMGOV_EINVAL);
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    o.flags = 0x80;
    assert_int_equal(memgov_budget_create(f->root, &o, &b), MEMGOV_EINVAL);
    memgov_budget_options_init(&o);
    o.hard_limit = 10;
    o.soft_limit = 11;
    assert_int_equal(memgov_budget_create(f->root, &o, &b), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "soft limit"));
    assert_null(b);
    assert_int_equal(memgov_budget_create(f->root, NULL, &b), MEMGOV_OK);
    assert_string_equal(memgov_budget_name(b), "budget");
    assert_ptr_equal(memgov_budget_parent(b), f->root);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void the_tree_has_a_maximum_depth(void **state)
{
    fixture *f = *state;
    memgov_budget *chain[MEMGOV_BUDGET_MAX_DEPTH];
    chain[0] = f->root;
    for (int i = 1; i < MEMGOV_BUDGET_MAX_DEPTH; i++)
        chain[i] = child(chain[i - 1], "level", 0, 0, 0);
    memgov_budget *too_deep = NULL;
    assert_int_equal(memgov_budget_create(chain[MEMGOV_BUDGET_MAX_DEPTH - 1], NULL, &too_deep), MEMGOV_ERANGE);
    void *p = memgov_malloc(chain[MEMGOV_BUDGET_MAX_DEPTH - 1], 64);
    assert_int_equal(used(f->root), memgov_usable_size(chain[1], p));
    memgov_free(chain[MEMGOV_BUDGET_MAX_DEPTH - 1], p);
    for (int i = MEMGOV_BUDGET_MAX_DEPTH - 1; i >= 1; i--)
        assert_int_equal(memgov_budget_destroy(chain[i]), MEMGOV_OK);
}

static void destroy_refuses_live_bytes_and_names_them(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "cache", 0, 0, 0);
    void *p = memgov_malloc(b, 1000);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_EBUSY);
    char expect[64];
    snprintf(expect, sizeof expect, "(%zu bytes)", memgov_usable_size(b, p));
    assert_non_null(strstr(memgov_last_error(), expect));
    assert_non_null(strstr(memgov_last_error(), "'cache'"));
    memgov_free(b, p);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void destroy_refuses_children_and_names_them(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "model", 0, 0, 0);
    memgov_budget *w = child(b, "weights", 0, 0, 0);
    memgov_budget *a = child(b, "activations", 0, 0, MEMGOV_BUDGET_OWN_ARENA);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_EBUSY);
    assert_int_equal(memgov_last_status(), MEMGOV_EBUSY);
    assert_non_null(strstr(memgov_last_error(), "2 children: 'weights', 'activations'"));
    assert_int_equal(stats_of(b).children, 2);
    assert_int_equal(memgov_budget_destroy(w), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(a), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(f->root), MEMGOV_EINVAL);
}

/* ---- allocation and accounting ------------------------------------------------------------------------------ */

static void a_block_is_charged_in_usable_bytes_to_every_ancestor(void **state)
{
    fixture *f = *state;
    memgov_budget *m = child(f->root, "model", 0, 0, 0);
    memgov_budget *l = child(m, "layer", 0, 0, MEMGOV_BUDGET_OWN_ARENA);
    void *p = memgov_malloc(l, 100);
    assert_non_null(p);
    size_t n = memgov_usable_size(l, p);
    assert_true(n >= 100);
    memset(p, 0xab, n);
    assert_int_equal(used(l), n);
    assert_int_equal(used(m), n);
    assert_int_equal(used(f->root), n);
    assert_int_equal(stats_of(l).allocations, 1);
    memgov_free(l, p);
    assert_int_equal(used(l), 0);
    assert_int_equal(used(m), 0);
    assert_int_equal(used(f->root), 0);
    assert_int_equal(stats_of(l).frees, 1);
    assert_true(stats_of(l).peak >= n); /* the peak counts the thread.s stock too */
    assert_int_equal(memgov_budget_destroy(l), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(m), MEMGOV_OK);
}

/* Each stock slot counts operations in 16-bit fields that spill into 64-bit counters every 2^15 operations
 * (budget_internal.h): the counts stay exact across several spills, and neither a reservation nor a growing
 * reallocation counts as an allocation. */
static void operation_counts_stay_exact_across_spills(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "counted", 0, 0, 0);
    enum { N = 3 * 32768 + 5, HELD = 40 };
    void *held[HELD];
    for (int i = 0; i < N; i++) {
        void *p = memgov_malloc(b, 16 + (size_t)(i % 4) * 100);
        if (p == NULL)
            fail_msg("allocation %d failed: %s", i, memgov_last_error());
        if (i % HELD == HELD - 1 || i == N - 1) {
            held[i % HELD] = p;
            for (int k = 0; k <= i % HELD; k++)
                memgov_free(b, held[k]);
        } else {
            held[i % HELD] = p;
        }
    }
    assert_int_equal(stats_of(b).allocations, N);
    assert_int_equal(stats_of(b).frees, N);
    assert_int_equal(used(b), 0);
    assert_int_equal(memgov_reserve(b, 1000), MEMGOV_OK);
    assert_int_equal(memgov_release(b, 1000), MEMGOV_OK);
    void *p = memgov_malloc(b, 10);
    assert_non_null(p);
    p = memgov_realloc(b, p, 5000);
    assert_non_null(p);
    memgov_free(b, p);
    assert_int_equal(stats_of(b).allocations, N + 1);
    assert_int_equal(stats_of(b).frees, N + 1);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void zero_sizes_give_unique_blocks_and_free_null_is_a_no_op(void **state)
{
    fixture *f = *state;
    void *a = memgov_malloc(f->root, 0);
    void *b = memgov_calloc(f->root, 0, 8);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(used(f->root), memgov_usable_size(f->root, a) + memgov_usable_size(f->root, b));
    memgov_free(f->root, NULL);
    memgov_sized_free(f->root, NULL, 8);
    assert_int_equal(memgov_usable_size(f->root, NULL), 0);
    memgov_free(f->root, a);
    memgov_free(f->root, b);
    assert_int_equal(used(f->root), 0);
}

static void calloc_zeroes_and_refuses_an_overflowing_product(void **state)
{
    fixture *f = *state;
    unsigned char *p = memgov_calloc(f->root, 100, 3);
    assert_non_null(p);
    for (int i = 0; i < 300; i++)
        assert_int_equal(p[i], 0);
    memgov_free(f->root, p);
    assert_null(memgov_calloc(f->root, SIZE_MAX / 2, 3));
    assert_int_equal(memgov_last_status(), MEMGOV_EOVERFLOW);
    assert_int_equal(used(f->root), 0);
}

static void aligned_allocation_is_aligned_and_checks_its_alignment(void **state)
{
    fixture *f = *state;
    void *p = memgov_aligned_alloc(f->root, 4096, 100);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 4096, 0);
    assert_int_equal(used(f->root), memgov_usable_size(f->root, p));
    memgov_free(f->root, p);
    assert_null(memgov_aligned_alloc(f->root, 48, 100));
    assert_int_equal(memgov_last_status(), MEMGOV_EINVAL);
    assert_null(memgov_aligned_alloc(f->root, 64, SIZE_MAX - 10));
    assert_int_equal(memgov_last_status(), MEMGOV_EOVERFLOW);
    assert_int_equal(used(f->root), 0);
}

static void sized_free_credits_what_was_charged(void **state)
{
    fixture *f = *state;
    void *p = memgov_malloc(f->root, 1000);
    memgov_sized_free(f->root, p, 1000);
    assert_int_equal(used(f->root), 0);
    assert_int_equal(stats_of(f->root).frees, 1);
}

static void realloc_charges_only_the_difference(void **state)
{
    fixture *f = *state;
    char *p = memgov_malloc(f->root, 100 * KiB);
    memset(p, 7, 100 * KiB);
    size_t before = memgov_usable_size(f->root, p);
    /* 1 MiB cap: growing 100 KiB to 900 KiB fits only if the old block is not charged twice. */
    p = memgov_realloc(f->root, p, 900 * KiB);
    assert_non_null(p);
    assert_true(before < memgov_usable_size(f->root, p));
    assert_int_equal(used(f->root), memgov_usable_size(f->root, p));
    assert_int_equal(p[100 * KiB - 1], 7);
    p = memgov_realloc(f->root, p, 10);
    assert_int_equal(used(f->root), memgov_usable_size(f->root, p));
    assert_int_equal(p[9], 7);
    assert_int_equal(stats_of(f->root).allocations, 1);
    memgov_free(f->root, p);
    assert_int_equal(used(f->root), 0);
}

static void realloc_of_null_allocates(void **state)
{
    fixture *f = *state;
    void *p = memgov_realloc(f->root, NULL, 64);
    assert_non_null(p);
    assert_int_equal(used(f->root), memgov_usable_size(f->root, p));
    memgov_free(f->root, p);
}

static void realloc_refused_keeps_the_block_charged_and_intact(void **state)
{
    fixture *f = *state;
    char *p = memgov_malloc(f->root, 600 * KiB);
    memset(p, 9, 600 * KiB);
    uint64_t charged = used(f->root);
    assert_null(memgov_realloc(f->root, p, 2 * MiB));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    assert_int_equal(used(f->root), charged);
    assert_int_equal(p[600 * KiB - 1], 9);
    memgov_free(f->root, p);
    assert_int_equal(used(f->root), 0);
}

/* ---- limits and the refusal message -------------------------------------------------------------------------- */

static void a_request_over_the_cap_is_refused_with_a_message(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "model", 64 * KiB, 0, 0);
    assert_null(memgov_malloc(b, 100 * KiB));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    assert_true(strncmp(memgov_last_error(), "budget 'model' refused ", 23) == 0);
    assert_non_null(strstr(memgov_last_error(), "would exceed its hard limit of 64.0 KiB"));
    /* A reservation is charged exactly what it asks for, so its message is exact. */
    assert_int_equal(memgov_reserve(b, 100 * KiB), MEMGOV_ENOMEM);
    assert_string_equal(memgov_last_error(),
                        "budget 'model' refused 100 KiB: use 0 B (peak 0 B) + request would exceed its hard limit "
                        "of 64.0 KiB");
    assert_int_equal(stats_of(b).refusals, 2);
    assert_int_equal(used(f->root), 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void an_ancestor_refusal_names_the_ancestor_and_rolls_back_every_level(void **state)
{
    fixture *f = *state;
    memgov_budget *m = child(f->root, "model", 0, 0, 0);
    memgov_budget *l = child(m, "layer", 0, 0, 0);
    assert_int_equal(memgov_reserve(f->root, 512 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_reserve(l, 600 * KiB), MEMGOV_ENOMEM);
    assert_string_equal(memgov_last_error(),
                        "budget 'root' refused 600 KiB requested on its descendant 'layer': use 512 KiB (peak 512 "
                        "KiB) + request would exceed its hard limit of 1.00 MiB");
    assert_int_equal(used(l), 0);
    assert_int_equal(used(m), 0);
    assert_int_equal(stats_of(l).peak, 0);
    assert_int_equal(used(f->root), 512 * KiB);
    assert_int_equal(stats_of(f->root).refusals, 1);
    assert_int_equal(stats_of(l).refusals, 0);
    assert_int_equal(memgov_release(f->root, 512 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(l), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(m), MEMGOV_OK);
}

static void lowering_a_limit_below_use_refuses_new_charges_until_use_drops(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 0, 0, 0);
    void *p = memgov_malloc(b, 10 * KiB);
    assert_int_equal(memgov_budget_set_limits(b, 4 * KiB, 0), MEMGOV_OK);
    assert_int_equal(stats_of(b).hard_limit, 4 * KiB);
    assert_null(memgov_malloc(b, 16));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    memgov_free(b, p);
    p = memgov_malloc(b, 16);
    assert_non_null(p);
    memgov_free(b, p);
    assert_int_equal(memgov_budget_set_limits(b, 100, 200), MEMGOV_ERANGE);
    assert_int_equal(stats_of(b).hard_limit, 4 * KiB);
    assert_int_equal(memgov_budget_set_limits(NULL, 0, 0), MEMGOV_EINVAL);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void reset_peak_brings_the_peak_down_to_the_use(void **state)
{
    fixture *f = *state;
    assert_int_equal(memgov_reserve(f->root, 200 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_reserve(f->root, 200 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_release(f->root, 200 * KiB), MEMGOV_OK);
    assert_int_equal(stats_of(f->root).peak, 400 * KiB);
    assert_int_equal(memgov_budget_reset_peak(f->root), MEMGOV_OK);
    assert_int_equal(stats_of(f->root).peak, 200 * KiB);
    assert_int_equal(memgov_release(f->root, 200 * KiB), MEMGOV_OK);
}

/* The stock slots run without locked instructions where membarrier works, else (or when forced, as the
 * budget-locked and stress-locked tests do) with compare-and-swap; TSan builds always use the latter. */
static void the_stock_mode_is_the_expected_one(void **state)
{
    (void)state;
    const char *force = getenv("MG_STOCK_FORCE_LOCKED");
    bool forced = force != NULL && *force != '\0' && *force != '0';
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    bool available = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0;
#if defined(__SANITIZE_THREAD__)
    available = false;
#endif
    print_message("stock slots: %s\n", mg_stock_plain() ? "plain owner updates + membarrier" : "locked");
    assert_int_equal(mg_stock_plain(), available && !forced);
}

static void stocks_never_take_a_budget_past_its_limits(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "small", 4 * KiB, 2 * KiB, 0);
    void *p = memgov_malloc(b, 100);
    assert_non_null(p);
    assert_true(stats_of(b).peak <= 2 * KiB); /* the stock was refilled only up to the soft limit */
    memgov_free(b, p);
    assert_int_equal(used(b), 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void a_refusal_drains_the_stocks_before_failing(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "small-blocks", 0, 0, 0);
    void *p = memgov_malloc(b, 100); /* leaves a stock of pre-charged bytes under the root */
    size_t n = memgov_usable_size(b, p);
    /* Fits beside the live block, but not beside the live block and the stock. */
    assert_int_equal(memgov_reserve(f->root, 1 * MiB - n), MEMGOV_OK);
    assert_int_equal(used(f->root), 1 * MiB);
    assert_int_equal(stats_of(f->root).refusals, 0);
    assert_int_equal(memgov_release(f->root, 1 * MiB - n), MEMGOV_OK);
    memgov_free(b, p);
    assert_int_equal(used(f->root), 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* ---- reserve / release ---------------------------------------------------------------------------------------- */

static void reserve_charges_like_an_allocation_and_release_credits(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "numpy", 100 * KiB, 0, 0);
    assert_int_equal(memgov_reserve(b, 60 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_reserve(b, 60 * KiB), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "budget 'numpy' refused 60.0 KiB"));
    assert_int_equal(used(b), 60 * KiB);
    assert_int_equal(stats_of(b).reserved, 60 * KiB);
    assert_int_equal(used(f->root), 60 * KiB);
    assert_int_equal(memgov_release(b, 61 * KiB), MEMGOV_ERANGE);
    assert_int_equal(used(b), 60 * KiB);
    assert_int_equal(memgov_release(b, 60 * KiB), MEMGOV_OK);
    assert_int_equal(used(f->root), 0);
    assert_int_equal(stats_of(b).reserved, 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void reserve_past_64_bits_is_an_overflow(void **state)
{
    (void)state;
    memgov *gov;
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = MEMGOV_OPEN_NO_LIMIT;
    o.flags = MEMGOV_OPEN_NO_ENV;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    memgov_budget *r = memgov_root(gov);
    assert_int_equal(memgov_reserve(r, UINT64_MAX - 5), MEMGOV_OK);
    assert_int_equal(memgov_reserve(r, 10), MEMGOV_EOVERFLOW);
    assert_int_equal(used(r), UINT64_MAX - 5);
    assert_int_equal(memgov_release(r, UINT64_MAX - 5), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* One rule for a request no limit can hold: a capped level refuses it (MEMGOV_ENOMEM) whatever the use, even where
 * use + request would pass 2^64 - 1; only a chain without any limit reports the overflow. */
static void a_huge_reserve_on_a_capped_budget_is_refused_whatever_the_use(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 0, 0, 0); /* no limit of its own: the root's 1 MiB applies */
    assert_int_equal(memgov_reserve(b, UINT64_MAX), MEMGOV_ENOMEM);
    assert_int_equal(memgov_reserve(b, 100), MEMGOV_OK);
    assert_int_equal(memgov_reserve(b, UINT64_MAX), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "budget 'root' refused"));
    assert_int_equal(memgov_reserve(b, UINT64_MAX - 50), MEMGOV_ENOMEM);
    assert_int_equal(used(b), 100);
    assert_int_equal(stats_of(f->root).refusals, 3);
    assert_int_equal(memgov_release(b, 100), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* The peak is the highest charge under the limit in force at the time: lowering the limit keeps it (history is
 * not rewritten), and a reset brings it down to the charge now. */
static void the_peak_stays_above_a_lowered_limit_until_it_is_reset(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 512 * KiB, 0, 0);
    assert_int_equal(memgov_reserve(b, 400 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_budget_set_limits(b, 100 * KiB, 0), MEMGOV_OK);
    memgov_budget_stats st = stats_of(b);
    assert_int_equal(st.hard_limit, 100 * KiB);
    assert_int_equal(st.peak, 400 * KiB);
    assert_int_equal(memgov_release(b, 300 * KiB), MEMGOV_OK);
    assert_int_equal(stats_of(b).peak, 400 * KiB);
    assert_int_equal(memgov_budget_reset_peak(b), MEMGOV_OK);
    assert_int_equal(stats_of(b).peak, 100 * KiB);
    assert_int_equal(memgov_reserve(b, 1), MEMGOV_ENOMEM); /* at the lowered limit: nothing more */
    assert_int_equal(stats_of(b).peak, 100 * KiB);
    assert_int_equal(memgov_release(b, 100 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* ---- reclaim --------------------------------------------------------------------------------------------------- */

typedef struct cache {
    memgov_budget *budget;
    void *blocks[16];
    int n;
    int calls;
    char *log;
    int *log_pos;
    char tag;
} cache;

static uint64_t drop_cache(memgov_budget *refusing, uint64_t needed, void *user)
{
    (void)refusing;
    (void)needed;
    cache *c = user;
    c->calls++;
    c->log[(*c->log_pos)++] = c->tag;
    uint64_t freed = 0;
    while (c->n > 0) {
        void *p = c->blocks[--c->n];
        freed += memgov_usable_size(c->budget, p);
        memgov_free(c->budget, p);
    }
    return freed;
}

static uint64_t free_nothing(memgov_budget *refusing, uint64_t needed, void *user)
{
    (void)refusing;
    (void)needed;
    cache *c = user;
    c->calls++;
    c->log[(*c->log_pos)++] = c->tag;
    return 0;
}

static void reclaim_frees_a_sibling_cache_and_the_retry_succeeds(void **state)
{
    fixture *f = *state;
    memgov_budget *cb = child(f->root, "cache", 0, 0, 0);
    memgov_budget *work = child(f->root, "work", 0, 0, 0);
    int pos = 0;
    char log[8] = "";
    cache c = {.budget = cb, .log = log, .log_pos = &pos, .tag = 'c'};
    uint64_t id_c = 0;
    for (c.n = 0; c.n < 8; c.n++)
        c.blocks[c.n] = memgov_malloc(cb, 100 * KiB);
    assert_int_equal(memgov_budget_add_reclaim(cb, drop_cache, &c, 0, &id_c), MEMGOV_OK);
    void *p = memgov_malloc(work, 500 * KiB);
    assert_non_null(p);
    assert_int_equal(c.calls, 1);
    assert_int_equal(used(cb), 0);
    assert_int_equal(stats_of(cb).reclaims, 1);
    assert_int_equal(used(f->root), memgov_usable_size(work, p));
    assert_string_equal(log, "c");
    memgov_free(work, p);
    assert_int_equal(memgov_budget_remove_reclaim(cb, id_c), MEMGOV_OK);
    assert_int_equal(memgov_budget_remove_reclaim(cb, id_c), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_budget_destroy(cb), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(work), MEMGOV_OK);
}

static void reclaim_callbacks_run_by_priority_then_exactly_one_retry(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 0, 0, 0);
    int pos = 0;
    char log[8] = "";
    cache lo = {.budget = b, .log = log, .log_pos = &pos, .tag = 'l'};
    cache hi = {.budget = b, .log = log, .log_pos = &pos, .tag = 'h'};
    cache mid = {.budget = b, .log = log, .log_pos = &pos, .tag = 'm'};
    uint64_t id_lo = 0, id_hi = 0, id_mid = 0;
    assert_int_equal(memgov_budget_add_reclaim(b, free_nothing, &lo, 1, &id_lo), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_reclaim(b, free_nothing, &hi, 9, &id_hi), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_reclaim(f->root, free_nothing, &mid, 5, &id_mid), MEMGOV_OK);
    /* Refused by the root: the callbacks of the root and of every budget below it run, highest priority first. */
    assert_null(memgov_malloc(b, 2 * MiB));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    assert_string_equal(log, "hml"); /* one round, not a loop */
    assert_int_equal(stats_of(f->root).refusals, 1);
    assert_int_equal(memgov_budget_remove_reclaim(f->root, id_mid), MEMGOV_OK);
    assert_int_equal(memgov_budget_remove_reclaim(b, id_lo), MEMGOV_OK);
    assert_int_equal(memgov_budget_remove_reclaim(b, id_hi), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static char call_log[8];
static int call_pos;
static uint64_t log_a(memgov_budget *r, uint64_t n, void *u)
{
    (void)r, (void)n, (void)u;
    call_log[call_pos++] = 'a';
    return 0;
}
static uint64_t log_b(memgov_budget *r, uint64_t n, void *u)
{
    (void)r, (void)u;
    call_log[call_pos++] = 'b';
    return n; /* claims enough: later callbacks are not called */
}
static uint64_t log_c(memgov_budget *r, uint64_t n, void *u)
{
    (void)r, (void)n, (void)u;
    call_log[call_pos++] = 'c';
    return 0;
}

static void reclaim_stops_once_enough_is_reported(void **state)
{
    fixture *f = *state;
    call_pos = 0;
    assert_int_equal(memgov_budget_add_reclaim(f->root, log_a, NULL, 3, NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_reclaim(f->root, log_b, NULL, 2, NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_reclaim(f->root, log_c, NULL, 1, NULL), MEMGOV_OK);
    assert_int_equal(memgov_reserve(f->root, 2 * MiB), MEMGOV_ENOMEM);
    assert_int_equal(call_pos, 2);
    assert_memory_equal(call_log, "ab", 2);
    for (int i = 0; i < MEMGOV_BUDGET_MAX_CALLBACKS - 3; i++)
        assert_int_equal(memgov_budget_add_reclaim(f->root, log_c, NULL, 0, NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_reclaim(f->root, log_c, NULL, 0, NULL), MEMGOV_ERANGE);
}

/* ---- events ---------------------------------------------------------------------------------------------------- */

typedef struct event_log {
    memgov_event ev[16];
    int n;
} event_log;

static void record(const memgov_event *ev, void *user)
{
    event_log *l = user;
    if (l->n < 16)
        l->ev[l->n++] = *ev;
}

static void soft_limit_crossing_and_clearing_are_announced_up_the_tree(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 0, 10 * KiB, 0);
    event_log on_b = {0}, on_root = {0};
    uint64_t id_on_b = 0, id_on_root = 0;
    assert_int_equal(memgov_budget_add_listener(b, record, &on_b, &id_on_b), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_listener(f->root, record, &on_root, &id_on_root), MEMGOV_OK);
    void *small = memgov_malloc(b, 4 * KiB);
    assert_int_equal(on_b.n, 0);
    void *big = memgov_malloc(b, 8 * KiB);
    assert_int_equal(on_b.n, 1);
    assert_int_equal(on_b.ev[0].kind, MEMGOV_EVENT_SOFT_CROSSED);
    assert_ptr_equal(on_b.ev[0].budget, b);
    assert_int_equal(on_b.ev[0].soft_limit, 10 * KiB);
    assert_int_equal(on_b.ev[0].used, used(b));
    assert_int_equal(on_root.n, 1); /* the root's listener hears its descendants' events */
    assert_ptr_equal(on_root.ev[0].budget, b);
    memgov_free(b, big);
    assert_int_equal(on_b.n, 2);
    assert_int_equal(on_b.ev[1].kind, MEMGOV_EVENT_SOFT_CLEARED);
    memgov_free(b, small);
    assert_int_equal(on_b.n, 2);
    assert_int_equal(memgov_budget_remove_listener(f->root, id_on_root), MEMGOV_OK);
    assert_int_equal(memgov_budget_remove_listener(f->root, id_on_root), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_budget_remove_listener(b, id_on_b), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* Bytes charged to b beyond its live bytes: what its stocks hold. */
static uint64_t stocked(memgov_budget *b)
{
    return atomic_load(&b->used) - used(b);
}

/* A crossing drains the stocks below the crossing level first and announces only a level still over; while it is
 * over, the stocks stay closed and every free reaches the shared counters at once. */
static void a_soft_crossing_drains_and_closes_the_stocks_below_it(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 0, 64 * KiB, 0);
    event_log l = {0};
    uint64_t id_l = 0;
    assert_int_equal(memgov_budget_add_listener(b, record, &l, &id_l), MEMGOV_OK);
    void *small[8];
    uint64_t live = 0;
    for (int i = 0; i < 8; i++) {
        small[i] = memgov_malloc(b, 512);
        assert_non_null(small[i]);
        live += memgov_usable_size(b, small[i]);
    }
    assert_true(stocked(b) > 0); /* the first charge refilled this thread's stock */
    void *big = memgov_malloc(b, 61 * KiB);
    assert_non_null(big);
    live += memgov_usable_size(b, big);
    assert_true(live > 64 * KiB);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.ev[0].kind, MEMGOV_EVENT_SOFT_CROSSED);
    assert_int_equal(l.ev[0].used, live);
    assert_int_equal(stocked(b), 0);
    memgov_free(b, small[0]); /* the stock is closed: straight to the counters */
    live -= 512;
    assert_int_equal(atomic_load(&b->used), live);
    memgov_free(b, big);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.ev[1].kind, MEMGOV_EVENT_SOFT_CLEARED);
    for (int i = 1; i < 8; i++)
        memgov_free(b, small[i]);
    assert_int_equal(used(b), 0);
    void *again = memgov_malloc(b, 512); /* under the limit again: the next refill reopens the stock */
    assert_true(stocked(b) > 0);
    memgov_free(b, again);
    assert_int_equal(l.n, 2);
    assert_int_equal(memgov_budget_remove_listener(b, id_l), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* A charge that takes the charged total over the soft limit only because of bytes in stocks announces nothing:
 * the stocks are drained, the live bytes are under the limit, and no SOFT_CLEARED follows either. */
static void a_crossing_made_only_by_stocks_is_not_announced(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 0, 200 * KiB, 0);
    event_log l = {0};
    uint64_t id_l = 0;
    assert_int_equal(memgov_budget_add_listener(b, record, &l, &id_l), MEMGOV_OK);
    memgov_free(b, memgov_malloc(b, 512));
    assert_true(stocked(b) > 60 * KiB); /* a refill (budget.charge_batch, within the soft limit), then the block */
    assert_int_equal(memgov_reserve(b, 150 * KiB), MEMGOV_OK);
    assert_int_equal(stocked(b), 0);
    assert_int_equal(used(b), 150 * KiB);
    assert_int_equal(memgov_release(b, 150 * KiB), MEMGOV_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(memgov_budget_remove_listener(b, id_l), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* The fast path caches the thread's tcache in its slot; once the thread's tcaches are destroyed (thread exit, or
 * a quiesce) the cached flags must not be used again (jemalloc crashes on a destroyed tcache), and the books stay
 * exact across the change. */
static void the_fast_path_rebinds_after_the_thread_caches_are_flushed(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "own", 0, 0, MEMGOV_BUDGET_OWN_ARENA);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++)
            memgov_free(b, memgov_malloc(b, 100));
        mg_backend_thread_flush();
    }
    memgov_budget_stats st = stats_of(b);
    assert_int_equal(st.allocations, 12);
    assert_int_equal(st.frees, 12);
    assert_int_equal(st.used, 0);
#if MG_BACKEND_KNOWS_SIZE_BEFORE
    assert_int_equal(st.arena_allocated, 0);
#endif
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

#if MG_BACKEND_KNOWS_SIZE_BEFORE
/* The fast path's class tables (usable size and jemalloc's class index, for the glue in the private jemalloc)
 * agree with nallocx for every size they serve (up to 64 KiB with memgov's tcache_max), and the glue answers
 * "no class" and "no tcache" where it must. */
static void the_fast_size_classes_match_jemalloc(void **state)
{
    (void)state;
    size_t tcache_max = 0, len = sizeof tcache_max;
    assert_int_equal(mgje_mallctl("arenas.tcache_max", &tcache_max, &len, NULL, 0), 0);
    size_t served = tcache_max >= MG_FAST_MAX ? MG_FAST_MAX : MG_FAST_SMALL;
    for (size_t size = 1; size <= served; size++) {
        mg_class c = mg_fast_class(size);
        size_t usable;
        unsigned index = mgje_fast_index(size, &usable);
        if (c.usable != mgje_nallocx(size, 0) || c.index != index || usable != c.usable)
            fail_msg("size %zu: table %u bytes class %u, nallocx %zu, glue %zu bytes class %u", size, c.usable,
                     c.index, mgje_nallocx(size, 0), usable, index);
    }
    size_t usable = 1;
    assert_int_equal(mgje_fast_index(0, &usable), ~0u);
    assert_int_equal(usable, 0);
    assert_int_equal(mgje_fast_index(tcache_max + 1, &usable), ~0u); /* above what thread caches hold */
    assert_int_equal(usable, 0);
    assert_null(mgje_fast_tcache(0));                   /* the thread's automatic tcache: not for the glue */
    assert_null(mgje_fast_tcache(MALLOCX_TCACHE_NONE)); /* no tcache at all */
    /* on unless the stocks are in locked mode (MG_STOCK_FORCE_LOCKED, no membarrier); up to 64 KiB unless
     * MGJE_MALLOC_CONF set a smaller tcache_max */
    assert_int_equal(atomic_load(&mg_fast_max), mg_stock_plain() ? served : 0);
    if (getenv("MGJE_MALLOC_CONF") == NULL)
        assert_int_equal(served, MG_FAST_MAX); /* memgov's compiled-in tcache_max (backend_jemalloc.c) */
    /* the fast path's inline pop mirrors jemalloc's cache_bin_t: the glue's layout agrees with mg_je_bin */
    size_t layout[6];
    assert_true(mgje_fast_bin_layout(layout));
    assert_int_equal(layout[0], MG_JE_BINS_OFFSET);
    assert_int_equal(layout[1], MG_JE_BIN_SIZE);
    assert_int_equal(layout[2], offsetof(mg_je_bin, head));
    assert_int_equal(layout[3], offsetof(mg_je_bin, nrequests));
    assert_int_equal(layout[4], offsetof(mg_je_bin, low_water));
    assert_int_equal(layout[5], offsetof(mg_je_bin, full));
    /* and the inline free's lookup mirrors the rtree cache's */
    size_t geo[10];
    assert_true(mgje_fast_rtree_layout(geo));
    assert_int_equal(geo[0], MG_JE_RTREE_NCACHE);
    assert_int_equal(geo[1], MG_JE_RTREE_KEY_BITS);
    assert_int_equal(geo[2], MG_JE_LEAF_SHIFT);
    assert_int_equal(geo[3], MG_JE_LEAF_BITS);
    assert_int_equal(geo[4], MG_JE_SZIND_SHIFT);
    assert_int_equal(geo[6], sizeof(mg_je_rtree_elm));
    assert_true(geo[9] <= MG_FAST_CLASSES);
    assert_non_null(mgje_fast_rtree_ctx());
}

/* The inline free (the class from the thread's rtree cache, the push onto the bin) credits each block's usable
 * size: blocks of every class the fast path serves, freed by memgov_free and memgov_sized_free, leave nothing
 * charged, and once the thread caches are flushed the arena holds nothing either. */
static void the_inline_free_credits_every_class(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "classes", 0, 0, MEMGOV_BUDGET_OWN_ARENA);
    memgov_free(b, memgov_malloc(b, 1)); /* binds the fast path */
    static void *p[3];
    size_t classes = 0;
    for (size_t size = 1; size <= MG_FAST_MAX; size = mgje_nallocx(size, 0) + 1, classes++) {
        for (int i = 0; i < 3; i++)
            assert_non_null(p[i] = memgov_malloc(b, size));
        assert_int_equal(used(b), 3 * mgje_nallocx(size, 0));
        memgov_free(b, p[0]);
        memgov_sized_free(b, p[1], size);
        memgov_free(b, p[2]);
        assert_int_equal(used(b), 0);
    }
    assert_true(classes > 40); /* 16 B to 64 KiB */
    memgov_budget_stats st = stats_of(b);
    assert_int_equal(st.allocations, st.frees);
    mg_backend_thread_flush();
    assert_int_equal(stats_of(b).arena_allocated, 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* jemalloc's request count of a bin, merged over every arena (the thread's tcaches flushed first). */
static uint64_t bin_requests(unsigned index)
{
    mg_backend_thread_flush(); /* merges the tcaches' counts into their arenas */
    mg_je_stats_refresh();
    char name[96];
    snprintf(name, sizeof name, "stats.arenas.%u.bins.%u.nrequests", MALLCTL_ARENAS_ALL, index);
    uint64_t v = 0;
    size_t len = sizeof v;
    assert_int_equal(mgje_mallctl(name, &v, &len, NULL, 0), 0);
    return v;
}

/* The fast path pops the tcache bin inline (mg_je_bin) and counts each request in the bin as jemalloc does:
 * after a thousand allocations of one class, most served by the inline pop, jemalloc's request count of that
 * class has grown by exactly a thousand, and the blocks are good. */
static void the_inline_pop_counts_requests_as_jemalloc_does(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "inline", 0, 0, MEMGOV_BUDGET_OWN_ARENA);
    enum { N = 1000, SIZE = 48 };
    size_t usable;
    unsigned index = mgje_fast_index(SIZE, &usable);
    memgov_free(b, memgov_malloc(b, SIZE)); /* binds the fast path */
    uint64_t before = bin_requests(index);
    static void *p[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N / 2; i++) {
            assert_non_null(p[i] = memgov_malloc(b, SIZE));
            memset(p[i], i, SIZE);
        }
        for (int i = 0; i < N / 2; i++) {
            assert_int_equal(((unsigned char *)p[i])[SIZE - 1], (unsigned char)i);
            memgov_free(b, p[i]);
        }
    }
    assert_int_equal(bin_requests(index) - before, N);
    assert_int_equal(used(b), 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static uint64_t thread_counter(const char *name)
{
    uint64_t v;
    size_t len = sizeof v;
    assert_int_equal(mgje_mallctl(name, &v, &len, NULL, 0), 0);
    return v;
}

/* The glue serves blocks from the tcache bin and takes them back as mallocx/dallocx do, but without jemalloc's
 * thread events (mgje_fast.c, docs/design.md 4.11): jemalloc's per-thread byte counters move by the usable size
 * of the blocks the public calls served (the glue declined: an empty bin after the thread's tcaches were flushed,
 * a full bin on free) and of no other, so by less than all of them for a small class, whose bin the public call
 * fills; and the budget's counters stay exact and the arena holds nothing once the blocks are back. */
static void fast_path_counters_for(memgov_budget *b, size_t size, int n, bool small)
{
    static void *p[300];
    size_t usable = mgje_nallocx(size, 0);
    for (int round = 0; round < 2; round++) {
        mg_backend_thread_flush(); /* empty tcache bins and a fresh binding */
        uint64_t a0 = thread_counter("thread.allocated"), d0 = thread_counter("thread.deallocated");
        for (int i = 0; i < n; i++)
            assert_non_null(p[i] = memgov_malloc(b, size));
        uint64_t a1 = thread_counter("thread.allocated");
        for (int i = 0; i < n; i++)
            memgov_free(b, p[i]);
        uint64_t d1 = thread_counter("thread.deallocated");
        assert_int_equal((a1 - a0) % usable, 0);
        assert_int_equal((d1 - d0) % usable, 0);
        assert_true(a1 - a0 <= (uint64_t)n * usable);
        if (!mg_stock_plain_ok) /* the locked mode has no fast path: every call is public */
            continue;
        if (small)
            assert_true(a1 - a0 < (uint64_t)n * usable); /* the glue served some from the filled bin */
        assert_true(d1 - d0 < (uint64_t)n * usable);     /* and took some back */
    }
}

static void the_fast_path_skips_jemalloc_thread_events(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "own", 0, 0, MEMGOV_BUDGET_OWN_ARENA);
    enum { N = 300, N_LARGE = 20 };
    fast_path_counters_for(b, 48, N, true); /* more than a 48-byte bin holds: the bin empties, refills, flushes */
    fast_path_counters_for(b, 40000, N_LARGE, false); /* a large class (40 KiB) that the thread caches hold */
    memgov_budget_stats st = stats_of(b);
    assert_int_equal(st.allocations, 2 * N + 2 * N_LARGE);
    assert_int_equal(st.frees, 2 * N + 2 * N_LARGE);
    assert_int_equal(st.used, 0);
    mg_backend_thread_flush();
    st = stats_of(b);
    assert_int_equal(st.arena_allocated, 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}
#endif

/* budget.charge_batch sizes the stock refills: 0 turns the stocks off (every charge on the shared counters), a
 * value is the base of each slot's batch, which adapts between it and MG_STOCK_GROW times it, and bounds what a
 * stock holds (twice its batch); a change applies from each stock's next refill. */
static void the_charge_batch_key_sizes_the_stocks(void **state)
{
    fixture *f = *state;
    memgov_config *cfg = memgov_governor_config(f->gov);
    memgov_budget *b = child(f->root, "b", 0, 0, 0);
    memgov_free(b, memgov_malloc(b, 512));
    assert_true(stocked(b) > 200 * KiB); /* the default, 256 KiB */
    assert_int_equal(memgov_config_set(cfg, "budget.charge_batch", "0"), MEMGOV_OK);
    assert_int_equal(memgov_budget_set_limits(b, 0, 0), MEMGOV_OK); /* drains: the next charge refills */
    void *p = memgov_malloc(b, 512);
    assert_int_equal(stocked(b), 0);
    memgov_free(b, p);
    assert_int_equal(stocked(b), 0); /* no refill opened the stock: the free went to the counters */
    assert_int_equal(memgov_config_set(cfg, "budget.charge_batch", "8KiB"), MEMGOV_OK);
    p = memgov_malloc(b, 512);
    assert_true(stocked(b) > 0 && stocked(b) <= MG_STOCK_GROW * 8 * KiB);
    void *q[40];
    for (int i = 0; i < 40; i++)
        q[i] = memgov_malloc(b, 512);
    for (int i = 0; i < 40; i++)
        memgov_free(b, q[i]);
    memgov_free(b, p);
    assert_true(stocked(b) <= 2 * MG_STOCK_GROW * 8 * KiB); /* frees beyond the cap went to the counters */
    assert_int_equal(used(b), 0);
    assert_int_equal(memgov_config_set(cfg, "budget.charge_batch", "256KiB"), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* The cap the calling thread's slot in b was last given (twice its batch). */
static uint64_t my_slot_cap(memgov_budget *b)
{
    assert_true(mg_me.index >= 1 && mg_me.index <= MG_STOCK_OWNED);
    return atomic_load(&b->stock[mg_me.index - 1].cap);
}

/* Rounds of 32 blocks of 4 KiB, each allocated and then freed: 128 KiB turned over per round. */
static void busy_rounds(memgov_budget *b, int rounds)
{
    void *q[32];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 32; i++)
            assert_non_null(q[i] = memgov_malloc(b, 4 * KiB));
        for (int i = 0; i < 32; i++)
            memgov_free(b, q[i]);
    }
}

/* A slot's batch adapts (charge.c, stock_batch): a slot that goes back to the shared counters within
 * MG_STOCK_BUSY_OPS operations doubles its batch up to MG_STOCK_GROW x charge_batch, and never past 1/16 of the
 * budget's hard limit; after more than MG_STOCK_IDLE_OPS quiet operations its next refill halves it. */
static void a_busy_stock_grows_its_batch_and_a_quiet_one_shrinks_it(void **state)
{
    fixture *f = *state;
    memgov_config *cfg = memgov_governor_config(f->gov);
    assert_int_equal(memgov_config_set(cfg, "budget.charge_batch", "8KiB"), MEMGOV_OK);
    memgov_budget *b = child(f->root, "busy", 0, 0, 0);
    const uint64_t most = MG_STOCK_GROW * 8 * KiB;
    memgov_free(b, memgov_malloc(b, 512));
    assert_int_equal(my_slot_cap(b), 2 * 8 * KiB); /* a slot's first refill: the base */
    busy_rounds(b, 40);
    assert_int_equal(my_slot_cap(b), 2 * most);
    assert_true(stocked(b) <= 2 * most);
    /* Quiet: small pairs served by the stock alone, then allocations until the next refill. */
    for (int i = 0; i < (int)MG_STOCK_IDLE_OPS; i++)
        memgov_free(b, memgov_malloc(b, 16));
    void *q[200];
    int n = 0;
    while (my_slot_cap(b) == 2 * most && n < 200)
        assert_non_null(q[n++] = memgov_malloc(b, 4 * KiB));
    assert_int_equal(my_slot_cap(b), most); /* halved: a batch of most / 2 */
    while (n > 0)
        memgov_free(b, q[--n]);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);

    /* A small budget: 512 KiB hard, so no batch above 32 KiB. */
    memgov_budget *small = child(f->root, "small", 512 * KiB, 0, 0);
    busy_rounds(small, 40);
    assert_int_equal(my_slot_cap(small), 2 * 32 * KiB);
    assert_int_equal(used(small), 0);
    assert_int_equal(memgov_budget_destroy(small), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "budget.charge_batch", "256KiB"), MEMGOV_OK);
}

static void a_hard_refusal_reaches_the_root_listener_with_the_numbers(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "b", 0, 0, 0);
    event_log l = {0};
    uint64_t id_l = 0;
    assert_int_equal(memgov_budget_add_listener(f->root, record, &l, &id_l), MEMGOV_OK);
    assert_int_equal(memgov_reserve(b, 300 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_reserve(b, 800 * KiB), MEMGOV_ENOMEM);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.ev[0].kind, MEMGOV_EVENT_HARD_REFUSAL);
    assert_int_equal(l.ev[0].struct_size, sizeof(memgov_event));
    assert_ptr_equal(l.ev[0].budget, f->root);
    assert_ptr_equal(l.ev[0].origin, b);
    assert_int_equal(l.ev[0].request, 800 * KiB);
    assert_int_equal(l.ev[0].used, 300 * KiB);
    assert_int_equal(l.ev[0].hard_limit, 1 * MiB);
    assert_int_equal(memgov_budget_set_limits(b, 2 * MiB, 0), MEMGOV_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.ev[1].kind, MEMGOV_EVENT_LIMIT_CHANGED);
    assert_int_equal(l.ev[1].hard_limit, 2 * MiB);
    assert_int_equal(memgov_release(b, 300 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_budget_remove_listener(f->root, id_l), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* ---- stats ------------------------------------------------------------------------------------------------------ */

static void stats_follow_the_struct_size_rule(void **state)
{
    fixture *f = *state;
    struct {
        memgov_budget_stats st;
        uint64_t future;
    } big;
    memset(&big, 0xff, sizeof big);
    big.st.struct_size = sizeof big;
    assert_int_equal(memgov_budget_get_stats(f->root, &big.st), MEMGOV_OK);
    assert_int_equal(big.future, 0);
    assert_int_equal(big.st.struct_size, sizeof big);
    /* An old caller knowing only the first two fields gets those and nothing past them. */
    struct {
        size_t struct_size;
        uint64_t used;
        uint64_t canary;
    } old = {.struct_size = offsetof(memgov_budget_stats, peak), .used = 99, .canary = 42};
    assert_int_equal(memgov_budget_get_stats(f->root, (memgov_budget_stats *)&old), MEMGOV_OK);
    assert_int_equal(old.used, 0);
    assert_int_equal(old.canary, 42);
    memgov_budget_stats bad = {.struct_size = 0};
    assert_int_equal(memgov_budget_get_stats(f->root, &bad), MEMGOV_EINVAL);
    assert_int_equal(memgov_budget_get_stats(NULL, &big.st), MEMGOV_EINVAL);
}

static void an_own_arena_reports_jemalloc_numbers(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "arena", 0, 0, MEMGOV_BUDGET_OWN_ARENA);
    void *p = memgov_malloc(b, 200 * KiB);
    mg_backend_thread_flush(); /* blocks cached by this thread (of an earlier owner of the arena) are given back */
    memgov_budget_stats st = stats_of(b);
#ifdef MG_ALLOC_LIBC
    assert_int_equal(st.own_arena, 0);
#else
    assert_int_equal(st.own_arena, 1);
    assert_int_equal(st.arena_allocated, memgov_usable_size(b, p));
    assert_true(st.arena_active >= st.arena_allocated);
    assert_true(st.arena_mapped >= st.arena_active);
#endif
    memgov_free(b, p);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

#define T(name) cmocka_unit_test_setup_teardown(name, open_gov, close_gov)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(create_validates_its_arguments),
        T(the_tree_has_a_maximum_depth),
        T(destroy_refuses_live_bytes_and_names_them),
        T(destroy_refuses_children_and_names_them),
        T(a_block_is_charged_in_usable_bytes_to_every_ancestor),
        T(operation_counts_stay_exact_across_spills),
        T(zero_sizes_give_unique_blocks_and_free_null_is_a_no_op),
        T(calloc_zeroes_and_refuses_an_overflowing_product),
        T(aligned_allocation_is_aligned_and_checks_its_alignment),
        T(sized_free_credits_what_was_charged),
        T(realloc_charges_only_the_difference),
        T(realloc_of_null_allocates),
        T(realloc_refused_keeps_the_block_charged_and_intact),
        T(a_request_over_the_cap_is_refused_with_a_message),
        T(an_ancestor_refusal_names_the_ancestor_and_rolls_back_every_level),
        T(lowering_a_limit_below_use_refuses_new_charges_until_use_drops),
        T(reset_peak_brings_the_peak_down_to_the_use),
        T(a_huge_reserve_on_a_capped_budget_is_refused_whatever_the_use),
        T(the_peak_stays_above_a_lowered_limit_until_it_is_reset),
        T(the_stock_mode_is_the_expected_one),
        T(stocks_never_take_a_budget_past_its_limits),
        T(a_refusal_drains_the_stocks_before_failing),
        T(reserve_charges_like_an_allocation_and_release_credits),
        cmocka_unit_test(reserve_past_64_bits_is_an_overflow),
        T(reclaim_frees_a_sibling_cache_and_the_retry_succeeds),
        T(reclaim_callbacks_run_by_priority_then_exactly_one_retry),
        T(reclaim_stops_once_enough_is_reported),
        T(soft_limit_crossing_and_clearing_are_announced_up_the_tree),
        T(a_soft_crossing_drains_and_closes_the_stocks_below_it),
        T(a_crossing_made_only_by_stocks_is_not_announced),
        T(the_fast_path_rebinds_after_the_thread_caches_are_flushed),
#if MG_BACKEND_KNOWS_SIZE_BEFORE
        T(the_fast_size_classes_match_jemalloc),
        T(the_inline_pop_counts_requests_as_jemalloc_does),
        T(the_inline_free_credits_every_class),
        T(the_fast_path_skips_jemalloc_thread_events),
#endif
        T(the_charge_batch_key_sizes_the_stocks),
        T(a_busy_stock_grows_its_batch_and_a_quiet_one_shrinks_it),
        T(a_hard_refusal_reaches_the_root_listener_with_the_numbers),
        T(stats_follow_the_struct_size_rule),
        T(an_own_arena_reports_jemalloc_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
