/* memgov_config_recommend(): memory fraction, threads, batch size and chunk rows from the machine and the data,
 * in four named steps (recommend_memory, recommend_threads, recommend_batch, recommend_chunk), each writing its
 * number and its one-line reason. The mode's share of the plan and the chunk formula are the library's one
 * sizing formula (src/internal/plan.h), which the chunk planner (memgov/chunk.h) uses too.
 * The seeds' tier table (<=8 GiB: batch 20-30, 4-6 threads, 85 %; 16 GiB: 60-80, 8-12, 90-92 %; >=32 GiB:
 * 100-120, 12-16, 95 %) is the sanity anchor the unit tests check; the numbers come from the formulas below. */
#include <stdio.h>
#include <string.h>

#include "config/config_internal.h"
#include "internal/error.h"
#include "internal/plan.h"
#include "internal/structsize.h"

#define GiB (1024.0 * 1024.0 * 1024.0)
#define RESERVE_BYTES (1.25 * GiB)  /* left to the OS, the page cache and other processes */
#define ITEMS_PER_WORKER 7          /* more batch items than this per worker only adds latency */
#define CHUNKS_PER_WORKER 4         /* chunks in flight per worker: one in use, others loading or spilling */
#define LARGE_DATA (1.0 * GiB)      /* from this data size on, settings are a quarter lighter */
#define DEFAULT_ROW_BYTES 1024

/* What the steps read: the machine, the data and the configuration's bounds (one consistent snapshot). */
typedef struct inputs {
    uint64_t memory;      /* effective memory, bytes */
    uint64_t cores;       /* usable CPUs, >= 1 */
    uint64_t data_bytes;  /* 0 = unknown */
    uint64_t row_bytes;   /* >= 1 */
    int large;            /* data_bytes >= LARGE_DATA */
    memgov_mode mode;
    uint64_t per_worker, tmin, tmax, item, bmin, bmax, rmin, rmax;
} inputs;

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A key's current value as a number (sizes in bytes); 0 when the key is missing. Called with cfg->lock held. */
static uint64_t get_u(const memgov_config *cfg, const char *key)
{
    uint64_t v = 0;
    const mg_entry *e = mg_config_find(cfg, key);
    if (e != NULL) {
        const mg_slot *s = mg_config_current(cfg, e);
        if (e->type == MEMGOV_CONFIG_SIZE)
            mg_size_bytes(&s->v, cfg->effective, &v);
        else
            v = s->v.u;
    }
    return v;
}

static memgov_status read_inputs(const memgov_config *cfg, const memgov_probe *probe, uint64_t data_bytes,
                                 uint64_t row_bytes, inputs *in)
{
    memgov_probe p = {.struct_size = sizeof p};
    if (probe == NULL) {
        memgov_probe_options opts;
        memgov_probe_options_init(&opts);
        opts.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
        memgov_probe_read(&opts, &p);
    } else {
        memgov_status st = mg_struct_in(&p, sizeof p, probe, "memgov_probe");
        if (st != MEMGOV_OK)
            return st;
    }
    if (p.effective_memory == 0)
        return mg_fail(MEMGOV_ESTATE, "cannot recommend settings: the effective memory is unknown");
    in->memory = p.effective_memory;
    in->cores = p.usable_cpus > 0 ? p.usable_cpus : 1;
    in->data_bytes = data_bytes;
    in->row_bytes = row_bytes > 0 ? row_bytes : DEFAULT_ROW_BYTES;
    in->large = (double)data_bytes >= LARGE_DATA;
    pthread_mutex_lock(&((memgov_config *)cfg)->lock);
    in->mode = cfg->mode;
    in->per_worker = get_u(cfg, "threads.bytes_per_worker");
    in->tmax = get_u(cfg, "threads.max");
    in->tmin = get_u(cfg, "threads.min");
    in->item = get_u(cfg, "batch.item_bytes");
    in->bmin = get_u(cfg, "batch.min");
    in->bmax = get_u(cfg, "batch.max");
    in->rmin = get_u(cfg, "chunk.rows_min");
    in->rmax = get_u(cfg, "chunk.rows_max");
    pthread_mutex_unlock(&((memgov_config *)cfg)->lock);
    return MEMGOV_OK;
}

/* Step 1: the fraction of memory the job may use: all but RESERVE_BYTES, within 50 %..95 %, times the mode's
 * share of the plan. */
