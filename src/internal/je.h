/* Internal: the private jemalloc's API (prefix mgje_, built by subprojects/packagefiles/jemalloc). Only files
 * that talk to jemalloc include this; nothing of it reaches the public headers. */
#ifndef MG_INTERNAL_JE_H
#define MG_INTERNAL_JE_H

#include <stddef.h>
#include <stdint.h>

#include "mgje.h"

/* memgov's glue compiled into the private jemalloc (subprojects/packagefiles/jemalloc/mgje_fast.c, docs/design.md
 * 4.11): the budget fast path's calls, written against jemalloc 5.3.0's internals. Thread safety: as mallocx. */

/* The size-class index jemalloc gives a request of `size` bytes with the default alignment, and its usable size
 * (*usable, as nallocx gives it); ~0u (and *usable 0) when `size` is 0 or above the largest class thread caches
 * hold (jemalloc's tcache_max option: 64 KiB as memgov sets it, src/budget/backend_jemalloc.c). */
unsigned mgje_fast_index(size_t size, size_t *usable);
/* The layout of a tcache's bins (layout[0..5]: the bins' offset in the tcache, one bin's size, and in a bin the
 * offsets of its stack head, its request count and the low bits of its low-water and full marks), for the fast
 * path's inline pop and push (mg_je_bin below). Returns 0 when neither may be done inline (jemalloc's slow
 * options, profiling, use-after-free stashing, no statistics). */
int mgje_fast_bin_layout(size_t layout[6]);
/* The geometry of a lookup in a thread's rtree cache (geo[0..9]: the cache's entries, the key's shift, the leaf's
 * subkey shift and bits, the size class's shift in a leaf element, a leaf element's size, a cache entry's size
 * and its leaf's offset, the cache's offset in the thread's rtree context, the classes thread caches hold), for
 * the fast path's inline free (mg_je_rtree_elm below). 0 when the leaves are not compact. */
int mgje_fast_rtree_layout(size_t geo[10]);
/* The calling thread's rtree cache, valid as long as the thread lives. */
void *mgje_fast_rtree_ctx(void);
/* The first fields of jemalloc 5.3's cache_bin_t, as the fast path pops a bin inline (the pop of
 * cache_bin_alloc_easy: the block at the head, when the head's low 16 bits are not the low-water mark's); the
 * backend checks this mirror against mgje_fast_bin_layout() once, and without a match the fast path stays off. */
typedef struct mg_je_bin {
    void **head;
    uint64_t nrequests;
    uint16_t low_water;
    uint16_t full;
} mg_je_bin;
/* An entry of a thread's rtree cache (jemalloc 5.3's rtree_ctx_cache_elm_t) and the geometry of a lookup in it,
 * for the fast path's inline free: the entry ((address >> KEY_BITS) & (NCACHE - 1)) knows the leaf of the
 * addresses with the same bits above KEY_BITS; the leaf's element ((address >> LEAF_SHIFT) & (2^LEAF_BITS - 1))
 * holds the size class in its bits above SZIND_SHIFT. Checked against mgje_fast_rtree_layout() once, as
 * mg_je_bin is. */
typedef struct mg_je_rtree_elm {
    uintptr_t leafkey;
    const uint64_t *leaf;
} mg_je_rtree_elm;
#define MG_JE_RTREE_NCACHE 16
#define MG_JE_RTREE_KEY_BITS 30
#define MG_JE_LEAF_SHIFT 12
#define MG_JE_LEAF_BITS 18
#define MG_JE_SZIND_SHIFT 48
#define MG_JE_BINS_OFFSET 8 /* the bins in tcache_t, after its tcache_slow pointer */
#define MG_JE_BIN_SIZE 24   /* sizeof(cache_bin_t) */
/* The explicit tcache that `flags` name (MALLOCX_TCACHE(tc)), to give the two calls below; NULL when they name
 * none. The caller must stop using it before the tcache is destroyed (tcache.destroy). */
void *mgje_fast_tcache(int flags);
/* A block of the class `index` (from mgje_fast_index) from `tcache`'s bin: what mgje_mallocx does when the
 * bin holds one (the same bin operation and statistics, without mallocx's option parsing and without jemalloc's
 * thread events, which serve only the thread's automatic tcache, its counters and profiling). NULL,
 * having done nothing, when the bin is empty or the thread is off jemalloc's fast path (its first call, a hook
 * or a debug option installed): the caller then calls mgje_mallocx with the flags naming the arena and the
 * tcache, which fills the bin from that arena, or reports. */
void *mgje_fast_mallocx(unsigned index, void *tcache);
/* mgje_dallocx(ptr, flags) (flags: MALLOCX_TCACHE(tcache's id) as the caller made them) that returns the usable
 * size of the block it freed, found by the one lookup the free needs anyway (sallocx + dallocx look it up
 * twice); without jemalloc's thread events where the block goes onto the tcache bin; for a thread off jemalloc's
 * fast path, sallocx and dallocx themselves. */
size_t mgje_fast_dallocx(void *ptr, void *tcache, int flags);

/* Refreshes jemalloc's statistics (the `epoch` control): the stats.* values read after it are current. */
static inline void mg_je_stats_refresh(void)
{
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    mgje_mallctl("epoch", &epoch, &len, &epoch, len);
}

#endif
