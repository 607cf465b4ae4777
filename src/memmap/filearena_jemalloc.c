/* The memmap arena with the jemalloc backend: a jemalloc arena whose extents come from the budget's file through
 * extent hooks (filearena.h). The file's offset of an address is its distance from the mapping's base, so:
 * - alloc hands out never-used ranges of the mapping (any alignment: mg_file_take aligns), uncommitted;
 * - commit allocates the range's disk space (fallocate) and decommit punches it out: jemalloc commits a range
 *   before it hands it out, and with dalloc and both purge hooks opted out it gives ranges back by decommitting
 *   them, so every range in use has its disk space and every range not in use may have none;
 * - split and merge need nothing (ranges adjacent in memory are adjacent in the file, one mapping).
 * The arena is created with experimental.arenas_create_ext and metadata_use_hooks = false, so jemalloc's own
 * metadata stays in anonymous memory; it is used with MALLOCX_TCACHE_NONE, so that no thread cache ever holds a
 * block of it and arena.<i>.destroy is safe once the budget is idle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"
#include "internal/fault.h"
#include "internal/je.h"
#include "memmap/filearena.h"

/* jemalloc 5.3.0's arena_config_t (internal/arena_types.h), the argument of experimental.arenas_create_ext. */
typedef struct je_arena_config {
    extent_hooks_t *extent_hooks;
    bool metadata_use_hooks;
} je_arena_config;

typedef struct je_filearena {
    mg_filearena fa; /* first: the pointer given out */
    extent_hooks_t hooks;
    unsigned arena;
} je_filearena;

static mg_file *file_of(extent_hooks_t *h)
{
    return &((je_filearena *)((char *)h - offsetof(je_filearena, hooks)))->fa.file;
}

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment, bool *zero, bool *commit,
                        unsigned arena_ind)
{
    (void)arena_ind;
    if (new_addr != NULL) /* a range at a given place: never asked of a new range; decline */
        return NULL;
    mg_file *f = file_of(h);
    void *p = mg_file_take(f, size, alignment < 4096 ? 4096 : alignment);
    if (p == NULL)
        return NULL;
    if (*commit && !mg_file_commit(f, p, size))
        return NULL; /* the range stays unused: address space only */
    *zero = true; /* never used: a hole or freshly allocated blocks read as zeros */
    return p;
}

static bool hook_commit(extent_hooks_t *h, void *addr, size_t size, size_t offset, size_t length,
                        unsigned arena_ind)
{
    (void)size, (void)arena_ind;
    return !mg_file_commit(file_of(h), (char *)addr + offset, length);
}

static bool hook_decommit(extent_hooks_t *h, void *addr, size_t size, size_t offset, size_t length,
                          unsigned arena_ind)
{
    (void)size, (void)arena_ind;
    mg_file_punch(file_of(h), (char *)addr + offset, length);
    return false;
}

static bool hook_split(extent_hooks_t *h, void *addr, size_t size, size_t size_a, size_t size_b, bool committed,
                       unsigned arena_ind)
{
    (void)h, (void)addr, (void)size, (void)size_a, (void)size_b, (void)committed, (void)arena_ind;
    return false;
}

static bool hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a, void *addr_b, size_t size_b, bool committed,
                       unsigned arena_ind)
{
    (void)h, (void)addr_a, (void)size_a, (void)addr_b, (void)size_b, (void)committed, (void)arena_ind;
    return false;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned arena_ind)
{
    (void)arena_ind;
    if (committed)
        mg_file_punch(file_of(h), addr, size);
}

static int arena_ctl(unsigned arena, const char *leaf, void *newp, size_t newlen)
{
    char name[64];
    snprintf(name, sizeof name, "arena.%u.%s", arena, leaf);
    return mgje_mallctl(name, NULL, NULL, newp, newlen);
}

