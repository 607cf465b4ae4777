/* memgov's glue inside the preload library's own jemalloc build (part of memgov, MIT; not jemalloc source): the
 * question a replacement free() must answer before touching a pointer, "is this a live block of this jemalloc,
 * and of which arena?", written against jemalloc 5.3.0's internals. build-jemalloc.sh compiles it (with
 * mgje_fast.c) when the preload build names it in MGJE_EXTRA_GLUE (src/preload/meson.build); preload.c declares it.
 *
 * It reads jemalloc's address map (the emap's radix tree) with the lookup that never creates missing nodes, so a
 * pointer jemalloc never handed out (ld.so's early blocks, a pointer of another allocator, garbage) is answered
 * "not mine" without side effects. */
#include "jemalloc/internal/jemalloc_preamble.h"
#include "jemalloc/internal/jemalloc_internal_includes.h"
#include "jemalloc/internal/emap.h"
#include "jemalloc/internal/sz.h"

#if JEMALLOC_VERSION_MAJOR != 5 || JEMALLOC_VERSION_MINOR != 3
#  error "mgje_owner.c is written against jemalloc 5.3's internals: check it against this version's emap and edata"
#endif

/* The usable size of the live block that starts at ptr and its arena's index (*arena); 0 (and *arena untouched)
 * when ptr is not the start of a live block of this jemalloc: outside its address map, in an extent that is not
 * active, inside a large block, or not on a region boundary of a slab. Thread safety: any thread; the answer is
 * exact for a block the caller owns (one not being freed concurrently). */
size_t mgje_owner(const void *ptr, unsigned *arena);

size_t mgje_owner(const void *ptr, unsigned *arena)
{
    uintptr_t p = (uintptr_t)ptr;
    if (p == 0 || (p >> LG_VADDR) != 0 || (p & 7) != 0)
        return 0;
    tsdn_t *tsdn = tsdn_fetch();
    EMAP_DECLARE_RTREE_CTX;
    rtree_contents_t c;
    if (rtree_read_independent(tsdn, &arena_emap_global.rtree, rtree_ctx, p, &c) || c.edata == NULL ||
        c.metadata.szind >= SC_NSIZES || c.metadata.state != extent_state_active)
        return 0;
    size_t usable = sz_index2size(c.metadata.szind);
    uintptr_t diff = p - (uintptr_t)edata_addr_get(c.edata);
    /* A slab's regions are usable bytes apart (the multiply-shift division jemalloc's own free uses, exact for
     * multiples: a product that does not give diff back means diff is not one); a large block has one start. */
    if (c.metadata.slab ? div_compute(&arena_binind_div_info[c.metadata.szind], diff) * usable != diff : diff != 0)
        return 0;
    *arena = edata_arena_ind_get(c.edata);
    return usable;
}
