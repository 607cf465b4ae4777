/* The one sizing formula (plan.h), shared by the configuration's recommendations and the chunk planner. */
#include <math.h>

#include "internal/error.h"
#include "internal/plan.h"

static const double mode_share[MEMGOV_MODE_COUNT_] = {
    [MEMGOV_MODE_NORMAL] = 1.0,
    [MEMGOV_MODE_LIGHT] = 0.5,
    [MEMGOV_MODE_MINIMAL] = 0.25,
};

double mg_mode_share(memgov_mode mode)
{
    return (unsigned)mode < MEMGOV_MODE_COUNT_ ? mode_share[mode] : 1.0;
}

const char *mg_plan_bound_name(mg_plan_bound bound)
{
    static const char *const names[] = {"memory", "min", "max", "total"};
    return (unsigned)bound < sizeof names / sizeof names[0] ? names[bound] : "invalid";
}

memgov_status mg_plan_items(const mg_plan_in *in, mg_plan_out *out)
{
    if (in->item_bytes == 0)
        return mg_fail(MEMGOV_EINVAL, "chunk plan: item_bytes is 0; give the bytes of one item (>= 1)");
    if (in->in_flight == 0)
        return mg_fail(MEMGOV_EINVAL, "chunk plan: in_flight is 0; at least one chunk is held at a time");
    if (!(in->share > 0.0 && in->share <= 1.0))
        return mg_fail(MEMGOV_EINVAL, "chunk plan: share %g is outside (0, 1]", in->share);
    if (!(in->copies >= 1.0) || isinf(in->copies))
        return mg_fail(MEMGOV_EINVAL, "chunk plan: working-set factor %g is below 1 or not finite", in->copies);
    if (in->min == 0)
        return mg_fail(MEMGOV_EINVAL, "chunk plan: min_items is 0; a chunk holds at least one item");
    if (in->max != 0 && in->max < in->min)
        return mg_fail(MEMGOV_EINVAL, "chunk plan: max_items %llu is below min_items %llu",
                       (unsigned long long)in->max, (unsigned long long)in->min);
    /* ceil(item_bytes * copies) in exact integer arithmetic when copies is whole, else in long double. */
    uint64_t unit;
    if (in->copies == floor(in->copies) && in->copies <= (double)UINT64_MAX / 2) {
        uint64_t c = (uint64_t)in->copies;
        if (__builtin_mul_overflow(in->item_bytes, c, &unit))
            return mg_fail(MEMGOV_EOVERFLOW, "chunk plan: item_bytes %llu x working-set factor %g overflows 64 bits",
                           (unsigned long long)in->item_bytes, in->copies);
    } else {
        long double u = ceill((long double)in->item_bytes * in->copies);
        if (u >= 18446744073709551615.0L)
            return mg_fail(MEMGOV_EOVERFLOW, "chunk plan: item_bytes %llu x working-set factor %g overflows 64 bits",
                           (unsigned long long)in->item_bytes, in->copies);
        unit = (uint64_t)u;
    }
    uint64_t bytes = in->share >= 1.0 ? in->bytes : (uint64_t)((long double)in->bytes * in->share);
    uint64_t items = bytes / in->in_flight / unit;
    if (in->align > 1 && items >= in->align)
        items -= items % in->align;
    mg_plan_bound bound = MG_PLAN_BY_MEMORY;
    if (in->max != 0 && items > in->max) {
        items = in->max;
        bound = MG_PLAN_BY_MAX;
    }
    if (items < in->min) {
        items = in->min;
        bound = MG_PLAN_BY_MIN;
    }
    if (in->total != 0 && in->total < items) {
        items = in->total;
        bound = MG_PLAN_BY_TOTAL;
    }
    out->items = items;
    out->chunks = in->total == 0 ? 0 : in->total / items + (in->total % items != 0);
    out->unit_bytes = unit;
    out->bound = bound;
    return MEMGOV_OK;
}
