/* Internal: the one sizing formula of memgov. The configuration's recommendations (src/config/recommend.c) and
 * the chunk planner (src/chunk/plan.c) both call it, so a chunk recommended by the configuration and a chunk
 * planned from a budget of the same size are the same number of items.
 *
 *     items = bytes * share / (in_flight * ceil(item_bytes * copies))
 *
 * rounded down to a multiple of align, then bounded by min and max (min wins), then by the total when known;
 * chunks = ceil(total / items). */
#ifndef MG_INTERNAL_PLAN_H
#define MG_INTERNAL_PLAN_H

#include <stdint.h>

#include "memgov/common.h"

/* The share of the memory plan each fallback mode keeps (NORMAL 1, LIGHT 1/2, MINIMAL 1/4): a lighter mode
 * plans with less memory, so threads, batches and chunks all shrink with it. 1.0 for an unknown mode. */
double mg_mode_share(memgov_mode mode);

typedef struct mg_plan_in {
    uint64_t bytes;      /* memory the chunks in flight may take together */
    double share;        /* fraction of `bytes` to plan with (mg_mode_share()); 0 < share <= 1 */
    uint64_t in_flight;  /* chunks held at once (workers x chunks per worker); >= 1 */
    uint64_t item_bytes; /* bytes of one item; >= 1 */
    double copies;       /* working-set factor: copies of its input a step holds; >= 1 (1 = none) */
    uint64_t min, max;   /* items per chunk: min >= 1, max >= min (0 = no maximum) */
    uint64_t align;      /* items per chunk is a multiple of it when memory decides (0 or 1 = none) */
    uint64_t total;      /* items in all; 0 = unknown */
} mg_plan_in;

/* What decided the number of items. */
typedef enum mg_plan_bound {
    MG_PLAN_BY_MEMORY = 0, /* the formula */
    MG_PLAN_BY_MIN = 1,    /* the formula gave fewer than min: min (the chunk may need more than `bytes`) */
    MG_PLAN_BY_MAX = 2,    /* the formula gave more than max */
    MG_PLAN_BY_TOTAL = 3,  /* the data holds fewer items than the chunk could */
} mg_plan_bound;

typedef struct mg_plan_out {
    uint64_t items;      /* items per chunk, >= 1 */
    uint64_t chunks;     /* ceil(total / items); 0 when total is 0 */
    uint64_t unit_bytes; /* ceil(item_bytes * copies): the memory one item takes while it is processed */
    mg_plan_bound bound;
} mg_plan_out;

/* Applies the formula. Errors (message names the value): MEMGOV_EINVAL (item_bytes 0, in_flight 0, share or
 * copies out of range, min 0, max below min), MEMGOV_EOVERFLOW (item_bytes * copies beyond 64 bits). */
memgov_status mg_plan_items(const mg_plan_in *in, mg_plan_out *out);

/* A short name of the bound for one-line reasons: "memory", "min", "max", "total". */
const char *mg_plan_bound_name(mg_plan_bound bound);

#endif
