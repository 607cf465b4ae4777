/* Internal: the kernels' variant table (scalar, AVX2, AVX-512), the scan state of a downcast plan, element loads
 * and stores through memcpy (any alignment, no strict-aliasing assumptions between src and dst in place). */
#ifndef MG_KERNELS_INTERNAL_H
#define MG_KERNELS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "memgov/kernels.h"

/* Float64 scan of one stretch: min/max over non-NaN values (+inf/-inf when there is none), NaN count, whether
 * every value round-trips exactly through float32 (NaN and +-inf do), whether every value is integral, finite and
 * not NaN. Variants fold a stretch into *s (so a column is scanned in pieces). */
typedef struct mg_kscan_f64 {
    double min, max;
    uint64_t nan;
    bool f32_exact;
    bool integral;
} mg_kscan_f64;

/* Statistics of one block of doubles x, shifted by `shift` (the accumulator's first value, so that data far from
 * 0 keep their precision): non-NaN count, NaN count, sum of x, sum of x - shift, min and max of x (+-inf when no
 * value), m2 of x - shift about its own block mean (ssum / n). */
typedef struct mg_kblock {
    uint64_t n, nan;
    double sum, ssum, min, max, m2;
} mg_kblock;

/* The most elements a stats block holds (the caller splits longer stretches). */
#define MG_KBLOCK 1024

/* One variant. Every function handles any n (0 included), any alignment. */
typedef struct mg_kernels_variant {
    const char *name;
    /* min and max of n >= 1 values */
    void (*minmax_i64)(const void *x, size_t n, int64_t *min, int64_t *max);
    /* folds n values into *s (initialised by mg_kscan_f64_init) */
    void (*scan_f64)(const void *x, size_t n, mg_kscan_f64 *s);
    /* converts leading values of x that lie in [lo, hi] to `width` bytes (1, 2 or 4, truncating: the same bits for
     * the signed and unsigned type of that width) at dst; stops at the first value outside (or, in SIMD variants,
     * at the vector holding it, or before a tail shorter than a vector); returns how many were converted. No byte
     * at or past dst + returned * width is written. dst may equal x (in place). */
    size_t (*narrow_i64)(const void *x, size_t n, void *dst, unsigned width, int64_t lo, int64_t hi);
    /* as narrow_i64 for float64 -> float32, for values that round-trip exactly (NaN and +-inf included) */
    size_t (*narrow_f64_f32)(const void *x, size_t n, void *dst);
    /* statistics of n <= MG_KBLOCK values */
    void (*block_f64)(const void *x, size_t n, double shift, mg_kblock *b);
} mg_kernels_variant;

extern const mg_kernels_variant mg_kernels_scalar;
#if defined(MG_KERNELS_X86)
extern const mg_kernels_variant mg_kernels_avx2;
extern const mg_kernels_variant mg_kernels_avx512;
#endif

/* The variant in use (chosen once). */
const mg_kernels_variant *mg_kernels_active(void);

/* For tests: the variant of that name if it is built and the CPU supports it, else NULL. */
const mg_kernels_variant *mg_kernels_variant_named(const char *name);

/* Whether this build has the variant compiled in at all (the CPU may still lack it). */
bool mg_kernels_variant_built(const char *name);

static inline void mg_kscan_f64_init(mg_kscan_f64 *s)
{
    s->min = __builtin_inf();
    s->max = -__builtin_inf();
    s->nan = 0;
    s->f32_exact = true;
    s->integral = true;
}

static inline void mg_kblock_init(mg_kblock *b)
{
    b->n = b->nan = 0;
    b->sum = b->ssum = b->m2 = 0;
    b->min = __builtin_inf();
    b->max = -__builtin_inf();
}

/* The scalar part of a block summary, shared by every variant: folds x[from, n) into b's count, NaN count, sums,
 * min and max (b->n counts non-NaN values), then ... */
