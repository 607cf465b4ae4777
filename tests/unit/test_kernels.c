/* Specification of memgov/kernels.h: the SIMD variants against the scalar reference, every downcast rule and edge
 * value, apply's errors and what it writes, the fused call, a property test on random columns, dictionary
 * encoding (orders, nulls, code widths, offsets checks, refusals without leaks) and the streaming statistics. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal/fault.h"
#include "kernels/kernels_internal.h"
#include "memgov.h"

/* ---- helpers ----------------------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double bits_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* Edge values of the issue plus random ones. */
static const int64_t int_edges[] = {INT64_MIN, INT64_MIN + 1, -129, -128, -127, -1, 0, 1, 127, 128, 255, 256,
                                    32767, 32768, 65535, 65536, INT32_MAX, (int64_t)INT32_MAX + 1, UINT32_MAX,
                                    INT64_MAX};

static double float_edge(unsigned k)
{
    switch (k % 16) {
    case 0: return NAN;
    case 1: return bits_double(0x7ff0000000000001u);  /* signalling NaN with payload 1 */
    case 2: return bits_double(0xfff8000000abcdefu);  /* negative quiet NaN with a payload */
    case 3: return -0.0;
    case 4: return 0x1p-1074;                         /* smallest subnormal */
    case 5: return 1e300;                             /* float32 overflow: not exact */
    case 6: return INFINITY;
    case 7: return -INFINITY;
    case 8: return 0.5;
    case 9: return 0.1;                               /* not exact in float32 */
    case 10: return 16777216.0;
    case 11: return 16777217.0;                       /* integral, not exact in float32 */
    case 12: return -129.0;
    case 13: return 0x1.fffffep127;                   /* FLT_MAX: exact */
    case 14: return 3.4028235677973366e38;            /* just above FLT_MAX: rounds to inf */
    default: return 0x1p-149;                         /* float32's smallest subnormal: exact */
    }
}

static memgov_kernels_downcast_options opts_with(uint32_t flags)
{
    memgov_kernels_downcast_options o;
    memgov_kernels_downcast_options_init(&o);
    o.flags = flags;
    return o;
}

static memgov_kernels_downcast_plan plan_of(const void *src, memgov_dtype from, size_t n, uint32_t flags)
{
    memgov_kernels_downcast_options o = opts_with(flags);
    memgov_kernels_downcast_plan p = {.struct_size = sizeof p};
    assert_int_equal(memgov_kernels_plan_downcast(src, from, n, &o, &p), MEMGOV_OK);
    return p;
}

static memgov_dtype target_i64(const int64_t *v, size_t n, uint32_t flags)
{
    return plan_of(v, MEMGOV_DTYPE_INT64, n, flags).to;
}

static memgov_dtype target_f64(const double *v, size_t n, uint32_t flags)
{
    return plan_of(v, MEMGOV_DTYPE_FLOAT64, n, flags).to;
}

/* ---- variants against the scalar reference ----------------------------------------------------------------- */

static void fill_ints(int64_t *v, size_t n, unsigned mode)
{
    for (size_t i = 0; i < n; i++) {
        switch (mode % 4) {
        case 0: v[i] = (int64_t)rnd(); break;
        case 1: v[i] = (int64_t)(rnd() % 256) - 128; break; /* int8 range */
        case 2: v[i] = (int64_t)(rnd() % 65536); break;     /* uint16 range */
        default: v[i] = int_edges[rnd() % (sizeof int_edges / sizeof *int_edges)]; break;
        }
    }
    if (mode % 3 == 1 && n > 0) /* one value out of the small ranges, somewhere */
        v[rnd() % n] = 40000;
}

static void fill_doubles(double *v, size_t n, unsigned mode)
{
    for (size_t i = 0; i < n; i++) {
        switch (mode % 4) {
        case 0: v[i] = (double)(float)((double)(int64_t)(rnd() >> 11) / 4096.0); break; /* float32-exact */
        case 1: v[i] = (double)((int64_t)(rnd() % 2001) - 1000); break;                /* integral */
        case 2: v[i] = bits_double(rnd()); break;                                       /* any bits */
        default: v[i] = float_edge((unsigned)rnd()); break;
        }
    }
}

static bool same_double(double a, double b)
{
    return a == b || (a != a && b != b);
}

static void check_variant(const char *name)
{
    if (!mg_kernels_variant_built(name)) { /* not x86-64: only the scalar variant is built */
        printf("SKIPPED: the %s kernel variant is not built for this architecture\n", name);
        skip();
    }
    const mg_kernels_variant *v = mg_kernels_variant_named(name), *s = &mg_kernels_scalar;
    if (v == NULL) {
        printf("SKIPPED: the %s kernel variant is built but this CPU lacks %s; it was not run\n", name,
               strcmp(name, "avx512") == 0 ? "avx512f" : "avx2");
        skip();
    }
    enum { MAX = 300 };
    unsigned char ibuf[MAX * 8 + 16], obuf_v[MAX * 8 + 16], obuf_s[MAX * 8 + 16];
    int64_t ints[MAX];
    double dbls[MAX];
    for (unsigned round = 0; round < 400; round++) {
        size_t n = round < 70 ? round : (size_t)(rnd() % MAX);
        size_t off = round % 8; /* unaligned sources and destinations */
        fill_ints(ints, n, round);
        memcpy(ibuf + off, ints, n * 8);
        if (n > 0) {
            int64_t a, b, c, d;
            v->minmax_i64(ibuf + off, n, &a, &b);
            s->minmax_i64(ibuf + off, n, &c, &d);
            assert_true(a == c && b == d);
        }
        static const struct { unsigned width; int64_t lo, hi; } bounds[] = {
            {1, INT8_MIN, INT8_MAX}, {1, 0, UINT8_MAX}, {2, INT16_MIN, INT16_MAX}, {2, 0, UINT16_MAX},
            {4, INT32_MIN, INT32_MAX}, {4, 0, UINT32_MAX}};
        for (size_t k = 0; k < sizeof bounds / sizeof *bounds; k++) {
            memset(obuf_v, 0xa5, sizeof obuf_v);
            memset(obuf_s, 0xa5, sizeof obuf_s);
            size_t rv = v->narrow_i64(ibuf + off, n, obuf_v + off, bounds[k].width, bounds[k].lo, bounds[k].hi);
            size_t rs = s->narrow_i64(ibuf + off, n, obuf_s + off, bounds[k].width, bounds[k].lo, bounds[k].hi);
            assert_int_equal(rv, rs);
            assert_memory_equal(obuf_v, obuf_s, sizeof obuf_v);
            for (size_t i = off + rs * bounds[k].width; i < sizeof obuf_v; i++) /* nothing written past the stop */
                assert_int_equal(obuf_v[i], 0xa5);
        }
        /* in place: the same bytes as out of place */
        if (n > 0) {
            unsigned char inplace[MAX * 8 + 16];
            memcpy(inplace, ibuf, sizeof inplace);
            size_t r = v->narrow_i64(inplace + off, n, inplace + off, 1, INT8_MIN, INT8_MAX);
            memset(obuf_s, 0xa5, sizeof obuf_s);
            assert_int_equal(r, s->narrow_i64(ibuf + off, n, obuf_s + off, 1, INT8_MIN, INT8_MAX));
            assert_memory_equal(inplace + off, obuf_s + off, r);
        }

        fill_doubles(dbls, n, round);
        memcpy(ibuf + off, dbls, n * 8);
        mg_kscan_f64 sv, ss;
        mg_kscan_f64_init(&sv);
        mg_kscan_f64_init(&ss);
        v->scan_f64(ibuf + off, n, &sv);
        s->scan_f64(ibuf + off, n, &ss);
        assert_true(sv.min == ss.min && sv.max == ss.max);
        assert_int_equal(sv.nan, ss.nan);
        assert_int_equal(sv.f32_exact, ss.f32_exact);
        assert_int_equal(sv.integral, ss.integral);
        memset(obuf_v, 0xa5, sizeof obuf_v);
        memset(obuf_s, 0xa5, sizeof obuf_s);
        size_t fv = v->narrow_f64_f32(ibuf + off, n, obuf_v + off);
        size_t fs = s->narrow_f64_f32(ibuf + off, n, obuf_s + off);
        assert_int_equal(fv, fs);
        assert_memory_equal(obuf_v, obuf_s, sizeof obuf_v); /* NaN payloads: bit for bit */
        if (n <= MG_KBLOCK) {
            mg_kblock bv, bs;
            double shift = n > 0 && isfinite(dbls[0]) ? dbls[0] : 0;
            v->block_f64(ibuf + off, n, shift, &bv);
            s->block_f64(ibuf + off, n, shift, &bs);
            assert_int_equal(bv.n, bs.n);
            assert_int_equal(bv.nan, bs.nan);
            assert_true(same_double(bv.min, bs.min) && same_double(bv.max, bs.max));
            if (round % 4 != 2) { /* any bits: sums of values up to 1e308 depend on the order */
                double scale = 0;
                for (size_t i = 0; i < n; i++)
                    if (isfinite(dbls[i]))
                        scale += fabs(dbls[i]) + fabs(shift);
                if (isfinite(bs.sum)) {
                    assert_true(fabs(bv.sum - bs.sum) <= 1e-13 * scale + 1e-300);
                    assert_true(fabs(bv.ssum - bs.ssum) <= 1e-13 * scale + 1e-300);
                } else {
                    assert_true(same_double(bv.sum, bs.sum));
                }
                if (isfinite(bs.m2))
                    assert_true(fabs(bv.m2 - bs.m2) <= 1e-12 * fabs(bs.m2) + 1e-300);
                else
                    assert_true(same_double(bv.m2, bs.m2));
            }
        }
    }
}

