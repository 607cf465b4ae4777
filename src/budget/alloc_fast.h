/* Internal to src/budget/alloc.c: the allocation fast path, inlined into memgov_malloc, memgov_free and
 * memgov_sized_free, which then read: the fast path, else the general (slow) function. With the jemalloc backend
 * the real thing; with the libc backend (sizes known only after the allocation) it always declines.
 *
 * A malloc of at most MG_FAST_MAX bytes and a free, by a thread that owns a stock slot bound to it (its tcache
 * for the budget's arena and the flags naming both), touch only that slot (a cache line no other thread writes,
 * unless it drains) and the thread's tcache: the usable size and class come from a table, the charge is taken
 * from the slot with a plain load and store; the allocation pops the tcache bin inline (mg_je_bin, a mirror of
 * jemalloc's cache_bin_t checked against the glue's layout at start-up) and calls the glue (internal/je.h) only
 * at the bin's low-water mark; the free looks the block's class up in the thread's rtree cache and pushes it
 * onto the bin inline too (mg_je_rtree_elm, checked the same way), and calls the glue only for a block the
 * cache does not know or a full bin. Anything else (no slot or binding yet, an empty or closed stock, a drainer
 * at work, an armed fault) declines: the general path serves it and binds the slot for next time
 * (mg_fast_bind); where the glue declines (an empty bin, a thread off jemalloc's fast path) the public jemalloc
 * call does the work (docs/design.md 4.4, 4.11). */
#ifndef MG_BUDGET_ALLOC_FAST_H
#define MG_BUDGET_ALLOC_FAST_H

#include "budget/backend.h"
#include "budget/stock.h"

#if MG_BACKEND_KNOWS_SIZE_BEFORE
#include "internal/je.h"

/* The caller's slot in b when it is bound to this thread (its tcache and flags), else NULL. A slot is bound only with
 * membarrier registered (mg_fast_bind), so a bound slot's owner may use mg_owner_try. */
MG_HOT mg_stock *fast_slot(memgov_budget *b)
{
    unsigned i = mg_me.index - 1u;
    if (__builtin_expect(i >= MG_STOCK_OWNED, 0))
        return NULL;
    mg_stock *s = &b->stock[i];
    return __builtin_expect(s->tok == mg_me.tok, 1) ? s : NULL;
}

/* After a general-path operation: binds the caller's slot in b to this thread's tcache for its shard of b's arena
 * (mg_budget_arena; not if the
 * thread has no tcache for it: its table is full, or jemalloc refused one). */
static inline void mg_fast_bind(memgov_budget *b)
{
    if (!mg_stock_plain_ok || !mg_slot_owned())
        return;
    mg_stock *s = &b->stock[mg_me.index - 1];
    if (s->tok == mg_me.tok)
        return;
    if (mg_me.je_rtree == NULL && (mg_me.je_rtree = mgje_fast_rtree_ctx()) == NULL)
        return;
    if (mg_backend_fast_bind(mg_budget_arena(b), &s->je_tcache, &s->flags))
        s->tok = mg_me.tok;
}

/* The bin of class `index` in the tcache of the caller's bound slot s (mg_je_bin: a mirror of jemalloc's
 * cache_bin_t, checked at start-up against the glue's layout; without a match the fast path stays off). */
MG_HOT mg_je_bin *fast_bin(mg_stock *s, unsigned index)
{
    return (mg_je_bin *)((char *)s->je_tcache + MG_JE_BINS_OFFSET + (size_t)index * MG_JE_BIN_SIZE);
}

/* Takes n bytes from the caller's bound slot s and counts an allocation; false (nothing done) if it holds fewer
 * or a drainer is at work on it (the general path then takes them with a compare-and-swap). Calls nothing. */
MG_HOT bool fast_take(mg_stock *s, uint64_t n)
{
    if (__builtin_expect(!mg_owner_try(s), 0))
        return false;
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    bool ok = mg_stock_bytes(w) >= n;
    if (__builtin_expect(ok, 1)) {
        atomic_store_explicit(&s->word, w - n, memory_order_relaxed);
        mg_count_owned(&s->n_alloc, 1);
    }
    mg_owner_leave(s);
    return ok;
}

/* The outcomes of mg_fast_malloc. */
typedef enum { MG_FAST_DECLINED, MG_FAST_HIT, MG_FAST_BIN } mg_fast_outcome;

/* The fast path of memgov_malloc: MG_FAST_HIT with the block in *out; MG_FAST_BIN when the charge was taken
 * from the caller's bound slot (*slot) but the tcache bin of the class (*index) is at its low-water mark or empty
 * (then mg_fast_malloc_bin); MG_FAST_DECLINED (nothing done) when the general path must serve the request. Calls
 * no function, so that memgov_malloc, which ends each outcome with a tail call, needs no registers saved. */
MG_HOT mg_fast_outcome mg_fast_malloc(memgov_budget *budget, size_t size, void **out, mg_stock **slot,
                                      unsigned *index)
{
    mg_stock *s;
    if (__builtin_expect(budget == NULL || size - 1 >= atomic_load_explicit(&mg_fast_max, memory_order_relaxed) ||
                         (s = fast_slot(budget)) == NULL, 0))
        return MG_FAST_DECLINED;
    mg_class c = mg_fast_class(size);
    if (__builtin_expect(!fast_take(s, c.usable), 0))
        return MG_FAST_DECLINED;
    /* The tcache bin's pop, inline: cache_bin_alloc_easy's (the head's block unless the head is at the low-water
     * mark), and the request count; backend_jemalloc.c (bins_mirrored) checks mg_je_bin against the glue's
     * layout, and the fast path is off without a match. */
    mg_je_bin *bin = fast_bin(s, c.index);
    void **head = bin->head;
    if (__builtin_expect((uint16_t)(uintptr_t)head != bin->low_water, 1)) {
        bin->head = head + 1;
        bin->nrequests++;
        *out = *head;
        return MG_FAST_HIT;
    }
    *slot = s;
    *index = c.index;
    return MG_FAST_BIN;
}

