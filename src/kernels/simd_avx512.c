/* The AVX-512 variant (this file alone is compiled with -mavx512f; the dispatcher calls it only on CPUs that have
 * AVX-512F). Same results as the scalar reference (kernels_internal.h); tails shorter than a vector go to the
 * scalar code. */
#include <immintrin.h>

#include "kernels/kernels_internal.h"

static void minmax_i64(const void *x, size_t n, int64_t *min, int64_t *max)
{
    const unsigned char *p = x;
    if (n < 8) {
        mg_kernels_scalar.minmax_i64(x, n, min, max);
        return;
    }
    __m512i vlo = _mm512_loadu_si512(p), vhi = vlo;
    size_t i = 8;
    for (; i + 8 <= n; i += 8) {
        __m512i v = _mm512_loadu_si512(p + i * 8);
        vlo = _mm512_min_epi64(vlo, v);
        vhi = _mm512_max_epi64(vhi, v);
    }
    int64_t lo = _mm512_reduce_min_epi64(vlo), hi = _mm512_reduce_max_epi64(vhi);
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
    const __m512d dmax = _mm512_set1_pd(__DBL_MAX__);
    __m512d vlo = _mm512_set1_pd(__builtin_inf()), vhi = _mm512_set1_pd(-__builtin_inf());
    __mmask8 exact = 0xff, whole = 0xff;
    uint64_t nan = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d v = _mm512_loadu_pd(p + i * 8);
        __mmask8 un = _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
        nan += (uint64_t)__builtin_popcount((unsigned)un);
        vlo = _mm512_mask_min_pd(vlo, (__mmask8)~un, vlo, v);
        vhi = _mm512_mask_max_pd(vhi, (__mmask8)~un, vhi, v);
        __m512d r = _mm512_cvtps_pd(_mm512_cvtpd_ps(v));
        exact &= (__mmask8)(_mm512_cmp_pd_mask(r, v, _CMP_EQ_OQ) | un);
        __m512d t = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        whole &= (__mmask8)(_mm512_cmp_pd_mask(t, v, _CMP_EQ_OQ) & _mm512_cmp_pd_mask(_mm512_abs_pd(v), dmax, _CMP_LE_OQ));
    }
    if (i > 0) {
        double lo = _mm512_reduce_min_pd(vlo), hi = _mm512_reduce_max_pd(vhi);
        s->min = lo < s->min ? lo : s->min;
        s->max = hi > s->max ? hi : s->max;
        s->nan += nan;
        s->f32_exact = s->f32_exact && exact == 0xff;
        s->integral = s->integral && whole == 0xff;
    }
    mg_kernels_scalar.scan_f64(p + i * 8, n - i, s);
}

static size_t narrow_i64(const void *x, size_t n, void *dst, unsigned width, int64_t lo, int64_t hi)
{
    const unsigned char *p = x;
    unsigned char *d = dst;
    const __m512i vlo = _mm512_set1_epi64(lo), vhi = _mm512_set1_epi64(hi);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i v = _mm512_loadu_si512(p + i * 8);
        if (_mm512_cmplt_epi64_mask(v, vlo) | _mm512_cmpgt_epi64_mask(v, vhi))
            break;
        if (width == 4)
            _mm256_storeu_si256((__m256i *)(d + i * 4), _mm512_cvtepi64_epi32(v));
        else if (width == 2)
            _mm_storeu_si128((__m128i *)(d + i * 2), _mm512_cvtepi64_epi16(v));
        else
            _mm_storel_epi64((__m128i *)(d + i), _mm512_cvtepi64_epi8(v));
    }
    return i + mg_kernels_scalar.narrow_i64(p + i * 8, n - i, d + i * width, width, lo, hi);
}

static size_t narrow_f64_f32(const void *x, size_t n, void *dst)
{
    const unsigned char *p = x;
    unsigned char *d = dst;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d v = _mm512_loadu_pd(p + i * 8);
        __m256 f = _mm512_cvtpd_ps(v);
        __mmask8 ok = _mm512_cmp_pd_mask(_mm512_cvtps_pd(f), v, _CMP_EQ_OQ) | _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
        if (ok != 0xff)
            break;
        _mm256_storeu_ps((float *)(d + i * 4), f);
    }
    return i + mg_kernels_scalar.narrow_f64_f32(p + i * 8, n - i, d + i * 4);
}

static void block_f64(const void *x, size_t n, double shift, mg_kblock *b)
{
    const unsigned char *p = x;
    if (n < 16) {
        mg_kernels_scalar.block_f64(x, n, shift, b);
        return;
    }
    const __m512d k = _mm512_set1_pd(shift);
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, t0 = s0, t1 = s0;
    __m512d vlo = _mm512_set1_pd(__builtin_inf()), vhi = _mm512_set1_pd(-__builtin_inf());
    uint64_t nan = 0;
    size_t i = 0, body = n & ~(size_t)7;
    for (; i < body; i += 8) {
        __m512d v = _mm512_loadu_pd(p + i * 8);
        __mmask8 ok = (__mmask8)~_mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
        nan += 8u - (uint64_t)__builtin_popcount((unsigned)ok);
        __m512d vs = _mm512_sub_pd(v, k);
        if (i & 8) {
            s1 = _mm512_mask_add_pd(s1, ok, s1, v);
            t1 = _mm512_mask_add_pd(t1, ok, t1, vs);
        } else {
            s0 = _mm512_mask_add_pd(s0, ok, s0, v);
            t0 = _mm512_mask_add_pd(t0, ok, t0, vs);
        }
        vlo = _mm512_mask_min_pd(vlo, ok, vlo, v);
        vhi = _mm512_mask_max_pd(vhi, ok, vhi, v);
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), ssum = _mm512_reduce_add_pd(_mm512_add_pd(t0, t1));
    double lo = _mm512_reduce_min_pd(vlo), hi = _mm512_reduce_max_pd(vhi);
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
    __m512d vm = _mm512_set1_pd(mean), m0 = _mm512_setzero_pd(), m1 = m0;
    for (i = 0; i < body; i += 8) {
        __m512d v = _mm512_loadu_pd(p + i * 8);
        __mmask8 ok = (__mmask8)~_mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
        __m512d d = _mm512_maskz_sub_pd(ok, _mm512_sub_pd(v, k), vm);
        if (i & 8)
            m1 = _mm512_add_pd(m1, _mm512_mul_pd(d, d));
        else
            m0 = _mm512_add_pd(m0, _mm512_mul_pd(d, d));
    }
    double m2 = _mm512_reduce_add_pd(_mm512_add_pd(m0, m1));
    m2 += mg_kblock_m2(p, body, n, shift, mean);
    b->m2 = m2;
}

const mg_kernels_variant mg_kernels_avx512 = {
    .name = "avx512",
    .minmax_i64 = minmax_i64,
    .scan_f64 = scan_f64,
    .narrow_i64 = narrow_i64,
    .narrow_f64_f32 = narrow_f64_f32,
    .block_f64 = block_f64,
};
