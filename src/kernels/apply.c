/* Downcast apply: conversion between numeric dtypes with the plan's fit rules, SIMD for int64 -> 1/2/4-byte
 * integers and float64 -> float32, a generic element loop (through long double, exact for every dtype) else. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "internal/error.h"
#include "kernels/kernels_internal.h"

memgov_status mg_kcheck_column(const char *what, const void *src, memgov_dtype from, size_t count);

uint16_t mg_double_to_half(double v)
{
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    if (v != v)
        return 0x7e00 | sign;
    if (a >= 65520.0) /* rounds to inf */
        return 0x7c00 | sign;
    if (a < 0x1p-14) { /* subnormal or zero: units of 2^-24, round to nearest even */
        double q = a * 0x1p24;
        double r = nearbyint(q); /* default rounding mode: nearest even */
        return sign | (uint16_t)r;
    }
    int e;
    double m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    double q = nearbyint(m * 2048.0); /* 11 significant bits */
    if (q >= 2048.0) {
        q /= 2;
        e++;
    }
    unsigned exp = (unsigned)(e - 1 + 15);
    if (exp >= 31)
        return 0x7c00 | sign;
    return sign | (uint16_t)(exp << 10) | (uint16_t)((unsigned)q & 0x3ff);
}

static long double load_any(const unsigned char *p, memgov_dtype d, size_t i)
{
    switch (d) {
    case MEMGOV_DTYPE_INT8: return MG_LOAD(int8_t, p, i);
    case MEMGOV_DTYPE_INT16: return MG_LOAD(int16_t, p, i);
    case MEMGOV_DTYPE_INT32: return MG_LOAD(int32_t, p, i);
    case MEMGOV_DTYPE_INT64: return MG_LOAD(int64_t, p, i);
    case MEMGOV_DTYPE_UINT8: return MG_LOAD(uint8_t, p, i);
    case MEMGOV_DTYPE_UINT16: return MG_LOAD(uint16_t, p, i);
    case MEMGOV_DTYPE_UINT32: return MG_LOAD(uint32_t, p, i);
    case MEMGOV_DTYPE_UINT64: return MG_LOAD(uint64_t, p, i);
    case MEMGOV_DTYPE_FLOAT16: return mg_half_to_double(MG_LOAD(uint16_t, p, i));
    case MEMGOV_DTYPE_FLOAT32: return MG_LOAD(float, p, i);
    case MEMGOV_DTYPE_FLOAT64: return MG_LOAD(double, p, i);
    case MEMGOV_DTYPE_BOOL: return MG_LOAD(uint8_t, p, i);
    default: return 0;
    }
}

static bool within(long double v, long double r, const memgov_kernels_downcast_options *o)
{
    long double d = fabsl(r - v);
    return d <= o->abs_tolerance || d <= o->rel_tolerance * fabsl(v);
}

/* Writes v as element i of dtype d if it fits (the plan's rules); false, writing nothing, if it does not.
 * tol: float -> float rounding may use the options' tolerances. */
static bool store_any(unsigned char *p, memgov_dtype d, size_t i, long double v, bool tol,
                      const memgov_kernels_downcast_options *o)
{
    if (mg_dtype_is_float(d)) {
        if (v != v) {
            if (d == MEMGOV_DTYPE_FLOAT64)
                MG_STORE(double, p, i, (double)v);
            else if (d == MEMGOV_DTYPE_FLOAT32)
                MG_STORE(float, p, i, (float)v);
            else
                MG_STORE(uint16_t, p, i, mg_double_to_half((double)v));
            return true;
        }
        long double r;
        uint16_t h = 0;
        if (d == MEMGOV_DTYPE_FLOAT64)
            r = (double)v;
        else if (d == MEMGOV_DTYPE_FLOAT32)
            r = (float)v;
        else
            r = mg_half_to_double(h = mg_double_to_half((double)v));
        if (r != v && (isinf(r) || !tol || !within(v, r, o)))
            return false;
        if (d == MEMGOV_DTYPE_FLOAT64)
            MG_STORE(double, p, i, (double)r);
        else if (d == MEMGOV_DTYPE_FLOAT32)
            MG_STORE(float, p, i, (float)r);
        else
            MG_STORE(uint16_t, p, i, h);
        return true;
    }
    if (!(v == truncl(v)) || isinf(v))
        return false;
    switch (d) {
#define INT(type, lo, hi)                                                                                          \
    if (v < (long double)(lo) || v > (long double)(hi))                                                            \
        return false;                                                                                              \
    MG_STORE(type, p, i, (type)v);                                                                                 \
    return true
    case MEMGOV_DTYPE_INT8: INT(int8_t, INT8_MIN, INT8_MAX);
    case MEMGOV_DTYPE_INT16: INT(int16_t, INT16_MIN, INT16_MAX);
    case MEMGOV_DTYPE_INT32: INT(int32_t, INT32_MIN, INT32_MAX);
    case MEMGOV_DTYPE_INT64: INT(int64_t, INT64_MIN, INT64_MAX);
    case MEMGOV_DTYPE_UINT8: INT(uint8_t, 0, UINT8_MAX);
    case MEMGOV_DTYPE_UINT16: INT(uint16_t, 0, UINT16_MAX);
    case MEMGOV_DTYPE_UINT32: INT(uint32_t, 0, UINT32_MAX);
    case MEMGOV_DTYPE_UINT64: INT(uint64_t, 0, UINT64_MAX);
    case MEMGOV_DTYPE_BOOL: INT(uint8_t, 0, 1);
#undef INT
    default: return false;
    }
}

