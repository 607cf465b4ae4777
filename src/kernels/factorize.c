/* Dictionary encoding (factorize): an open-addressing hash table (linear probing, 8-byte slots holding 24 bits of
 * the hash and code + 1) over a dictionary that grows in first-appearance order; codes are built as int32 (int64
 * beyond 2^31 elements) and narrowed in place at the end. Every block comes from the caller's budget; a refusal
 * frees everything and returns MEMGOV_ENOMEM. */
#include <inttypes.h>
#include <stdlib.h>

#include "internal/error.h"
#include "internal/structsize.h"
#include "kernels/kernels_internal.h"

struct memgov_kernels_dict {
    memgov_budget *budget;
    bool strings;
    size_t count, size, nulls;
    memgov_dtype code_dtype;
    void *codes;
    int64_t *offsets; /* size + 1 (strings) */
    size_t offsets_cap;
    char *bytes;
    size_t bytes_len, bytes_cap;
    int64_t *values; /* size (int64) */
    size_t values_cap;
};

/* The input column. */
typedef enum { SRC_UTF8, SRC_LARGE_UTF8, SRC_PTRS, SRC_INT64 } src_kind;
typedef struct source {
    src_kind kind;
    const int32_t *off32;
    const int64_t *off64;
    const char *data;
    const char *const *ptrs;
    const size_t *lengths;
    const int64_t *values;
    const uint8_t *validity;
    size_t count;
} source;

#define CODE_BITS 40
#define CODE_MASK ((UINT64_C(1) << CODE_BITS) - 1)
#define MAX_COUNT (CODE_MASK - 1)

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= UINT64_C(0xd6e8feb86659fd93);
    x ^= x >> 32;
    x *= UINT64_C(0xd6e8feb86659fd93);
    x ^= x >> 32;
    return x;
}

static inline uint64_t load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t load32(const char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* A 64-bit hash of n bytes: 8-byte words folded by multiply and xor-shift, the tail read as (overlapping) fixed-size
 * loads so that no variable-length copy is needed, then mixed. */
static inline uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = UINT64_C(0x6a09e667f3bcc909) ^ ((uint64_t)n * UINT64_C(0x9e3779b97f4a7c15));
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8) {
            h = (h ^ load64(p + i)) * UINT64_C(0xbf58476d1ce4e5b9);
            h ^= h >> 31;
        }
        h = (h ^ load64(p + n - 8)) * UINT64_C(0x94d049bb133111eb); /* the last 8 bytes, overlapping */
    } else if (n >= 4) {
        h = (h ^ (load32(p) << 32 | load32(p + n - 4))) * UINT64_C(0x94d049bb133111eb);
    } else if (n > 0) {
        uint64_t w = (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[n / 2] << 8 |
                     (unsigned char)p[n - 1];
        h = (h ^ w) * UINT64_C(0x94d049bb133111eb);
    }
    return mix64(h);
}

/* ---- budget-backed buffers --------------------------------------------------------------------------------- */

/* Makes room for `need` elements of `size` bytes in *p (capacity *cap), doubling. On failure *p is unchanged. */
static bool reserve(memgov_budget *b, void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size) {
            mg_fail(MEMGOV_EOVERFLOW, "factorize: a buffer of %zu elements of %zu bytes overflows size_t", need,
                    size);
            return false;
        }
        n *= 2;
    }
    void *q = memgov_realloc(b, *p, n * size);
    if (q == NULL)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static void dict_free_parts(memgov_kernels_dict *d)
{
    memgov_free(d->budget, d->codes);
    memgov_free(d->budget, d->offsets);
    memgov_free(d->budget, d->bytes);
    memgov_free(d->budget, d->values);
}

MEMGOV_API void memgov_kernels_dict_destroy(memgov_kernels_dict *dict)
{
    if (dict == NULL)
        return;
    dict_free_parts(dict);
    memgov_free(dict->budget, dict);
}

