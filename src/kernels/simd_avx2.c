/* The AVX2 variant (this file alone is compiled with -mavx2; the dispatcher calls it only on CPUs that have AVX2).
 * Same results as the scalar reference (kernels_internal.h); tails shorter than a vector go to the scalar code. */
#include <immintrin.h>

#include "kernels/kernels_internal.h"

static void minmax_i64(const void *x, size_t n, int64_t *min, int64_t *max)
{
    const unsigned char *p = x;
    size_t i = 0;
    int64_t lo, hi;
    if (n >= 4) {
        __m256i vlo = _mm256_loadu_si256((const __m256i *)p), vhi = vlo;
        for (i = 4; i + 4 <= n; i += 4) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(p + i * 8));
            vlo = _mm256_blendv_epi8(vlo, v, _mm256_cmpgt_epi64(vlo, v));
            vhi = _mm256_blendv_epi8(vhi, v, _mm256_cmpgt_epi64(v, vhi));
        }
        int64_t a[4], b[4];
        _mm256_storeu_si256((__m256i *)a, vlo);
        _mm256_storeu_si256((__m256i *)b, vhi);
        lo = a[0], hi = b[0];
        for (int k = 1; k < 4; k++) {
            lo = a[k] < lo ? a[k] : lo;
            hi = b[k] > hi ? b[k] : hi;
        }
    } else {
        mg_kernels_scalar.minmax_i64(x, n, min, max);
        return;
    }
    if (i < n) {
        int64_t tlo, thi;
        mg_kernels_scalar.minmax_i64(p + i * 8, n - i, &tlo, &thi);
        lo = tlo < lo ? tlo : lo;
        hi = thi > hi ? thi : hi;
    }
    *min = lo;
    *max = hi;
}

static void scan_f64(const void *x, size_t n, mg_kscan_f64 *s)
{
    const unsigned char *p = x;
    const __m256d inf = _mm256_set1_pd(__builtin_inf()), ninf = _mm256_set1_pd(-__builtin_inf());
    const __m256d dmax = _mm256_set1_pd(__DBL_MAX__);
    const __m256d absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX));
    __m256d vlo = inf, vhi = ninf;
    __m256d exact = _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), whole = exact;
    uint64_t nan = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_loadu_pd((const double *)(p + i * 8));
        __m256d un = _mm256_cmp_pd(v, v, _CMP_UNORD_Q);
        nan += (uint64_t)__builtin_popcount((unsigned)_mm256_movemask_pd(un));
        vlo = _mm256_min_pd(vlo, _mm256_blendv_pd(v, inf, un));
        vhi = _mm256_max_pd(vhi, _mm256_blendv_pd(v, ninf, un));
        __m256d r = _mm256_cvtps_pd(_mm256_cvtpd_ps(v));
        exact = _mm256_and_pd(exact, _mm256_or_pd(_mm256_cmp_pd(r, v, _CMP_EQ_OQ), un));
        __m256d t = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m256d fin = _mm256_cmp_pd(_mm256_and_pd(v, absmask), dmax, _CMP_LE_OQ);
        whole = _mm256_and_pd(whole, _mm256_and_pd(_mm256_cmp_pd(t, v, _CMP_EQ_OQ), fin));
    }
    if (i > 0) {
        double a[4], b[4];
        _mm256_storeu_pd(a, vlo);
        _mm256_storeu_pd(b, vhi);
        for (int k = 0; k < 4; k++) {
            s->min = a[k] < s->min ? a[k] : s->min;
            s->max = b[k] > s->max ? b[k] : s->max;
        }
        s->nan += nan;
        s->f32_exact = s->f32_exact && _mm256_movemask_pd(exact) == 0xf;
        s->integral = s->integral && _mm256_movemask_pd(whole) == 0xf;
    }
    mg_kernels_scalar.scan_f64(p + i * 8, n - i, s);
}

static size_t narrow_i64(const void *x, size_t n, void *dst, unsigned width, int64_t lo, int64_t hi)
{
    const unsigned char *p = x;
    unsigned char *d = dst;
    const __m256i vlo = _mm256_set1_epi64x(lo), vhi = _mm256_set1_epi64x(hi);
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m128i to16 = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i to8 = _mm_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + i * 8));
        __m256i bad = _mm256_or_si256(_mm256_cmpgt_epi64(vlo, v), _mm256_cmpgt_epi64(v, vhi));
        if (!_mm256_testz_si256(bad, bad))
            break;
        __m128i w32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v, even));
        if (width == 4) {
            _mm_storeu_si128((__m128i *)(d + i * 4), w32);
        } else if (width == 2) {
            _mm_storel_epi64((__m128i *)(d + i * 2), _mm_shuffle_epi8(w32, to16));
        } else {
            int32_t four = _mm_cvtsi128_si32(_mm_shuffle_epi8(w32, to8));
            memcpy(d + i, &four, 4);
        }
    }
    return i + mg_kernels_scalar.narrow_i64(p + i * 8, n - i, d + i * width, width, lo, hi);
}

