/* Allocation from a budget: every block is charged in usable bytes before it is handed out (jemalloc backend)
 * or as soon as its usable size is known (libc backend), and credited when freed; reserve/release. */
#include <string.h>

#include "budget/backend.h"
#include "budget/stock.h"
#include "internal/error.h"
#include "internal/fault.h"
#if MG_BACKEND_KNOWS_SIZE_BEFORE
#include "internal/je.h"
#endif

static void *no_budget(const char *fn)
{
    mg_fail(MEMGOV_EINVAL, "%s: budget is NULL", fn);
    return NULL;
}

static void *system_refused(memgov_budget *b, size_t size)
{
    char s[24];
    memgov_format_bytes(size, s, sizeof s);
    mg_fail(MEMGOV_ENOMEM, "budget '%s': the allocator has no memory for %s (%zu bytes); no limit refused it",
            b->name, s, size);
    return NULL;
}

static void *too_large(memgov_budget *b, size_t size)
{
    mg_fail(MEMGOV_ENOMEM, "budget '%s': %zu bytes is more than the allocator can give in one block", b->name, size);
    return NULL;
}

#if MG_BACKEND_KNOWS_SIZE_BEFORE
/* ---- the fast path (docs/design.md 4.4, 4.11) -------------------------------------------------------------------
 * A malloc of at most MG_FAST_MAX bytes and a free, by a thread that owns a stock slot bound to it (its tcache
 * for the budget's arena and the flags naming both), touch only that slot (a cache line no other thread writes,
 * unless it drains) and the thread's tcache: the usable size and class come from a table, the charge is taken
 * from the slot with a plain load and store, and jemalloc is called through the glue (internal/je.h), which pops
 * or pushes the tcache bin without mallocx's option parsing and gives the freed block's usable size from the
 * free's own lookup. Anything else (no slot or binding yet, an empty or closed stock, an armed fault) returns to
 * the general path below, which binds the slot for next time; where the glue declines (an empty bin, a thread
 * off jemalloc's fast path) the public jemalloc call does the work. */

/* The caller's slot in b when it is bound to this thread (its tcache and flags), else NULL. A slot is bound only with
 * membarrier registered (fast_bind), so a bound slot's owner may use mg_owner_try. */
MG_HOT mg_stock *fast_slot(memgov_budget *b)
{
    unsigned i = mg_me.index - 1u;
    if (__builtin_expect(i >= MG_STOCK_OWNED, 0))
        return NULL;
    mg_stock *s = &b->stock[i];
    return __builtin_expect(s->tok == mg_me.tok, 1) ? s : NULL;
}

/* After a general-path operation: binds the caller's slot in b to this thread's tcache for b's arena (not if the
 * thread has no tcache for it: its table is full, or jemalloc refused one). */
static void fast_bind(memgov_budget *b)
{
    if (!mg_stock_plain_ok || !mg_slot_owned())
        return;
    mg_stock *s = &b->stock[mg_me.index - 1];
    if (s->tok == mg_me.tok)
        return;
    if (mg_backend_fast_bind(b->arena, &s->je_tcache, &s->flags))
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

static void *malloc_slow(memgov_budget *budget, size_t size);

/* The glue declined a fast-path allocation (the tcache bin is empty, or the thread is off jemalloc's fast path):
 * jemalloc's public call, which fills the bin from the budget's arena; if it has no memory, the charge goes back
 * and the general path tries again (and reports). */
static __attribute__((noinline)) void *fast_malloc_public(memgov_budget *b, size_t size)
{
    mg_stock *s = fast_slot(b); /* still bound: only this thread's own tcache flush renews its token */
    void *p = mgje_mallocx(size, s->flags);
    if (p != NULL)
        return p;
    mg_count_owned(&s->n_alloc, (uint64_t)-1);
    mg_uncharge(b, mg_size_class[(size + 7) >> 3].usable);
    return malloc_slow(b, size);
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
        mg_credit_levels(b, n);
}
#else
#  define fast_bind(b) ((void)(b))
#endif

static void *alloc_charged(memgov_budget *b, size_t size, size_t align, bool zero)
{
    if (size == 0)
        size = 1;
    mg_charge c;
#if MG_BACKEND_KNOWS_SIZE_BEFORE
    size_t n = mg_backend_size_for(size, align);
    if (n == 0)
        return too_large(b, size);
    if (mg_charge_begin(b, n, true, &c) != MEMGOV_OK)
        return NULL;
    void *p = mg_backend_alloc(b->arena, size, align, zero);
    if (p == NULL) {
        mg_charge_rollback(&c);
        return system_refused(b, size);
    }
#else
    void *p = mg_backend_alloc(b->arena, size, align, zero);
    if (p == NULL)
        return system_refused(b, size);
    if (mg_charge_begin(b, mg_backend_usable(p), true, &c) != MEMGOV_OK) {
        mg_backend_free(b->arena, p, 0);
        return NULL;
    }
#endif
    mg_charge_commit(&c);
    fast_bind(b);
    return p;
}

static __attribute__((noinline)) void *malloc_slow(memgov_budget *budget, size_t size)
{
    if (budget == NULL)
        return no_budget("memgov_malloc");
    return alloc_charged(budget, size, 0, false);
}

MEMGOV_API void *memgov_malloc(memgov_budget *budget, size_t size)
{
#if MG_BACKEND_KNOWS_SIZE_BEFORE
    mg_stock *s;
    if (__builtin_expect(budget != NULL &&
                         size - 1 < atomic_load_explicit(&mg_fast_max, memory_order_relaxed) &&
                         (s = fast_slot(budget)) != NULL, 1)) {
        mg_class c = mg_size_class[(size + 7) >> 3];
        if (__builtin_expect(fast_take(s, c.usable), 1)) {
            void *p = mgje_fast_mallocx(c.index, s->je_tcache);
            if (__builtin_expect(p != NULL, 1))
                return p;
            return fast_malloc_public(budget, size);
        }
    }
#endif
    return malloc_slow(budget, size);
}

MEMGOV_API void *memgov_calloc(memgov_budget *budget, size_t count, size_t size)
{
    if (budget == NULL)
        return no_budget("memgov_calloc");
    if (count != 0 && size > SIZE_MAX / count) {
        mg_fail(MEMGOV_EOVERFLOW, "memgov_calloc on budget '%s': %zu elements of %zu bytes overflow size_t",
                budget->name, count, size);
        return NULL;
    }
    return alloc_charged(budget, count * size, 0, true);
}

MEMGOV_API void *memgov_aligned_alloc(memgov_budget *budget, size_t alignment, size_t size)
{
    if (budget == NULL)
        return no_budget("memgov_aligned_alloc");
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        mg_fail(MEMGOV_EINVAL, "memgov_aligned_alloc on budget '%s': alignment %zu is not a power of two",
                budget->name, alignment);
        return NULL;
    }
    if (size > SIZE_MAX - (alignment - 1)) {
        mg_fail(MEMGOV_EOVERFLOW, "memgov_aligned_alloc on budget '%s': %zu bytes rounded up to an alignment of "
                "%zu overflow size_t", budget->name, size, alignment);
        return NULL;
    }
    return alloc_charged(budget, size, alignment, false);
}

