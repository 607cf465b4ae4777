/* NumPy's .npy header: the prefix, the dict literal, the dtype strings, and the writer. The dict is read by a
 * small recursive-descent parser over a bounded buffer: a cursor that only moves forward, so hostile input costs
 * at most one pass, and every read is checked against the end. */
#include "memmap/npy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal/error.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

memgov_status mg_npy_prefix(const unsigned char *buf, size_t len, const char *name, uint64_t *total)
{
    if (len < 10 || memcmp(buf, npy_magic, sizeof npy_magic) != 0)
        return mg_fail(MEMGOV_EPARSE, "'%.200s' is not a .npy file: it does not start with the magic \\x93NUMPY "
                       "(%zu bytes read)", name, len);
    unsigned major = buf[6], minor = buf[7];
    uint64_t hlen;
    if (major == 1 && minor == 0) {
        hlen = (uint64_t)buf[8] | (uint64_t)buf[9] << 8;
        *total = 10 + hlen;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12)
            return mg_fail(MEMGOV_EPARSE, "'%.200s': a version %u.0 .npy header needs 12 bytes before its dict, "
                           "the file has %zu", name, major, len);
        hlen = (uint64_t)buf[8] | (uint64_t)buf[9] << 8 | (uint64_t)buf[10] << 16 | (uint64_t)buf[11] << 24;
        *total = 12 + hlen;
    } else {
        return mg_fail(MEMGOV_EUNSUPPORTED, "'%.200s': .npy format version %u.%u is not supported (memgov reads "
                       "1.0, 2.0 and 3.0)", name, major, minor);
    }
    if (*total > MEMGOV_MMARRAY_HEADER_MAX)
        return mg_fail(MEMGOV_EPARSE, "'%.200s': .npy header of %" PRIu64 " bytes is longer than "
                       "MEMGOV_MMARRAY_HEADER_MAX (%u bytes)", name, *total, MEMGOV_MMARRAY_HEADER_MAX);
    return MEMGOV_OK;
}

/* ---- the dict ---------------------------------------------------------------------------------------------- */

typedef struct cursor {
    const unsigned char *p, *end, *start;
    const char *name;
} cursor;

static memgov_status bad(const cursor *c, const char *what)
{
    return mg_fail(MEMGOV_EPARSE, "'%.200s': bad .npy header at byte %td of its dict: %s", c->name,
                   c->p - c->start, what);
}

