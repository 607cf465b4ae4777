/*
 * memgov/monitor.h — the monitor: samples memory metrics on its own thread or on demand, keeps a bounded
 * history, peaks with their time and least-squares trends (leak suspicion), raises threshold alerts, and writes
 * a summary report (text or JSON). docs/monitor.md explains the metrics and shows recipes.
 *
 * Metrics are doubles identified by name. The built-in ones (NaN when their source is unreadable, e.g. no
 * cgroup or no PSI):
 *   process.rss          bytes    VmRSS of the process (options.pid), summed over its descendants with
 *                                 options.process_tree
 *   process.swap         bytes    VmSwap, likewise
 *   system.available     bytes    MemAvailable of /proc/meminfo
 *   system.swap_used     bytes    SwapTotal - SwapFree
 *   cgroup.current       bytes    memory.current (cgroup v2) or memory.usage_in_bytes (v1) of our cgroup
 *   cgroup.events.oom    count    memory.events "oom" (v2): OOM situations in the cgroup
 *   cgroup.events.max    count    memory.events "max": times usage hit memory.max
 *   cgroup.events.high   count    memory.events "high": times usage went over memory.high
 *   psi.some_avg10       percent  /proc/pressure/memory "some" avg10
 *   psi.full_avg10       percent  /proc/pressure/memory "full" avg10
 *   jemalloc.active      bytes    the private jemalloc's stats.active (pages of live allocations)
 *   jemalloc.resident    bytes    stats.resident (physically resident pages it holds, metadata included)
 *   jemalloc.mapped      bytes    stats.mapped (in active extents)
 *   jemalloc.retained    bytes    stats.retained (virtual memory kept for reuse, not returned to the OS)
 * More come from memgov_monitor_add_metric() (budget use, anything).
 *
 * Threads: sampling (the monitor's thread, or memgov_monitor_sample() on any thread) reads the sources and calls
 * the metric callbacks without the monitor's lock, so two samples taken at once call them concurrently. Alert
 * callbacks run outside the lock, in order, never two at a time: on the thread whose sample raised the alert,
 * or on another sampling thread that is delivering at that moment. They may call any function of this header
 * except memgov_monitor_stop() and memgov_monitor_destroy().
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_MONITOR_H
#define MEMGOV_MONITOR_H

#include "memgov/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A monitor. Opaque; created with memgov_monitor_create(), freed with memgov_monitor_destroy(). */
typedef struct memgov_monitor memgov_monitor;

/* The longest metric name (bytes, without the NUL) and unit, and the most metrics one monitor holds. */
#define MEMGOV_METRIC_NAME_MAX 63
#define MEMGOV_METRIC_UNIT_MAX 15
#define MEMGOV_METRICS_MAX 64

/* The most samples and alerts a monitor's history keeps (memgov_monitor_options). */
#define MEMGOV_MONITOR_HISTORY_MAX (1u << 24)
#define MEMGOV_MONITOR_ALERT_HISTORY_MAX (1u << 20)

/* Options of memgov_monitor_create() (struct_size rule). A value of 0 (or NULL) means its default. */
typedef struct memgov_monitor_options {
    size_t struct_size;
    uint64_t interval_ns;      /* the sampler thread's period; default 1 s */
    uint32_t history_capacity; /* samples kept (a ring: the oldest goes); default 3600, at most
                                * MEMGOV_MONITOR_HISTORY_MAX */
    uint64_t trend_window_ns;  /* the trend is the least-squares slope over the samples this recent; default 60 s */
    double leak_slope;         /* leak suspected when leak_metric grows faster, in its unit per second, over a full
                                * trend window; default 1 MiB/s */
    const char *leak_metric;   /* the metric watched for leaks; default "process.rss"; copied */
    const char *proc_root;     /* where /proc, /sys are read: "" or NULL = the real ones; copied */
    int32_t pid;               /* the process measured by process.*; 0 = the calling process */
    int32_t process_tree;      /* 1: process.* sum the process and all its descendants */
    /* The clock, in nanoseconds, monotonic; NULL = CLOCK_MONOTONIC. Stamps samples and alerts; the sampler
     * thread still waits in real time. Called with the monitor's lock held: must not call into the monitor. */
    uint64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;
    uint32_t alert_history_capacity; /* alerts kept for memgov_monitor_alert_history(); default 256, at most
                                      * MEMGOV_MONITOR_ALERT_HISTORY_MAX */
} memgov_monitor_options;

