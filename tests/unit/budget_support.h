/* Helpers shared by the budget tests (test_budget.c, test_budget_governor.c, test_budget_faults.c): a governor
 * with a 1 MiB root as the fixture, child budgets, statistics. Header-only; include after <cmocka.h>. */
#ifndef MG_TEST_BUDGET_SUPPORT_H
#define MG_TEST_BUDGET_SUPPORT_H

#include <stdint.h>

#include "internal/fault.h"
#include "memgov.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

typedef struct fixture {
    memgov *gov;
    memgov_budget *root;
} fixture;

static inline int open_gov(void **state)
{
    static fixture f;
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 1 * MiB;
    o.root_soft_limit = 1 * MiB; /* no soft crossing below the hard limit: events here come from the children */
    o.flags = MEMGOV_OPEN_NO_ENV;
    if (memgov_open(&o, &f.gov) != MEMGOV_OK)
        return -1;
    f.root = memgov_root(f.gov);
    *state = &f;
    return 0;
}

static inline int close_gov(void **state)
{
    fixture *f = *state;
    mg_fault_disarm_all();
    return memgov_close(f->gov) == MEMGOV_OK ? 0 : -1;
}

static inline memgov_budget *child(memgov_budget *parent, const char *name, uint64_t hard, uint64_t soft,
                                   uint32_t flags)
{
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    o.name = name;
    o.hard_limit = hard;
    o.soft_limit = soft;
    o.flags = flags;
    memgov_budget *b = NULL;
    assert_int_equal(memgov_budget_create(parent, &o, &b), MEMGOV_OK);
    return b;
}

static inline memgov_budget_stats stats_of(memgov_budget *b)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(b, &st), MEMGOV_OK);
    return st;
}

static inline uint64_t used(memgov_budget *b)
{
    return stats_of(b).used;
}

#endif
