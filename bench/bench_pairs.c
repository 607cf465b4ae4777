/* Instruction counts per malloc+free pair, for `valgrind --tool=callgrind`: the loop of bench_alloc (batches of
 * 32 blocks of one size, each touched, then freed) on one thread, either through memgov (a budget with its own
 * arena under a 1 GiB cap, child of a 4 GiB root) or through the same private jemalloc called directly with an
 * explicit tcache. After a warm-up, the measured rounds run inside measured(), so that
 *
 *     valgrind --tool=callgrind --toggle-collect=measured build/bench/bench_pairs memgov 64
 *
 * collects those alone; the instructions collected divided by ROUNDS * 32 are the cost of one pair. Timing is
 * bench_alloc's job: callgrind counts instructions, not what they cost (a locked compare-and-swap counts one).
 * A third mode, `glue`, runs the loop on memgov's glue in the private jemalloc alone (mgje_fast_mallocx and
 * mgje_fast_dallocx on the direct contender's tcache, internal/je.h), without any governance: the floor of
 * memgov's fast path (`time bench_pairs glue 16 3000000` against `... memgov ...` gives its share of the time).
 *
 * usage: bench_pairs memgov|direct|glue SIZE [ROUNDS]   (default 2000; more for timing) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/je.h"
#include "memgov.h"
#include "setup.h"

#define BATCH 32
#define WARMUP 100
#define ROUNDS 2000

static long measured_rounds = ROUNDS;

static memgov_budget *capped;
static unsigned direct_arena;
static int direct_flags;

static void run_memgov(size_t size, long rounds)
{
    void *blocks[BATCH];
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++) {
            if ((blocks[i] = memgov_malloc(capped, size)) == NULL)
                abort();
            *(volatile char *)blocks[i] = 1;
        }
        for (int i = 0; i < BATCH; i++)
            memgov_free(capped, blocks[i]);
    }
}

static void run_direct(size_t size, long rounds)
{
    void *blocks[BATCH];
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++) {
            if ((blocks[i] = mgje_mallocx(size, MALLOCX_ARENA(direct_arena) | direct_flags)) == NULL)
                abort();
            *(volatile char *)blocks[i] = 1;
        }
        for (int i = 0; i < BATCH; i++)
            mgje_dallocx(blocks[i], direct_flags);
    }
}

/* The glue alone: its pop and push, the public calls where it declines (an empty bin, a thread off jemalloc's
 * fast path). */
static void run_glue(size_t size, long rounds)
{
    void *blocks[BATCH];
    size_t usable;
    unsigned index = mgje_fast_index(size, &usable);
    void *tcache = mgje_fast_tcache(direct_flags);
    if (index == ~0u || tcache == NULL)
        abort();
    int flags = MALLOCX_ARENA(direct_arena) | direct_flags;
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++) {
            if ((blocks[i] = mgje_fast_mallocx(index, tcache)) == NULL &&
                (blocks[i] = mgje_mallocx(size, flags)) == NULL)
                abort();
            *(volatile char *)blocks[i] = 1;
        }
        for (int i = 0; i < BATCH; i++)
            mgje_fast_dallocx(blocks[i], tcache, flags);
    }
}

enum mode { MEMGOV, DIRECT, GLUE };

static void run(enum mode m, size_t size, long rounds)
{
    if (m == MEMGOV)
        run_memgov(size, rounds);
    else if (m == DIRECT)
        run_direct(size, rounds);
    else
        run_glue(size, rounds);
}

/* The rounds callgrind collects (--toggle-collect=measured). */
__attribute__((noinline)) void measured(enum mode m, size_t size);
__attribute__((noinline)) void measured(enum mode m, size_t size)
{
    run(m, size, measured_rounds);
}

int main(int argc, char **argv)
{
    if (argc == 4)
        measured_rounds = atol(argv[3]);
    enum mode m = argc < 2                           ? MEMGOV
                  : strcmp(argv[1], "memgov") == 0 ? MEMGOV
                  : strcmp(argv[1], "direct") == 0 ? DIRECT
                  : strcmp(argv[1], "glue") == 0   ? GLUE
                                                   : (enum mode)-1;
    if ((argc != 3 && argc != 4) || measured_rounds <= 0 || (int)m < 0 || atol(argv[2]) <= 0) {
        fprintf(stderr, "usage: bench_pairs memgov|direct|glue SIZE [ROUNDS]\n");
        return 2;
    }
    size_t size = (size_t)atol(argv[2]);
    unsigned tc;
    size_t len = sizeof tc;
    if (bench_setup("bench_pairs", &capped, &direct_arena) != 0 ||
        mgje_mallctl("tcache.create", &tc, &len, NULL, 0) != 0)
        return 1;
    direct_flags = MALLOCX_TCACHE(tc);
    run(m, size, WARMUP);
    measured(m, size);
    printf("%s %zu: %ld pairs measured\n", argv[1], size, measured_rounds * BATCH);
    return 0;
}
