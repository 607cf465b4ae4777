/* Chunk planner: how many rows of 512 bytes to read at a time, when parsing holds three copies of a chunk and two
 * chunks are in flight, under a budget of 64 MiB; then the same plan in LIGHT mode. Build: see
 * examples/meson.build. */
#include <stdio.h>

#include "memgov.h"
#include "memgov/chunk.h"

int main(void)
{
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    memgov_budget *etl = NULL;
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "etl";
    bo.hard_limit = 64u << 20;
    if (memgov_open(&go, &gov) != MEMGOV_OK || memgov_budget_create(memgov_root(gov), &bo, &etl) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    memgov_chunk_plan_options o;
    memgov_chunk_plan_options_init(&o);
    o.item_bytes = 512;       /* one row */
    o.working_set = 3;        /* the bytes, the parsed columns, the frame */
    o.in_flight = 2;          /* one parsed while the next one is read */
    o.total_items = 1000000;  /* rows in the file */
    o.budget = etl;
    o.config = memgov_governor_config(gov); /* its mode, its chunk.rows_min / rows_max */
    memgov_chunk_plan p = {.struct_size = sizeof p};
    if (memgov_chunk_plan_compute(&o, &p) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    printf("normal: %llu rows per chunk, %llu chunks\n  %s\n", (unsigned long long)p.items,
           (unsigned long long)p.chunks, p.reason);
    memgov_fallback_pin(memgov_governor_fallback(gov), MEMGOV_MODE_LIGHT); /* as under memory pressure */
    memgov_chunk_plan light = {.struct_size = sizeof light};
    if (memgov_chunk_plan_compute(&o, &light) != MEMGOV_OK || light.items * 2 > p.items + 1) {
        fprintf(stderr, "LIGHT should plan half the rows: %s\n", memgov_last_error());
        return 1;
    }
    printf("light:  %llu rows per chunk, %llu chunks\n  %s\n", (unsigned long long)light.items,
           (unsigned long long)light.chunks, light.reason);
    memgov_budget_destroy(etl);
    memgov_close(gov);
    return 0;
}