MEMGOV_API void *memgov_realloc(memgov_budget *budget, void *ptr, size_t size)
{
    if (budget == NULL)
        return no_budget("memgov_realloc");
    if (ptr == NULL)
        return alloc_charged(budget, size, 0, false);
    if (size == 0)
        size = 1;
    size_t old = mg_backend_usable(ptr);
    mg_charge c;
#if MG_BACKEND_KNOWS_SIZE_BEFORE
    size_t n = mg_backend_size_for(size, 0);
    if (n == 0)
        return too_large(budget, size);
    if (n > old && mg_charge_begin(budget, n - old, false, &c) != MEMGOV_OK)
        return NULL;
    void *q = mg_backend_resize(budget->arena, ptr, size);
    if (q == NULL) {
        if (n > old)
            mg_charge_rollback(&c);
        return system_refused(budget, size);
    }
#else
    void *q = mg_backend_alloc(budget->arena, size, 0, false);
    if (q == NULL)
        return system_refused(budget, size);
    size_t n = mg_backend_usable(q);
    if (n > old && mg_charge_begin(budget, n - old, false, &c) != MEMGOV_OK) {
        mg_backend_free(budget->arena, q, 0);
        return NULL;
    }
    memcpy(q, ptr, old < n ? old : n);
    mg_backend_free(budget->arena, ptr, 0);
#endif
    if (n > old)
        mg_charge_commit(&c);
    else if (n < old)
        mg_uncharge(budget, old - n);
    return q;
}

static __attribute__((noinline)) void free_slow(memgov_budget *budget, void *ptr, size_t size)
{
    if (ptr == NULL || budget == NULL)
        return;
#if MG_BACKEND_KNOWS_SIZE_BEFORE
    size_t n = size == 0 ? mg_backend_usable(ptr) : mg_backend_size_for(size, 0);
#else
    size_t n = mg_backend_usable(ptr);
#endif
    mg_backend_free(budget->arena, ptr, size);
    mg_uncharge_free(budget, n);
    fast_bind(budget);
}

#if MG_BACKEND_KNOWS_SIZE_BEFORE
/* The glue declined a fast-path free: jemalloc's public calls. */
static __attribute__((noinline)) size_t fast_free_public(void *ptr, int flags)
{
    size_t n = mgje_sallocx(ptr, 0);
    mgje_dallocx(ptr, flags);
    return n;
}

/* The fast path frees the block, then credits its usable size (which the free's own lookup found). */
MG_HOT bool fast_free(memgov_budget *budget, void *ptr)
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
#else
#  define fast_free(budget, ptr) false
#endif

MEMGOV_API void memgov_free(memgov_budget *budget, void *ptr)
{
    if (!fast_free(budget, ptr))
        free_slow(budget, ptr, 0);
}

/* On the fast path the free's lookup gives the usable size anyway, so the size is used on the general path only. */
MEMGOV_API void memgov_sized_free(memgov_budget *budget, void *ptr, size_t size)
{
    if (!fast_free(budget, ptr))
        free_slow(budget, ptr, size);
}

MEMGOV_API size_t memgov_usable_size(memgov_budget *budget, const void *ptr)
{
    (void)budget;
    return ptr == NULL ? 0 : mg_backend_usable(ptr);
}

MEMGOV_API memgov_status memgov_reserve(memgov_budget *budget, uint64_t bytes)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_reserve: budget is NULL");
    if (bytes == 0)
        return MEMGOV_OK;
    mg_charge c;
    memgov_status st = mg_charge_begin(budget, bytes, false, &c);
    if (st != MEMGOV_OK)
        return st;
    mg_charge_commit(&c);
    atomic_fetch_add_explicit(&budget->reserved, bytes, memory_order_relaxed);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_release(memgov_budget *budget, uint64_t bytes)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_release: budget is NULL");
    uint64_t have = atomic_load(&budget->reserved);
    do {
        if (bytes > have)
            return mg_fail(MEMGOV_ERANGE, "budget '%s': releasing %llu bytes but only %llu are reserved",
                           budget->name, (unsigned long long)bytes, (unsigned long long)have);
    } while (!atomic_compare_exchange_weak(&budget->reserved, &have, have - bytes));
    if (bytes > 0)
        mg_uncharge(budget, bytes);
    return MEMGOV_OK;
}
