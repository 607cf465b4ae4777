/* What bench_alloc and bench_pairs share: the contenders' setup. Header-only, for the two bench programs. */
#ifndef MG_BENCH_SETUP_H
#define MG_BENCH_SETUP_H

#include <stdio.h>

#include "capped.h"
#include "internal/je.h"
#include "memgov.h"

/* Opens a governor with a 4 GiB root and a 1 GiB budget with its own arena (memgov's contender), and creates a
 * private jemalloc arena (the direct contender). Returns 0, or prints why and returns -1. */
static inline int bench_setup(const char *prog, memgov_budget **capped, unsigned *direct_arena)
{
    if (bench_open_capped(prog, capped) != 0)
        return -1;
    size_t len = sizeof *direct_arena;
    if (mgje_mallctl("arenas.create", direct_arena, &len, NULL, 0) != 0) {
        fprintf(stderr, "%s: jemalloc could not create an arena\n", prog);
        return -1;
    }
    return 0;
}

#endif