static void avx2_variant_matches_the_scalar_reference(void **state)
{
    (void)state;
    check_variant("avx2");
}

static void avx512_variant_matches_the_scalar_reference(void **state)
{
    (void)state;
    check_variant("avx512");
}

static void the_active_variant_is_the_best_the_cpu_has(void **state)
{
    (void)state;
    const char *isa = memgov_kernels_isa();
    const char *cap = getenv("MEMGOV_KERNELS_ISA");
    if (cap == NULL) {
        const char *best = mg_kernels_variant_named("avx512") ? "avx512"
                         : mg_kernels_variant_named("avx2") ? "avx2" : "scalar";
        assert_string_equal(isa, best);
    }
    assert_non_null(mg_kernels_variant_named("scalar"));
    assert_null(mg_kernels_variant_named("sse9"));
    printf("kernels: active variant %s\n", isa);
}

/* ---- plan rules -------------------------------------------------------------------------------------------- */

static void integer_columns_get_the_narrowest_signed_type(void **state)
{
    (void)state;
    static const struct { int64_t lo, hi; memgov_dtype signed_to, unsigned_to; } cases[] = {
        {-128, 127, MEMGOV_DTYPE_INT8, MEMGOV_DTYPE_INT8},
        {0, 127, MEMGOV_DTYPE_INT8, MEMGOV_DTYPE_INT8}, /* a tie of widths keeps the signed type */
        {0, 128, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_UINT8},
        {-129, 0, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_INT16},
        {-1, 128, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_INT16}, /* negative: never unsigned */
        {0, 255, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_UINT8},
        {0, 256, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_INT16},
        {-32768, 32767, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_INT16},
        {0, 65535, MEMGOV_DTYPE_INT32, MEMGOV_DTYPE_UINT16},
        {0, 65536, MEMGOV_DTYPE_INT32, MEMGOV_DTYPE_INT32},
        {INT32_MIN, INT32_MAX, MEMGOV_DTYPE_INT32, MEMGOV_DTYPE_INT32},
        {0, UINT32_MAX, MEMGOV_DTYPE_INT64, MEMGOV_DTYPE_UINT32},
        {INT64_MIN, 0, MEMGOV_DTYPE_INT64, MEMGOV_DTYPE_INT64},
        {0, INT64_MAX, MEMGOV_DTYPE_INT64, MEMGOV_DTYPE_INT64},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int64_t v[5] = {cases[k].hi, 0, cases[k].lo, cases[k].lo, cases[k].hi};
        if (cases[k].lo > 0 || cases[k].hi < 0)
            v[1] = cases[k].lo;
        assert_int_equal(target_i64(v, 5, 0), cases[k].signed_to);
        assert_int_equal(target_i64(v, 5, MEMGOV_DOWNCAST_UNSIGNED), cases[k].unsigned_to);
        memgov_kernels_downcast_plan p = plan_of(v, MEMGOV_DTYPE_INT64, 5, 0);
        assert_int_equal(p.int_min, cases[k].lo);
        assert_int_equal(p.int_max, cases[k].hi);
        assert_int_equal(p.bytes_from, 40);
        assert_int_equal(p.bytes_to, 5 * memgov_dtype_size(p.to));
        assert_int_equal(p.bytes_saved, p.bytes_from - p.bytes_to);
        assert_int_equal(p.nan_count, 0);
    }
}

static void narrower_sources_and_unsigned_sources_follow_the_same_rule(void **state)
{
    (void)state;
    int32_t i32[] = {-5, 100};
    assert_int_equal(plan_of(i32, MEMGOV_DTYPE_INT32, 2, 0).to, MEMGOV_DTYPE_INT8);
    uint32_t u32[] = {0, 4000000000u};
    /* no signed type up to 4 bytes holds it and unsigned is not allowed: never wider than the source */
    assert_int_equal(plan_of(u32, MEMGOV_DTYPE_UINT32, 2, 0).to, MEMGOV_DTYPE_UINT32);
    uint64_t u64[] = {1, (uint64_t)INT64_MAX + 1};
    memgov_kernels_downcast_plan p = plan_of(u64, MEMGOV_DTYPE_UINT64, 2, 0);
    assert_int_equal(p.to, MEMGOV_DTYPE_UINT64);
    assert_true(p.uint_max == (uint64_t)INT64_MAX + 1 && p.uint_min == 1);
    uint64_t small[] = {3, 200};
    assert_int_equal(plan_of(small, MEMGOV_DTYPE_UINT64, 2, 0).to, MEMGOV_DTYPE_INT16);
    assert_int_equal(plan_of(small, MEMGOV_DTYPE_UINT64, 2, MEMGOV_DOWNCAST_UNSIGNED).to, MEMGOV_DTYPE_UINT8);
    uint8_t b[] = {0, 1, 1};
    assert_int_equal(plan_of(b, MEMGOV_DTYPE_BOOL, 3, MEMGOV_DOWNCAST_UNSIGNED).to, MEMGOV_DTYPE_BOOL);
    int8_t i8[] = {-128};
    assert_int_equal(plan_of(i8, MEMGOV_DTYPE_INT8, 1, 0).to, MEMGOV_DTYPE_INT8);
}

static void empty_and_single_element_columns(void **state)
{
    (void)state;
    memgov_kernels_downcast_plan p = plan_of(NULL, MEMGOV_DTYPE_INT64, 0, 0);
    assert_int_equal(p.to, MEMGOV_DTYPE_INT8);
    assert_int_equal(p.count, 0);
    assert_true(isnan(p.min) && isnan(p.max));
    assert_int_equal(plan_of(NULL, MEMGOV_DTYPE_FLOAT64, 0, MEMGOV_DOWNCAST_FLOAT_TO_INT).to, MEMGOV_DTYPE_FLOAT32);
    assert_int_equal(plan_of(NULL, MEMGOV_DTYPE_FLOAT32, 0, 0).to, MEMGOV_DTYPE_FLOAT32);
    int64_t one = INT64_MIN;
    assert_int_equal(target_i64(&one, 1, 0), MEMGOV_DTYPE_INT64);
    one = -129;
    assert_int_equal(target_i64(&one, 1, 0), MEMGOV_DTYPE_INT16);
    double d = NAN;
    p = plan_of(&d, MEMGOV_DTYPE_FLOAT64, 1, MEMGOV_DOWNCAST_FLOAT_TO_INT);
    assert_int_equal(p.to, MEMGOV_DTYPE_FLOAT32);
    assert_int_equal(p.nan_count, 1);
    assert_true(isnan(p.min));
}

static void float64_becomes_float32_only_when_every_value_round_trips(void **state)
{
    (void)state;
    double ok[] = {0.5, -0.0, INFINITY, -INFINITY, NAN, 0x1p-149, 0x1.fffffep127, 16777216.0};
    memgov_kernels_downcast_plan p = plan_of(ok, MEMGOV_DTYPE_FLOAT64, 8, 0);
    assert_int_equal(p.to, MEMGOV_DTYPE_FLOAT32);
    assert_int_equal(p.nan_count, 1);
    assert_true(p.min == -INFINITY && p.max == INFINITY);
    assert_int_equal(plan_of(ok, MEMGOV_DTYPE_FLOAT64, 8, MEMGOV_DOWNCAST_KEEP_FLOAT64).to, MEMGOV_DTYPE_FLOAT64);
    static const double bad[] = {0.1, 0x1p-1074, 1e300, 3.4028235677973366e38, 16777217.0, -1e-40};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        double v[3] = {1.0, bad[k], 2.0};
        assert_int_equal(target_f64(v, 3, 0), MEMGOV_DTYPE_FLOAT64);
    }
}