static void recommend_memory(const inputs *in, memgov_recommendation *r)
{
    char mem_text[24];
    memgov_format_bytes(in->memory, mem_text, sizeof mem_text);
    double mem = (double)in->memory, share = mg_mode_share(in->mode);
    double fraction = 1.0 - RESERVE_BYTES / mem;
    fraction = fraction < 0.5 ? 0.5 : fraction > 0.95 ? 0.95 : fraction;
    r->memory_fraction = fraction * share;
    r->memory_limit = (uint64_t)(r->memory_fraction * mem);
    if (in->mode == MEMGOV_MODE_NORMAL)
        snprintf(r->memory_fraction_why, sizeof r->memory_fraction_why,
                 "%.0f%% of %s: keeps 1.25 GiB for the system, within 50%%..95%%", r->memory_fraction * 100,
                 mem_text);
    else
        snprintf(r->memory_fraction_why, sizeof r->memory_fraction_why,
                 "%.0f%% of %s: %.0f%% of the normal plan in %s mode", r->memory_fraction * 100, mem_text,
                 share * 100, memgov_mode_name(in->mode));
}

/* Step 2: threads: as many as the CPUs and the memory limit (threads.bytes_per_worker each) allow. */
static void recommend_threads(const inputs *in, memgov_recommendation *r)
{
    uint64_t by_mem = in->per_worker > 0 ? r->memory_limit / in->per_worker : in->cores;
    uint64_t t = by_mem < in->cores ? by_mem : in->cores;
    if (in->tmax > 0 && t > in->tmax)
        t = in->tmax;
    if (in->large)
        t = t * 3 / 4;
    r->threads = clamp_u64(t, in->tmin > 0 ? in->tmin : 1, in->tmax > 0 ? in->tmax : UINT64_MAX);
    char unit_text[24];
    memgov_format_bytes(in->per_worker, unit_text, sizeof unit_text);
    snprintf(r->threads_why, sizeof r->threads_why, "min(%llu usable CPUs, memory limit / %s per worker)%s",
             (unsigned long long)in->cores, unit_text, in->large ? ", a quarter fewer for data >= 1 GiB" : "");
}

/* Step 3: batch size: the memory limit over batch.item_bytes, at most ITEMS_PER_WORKER per thread. */
static void recommend_batch(const inputs *in, memgov_recommendation *r)
{
    uint64_t b = in->item > 0 ? r->memory_limit / in->item : in->bmax;
    if (b > r->threads * ITEMS_PER_WORKER)
        b = r->threads * ITEMS_PER_WORKER;
    if (in->large)
        b = b * 3 / 4;
    r->batch_size = clamp_u64(b, in->bmin, in->bmax < in->bmin ? in->bmin : in->bmax);
    char unit_text[24];
    memgov_format_bytes(in->item, unit_text, sizeof unit_text);
    snprintf(r->batch_size_why, sizeof r->batch_size_why, "memory limit / %s per item, at most %d per worker%s",
             unit_text, ITEMS_PER_WORKER, in->large ? ", a quarter smaller for data >= 1 GiB" : "");
}

/* Step 4: rows per chunk: the chunk planner's formula with CHUNKS_PER_WORKER chunks in flight per thread,
 * within chunk.rows_min..rows_max, no more than the data holds. */
static memgov_status recommend_chunk(const inputs *in, memgov_recommendation *r)
{
    uint64_t min = in->rmin > 0 ? in->rmin : 1;
    uint64_t data_rows = in->data_bytes / in->row_bytes + (in->data_bytes % in->row_bytes != 0);
    mg_plan_in plan = {
        .bytes = r->memory_limit, /* the mode's share is in it already */
        .share = 1.0,
        .in_flight = r->threads * CHUNKS_PER_WORKER,
        .item_bytes = in->row_bytes,
        .copies = 1.0,
        .min = min,
        .max = in->rmax < min ? min : in->rmax,
        .total = data_rows,
    };
    mg_plan_out out;
    memgov_status st = mg_plan_items(&plan, &out);
    if (st != MEMGOV_OK)
        return st;
    r->chunk_rows = out.items;
    snprintf(r->chunk_rows_why, sizeof r->chunk_rows_why,
             "%d chunks of %llu-byte rows in flight per worker, within chunk.rows_min..rows_max%s", CHUNKS_PER_WORKER,
             (unsigned long long)in->row_bytes,
             in->data_bytes > 0 && data_rows == out.items ? ", no more than the data holds" : "");
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_config_recommend(const memgov_config *cfg, const memgov_probe *probe,
                                                 uint64_t data_bytes, uint64_t row_bytes,
                                                 memgov_recommendation *out)
{
    if (cfg == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_recommend: cfg and out must not be NULL");
    inputs in = {0};
    memgov_status st = read_inputs(cfg, probe, data_bytes, row_bytes, &in);
    if (st != MEMGOV_OK)
        return st;
    memgov_recommendation r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    recommend_memory(&in, &r);
    recommend_threads(&in, &r);
    recommend_batch(&in, &r);
    if ((st = recommend_chunk(&in, &r)) != MEMGOV_OK)
        return st;
    return mg_struct_out(out, &r, sizeof r, "memgov_recommendation");
}