static void skip_blanks(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int take(cursor *c, char ch)
{
    skip_blanks(c);
    if (c->p < c->end && *c->p == (unsigned char)ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes, at most cap - 1 bytes, into out. */
static memgov_status string(cursor *c, char *out, size_t cap)
{
    skip_blanks(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return bad(c, "expected a quoted string");
    unsigned char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || *c->p < 0x20 || *c->p >= 0x7f)
            return bad(c, "escape or non-printable byte in a string");
        if (n + 1 >= cap)
            return bad(c, "string too long");
        out[n++] = (char)*c->p++;
    }
    if (c->p >= c->end)
        return bad(c, "unterminated string");
    c->p++;
    out[n] = '\0';
    return MEMGOV_OK;
}

static memgov_status boolean(cursor *c, int *out)
{
    skip_blanks(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *out = 1;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *out = 0;
    } else {
        return bad(c, "fortran_order is neither True nor False");
    }
    return MEMGOV_OK;
}

/* A non-negative decimal as Python writes it (no sign, no leading zero, an optional 'L' of Python 2's numpy),
 * at most INT64_MAX (numpy's intp). */
static memgov_status extent(cursor *c, uint64_t *out)
{
    skip_blanks(c);
    const unsigned char *first = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (c->p > first && *first == '0')
            return bad(c, "extent with a leading zero");
        unsigned d = (unsigned)(*c->p - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return bad(c, "extent larger than INT64_MAX");
        v = v * 10 + d;
        c->p++;
    }
    if (c->p == first)
        return bad(c, "expected a non-negative integer extent");
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return MEMGOV_OK;
}

/* A Python tuple of extents: "()", "(3,)", "(3, 4)", "(3, 4,)". */
static memgov_status shape(cursor *c, mg_npy_header *h)
{
    if (!take(c, '('))
        return bad(c, "shape is not a tuple");
    h->ndim = 0;
    if (take(c, ')'))
        return MEMGOV_OK;
    for (;;) {
        if (h->ndim == MEMGOV_MMARRAY_MAX_NDIM)
            return bad(c, "more dimensions than MEMGOV_MMARRAY_MAX_NDIM (32)");
        memgov_status s = extent(c, &h->shape[h->ndim]);
        if (s != MEMGOV_OK)
            return s;
        h->ndim++;
        int comma = take(c, ',');
        if (take(c, ')')) {
            if (h->ndim == 1 && !comma)
                return bad(c, "a one-element shape needs its comma, '(n,)'");
            return MEMGOV_OK;
        }
        if (!comma)
            return bad(c, "expected ',' or ')' in shape");
    }
}

/* numpy's descr for each dtype of common.h on a little-endian machine: the type letter and size; one-byte
 * types take '|' (what numpy writes) or '<'. */
static memgov_status descr(const cursor *c, const char *d, memgov_dtype *out)
{
    static const struct {
        const char *code;
        memgov_dtype dtype;
    } codes[] = {
        {"i1", MEMGOV_DTYPE_INT8},    {"i2", MEMGOV_DTYPE_INT16},   {"i4", MEMGOV_DTYPE_INT32},
        {"i8", MEMGOV_DTYPE_INT64},   {"u1", MEMGOV_DTYPE_UINT8},   {"u2", MEMGOV_DTYPE_UINT16},
        {"u4", MEMGOV_DTYPE_UINT32},  {"u8", MEMGOV_DTYPE_UINT64},  {"f2", MEMGOV_DTYPE_FLOAT16},
        {"f4", MEMGOV_DTYPE_FLOAT32}, {"f8", MEMGOV_DTYPE_FLOAT64}, {"b1", MEMGOV_DTYPE_BOOL},
    };
    char order = d[0];
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (order == '\0' || strcmp(d + 1, codes[i].code) != 0)
            continue;
        size_t size = memgov_dtype_size(codes[i].dtype);
        if (order == '<' || (order == '|' && size == 1)) {
            *out = codes[i].dtype;
            return MEMGOV_OK;
        }
        if (order == '>' || order == '|')
            return mg_fail(MEMGOV_EUNSUPPORTED, "'%.200s': .npy dtype '%s' is not little-endian; memgov maps "
                           "little-endian arrays only (numpy: a.astype(a.dtype.newbyteorder('<')))", c->name, d);
        break;
    }
    return mg_fail(MEMGOV_EUNSUPPORTED, "'%.200s': .npy dtype '%s' is not one memgov maps (little-endian int8..int64, "
                   "uint8..uint64, float16, float32, float64, bool)", c->name, d);
}

memgov_status mg_npy_nbytes(memgov_dtype dtype, size_t ndim, const uint64_t *shape, uint64_t *nbytes)
{
    size_t size = memgov_dtype_size(dtype);
    if (size == 0)
        return mg_fail(MEMGOV_EINVAL, "mapped array: unknown dtype %d", (int)dtype);
    if (ndim > MEMGOV_MMARRAY_MAX_NDIM)
        return mg_fail(MEMGOV_EINVAL, "mapped array: %zu dimensions is more than MEMGOV_MMARRAY_MAX_NDIM (%d)", ndim,
                       MEMGOV_MMARRAY_MAX_NDIM);
    /* numpy's rule: the product of the non-zero extents must fit even when an extent of 0 empties the array,
     * so that strides computed from the shape never overflow either */
    uint64_t n = size;
    int empty = 0;
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            empty = 1;
            continue;
        }
        if (__builtin_mul_overflow(n, shape[i], &n) || n > INT64_MAX)
            return mg_fail(MEMGOV_EOVERFLOW, "mapped array: %zu-dimensional %s array of extent %" PRIu64 " in "
                           "dimension %zu has more than INT64_MAX bytes (extents of 0 aside)", ndim,
                           memgov_dtype_name(dtype), shape[i], i);
    }
    *nbytes = empty ? 0 : n;
    return MEMGOV_OK;
}

static memgov_status dict(cursor *c, mg_npy_header *h)
{
    enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };
    unsigned seen = 0;
    char key[16], value[16];
    memgov_status s;
    if (!take(c, '{'))
        return bad(c, "expected '{'");
    while (!take(c, '}')) {
        if ((s = string(c, key, sizeof key)) != MEMGOV_OK)
            return s;
        if (!take(c, ':'))
            return bad(c, "expected ':' after a key");
        unsigned k = strcmp(key, "descr") == 0 ? KEY_DESCR : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
                   : strcmp(key, "shape") == 0 ? KEY_SHAPE : 0;
        if (k == 0)
            return bad(c, "unknown key (the keys are 'descr', 'fortran_order' and 'shape')");
        if (seen & k)
            return bad(c, "key given twice");
        seen |= k;
        if (k == KEY_DESCR) {
            if ((s = string(c, value, sizeof value)) != MEMGOV_OK)
                return s;
            if ((s = descr(c, value, &h->dtype)) != MEMGOV_OK)
                return s;
        } else if (k == KEY_FORTRAN) {
            if ((s = boolean(c, &h->fortran_order)) != MEMGOV_OK)
                return s;
        } else if ((s = shape(c, h)) != MEMGOV_OK) {
            return s;
        }
        if (!take(c, ',')) {
            if (!take(c, '}'))
                return bad(c, "expected ',' or '}' after a value");
            break;
        }
    }
    if (seen != (KEY_DESCR | KEY_FORTRAN | KEY_SHAPE))
        return bad(c, !(seen & KEY_DESCR) ? "no 'descr' key" : !(seen & KEY_FORTRAN) ? "no 'fortran_order' key"
                   : "no 'shape' key");
    skip_blanks(c);
    if (c->p != c->end)
        return bad(c, "something other than blanks after the dict");
    return MEMGOV_OK;
}