static size_t narrow_f64_f32(const void *x, size_t n, void *dst)
{
    const unsigned char *p = x;
    unsigned char *d = dst;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_loadu_pd((const double *)(p + i * 8));
        __m128 f = _mm256_cvtpd_ps(v);
        __m256d ok = _mm256_or_pd(_mm256_cmp_pd(_mm256_cvtps_pd(f), v, _CMP_EQ_OQ), _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
        if (_mm256_movemask_pd(ok) != 0xf)
            break;
        _mm_storeu_ps((float *)(d + i * 4), f);
    }
    return i + mg_kernels_scalar.narrow_f64_f32(p + i * 8, n - i, d + i * 4);
}

static double hsum(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

static void block_f64(const void *x, size_t n, double shift, mg_kblock *b)
{
    const unsigned char *p = x;
    if (n < 8) {
        mg_kernels_scalar.block_f64(x, n, shift, b);
        return;
    }
    const __m256d inf = _mm256_set1_pd(__builtin_inf()), ninf = _mm256_set1_pd(-__builtin_inf());
    const __m256d k = _mm256_set1_pd(shift);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, t0 = s0, t1 = s0, vlo = inf, vhi = ninf;
    uint64_t nan = 0;
    size_t i = 0, body = n & ~(size_t)3;
    for (; i < body; i += 4) {
        __m256d v = _mm256_loadu_pd((const double *)(p + i * 8));
        __m256d un = _mm256_cmp_pd(v, v, _CMP_UNORD_Q);
        nan += (uint64_t)__builtin_popcount((unsigned)_mm256_movemask_pd(un));
        __m256d z = _mm256_andnot_pd(un, v), zs = _mm256_andnot_pd(un, _mm256_sub_pd(v, k));
        if (i & 4) {
            s1 = _mm256_add_pd(s1, z);
            t1 = _mm256_add_pd(t1, zs);
        } else {
            s0 = _mm256_add_pd(s0, z);
            t0 = _mm256_add_pd(t0, zs);
        }
        vlo = _mm256_min_pd(vlo, _mm256_blendv_pd(v, inf, un));
        vhi = _mm256_max_pd(vhi, _mm256_blendv_pd(v, ninf, un));
    }
    double sum = hsum(_mm256_add_pd(s0, s1)), ssum = hsum(_mm256_add_pd(t0, t1));
    double lo = __builtin_inf(), hi = -__builtin_inf();
    double a[4], c[4];
    _mm256_storeu_pd(a, vlo);
    _mm256_storeu_pd(c, vhi);
    for (int j = 0; j < 4; j++) {
        lo = a[j] < lo ? a[j] : lo;
        hi = c[j] > hi ? c[j] : hi;
    }
    b->nan = nan;
    b->n = body - nan;
    b->sum = sum;
    b->ssum = ssum;
    b->min = lo;
    b->max = hi;
    b->m2 = 0;
    mg_kblock_fold(p, body, n, shift, b);
    if (b->n == 0)
        return;
    double mean = b->ssum / (double)b->n;
    __m256d vm = _mm256_set1_pd(mean), m0 = _mm256_setzero_pd(), m1 = m0;
    for (i = 0; i < body; i += 4) {
        __m256d v = _mm256_loadu_pd((const double *)(p + i * 8));
        __m256d d = _mm256_andnot_pd(_mm256_cmp_pd(v, v, _CMP_UNORD_Q), _mm256_sub_pd(_mm256_sub_pd(v, k), vm));
        if (i & 4)
            m1 = _mm256_add_pd(m1, _mm256_mul_pd(d, d));
        else
            m0 = _mm256_add_pd(m0, _mm256_mul_pd(d, d));
    }
    double m2 = hsum(_mm256_add_pd(m0, m1));
    m2 += mg_kblock_m2(p, body, n, shift, mean);
    b->m2 = m2;
}

const mg_kernels_variant mg_kernels_avx2 = {
    .name = "avx2",
    .minmax_i64 = minmax_i64,
    .scan_f64 = scan_f64,
    .narrow_i64 = narrow_i64,
    .narrow_f64_f32 = narrow_f64_f32,
    .block_f64 = block_f64,
};
