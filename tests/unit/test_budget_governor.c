/* Specification of memgov/governor.h's life cycle as the budget tree sees it: memgov_open's root and its limits,
 * the options' struct_size rule, the process default, memgov_close's refusal while the root is in use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "budget_support.h"

/* ---- governor --------------------------------------------------------------------------------------------- */

static void open_gives_a_root_with_the_limits_of_the_options(void **state)
{
    fixture *f = *state;
    assert_string_equal(memgov_budget_name(f->root), "root");
    assert_null(memgov_budget_parent(f->root));
    memgov_budget_stats st = stats_of(f->root);
    assert_int_equal(st.hard_limit, 1 * MiB);
    assert_int_equal(st.soft_limit, 1 * MiB);
    assert_int_equal(st.used, 0);
}

static void open_refuses_a_soft_limit_above_the_hard_limit(void **state)
{
    (void)state;
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 100;
    o.root_soft_limit = 200;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_ERANGE);
    assert_null(gov);
    assert_int_equal(memgov_open(NULL, NULL), MEMGOV_EINVAL);
}

static void open_refuses_options_with_an_unknown_nonzero_tail(void **state)
{
    (void)state;
    struct {
        memgov_options o;
        uint64_t future;
    } big;
    memset(&big, 0, sizeof big);
    big.o.struct_size = sizeof big;
    big.future = 1;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&big.o, &gov), MEMGOV_EINVAL);
    big.future = 0;
    assert_int_equal(memgov_open(&big.o, &gov), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_default_governor_is_one_and_cannot_be_closed(void **state)
{
    (void)state;
    memgov *a = memgov_default();
    assert_non_null(a);
    assert_ptr_equal(a, memgov_default());
    assert_int_equal(memgov_close(a), MEMGOV_EINVAL);
    void *p = memgov_malloc(memgov_root(a), 100);
    assert_non_null(p);
    memgov_free(memgov_root(a), p);
    assert_int_equal(used(memgov_root(a)), 0);
}

static void close_refuses_while_the_root_has_children_or_bytes(void **state)
{
    fixture *f = *state;
    memgov_budget *b = child(f->root, "worker", 0, 0, 0);
    assert_int_equal(memgov_close(f->gov), MEMGOV_EBUSY);
    assert_non_null(strstr(memgov_last_error(), "'worker'"));
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    void *p = memgov_malloc(f->root, 10);
    assert_int_equal(memgov_close(f->gov), MEMGOV_EBUSY);
    memgov_free(f->root, p);
}

#define T(name) cmocka_unit_test_setup_teardown(name, open_gov, close_gov)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(open_gives_a_root_with_the_limits_of_the_options),
        cmocka_unit_test(open_refuses_a_soft_limit_above_the_hard_limit),
        cmocka_unit_test(open_refuses_options_with_an_unknown_nonzero_tail),
        cmocka_unit_test(the_default_governor_is_one_and_cannot_be_closed),
        T(close_refuses_while_the_root_has_children_or_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