static void tolerances_admit_roundings_but_never_overflow(void **state)
{
    (void)state;
    memgov_kernels_downcast_options o = opts_with(0);
    memgov_kernels_downcast_plan p = {.struct_size = sizeof p};
    double v[] = {0.1, 1.0 / 3.0, 0x1p-1074};
    o.rel_tolerance = 1e-7;
    assert_int_equal(memgov_kernels_plan_downcast(v, MEMGOV_DTYPE_FLOAT64, 2, &o, &p), MEMGOV_OK);
    assert_int_equal(p.to, MEMGOV_DTYPE_FLOAT32);
    /* the subnormal rounds to 0: relative error 1, absolute 2^-1074 */
    assert_int_equal(memgov_kernels_plan_downcast(v, MEMGOV_DTYPE_FLOAT64, 3, &o, &p), MEMGOV_OK);
    assert_int_equal(p.to, MEMGOV_DTYPE_FLOAT64);
    o.abs_tolerance = 1e-300;
    assert_int_equal(memgov_kernels_plan_downcast(v, MEMGOV_DTYPE_FLOAT64, 3, &o, &p), MEMGOV_OK);
    assert_int_equal(p.to, MEMGOV_DTYPE_FLOAT32);
    o.rel_tolerance = 1e-8; /* tighter than float32's precision: 0.1 does not pass */
    o.abs_tolerance = 0;
    assert_int_equal(memgov_kernels_plan_downcast(v, MEMGOV_DTYPE_FLOAT64, 1, &o, &p), MEMGOV_OK);
    assert_int_equal(p.to, MEMGOV_DTYPE_FLOAT64);
    double big[] = {1e300};
    o.rel_tolerance = 1e300;
    o.abs_tolerance = INFINITY;
    assert_int_equal(memgov_kernels_plan_downcast(big, MEMGOV_DTYPE_FLOAT64, 1, &o, &p), MEMGOV_OK);
    assert_int_equal(p.to, MEMGOV_DTYPE_FLOAT64);
    o.rel_tolerance = -1;
    assert_int_equal(memgov_kernels_plan_downcast(v, MEMGOV_DTYPE_FLOAT64, 1, &o, &p), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "rel_tolerance -1"));
    o.rel_tolerance = NAN;
    assert_int_equal(memgov_kernels_plan_downcast(v, MEMGOV_DTYPE_FLOAT64, 1, &o, &p), MEMGOV_EINVAL);
}

static void floats_become_integers_only_when_asked_and_integral(void **state)
{
    (void)state;
    const uint32_t f2i = MEMGOV_DOWNCAST_FLOAT_TO_INT;
    double a[] = {1.0, -3.0, 127.0, -0.0};
    assert_int_equal(target_f64(a, 4, 0), MEMGOV_DTYPE_FLOAT32);
    assert_int_equal(target_f64(a, 4, f2i), MEMGOV_DTYPE_INT8);
    double b[] = {0.0, 200.0};
    assert_int_equal(target_f64(b, 2, f2i), MEMGOV_DTYPE_INT16);
    assert_int_equal(target_f64(b, 2, f2i | MEMGOV_DOWNCAST_UNSIGNED), MEMGOV_DTYPE_UINT8);
    double c[] = {1.0, NAN};
    assert_int_equal(target_f64(c, 2, f2i), MEMGOV_DTYPE_FLOAT32);
    double d[] = {1.0, INFINITY};
    assert_int_equal(target_f64(d, 2, f2i), MEMGOV_DTYPE_FLOAT32);
    double e[] = {1.0, 2.5};
    assert_int_equal(target_f64(e, 2, f2i), MEMGOV_DTYPE_FLOAT32);
    double f[] = {100000.0}; /* int32 ties float32: the float stays */
    assert_int_equal(target_f64(f, 1, f2i), MEMGOV_DTYPE_FLOAT32);
    double g[] = {16777217.0}; /* not float32-exact, integral: int32 beats float64 */
    assert_int_equal(target_f64(g, 1, f2i), MEMGOV_DTYPE_INT32);
    double h[] = {0x1p62, -0x1p63}; /* int64 ties float64 */
    assert_int_equal(target_f64(h, 2, f2i), MEMGOV_DTYPE_FLOAT32);
    double i[] = {0x1p62 + 1024.0};
    assert_int_equal(target_f64(i, 1, f2i), MEMGOV_DTYPE_FLOAT64);
    float f32[] = {1.0f, 2.0f, 300.0f};
    assert_int_equal(plan_of(f32, MEMGOV_DTYPE_FLOAT32, 3, 0).to, MEMGOV_DTYPE_FLOAT32);
    assert_int_equal(plan_of(f32, MEMGOV_DTYPE_FLOAT32, 3, f2i).to, MEMGOV_DTYPE_INT16);
    uint16_t half[] = {0x3c00, 0xc000, 0x5640}; /* 1, -2, 100 */
    memgov_kernels_downcast_plan p = plan_of(half, MEMGOV_DTYPE_FLOAT16, 3, f2i);
    assert_int_equal(p.to, MEMGOV_DTYPE_INT8);
    assert_true(p.min == -2.0 && p.max == 100.0);
    assert_int_equal(plan_of(half, MEMGOV_DTYPE_FLOAT16, 3, 0).to, MEMGOV_DTYPE_FLOAT16);
}

static void plan_rejects_bad_arguments(void **state)
{
    (void)state;
    memgov_kernels_downcast_plan p = {.struct_size = sizeof p};
    int64_t v = 1;
    assert_int_equal(memgov_kernels_plan_downcast(NULL, MEMGOV_DTYPE_INT64, 1, NULL, &p), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_plan_downcast(&v, MEMGOV_DTYPE_INT64, 1, NULL, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_plan_downcast(&v, MEMGOV_DTYPE_INVALID, 1, NULL, &p), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_plan_downcast(&v, (memgov_dtype)99, 1, NULL, &p), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_plan_downcast(&v, MEMGOV_DTYPE_INT64, SIZE_MAX / 4, NULL, &p),
                     MEMGOV_EOVERFLOW);
    memgov_kernels_downcast_options o = opts_with(0x80);
    assert_int_equal(memgov_kernels_plan_downcast(&v, MEMGOV_DTYPE_INT64, 1, &o, &p), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "0x80"));
    o = opts_with(0);
    o.struct_size = 2;
    assert_int_equal(memgov_kernels_plan_downcast(&v, MEMGOV_DTYPE_INT64, 1, &o, &p), MEMGOV_EINVAL);
    p.struct_size = 0;
    assert_int_equal(memgov_kernels_plan_downcast(&v, MEMGOV_DTYPE_INT64, 1, NULL, &p), MEMGOV_EINVAL);
}

/* ---- apply ------------------------------------------------------------------------------------------------- */

static void apply_converts_and_names_the_first_value_that_does_not_fit(void **state)
{
    (void)state;
    enum { N = 100 };
    int64_t src[N];
    for (int i = 0; i < N; i++)
        src[i] = i - 50;
    src[77] = 128;
    int8_t dst[N + 8];
    memset(dst, 0x5a, sizeof dst);
    size_t bad = 0;
    assert_int_equal(memgov_kernels_apply_downcast(src, MEMGOV_DTYPE_INT64, N, dst, MEMGOV_DTYPE_INT8, NULL, &bad),
                     MEMGOV_ERANGE);
    assert_int_equal(bad, 77);
    assert_non_null(strstr(memgov_last_error(), "element 77"));
    assert_non_null(strstr(memgov_last_error(), "128"));
    assert_non_null(strstr(memgov_last_error(), "int8"));
    for (int i = 0; i < 77; i++)
        assert_int_equal(dst[i], i - 50);
    for (int i = 77; i < N + 8; i++)
        assert_int_equal((unsigned char)dst[i], 0x5a);
    src[77] = 27;
    assert_int_equal(memgov_kernels_apply_downcast(src, MEMGOV_DTYPE_INT64, N, dst, MEMGOV_DTYPE_INT8, NULL, &bad),
                     MEMGOV_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(dst[i], src[i]);
    assert_int_equal((unsigned char)dst[N], 0x5a);

    double f[] = {1.0, 2.0, 0.1, 4.0};
    float out[4] = {-1, -1, -1, -1};
    assert_int_equal(memgov_kernels_apply_downcast(f, MEMGOV_DTYPE_FLOAT64, 4, out, MEMGOV_DTYPE_FLOAT32, NULL, &bad),
                     MEMGOV_ERANGE);
    assert_int_equal(bad, 2);
    assert_non_null(strstr(memgov_last_error(), "0.10000000000000001"));
    assert_true(out[0] == 1.0f && out[1] == 2.0f && out[2] == -1.0f && out[3] == -1.0f);
    memgov_kernels_downcast_options o = opts_with(0);
    o.rel_tolerance = 1e-6;
    assert_int_equal(memgov_kernels_apply_downcast(f, MEMGOV_DTYPE_FLOAT64, 4, out, MEMGOV_DTYPE_FLOAT32, &o, &bad),
                     MEMGOV_OK);
    assert_true(out[2] == 0.1f && out[3] == 4.0f);
    double half_[] = {3.0, 2.5};
    int16_t i16[2];
    assert_int_equal(memgov_kernels_apply_downcast(half_, MEMGOV_DTYPE_FLOAT64, 2, i16, MEMGOV_DTYPE_INT16, NULL,
                                                   &bad), MEMGOV_ERANGE);
    assert_int_equal(bad, 1);
    double nan1[] = {NAN};
    assert_int_equal(memgov_kernels_apply_downcast(nan1, MEMGOV_DTYPE_FLOAT64, 1, i16, MEMGOV_DTYPE_INT16, NULL,
                                                   NULL), MEMGOV_ERANGE);
    uint64_t u[] = {UINT64_MAX};
    int64_t i64[1];
    assert_int_equal(memgov_kernels_apply_downcast(u, MEMGOV_DTYPE_UINT64, 1, i64, MEMGOV_DTYPE_INT64, NULL, &bad),
                     MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "18446744073709551615"));
    double ovf[] = {1e300};
    assert_int_equal(memgov_kernels_apply_downcast(ovf, MEMGOV_DTYPE_FLOAT64, 1, out, MEMGOV_DTYPE_FLOAT32, &o, &bad),
                     MEMGOV_ERANGE);
}