static memgov_status misfit(const unsigned char *src, memgov_dtype from, size_t i, memgov_dtype to,
                            const memgov_kernels_downcast_options *o, size_t *bad_index)
{
    if (bad_index != NULL)
        *bad_index = i;
    char value[48];
    if (mg_dtype_is_float(from))
        snprintf(value, sizeof value, "%.17g", (double)load_any(src, from, i));
    else if (mg_dtype_is_unsigned(from))
        snprintf(value, sizeof value, "%" PRIu64, (uint64_t)load_any(src, from, i));
    else
        snprintf(value, sizeof value, "%" PRId64, (int64_t)load_any(src, from, i));
    if (mg_dtype_is_float(to))
        return mg_fail(MEMGOV_ERANGE, "downcast: element %zu (%s %s) does not fit %s (it does not round-trip; "
                       "abs_tolerance %g, rel_tolerance %g)", i, memgov_dtype_name(from), value,
                       memgov_dtype_name(to), o->abs_tolerance, o->rel_tolerance);
    long double v = load_any(src, from, i);
    const char *why = v != v ? "NaN has no integer" : isinf(v) ? "infinity has no integer" :
                      v != truncl(v) ? "not integral" : "out of range";
    static const char *const ranges[MEMGOV_DTYPE_COUNT_] = {
        [MEMGOV_DTYPE_INT8] = "[-128, 127]", [MEMGOV_DTYPE_INT16] = "[-32768, 32767]",
        [MEMGOV_DTYPE_INT32] = "[-2147483648, 2147483647]",
        [MEMGOV_DTYPE_INT64] = "[-9223372036854775808, 9223372036854775807]", [MEMGOV_DTYPE_UINT8] = "[0, 255]",
        [MEMGOV_DTYPE_UINT16] = "[0, 65535]", [MEMGOV_DTYPE_UINT32] = "[0, 4294967295]",
        [MEMGOV_DTYPE_UINT64] = "[0, 18446744073709551615]", [MEMGOV_DTYPE_BOOL] = "[0, 1]"};
    return mg_fail(MEMGOV_ERANGE, "downcast: element %zu (%s %s) does not fit %s %s: %s", i, memgov_dtype_name(from),
                   value, memgov_dtype_name(to), ranges[to] ? ranges[to] : "", why);
}

/* Converts elements [0, n) one by one, front to back, or back to front (widening in place). */
static memgov_status convert_generic(const unsigned char *src, memgov_dtype from, size_t n, unsigned char *dst,
                                     memgov_dtype to, const memgov_kernels_downcast_options *o, bool backwards,
                                     size_t *bad_index)
{
    bool tol = mg_dtype_is_float(from);
    for (size_t k = 0; k < n; k++) {
        size_t i = backwards ? n - 1 - k : k;
        if (!store_any(dst, to, i, load_any(src, from, i), tol, o))
            return misfit(src, from, i, to, o, bad_index);
    }
    return MEMGOV_OK;
}

/* Integers (not uint64) to integers, front to back, through int64 without long double. */
static memgov_status convert_ints(const unsigned char *src, memgov_dtype from, size_t n, unsigned char *dst,
                                  memgov_dtype to, const memgov_kernels_downcast_options *o, size_t *bad_index)
{
    int64_t lo, hi;
    switch (to) {
    case MEMGOV_DTYPE_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    case MEMGOV_DTYPE_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
    case MEMGOV_DTYPE_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case MEMGOV_DTYPE_UINT8: lo = 0, hi = UINT8_MAX; break;
    case MEMGOV_DTYPE_UINT16: lo = 0, hi = UINT16_MAX; break;
    case MEMGOV_DTYPE_UINT32: lo = 0, hi = UINT32_MAX; break;
    case MEMGOV_DTYPE_BOOL: lo = 0, hi = 1; break;
    case MEMGOV_DTYPE_UINT64: lo = 0, hi = INT64_MAX; break;
    default: lo = INT64_MIN, hi = INT64_MAX; break;
    }
    size_t ts = memgov_dtype_size(to);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        switch (from) {
        case MEMGOV_DTYPE_INT8: v = MG_LOAD(int8_t, src, i); break;
        case MEMGOV_DTYPE_INT16: v = MG_LOAD(int16_t, src, i); break;
        case MEMGOV_DTYPE_INT32: v = MG_LOAD(int32_t, src, i); break;
        case MEMGOV_DTYPE_UINT16: v = MG_LOAD(uint16_t, src, i); break;
        case MEMGOV_DTYPE_UINT32: v = MG_LOAD(uint32_t, src, i); break;
        case MEMGOV_DTYPE_INT64: v = MG_LOAD(int64_t, src, i); break;
        default: v = MG_LOAD(uint8_t, src, i); break; /* uint8, bool */
        }
        if (v < lo || v > hi)
            return misfit(src, from, i, to, o, bad_index);
        switch (ts) {
        case 1: MG_STORE(uint8_t, dst, i, (uint8_t)v); break;
        case 2: MG_STORE(uint16_t, dst, i, (uint16_t)v); break;
        case 4: MG_STORE(uint32_t, dst, i, (uint32_t)v); break;
        default: MG_STORE(uint64_t, dst, i, (uint64_t)v); break;
        }
    }
    return MEMGOV_OK;
}

