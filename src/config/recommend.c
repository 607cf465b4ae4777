/* memgov_config_recommend(): memory fraction, threads, batch size and chunk rows from the machine and the data.
 * The seeds' tier table (<=8 GiB: batch 20-30, 4-6 threads, 85 %; 16 GiB: 60-80, 8-12, 90-92 %; >=32 GiB:
 * 100-120, 12-16, 95 %) is the sanity anchor the unit tests check; the numbers come from the formulas below. */
#include <stdio.h>
#include <string.h>

#include "config/config_internal.h"
#include "internal/error.h"
#include "internal/structsize.h"

#define GiB (1024.0 * 1024.0 * 1024.0)
#define RESERVE_BYTES (1.25 * GiB)  /* left to the OS, the page cache and other processes */
#define ITEMS_PER_WORKER 7          /* more batch items than this per worker only adds latency */
#define CHUNKS_PER_WORKER 4         /* chunks in flight per worker: one in use, others loading or spilling */
#define LARGE_DATA (1.0 * GiB)      /* from this data size on, settings are a quarter lighter */

/* The share of the memory plan each fallback mode keeps: a lighter mode plans with less memory, so threads,
 * batches and chunks all shrink with it (the overlays of threads.*, batch.*, chunk.* still bound them). */
static const double mode_share[MEMGOV_MODE_COUNT_] = {
    [MEMGOV_MODE_NORMAL] = 1.0,
    [MEMGOV_MODE_LIGHT] = 0.5,
    [MEMGOV_MODE_MINIMAL] = 0.25,
};

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

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

MEMGOV_API memgov_status memgov_config_recommend(const memgov_config *cfg, const memgov_probe *probe,
                                                 uint64_t data_bytes, uint64_t row_bytes,
                                                 memgov_recommendation *out)
{
    if (cfg == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_recommend: cfg and out must not be NULL");
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
    uint64_t cores = p.usable_cpus > 0 ? p.usable_cpus : 1;
    int large = (double)data_bytes >= LARGE_DATA;
    char mem_text[24], unit_text[24];
    memgov_format_bytes(p.effective_memory, mem_text, sizeof mem_text);

    memgov_recommendation r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    pthread_mutex_lock(&((memgov_config *)cfg)->lock);
    memgov_mode mode = cfg->mode;
    double mem = (double)p.effective_memory;
    double fraction = 1.0 - RESERVE_BYTES / mem;
    fraction = fraction < 0.5 ? 0.5 : fraction > 0.95 ? 0.95 : fraction;
    r.memory_fraction = fraction * mode_share[mode];
    r.memory_limit = (uint64_t)(r.memory_fraction * mem);
    if (mode == MEMGOV_MODE_NORMAL)
        snprintf(r.memory_fraction_why, sizeof r.memory_fraction_why,
                 "%.0f%% of %s: keeps 1.25 GiB for the system, within 50%%..95%%", r.memory_fraction * 100, mem_text);
    else
        snprintf(r.memory_fraction_why, sizeof r.memory_fraction_why,
                 "%.0f%% of %s: %.0f%% of the normal plan in %s mode", r.memory_fraction * 100, mem_text,
                 mode_share[mode] * 100, memgov_mode_name(mode));

    uint64_t per_worker = get_u(cfg, "threads.bytes_per_worker"), tmax = get_u(cfg, "threads.max"),
             tmin = get_u(cfg, "threads.min"), item = get_u(cfg, "batch.item_bytes"), bmin = get_u(cfg, "batch.min"),
             bmax = get_u(cfg, "batch.max"), rmin = get_u(cfg, "chunk.rows_min"), rmax = get_u(cfg, "chunk.rows_max");
    pthread_mutex_unlock(&((memgov_config *)cfg)->lock);

    uint64_t by_mem = per_worker > 0 ? r.memory_limit / per_worker : cores;
    uint64_t t = by_mem < cores ? by_mem : cores;
    if (tmax > 0 && t > tmax)
        t = tmax;
    if (large)
        t = t * 3 / 4;
    r.threads = clamp_u64(t, tmin > 0 ? tmin : 1, tmax > 0 ? tmax : UINT64_MAX);
    memgov_format_bytes(per_worker, unit_text, sizeof unit_text);
    snprintf(r.threads_why, sizeof r.threads_why, "min(%llu usable CPUs, memory limit / %s per worker)%s",
             (unsigned long long)cores, unit_text, large ? ", a quarter fewer for data >= 1 GiB" : "");

    uint64_t b = item > 0 ? r.memory_limit / item : bmax;
    if (b > r.threads * ITEMS_PER_WORKER)
        b = r.threads * ITEMS_PER_WORKER;
    if (large)
        b = b * 3 / 4;
    r.batch_size = clamp_u64(b, bmin, bmax < bmin ? bmin : bmax);
    memgov_format_bytes(item, unit_text, sizeof unit_text);
    snprintf(r.batch_size_why, sizeof r.batch_size_why, "memory limit / %s per item, at most %d per worker%s",
             unit_text, ITEMS_PER_WORKER, large ? ", a quarter smaller for data >= 1 GiB" : "");

    uint64_t row = row_bytes > 0 ? row_bytes : 1024;
    uint64_t rows = r.memory_limit / (r.threads * CHUNKS_PER_WORKER) / row;
    rows = clamp_u64(rows, rmin, rmax < rmin ? rmin : rmax);
    uint64_t data_rows = data_bytes / row + (data_bytes % row != 0);
    if (data_bytes > 0 && data_rows < rows)
        rows = data_rows;
    r.chunk_rows = rows;
    snprintf(r.chunk_rows_why, sizeof r.chunk_rows_why,
             "%d chunks of %llu-byte rows in flight per worker, within chunk.rows_min..rows_max%s", CHUNKS_PER_WORKER,
             (unsigned long long)row, data_bytes > 0 && data_rows == rows ? ", no more than the data holds" : "");
    return mg_struct_out(out, &r, sizeof r, "memgov_recommendation");
}