static inline void mg_kblock_fold(const void *x, size_t from, size_t n, double shift, mg_kblock *b)
{
    for (size_t i = from; i < n; i++) {
        double v;
        memcpy(&v, (const unsigned char *)x + i * 8, 8);
        if (v != v) {
            b->nan++;
            continue;
        }
        b->n++;
        b->sum += v;
        b->ssum += v - shift;
        b->min = v < b->min ? v : b->min;
        b->max = v > b->max ? v : b->max;
    }
}

/* ... the squared deviations of x[from, n) - shift from `mean` (NaN skipped). */
static inline double mg_kblock_m2(const void *x, size_t from, size_t n, double shift, double mean)
{
    double m2 = 0;
    for (size_t i = from; i < n; i++) {
        double v;
        memcpy(&v, (const unsigned char *)x + i * 8, 8);
        if (v == v)
            m2 += (v - shift - mean) * (v - shift - mean);
    }
    return m2;
}

/* ---- scan state of a downcast plan (mergeable, for the fused call's blocks) -------------------------------- */

typedef struct mg_kstate {
    memgov_dtype from;
    uint64_t count;
    int64_t imin, imax;   /* signed integers and bool */
    uint64_t umin, umax;  /* unsigned integers */
    mg_kscan_f64 f;       /* floats; f.f32_exact is "fits float32 under the options" after mg_kstate_scan */
} mg_kstate;

void mg_kstate_init(mg_kstate *st, memgov_dtype from);

/* Scans n elements of st->from at src (byte pointer) into st under opts. */
void mg_kstate_scan(mg_kstate *st, const unsigned char *src, size_t n, const memgov_kernels_downcast_options *opts);

/* Adds what st has seen to into (st's elements come after into's). */
void mg_kstate_merge(mg_kstate *into, const mg_kstate *st);

/* The narrowest dtype for what st has seen. */
memgov_dtype mg_kstate_target(const mg_kstate *st, const memgov_kernels_downcast_options *opts);

/* Fills the caller's plan (struct_size rule) from st and its target. */
memgov_status mg_kstate_plan_out(const mg_kstate *st, memgov_dtype to, memgov_kernels_downcast_plan *plan);

/* Options in: defaults for NULL, struct_size rule, flags and tolerances checked (messages name `what`). */
memgov_status mg_kdowncast_opts(memgov_kernels_downcast_options *ours, const memgov_kernels_downcast_options *theirs,
                                const char *what);

/* The conversion of memgov_kernels_apply_downcast() without argument checks (the options already in). */
memgov_status mg_kconvert(const unsigned char *src, memgov_dtype from, size_t count, unsigned char *dst,
                          memgov_dtype to, const memgov_kernels_downcast_options *opts, size_t *bad_index);

/* ---- dtype helpers ----------------------------------------------------------------------------------------- */

static inline bool mg_dtype_known(memgov_dtype d)
{
    return d > MEMGOV_DTYPE_INVALID && d < MEMGOV_DTYPE_COUNT_;
}

static inline bool mg_dtype_is_float(memgov_dtype d)
{
    return d == MEMGOV_DTYPE_FLOAT16 || d == MEMGOV_DTYPE_FLOAT32 || d == MEMGOV_DTYPE_FLOAT64;
}

static inline bool mg_dtype_is_unsigned(memgov_dtype d)
{
    return d >= MEMGOV_DTYPE_UINT8 && d <= MEMGOV_DTYPE_UINT64;
}

/* IEEE binary16 bits -> double (exact). */
static inline double mg_half_to_double(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f;
    unsigned mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = __builtin_ldexp((double)mant, -24);
    else if (exp == 31)
        v = mant ? __builtin_nan("") : __builtin_inf();
    else
        v = __builtin_ldexp((double)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

/* double -> IEEE binary16 bits, round to nearest even (NaN stays NaN, overflow gives +-inf). */
uint16_t mg_double_to_half(double v);

#define MG_LOAD(type, p, i) ({ type v_; memcpy(&v_, (const unsigned char *)(p) + (size_t)(i) * sizeof(type), sizeof v_); v_; })
#define MG_STORE(type, p, i, val) do { type v_ = (val); memcpy((unsigned char *)(p) + (size_t)(i) * sizeof(type), &v_, sizeof v_); } while (0)

#endif