static void apply_keeps_nan_infinities_and_negative_zero(void **state)
{
    (void)state;
    double v[9] = {NAN, INFINITY, -INFINITY, -0.0, 0x1p-149, 1, 2, 3, bits_double(0x7ff8000020000000u)};
    float f[9];
    assert_int_equal(memgov_kernels_apply_downcast(v, MEMGOV_DTYPE_FLOAT64, 9, f, MEMGOV_DTYPE_FLOAT32, NULL, NULL),
                     MEMGOV_OK);
    assert_true(isnan(f[0]) && f[1] == INFINITY && f[2] == -INFINITY && f[3] == 0 && signbit(f[3]));
    assert_true(f[4] == 0x1p-149f && isnan(f[8]));
    uint32_t payload;
    memcpy(&payload, &f[8], 4);
    assert_int_equal(payload, 0x7fc00001u); /* the payload's high bits survive, as in numpy */
    double back[9];
    assert_int_equal(memgov_kernels_apply_downcast(f, MEMGOV_DTYPE_FLOAT32, 9, back, MEMGOV_DTYPE_FLOAT64, NULL, NULL),
                     MEMGOV_OK);
    for (int i = 0; i < 8; i++)
        assert_true(same_double(back[i], v[i]) && signbit(back[i]) == signbit(v[i]));
    double z[] = {-0.0};
    int8_t i8 = 5;
    assert_int_equal(memgov_kernels_apply_downcast(z, MEMGOV_DTYPE_FLOAT64, 1, &i8, MEMGOV_DTYPE_INT8, NULL, NULL),
                     MEMGOV_OK);
    assert_int_equal(i8, 0);
}

static void apply_in_place_narrows_front_to_back(void **state)
{
    (void)state;
    enum { N = 1003 };
    int64_t *buf = malloc(N * 8 + 1);
    unsigned char *raw = (unsigned char *)buf + 1; /* unaligned */
    for (int i = 0; i < N; i++)
        MG_STORE(int64_t, raw, i, (int64_t)(i % 60000) - 30000);
    assert_int_equal(memgov_kernels_apply_downcast(raw, MEMGOV_DTYPE_INT64, N, raw, MEMGOV_DTYPE_INT16, NULL, NULL),
                     MEMGOV_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(MG_LOAD(int16_t, raw, i), (i % 60000) - 30000);
    /* a failure in place: the converted prefix, the source intact from the bad element's own bytes on */
    for (int i = 0; i < N; i++)
        MG_STORE(int64_t, raw, i, i);
    MG_STORE(int64_t, raw, 500, 1000);
    size_t bad;
    assert_int_equal(memgov_kernels_apply_downcast(raw, MEMGOV_DTYPE_INT64, N, raw, MEMGOV_DTYPE_UINT8, NULL, &bad),
                     MEMGOV_ERANGE);
    assert_int_equal(bad, 256);
    for (int i = 0; i < 256; i++)
        assert_int_equal(MG_LOAD(uint8_t, raw, i), i);
    for (int i = 256; i < N; i++)
        assert_int_equal(MG_LOAD(int64_t, raw, i), i == 500 ? 1000 : i);
    free(buf);

    double d[7] = {1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(memgov_kernels_apply_downcast(d, MEMGOV_DTYPE_FLOAT64, 7, d, MEMGOV_DTYPE_FLOAT32, NULL, NULL),
                     MEMGOV_OK);
    for (int i = 0; i < 7; i++)
        assert_true(MG_LOAD(float, d, i) == (float)(i + 1));
    int32_t w[4] = {1, 2, 3, 4};
    assert_int_equal(memgov_kernels_apply_downcast(w, MEMGOV_DTYPE_INT32, 2, w, MEMGOV_DTYPE_INT64, NULL, NULL),
                     MEMGOV_EINVAL); /* widening in place */
    assert_int_equal(memgov_kernels_apply_downcast(w, MEMGOV_DTYPE_INT32, 2, w + 1, MEMGOV_DTYPE_INT32, NULL, NULL),
                     MEMGOV_EINVAL); /* partial overlap */
    assert_non_null(strstr(memgov_last_error(), "overlap"));
    assert_int_equal(memgov_kernels_apply_downcast(w, MEMGOV_DTYPE_INT32, 2, NULL, MEMGOV_DTYPE_INT8, NULL, NULL),
                     MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_apply_downcast(w, MEMGOV_DTYPE_INT32, 2, w, MEMGOV_DTYPE_COUNT_, NULL, NULL),
                     MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_apply_downcast(NULL, MEMGOV_DTYPE_INT32, 0, NULL, MEMGOV_DTYPE_INT8, NULL, NULL),
                     MEMGOV_OK);
    assert_int_equal(memgov_kernels_apply_downcast(w, MEMGOV_DTYPE_INT8, SIZE_MAX / 2, w, MEMGOV_DTYPE_INT8, NULL,
                                                   NULL), MEMGOV_EOVERFLOW);
}

/* ---- fused ------------------------------------------------------------------------------------------------- */

/* The fused call against plan + apply, out of place and in place. */
static void check_fused(const void *src, memgov_dtype from, size_t n, uint32_t flags)
{
    size_t fs = memgov_dtype_size(from);
    memgov_kernels_downcast_options o = opts_with(flags);
    memgov_kernels_downcast_plan want = plan_of(src, from, n, flags);
    unsigned char *ref = malloc(n * fs + 1), *out = malloc(n * fs + 1), *inplace = malloc(n * fs + 1);
    assert_int_equal(memgov_kernels_apply_downcast(src, from, n, ref, want.to, &o, NULL), MEMGOV_OK);
    memgov_kernels_downcast_plan got = {.struct_size = sizeof got};
    assert_int_equal(memgov_kernels_downcast(src, from, n, out, &o, &got), MEMGOV_OK);
    assert_int_equal(got.to, want.to);
    assert_int_equal(got.count, n);
    assert_int_equal(got.nan_count, want.nan_count);
    assert_memory_equal(out, ref, n * memgov_dtype_size(want.to));
    memcpy(inplace, src, n * fs);
    assert_int_equal(memgov_kernels_downcast(inplace, from, n, inplace, &o, &got), MEMGOV_OK);
    assert_int_equal(got.to, want.to);
    assert_memory_equal(inplace, ref, n * memgov_dtype_size(want.to));
    free(ref);
    free(out);
    free(inplace);
}

static void fused_widens_when_a_late_block_needs_more(void **state)
{
    (void)state;
    enum { N = 300000 }; /* several 64 Ki blocks */
    int64_t *v = malloc(N * 8);
    for (int i = 0; i < N; i++)
        v[i] = (i % 200) - 100;
    check_fused(v, MEMGOV_DTYPE_INT64, N, 0); /* int8 all along */
    v[70000] = 1000;                          /* int16 from block 1 */
    v[200000] = -40000;                       /* int32 from block 3 */
    check_fused(v, MEMGOV_DTYPE_INT64, N, 0);
    v[290000] = INT64_MIN; /* stays int64 in the last block */
    check_fused(v, MEMGOV_DTYPE_INT64, N, 0);
    for (int i = 0; i < N; i++)
        v[i] = i % 250;
    v[150000] = 65535; /* uint8 -> uint16 */
    check_fused(v, MEMGOV_DTYPE_INT64, N, MEMGOV_DOWNCAST_UNSIGNED);
    double *d = malloc(N * 8);
    for (int i = 0; i < N; i++)
        d[i] = (double)(i % 100);
    check_fused(d, MEMGOV_DTYPE_FLOAT64, N, MEMGOV_DOWNCAST_FLOAT_TO_INT); /* int8 */
    d[100000] = 100000.0; /* int8 -> float32 (ties int32) */
    check_fused(d, MEMGOV_DTYPE_FLOAT64, N, MEMGOV_DOWNCAST_FLOAT_TO_INT);
    d[200000] = 16777217.0; /* float32 -> int32 */
    check_fused(d, MEMGOV_DTYPE_FLOAT64, N, MEMGOV_DOWNCAST_FLOAT_TO_INT);
    d[250000] = 0.1; /* -> float64 */
    check_fused(d, MEMGOV_DTYPE_FLOAT64, N, MEMGOV_DOWNCAST_FLOAT_TO_INT);
    check_fused(d, MEMGOV_DTYPE_FLOAT64, N, 0);
    d[250000] = NAN;
    check_fused(d, MEMGOV_DTYPE_FLOAT64, N, 0);
    free(v);
    free(d);
    memgov_kernels_downcast_plan p = {.struct_size = sizeof p};
    assert_int_equal(memgov_kernels_downcast(NULL, MEMGOV_DTYPE_INT64, 0, NULL, NULL, &p), MEMGOV_OK);
    assert_int_equal(p.to, MEMGOV_DTYPE_INT8);
    int64_t x[4] = {1, 2, 3, 4};
    assert_int_equal(memgov_kernels_downcast(x, MEMGOV_DTYPE_INT64, 2, x + 1, NULL, &p), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_downcast(x, MEMGOV_DTYPE_INT64, 2, x, NULL, NULL), MEMGOV_EINVAL);
}

/* ---- property: random columns ------------------------------------------------------------------------------ */

static void random_columns_round_trip_through_plan_apply_and_widening(void **state)
{
    (void)state;
    static const memgov_dtype types[] = {MEMGOV_DTYPE_INT8, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_INT32,
                                         MEMGOV_DTYPE_INT64, MEMGOV_DTYPE_UINT8, MEMGOV_DTYPE_UINT16,
                                         MEMGOV_DTYPE_UINT32, MEMGOV_DTYPE_UINT64, MEMGOV_DTYPE_FLOAT32,
                                         MEMGOV_DTYPE_FLOAT64, MEMGOV_DTYPE_BOOL, MEMGOV_DTYPE_FLOAT16};
    rng_state = 12345;
    unsigned checked = 0;
    for (unsigned round = 0; round < 600; round++) {
        memgov_dtype from = types[rnd() % (sizeof types / sizeof *types)];
        size_t n = rnd() % 3000, fs = memgov_dtype_size(from);
        unsigned shift = (unsigned)(rnd() % 64);
        uint32_t flags = (uint32_t)(rnd() % 8) & ~MEMGOV_DOWNCAST_KEEP_FLOAT64;
        unsigned char *src = malloc(n * fs + 1), *mid = malloc(n * 8 + 1), *back = malloc(n * fs + 1);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rnd() >> shift;
            switch (from) {
            case MEMGOV_DTYPE_FLOAT64: {
                double d = (round & 1) ? (double)(int64_t)(r - (r >> 1)) : (double)(float)((double)r * 1e-3);
                if (rnd() % 50 == 0)
                    d = float_edge((unsigned)rnd());
                MG_STORE(double, src, i, d);
                break;
            }
            case MEMGOV_DTYPE_FLOAT32: MG_STORE(float, src, i, (float)((int64_t)r - (int64_t)(r >> 1))); break;
            case MEMGOV_DTYPE_FLOAT16: MG_STORE(uint16_t, src, i, (uint16_t)(rnd() & 0x7bff)); break;
            case MEMGOV_DTYPE_BOOL: MG_STORE(uint8_t, src, i, (uint8_t)(r & 1)); break;
            default: memcpy(src + i * fs, &r, fs); if (rnd() % 2) src[i * fs + fs - 1] ^= 0x80; break;
            }
        }
        memgov_kernels_downcast_plan p = plan_of(src, from, n, flags);
        memgov_kernels_downcast_options o = opts_with(flags);
        assert_int_equal(memgov_kernels_apply_downcast(src, from, n, mid, p.to, &o, NULL), MEMGOV_OK);
        assert_int_equal(memgov_kernels_apply_downcast(mid, p.to, n, back, from, &o, NULL), MEMGOV_OK);
        for (size_t i = 0; i < n; i++) {
            if (mg_dtype_is_float(from)) {
                double a = from == MEMGOV_DTYPE_FLOAT64 ? MG_LOAD(double, src, i)
                         : from == MEMGOV_DTYPE_FLOAT32 ? MG_LOAD(float, src, i)
                                                        : mg_half_to_double(MG_LOAD(uint16_t, src, i));
                double b = from == MEMGOV_DTYPE_FLOAT64 ? MG_LOAD(double, back, i)
                         : from == MEMGOV_DTYPE_FLOAT32 ? MG_LOAD(float, back, i)
                                                        : mg_half_to_double(MG_LOAD(uint16_t, back, i));
                assert_true(same_double(a, b));
                if (mg_dtype_is_float(p.to))
                    assert_int_equal(signbit(a), signbit(b));
            } else {
                assert_memory_equal(src + i * fs, back + i * fs, fs);
            }
        }
        if (n > 0)
            check_fused(src, from, n, flags);
        checked += (unsigned)n;
        free(src);
        free(mid);
        free(back);
    }
    assert_true(checked > 500000);
}

/* ---- factorize --------------------------------------------------------------------------------------------- */

typedef struct fixture {
    memgov *gov;
    memgov_budget *budget;
} fixture;

static int open_gov(void **state)
{
    static fixture f;
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 1ull << 30;
    o.flags = MEMGOV_OPEN_NO_ENV;
    if (memgov_open(&o, &f.gov) != MEMGOV_OK)
        return -1;
    memgov_budget_options b;
    memgov_budget_options_init(&b);
    b.name = "kernels";
    if (memgov_budget_create(memgov_root(f.gov), &b, &f.budget) != MEMGOV_OK)
        return -1;
    *state = &f;
    return 0;
}

static int close_gov(void **state)
{
    fixture *f = *state;
    mg_fault_disarm_all();
    memgov_budget_destroy(f->budget);
    return memgov_close(f->gov) == MEMGOV_OK ? 0 : -1;
}

static uint64_t used(memgov_budget *b)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(b, &st), MEMGOV_OK);
    return st.used;
}

