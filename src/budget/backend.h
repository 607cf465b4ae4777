/* Internal: where budget blocks come from. With the jemalloc backend, each arena index is a private jemalloc
 * arena used through one explicit thread cache per (thread, arena) (docs/design.md 4.3); with the libc backend
 * (-Dalloc_backend=libc, sanitizer builds) blocks come from the C library's malloc and arenas are only labels. */
#ifndef MG_BUDGET_BACKEND_H
#define MG_BUDGET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "build_info.h"
#include "memgov/budget.h"

#ifdef MG_ALLOC_LIBC
/* The usable size is known only once the block exists: allocate, then charge. */
#  define MG_BACKEND_KNOWS_SIZE_BEFORE 0
#else
/* nallocx() gives the usable size beforehand: charge, then allocate (the cap holds for real memory too). */
#  define MG_BACKEND_KNOWS_SIZE_BEFORE 1
#endif

/* Once per process, before the first budget: the size-class table (jemalloc backend). `stocks_plain`: the stock
 * slots' mode (mg_stock_plain(): owners update without a locked instruction), which the fast path needs;
 * `on_thread_flush`: called on a thread whose caches are about to be destroyed (at its exit, or
 * mg_backend_thread_flush), before they go. Every call passes the same. One file per backend implements
 * this header: backend_jemalloc.c or backend_libc.c, chosen in src/meson.build. */
void mg_backend_init(bool stocks_plain, void (*on_thread_flush)(void));
/* A fresh arena for a budget of its own (from a process-wide pool of arenas given back). MEMGOV_ENOMEM if
 * jemalloc cannot create one. */
memgov_status mg_arena_acquire(unsigned *arena);
/* mg_arena_acquire without an error message (false: no arena), for a budget's further shards (budget.c). An
 * armed MG_FAULT_ALLOC fails it in both backends, even when the pool has an arena. */
bool mg_arena_try_acquire(unsigned *arena);
/* Gives an arena whose budget is gone back to the pool (arenas are never destroyed: other threads' caches may
 * still hold its free blocks). */
void mg_arena_give_back(unsigned arena);
/* Fills the arena_* fields of *st with the sums over the n arenas (a budget's shards; jemalloc), refreshing
 * jemalloc's statistics once. */
void mg_arena_stats(const unsigned *arenas, unsigned n, memgov_budget_stats *st);

#if MG_BACKEND_KNOWS_SIZE_BEFORE
/* The usable size a block of `size` bytes aligned to `align` (0 = default) will have; 0 if it is larger than the
 * allocator can give. */
size_t mg_backend_size_for(size_t size, size_t align);
/* The fast path's size classes (docs/design.md 4.4): for a request of 1..MG_FAST_MAX bytes with the default
 * alignment, mg_fast_class(size) is its usable size, as nallocx() gives it, and jemalloc's index of that class
 * (for mgje_fast_mallocx): up to MG_FAST_SMALL from mg_size_class[(size + 7) >> 3] (jemalloc's classes up to there
 * are multiples of 8), above it from mg_size_class_big[(size + 1023) >> 10] (multiples of 2 KiB there). Filled by
 * mg_backend_init() before the first budget exists. */
#define MG_FAST_SMALL 8192
#define MG_FAST_MAX 65536
typedef struct mg_class {
    uint32_t usable;
    uint32_t index;
} mg_class;
extern mg_class mg_size_class[MG_FAST_SMALL / 8 + 1];
extern mg_class mg_size_class_big[MG_FAST_MAX / 1024 + 1];
/* The usable size of each class the tables serve, by jemalloc's class index (0: not served), for the fast
 * path's inline free, which finds a block's class index and not its size. */
#define MG_FAST_CLASSES 64
extern uint32_t mg_index_usable[MG_FAST_CLASSES];
__attribute__((always_inline)) static inline mg_class mg_fast_class(size_t size)
{
    return size <= MG_FAST_SMALL ? mg_size_class[(size + 7) >> 3] : mg_size_class_big[(size + 1023) >> 10];
}
/* The fast path's gate: the largest size it serves while it is on (MG_FAST_MAX, or MG_FAST_SMALL when jemalloc's
 * thread caches stop below MG_FAST_MAX: a tcache_max set lower through MGJE_MALLOC_CONF), else 0. It is off before
 * the tables are filled, if jemalloc's classes are not as expected, without membarrier (the locked fallback,
 * stock.h: the general path then serves every request), and while an allocation fault is armed (tests). */
extern _Atomic size_t mg_fast_max;
/* What the calling thread's fast path uses for a budget on `arena`: its explicit tcache for that arena, as the
 * glue takes it (*tcache), and the jemalloc flags naming the arena and that tcache (*flags). False (no tcache:
 * the thread's table is full or jemalloc refused one) when the fast path cannot be used. */
bool mg_backend_fast_bind(unsigned arena, void **tcache, int *flags);
/* Resizes in the arena; NULL (no memory, or an injected MG_FAULT_ALLOC) leaves ptr intact. The libc path
 * allocates, copies and frees instead, so that the new block's usable size is known before the old one goes. */
void *mg_backend_resize(unsigned arena, void *ptr, size_t size);
#endif
/* A block from the arena, or NULL (no memory, or an injected MG_FAULT_ALLOC). */
void *mg_backend_alloc(unsigned arena, size_t size, size_t align, bool zero);
/* Frees a block of the arena; `size` is its requested size when known (sized free), else 0. */
void mg_backend_free(unsigned arena, void *ptr, size_t size);
/* The usable size of a live block. */
size_t mg_backend_usable(const void *ptr);
/* Gives back the calling thread's caches (done automatically at thread exit); for quiescing in tests. */
void mg_backend_thread_flush(void);

#endif