/* Fills o with the defaults and sets struct_size. Thread safety: any thread (o is the caller's). */
MEMGOV_API void memgov_monitor_options_init(memgov_monitor_options *o);

/* Creates a monitor with the built-in metrics; it samples nothing until memgov_monitor_sample() or
 * memgov_monitor_start(). Errors: MEMGOV_EINVAL (out NULL, bad struct_size, a name too long), MEMGOV_ERANGE
 * (a capacity over its limit, interval over one day), MEMGOV_ENOMEM. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_create(const memgov_monitor_options *opts, memgov_monitor **out);

/* Stops the sampler thread if running and frees the monitor. NULL is accepted. No other call may be running or
 * follow; not from a callback. Thread safety: the caller's. */
MEMGOV_API void memgov_monitor_destroy(memgov_monitor *mon);

/* A metric source: returns the current value in the metric's unit, or NaN when unknown right now. Called on the
 * sampling thread without the monitor's lock, possibly from two threads at once (see above). */
typedef double (*memgov_metric_fn)(void *user);

/* Adds a metric: name (1..MEMGOV_METRIC_NAME_MAX bytes of [A-Za-z0-9._-], no dot at either end), unit (any
 * text, e.g. "bytes", "count"; at most MEMGOV_METRIC_UNIT_MAX; reports escape it), both copied. Only before the first sample. Errors: MEMGOV_EINVAL (NULL, bad name or
 * unit), MEMGOV_EEXIST (the name is taken), MEMGOV_ERANGE (MEMGOV_METRICS_MAX reached), MEMGOV_ESTATE (sampling
 * has begun). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_add_metric(memgov_monitor *mon, const char *name, const char *unit,
                                                   memgov_metric_fn fn, void *user);

/* Takes one sample now, on the calling thread: reads every metric, appends to the history, updates peaks,
 * trends, the leak suspicion and alerts, and delivers alert callbacks. Errors: MEMGOV_EINVAL (mon NULL).
 * Thread safety: any thread, also while the sampler thread runs. */
MEMGOV_API memgov_status memgov_monitor_sample(memgov_monitor *mon);

/* Starts the sampler thread: a sample at once, then one per interval. Errors: MEMGOV_EINVAL, MEMGOV_ESTATE
 * (already running), MEMGOV_ENOMEM (the thread could not be created). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_start(memgov_monitor *mon);

/* Stops the sampler thread and waits for it to finish its sample. Errors: MEMGOV_EINVAL, MEMGOV_ESTATE (not
 * running, or called on the sampler thread itself, i.e. from a callback). Thread safety: any other thread. */
MEMGOV_API memgov_status memgov_monitor_stop(memgov_monitor *mon);

/* What the monitor knows about one metric (struct_size rule, stats direction). Statistics skip NaN samples. */
typedef struct memgov_metric_stats {
    size_t struct_size;
    uint64_t samples;      /* samples with a value, since the first */
    double last;           /* NaN if none */
    double average;
    double min;
    double peak;
    uint64_t peak_time_ns; /* the clock at the peak */
    double trend_per_s;    /* least-squares slope over the trend window, unit per second; NaN with < 2 points */
    char unit[MEMGOV_METRIC_UNIT_MAX + 1];
} memgov_metric_stats;