static int64_t code_at(const memgov_kernels_dict *d, size_t i)
{
    memgov_dtype t;
    const void *c = memgov_kernels_dict_codes(d, &t, NULL);
    switch (t) {
    case MEMGOV_DTYPE_INT8: return MG_LOAD(int8_t, c, i);
    case MEMGOV_DTYPE_INT16: return MG_LOAD(int16_t, c, i);
    case MEMGOV_DTYPE_INT32: return MG_LOAD(int32_t, c, i);
    default: return MG_LOAD(int64_t, c, i);
    }
}

/* Arrow arrays of the strings (NULL = null). */
typedef struct arrow {
    int32_t *off32;
    int64_t *off64;
    char *data;
    uint8_t *validity;
    const char **ptrs;
    size_t *lens;
    size_t size;
} arrow;

static arrow make_arrow(const char *const *s, size_t n)
{
    arrow a = {calloc(n + 1, 4), calloc(n + 1, 8), NULL, calloc(n / 8 + 1, 1), calloc(n + 1, sizeof(char *)),
               calloc(n + 1, sizeof(size_t)), 0};
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += s[i] ? strlen(s[i]) : 0;
    a.data = malloc(total + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = s[i] ? strlen(s[i]) : 0;
        memcpy(a.data + a.size, s[i] ? s[i] : "", len);
        a.size += len;
        a.off32[i + 1] = (int32_t)a.size;
        a.off64[i + 1] = (int64_t)a.size;
        if (s[i])
            a.validity[i / 8] |= (uint8_t)(1u << (i % 8));
        a.ptrs[i] = s[i];
        a.lens[i] = len;
    }
    return a;
}

static void free_arrow(arrow *a)
{
    free(a->off32);
    free(a->off64);
    free(a->data);
    free(a->validity);
    free(a->ptrs);
    free(a->lens);
}

static void check_strings(const memgov_kernels_dict *d, const char *const *s, size_t n)
{
    size_t nulls = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t c = code_at(d, i);
        if (s[i] == NULL) {
            assert_int_equal(c, -1);
            nulls++;
            continue;
        }
        size_t len;
        const char *p = memgov_kernels_dict_string(d, (size_t)c, &len);
        assert_non_null(p);
        assert_int_equal(len, strlen(s[i]));
        assert_memory_equal(p, s[i], len);
    }
    assert_int_equal(memgov_kernels_dict_null_count(d), nulls);
}

