/* Internal: where a file-backed budget's blocks come from (the memmap arena, docs/design.md 4.9), for src/budget.
 * One file per backend implements it: filearena_jemalloc.c (a jemalloc arena whose extents come from the file,
 * through extent hooks, used without thread caches) or filearena_libc.c (every block its own page-rounded range
 * of the file), chosen in src/meson.build with the budget backend. */
#ifndef MG_MEMMAP_FILEARENA_H
#define MG_MEMMAP_FILEARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "memgov/memmap.h"
#include "memmap/file.h"

/* The file comes first, so that mg_filearena_owns needs no call. */
typedef struct mg_filearena {
    mg_file file;
} mg_filearena;

/* Opens the file (mg_file_open) and the allocator over it; `purge_delay_ms` as in memgov_file_budget_options
 * (already resolved: -1 at once, else milliseconds). On failure nothing is left; the last error says why. */
memgov_status mg_filearena_open(const char *dir, memgov_file_placement placement, size_t span,
                                int64_t purge_delay_ms, mg_filearena **out);
/* Closes it: every block must have been freed. The file's disk space and the mapping go. */
void mg_filearena_close(mg_filearena *fa);
/* The usable size a block of `size` bytes aligned to `align` (0 = default) will have; 0 if too large. */
size_t mg_filearena_size_for(size_t size, size_t align);
/* A block, or NULL (no disk space, address space used up, an injected fault: mg_file_refused says which). */
void *mg_filearena_alloc(mg_filearena *fa, size_t size, size_t align, bool zero);
/* Resizes a block in place or by moving it within the file; NULL leaves ptr intact. */
void *mg_filearena_resize(mg_filearena *fa, void *ptr, size_t size);
/* Frees a block. */
void mg_filearena_free(mg_filearena *fa, void *ptr);
/* The usable size of a live block. */
size_t mg_filearena_usable(mg_filearena *fa, const void *ptr);
/* Punches out every page that no live block uses now. */
void mg_filearena_purge(mg_filearena *fa);
/* The jemalloc arena index (for its statistics, budget/backend.h's mg_arena_stats); 0 with the libc backend. */
unsigned mg_filearena_index(const mg_filearena *fa);

static inline bool mg_filearena_owns(const mg_filearena *fa, const void *p)
{
    return mg_file_owns(&fa->file, p);
}

#endif