memgov_status mg_npy_parse(const unsigned char *buf, size_t len, uint64_t file_size, const char *name,
                           mg_npy_header *out)
{
    uint64_t total;
    memgov_status s = mg_npy_prefix(buf, len, name, &total);
    if (s != MEMGOV_OK)
        return s;
    if (total > len || total > file_size)
        return mg_fail(MEMGOV_EPARSE, "'%.200s': .npy header says it is %" PRIu64 " bytes long but the file has %"
                       PRIu64 " bytes", name, total, file_size < len ? file_size : (uint64_t)len);
    mg_npy_header h = {.dtype = MEMGOV_DTYPE_INVALID};
    size_t prefix = buf[6] == 1 ? 10 : 12;
    cursor c = {.p = buf + prefix, .end = buf + total, .start = buf + prefix, .name = name};
    if ((s = dict(&c, &h)) != MEMGOV_OK)
        return s;
    if (h.fortran_order) {
        size_t longer = 0;
        for (size_t i = 0; i < h.ndim; i++)
            longer += h.shape[i] > 1;
        if (longer > 1)
            return mg_fail(MEMGOV_EUNSUPPORTED, "'%.200s': the .npy array is in Fortran order; memgov maps C order "
                           "only (numpy: np.save(path, np.ascontiguousarray(a)))", name);
    }
    if ((s = mg_npy_nbytes(h.dtype, h.ndim, h.shape, &h.nbytes)) != MEMGOV_OK)
        return s;
    size_t item = memgov_dtype_size(h.dtype);
    if (total % item != 0)
        return mg_fail(MEMGOV_EPARSE, "'%.200s': .npy data offset %" PRIu64 " is not a multiple of the %zu-byte "
                       "element size", name, total, item);
    h.offset = total;
    if (h.nbytes > file_size - total)
        return mg_fail(MEMGOV_EPARSE, "'%.200s': .npy header says %" PRIu64 " data bytes at offset %" PRIu64 " but "
                       "the file has %" PRIu64 " bytes (truncated?)", name, h.nbytes, total, file_size);
    *out = h;
    return MEMGOV_OK;
}

/* ---- the writer -------------------------------------------------------------------------------------------- */

static const char *descr_of(memgov_dtype dtype)
{
    switch (dtype) {
    case MEMGOV_DTYPE_INT8: return "|i1";
    case MEMGOV_DTYPE_INT16: return "<i2";
    case MEMGOV_DTYPE_INT32: return "<i4";
    case MEMGOV_DTYPE_INT64: return "<i8";
    case MEMGOV_DTYPE_UINT8: return "|u1";
    case MEMGOV_DTYPE_UINT16: return "<u2";
    case MEMGOV_DTYPE_UINT32: return "<u4";
    case MEMGOV_DTYPE_UINT64: return "<u8";
    case MEMGOV_DTYPE_FLOAT16: return "<f2";
    case MEMGOV_DTYPE_FLOAT32: return "<f4";
    case MEMGOV_DTYPE_FLOAT64: return "<f8";
    case MEMGOV_DTYPE_BOOL: return "|b1";
    default: return NULL;
    }
}

memgov_status mg_npy_format(memgov_dtype dtype, size_t ndim, const uint64_t *shape, char *buf, size_t cap,
                            size_t *len)
{
    const char *d = descr_of(dtype);
    if (d == NULL || ndim > MEMGOV_MMARRAY_MAX_NDIM || cap < MG_NPY_FORMAT_MAX)
        return mg_fail(MEMGOV_EINTERNAL, "mg_npy_format: unchecked arguments");
    /* numpy's own layout: "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }" */
    size_t n = 10;
    n += (size_t)snprintf(buf + n, cap - n, "{'descr': '%s', 'fortran_order': False, 'shape': (", d);
    for (size_t i = 0; i < ndim; i++)
        n += (size_t)snprintf(buf + n, cap - n, i + 1 < ndim ? "%" PRIu64 ", " : ndim == 1 ? "%" PRIu64 "," : "%"
                              PRIu64, shape[i]);
    n += (size_t)snprintf(buf + n, cap - n, "), }");
    size_t total = (n + 1 + MG_NPY_ALIGN - 1) / MG_NPY_ALIGN * MG_NPY_ALIGN; /* + 1: the closing newline */
    memset(buf + n, ' ', total - 1 - n);
    buf[total - 1] = '\n';
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    *len = total;
    return MEMGOV_OK;
}