/* ---- the table --------------------------------------------------------------------------------------------- */

typedef struct table {
    uint64_t *slots;
    size_t cap; /* power of two */
} table;

static inline void entry(const memgov_kernels_dict *d, size_t code, const char **p, size_t *n)
{
    *p = d->bytes + d->offsets[code];
    *n = (size_t)(d->offsets[code + 1] - d->offsets[code]);
}

static uint64_t hash_code(const memgov_kernels_dict *d, size_t code)
{
    if (!d->strings)
        return mix64((uint64_t)d->values[code]);
    const char *p;
    size_t n;
    entry(d, code, &p, &n);
    return hash_bytes(p, n);
}

static void place(table *t, uint64_t h, size_t code)
{
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    while (t->slots[i] != 0)
        i = (i + 1) & mask;
    t->slots[i] = (h >> CODE_BITS) << CODE_BITS | (uint64_t)(code + 1);
}

/* Doubles the table (rehashing from the dictionary). */
static bool grow_table(memgov_kernels_dict *d, table *t)
{
    if (t->cap > SIZE_MAX / 2 / sizeof(uint64_t)) {
        mg_fail(MEMGOV_EOVERFLOW, "factorize: a hash table of %zu slots overflows size_t", t->cap * 2);
        return false;
    }
    table n = {memgov_calloc(d->budget, t->cap * 2, sizeof(uint64_t)), t->cap * 2};
    if (n.slots == NULL)
        return false;
    for (size_t c = 0; c < d->size; c++)
        place(&n, hash_code(d, c), c);
    memgov_free(d->budget, t->slots);
    *t = n;
    return true;
}

/* The code of the string (p, n) or the int64 v, inserted at the end of the dictionary if new. -1 on failure. */
static inline int64_t lookup(memgov_kernels_dict *d, table *t, const char *p, size_t n, int64_t v, uint64_t h)
{
    if ((d->size + 1) * 2 > t->cap && !grow_table(d, t))
        return -1;
    uint64_t tag = h >> CODE_BITS;
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        uint64_t s = t->slots[i];
        if (s == 0)
            break;
        if (s >> CODE_BITS != tag)
            continue;
        size_t code = (size_t)(s & CODE_MASK) - 1;
        if (d->strings) {
            const char *q;
            size_t m;
            entry(d, code, &q, &m);
            if (m == n && (n == 0 || memcmp(p, q, n) == 0))
                return (int64_t)code;
        } else if (d->values[code] == v) {
            return (int64_t)code;
        }
    }
    size_t code = d->size;
    if (d->strings) {
        if (!reserve(d->budget, (void **)&d->offsets, &d->offsets_cap, code + 2, sizeof(int64_t)) ||
            !reserve(d->budget, (void **)&d->bytes, &d->bytes_cap, d->bytes_len + n, 1))
            return -1;
        if (n > 0)
            memcpy(d->bytes + d->bytes_len, p, n);
        d->bytes_len += n;
        d->offsets[code + 1] = (int64_t)d->bytes_len;
    } else {
        if (!reserve(d->budget, (void **)&d->values, &d->values_cap, code + 1, sizeof(int64_t)))
            return -1;
        d->values[code] = v;
    }
    t->slots[i] = tag << CODE_BITS | (uint64_t)(code + 1);
    d->size++;
    return (int64_t)code;
}

/* ---- sorting ----------------------------------------------------------------------------------------------- */

static int cmp_codes(const void *a, const void *b, void *ctx)
{
    const memgov_kernels_dict *d = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (!d->strings)
        return d->values[x] < d->values[y] ? -1 : d->values[x] > d->values[y];
    const char *p, *q;
    size_t n, m;
    entry(d, x, &p, &n);
    entry(d, y, &q, &m);
    int c = n && m ? memcmp(p, q, n < m ? n : m) : 0;
    return c != 0 ? c : (n < m ? -1 : n > m);
}

