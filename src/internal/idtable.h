/* Internal: fixed-size callback tables whose entries begin with a uint64_t id (the configuration's listeners,
 * the monitor's alert listeners). Ids are given out by the owner, from 1, never reused. */
#ifndef MG_INTERNAL_IDTABLE_H
#define MG_INTERNAL_IDTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal/error.h"

/* Removes the entry whose id is `id` from the *n entries of `size` bytes at `entries`, keeping the others in
 * order. MEMGOV_ENOTFOUND when there is none, with a message "FN: no WHAT with id ID". */
static inline memgov_status mg_id_table_remove(void *entries, size_t *n, size_t size, uint64_t id, const char *fn,
                                               const char *what)
{
    unsigned char *p = entries;
    for (size_t i = 0; i < *n; i++) {
        uint64_t here;
        memcpy(&here, p + i * size, sizeof here);
        if (here == id) {
            memmove(p + i * size, p + (i + 1) * size, (*n - i - 1) * size);
            (*n)--;
            return MEMGOV_OK;
        }
    }
    return mg_fail(MEMGOV_ENOTFOUND, "%s: no %s with id %llu", fn, what, (unsigned long long)id);
}

#endif