static void factorize_gives_first_appearance_or_sorted_codes(void **state)
{
    fixture *f = *state;
    const char *s[] = {"pear", "apple", NULL, "pear", "", "fig", "apple", NULL, "", "applesauce"};
    size_t n = sizeof s / sizeof *s;
    arrow a = make_arrow(s, n);
    memgov_kernels_dict *d = NULL;
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, a.off32, a.data, a.size, n, a.validity, NULL, &d),
                     MEMGOV_OK);
    assert_int_equal(memgov_kernels_dict_size(d), 5);
    static const int64_t first[] = {0, 1, -1, 0, 2, 3, 1, -1, 2, 4};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(code_at(d, i), first[i]);
    memgov_dtype t;
    size_t count;
    memgov_kernels_dict_codes(d, &t, &count);
    assert_int_equal(t, MEMGOV_DTYPE_INT8);
    assert_int_equal(count, n);
    check_strings(d, s, n);
    const int64_t *off;
    const char *bytes;
    assert_int_equal(memgov_kernels_dict_strings(d, &off, &bytes), MEMGOV_OK);
    assert_int_equal(off[0], 0);
    assert_memory_equal(bytes + off[3], "fig", 3);
    assert_null(memgov_kernels_dict_int64(d));
    assert_null(memgov_kernels_dict_string(d, 5, NULL));
    assert_true(used(f->budget) > 0);
    memgov_kernels_dict_destroy(d);
    assert_int_equal(used(f->budget), 0);

    memgov_kernels_factorize_options o;
    memgov_kernels_factorize_options_init(&o);
    o.flags = MEMGOV_FACTORIZE_SORT;
    assert_int_equal(memgov_kernels_factorize_large_utf8(f->budget, a.off64, a.data, a.size, n, a.validity, &o, &d),
                     MEMGOV_OK);
    static const int64_t sorted[] = {4, 1, -1, 4, 0, 3, 1, -1, 0, 2}; /* "", apple, applesauce, fig, pear */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(code_at(d, i), sorted[i]);
    check_strings(d, s, n);
    memgov_kernels_dict_destroy(d);

    /* pointer + length: NULL pointers are nulls, no validity needed */
    assert_int_equal(memgov_kernels_factorize_strings(f->budget, a.ptrs, a.lens, n, NULL, NULL, &d), MEMGOV_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(code_at(d, i), first[i]);
    memgov_kernels_dict_destroy(d);
    free_arrow(&a);
    assert_int_equal(used(f->budget), 0);
}

static void factorize_int64_with_nulls_and_sorting(void **state)
{
    fixture *f = *state;
    int64_t v[] = {5, -7, 5, INT64_MIN, 0, -7, INT64_MAX, 42};
    uint8_t valid = 0xff & ~(1u << 7); /* the last one is null */
    memgov_kernels_dict *d;
    assert_int_equal(memgov_kernels_factorize_int64(f->budget, v, 8, &valid, NULL, &d), MEMGOV_OK);
    static const int64_t first[] = {0, 1, 0, 2, 3, 1, 4, -1};
    for (int i = 0; i < 8; i++)
        assert_int_equal(code_at(d, i), first[i]);
    const int64_t *vals = memgov_kernels_dict_int64(d);
    assert_int_equal(vals[2], INT64_MIN);
    assert_null(memgov_kernels_dict_string(d, 0, NULL));
    const int64_t *off;
    const char *bytes;
    assert_int_equal(memgov_kernels_dict_strings(d, &off, &bytes), MEMGOV_EINVAL);
    memgov_kernels_dict_destroy(d);
    memgov_kernels_factorize_options o;
    memgov_kernels_factorize_options_init(&o);
    o.flags = MEMGOV_FACTORIZE_SORT;
    assert_int_equal(memgov_kernels_factorize_int64(f->budget, v, 8, &valid, &o, &d), MEMGOV_OK);
    static const int64_t sorted[] = {3, 1, 3, 0, 2, 1, 4, -1};
    for (int i = 0; i < 8; i++)
        assert_int_equal(code_at(d, i), sorted[i]);
    vals = memgov_kernels_dict_int64(d);
    for (int i = 0; i < 8; i++)
        if (sorted[i] >= 0)
            assert_int_equal(vals[sorted[i]], v[i]);
    memgov_kernels_dict_destroy(d);
    assert_int_equal(memgov_kernels_factorize_int64(f->budget, NULL, 0, NULL, NULL, &d), MEMGOV_OK);
    assert_int_equal(memgov_kernels_dict_size(d), 0);
    memgov_kernels_dict_destroy(d);
    assert_int_equal(used(f->budget), 0);
}

static void codes_use_the_narrowest_signed_type(void **state)
{
    fixture *f = *state;
    static const struct { size_t distinct; memgov_dtype t; } cases[] = {
        {1, MEMGOV_DTYPE_INT8}, {128, MEMGOV_DTYPE_INT8}, {129, MEMGOV_DTYPE_INT16}, {32768, MEMGOV_DTYPE_INT16},
        {32769, MEMGOV_DTYPE_INT32}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t n = cases[k].distinct * 2 + 1;
        int64_t *v = malloc(n * 8);
        for (size_t i = 0; i < n; i++)
            v[i] = (int64_t)((i * 7919) % cases[k].distinct) * 1000003;
        uint8_t *valid = malloc(n / 8 + 1);
        memset(valid, 0xff, n / 8 + 1);
        valid[0] &= 0xfe; /* a null: -1 must fit too */
        memgov_kernels_dict *d;
        assert_int_equal(memgov_kernels_factorize_int64(f->budget, v, n, valid, NULL, &d), MEMGOV_OK);
        memgov_dtype t;
        memgov_kernels_dict_codes(d, &t, NULL);
        assert_int_equal(memgov_kernels_dict_size(d), cases[k].distinct);
        assert_int_equal(t, cases[k].t);
        const int64_t *vals = memgov_kernels_dict_int64(d);
        assert_int_equal(code_at(d, 0), -1);
        for (size_t i = 1; i < n; i++)
            assert_int_equal(vals[code_at(d, i)], v[i]);
        memgov_kernels_dict_destroy(d);
        free(v);
        free(valid);
    }
}

static void bad_offsets_are_rejected_before_any_read(void **state)
{
    fixture *f = *state;
    char data[] = "abcdef";
    memgov_kernels_dict *d = (memgov_kernels_dict *)0x1;
    int32_t dec[] = {0, 3, 2, 6};
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, dec, data, 6, 3, NULL, NULL, &d), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "offsets[2] = 2 is below offsets[1] = 3"));
    int32_t past[] = {0, 3, 7};
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, past, data, 6, 2, NULL, NULL, &d), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "offsets[2] = 7 is past the end of data (data_size 6)"));
    int32_t neg[] = {-1, 3};
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, neg, data, 6, 1, NULL, NULL, &d), MEMGOV_EINVAL);
    int64_t huge[] = {0, INT64_MAX};
    assert_int_equal(memgov_kernels_factorize_large_utf8(f->budget, huge, data, 6, 1, NULL, NULL, &d), MEMGOV_EINVAL);
    int64_t neg64[] = {INT64_MIN, 0};
    assert_int_equal(memgov_kernels_factorize_large_utf8(f->budget, neg64, data, 6, 1, NULL, NULL, &d),
                     MEMGOV_EINVAL);
    int32_t ok[] = {1, 3};
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, ok, NULL, 6, 1, NULL, NULL, &d), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, NULL, data, 6, 1, NULL, NULL, &d), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_factorize_utf8(NULL, ok, data, 6, 1, NULL, NULL, &d), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, ok, data, 6, 1, NULL, NULL, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_factorize_strings(f->budget, NULL, NULL, 1, NULL, NULL, &d), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_factorize_int64(f->budget, NULL, 1, NULL, NULL, &d), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, ok, data, 6, (size_t)1 << 41, NULL, NULL, &d),
                     MEMGOV_EOVERFLOW);
    memgov_kernels_factorize_options o = {.struct_size = 3};
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, ok, data, 6, 1, NULL, &o, &d), MEMGOV_EINVAL);
    memgov_kernels_factorize_options_init(&o);
    o.flags = 0x10;
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, ok, data, 6, 1, NULL, &o, &d), MEMGOV_EINVAL);
    assert_ptr_equal(d, (memgov_kernels_dict *)0x1); /* untouched on every error */
    assert_int_equal(used(f->budget), 0);
    /* offsets starting past 0 are fine (a slice of a larger array) */
    assert_int_equal(memgov_kernels_factorize_utf8(f->budget, ok, data, 6, 1, NULL, NULL, &d), MEMGOV_OK);
    size_t len;
    assert_memory_equal(memgov_kernels_dict_string(d, 0, &len), "bc", 2);
    assert_int_equal(len, 2);
    memgov_kernels_dict_destroy(d);
}