/* Reorders the dictionary sorted and renumbers the codes (built as `wide`-byte integers). */
static bool sort_dict(memgov_kernels_dict *d, size_t wide)
{
    size_t k = d->size;
    size_t *perm = memgov_malloc(d->budget, (k ? k : 1) * sizeof(size_t));
    size_t *rank = memgov_malloc(d->budget, (k ? k : 1) * sizeof(size_t));
    bool ok = perm != NULL && rank != NULL;
    if (ok) {
        for (size_t c = 0; c < k; c++)
            perm[c] = c;
        qsort_r(perm, k, sizeof *perm, cmp_codes, d);
        for (size_t r = 0; r < k; r++)
            rank[perm[r]] = r;
        if (d->strings) {
            int64_t *off = memgov_malloc(d->budget, (k + 1) * sizeof(int64_t));
            char *bytes = memgov_malloc(d->budget, d->bytes_len ? d->bytes_len : 1);
            ok = off != NULL && bytes != NULL;
            if (ok) {
                off[0] = 0;
                for (size_t r = 0; r < k; r++) {
                    const char *p;
                    size_t n;
                    entry(d, perm[r], &p, &n);
                    if (n > 0)
                        memcpy(bytes + off[r], p, n);
                    off[r + 1] = off[r] + (int64_t)n;
                }
                memgov_free(d->budget, d->offsets);
                memgov_free(d->budget, d->bytes);
                d->offsets = off;
                d->offsets_cap = k + 1;
                d->bytes = bytes;
                d->bytes_cap = d->bytes_len ? d->bytes_len : 1;
            } else {
                memgov_free(d->budget, off);
                memgov_free(d->budget, bytes);
            }
        } else {
            for (size_t c = 0; c < k; c++)
                rank[c] = (size_t)d->values[c]; /* reuse rank as scratch for the old values */
            for (size_t r = 0; r < k; r++)
                d->values[r] = (int64_t)rank[perm[r]];
            for (size_t r = 0; r < k; r++)
                rank[perm[r]] = r;
        }
    }
    if (ok) {
        for (size_t i = 0; i < d->count; i++) {
            if (wide == 4) {
                int32_t c = MG_LOAD(int32_t, d->codes, i);
                if (c >= 0)
                    MG_STORE(int32_t, d->codes, i, (int32_t)rank[c]);
            } else {
                int64_t c = MG_LOAD(int64_t, d->codes, i);
                if (c >= 0)
                    MG_STORE(int64_t, d->codes, i, (int64_t)rank[c]);
            }
        }
    }
    memgov_free(d->budget, perm);
    memgov_free(d->budget, rank);
    return ok;
}

/* ---- the build --------------------------------------------------------------------------------------------- */

static inline bool is_null(const source *s, size_t i)
{
    if (s->validity != NULL && !((s->validity[i >> 3] >> (i & 7)) & 1))
        return true;
    return s->kind == SRC_PTRS && s->ptrs[i] == NULL;
}

