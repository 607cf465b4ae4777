/* Allocation from a budget: every block is charged in usable bytes before it is handed out (jemalloc backend)
 * or as soon as its usable size is known (libc backend), and credited when freed; reserve/release. */
#include <string.h>

#include "budget/backend.h"
#include "budget/budget_internal.h"
#include "internal/error.h"

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
    return p;
}

MEMGOV_API void *memgov_malloc(memgov_budget *budget, size_t size)
{
    if (budget == NULL)
        return no_budget("memgov_malloc");
    return alloc_charged(budget, size, 0, false);
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

MEMGOV_API void memgov_free(memgov_budget *budget, void *ptr)
{
    if (ptr == NULL || budget == NULL)
        return;
    size_t n = mg_backend_usable(ptr);
#if MG_BACKEND_KNOWS_SIZE_BEFORE
    /* The usable size is a valid size for a sized free: jemalloc then takes the size class from it instead of
     * looking the block up again. */
    mg_backend_free(budget->arena, ptr, n);
#else
    mg_backend_free(budget->arena, ptr, 0);
#endif
    mg_uncharge_free(budget, n);
}

MEMGOV_API void memgov_sized_free(memgov_budget *budget, void *ptr, size_t size)
{
    if (ptr == NULL || budget == NULL)
        return;
#if MG_BACKEND_KNOWS_SIZE_BEFORE
    size_t n = mg_backend_size_for(size == 0 ? 1 : size, 0);
    mg_backend_free(budget->arena, ptr, size == 0 ? 1 : size);
#else
    size_t n = mg_backend_usable(ptr);
    mg_backend_free(budget->arena, ptr, size);
#endif
    mg_uncharge_free(budget, n);
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