/* n strings with `distinct` values "k<number>". */
static char **make_strings(size_t n, size_t distinct)
{
    char **s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i] = malloc(24);
        snprintf(s[i], 24, "k%zu", (size_t)(rnd() % distinct));
    }
    return s;
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static void a_refusal_frees_everything_and_presents_nothing(void **state)
{
    fixture *f = *state;
    enum { N = 20000 };
    char **s = make_strings(N, 5000);
    arrow a = make_arrow((const char *const *)s, N);
    memgov_kernels_factorize_options o;
    memgov_kernels_factorize_options_init(&o);
    for (unsigned sort = 0; sort < 2; sort++) {
        o.flags = sort ? MEMGOV_FACTORIZE_SORT : 0;
        /* every allocation of the build, failed in turn */
        unsigned failures = 0;
        for (unsigned skip = 0; skip < 200; skip++) {
            memgov_kernels_dict *d = (memgov_kernels_dict *)0x1;
            mg_fault_arm(MG_FAULT_ALLOC, skip, 1);
            memgov_status st = memgov_kernels_factorize_utf8(f->budget, a.off32, a.data, a.size, N, NULL, &o, &d);
            unsigned hit = mg_fault_injected(MG_FAULT_ALLOC);
            mg_fault_disarm_all();
            if (hit == 0) { /* ran out of allocations to fail: it succeeded */
                assert_int_equal(st, MEMGOV_OK);
                check_strings(d, (const char *const *)s, N);
                memgov_kernels_dict_destroy(d);
                break;
            }
            if (st == MEMGOV_OK) { /* the failed one was the codes' shrink, which may fail */
                check_strings(d, (const char *const *)s, N);
                memgov_kernels_dict_destroy(d);
            } else {
                assert_int_equal(st, MEMGOV_ENOMEM);
                assert_ptr_equal(d, (memgov_kernels_dict *)0x1);
                failures++;
            }
            assert_int_equal(used(f->budget), 0);
        }
        assert_true(failures >= 5);
    }
    /* a hard limit that the table or dictionary crosses */
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "small";
    memgov_budget *small;
    for (uint64_t limit = 4096; limit < (1u << 22); limit *= 2) {
        bo.hard_limit = limit;
        assert_int_equal(memgov_budget_create(f->budget, &bo, &small), MEMGOV_OK);
        memgov_kernels_dict *d = NULL;
        memgov_status st = memgov_kernels_factorize_strings(small, a.ptrs, a.lens, N, NULL, NULL, &d);
        if (st == MEMGOV_OK) {
            check_strings(d, (const char *const *)s, N);
            memgov_kernels_dict_destroy(d);
        } else {
            assert_int_equal(st, MEMGOV_ENOMEM);
            assert_null(d);
            assert_non_null(strstr(memgov_last_error(), "small"));
        }
        assert_int_equal(used(small), 0);
        assert_int_equal(memgov_budget_destroy(small), MEMGOV_OK);
    }
    free_arrow(&a);
    free_strings(s, N);
}

static void factorize_then_take_gives_the_strings_back(void **state)
{
    fixture *f = *state;
    rng_state = 777;
    for (unsigned round = 0; round < 12; round++) {
        size_t n = (size_t)(rnd() % 50000), distinct = (size_t)(rnd() % 3000) + 1;
        char **s = make_strings(n, distinct);
        for (size_t i = 0; i < n; i++)
            if (rnd() % 17 == 0) {
                free(s[i]);
                s[i] = NULL;
            }
        arrow a = make_arrow((const char *const *)s, n);
        memgov_kernels_factorize_options o;
        memgov_kernels_factorize_options_init(&o);
        o.flags = round & 1 ? MEMGOV_FACTORIZE_SORT : 0;
        memgov_kernels_dict *d;
        assert_int_equal(memgov_kernels_factorize_large_utf8(f->budget, a.off64, a.data, a.size, n, a.validity, &o,
                                                             &d), MEMGOV_OK);
        check_strings(d, (const char *const *)s, n);
        /* distinct entries, and in order when sorted */
        for (size_t c = 1; c < memgov_kernels_dict_size(d); c++) {
            size_t la, lb;
            const char *x = memgov_kernels_dict_string(d, c - 1, &la), *y = memgov_kernels_dict_string(d, c, &lb);
            int cmp = memcmp(x, y, la < lb ? la : lb);
            assert_true(cmp != 0 || la != lb);
            if (o.flags)
                assert_true(cmp < 0 || (cmp == 0 && la < lb));
        }
        memgov_kernels_dict_destroy(d);
        free_arrow(&a);
        free_strings(s, n);
    }
    assert_int_equal(used(f->budget), 0);
}

/* ---- statistics -------------------------------------------------------------------------------------------- */

/* Two-pass reference in long double. */
static void reference(const double *x, size_t n, long double *mean, long double *var, uint64_t *count)
{
    long double s = 0;
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] == x[i]) {
            s += x[i];
            c++;
        }
    *mean = c ? s / c : NAN;
    long double m2 = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] == x[i])
            m2 += (x[i] - *mean) * (x[i] - *mean);
    *var = c ? m2 / c : NAN;
    *count = c;
}

/* |got - want| <= rel * (|want| + scale): scale is the mean magnitude for means and sums near 0, whose error is
 * relative to the values summed, not to the (cancelled) result. */
static void close_to(double got, long double want, double rel, long double scale)
{
    if (!(fabsl(got - want) <= rel * (fabsl(want) + scale) + 1e-300)) {
        printf("got %.17g want %.17Lg\n", got, want);
        fail();
    }
}

static void close_rel(double got, long double want, double rel)
{
    close_to(got, want, rel, 0);
}

static void statistics_match_a_two_pass_reference(void **state)
{
    (void)state;
    rng_state = 99;
    enum { N = 100003 };
    double *x = malloc(N * sizeof *x);
    for (int kind = 0; kind < 3; kind++) {
        for (int i = 0; i < N; i++) {
            double u = (double)(rnd() >> 11) * 0x1p-53;
            x[i] = kind == 0 ? u : kind == 1 ? 1e9 + u : (u - 0.5) * 1e-3; /* a large offset tests the variance */
            if (i % 1000 == 7)
                x[i] = NAN;
        }
        memgov_kernels_summary r = {.struct_size = sizeof r};
        assert_int_equal(memgov_kernels_describe(x, MEMGOV_DTYPE_FLOAT64, N, &r), MEMGOV_OK);
        long double mean, var;
        uint64_t c;
        reference(x, N, &mean, &var, &c);
        assert_int_equal(r.count, c);
        assert_int_equal(r.nan_count, N - c);
        long double mag = 0;
        for (int i = 0; i < N; i++)
            if (x[i] == x[i])
                mag += fabsl(x[i]) / c;
        close_to(r.mean, mean, 1e-14, mag);
        close_rel(r.var, var, 1e-12);
        close_rel(r.var_sample, var * c / (c - 1), 1e-12);
        close_rel(r.std, sqrtl(var), 1e-12);
        close_to(r.sum, mean * c, 1e-15, mag * c);
        /* chunked in uneven pieces and merged: the same statistics */
        memgov_kernels_accumulator parts[3], all;
        memgov_kernels_accumulator_init(&all);
        size_t cut[4] = {0, 1, 50000, N};
        for (int k = 0; k < 3; k++) {
            memgov_kernels_accumulator_init(&parts[k]);
            assert_int_equal(memgov_kernels_accumulate(&parts[k], x + cut[k], MEMGOV_DTYPE_FLOAT64,
                                                       cut[k + 1] - cut[k]), MEMGOV_OK);
            assert_int_equal(memgov_kernels_accumulator_merge(&all, &parts[k]), MEMGOV_OK);
        }
        memgov_kernels_summary m = {.struct_size = sizeof m};
        assert_int_equal(memgov_kernels_accumulator_result(&all, &m), MEMGOV_OK);
        assert_int_equal(m.count, r.count);
        assert_int_equal(m.nan_count, r.nan_count);
        assert_true(m.min == r.min && m.max == r.max);
        close_to(m.mean, mean, 1e-14, mag);
        close_rel(m.var, var, 1e-12);
    }
    free(x);
}

