/* Downcast plan: the scan of a column (any numeric dtype) and the choice of the narrowest dtype. */
#include <math.h>
#include <stdlib.h>

#include "internal/error.h"
#include "internal/structsize.h"
#include "kernels/kernels_internal.h"

#define KNOWN_FLAGS (MEMGOV_DOWNCAST_UNSIGNED | MEMGOV_DOWNCAST_FLOAT_TO_INT | MEMGOV_DOWNCAST_KEEP_FLOAT64)

MEMGOV_API void memgov_kernels_downcast_options_init(memgov_kernels_downcast_options *opts)
{
    mg_struct_init(opts, sizeof *opts);
}

memgov_status mg_kdowncast_opts(memgov_kernels_downcast_options *ours, const memgov_kernels_downcast_options *theirs,
                                const char *what)
{
    memgov_kernels_downcast_options_init(ours);
    memgov_status st = mg_struct_in(ours, sizeof *ours, theirs, "memgov_kernels_downcast_options");
    if (st != MEMGOV_OK)
        return st;
    if (ours->flags & ~KNOWN_FLAGS)
        return mg_fail(MEMGOV_EINVAL, "%s: unknown downcast flags 0x%x (known: 0x%x)", what,
                       (unsigned)(ours->flags & ~KNOWN_FLAGS), (unsigned)KNOWN_FLAGS);
    if (!(ours->abs_tolerance >= 0) || !(ours->rel_tolerance >= 0))
        return mg_fail(MEMGOV_EINVAL, "%s: tolerances must be >= 0 (abs_tolerance %g, rel_tolerance %g)", what,
                       ours->abs_tolerance, ours->rel_tolerance);
    return MEMGOV_OK;
}

void mg_kstate_init(mg_kstate *st, memgov_dtype from)
{
    memset(st, 0, sizeof *st);
    st->from = from;
    st->imin = INT64_MAX;
    st->imax = INT64_MIN;
    st->umin = UINT64_MAX;
    st->umax = 0;
    mg_kscan_f64_init(&st->f);
}

static bool f32_within(double v, const memgov_kernels_downcast_options *o)
{
    if (v != v)
        return true;
    float f = (float)v;
    if (isinf(f))
        return isinf(v);
    double d = fabs((double)f - v);
    return d <= o->abs_tolerance || d <= o->rel_tolerance * fabs(v);
}

/* Folds one float value into a scan (the scalar rule of kernels_internal.h). */
static void scan_one(mg_kscan_f64 *s, double v)
{
    if (v != v) {
        s->nan++;
        s->integral = false;
        return;
    }
    s->min = v < s->min ? v : s->min;
    s->max = v > s->max ? v : s->max;
    s->integral = s->integral && isfinite(v) && v == trunc(v);
}

static void merge_scan(mg_kscan_f64 *into, const mg_kscan_f64 *s)
{
    into->min = s->min < into->min ? s->min : into->min;
    into->max = s->max > into->max ? s->max : into->max;
    into->nan += s->nan;
    into->f32_exact = into->f32_exact && s->f32_exact;
    into->integral = into->integral && s->integral;
}

void mg_kstate_scan(mg_kstate *st, const unsigned char *src, size_t n, const memgov_kernels_downcast_options *opts)
{
    if (n == 0)
        return;
    st->count += n;
    mg_kscan_f64 s;
    mg_kscan_f64_init(&s);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    uint64_t ulo = UINT64_MAX, uhi = 0;
    switch (st->from) {
#define SIGNED(type)                                                                                               \
    for (size_t i = 0; i < n; i++) {                                                                               \
        int64_t v = MG_LOAD(type, src, i);                                                                         \
        lo = v < lo ? v : lo;                                                                                      \
        hi = v > hi ? v : hi;                                                                                      \
    }                                                                                                              \
    break
#define UNSIGNED(type)                                                                                             \
    for (size_t i = 0; i < n; i++) {                                                                               \
        uint64_t v = MG_LOAD(type, src, i);                                                                        \
        ulo = v < ulo ? v : ulo;                                                                                   \
        uhi = v > uhi ? v : uhi;                                                                                   \
    }                                                                                                              \
    break
    case MEMGOV_DTYPE_INT64:
        mg_kernels_active()->minmax_i64(src, n, &lo, &hi);
        break;
    case MEMGOV_DTYPE_INT8: SIGNED(int8_t);
    case MEMGOV_DTYPE_INT16: SIGNED(int16_t);
    case MEMGOV_DTYPE_INT32: SIGNED(int32_t);
    case MEMGOV_DTYPE_BOOL: SIGNED(uint8_t);
    case MEMGOV_DTYPE_UINT8: UNSIGNED(uint8_t);
    case MEMGOV_DTYPE_UINT16: UNSIGNED(uint16_t);
    case MEMGOV_DTYPE_UINT32: UNSIGNED(uint32_t);
    case MEMGOV_DTYPE_UINT64: UNSIGNED(uint64_t);
#undef SIGNED
#undef UNSIGNED
    case MEMGOV_DTYPE_FLOAT64:
        mg_kernels_active()->scan_f64(src, n, &s);
        if (!s.f32_exact && (opts->abs_tolerance > 0 || opts->rel_tolerance > 0)) {
            bool fit = true;
            for (size_t i = 0; i < n && fit; i++)
                fit = f32_within(MG_LOAD(double, src, i), opts);
            s.f32_exact = fit;
        }
        break;
    case MEMGOV_DTYPE_FLOAT32:
        for (size_t i = 0; i < n; i++)
            scan_one(&s, MG_LOAD(float, src, i));
        break;
    case MEMGOV_DTYPE_FLOAT16:
        for (size_t i = 0; i < n; i++)
            scan_one(&s, mg_half_to_double(MG_LOAD(uint16_t, src, i)));
        break;
    default:
        break;
    }
    st->imin = lo < st->imin ? lo : st->imin;
    st->imax = hi > st->imax ? hi : st->imax;
    st->umin = ulo < st->umin ? ulo : st->umin;
    st->umax = uhi > st->umax ? uhi : st->umax;
    merge_scan(&st->f, &s);
}

