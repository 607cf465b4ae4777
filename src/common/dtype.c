/* Element types: sizes and numpy-style names. */
#include <string.h>

#include "internal/error.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[MEMGOV_DTYPE_COUNT_] = {
    [MEMGOV_DTYPE_INVALID] = {"invalid", 0},
    [MEMGOV_DTYPE_INT8] = {"int8", 1},       [MEMGOV_DTYPE_INT16] = {"int16", 2},
    [MEMGOV_DTYPE_INT32] = {"int32", 4},     [MEMGOV_DTYPE_INT64] = {"int64", 8},
    [MEMGOV_DTYPE_UINT8] = {"uint8", 1},     [MEMGOV_DTYPE_UINT16] = {"uint16", 2},
    [MEMGOV_DTYPE_UINT32] = {"uint32", 4},   [MEMGOV_DTYPE_UINT64] = {"uint64", 8},
    [MEMGOV_DTYPE_FLOAT16] = {"float16", 2}, [MEMGOV_DTYPE_FLOAT32] = {"float32", 4},
    [MEMGOV_DTYPE_FLOAT64] = {"float64", 8}, [MEMGOV_DTYPE_BOOL] = {"bool", 1},
};

static int known(memgov_dtype dtype)
{
    return (unsigned)dtype < (unsigned)MEMGOV_DTYPE_COUNT_;
}

MEMGOV_API size_t memgov_dtype_size(memgov_dtype dtype)
{
    return known(dtype) ? dtypes[dtype].size : 0;
}

MEMGOV_API const char *memgov_dtype_name(memgov_dtype dtype)
{
    return known(dtype) ? dtypes[dtype].name : "invalid";
}

MEMGOV_API memgov_status memgov_dtype_from_name(const char *name, memgov_dtype *out)
{
    if (name == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_dtype_from_name: %s is NULL", name == NULL ? "name" : "out");
    for (int d = MEMGOV_DTYPE_INT8; d < MEMGOV_DTYPE_COUNT_; d++) {
        if (strcmp(name, dtypes[d].name) == 0) {
            *out = (memgov_dtype)d;
            return MEMGOV_OK;
        }
    }
    return mg_fail(MEMGOV_ENOTFOUND, "unknown dtype '%.64s' (known: int8..int64, uint8..uint64, float16, float32, "
                   "float64, bool)", name);
}
