/* The fallback part of `memgov demo`: a simulated workload grows through NORMAL -> LIGHT -> MINIMAL, the
 * recommended settings follow the mode, an emergency fires once, a refused job is rescued by
 * memgov_run_with_fallback(), and the machine recovers one mode at a time. Uses only the public API, on a
 * simulated clock (one step = one simulated second) paced by short real pauses. */
#include <time.h>

#include "cli.h"
#include "memgov.h"

/* What each mode recommends; the configuration's mode overlays will supply these once wired in. */
static const struct { unsigned long chunk_rows; unsigned batch, threads; } settings[MEMGOV_MODE_COUNT_] = {
    [MEMGOV_MODE_NORMAL] = {1000000, 256, 8},
    [MEMGOV_MODE_LIGHT] = {250000, 64, 4},
    [MEMGOV_MODE_MINIMAL] = {50000, 16, 1},
};

#define SIM_SEC 1000000000ull

typedef struct sim {
    memgov_fallback *fb;
    uint64_t now_ns;      /* the simulated clock */
    uint64_t limit, used; /* the simulated root budget, bytes */
    int job_calls;
} sim;

static uint64_t sim_clock(void *ctx)
{
    return ((sim *)ctx)->now_ns;
}

static void pace(void)
{
    struct timespec ts = {0, 120000000}; /* 120 ms of real time per simulated step */
    nanosleep(&ts, NULL);
}

static void on_transition(void *ctx, const memgov_fallback_transition *t)
{
    (void)ctx;
    printf("  switch   %s -> %s (%s, pressure %.2f): chunk %lu rows, batch %u, %u threads\n",
           memgov_mode_name(t->from), memgov_mode_name(t->to), memgov_fallback_reason_name(t->reason), t->pressure,
           settings[t->to].chunk_rows, settings[t->to].batch, settings[t->to].threads);
}

static void on_emergency(void *ctx, double pressure)
{
    (void)ctx;
    printf("  EMERGENCY at pressure %.2f: checkpoint written, caches dropped (once per episode)\n",
           pressure);
}

static void step(sim *s, uint64_t used_mib)
{
    s->now_ns += SIM_SEC;
    s->used = used_mib << 20;
    memgov_pressure p;
    memgov_pressure_init(&p);
    p.budget_used = s->used;
    p.budget_limit = s->limit;
    char text[32];
    memgov_format_bytes(s->used, text, sizeof text);
    memgov_fallback_update(s->fb, &p); /* a transition prints its line first */
    printf("  t=%3llus  budget %-10s pressure %.2f  mode %s\n", (unsigned long long)(s->now_ns / SIM_SEC), text,
           (double)s->used / (double)s->limit, memgov_mode_name(memgov_fallback_mode(s->fb)));
    pace();
}

/* The job needs 3 GiB in NORMAL, 1 GiB in LIGHT, 256 MiB in MINIMAL, with 512 MiB left in the budget. */
static memgov_status job(void *ctx, memgov_mode mode)
{
    sim *s = ctx;
    static const uint64_t need_mib[MEMGOV_MODE_COUNT_] = {3072, 1024, 256};
    s->job_calls++;
    memgov_status st = need_mib[mode] > 512 ? MEMGOV_ENOMEM : MEMGOV_OK;
    printf("  job attempt %d in %-7s needs %4llu MiB of 512 MiB left: %s\n", s->job_calls, memgov_mode_name(mode),
           (unsigned long long)need_mib[mode], st == MEMGOV_OK ? "done" : "refused (MEMGOV_ENOMEM)");
    return st;
}

static void job_sleep(void *ctx, uint64_t ns)
{
    sim *s = ctx;
    printf("  backing off %.1f s\n", (double)ns / 1e9);
    s->now_ns += ns;
    pace();
}

int demo_fallback(void)
{
    sim s = {.limit = 4096ull << 20};
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    o.dwell_ns = 3 * SIM_SEC;
    o.clock_ns = sim_clock;
    o.clock_ctx = &s;
    if (memgov_fallback_create(&o, &s.fb) != MEMGOV_OK ||
        memgov_fallback_subscribe(s.fb, on_transition, NULL, NULL) != MEMGOV_OK ||
        memgov_fallback_on_emergency(s.fb, on_emergency, NULL, NULL) != MEMGOV_OK) {
        fprintf(stderr, "demo: %s\n", memgov_last_error());
        memgov_fallback_destroy(s.fb);
        return CLI_FAILED;
    }
    printf("\n== fallback: NORMAL -> LIGHT -> MINIMAL and back ==\n");
    printf("thresholds: light %.2f/%.2f, minimal %.2f/%.2f (enter/exit), critical %.2f, dwell 3 s\n",
           o.light_enter, o.light_exit, o.minimal_enter, o.minimal_exit, o.critical);
    printf("workload grows in a 4 GiB budget:\n");
    const uint64_t grow[] = {1600, 2200, 2700, 2950, 2600, 3300, 3600, 3950, 3700};
    for (size_t i = 0; i < sizeof grow / sizeof grow[0]; i++)
        step(&s, grow[i]);
    printf("the job spills and frees memory; pressure falls:\n");
    for (int i = 0; i < 8; i++)
        step(&s, 1800);
    printf("a refused job, run with fallback:\n");
    memgov_fallback_run_options ro;
    memgov_fallback_run_options_init(&ro);
    ro.sleep_ns = job_sleep;
    ro.sleep_ctx = &s;
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    memgov_status st = memgov_run_with_fallback(s.fb, job, &s, &ro, &r);
    printf("  run_with_fallback: %s after %u attempts\n", memgov_status_name(st), r.attempts);
    printf("recovery:\n");
    for (int i = 0; i < 8; i++)
        step(&s, 1000);

    memgov_fallback_stats stats = {.struct_size = sizeof stats};
    memgov_fallback_get_stats(s.fb, &stats);
    printf("summary: %llu transitions, %llu emergency, peak pressure %.2f, time in normal/light/minimal "
           "%llu/%llu/%llu s\n",
           (unsigned long long)stats.transitions, (unsigned long long)stats.emergencies, stats.peak_pressure,
           (unsigned long long)(stats.time_in_mode_ns[0] / SIM_SEC),
           (unsigned long long)(stats.time_in_mode_ns[1] / SIM_SEC),
           (unsigned long long)(stats.time_in_mode_ns[2] / SIM_SEC));
    for (size_t i = 0; i < stats.history_kept; i++) {
        memgov_fallback_transition t = {.struct_size = sizeof t};
        memgov_fallback_history(s.fb, i, &t);
        printf("  #%llu t=%llus %s -> %s (%s)\n", (unsigned long long)t.seq, (unsigned long long)(t.time_ns / SIM_SEC),
               memgov_mode_name(t.from), memgov_mode_name(t.to), memgov_fallback_reason_name(t.reason));
    }
    memgov_fallback_destroy(s.fb);
    return st == MEMGOV_OK ? CLI_OK : CLI_FAILED;
}
