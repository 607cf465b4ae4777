/* The allocation backend of -Dalloc_backend=libc (sanitizer builds): blocks from the C library's malloc, arenas
 * only labels. Chosen in src/meson.build; the interface is backend.h. */
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "budget/backend.h"
#include "internal/fault.h"

void mg_backend_init(bool stocks_plain, void (*on_thread_flush)(void))
{
    (void)stocks_plain;
    (void)on_thread_flush;
}

/* Distinct labels, so that a budget's arena shards are told apart here too (tests). */
static _Atomic unsigned next_label = 1;

bool mg_arena_try_acquire(unsigned *arena)
{
    if (mg_fault_hit(MG_FAULT_ALLOC))
        return false;
    *arena = atomic_fetch_add_explicit(&next_label, 1, memory_order_relaxed);
    return true;
}

memgov_status mg_arena_acquire(unsigned *arena)
{
    *arena = atomic_fetch_add_explicit(&next_label, 1, memory_order_relaxed);
    return MEMGOV_OK;
}

void mg_arena_give_back(unsigned arena)
{
    (void)arena;
}

void mg_arena_stats(const unsigned *arenas, unsigned n, memgov_budget_stats *st)
{
    (void)arenas;
    (void)n;
    (void)st;
}

void *mg_backend_alloc(unsigned arena, size_t size, size_t align, bool zero)
{
    (void)arena;
    if (mg_fault_hit(MG_FAULT_ALLOC))
        return NULL;
    if (align == 0)
        return zero ? calloc(1, size) : malloc(size);
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
        return NULL;
    if (zero)
        memset(p, 0, size);
    return p;
}

void mg_backend_free(unsigned arena, void *ptr, size_t size)
{
    (void)arena;
    (void)size;
    free(ptr);
}

size_t mg_backend_usable(const void *ptr)
{
    return malloc_usable_size((void *)ptr);
}

void mg_backend_thread_flush(void)
{
}
