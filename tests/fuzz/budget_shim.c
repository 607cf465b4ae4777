/* For the kernels' fuzz target only: memgov_malloc/calloc/realloc/free over the C library with a byte cap, so that
 * the target links the kernels' sources without the budget tree and private jemalloc, and exercises the refusal
 * paths (the cap comes from the input). Sizes are kept in a header before each block to credit frees. */
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"
#include "memgov/budget.h"
#include "budget_shim.h"

size_t mg_shim_cap = 0, mg_shim_used = 0;

static void *take(size_t size, bool zero)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - 16 || (mg_shim_cap != 0 && mg_shim_used + size > mg_shim_cap)) {
        mg_fail(MEMGOV_ENOMEM, "shim budget refused %zu bytes (used %zu, cap %zu)", size, mg_shim_used, mg_shim_cap);
        return NULL;
    }
    unsigned char *p = zero ? calloc(1, size + 16) : malloc(size + 16);
    if (p == NULL) {
        mg_fail(MEMGOV_ENOMEM, "shim: no memory");
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    mg_shim_used += size;
    return p + 16;
}

MEMGOV_API void *memgov_malloc(memgov_budget *budget, size_t size)
{
    (void)budget;
    return take(size, false);
}

MEMGOV_API void *memgov_calloc(memgov_budget *budget, size_t count, size_t size)
{
    (void)budget;
    if (size != 0 && count > SIZE_MAX / size) {
        mg_fail(MEMGOV_EOVERFLOW, "shim: calloc overflow");
        return NULL;
    }
    return take(count * size, true);
}

MEMGOV_API void memgov_free(memgov_budget *budget, void *ptr)
{
    (void)budget;
    if (ptr == NULL)
        return;
    unsigned char *p = (unsigned char *)ptr - 16;
    size_t size;
    memcpy(&size, p, sizeof size);
    mg_shim_used -= size;
    free(p);
}

MEMGOV_API void *memgov_realloc(memgov_budget *budget, void *ptr, size_t size)
{
    if (ptr == NULL)
        return memgov_malloc(budget, size);
    size_t old;
    memcpy(&old, (unsigned char *)ptr - 16, sizeof old);
    void *q = take(size, false);
    if (q == NULL)
        return NULL;
    memcpy(q, ptr, old < size ? old : (size ? size : 1));
    memgov_free(budget, ptr);
    return q;
}
