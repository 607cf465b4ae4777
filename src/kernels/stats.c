/* Streaming statistics: blocks of up to MG_KBLOCK values are summarised by the variant (sum, min, max, NaN count,
 * m2 about the block mean, two passes over the block while it is in L1) and folded into the accumulator with Chan
 * et al.'s pairwise update, which for a block of one value is Welford's update; the sum is Neumaier-compensated. */
#include <math.h>

#include "internal/error.h"
#include "internal/structsize.h"
#include "kernels/kernels_internal.h"

MEMGOV_API void memgov_kernels_accumulator_init(memgov_kernels_accumulator *acc)
{
    if (!mg_struct_init(acc, sizeof *acc))
        return;
    acc->min = acc->max = NAN;
}

static memgov_status check_acc(const memgov_kernels_accumulator *acc, const char *what, const char *name)
{
    if (acc == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: %s is NULL", what, name);
    if (acc->struct_size != sizeof *acc)
        return mg_fail(MEMGOV_EINVAL, "%s: %s has struct_size %zu, expected %zu (call "
                       "memgov_kernels_accumulator_init first)", what, name, acc->struct_size, sizeof *acc);
    return MEMGOV_OK;
}

/* Neumaier: adds x to (sum, c). */
static void comp_add(double *sum, double *c, double x)
{
    double t = *sum + x;
    if (!isfinite(t)) { /* inf or NaN: the compensation has no meaning any more */
        *sum = t;
        return;
    }
    if (fabs(*sum) >= fabs(x))
        *c += (*sum - t) + x;
    else
        *c += (x - t) + *sum;
    *sum = t;
}

/* Chan et al.: folds (n, mean, m2, min, max) of another part into acc. */
static void chan(memgov_kernels_accumulator *acc, uint64_t n, double mean, double m2, double lo, double hi)
{
    if (n == 0)
        return;
    if (acc->count == 0) {
        acc->count = n;
        acc->mean = mean;
        acc->m2 = m2;
        acc->min = lo;
        acc->max = hi;
        return;
    }
    double na = (double)acc->count, nb = (double)n, nt = na + nb;
    double delta = mean - acc->mean;
    acc->mean += delta * (nb / nt);
    acc->m2 += m2 + delta * delta * (na * nb / nt);
    acc->count += n;
    acc->min = lo < acc->min ? lo : acc->min;
    acc->max = hi > acc->max ? hi : acc->max;
}

static void fold_block(memgov_kernels_accumulator *acc, const mg_kblock *b)
{
    acc->nan_count += b->nan;
    if (b->n == 0)
        return;
    comp_add(&acc->sum, &acc->sum_c, b->sum);
    chan(acc, b->n, b->ssum / (double)b->n, b->m2, b->min, b->max);
}

MEMGOV_API memgov_status memgov_kernels_accumulate(memgov_kernels_accumulator *acc, const void *data,
                                                   memgov_dtype dtype, size_t count)
{
    static const char what[] = "memgov_kernels_accumulate";
    memgov_status st = check_acc(acc, what, "acc");
    if (st != MEMGOV_OK)
        return st;
    if (!mg_dtype_known(dtype))
        return mg_fail(MEMGOV_EINVAL, "%s: unknown dtype %d", what, (int)dtype);
    if (data == NULL && count > 0)
        return mg_fail(MEMGOV_EINVAL, "%s: data is NULL with count %zu", what, count);
    if (count > SIZE_MAX / 8)
        return mg_fail(MEMGOV_EOVERFLOW, "%s: count %zu exceeds SIZE_MAX / 8", what, count);
    const mg_kernels_variant *v = mg_kernels_active();
    const unsigned char *p = data;
    size_t size = memgov_dtype_size(dtype);
    double buf[MG_KBLOCK];
    for (size_t b = 0; b < count; b += MG_KBLOCK) {
        size_t n = count - b < MG_KBLOCK ? count - b : MG_KBLOCK;
        const unsigned char *q = p + b * size;
        const void *block = q;
        switch (dtype) {
#define TO_DOUBLE(type)                                                                                            \
    for (size_t i = 0; i < n; i++)                                                                                 \
        buf[i] = (double)MG_LOAD(type, q, i);                                                                      \
    block = buf;                                                                                                   \
    break
        case MEMGOV_DTYPE_INT8: TO_DOUBLE(int8_t);
        case MEMGOV_DTYPE_INT16: TO_DOUBLE(int16_t);
        case MEMGOV_DTYPE_INT32: TO_DOUBLE(int32_t);
        case MEMGOV_DTYPE_INT64: TO_DOUBLE(int64_t);
        case MEMGOV_DTYPE_UINT8: TO_DOUBLE(uint8_t);
        case MEMGOV_DTYPE_UINT16: TO_DOUBLE(uint16_t);
        case MEMGOV_DTYPE_UINT32: TO_DOUBLE(uint32_t);
        case MEMGOV_DTYPE_UINT64: TO_DOUBLE(uint64_t);
        case MEMGOV_DTYPE_BOOL: TO_DOUBLE(uint8_t);
        case MEMGOV_DTYPE_FLOAT32: TO_DOUBLE(float);
#undef TO_DOUBLE
        case MEMGOV_DTYPE_FLOAT16:
            for (size_t i = 0; i < n; i++)
                buf[i] = mg_half_to_double(MG_LOAD(uint16_t, q, i));
            block = buf;
            break;
        default: /* float64: the data itself */
            break;
        }
        if (acc->count == 0) { /* a new frame: the first finite value of this block */
            acc->shift = 0;
            for (size_t i = 0; i < n; i++) {
                double x = MG_LOAD(double, block, i);
                if (isfinite(x)) {
                    acc->shift = fabs(x) <= 0x1p1000 ? x : 0;
                    break;
                }
            }
        }
        mg_kblock blk;
        v->block_f64(block, n, acc->shift, &blk);
        fold_block(acc, &blk);
    }
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_kernels_accumulator_merge(memgov_kernels_accumulator *acc,
                                                          const memgov_kernels_accumulator *other)
{
    static const char what[] = "memgov_kernels_accumulator_merge";
    memgov_status st = check_acc(acc, what, "acc");
    if (st == MEMGOV_OK)
        st = check_acc(other, what, "other");
    if (st != MEMGOV_OK)
        return st;
    acc->nan_count += other->nan_count;
    if (other->count == 0)
        return MEMGOV_OK;
    comp_add(&acc->sum, &acc->sum_c, other->sum);
    comp_add(&acc->sum, &acc->sum_c, other->sum_c);
    if (acc->count == 0)
        acc->shift = other->shift;
    chan(acc, other->count, other->mean + (other->shift - acc->shift), other->m2, other->min, other->max);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_kernels_accumulator_result(const memgov_kernels_accumulator *acc,
                                                           memgov_kernels_summary *out)
{
    static const char what[] = "memgov_kernels_accumulator_result";
    memgov_status st = check_acc(acc, what, "acc");
    if (st != MEMGOV_OK)
        return st;
    memgov_kernels_summary r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.count = acc->count;
    r.nan_count = acc->nan_count;
    r.min = r.max = r.mean = r.var = r.var_sample = r.std = NAN;
    if (acc->count > 0) {
        r.min = acc->min;
        r.max = acc->max;
        r.mean = acc->shift + acc->mean;
        r.var = acc->m2 / (double)acc->count;
        r.std = sqrt(r.var);
        r.sum = acc->sum + acc->sum_c;
        /* An infinite value makes the sum (and so the mean) infinite or NaN exactly as in numpy. */
        if (!isfinite(r.sum))
            r.mean = r.sum;
        else if (!isfinite(r.mean)) /* x - shift overflowed: values near +-DBL_MAX */
            r.mean = r.sum / (double)acc->count;
        if (acc->count > 1)
            r.var_sample = acc->m2 / (double)(acc->count - 1);
    }
    return mg_struct_out(out, &r, sizeof r, "memgov_kernels_summary");
}

MEMGOV_API memgov_status memgov_kernels_describe(const void *data, memgov_dtype dtype, size_t count,
                                                 memgov_kernels_summary *out)
{
    memgov_kernels_accumulator acc;
    memgov_kernels_accumulator_init(&acc);
    memgov_status st = memgov_kernels_accumulate(&acc, data, dtype, count);
    return st != MEMGOV_OK ? st : memgov_kernels_accumulator_result(&acc, out);
}
