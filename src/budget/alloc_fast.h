/* Internal to src/budget/alloc.c: the allocation fast path, inlined into memgov_malloc, memgov_free and
 * memgov_sized_free, which then read: the fast path, else the general (slow) function. With the jemalloc backend
 * the real thing; with the libc backend (sizes known only after the allocation) it always declines.
 *
 * A malloc of at most MG_FAST_MAX bytes and a free, by a thread that owns a stock slot bound to it (its tcache
 * for the budget's arena and the flags naming both), touch only that slot (a cache line no other thread writes,
 * unless it drains) and the thread's tcache: the usable size and class come from a table, the charge is taken
 * from the slot with a plain load and store, and jemalloc is called through the glue (internal/je.h), which pops
 * or pushes the tcache bin without mallocx's option parsing and gives the freed block's usable size from the
 * free's own lookup. Anything else (no slot or binding yet, an empty or closed stock, an armed fault) declines:
 * the general path serves it and binds the slot for next time (mg_fast_bind); where the glue declines (an empty
 * bin, a thread off jemalloc's fast path) the public jemalloc call does the work (docs/design.md 4.4, 4.11). */
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
    if (mg_backend_fast_bind(mg_budget_arena(b), &s->je_tcache, &s->flags))
        s->tok = mg_me.tok;
}

/* A drainer is at work on the caller's slot s: take n bytes the general way (compare-and-swap meanwhile). */
static __attribute__((noinline)) bool fast_take_locked(mg_stock *s, uint64_t n)
{
    if (!mg_slot_take(s, n))
        return false;
    mg_count_owned(&s->n_alloc, 1);
    return true;
}

/* Takes n bytes from the caller's bound slot s and counts an allocation; false (nothing done) if it holds fewer. */
MG_HOT bool fast_take(mg_stock *s, uint64_t n)
{
    if (__builtin_expect(!mg_owner_try(s), 0))
        return fast_take_locked(s, n);
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    bool ok = mg_stock_bytes(w) >= n;
    if (__builtin_expect(ok, 1)) {
        atomic_store_explicit(&s->word, w - n, memory_order_relaxed);
        mg_count_owned(&s->n_alloc, 1);
    }
    mg_owner_leave(s);
    return ok;
}

/* The glue declined a fast-path allocation (the tcache bin is empty, or the thread is off jemalloc's fast path):
 * jemalloc's public call, which fills the bin from the budget's arena; if it has no memory, the charge and the
 * count go back and NULL sends the caller to the general path, which tries again (and reports). */
static __attribute__((noinline)) void *fast_malloc_public(memgov_budget *b, mg_stock *s, size_t size)
{
    void *p = mgje_mallocx(size, s->flags);
    if (p != NULL)
        return p;
    mg_count_owned(&s->n_alloc, (uint64_t)-1);
    mg_uncharge(b, mg_fast_class(size).usable);
    return NULL;
}

/* The fast path of memgov_malloc: true with the block in *out, or false (nothing done) when the general path
 * must serve the request. */
MG_HOT bool mg_fast_malloc(memgov_budget *budget, size_t size, void **out)
{
    mg_stock *s;
    if (__builtin_expect(budget == NULL || size - 1 >= atomic_load_explicit(&mg_fast_max, memory_order_relaxed) ||
                         (s = fast_slot(budget)) == NULL, 0))
        return false;
    mg_class c = mg_fast_class(size);
    if (__builtin_expect(!fast_take(s, c.usable), 0))
        return false;
    void *p = mgje_fast_mallocx(c.index, s->je_tcache);
    if (__builtin_expect(p == NULL, 0))
        p = fast_malloc_public(budget, s, size);
    *out = p;
    return p != NULL;
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

/* The glue declined a fast-path free: jemalloc's public calls. */
static __attribute__((noinline)) size_t fast_free_public(void *ptr, int flags)
{
    size_t n = mgje_sallocx(ptr, 0);
    mgje_dallocx(ptr, flags);
    return n;
}

/* The fast path of memgov_free: frees the block, then credits its usable size (which the free's own lookup
 * found); false (nothing done) when the general path must. */
MG_HOT bool mg_fast_free(memgov_budget *budget, void *ptr)
{
    mg_stock *s;
    if (__builtin_expect(ptr == NULL || budget == NULL || (s = fast_slot(budget)) == NULL, 0))
        return false;
    size_t n = mgje_fast_dallocx(ptr, s->je_tcache);
    if (__builtin_expect(n == 0, 0))
        n = fast_free_public(ptr, s->flags);
    fast_give(budget, s, n);
    return true;
}

#else /* libc backend: no fast path */

MG_HOT bool mg_fast_malloc(memgov_budget *budget, size_t size, void **out)
{
    (void)budget, (void)size, (void)out;
    return false;
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
