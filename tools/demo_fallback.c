/* The fallback part of `memgov demo`: a governor opened from a configuration file runs a simulated job whose
 * memory grows through NORMAL -> LIGHT -> MINIMAL. Each monitor sample measures the pressure and drives the
 * fallback machine; each mode change switches the configuration's overlays, so the recommended threads, batch
 * size and chunk rows follow. An emergency fires once, a refused job is rescued by memgov_run_with_fallback(),
 * and the governor recovers one mode at a time after the dwell time. Real clock, a few seconds in all. The job's
 * memory is simulated with memgov_reserve(): the budgets, limits and refusals are real, the bytes are not. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "memgov.h"

#define MiB (1024ull * 1024ull)

static const char config_text[] =
    "# the job may use 4 GiB; modes recover after 300 ms below their exit threshold\n"
    "root.limit = 4GiB\n"
    "fallback.dwell = 300ms\n"
    "batch.item_bytes = 128MiB\n"
    "threads.bytes_per_worker = 512MiB\n"
    "[mode.light]\n"
    "batch.max = 8\n"
    "[mode.minimal]\n"
    "batch.max = 2\n"
    "threads.max = 1\n";

typedef struct demo {
    memgov *gov;
    memgov_budget *job;
    uint64_t reserved; /* bytes the simulated job holds */
    memgov_probe machine;
    struct timespec start;
} demo;

static double seconds(const demo *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - d->start.tv_sec) + (double)(now.tv_nsec - d->start.tv_nsec) / 1e9;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What the configuration recommends now, for a job whose memory is the root budget's limit. */
static memgov_recommendation recommend(const demo *d)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    memgov_budget_get_stats(memgov_root(d->gov), &st);
    memgov_probe p = d->machine;
    p.effective_memory = st.hard_limit;
    memgov_recommendation r = {.struct_size = sizeof r};
    memgov_config_recommend(memgov_governor_config(d->gov), &p, 0, 0, &r);
    return r;
}

static void on_transition(const memgov_fallback_transition *t, void *user)
{
    demo *d = user;
    memgov_recommendation r = recommend(d); /* the configuration is already in the new mode */
    printf("  %5.2fs  switch %s -> %s (%s, pressure %.2f): now %llu threads, batch %llu, chunks of %llu rows\n",
           seconds(d), memgov_mode_name(t->from), memgov_mode_name(t->to), memgov_fallback_reason_name(t->reason),
           t->pressure, (unsigned long long)r.threads, (unsigned long long)r.batch_size,
           (unsigned long long)r.chunk_rows);
}

static void on_emergency(double pressure, void *user)
{
    demo *d = user;
    printf("  %5.2fs  EMERGENCY at pressure %.2f: the job writes a checkpoint and drops its caches "
           "(called once per episode)\n", seconds(d), pressure);
}

/* Sets the simulated job's memory to `mib` and takes one monitor sample, which evaluates the fallback machine. */
static int hold(demo *d, uint64_t mib)
{
    uint64_t want = mib * MiB;
    memgov_status st = want > d->reserved ? memgov_reserve(d->job, want - d->reserved)
                                          : memgov_release(d->job, d->reserved - want);
    if (st != MEMGOV_OK) {
        printf("  cannot hold %llu MiB: %s\n", (unsigned long long)mib, memgov_last_error());
        return -1;
    }
    d->reserved = want;
    memgov_monitor_sample(memgov_governor_monitor(d->gov));
    memgov_fallback_stats fs = {.struct_size = sizeof fs};
    memgov_fallback_get_stats(memgov_governor_fallback(d->gov), &fs);
    char text[24];
    memgov_format_bytes(want, text, sizeof text);
    printf("  %5.2fs  job holds %-10s pressure %.2f  mode %s\n", seconds(d), text, fs.pressure,
           memgov_mode_name(fs.mode));
    pause_ms(150);
    return 0;
}

typedef struct batch_job {
    demo *d;
    int attempts;
} batch_job;

/* One batch: reserves batch size x batch.item_bytes for the batch, works, gives it back. */
static memgov_status run_batch(memgov_mode mode, void *user)
{
    batch_job *b = user;
    memgov_recommendation r = recommend(b->d);
    uint64_t item = 0;
    memgov_config_get_size(memgov_governor_config(b->d->gov), "batch.item_bytes", &item);
    uint64_t need = r.batch_size * item;
    char text[24];
    memgov_format_bytes(need, text, sizeof text);
    b->attempts++;
    printf("  %5.2fs  batch attempt %d in %s mode: %llu items = %s\n", seconds(b->d), b->attempts,
           memgov_mode_name(mode), (unsigned long long)r.batch_size, text);
    memgov_status st = memgov_reserve(b->d->job, need);
    if (st != MEMGOV_OK) {
        printf("           refused: %s\n", memgov_last_error());
        return st;
    }
    printf("           done\n");
    memgov_release(b->d->job, need);
    return st;
}

/* Holds `mib` for `samples` monitor samples (150 ms apart). */
static void hold_for(demo *d, uint64_t mib, int samples)
{
    for (int i = 0; i < samples; i++)
        if (hold(d, mib) != 0)
            return;
}

