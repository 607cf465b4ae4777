/* libFuzzer target for the .npy header parser (src/memmap/npy.c): the input is a whole file. Invariants of an
 * accepted header: a known dtype, at most MEMGOV_MMARRAY_MAX_NDIM extents, a data offset inside the file and a
 * multiple of the element size, a data region that fits in the file and equals the product of the extents times
 * the element size (the product of the non-zero extents within INT64_MAX, numpy's rule); and the header memgov
 * writes for the same dtype and shape parses back to them. ASan catches any read outside the input; libFuzzer's
 * -timeout catches unbounded work. corpus-npy/crash-zero-extent-overflow.npy is the input that found the rule
 * missing (an extent of 0 after extents whose product overflows). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memmap/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t total;
    mg_npy_header h;
    memgov_status prefix = mg_npy_prefix(data, size, "fuzz", &total);
    memgov_status s = mg_npy_parse(data, size, size, "fuzz", &h);
    if (s != MEMGOV_OK) {
        if (memgov_last_error()[0] == '\0')
            abort(); /* a refusal names its reason */
        return 0;
    }
    if (prefix != MEMGOV_OK || total != h.offset)
        abort();
    size_t item = memgov_dtype_size(h.dtype);
    if (item == 0 || h.ndim > MEMGOV_MMARRAY_MAX_NDIM || h.offset > size || h.nbytes > size - h.offset ||
        h.offset % item != 0)
        abort();
    uint64_t product = item; /* of the non-zero extents: numpy's overflow rule */
    int zero = 0;
    for (size_t i = 0; i < h.ndim; i++) {
        zero |= h.shape[i] == 0;
        if (h.shape[i] != 0 && (__builtin_mul_overflow(product, h.shape[i], &product) || product > INT64_MAX))
            abort(); /* an overflowing shape was accepted */
    }
    if ((zero ? 0 : product) != h.nbytes)
        abort();
    char out[MG_NPY_FORMAT_MAX];
    size_t len;
    if (mg_npy_format(h.dtype, h.ndim, h.shape, out, sizeof out, &len) != MEMGOV_OK || len % MG_NPY_ALIGN != 0)
        abort();
    mg_npy_header back;
    if (mg_npy_parse((const unsigned char *)out, len, len + h.nbytes, "format", &back) != MEMGOV_OK ||
        back.dtype != h.dtype || back.ndim != h.ndim || back.offset != len ||
        memcmp(back.shape, h.shape, h.ndim * sizeof h.shape[0]) != 0)
        abort();
    return 0;
}