memgov_status mg_kconvert(const unsigned char *src, memgov_dtype from, size_t count, unsigned char *dst,
                          memgov_dtype to, const memgov_kernels_downcast_options *opts, size_t *bad_index)
{
    if (count == 0)
        return MEMGOV_OK;
    size_t fs = memgov_dtype_size(from), ts = memgov_dtype_size(to);
    if (from == to) {
        if (dst != src)
            memmove(dst, src, count * fs);
        return MEMGOV_OK;
    }
    const mg_kernels_variant *v = mg_kernels_active();
    if (from == MEMGOV_DTYPE_INT64 && ts < 8 && to != MEMGOV_DTYPE_BOOL && !mg_dtype_is_float(to)) {
        unsigned bits = 8u * (unsigned)ts;
        int64_t lo = mg_dtype_is_unsigned(to) ? 0 : -((int64_t)1 << (bits - 1));
        int64_t hi = mg_dtype_is_unsigned(to) ? ((int64_t)1 << bits) - 1 : ((int64_t)1 << (bits - 1)) - 1;
        size_t done = v->narrow_i64(src, count, dst, (unsigned)ts, lo, hi);
        return done == count ? MEMGOV_OK : misfit(src, from, done, to, opts, bad_index);
    }
    if (from == MEMGOV_DTYPE_FLOAT64 && to == MEMGOV_DTYPE_FLOAT32) {
        bool tol = opts->abs_tolerance > 0 || opts->rel_tolerance > 0;
        size_t i = 0;
        while (i < count) {
            i += v->narrow_f64_f32(src + i * 8, count - i, dst + i * 4);
            if (i == count)
                break;
            if (!tol || !store_any(dst, to, i, MG_LOAD(double, src, i), true, opts))
                return misfit(src, from, i, to, opts, bad_index);
            i++;
        }
        return MEMGOV_OK;
    }
    if (!mg_dtype_is_float(from) && !mg_dtype_is_float(to) && from != MEMGOV_DTYPE_UINT64 && !(ts > fs && dst == src))
        return convert_ints(src, from, count, dst, to, opts, bad_index);
    return convert_generic(src, from, count, dst, to, opts, ts > fs && dst == src, bad_index);
}

/* Widens (or re-types at equal size) elements [0, n) in place, back to front. For the fused call. */
memgov_status mg_kwiden_in_place(unsigned char *buf, memgov_dtype from, size_t n, memgov_dtype to,
                                 const memgov_kernels_downcast_options *opts);
memgov_status mg_kwiden_in_place(unsigned char *buf, memgov_dtype from, size_t n, memgov_dtype to,
                                 const memgov_kernels_downcast_options *opts)
{
    return convert_generic(buf, from, n, buf, to, opts, true, NULL);
}

static bool overlap(const void *a, size_t an, const void *b, size_t bn)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y + bn && y < x + an;
}

MEMGOV_API memgov_status memgov_kernels_apply_downcast(const void *src, memgov_dtype from, size_t count, void *dst,
                                                       memgov_dtype to, const memgov_kernels_downcast_options *opts,
                                                       size_t *bad_index)
{
    static const char what[] = "memgov_kernels_apply_downcast";
    memgov_status st = mg_kcheck_column(what, src, from, count);
    if (st != MEMGOV_OK)
        return st;
    if (!mg_dtype_known(to))
        return mg_fail(MEMGOV_EINVAL, "%s: unknown target dtype %d", what, (int)to);
    if (dst == NULL && count > 0)
        return mg_fail(MEMGOV_EINVAL, "%s: dst is NULL with count %zu", what, count);
    size_t fs = memgov_dtype_size(from), ts = memgov_dtype_size(to);
    if (count > 0 && dst == src && ts > fs)
        return mg_fail(MEMGOV_EINVAL, "%s: in place needs a target no wider than the source (%s is wider than %s)",
                       what, memgov_dtype_name(to), memgov_dtype_name(from));
    if (count > 0 && dst != src && overlap(src, count * fs, dst, count * ts))
        return mg_fail(MEMGOV_EINVAL, "%s: src and dst overlap without being the same buffer", what);
    memgov_kernels_downcast_options o;
    st = mg_kdowncast_opts(&o, opts, what);
    if (st != MEMGOV_OK)
        return st;
    return mg_kconvert(src, from, count, dst, to, &o, bad_index);
}
