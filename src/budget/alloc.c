/* Allocation from a budget: every block is charged in usable bytes before it is handed out (jemalloc backend)
 * or as soon as its usable size is known (libc backend), and credited when freed; reserve/release. */
#include <string.h>

#include "budget/alloc_fast.h"
#include "internal/error.h"
#include "internal/fault.h"

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

/* ---- where a budget's blocks come from: its arena (backend.h), or its file (memmap/filearena.h) ---------------- */

static inline void *block_alloc(memgov_budget *b, size_t size, size_t align, bool zero)
{
    return b->file != NULL ? mg_filearena_alloc(b->file, size, align, zero)
                           : mg_backend_alloc(mg_budget_arena(b), size, align, zero);
}

static inline void block_free(memgov_budget *b, void *ptr, size_t size)
{
    if (b->file != NULL)
        mg_filearena_free(b->file, ptr);
    else
        mg_backend_free(mg_budget_arena(b), ptr, size);
}

static inline size_t block_usable(memgov_budget *b, const void *ptr)
{
    return b->file != NULL ? mg_filearena_usable(b->file, ptr) : mg_backend_usable(ptr);
}

/* The allocator had nothing for the block: for a file, the file's own reason (a full disk, its address space). */
static void *block_refused(memgov_budget *b, size_t size)
{
    return b->file != NULL ? mg_file_refused(&b->file->file, b->name, size) : system_refused(b, size);
}

/* ---- the two orders of charge and allocation, one per backend ------------------------------------------------ */

#if MG_BACKEND_KNOWS_SIZE_BEFORE
/* The usable size is known beforehand (nallocx): charge, then allocate, so the cap holds for real memory too. */

static void *too_large(memgov_budget *b, size_t size)
{
    mg_fail(MEMGOV_ENOMEM, "budget '%s': %zu bytes is more than the allocator can give in one block", b->name, size);
    return NULL;
}

/* A block of `size` bytes (at least 1) with its charge pending in *c, or NULL (reported). */
static void *charged_block(memgov_budget *b, size_t size, size_t align, bool zero, mg_charge *c)
{
    size_t n = mg_backend_size_for(size, align);
    if (n == 0)
        return too_large(b, size);
    if (mg_charge_begin(b, n, true, c) != MEMGOV_OK)
        return NULL;
    void *p = block_alloc(b, size, align, zero);
    if (p == NULL) {
        mg_charge_rollback(c);
        return block_refused(b, size);
    }
    return p;
}

/* Resizes ptr (usable size `old`) to `size` bytes: the new block with its usable size in *n and, when it grew, the
 * difference's charge pending in *c; NULL (reported) leaves ptr as it was. */
static void *charged_resize(memgov_budget *b, void *ptr, size_t old, size_t size, size_t *n, mg_charge *c)
{
    if ((*n = mg_backend_size_for(size, 0)) == 0)
        return too_large(b, size);
    if (*n > old && mg_charge_begin(b, *n - old, false, c) != MEMGOV_OK)
        return NULL;
    void *q = b->file != NULL ? mg_filearena_resize(b->file, ptr, size)
                              : mg_backend_resize(mg_budget_arena(b), ptr, size);
    if (q == NULL) {
        if (*n > old)
            mg_charge_rollback(c);
        return block_refused(b, size);
    }
    return q;
}

/* The usable size of a block being freed; `size`: the size asked for (sized free) or 0. */
static size_t freed_size(memgov_budget *b, void *ptr, size_t size)
{
    return size == 0 ? block_usable(b, ptr) : mg_backend_size_for(size, 0);
}

#else
/* The usable size is known only once the block exists (malloc_usable_size): allocate, then charge. */

static void *charged_block(memgov_budget *b, size_t size, size_t align, bool zero, mg_charge *c)
{
    void *p = block_alloc(b, size, align, zero);
    if (p == NULL)
        return block_refused(b, size);
    if (mg_charge_begin(b, block_usable(b, p), true, c) != MEMGOV_OK) {
        block_free(b, p, 0);
        return NULL;
    }
    return p;
}

/* Allocates, copies and frees, so that the new block's usable size is known before the old one goes. */
static void *charged_resize(memgov_budget *b, void *ptr, size_t old, size_t size, size_t *n, mg_charge *c)
{
    void *q = block_alloc(b, size, 0, false);
    if (q == NULL)
        return block_refused(b, size);
    *n = block_usable(b, q);
    if (*n > old && mg_charge_begin(b, *n - old, false, c) != MEMGOV_OK) {
        block_free(b, q, 0);
        return NULL;
    }
    memcpy(q, ptr, old < *n ? old : *n);
    block_free(b, ptr, 0);
    return q;
}

