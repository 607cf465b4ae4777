/* Fault injection (internal/fault.h) against budgets: an allocator failure in the middle of a charge, an arena that
 * cannot be made, and the fault sites' own skip/fail/disarm rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "budget/backend.h"
#include "budget_support.h"

/* ---- fault injection -------------------------------------------------------------------------------------------- */

static void an_allocator_failure_mid_charge_leaves_every_counter_unchanged(void **state)
{
    fixture *f = *state;
    memgov_budget *m = child(f->root, "model", 0, 0, 0);
    memgov_budget *l = child(m, "layer", 0, 0, 0);
    void *keep = memgov_malloc(l, 1000);
    memgov_budget_stats before[3] = {stats_of(l), stats_of(m), stats_of(f->root)};
    mg_fault_arm(MG_FAULT_ALLOC, 0, 1);
    assert_null(memgov_malloc(l, 5000));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "the allocator has no memory"));
    mg_fault_arm(MG_FAULT_ALLOC, 0, 1);
    assert_null(memgov_realloc(l, keep, 50000));
    mg_fault_arm(MG_FAULT_ALLOC, 0, 1);
    assert_null(memgov_calloc(l, 10, 10));
    assert_int_equal(mg_fault_injected(MG_FAULT_ALLOC), 1);
    memgov_budget_stats after[3] = {stats_of(l), stats_of(m), stats_of(f->root)};
    for (int i = 0; i < 3; i++)
        assert_memory_equal(&before[i], &after[i], offsetof(memgov_budget_stats, arena_allocated));
    memgov_free(l, keep);
    assert_int_equal(memgov_budget_destroy(l), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(m), MEMGOV_OK);
}

static void a_budget_whose_arena_cannot_be_made_is_not_created(void **state)
{
    fixture *f = *state;
#ifdef MG_ALLOC_LIBC
    skip(); /* the libc backend has no arenas */
#endif
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    o.flags = MEMGOV_BUDGET_OWN_ARENA;
    /* The pool holds the arenas given back by earlier tests (fewer than 8): take them all, so that the next
     * budget needs a new arena from jemalloc. */
    memgov_budget *pooled[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(memgov_budget_create(f->root, &o, &pooled[i]), MEMGOV_OK);
    memgov_budget *b = NULL;
    mg_fault_arm(MG_FAULT_ALLOC, 0, 1);
    assert_int_equal(memgov_budget_create(f->root, &o, &b), MEMGOV_ENOMEM);
    assert_int_equal(mg_fault_injected(MG_FAULT_ALLOC), 1);
    assert_null(b);
    assert_int_equal(stats_of(f->root).children, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(memgov_budget_destroy(pooled[i]), MEMGOV_OK);
}

static void fault_sites_skip_then_fail_then_disarm(void **state)
{
    (void)state;
    mg_fault_arm(MG_FAULT_FILE_IO, 2, 2);
    bool got[5];
    for (int i = 0; i < 5; i++)
        got[i] = mg_fault_hit(MG_FAULT_FILE_IO);
    assert_false(got[0]);
    assert_false(got[1]);
    assert_true(got[2]);
    assert_true(got[3]);
    assert_false(got[4]);
    assert_false(mg_fault_hit(MG_FAULT_OS_CALL));
    assert_int_equal(mg_fault_injected(MG_FAULT_FILE_IO), 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, open_gov, close_gov)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(an_allocator_failure_mid_charge_leaves_every_counter_unchanged),
        T(a_budget_whose_arena_cannot_be_made_is_not_created),
        cmocka_unit_test(fault_sites_skip_then_fail_then_disarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
