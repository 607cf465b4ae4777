/* Internal: the struct_size rule of the stable ABI (common.h, docs/abi.md). */
#ifndef MG_INTERNAL_STRUCTSIZE_H
#define MG_INTERNAL_STRUCTSIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "memgov/common.h"

/* The start of every public memgov_*_init(T *p): zero-fills the struct at p (size bytes, sizeof *p) and sets its
 * first field, size_t struct_size, to size. Returns false, touching nothing, when p is NULL; true otherwise. */
static inline bool mg_struct_init(void *p, size_t size)
{
    if (p == NULL)
        return false;
    memset(p, 0, size);
    memcpy(p, &size, sizeof size); /* struct_size is always the first field */
    return true;
}

/* Copies a caller's option struct into the library's own `ours` (ours_size bytes, already filled with the
 * defaults by the caller of this function when `theirs` is NULL). `theirs` begins with size_t struct_size.
 * - theirs == NULL: `ours` is left as it is (defaults) and MEMGOV_OK is returned.
 * - struct_size < sizeof(size_t): MEMGOV_EINVAL (an uninitialised struct, most likely).
 * - struct_size <= ours_size: the covered bytes are copied, the rest of `ours` is zero-filled.
 * - struct_size > ours_size: accepted only if bytes [ours_size, struct_size) are all zero, else MEMGOV_EINVAL.
 * On success ours->struct_size is set to ours_size. `what` names the struct in messages. */
memgov_status mg_struct_in(void *ours, size_t ours_size, const void *theirs, const char *what);

/* Copies the library's filled stats struct `ours` out to the caller's `theirs`, whose first field struct_size
 * says how large it is: min(struct_size, ours_size) bytes are written, a larger caller tail is zero-filled, and
 * theirs->struct_size keeps the caller's value. MEMGOV_EINVAL if theirs is NULL or struct_size <
 * sizeof(size_t). */
memgov_status mg_struct_out(void *theirs, const void *ours, size_t ours_size, const char *what);

#endif