/* The narrowest integer dtype of at most max_size bytes for [lo, hi]; signed first at each width, unsigned (when
 * allowed and lo >= 0) next. neg: lo is negative (then lo_s is its value). INVALID if none fits. */
static memgov_dtype int_target(bool neg, int64_t lo_s, uint64_t hi, bool hi_neg, int64_t hi_s, bool allow_u,
                               size_t max_size)
{
    static const memgov_dtype s[] = {MEMGOV_DTYPE_INT8, MEMGOV_DTYPE_INT16, MEMGOV_DTYPE_INT32, MEMGOV_DTYPE_INT64};
    static const memgov_dtype u[] = {MEMGOV_DTYPE_UINT8, MEMGOV_DTYPE_UINT16, MEMGOV_DTYPE_UINT32,
                                     MEMGOV_DTYPE_UINT64};
    for (unsigned k = 0; k < 4; k++) {
        size_t w = (size_t)1 << k;
        if (w > max_size)
            break;
        unsigned bits = 8u * (unsigned)w;
        int64_t smax = (int64_t)((UINT64_C(1) << (bits - 1)) - 1), smin = -smax - 1;
        uint64_t umax = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
        bool lo_ok_s = !neg || lo_s >= smin;
        bool hi_ok_s = hi_neg ? hi_s >= smin : hi <= (uint64_t)smax;
        if (lo_ok_s && hi_ok_s)
            return s[k];
        if (allow_u && !neg && !hi_neg && hi <= umax)
            return u[k];
    }
    return MEMGOV_DTYPE_INVALID;
}

static memgov_dtype signed_target(int64_t lo, int64_t hi, bool allow_u, size_t max_size)
{
    return int_target(lo < 0, lo, hi < 0 ? 0 : (uint64_t)hi, hi < 0, hi, allow_u, max_size);
}

memgov_dtype mg_kstate_target(const mg_kstate *st, const memgov_kernels_downcast_options *opts)
{
    memgov_dtype from = st->from;
    bool allow_u = (opts->flags & MEMGOV_DOWNCAST_UNSIGNED) != 0;
    size_t size = memgov_dtype_size(from);
    if (from == MEMGOV_DTYPE_BOOL)
        return from;
    if (!mg_dtype_is_float(from)) {
        if (st->count == 0)
            return MEMGOV_DTYPE_INT8;
        memgov_dtype t = mg_dtype_is_unsigned(from)
                             ? int_target(false, 0, st->umax, false, 0, allow_u, size)
                             : signed_target(st->imin, st->imax, allow_u, size);
        return t == MEMGOV_DTYPE_INVALID ? from : t;
    }
    memgov_dtype ft = from;
    if (from == MEMGOV_DTYPE_FLOAT64 && st->f.f32_exact && !(opts->flags & MEMGOV_DOWNCAST_KEEP_FLOAT64))
        ft = MEMGOV_DTYPE_FLOAT32;
    if ((opts->flags & MEMGOV_DOWNCAST_FLOAT_TO_INT) && st->f.integral && st->count > st->f.nan) {
        memgov_dtype it = MEMGOV_DTYPE_INVALID;
        double lo = st->f.min, hi = st->f.max;
        if (lo >= -0x1p63 && hi < 0x1p63)
            it = signed_target((int64_t)lo, (int64_t)hi, allow_u, 8);
        else if (lo >= 0 && hi < 0x1p64)
            it = int_target(false, 0, (uint64_t)hi, false, 0, allow_u, 8);
        if (it != MEMGOV_DTYPE_INVALID && memgov_dtype_size(it) < memgov_dtype_size(ft))
            return it;
    }
    return ft;
}

