/* The budget every bench program measures memgov on, opened through the public header only (bench_shared links
 * libmemgov.so and sees nothing else). Header-only. */
#ifndef MG_BENCH_CAPPED_H
#define MG_BENCH_CAPPED_H

#include <stdio.h>

#include "memgov.h"

/* Opens a governor with a 4 GiB root and a 1 GiB budget with its own arena under it (*capped). Returns 0, or
 * prints why (prefixed with prog) and returns -1. */
static inline int bench_open_capped(const char *prog, memgov_budget **capped)
{
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 4ull << 30;
    memgov *gov;
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "bench";
    bo.hard_limit = 1ull << 30;
    bo.flags = MEMGOV_BUDGET_OWN_ARENA;
    if (memgov_open(&o, &gov) != MEMGOV_OK || memgov_budget_create(memgov_root(gov), &bo, capped) != MEMGOV_OK) {
        fprintf(stderr, "%s: %s\n", prog, memgov_last_error());
        return -1;
    }
    return 0;
}

#endif