static void statistics_of_every_dtype_and_the_edges(void **state)
{
    (void)state;
    memgov_kernels_summary r = {.struct_size = sizeof r};
    int8_t i8[] = {-128, 127, 0, 1};
    assert_int_equal(memgov_kernels_describe(i8, MEMGOV_DTYPE_INT8, 4, &r), MEMGOV_OK);
    assert_true(r.min == -128 && r.max == 127 && r.mean == 0 && r.sum == 0);
    close_rel(r.var, (128.0L * 128 + 127 * 127 + 1) / 4, 1e-15);
    uint16_t half[] = {0x3c00, 0x4000, 0x7e00}; /* 1, 2, NaN */
    assert_int_equal(memgov_kernels_describe(half, MEMGOV_DTYPE_FLOAT16, 3, &r), MEMGOV_OK);
    assert_true(r.count == 2 && r.nan_count == 1 && r.mean == 1.5 && r.var == 0.25 && r.var_sample == 0.5);
    uint64_t u[] = {UINT64_MAX, 0};
    assert_int_equal(memgov_kernels_describe(u, MEMGOV_DTYPE_UINT64, 2, &r), MEMGOV_OK);
    assert_true(r.max == 0x1p64);
    float f32[] = {1.5f, 2.5f};
    assert_int_equal(memgov_kernels_describe(f32, MEMGOV_DTYPE_FLOAT32, 2, &r), MEMGOV_OK);
    assert_true(r.mean == 2.0);
    uint8_t b[] = {1, 0, 1, 1};
    assert_int_equal(memgov_kernels_describe(b, MEMGOV_DTYPE_BOOL, 4, &r), MEMGOV_OK);
    assert_true(r.mean == 0.75 && r.sum == 3);
    assert_int_equal(memgov_kernels_describe(NULL, MEMGOV_DTYPE_FLOAT64, 0, &r), MEMGOV_OK);
    assert_true(r.count == 0 && isnan(r.mean) && isnan(r.var) && isnan(r.min) && r.sum == 0);
    double one[] = {3.0};
    assert_int_equal(memgov_kernels_describe(one, MEMGOV_DTYPE_FLOAT64, 1, &r), MEMGOV_OK);
    assert_true(r.var == 0 && isnan(r.var_sample) && r.min == 3 && r.max == 3);
    double inf[] = {1.0, INFINITY, 2.0};
    assert_int_equal(memgov_kernels_describe(inf, MEMGOV_DTYPE_FLOAT64, 3, &r), MEMGOV_OK);
    assert_true(r.mean == INFINITY && isnan(r.var) && r.max == INFINITY && r.sum == INFINITY);
    double both[] = {-INFINITY, INFINITY};
    assert_int_equal(memgov_kernels_describe(both, MEMGOV_DTYPE_FLOAT64, 2, &r), MEMGOV_OK);
    assert_true(isnan(r.mean));
    double nans[] = {NAN, NAN};
    assert_int_equal(memgov_kernels_describe(nans, MEMGOV_DTYPE_FLOAT64, 2, &r), MEMGOV_OK);
    assert_true(r.count == 0 && r.nan_count == 2 && isnan(r.min));
    /* errors */
    memgov_kernels_accumulator acc = {0};
    assert_int_equal(memgov_kernels_accumulate(&acc, one, MEMGOV_DTYPE_FLOAT64, 1), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "memgov_kernels_accumulator_init"));
    memgov_kernels_accumulator_init(&acc);
    assert_int_equal(memgov_kernels_accumulate(&acc, NULL, MEMGOV_DTYPE_FLOAT64, 1), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_accumulate(&acc, one, MEMGOV_DTYPE_INVALID, 1), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_accumulate(&acc, one, MEMGOV_DTYPE_FLOAT64, SIZE_MAX), MEMGOV_EOVERFLOW);
    assert_int_equal(acc.count, 0);
    assert_int_equal(memgov_kernels_accumulator_merge(&acc, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_accumulator_result(&acc, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_kernels_describe(one, MEMGOV_DTYPE_FLOAT64, 1, NULL), MEMGOV_EINVAL);
}

/* A plan scanned on a lease (each thread a contiguous run, merged in order) is the plan one thread makes: every
 * field equal, for integer and float columns with NaN, infinities, -0.0 and tolerances, on leases of 1 to 4
 * threads; a released lease is refused. */
static void expect_same_plan(const memgov_kernels_downcast_plan *a, const memgov_kernels_downcast_plan *b)
{
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->nan_count, b->nan_count);
    /* equal values (a zero's sign may differ: which of -0.0 and 0.0 a run keeps depends on how it is cut, as it
     * does between the SIMD variants' lanes) */
    assert_true(a->min == b->min || (isnan(a->min) && isnan(b->min)));
    assert_true(a->max == b->max || (isnan(a->max) && isnan(b->max)));
    assert_int_equal(a->int_min, b->int_min);
    assert_int_equal(a->int_max, b->int_max);
    assert_int_equal(a->uint_min, b->uint_min);
    assert_int_equal(a->uint_max, b->uint_max);
    assert_int_equal(a->bytes_saved, b->bytes_saved);
}

static void a_plan_scanned_on_a_lease_is_the_single_thread_plan(void **state)
{
    (void)state;
    enum { N = 300007 };
    int64_t *i64 = malloc(N * sizeof *i64);
    double *f64 = malloc(N * sizeof *f64);
    uint16_t *u16 = malloc(N * sizeof *u16);
    assert_true(i64 != NULL && f64 != NULL && u16 != NULL);
    for (size_t i = 0; i < N; i++) {
        i64[i] = (int64_t)(i * 2654435761u % 70000) - 30000;
        f64[i] = i % 1001 == 0 ? NAN : i % 997 == 0 ? -0.0 : (double)(i % 5000) * 0.25;
        u16[i] = (uint16_t)(i * 40503u);
    }
    f64[N / 2] = INFINITY;
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    go.proc_root = MG_FIXTURES "/probe/host-16g"; /* 16 CPUs, whatever this machine has */
    go.root_limit = 1ull << 30;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&go, &gov), MEMGOV_OK);
    const struct {
        const void *src;
        memgov_dtype from;
        double tol;
    } cols[] = {{i64, MEMGOV_DTYPE_INT64, 0}, {f64, MEMGOV_DTYPE_FLOAT64, 0}, {f64, MEMGOV_DTYPE_FLOAT64, 1e-3},
                {u16, MEMGOV_DTYPE_UINT16, 0}};
    for (unsigned want = 1; want <= 4; want++) {
        memgov_threads_lease *l = NULL;
        assert_int_equal(memgov_threads_acquire(gov, want, 0, NULL, MEMGOV_THREADS_ALL_OR_NOTHING, &l), MEMGOV_OK);
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            memgov_kernels_downcast_options o;
            memgov_kernels_downcast_options_init(&o);
            o.flags = MEMGOV_DOWNCAST_UNSIGNED | MEMGOV_DOWNCAST_FLOAT_TO_INT;
            o.abs_tolerance = cols[c].tol;
            memgov_kernels_downcast_plan one = {.struct_size = sizeof one}, many = {.struct_size = sizeof many};
            assert_int_equal(memgov_kernels_plan_downcast(cols[c].src, cols[c].from, N, &o, &one), MEMGOV_OK);
            o.lease = l;
            assert_int_equal(memgov_kernels_plan_downcast(cols[c].src, cols[c].from, N, &o, &many), MEMGOV_OK);
            expect_same_plan(&one, &many);
        }
        assert_int_equal(memgov_threads_release(l), MEMGOV_OK);
        memgov_kernels_downcast_options o;
        memgov_kernels_downcast_options_init(&o);
        o.lease = l;
        memgov_kernels_downcast_plan p = {.struct_size = sizeof p};
        assert_int_equal(memgov_kernels_plan_downcast(i64, MEMGOV_DTYPE_INT64, N, &o, &p), MEMGOV_ESTATE);
        assert_int_equal(memgov_threads_lease_free(l), MEMGOV_OK);
    }
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    free(i64);
    free(f64);
    free(u16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(avx2_variant_matches_the_scalar_reference),
        cmocka_unit_test(avx512_variant_matches_the_scalar_reference),
        cmocka_unit_test(the_active_variant_is_the_best_the_cpu_has),
        cmocka_unit_test(integer_columns_get_the_narrowest_signed_type),
        cmocka_unit_test(a_plan_scanned_on_a_lease_is_the_single_thread_plan),
        cmocka_unit_test(narrower_sources_and_unsigned_sources_follow_the_same_rule),
        cmocka_unit_test(empty_and_single_element_columns),
        cmocka_unit_test(float64_becomes_float32_only_when_every_value_round_trips),
        cmocka_unit_test(tolerances_admit_roundings_but_never_overflow),
        cmocka_unit_test(floats_become_integers_only_when_asked_and_integral),
        cmocka_unit_test(plan_rejects_bad_arguments),
        cmocka_unit_test(apply_converts_and_names_the_first_value_that_does_not_fit),
        cmocka_unit_test(apply_keeps_nan_infinities_and_negative_zero),
        cmocka_unit_test(apply_in_place_narrows_front_to_back),
        cmocka_unit_test(fused_widens_when_a_late_block_needs_more),
        cmocka_unit_test(random_columns_round_trip_through_plan_apply_and_widening),
        cmocka_unit_test(factorize_gives_first_appearance_or_sorted_codes),
        cmocka_unit_test(factorize_int64_with_nulls_and_sorting),
        cmocka_unit_test(codes_use_the_narrowest_signed_type),
        cmocka_unit_test(bad_offsets_are_rejected_before_any_read),
        cmocka_unit_test(a_refusal_frees_everything_and_presents_nothing),
        cmocka_unit_test(factorize_then_take_gives_the_strings_back),
        cmocka_unit_test(statistics_match_a_two_pass_reference),
        cmocka_unit_test(statistics_of_every_dtype_and_the_edges),
    };
    return cmocka_run_group_tests(tests, open_gov, close_gov);
}