/* Fills *out for the named metric. Errors: MEMGOV_EINVAL (NULL, bad struct_size), MEMGOV_ENOTFOUND (no such
 * metric). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_get_metric_stats(memgov_monitor *mon, const char *metric,
                                                         memgov_metric_stats *out);

/* The index-th kept sample of a metric, oldest first: its time (the clock, ns) and value (NaN if unknown).
 * Errors: MEMGOV_EINVAL (NULL), MEMGOV_ENOTFOUND (no such metric, or index >= samples kept).
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_history(memgov_monitor *mon, const char *metric, size_t index,
                                                uint64_t *time_ns, double *value);

/* The monitor's state (struct_size rule, stats direction). */
typedef struct memgov_monitor_stats {
    size_t struct_size;
    uint64_t samples;        /* samples taken */
    uint64_t samples_kept;   /* in the history */
    uint64_t first_time_ns;  /* clock at the first sample; 0 if none */
    uint64_t last_time_ns;
    uint32_t metrics;        /* metrics known */
    int32_t running;         /* 1 while the sampler thread runs */
    int32_t leak_suspected;  /* 1 while leak_metric's trend over a full window exceeds leak_slope */
    double leak_trend_per_s; /* leak_metric's trend; NaN if unknown */
    uint64_t alerts;         /* alerts raised (including clears) */
} memgov_monitor_stats;

/* Fills *out. Errors: MEMGOV_EINVAL (NULL, bad struct_size). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_get_stats(memgov_monitor *mon, memgov_monitor_stats *out);

/* The name of the index-th metric (built-ins first, then in order of memgov_monitor_add_metric()); NULL past
 * the end or if mon is NULL. The string lives as long as the monitor. Thread safety: any thread. */
MEMGOV_API const char *memgov_monitor_metric_name(memgov_monitor *mon, size_t index);

/* ---- alerts ------------------------------------------------------------------------------------------------ */

/* Alert levels. Values are pinned forever. */
typedef enum memgov_alert_level {
    MEMGOV_ALERT_CLEAR = 0,    /* the condition ended */
    MEMGOV_ALERT_WARNING = 1,
    MEMGOV_ALERT_CRITICAL = 2,
    MEMGOV_ALERT_LEVEL_COUNT_  /* not a level */
} memgov_alert_level;

/* "clear", "warning", "critical"; "invalid" otherwise. Static string. Thread safety: any thread. */
MEMGOV_API const char *memgov_alert_level_name(memgov_alert_level level);

/* A threshold rule on one metric (struct_size rule). */
typedef struct memgov_alert_rule {
    size_t struct_size;
    const char *metric;  /* the metric's name; copied */
    double warning;      /* a value at or beyond it raises a warning */
    double critical;     /* a value at or beyond it raises a critical alert */
    int32_t below;       /* 0: "beyond" means >= (use, pressure); 1: <= (available memory) */
    uint64_t escalate_after_ns; /* a warning lasting this long is escalated to critical; 0 = never */
} memgov_alert_rule;

/* Sets struct_size and zeroes the rest. Thread safety: any thread. */
MEMGOV_API void memgov_alert_rule_init(memgov_alert_rule *rule);

/* Adds a rule; *id (may be NULL) receives its 1-based number. A rule raises an alert only when its level changes:
 * up to warning or critical, or back to clear; the same level twice is one alert (de-duplication). A sample with
 * NaN for the metric leaves the level as it was. Errors: MEMGOV_EINVAL (NULL, bad struct_size, warning beyond
 * critical, a NaN threshold), MEMGOV_ENOTFOUND (no such metric), MEMGOV_ENOMEM. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_add_alert(memgov_monitor *mon, const memgov_alert_rule *rule,
                                                  uint32_t *id);

/* One alert (struct_size rule, stats direction). */
typedef struct memgov_alert {
    size_t struct_size;
    uint64_t seq;              /* 1 for the monitor's first alert, then consecutive */
    uint64_t time_ns;          /* the clock at the sample that raised it */
    uint32_t rule;             /* the rule's id */
    const char *metric;        /* the metric's name; lives as long as the monitor */
    memgov_alert_level level;  /* the new level */
    memgov_alert_level previous;
    double value;              /* the sample's value */
    double threshold;          /* the threshold crossed (for a clear: the warning threshold) */
    int32_t escalated;         /* 1: critical because the warning lasted escalate_after_ns */
} memgov_alert;

