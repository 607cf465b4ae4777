/* Internal: growable arrays, one way for every component. */
#ifndef MG_INTERNAL_GROW_H
#define MG_INTERNAL_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* Room for element `len` of an array of `size`-byte elements with capacity *cap: returns `items` when there is
 * room, else the array reallocated to twice the capacity (`first` elements when the capacity is 0) with *cap
 * updated, or NULL when memory or size_t runs out (then `items` and *cap are unchanged and still valid). */
static inline void *mg_grow(void *items, size_t *cap, size_t len, size_t size, size_t first)
{
    if (len < *cap)
        return items;
    if (*cap > SIZE_MAX / 2 / size)
        return NULL;
    size_t n = *cap ? *cap * 2 : first;
    void *grown = realloc(items, n * size);
    if (grown != NULL)
        *cap = n;
    return grown;
}

#endif