static void summary(demo *d)
{
    memgov_fallback *fb = memgov_governor_fallback(d->gov);
    memgov_fallback_stats fs = {.struct_size = sizeof fs};
    memgov_fallback_get_stats(fb, &fs);
    printf("\nsummary: %llu transitions, %llu refusal(s), %llu emergency, peak pressure %.2f; "
           "time in normal/light/minimal %.1f/%.1f/%.1f s\n",
           (unsigned long long)fs.transitions, (unsigned long long)fs.refusals,
           (unsigned long long)fs.emergencies, fs.peak_pressure, (double)fs.time_in_mode_ns[0] / 1e9,
           (double)fs.time_in_mode_ns[1] / 1e9, (double)fs.time_in_mode_ns[2] / 1e9);
    for (size_t i = 0; i < fs.history_kept; i++) {
        memgov_fallback_transition t = {.struct_size = sizeof t};
        if (memgov_fallback_history(fb, i, &t) == MEMGOV_OK)
            printf("  #%llu %-7s -> %-7s by %-8s at pressure %.2f\n", (unsigned long long)t.seq,
                   memgov_mode_name(t.from), memgov_mode_name(t.to), memgov_fallback_reason_name(t.reason),
                   t.pressure);
    }
}

/* Writes the configuration to a temporary file and opens the governor from it (as MEMGOV_CONFIG_FILE would). */
static memgov_status open_demo_governor(demo *d)
{
    char path[] = "/tmp/memgov-demo-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return MEMGOV_EIO;
    ssize_t n = write(fd, config_text, sizeof config_text - 1);
    close(fd);
    memgov_options o;
    memgov_options_init(&o);
    o.config_file = path;
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov_status st = n == (ssize_t)(sizeof config_text - 1) ? memgov_open(&o, &d->gov) : MEMGOV_EIO;
    unlink(path);
    return st;
}

int demo_fallback(void)
{
    printf("\n== fallback: a job under pressure goes NORMAL -> LIGHT -> MINIMAL and back ==\n");
    printf("configuration file:\n");
    for (const char *line = config_text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        printf("  | %.*s\n", (int)(end - line), line);
        line = end + 1;
    }
    demo d = {0};
    d.machine.struct_size = sizeof d.machine;
    memgov_probe_options po;
    memgov_probe_options_init(&po);
    po.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    memgov_probe_read(&po, &d.machine);
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "job";
    if (open_demo_governor(&d) != MEMGOV_OK || memgov_budget_create(memgov_root(d.gov), &bo, &d.job) != MEMGOV_OK) {
        printf("cannot open the demo's governor: %s\n", memgov_last_error());
        memgov_close(d.gov);
        return CLI_FAILED;
    }
    memgov_fallback *fb = memgov_governor_fallback(d.gov);
    memgov_fallback_add_listener(fb, on_transition, &d, NULL);
    memgov_fallback_add_emergency(fb, on_emergency, &d, NULL);
    clock_gettime(CLOCK_MONOTONIC, &d.start);
    memgov_recommendation r = recommend(&d);
    printf("thresholds: light 0.70/0.60, minimal 0.85/0.75 (enter/exit), critical 0.95\n");
    printf("  %5.2fs  start in normal: %llu threads, batch %llu, chunks of %llu rows (%u usable CPUs)\n", seconds(&d),
           (unsigned long long)r.threads, (unsigned long long)r.batch_size, (unsigned long long)r.chunk_rows,
           d.machine.usable_cpus);

    int rc = CLI_OK;
    static const uint64_t grow_mib[] = {1200, 2200, 2900, 3100, 3500, 3600, 3950, 3700};
    printf("\nthe job's memory grows:\n");
    for (size_t i = 0; i < sizeof grow_mib / sizeof grow_mib[0] && rc == CLI_OK; i++)
        rc = hold(&d, grow_mib[i]) == 0 ? CLI_OK : CLI_FAILED;
    printf("\nit spills to disk and frees memory; each mode waits out the dwell before recovering:\n");
    hold_for(&d, 1400, 6);
    printf("\nthe job needs room for a batch while it holds 2.7 GiB: memgov_run_with_fallback() retries lighter:\n");
    hold_for(&d, 2800, 1);
    batch_job b = {.d = &d};
    memgov_fallback_run_options ro;
    memgov_fallback_run_options_init(&ro);
    ro.backoff_ns = 100000000; /* 100 ms, doubled for each retry */
    memgov_fallback_run_result res = {.struct_size = sizeof res};
    memgov_status st = memgov_run_with_fallback(d.gov, run_batch, &b, &ro, &res);
    printf("  memgov_run_with_fallback: %s after %u attempt(s)\n", memgov_status_name(st), res.attempts);
    if (st != MEMGOV_OK)
        rc = CLI_FAILED;
    printf("\nthe batch is done and the job shrinks:\n");
    hold_for(&d, 800, 6);
    summary(&d);

    memgov_release(d.job, d.reserved);
    memgov_budget_destroy(d.job);
    if (memgov_close(d.gov) != MEMGOV_OK) {
        printf("cannot close the governor: %s\n", memgov_last_error());
        rc = CLI_FAILED;
    }
    return rc;
}
