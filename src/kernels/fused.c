/* The fused downcast: plan and convert block by block in one pass over memory, widening what was written when a
 * later block needs a wider dtype. */
#include "internal/error.h"
#include "kernels/kernels_internal.h"

memgov_status mg_kcheck_column(const char *what, const void *src, memgov_dtype from, size_t count);
memgov_status mg_kwiden_in_place(unsigned char *buf, memgov_dtype from, size_t n, memgov_dtype to,
                                 const memgov_kernels_downcast_options *opts);

/* Elements per block: 512 KiB of int64/float64, scanned then converted while it is still in cache. */
#define FUSED_BLOCK ((size_t)64 * 1024)

MEMGOV_API memgov_status memgov_kernels_downcast(const void *src, memgov_dtype from, size_t count, void *dst,
                                                 const memgov_kernels_downcast_options *opts,
                                                 memgov_kernels_downcast_plan *plan)
{
    static const char what[] = "memgov_kernels_downcast";
    if (plan == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: plan is NULL", what);
    memgov_status st = mg_kcheck_column(what, src, from, count);
    if (st != MEMGOV_OK)
        return st;
    if (dst == NULL && count > 0)
        return mg_fail(MEMGOV_EINVAL, "%s: dst is NULL with count %zu", what, count);
    size_t fs = memgov_dtype_size(from);
    uintptr_t s = (uintptr_t)src, d = (uintptr_t)dst;
    if (count > 0 && dst != src && s < d + count * fs && d < s + count * fs)
        return mg_fail(MEMGOV_EINVAL, "%s: src and dst overlap without being the same buffer", what);
    memgov_kernels_downcast_options o;
    if ((st = mg_kdowncast_opts(&o, opts, what)) != MEMGOV_OK)
        return st;
    const unsigned char *in = src;
    unsigned char *out = dst;
    mg_kstate state;
    mg_kstate_init(&state, from);
    memgov_dtype cur = MEMGOV_DTYPE_INVALID;
    for (size_t b = 0; b < count; b += FUSED_BLOCK) {
        size_t n = count - b < FUSED_BLOCK ? count - b : FUSED_BLOCK;
        mg_kstate_scan(&state, in + b * fs, n, &o);
        memgov_dtype to = mg_kstate_target(&state, &o);
        if (cur != MEMGOV_DTYPE_INVALID && to != cur) {
            /* The dtype only ever moves to one at least as wide (the feasible set shrinks), so the prefix widens
             * in place back to front, or is converted again from the intact source. */
            st = out == in ? mg_kwiden_in_place(out, cur, b, to, &o) : mg_kconvert(in, from, b, out, to, &o, NULL);
            if (st != MEMGOV_OK)
                return mg_fail(MEMGOV_EINTERNAL, "%s: widening %zu elements from %s to %s failed: %s", what, b,
                               memgov_dtype_name(cur), memgov_dtype_name(to), memgov_last_error());
        }
        cur = to;
        st = mg_kconvert(in + b * fs, from, n, out + b * memgov_dtype_size(to), to, &o, NULL);
        if (st != MEMGOV_OK)
            return mg_fail(MEMGOV_EINTERNAL, "%s: block at %zu does not fit its own plan (%s): %s", what, b,
                           memgov_dtype_name(to), memgov_last_error());
    }
    return mg_kstate_plan_out(&state, mg_kstate_target(&state, &o), plan);
}