static memgov_status build(memgov_budget *budget, const source *s, const memgov_kernels_factorize_options *opts,
                           memgov_kernels_dict **out, const char *what)
{
    memgov_kernels_factorize_options o = {.struct_size = sizeof o};
    if (opts != NULL) {
        if (opts->struct_size < sizeof o)
            return mg_fail(MEMGOV_EINVAL, "%s: options struct_size %zu is below %zu (call "
                           "memgov_kernels_factorize_options_init)", what, opts->struct_size, sizeof o);
        o.flags = opts->flags;
    }
    if (o.flags & ~MEMGOV_FACTORIZE_SORT)
        return mg_fail(MEMGOV_EINVAL, "%s: unknown flags 0x%x", what, (unsigned)(o.flags & ~MEMGOV_FACTORIZE_SORT));
    size_t wide = s->count <= INT32_MAX ? 4 : 8;
    memgov_kernels_dict *d = memgov_calloc(budget, 1, sizeof *d);
    if (d == NULL)
        return memgov_last_status();
    d->budget = budget;
    d->strings = s->kind != SRC_INT64;
    d->count = s->count;
    table t = {NULL, 0};
    d->codes = memgov_malloc(budget, s->count ? s->count * wide : 1);
    bool ok = d->codes != NULL;
    if (ok && d->strings) {
        ok = reserve(budget, (void **)&d->offsets, &d->offsets_cap, 1, sizeof(int64_t)) &&
             reserve(budget, (void **)&d->bytes, &d->bytes_cap, 1, 1);
        if (ok)
            d->offsets[0] = 0;
    }
    if (ok) {
        t.slots = memgov_calloc(budget, 1024, sizeof(uint64_t));
        t.cap = 1024;
        ok = t.slots != NULL;
    }
    /* In batches: hashes first, with a prefetch of each one's slot, then the lookups (the table and the
     * dictionary outgrow the caches at a million distinct values). */
    enum { BATCH = 16 };
    const char *bp[BATCH];
    size_t bn[BATCH];
    uint64_t bh[BATCH];
    int64_t bv[BATCH];
    for (size_t base = 0; ok && base < s->count; base += BATCH) {
        size_t m = s->count - base < BATCH ? s->count - base : BATCH;
        for (size_t k = 0; k < m; k++) {
            size_t i = base + k;
            bp[k] = NULL;
            bn[k] = 0;
            bv[k] = 0;
            if (is_null(s, i))
                continue;
            switch (s->kind) {
            case SRC_UTF8:
                bn[k] = (size_t)(s->off32[i + 1] - s->off32[i]);
                bp[k] = bn[k] ? s->data + s->off32[i] : "";
                break;
            case SRC_LARGE_UTF8:
                bn[k] = (size_t)(s->off64[i + 1] - s->off64[i]);
                bp[k] = bn[k] ? s->data + s->off64[i] : "";
                break;
            case SRC_PTRS:
                bn[k] = s->lengths[i];
                bp[k] = bn[k] ? s->ptrs[i] : "";
                break;
            case SRC_INT64:
                bp[k] = "";
                bv[k] = MG_LOAD(int64_t, s->values, i);
                break;
            }
            bh[k] = d->strings ? hash_bytes(bp[k], bn[k]) : mix64((uint64_t)bv[k]);
            __builtin_prefetch(&t.slots[bh[k] & (t.cap - 1)]);
        }
        for (size_t k = 0; ok && k < m; k++) {
            int64_t code = -1;
            if (bp[k] == NULL)
                d->nulls++;
            else
                ok = (code = lookup(d, &t, bp[k], bn[k], bv[k], bh[k])) >= 0;
            if (wide == 4)
                MG_STORE(int32_t, d->codes, base + k, (int32_t)code);
            else
                MG_STORE(int64_t, d->codes, base + k, code);
        }
    }
    memgov_free(budget, t.slots);
    if (ok && (o.flags & MEMGOV_FACTORIZE_SORT))
        ok = sort_dict(d, wide);
    if (!ok) {
        memgov_status st = memgov_last_status();
        memgov_kernels_dict_destroy(d);
        return st == MEMGOV_OK ? mg_fail(MEMGOV_ENOMEM, "%s: out of memory", what) : st;
    }
    memgov_dtype code_dtype = d->size <= 128 ? MEMGOV_DTYPE_INT8
                            : d->size <= 32768 ? MEMGOV_DTYPE_INT16
                            : d->size <= (size_t)INT32_MAX + 1 ? MEMGOV_DTYPE_INT32 : MEMGOV_DTYPE_INT64;
    memgov_dtype built = wide == 4 ? MEMGOV_DTYPE_INT32 : MEMGOV_DTYPE_INT64;
    if (code_dtype != built && s->count > 0) {
        memgov_kernels_downcast_options dopts;
        memgov_kernels_downcast_options_init(&dopts);
        if (mg_kconvert(d->codes, built, s->count, d->codes, code_dtype, &dopts, NULL) != MEMGOV_OK) {
            memgov_kernels_dict_destroy(d);
            return mg_fail(MEMGOV_EINTERNAL, "%s: narrowing the codes failed: %s", what, memgov_last_error());
        }
        void *shrunk = memgov_realloc(budget, d->codes, s->count * memgov_dtype_size(code_dtype));
        if (shrunk != NULL) /* a refused shrink keeps the larger block, which is as good */
            d->codes = shrunk;
    }
    d->code_dtype = code_dtype;
    *out = d;
    return MEMGOV_OK;
}

