/* memgov's glue inside the private jemalloc (part of memgov, MIT; not jemalloc source): the budget fast path's
 * calls into jemalloc, written against jemalloc 5.3.0's internal inline functions. build-jemalloc.sh compiles
 * this file with jemalloc's own flags and generated headers and adds it to libjemalloc_pic.a; memgov declares
 * its seven functions in src/internal/je.h. docs/design.md 4.11 says why (mallocx's option parsing and the double
 * size lookup of sallocx + dallocx were most of the fast path's cost) and docs/budgets.md what is measured.
 *
 * The allocation and the free do what mallocx/dallocx do on jemalloc's fast path (thread state nominal: no hooks,
 * no debug options, no profiling) with an explicit tcache: the same tcache bin operation, the same statistics,
 * but none of jemalloc's thread events (they serve the thread's automatic tcache, its byte counters, peak and
 * profiling: nothing an explicit tcache or memgov uses; docs/design.md 4.11). Where that is not the case the
 * allocation declines, having done nothing, and the caller makes the public call, which does everything; the
 * free does the public calls itself. memgov also pops and pushes a bin and looks blocks up in the thread's rtree
 * cache inline, through mirrors that mgje_fast_bin_layout and mgje_fast_rtree_layout let it check. The calls
 * take the tcache itself rather than its id (memgov keeps it with the flags it was made from, for one thread,
 * and forgets both before it destroys that tcache: budget/stock.h, the token). */
#include "jemalloc/internal/jemalloc_preamble.h"
#include "jemalloc/internal/jemalloc_internal_includes.h"
#include "jemalloc/internal/emap.h"
#include "jemalloc/internal/sz.h"
#include "jemalloc/internal/thread_event.h"

#if JEMALLOC_VERSION_MAJOR != 5 || JEMALLOC_VERSION_MINOR != 3
#  error "mgje_fast.c is written against jemalloc 5.3's internals: check it against this version's mallocx/dallocx"
#endif

int mgje_fast_bin_layout(size_t layout[6]);
int mgje_fast_rtree_layout(size_t geo[10]);
void *mgje_fast_rtree_ctx(void);
unsigned mgje_fast_index(size_t size, size_t *usable);
void *mgje_fast_tcache(int flags);
void *mgje_fast_mallocx(unsigned index, void *tcache);
size_t mgje_fast_dallocx(void *ptr, void *tcache, int flags);

/* The size-class index of a request of `size` bytes with the default alignment and its usable size (*usable);
 * ~0u (and *usable 0) when it is 0 or above the largest class thread caches hold (tcache_maxclass: the small
 * classes, and the large ones up to the tcache_max option). */
unsigned mgje_fast_index(size_t size, size_t *usable)
{
    if (size == 0 || size > tcache_maxclass || size > SC_LARGE_MAXCLASS) {
        *usable = 0;
        return ~0u;
    }
    szind_t ind = sz_size2index(size);
    if (ind >= nhbins) {
        *usable = 0;
        return ~0u;
    }
    *usable = sz_index2size(ind);
    return ind;
}

/* The layout of a tcache's bins that memgov's inline pop mirrors (src/internal/je.h, mg_je_bin): the offset of
 * the bins in tcache_t, the size of one bin (cache_bin_t), and in it the offsets of the stack head, the request
 * count, the low-water mark's low bits and the full mark's low bits. Returns whether memgov may pop and push
 * inline at all: not when jemalloc runs its slow path for every call (junk or zero filling, or another option
 * that sets malloc_slow), profiles, detects use after free (stashing), or keeps no statistics. */
int mgje_fast_bin_layout(size_t layout[6])
{
    layout[0] = offsetof(tcache_t, bins);
    layout[1] = sizeof(cache_bin_t);
    layout[2] = offsetof(cache_bin_t, stack_head);
    layout[3] = offsetof(cache_bin_t, tstats.nrequests);
    layout[4] = offsetof(cache_bin_t, low_bits_low_water);
    layout[5] = offsetof(cache_bin_t, low_bits_full);
    return !malloc_slow && !(config_prof && opt_prof) && config_stats && !config_uaf_detection;
}

/* The geometry of a lookup in a thread's rtree cache (what emap_alloc_ctx_try_lookup_fast does), for memgov's
 * inline free (src/internal/je.h, mg_je_rtree_elm): the cache's entries, the key's shift (the leaf key is the
 * address without its low bits below it, the entry its next bits), the leaf's subkey shift and bits, the shift
 * of the size class in a leaf element's bits, a leaf element's size, a cache entry's size and its leaf's offset,
 * the cache's offset in rtree_ctx_t, and the number of classes thread caches hold. Returns whether the leaves
 * are compact (the size class in one word), which the inline lookup needs. */
int mgje_fast_rtree_layout(size_t geo[10])
{
    geo[0] = RTREE_CTX_NCACHE;
    geo[1] = rtree_leaf_maskbits();
    geo[2] = (ZU(1) << (LG_SIZEOF_PTR + 3)) - rtree_levels[RTREE_HEIGHT - 1].cumbits;
    geo[3] = rtree_levels[RTREE_HEIGHT - 1].bits;
    geo[4] = LG_VADDR;
    geo[5] = sizeof(rtree_leaf_elm_t);
    geo[6] = sizeof(rtree_ctx_cache_elm_t);
    geo[7] = offsetof(rtree_ctx_cache_elm_t, leaf);
    geo[8] = offsetof(rtree_ctx_t, cache);
    geo[9] = nhbins;
#ifdef RTREE_LEAF_COMPACT
    return 1;
#else
    return 0;
#endif
}