/* Called for each alert, outside the lock (see the top of this header for the thread). a is valid during the
 * call only. */
typedef void (*memgov_alert_fn)(const memgov_alert *a, void *user);

/* The most alert listeners one monitor holds at a time. */
#define MEMGOV_MONITOR_MAX_ALERT_LISTENERS 16

/* Registers an alert listener: fn(a, user) for every alert raised from now on (alerts raised before are not
 * delivered to it), listeners in the order they were added. *id (may be NULL) receives its id for
 * memgov_monitor_remove_alert_listener(): never 0, never reused within mon. Errors: MEMGOV_EINVAL (mon or fn
 * NULL), MEMGOV_ERANGE (already MEMGOV_MONITOR_MAX_ALERT_LISTENERS listeners). Thread safety: any thread,
 * callbacks included. */
MEMGOV_API memgov_status memgov_monitor_add_alert_listener(memgov_monitor *mon, memgov_alert_fn fn, void *user,
                                                           uint64_t *id);

/* Removes an alert listener. When it returns, the listener is not running on another thread and will not be
 * called again (it waits for a delivery in progress on another thread; called from a callback it does not
 * wait), so user may be freed. Errors: MEMGOV_EINVAL (mon NULL), MEMGOV_ENOTFOUND (no listener with this id).
 * Thread safety: any thread, callbacks included. */
MEMGOV_API memgov_status memgov_monitor_remove_alert_listener(memgov_monitor *mon, uint64_t id);

/* The index-th kept alert, oldest first. Errors: MEMGOV_EINVAL (NULL, bad struct_size), MEMGOV_ENOTFOUND (index
 * >= kept). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_alert_history(memgov_monitor *mon, size_t index, memgov_alert *out);

/* ---- reports ----------------------------------------------------------------------------------------------- */

typedef enum memgov_report_format {
    MEMGOV_REPORT_TEXT = 0, /* lines for people */
    MEMGOV_REPORT_JSON = 1  /* one JSON object; unknown values are null; names and units are escaped (a unit
                               holding '"', '\\', control characters or invalid UTF-8 still gives valid JSON) */
} memgov_report_format;

/* Writes the summary — duration, samples, per metric last/average/min/peak (and when)/trend, swap use, the leak
 * suspicion (its trend over the time the samples cover, at most the trend window), alerts — into buf
 * (NUL-terminated when size > 0). *length (may be NULL) receives the full length
 * without the NUL. Errors: MEMGOV_EINVAL (mon NULL, buf NULL with size > 0, unknown format), MEMGOV_ERANGE (the
 * text was cut: call again with *length + 1 bytes). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_report(memgov_monitor *mon, memgov_report_format format, char *buf,
                                               size_t size, size_t *length);

/* ---- leak check -------------------------------------------------------------------------------------------- */

/* What memgov_monitor_leak_check() measured (struct_size rule, stats direction). */
typedef struct memgov_leak_report {
    size_t struct_size;
    uint32_t iterations;
    double rss_per_iteration;    /* least-squares slope of process.rss over the iterations, bytes; NaN unknown */
    double metric_per_iteration; /* the same for the metric asked for; NaN if none or unknown */
    double rss_first, rss_last;  /* process.rss after the first and the last iteration */
} memgov_leak_report;

/* One iteration of memgov_monitor_leak_check(): i counts from 0. */
typedef void (*memgov_leak_iteration_fn)(uint32_t iteration, void *user);

/* Runs fn(i, user) for i = 0 .. iterations - 1 on the calling thread, taking a sample after each, and reports
 * the growth per iteration of process.rss and of `metric` (e.g. the budget use the integrator registered; NULL
 * for none). The samples join the monitor's history. Errors: MEMGOV_EINVAL (NULL mon or fn, fewer than 2
 * iterations, bad struct_size), MEMGOV_ENOTFOUND (no such metric). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_monitor_leak_check(memgov_monitor *mon, memgov_leak_iteration_fn fn, void *user,
                                                   uint32_t iterations, const char *metric,
                                                   memgov_leak_report *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_MONITOR_H */