memgov_status mg_kstate_plan_out(const mg_kstate *st, memgov_dtype to, memgov_kernels_downcast_plan *plan)
{
    memgov_kernels_downcast_plan p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.from = st->from;
    p.to = to;
    p.count = st->count;
    p.min = p.max = NAN;
    if (mg_dtype_is_float(st->from)) {
        p.nan_count = st->f.nan;
        if (st->count > st->f.nan) {
            p.min = st->f.min;
            p.max = st->f.max;
        }
    } else if (st->count > 0 && mg_dtype_is_unsigned(st->from)) {
        p.uint_min = st->umin;
        p.uint_max = st->umax;
        p.min = (double)st->umin;
        p.max = (double)st->umax;
    } else if (st->count > 0) {
        p.int_min = st->imin;
        p.int_max = st->imax;
        p.min = (double)st->imin;
        p.max = (double)st->imax;
    }
    p.bytes_from = st->count * memgov_dtype_size(st->from);
    p.bytes_to = st->count * memgov_dtype_size(to);
    p.bytes_saved = p.bytes_from - p.bytes_to;
    return mg_struct_out(plan, &p, sizeof p, "memgov_kernels_downcast_plan");
}

/* Common argument checks of the downcast calls: dtype known, src given, count * size without overflow. */
memgov_status mg_kcheck_column(const char *what, const void *src, memgov_dtype from, size_t count);
memgov_status mg_kcheck_column(const char *what, const void *src, memgov_dtype from, size_t count)
{
    if (!mg_dtype_known(from))
        return mg_fail(MEMGOV_EINVAL, "%s: unknown dtype %d", what, (int)from);
    if (src == NULL && count > 0)
        return mg_fail(MEMGOV_EINVAL, "%s: src is NULL with count %zu", what, count);
    if (count > SIZE_MAX / 8)
        return mg_fail(MEMGOV_EOVERFLOW, "%s: count %zu exceeds SIZE_MAX / 8 = %zu (the bytes of the widest "
                       "element type would overflow size_t)", what, count, SIZE_MAX / 8);
    return MEMGOV_OK;
}

/* The parallel scan of a plan: worker w scans one contiguous run into states[w]. */
typedef struct parallel_scan {
    const unsigned char *src;
    size_t elem;
    const memgov_kernels_downcast_options *opts;
    mg_kstate *states;
    unsigned nstates;
} parallel_scan;

static memgov_status scan_run(uint64_t b, uint64_t e, unsigned worker, void *ctx)
{
    parallel_scan *p = ctx;
    if (worker >= p->nstates)
        return mg_fail(MEMGOV_ESTATE, "memgov_kernels_plan_downcast: the lease grew during the call (worker %u of "
                       "%u)", worker, p->nstates);
    mg_kstate_scan(&p->states[worker], p->src + b * p->elem, (size_t)(e - b), p->opts);
    return MEMGOV_OK;
}

/* Scans on the options' lease: the runs are in index order by worker, so merging them in worker order gives what
 * one scan gives. A lease of one thread (or a released one, which the loop refuses) needs one state; when the
 * states of several cannot be allocated, the calling thread scans alone. */
static memgov_status scan_leased(mg_kstate *s, const unsigned char *src, size_t count,
                                 const memgov_kernels_downcast_options *o)
{
    unsigned n = memgov_threads_count(o->lease);
    mg_kstate one;
    parallel_scan p = {src, memgov_dtype_size(s->from), o, n > 1 ? calloc(n, sizeof(mg_kstate)) : &one, n > 1 ? n : 1};
    if (p.states == NULL) {
        mg_kstate_scan(s, src, count, o);
        return MEMGOV_OK;
    }
    for (unsigned w = 0; w < p.nstates; w++)
        mg_kstate_init(&p.states[w], s->from);
    memgov_status st = memgov_parallel_for_static(o->lease, count, 0, scan_run, &p);
    for (unsigned w = 0; w < p.nstates && st == MEMGOV_OK; w++)
        mg_kstate_merge(s, &p.states[w]);
    if (p.states != &one)
        free(p.states);
    return st;
}

void mg_kstate_merge(mg_kstate *into, const mg_kstate *st)
{
    into->count += st->count;
    into->imin = st->imin < into->imin ? st->imin : into->imin;
    into->imax = st->imax > into->imax ? st->imax : into->imax;
    into->umin = st->umin < into->umin ? st->umin : into->umin;
    into->umax = st->umax > into->umax ? st->umax : into->umax;
    merge_scan(&into->f, &st->f);
}

MEMGOV_API memgov_status memgov_kernels_plan_downcast(const void *src, memgov_dtype from, size_t count,
                                                      const memgov_kernels_downcast_options *opts,
                                                      memgov_kernels_downcast_plan *plan)
{
    static const char what[] = "memgov_kernels_plan_downcast";
    if (plan == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: plan is NULL", what);
    memgov_kernels_downcast_options o;
    memgov_status st = mg_kcheck_column(what, src, from, count);
    if (st == MEMGOV_OK)
        st = mg_kdowncast_opts(&o, opts, what);
    if (st != MEMGOV_OK)
        return st;
    mg_kstate s;
    mg_kstate_init(&s, from);
    if (o.lease != NULL && count > 1) {
        if ((st = scan_leased(&s, src, count, &o)) != MEMGOV_OK)
            return st;
    } else {
        mg_kstate_scan(&s, src, count, &o);
    }
    return mg_kstate_plan_out(&s, mg_kstate_target(&s, &o), plan);
}