/* The calling thread's rtree cache (its thread state made if it had none yet): where memgov's inline free looks
 * a block up, for as long as the thread lives. */
void *mgje_fast_rtree_ctx(void)
{
    return tsd_rtree_ctxp_get_unsafe(tsd_fetch());
}

/* The explicit tcache that `flags` name (MALLOCX_TCACHE(tc)), for the two calls below; NULL when they name none. */
void *mgje_fast_tcache(int flags)
{
    unsigned m = (unsigned)flags & MALLOCX_TCACHE_MASK;
    if (m == 0 || m == (unsigned)MALLOCX_TCACHE_NONE)
        return NULL;
    return tcaches_get(tsd_fetch(), MALLOCX_TCACHE_GET(flags));
}

/* True when the calling thread may use the short paths below: its thread state is nominal (initialised, no hook,
 * no debug option, not being torn down) and no profiling samples allocations. */
static inline bool fast_ok(tsd_t *tsd)
{
    return likely(tsd != NULL && tsd_fast(tsd)) && !(config_prof && opt_prof);
}

/* A block of the class `index` (small, or large below tcache_maxclass) from the bin of `tcache` when the calling
 * thread is on jemalloc's fast path and the bin holds one: the bin's pop (with its low-water mark) and request
 * count, as malloc's own fast path (imalloc_fastpath) and tcache_alloc_small/large do them. No thread event is
 * ticked (docs/design.md 4.11): the events of jemalloc 5.3 serve the thread's own tcache (its GC), its
 * allocation counters, peak and profiling, none of which an explicit tcache uses or memgov reads; at 64 KiB
 * blocks they fired on nearly every call (jemalloc's peak event every 64 KiB). NULL otherwise, having done
 * nothing: the caller then calls mallocx, which fills the bin from the arena its flags name (this call knows no
 * arena), or reports. */
void *mgje_fast_mallocx(unsigned index, void *tcache)
{
    tsd_t *tsd = tsd_get(false);
    if (unlikely(!fast_ok(tsd)))
        return NULL;
    cache_bin_t *bin = &((tcache_t *)tcache)->bins[index];
    bool hit;
    void *p = cache_bin_alloc(bin, &hit); /* the pop, moving the low-water mark where the head is at it */
    if (unlikely(!hit))
        return NULL;
    if (config_stats)
        bin->tstats.nrequests++;
    return p;
}

/* The free when the short way below does not apply (the block's class is not in the thread's rtree cache, is
 * above the tcache's classes, or the bin is full): dallocx's work with the one lookup (the flush of a full bin,
 * the thread's deallocation event); for a thread off jemalloc's fast path, sallocx and dallocx themselves. */
static __attribute__((noinline)) size_t fast_dallocx_full(void *ptr, tcache_t *tcache, int flags)
{
    tsd_t *tsd = tsd_get(false);
    if (!fast_ok(tsd)) {
        size_t usable = je_sallocx(ptr, 0);
        je_dallocx(ptr, flags);
        return usable;
    }
    emap_alloc_ctx_t ctx;
    emap_alloc_ctx_lookup(tsd_tsdn(tsd), &arena_emap_global, ptr, &ctx);
    size_t usable = sz_index2size(ctx.szind);
    idalloctm(tsd_tsdn(tsd), ptr, tcache, &ctx, false, false);
    thread_dalloc_event(tsd, usable);
    return usable;
}

/* dallocx(ptr, flags) (flags: MALLOCX_TCACHE(tcache's id), as the caller made them) that returns the usable size
 * of the block it freed: one size lookup instead of sallocx's and dallocx's two. The short way is free's own fast
 * path (free_fastpath) with an explicit tcache and, as in mgje_fast_mallocx, no thread event: the lookup in the
 * thread's rtree cache and the push onto the class's bin; it applies to every class the tcache holds
 * (free_fastpath takes only small ones; a large block of a tcache class is pushed the same way by
 * tcache_dalloc_large). Otherwise fast_dallocx_full. Never fails. */
size_t mgje_fast_dallocx(void *ptr, void *tcache, int flags)
{
    tsd_t *tsd = tsd_get(false);
    emap_alloc_ctx_t ctx;
    if (unlikely(!fast_ok(tsd) || emap_alloc_ctx_try_lookup_fast(tsd, &arena_emap_global, ptr, &ctx) ||
                 ctx.szind >= nhbins || cache_bin_nonfast_aligned(ptr)))
        return fast_dallocx_full(ptr, (tcache_t *)tcache, flags);
    cache_bin_t *bin = &((tcache_t *)tcache)->bins[ctx.szind];
    if (unlikely(!cache_bin_dalloc_easy(bin, ptr)))
        return fast_dallocx_full(ptr, (tcache_t *)tcache, flags);
    return sz_index2size(ctx.szind);
}
