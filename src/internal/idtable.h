/* Internal: fixed-size callback tables whose entries begin with a uint64_t id (the configuration's listeners,
 * the monitor's alert listeners). Ids are given out by the owner, from 1, never reused. */
#ifndef MG_INTERNAL_IDTABLE_H
#define MG_INTERNAL_IDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Removes the entry whose id is `id` from the *n entries of `size` bytes at `entries`, keeping the others in
 * order; false when there is none. */
static inline bool mg_id_table_remove(void *entries, size_t *n, size_t size, uint64_t id)
{
    unsigned char *p = entries;
    for (size_t i = 0; i < *n; i++) {
        uint64_t here;
        memcpy(&here, p + i * size, sizeof here);
        if (here == id) {
            memmove(p + i * size, p + (i + 1) * size, (*n - i - 1) * size);
            (*n)--;
            return true;
        }
    }
    return false;
}

#endif
