/* The scalar reference variant: the meaning every SIMD variant must reproduce. Plain C, baseline x86-64. */
#include "kernels/kernels_internal.h"

static void minmax_i64(const void *x, size_t n, int64_t *min, int64_t *max)
{
    int64_t lo = MG_LOAD(int64_t, x, 0), hi = lo;
    for (size_t i = 1; i < n; i++) {
        int64_t v = MG_LOAD(int64_t, x, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *min = lo;
    *max = hi;
}

/* Integral, finite and not NaN. Doubles of magnitude >= 2^52 are all integral. */
static inline bool integral(double v)
{
    double a = __builtin_fabs(v);
    if (a < 0x1p52)
        return (double)(int64_t)v == v;
    return a <= __DBL_MAX__; /* false for inf and NaN */
}

static void scan_f64(const void *x, size_t n, mg_kscan_f64 *s)
{
    double lo = s->min, hi = s->max;
    uint64_t nan = s->nan;
    bool exact = s->f32_exact, whole = s->integral;
    for (size_t i = 0; i < n; i++) {
        double v = MG_LOAD(double, x, i);
        if (v != v) {
            nan++;
            whole = false;
            continue;
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        exact = exact && (double)(float)v == v;
        whole = whole && integral(v);
    }
    s->min = lo;
    s->max = hi;
    s->nan = nan;
    s->f32_exact = exact;
    s->integral = whole;
}

static size_t narrow_i64(const void *x, size_t n, void *dst, unsigned width, int64_t lo, int64_t hi)
{
    for (size_t i = 0; i < n; i++) {
        int64_t v = MG_LOAD(int64_t, x, i);
        if (v < lo || v > hi)
            return i;
        switch (width) {
        case 1: MG_STORE(uint8_t, dst, i, (uint8_t)v); break;
        case 2: MG_STORE(uint16_t, dst, i, (uint16_t)v); break;
        default: MG_STORE(uint32_t, dst, i, (uint32_t)v); break;
        }
    }
    return n;
}

static size_t narrow_f64_f32(const void *x, size_t n, void *dst)
{
    for (size_t i = 0; i < n; i++) {
        double v = MG_LOAD(double, x, i);
        float f = (float)v;
        if ((double)f != v && v == v)
            return i;
        MG_STORE(float, dst, i, f);
    }
    return n;
}

static void block_f64(const void *x, size_t n, double shift, mg_kblock *b)
{
    mg_kblock_init(b);
    mg_kblock_fold(x, 0, n, shift, b);
    if (b->n > 0)
        b->m2 = mg_kblock_m2(x, 0, n, shift, b->ssum / (double)b->n);
}

const mg_kernels_variant mg_kernels_scalar = {
    .name = "scalar",
    .minmax_i64 = minmax_i64,
    .scan_f64 = scan_f64,
    .narrow_i64 = narrow_i64,
    .narrow_f64_f32 = narrow_f64_f32,
    .block_f64 = block_f64,
};
