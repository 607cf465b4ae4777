/* The struct_size rule (Linux copy_struct_from_user semantics); see structsize.h. */
#include <string.h>

#include "internal/error.h"
#include "internal/structsize.h"

memgov_status mg_struct_in(void *ours, size_t ours_size, const void *theirs, const char *what)
{
    if (theirs == NULL)
        return MEMGOV_OK;
    size_t size;
    memcpy(&size, theirs, sizeof size);
    if (size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "%s: struct_size is %zu, less than sizeof(size_t); initialise the struct "
                       "with its _init function", what, size);
    if (size > ours_size) {
        const unsigned char *tail = (const unsigned char *)theirs + ours_size;
        for (size_t i = 0; i < size - ours_size; i++) {
            if (tail[i] != 0)
                return mg_fail(MEMGOV_EINVAL, "%s: struct_size %zu is larger than this library's %zu and byte %zu "
                               "of the unknown tail is non-zero (a field from a newer memgov this library "
                               "cannot honour)", what, size, ours_size, ours_size + i);
        }
        size = ours_size;
    }
    memcpy(ours, theirs, size);
    memset((unsigned char *)ours + size, 0, ours_size - size);
    memcpy(ours, &ours_size, sizeof ours_size);
    return MEMGOV_OK;
}

memgov_status mg_struct_out(void *theirs, const void *ours, size_t ours_size, const char *what)
{
    if (theirs == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: the output struct is NULL", what);
    size_t size;
    memcpy(&size, theirs, sizeof size);
    if (size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "%s: struct_size is %zu, less than sizeof(size_t); set it to "
                       "sizeof the struct", what, size);
    size_t n = size < ours_size ? size : ours_size;
    memcpy((unsigned char *)theirs + sizeof(size_t), (const unsigned char *)ours + sizeof(size_t),
           n - sizeof(size_t));
    if (size > ours_size)
        memset((unsigned char *)theirs + ours_size, 0, size - ours_size);
    return MEMGOV_OK;
}
