/* memgov_chunk_plan_compute(): items per chunk from a budget's headroom or a byte target, with the library's one
 * sizing formula (src/internal/plan.h). */
#include <stdio.h>
#include <string.h>

#include "internal/error.h"
#include "internal/plan.h"
#include "internal/structsize.h"
#include "memgov/chunk.h"

MEMGOV_API void memgov_chunk_plan_options_init(memgov_chunk_plan_options *o)
{
    mg_struct_init(o, sizeof *o);
}

/* The smallest headroom over budget and its ancestors: below the soft limit while it is not crossed, else below
 * the hard limit. *limited is 0 when no level has a limit. MEMGOV_ENOMEM (message naming the level) when a level
 * is at or above its hard limit. */
static memgov_status budget_headroom(memgov_budget *budget, uint64_t *headroom, const char **who, int *limited)
{
    *limited = 0;
    *headroom = UINT64_MAX;
    *who = memgov_budget_name(budget);
    for (memgov_budget *b = budget; b != NULL; b = memgov_budget_parent(b)) {
        memgov_budget_stats s = {.struct_size = sizeof s};
        memgov_status st = memgov_budget_get_stats(b, &s);
        if (st != MEMGOV_OK)
            return st;
        uint64_t room = UINT64_MAX;
        if (s.hard_limit != 0) {
            if (s.used >= s.hard_limit) {
                char used[24], lim[24];
                memgov_format_bytes(s.used, used, sizeof used);
                memgov_format_bytes(s.hard_limit, lim, sizeof lim);
                return mg_fail(MEMGOV_ENOMEM, "chunk plan: budget '%s' has no headroom: use %s, hard limit %s",
                               memgov_budget_name(b), used, lim);
            }
            room = s.hard_limit - s.used;
        }
        if (s.soft_limit != 0 && s.used < s.soft_limit && s.soft_limit - s.used < room)
            room = s.soft_limit - s.used;
        if (room != UINT64_MAX)
            *limited = 1;
        if (room < *headroom) {
            *headroom = room;
            *who = memgov_budget_name(b);
        }
    }
    return MEMGOV_OK;
}

/* chunk.rows_min / chunk.rows_max as defaults of min_items / max_items. */
static memgov_status config_bounds(const memgov_config *cfg, uint64_t *min, uint64_t *max)
{
    memgov_status st = MEMGOV_OK;
    if (*min == 0)
        st = memgov_config_get_unsigned(cfg, "chunk.rows_min", min);
    if (st == MEMGOV_OK && *max == 0)
        st = memgov_config_get_unsigned(cfg, "chunk.rows_max", max);
    if (st == MEMGOV_OK && *max != 0 && *min > *max)
        *max = *min; /* the keys are bounded separately; the recommendations resolve this the same way */
    return st;
}

MEMGOV_API memgov_status memgov_chunk_plan_compute(const memgov_chunk_plan_options *opts, memgov_chunk_plan *out)
{
    if (opts == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_chunk_plan_compute: %s is NULL", opts == NULL ? "opts" : "out");
    if (out->struct_size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "memgov_chunk_plan_compute: out->struct_size is %zu; set it to sizeof "
                       "the struct", out->struct_size);
    memgov_chunk_plan_options o;
    memgov_chunk_plan_options_init(&o);
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_chunk_plan_options");
    if (st != MEMGOV_OK)
        return st;
    if (o.budget == NULL && o.target_bytes == 0)
        return mg_fail(MEMGOV_EINVAL, "memgov_chunk_plan_compute: give a budget or a target_bytes to plan from");
    if (o.config != NULL && (st = config_bounds(o.config, &o.min_items, &o.max_items)) != MEMGOV_OK)
        return st;

    uint64_t memory = o.target_bytes != 0 ? o.target_bytes : UINT64_MAX;
    char source[96];
    snprintf(source, sizeof source, "target");
    if (o.budget != NULL) {
        uint64_t room;
        const char *who;
        int limited;
        if ((st = budget_headroom(o.budget, &room, &who, &limited)) != MEMGOV_OK)
            return st;
        if (!limited && o.target_bytes == 0)
            return mg_fail(MEMGOV_ESTATE, "memgov_chunk_plan_compute: budget '%s' and its ancestors have no "
                           "limit and target_bytes is 0: nothing to plan from", memgov_budget_name(o.budget));
        if (limited && room < memory) {
            memory = room;
            snprintf(source, sizeof source, "headroom of budget '%.60s'", who);
        }
    }
    memgov_mode mode = o.config != NULL ? memgov_config_mode(o.config) : MEMGOV_MODE_NORMAL;
    mg_plan_in in = {
        .bytes = memory,
        .share = mg_mode_share(mode),
        .in_flight = o.in_flight != 0 ? o.in_flight : 1,
        .item_bytes = o.item_bytes,
        .copies = o.working_set != 0 ? o.working_set : 1.0,
        .min = o.min_items != 0 ? o.min_items : 1,
        .max = o.max_items,
        .align = o.align_items,
        .total = o.total_items,
    };
    mg_plan_out p;
    if ((st = mg_plan_items(&in, &p)) != MEMGOV_OK)
        return st;

    memgov_chunk_plan r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.items = p.items;
    r.chunks = p.chunks;
    r.chunk_bytes = __builtin_mul_overflow(p.items, p.unit_bytes, &r.chunk_bytes) ? UINT64_MAX : r.chunk_bytes;
    r.memory_bytes = in.share >= 1.0 ? memory : (uint64_t)((long double)memory * in.share);
    r.mode = mode;
    r.over_memory = r.chunk_bytes > r.memory_bytes / in.in_flight;
    char mem_text[24];
    memgov_format_bytes(memory, mem_text, sizeof mem_text);
    int n = snprintf(r.reason, sizeof r.reason, "%s %s x %g (%s mode) / %llu in flight / %llu B per item (%llu B x %g) "
             "= %llu items (%s decides)", mem_text, source, in.share, memgov_mode_name(mode),
             (unsigned long long)in.in_flight, (unsigned long long)p.unit_bytes, (unsigned long long)o.item_bytes,
             in.copies, (unsigned long long)p.items, mg_plan_bound_name(p.bound));
    if (n >= (int)sizeof r.reason) /* a long budget name: mark the cut */
        memcpy(r.reason + sizeof r.reason - 4, "...", 4);
    return mg_struct_out(out, &r, sizeof r, "memgov_chunk_plan");
}