static size_t freed_size(memgov_budget *b, void *ptr, size_t size)
{
    (void)size;
    return block_usable(b, ptr);
}
#endif

/* ---- the public functions ------------------------------------------------------------------------------------ */

static void *device_budget(memgov_budget *b)
{
    mg_fail(MEMGOV_EINVAL, "budget '%s' is a device budget: its memory comes from memgov_gpu_malloc() (memgov/gpu.h)",
            b->name);
    return NULL;
}

/* A budget with a spill target (spill.c): in MINIMAL mode (memmap.spill_minimal) a large request goes there at
 * once, and a request the budget refuses goes there after the refusal. */
static void *alloc_charged(memgov_budget *b, size_t size, size_t align, bool zero)
{
    if (b->device) /* no arena to allocate from; the fast path binds only after an allocation from here */
        return device_budget(b);
    bool spilling = __builtin_expect(atomic_load_explicit(&b->spill, memory_order_relaxed) != NULL, 0);
    if (spilling && mg_spill_direct(b, size))
        return mg_spill_alloc(b, size, align, zero, true);
    mg_charge c;
    void *p = charged_block(b, size == 0 ? 1 : size, align, zero, &c);
    if (p == NULL)
        return spilling ? mg_spill_alloc(b, size, align, zero, false) : NULL;
    mg_charge_commit(&c);
    if (b->file == NULL) /* file arenas are used without thread caches: no fast path */
        mg_fast_bind(b);
    return p;
}

static __attribute__((noinline)) void *malloc_slow(memgov_budget *budget, size_t size)
{
    if (budget == NULL)
        return no_budget("memgov_malloc");
    return alloc_charged(budget, size, 0, false);
}

/* The fast path's charge was taken but the tcache bin was at its low-water mark: the glue or the public call,
 * else (no memory: the charge went back) the general path. */
static __attribute__((noinline)) void *malloc_bin(memgov_budget *budget, mg_stock *s, size_t size, unsigned index)
{
    void *p = mg_fast_malloc_bin(budget, s, size, index);
    return p != NULL ? p : malloc_slow(budget, size);
}

/* Each outcome ends in a tail call or a return: the fast path saves no registers. */
MEMGOV_API void *memgov_malloc(memgov_budget *budget, size_t size)
{
    void *p;
    mg_stock *s;
    unsigned index;
    mg_fast_outcome o = mg_fast_malloc(budget, size, &p, &s, &index);
    if (__builtin_expect(o == MG_FAST_HIT, 1))
        return p;
    if (o == MG_FAST_BIN)
        return malloc_bin(budget, s, size, index);
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
    if (ptr == NULL || budget->device)
        return alloc_charged(budget, size, 0, false);
    memgov_budget *spilled = mg_spill_owner(budget, ptr);
    if (spilled != NULL)
        return mg_spill_realloc(budget, spilled, ptr, size);
    if (size == 0)
        size = 1;
    size_t old = block_usable(budget, ptr), n;
    mg_charge c;
    void *q = charged_resize(budget, ptr, old, size, &n, &c);
    if (q == NULL)
        return NULL;
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
    memgov_budget *spilled = mg_spill_owner(budget, ptr);
    if (spilled != NULL) {
        mg_spill_free(budget, spilled, ptr);
        return;
    }
    size_t n = freed_size(budget, ptr, size);
    block_free(budget, ptr, size);
    mg_uncharge_free(budget, n);
    if (budget->file == NULL)
        mg_fast_bind(budget);
}

/* True when ptr is a spilled block of a budget with a spill target (the general path frees it from the target). */
static inline bool spilled_block(memgov_budget *budget, void *ptr)
{
    return budget != NULL && __builtin_expect(atomic_load_explicit(&budget->spill, memory_order_relaxed) != NULL, 0)
           && mg_spill_owner(budget, ptr) != NULL;
}

MEMGOV_API void memgov_free(memgov_budget *budget, void *ptr)
{
    if (spilled_block(budget, ptr) || !mg_fast_free(budget, ptr))
        free_slow(budget, ptr, 0);
}

/* On the fast path the free's lookup gives the usable size anyway, so the size is used on the general path only. */
MEMGOV_API void memgov_sized_free(memgov_budget *budget, void *ptr, size_t size)
{
    if (spilled_block(budget, ptr) || !mg_fast_free(budget, ptr))
        free_slow(budget, ptr, size);
}

MEMGOV_API size_t memgov_usable_size(memgov_budget *budget, const void *ptr)
{
    if (ptr == NULL)
        return 0;
    if (budget == NULL)
        return mg_backend_usable(ptr);
    memgov_budget *spilled = mg_spill_owner(budget, ptr);
    return spilled != NULL ? mg_spill_usable(spilled, ptr) : block_usable(budget, ptr);
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