/* After MG_FAST_BIN (for memgov_malloc's out-of-line half): the glue's pop, which moves the low-water mark, else
 * (the bin is empty, or the thread is off jemalloc's fast path) jemalloc's public call, which fills the bin from
 * the budget's arena; if it has no memory, the charge and the count go back and NULL sends the caller to the
 * general path, which tries again (and reports). */
static inline void *mg_fast_malloc_bin(memgov_budget *budget, mg_stock *s, size_t size, unsigned index)
{
    void *p = mgje_fast_mallocx(index, s->je_tcache);
    if (p == NULL && (p = mgje_mallocx(size, s->flags)) == NULL) {
        mg_count_owned(&s->n_alloc, (uint64_t)-1);
        mg_uncharge(budget, mg_fast_class(size).usable);
    }
    return p;
}

/* Credits n bytes of a freed block to the caller's bound slot s when it is open and has room, else to the levels;
 * counts a free. While a drainer is at work, the general credit (compare-and-swap meanwhile). */
MG_HOT void fast_give(memgov_budget *b, mg_stock *s, uint64_t n)
{
    mg_count_owned(&s->n_free, 1);
    if (__builtin_expect(!mg_owner_try(s), 0)) {
        mg_uncharge(b, n);
        return;
    }
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    bool ok = mg_slot_fits(w, n, mg_slot_cap(s));
    if (__builtin_expect(ok, 1))
        atomic_store_explicit(&s->word, w + n, memory_order_relaxed);
    mg_owner_leave(s);
    if (__builtin_expect(!ok, 0))
        mg_stock_overflow(b, s, n);
}

/* The free through the glue (the block unknown to the rtree cache, or a full bin), then the credit. Apart, so
 * that the inline path calls nothing but in tail position. */
static __attribute__((noinline)) void fast_free_glue(memgov_budget *budget, mg_stock *s, void *ptr)
{
    fast_give(budget, s, mgje_fast_dallocx(ptr, s->je_tcache, s->flags));
}

/* The fast path of memgov_free: frees the block, then credits its usable size (which the free's own lookup
 * found); false (nothing done) when the general path must. */
MG_HOT bool mg_fast_free(memgov_budget *budget, void *ptr)
{
    mg_stock *s;
    if (__builtin_expect(ptr == NULL || budget == NULL || (s = fast_slot(budget)) == NULL, 0))
        return false;
    /* The block's class from the thread's rtree cache and the push onto the bin, inline: what the glue's short way
     * does (emap_alloc_ctx_try_lookup_fast, cache_bin_dalloc_easy), through the mirrors mg_je_rtree_elm and
     * mg_je_bin that backend_jemalloc.c checked; a block the cache does not know, a class the tables do not
     * serve or a full bin go to the glue. */
    uintptr_t key = (uintptr_t)ptr;
    const mg_je_rtree_elm *e =
        (const mg_je_rtree_elm *)mg_me.je_rtree + ((key >> MG_JE_RTREE_KEY_BITS) & (MG_JE_RTREE_NCACHE - 1));
    if (__builtin_expect(e->leafkey == (key & ~(((uintptr_t)1 << MG_JE_RTREE_KEY_BITS) - 1)), 1)) {
        uint64_t bits = __atomic_load_n(&e->leaf[(key >> MG_JE_LEAF_SHIFT) & ((1u << MG_JE_LEAF_BITS) - 1)],
                                        __ATOMIC_RELAXED);
        unsigned index = (unsigned)(bits >> MG_JE_SZIND_SHIFT);
        uint32_t n;
        if (__builtin_expect(index < MG_FAST_CLASSES && (n = mg_index_usable[index]) != 0, 1)) {
            mg_je_bin *bin = fast_bin(s, index);
            void **head = bin->head;
            if (__builtin_expect((uint16_t)(uintptr_t)head != bin->full, 1)) {
                bin->head = --head;
                *head = ptr;
                fast_give(budget, s, n);
                return true;
            }
        }
    }
    fast_free_glue(budget, s, ptr);
    return true;
}

#else /* libc backend: no fast path */

typedef enum { MG_FAST_DECLINED, MG_FAST_HIT, MG_FAST_BIN } mg_fast_outcome;

MG_HOT mg_fast_outcome mg_fast_malloc(memgov_budget *budget, size_t size, void **out, mg_stock **slot,
                                      unsigned *index)
{
    (void)budget, (void)size, (void)out, (void)slot, (void)index;
    return MG_FAST_DECLINED;
}

static inline void *mg_fast_malloc_bin(memgov_budget *budget, mg_stock *s, size_t size, unsigned index)
{
    (void)budget, (void)s, (void)size, (void)index;
    return NULL;
}

MG_HOT bool mg_fast_free(memgov_budget *budget, void *ptr)
{
    (void)budget, (void)ptr;
    return false;
}

static inline void mg_fast_bind(memgov_budget *b)
{
    (void)b;
}

#endif
#endif