memgov_status mg_filearena_open(const char *dir, memgov_file_placement placement, size_t span,
                                int64_t purge_delay_ms, mg_filearena **out)
{
    je_filearena *j = calloc(1, sizeof *j);
    if (j == NULL)
        return mg_fail(MEMGOV_ENOMEM, "no memory for a file budget's arena");
    memgov_status st = mg_file_open(&j->fa.file, dir, placement, span);
    if (st != MEMGOV_OK) {
        free(j);
        return st;
    }
    j->hooks = (extent_hooks_t){.alloc = hook_alloc, .destroy = hook_destroy, .commit = hook_commit,
                                .decommit = hook_decommit, .split = hook_split, .merge = hook_merge};
    je_arena_config cfg = {.extent_hooks = &j->hooks, .metadata_use_hooks = false};
    size_t len = sizeof j->arena;
    if (mg_fault_hit(MG_FAULT_ALLOC) ||
        mgje_mallctl("experimental.arenas_create_ext", &j->arena, &len, &cfg, sizeof cfg) != 0) {
        mg_file_close(&j->fa.file);
        free(j);
        return mg_fail(MEMGOV_ENOMEM, "jemalloc could not create an arena for a file budget in '%s'", dir);
    }
    ssize_t dirty = purge_delay_ms, muzzy = 0; /* no muzzy state: purging is decommitting (punching) */
    arena_ctl(j->arena, "dirty_decay_ms", &dirty, sizeof dirty);
    arena_ctl(j->arena, "muzzy_decay_ms", &muzzy, sizeof muzzy);
    /* jemalloc purges a freed extent of oversize_threshold (8 MiB) and more at once; here that is a hole punched
     * and an fallocate again at the next such block (measured: 1.4 ms instead of 13 us per 16 MiB pair), so large
     * blocks wait for the purge delay like the others. */
    size_t never = SIZE_MAX;
    arena_ctl(j->arena, "oversize_threshold", &never, sizeof never);
    *out = &j->fa;
    return MEMGOV_OK;
}

void mg_filearena_close(mg_filearena *fa)
{
    je_filearena *j = (je_filearena *)fa;
    arena_ctl(j->arena, "destroy", NULL, 0); /* no block is live and no thread cache holds one */
    mg_file_close(&fa->file);
    free(j);
}

unsigned mg_filearena_index(const mg_filearena *fa)
{
    return ((const je_filearena *)fa)->arena;
}

static inline int flags_of(mg_filearena *fa)
{
    return MALLOCX_ARENA(((je_filearena *)fa)->arena) | MALLOCX_TCACHE_NONE;
}

size_t mg_filearena_size_for(size_t size, size_t align)
{
    return mgje_nallocx(size, align == 0 ? 0 : MALLOCX_LG_ALIGN(__builtin_ctzll((unsigned long long)align)));
}

void *mg_filearena_alloc(mg_filearena *fa, size_t size, size_t align, bool zero)
{
    if (mg_fault_hit(MG_FAULT_ALLOC))
        return NULL;
    int flags = flags_of(fa) | (zero ? MALLOCX_ZERO : 0) |
                (align == 0 ? 0 : MALLOCX_LG_ALIGN(__builtin_ctzll((unsigned long long)align)));
    return mgje_mallocx(size, flags);
}

void *mg_filearena_resize(mg_filearena *fa, void *ptr, size_t size)
{
    if (mg_fault_hit(MG_FAULT_ALLOC))
        return NULL;
    return mgje_rallocx(ptr, size, flags_of(fa));
}

void mg_filearena_free(mg_filearena *fa, void *ptr)
{
    mgje_dallocx(ptr, MALLOCX_TCACHE_NONE);
    (void)fa;
}

size_t mg_filearena_usable(mg_filearena *fa, const void *ptr)
{
    (void)fa;
    return mgje_sallocx(ptr, 0);
}

void mg_filearena_purge(mg_filearena *fa)
{
    arena_ctl(((je_filearena *)fa)->arena, "purge", NULL, 0);
}
