/* Internal: NumPy's .npy header, read and written (docs/memmap.md "Mapped arrays"). The parser is the part of a
 * mapped array that sees hostile bytes; it has a libFuzzer target (tests/fuzz/fuzz_npy.c). It reads only the
 * bytes it is given, each at most once, so its work is linear in the header's length. */
#ifndef MG_MEMMAP_NPY_H
#define MG_MEMMAP_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "memgov/memmap.h"

/* Bytes before the header dict: magic (6), version (2), length (2 in version 1.0, 4 in 2.0 and 3.0). */
#define MG_NPY_PREFIX_MAX 12
/* numpy's alignment of the data region (numpy.lib.format.ARRAY_ALIGN). */
#define MG_NPY_ALIGN 64

typedef struct mg_npy_header {
    memgov_dtype dtype;
    size_t ndim;
    uint64_t shape[MEMGOV_MMARRAY_MAX_NDIM];
    int fortran_order;
    uint64_t offset;   /* bytes of magic, version, length and dict: where the data starts */
    uint64_t nbytes;   /* product of the extents times the element size */
} mg_npy_header;

/* Reads the prefix of a .npy file (its first `len` bytes, len >= MG_NPY_PREFIX_MAX or the whole file) and sets
 * *total to the header's full length (where the data starts), after checking the magic, the version and that
 * the length stays within MEMGOV_MMARRAY_HEADER_MAX. `name` names the file in messages. MEMGOV_EPARSE or
 * MEMGOV_EUNSUPPORTED (an unknown version) with the last error set. */
memgov_status mg_npy_prefix(const unsigned char *buf, size_t len, const char *name, uint64_t *total);

/* Parses a whole header (buf holds at least the *total bytes mg_npy_prefix gave, len of them) of a file of
 * file_size bytes into *out and checks the data region against file_size. Errors: MEMGOV_EPARSE (the message
 * names the problem and where), MEMGOV_EUNSUPPORTED (a valid header memgov cannot map: dtype, byte order,
 * Fortran order), MEMGOV_EOVERFLOW (the shape's byte size). */
memgov_status mg_npy_parse(const unsigned char *buf, size_t len, uint64_t file_size, const char *name,
                           mg_npy_header *out);

/* Bytes of the data region of `ndim` extents of dtype into *nbytes; MEMGOV_EOVERFLOW when it exceeds INT64_MAX
 * (a file offset), MEMGOV_EINVAL for an unknown dtype or too many dimensions. */
memgov_status mg_npy_nbytes(memgov_dtype dtype, size_t ndim, const uint64_t *shape, uint64_t *nbytes);

/* Writes a version 1.0 header for the array into buf (cap bytes) and its length, a multiple of MG_NPY_ALIGN,
 * into *len (at most MG_NPY_FORMAT_MAX). The arguments are checked by mg_npy_nbytes first. */
#define MG_NPY_FORMAT_MAX 1024
memgov_status mg_npy_format(memgov_dtype dtype, size_t ndim, const uint64_t *shape, char *buf, size_t cap,
                            size_t *len);

#endif