static memgov_status check_common(memgov_budget *budget, size_t count, memgov_kernels_dict **out, const char *what)
{
    if (budget == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: %s is NULL", what, budget == NULL ? "budget" : "out");
    if (count > MAX_COUNT || count > SIZE_MAX / 8 - 1)
        return mg_fail(MEMGOV_EOVERFLOW, "%s: count %zu exceeds the limit of %" PRIu64 " elements", what, count,
                       (uint64_t)MAX_COUNT);
    return MEMGOV_OK;
}

/* Offsets of either width: 0 <= off[0] <= ... <= off[count] <= data_size, before any byte of data is read. */
#define CHECK_OFFSETS(off, fmt)                                                                                    \
    do {                                                                                                           \
        if (count > 0 && (off) == NULL)                                                                            \
            return mg_fail(MEMGOV_EINVAL, "%s: offsets is NULL with count %zu", what, count);                     \
        if (data == NULL && data_size > 0)                                                                         \
            return mg_fail(MEMGOV_EINVAL, "%s: data is NULL with data_size %zu", what, data_size);                \
        if (count == 0)                                                                                            \
            break;                                                                                                 \
        if ((off)[0] < 0)                                                                                          \
            return mg_fail(MEMGOV_EINVAL, "%s: offsets[0] = %" fmt " is negative", what, (off)[0]);               \
        for (size_t i = 0; i < count; i++)                                                                         \
            if ((off)[i + 1] < (off)[i])                                                                           \
                return mg_fail(MEMGOV_EINVAL, "%s: offsets[%zu] = %" fmt " is below offsets[%zu] = %" fmt        \
                               " (offsets must not decrease)", what, i + 1, (off)[i + 1], i, (off)[i]);            \
        if ((uint64_t)(off)[count] > (uint64_t)data_size)                                                          \
            return mg_fail(MEMGOV_EINVAL, "%s: offsets[%zu] = %" fmt " is past the end of data (data_size %zu)",   \
                           what, count, (off)[count], data_size);                                                  \
    } while (0)

MEMGOV_API memgov_status memgov_kernels_factorize_utf8(memgov_budget *budget, const int32_t *offsets,
                                                       const char *data, size_t data_size, size_t count,
                                                       const uint8_t *validity,
                                                       const memgov_kernels_factorize_options *opts,
                                                       memgov_kernels_dict **out)
{
    static const char what[] = "memgov_kernels_factorize_utf8";
    memgov_status st = check_common(budget, count, out, what);
    if (st != MEMGOV_OK)
        return st;
    CHECK_OFFSETS(offsets, PRId32);
    source s = {.kind = SRC_UTF8, .off32 = offsets, .data = data, .validity = validity, .count = count};
    return build(budget, &s, opts, out, what);
}

MEMGOV_API memgov_status memgov_kernels_factorize_large_utf8(memgov_budget *budget, const int64_t *offsets,
                                                             const char *data, size_t data_size, size_t count,
                                                             const uint8_t *validity,
                                                             const memgov_kernels_factorize_options *opts,
                                                             memgov_kernels_dict **out)
{
    static const char what[] = "memgov_kernels_factorize_large_utf8";
    memgov_status st = check_common(budget, count, out, what);
    if (st != MEMGOV_OK)
        return st;
    CHECK_OFFSETS(offsets, PRId64);
    source s = {.kind = SRC_LARGE_UTF8, .off64 = offsets, .data = data, .validity = validity, .count = count};
    return build(budget, &s, opts, out, what);
}

MEMGOV_API memgov_status memgov_kernels_factorize_strings(memgov_budget *budget, const char *const *ptrs,
                                                          const size_t *lengths, size_t count,
                                                          const uint8_t *validity,
                                                          const memgov_kernels_factorize_options *opts,
                                                          memgov_kernels_dict **out)
{
    static const char what[] = "memgov_kernels_factorize_strings";
    memgov_status st = check_common(budget, count, out, what);
    if (st != MEMGOV_OK)
        return st;
    if (count > 0 && (ptrs == NULL || lengths == NULL))
        return mg_fail(MEMGOV_EINVAL, "%s: %s is NULL with count %zu", what, ptrs == NULL ? "ptrs" : "lengths",
                       count);
    source s = {.kind = SRC_PTRS, .ptrs = ptrs, .lengths = lengths, .validity = validity, .count = count};
    return build(budget, &s, opts, out, what);
}

MEMGOV_API memgov_status memgov_kernels_factorize_int64(memgov_budget *budget, const int64_t *values, size_t count,
                                                        const uint8_t *validity,
                                                        const memgov_kernels_factorize_options *opts,
                                                        memgov_kernels_dict **out)
{
    static const char what[] = "memgov_kernels_factorize_int64";
    memgov_status st = check_common(budget, count, out, what);
    if (st != MEMGOV_OK)
        return st;
    if (count > 0 && values == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: values is NULL with count %zu", what, count);
    source s = {.kind = SRC_INT64, .values = values, .validity = validity, .count = count};
    return build(budget, &s, opts, out, what);
}

MEMGOV_API void memgov_kernels_factorize_options_init(memgov_kernels_factorize_options *opts)
{
    mg_struct_init(opts, sizeof *opts);
}

/* ---- accessors --------------------------------------------------------------------------------------------- */

MEMGOV_API size_t memgov_kernels_dict_size(const memgov_kernels_dict *dict)
{
    return dict == NULL ? 0 : dict->size;
}

MEMGOV_API size_t memgov_kernels_dict_null_count(const memgov_kernels_dict *dict)
{
    return dict == NULL ? 0 : dict->nulls;
}

MEMGOV_API const void *memgov_kernels_dict_codes(const memgov_kernels_dict *dict, memgov_dtype *dtype, size_t *count)
{
    if (dtype != NULL)
        *dtype = dict == NULL ? MEMGOV_DTYPE_INVALID : dict->code_dtype;
    if (count != NULL)
        *count = dict == NULL ? 0 : dict->count;
    return dict == NULL ? NULL : dict->codes;
}

MEMGOV_API const char *memgov_kernels_dict_string(const memgov_kernels_dict *dict, size_t i, size_t *length)
{
    if (length != NULL)
        *length = 0;
    if (dict == NULL || !dict->strings || i >= dict->size)
        return NULL;
    const char *p;
    size_t n;
    entry(dict, i, &p, &n);
    if (length != NULL)
        *length = n;
    return p;
}

MEMGOV_API memgov_status memgov_kernels_dict_strings(const memgov_kernels_dict *dict, const int64_t **offsets,
                                                     const char **data)
{
    if (dict == NULL || offsets == NULL || data == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_kernels_dict_strings: a NULL argument");
    if (!dict->strings)
        return mg_fail(MEMGOV_EINVAL, "memgov_kernels_dict_strings: the dictionary holds int64 values, not strings");
    *offsets = dict->offsets;
    *data = dict->bytes;
    return MEMGOV_OK;
}

MEMGOV_API const int64_t *memgov_kernels_dict_int64(const memgov_kernels_dict *dict)
{
    return dict == NULL || dict->strings ? NULL : dict->values;
}
