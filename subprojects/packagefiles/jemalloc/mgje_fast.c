/* memgov's glue inside the private jemalloc (part of memgov, MIT; not jemalloc source): the budget fast path's
 * calls into jemalloc, written against jemalloc 5.3.0's internal inline functions. build-jemalloc.sh compiles
 * this file with jemalloc's own flags and generated headers and adds it to libjemalloc_pic.a; memgov declares
 * its four functions in src/internal/je.h. docs/design.md 4.11 says why (mallocx's option parsing and the double
 * size lookup of sallocx + dallocx were most of the fast path's cost) and docs/budgets.md what is measured.
 *
 * The allocation and the free do what mallocx/dallocx do on jemalloc's fast path (thread state nominal: no hooks,
 * no debug options, no profiling) with an explicit tcache, and nothing else: the same tcache bin operation, the
 * same thread allocation events (tcache GC, thread.allocated/deallocated, peak), the same statistics. Where that
 * is not the case they decline, having done nothing, and the caller makes the public call, which does everything.
 * They take the tcache itself rather than its id (memgov keeps it with the flags it was made from, for one
 * thread, and forgets both before it destroys that tcache: budget/stock.h, the token). */
#include "jemalloc/internal/jemalloc_preamble.h"
#include "jemalloc/internal/jemalloc_internal_includes.h"
#include "jemalloc/internal/emap.h"
#include "jemalloc/internal/sz.h"
#include "jemalloc/internal/thread_event.h"

#if JEMALLOC_VERSION_MAJOR != 5 || JEMALLOC_VERSION_MINOR != 3
#  error "mgje_fast.c is written against jemalloc 5.3's internals: check it against this version's mallocx/dallocx"
#endif

unsigned mgje_fast_index(size_t size, size_t *usable);
void *mgje_fast_tcache(int flags);
void *mgje_fast_mallocx(unsigned index, void *tcache);
size_t mgje_fast_dallocx(void *ptr, void *tcache);

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

/* The explicit tcache that `flags` name (MALLOCX_TCACHE(tc)), for the two calls below; NULL when they name none. */
void *mgje_fast_tcache(int flags)
{
    unsigned m = (unsigned)flags & MALLOCX_TCACHE_MASK;
    if (m == 0 || m == (unsigned)MALLOCX_TCACHE_NONE)
        return NULL;
    return tcaches_get(tsd_fetch(), MALLOCX_TCACHE_GET(flags));
}

/* A block of the class `index` (small, or large below tcache_maxclass) from the bin of `tcache` when the calling
 * thread is on jemalloc's fast path and the bin holds one: what mallocx does then (tcache_alloc_small's or
 * tcache_alloc_large's hit: the bin's pop and request count; the thread's allocation event). NULL otherwise, having done nothing: the caller then calls mallocx, which fills the
 * bin from the arena its flags name (this call knows no arena), or reports. */
void *mgje_fast_mallocx(unsigned index, void *tcache)
{
    tsd_t *tsd = tsd_fetch_min();
    if (unlikely(!tsd_fast(tsd)) || (config_prof && opt_prof))
        return NULL;
    cache_bin_t *bin = &((tcache_t *)tcache)->bins[index];
    bool hit;
    void *p = cache_bin_alloc(bin, &hit);
    if (unlikely(!hit))
        return NULL;
    if (config_stats)
        bin->tstats.nrequests++;
    thread_alloc_event(tsd, sz_index2size(index));
    return p;
}

/* dallocx(ptr, MALLOCX_TCACHE(tcache's id)) that returns the usable size of the block it freed: one size lookup
 * instead of sallocx's and dallocx's two. 0 when the thread is not on jemalloc's fast path, having done nothing:
 * the caller then calls sallocx and dallocx. */
size_t mgje_fast_dallocx(void *ptr, void *tcache)
{
    tsd_t *tsd = tsd_fetch_min();
    if (unlikely(!tsd_fast(tsd)) || (config_prof && opt_prof))
        return 0;
    emap_alloc_ctx_t ctx;
    emap_alloc_ctx_lookup(tsd_tsdn(tsd), &arena_emap_global, ptr, &ctx);
    size_t usable = sz_index2size(ctx.szind);
    idalloctm(tsd_tsdn(tsd), ptr, (tcache_t *)tcache, &ctx, false, false);
    thread_dalloc_event(tsd, usable);
    return usable;
}
