/* Internal to src/monitor: the built-in metric readers and the least-squares slope. */
#ifndef MG_MONITOR_INTERNAL_H
#define MG_MONITOR_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/atfork.h"
#include "internal/delivery.h"
#include "memgov/monitor.h"

#define MG_BUILTIN_METRICS 14

/* Name and unit of the built-in metrics, in the order mg_read_builtins() fills them (see monitor.h). */
extern const char *const mg_builtin_names[MG_BUILTIN_METRICS];
extern const char *const mg_builtin_units[MG_BUILTIN_METRICS];

/* Reads every built-in metric under root into v (NaN for what is unreadable). pid 0 is the calling process;
 * tree sums process.* over pid and its descendants. */
void mg_read_builtins(const char *root, int32_t pid, int tree, double v[MG_BUILTIN_METRICS]);

typedef struct mg_metric {
    char name[MEMGOV_METRIC_NAME_MAX + 1];
    char unit[MEMGOV_METRIC_UNIT_MAX + 1];
    memgov_metric_fn fn; /* NULL for the built-ins */
    void *ctx;
    uint64_t count;      /* samples with a value */
    double sum, min, peak, last;
    uint64_t peak_time_ns;
} mg_metric;

typedef struct mg_rule {
    uint32_t id;
    size_t metric;
    double warning, critical;
    int below;
    uint64_t escalate_after_ns;
    memgov_alert_level level; /* the level last raised */
    int escalated;            /* level is critical because a warning lasted */
    uint64_t warning_since;
} mg_rule;

typedef struct mg_callback {
    uint64_t id;    /* first (internal/idtable.h); ascending in the table: the deliverer finds its place by id */
    memgov_alert_fn fn;
    void *user;
    uint64_t after; /* alerts numbered above this are delivered */
} mg_callback;

struct memgov_monitor {
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* the sampler thread waits on it between samples (CLOCK_MONOTONIC) */
    mg_fork_lock fork;        /* `lock` across fork() (internal/atfork.h) */
    memgov_monitor_options o; /* proc_root and leak_metric point at the copies below */
    char root[PATH_MAX];
    char leak_metric[MEMGOV_METRIC_NAME_MAX + 1];

    mg_metric metric[MEMGOV_METRICS_MAX];
    size_t n_metrics;
    int started; /* a sample was taken: the metric set is fixed */

    double *rows;    /* ring of history_capacity rows of n_metrics values; sample s at row (s - 1) % capacity */
    uint64_t *times; /* the clock of each row */
    uint64_t samples, first_time_ns, last_time_ns;
    int leak_suspected;
    double leak_trend;

    mg_rule *rules;
    size_t n_rules, cap_rules;
    memgov_alert *alerts; /* ring: alert seq q at (q - 1) % alert_history_capacity */
    uint64_t n_alerts, delivered;
    mg_callback callback[MEMGOV_MONITOR_MAX_ALERT_LISTENERS];
    size_t n_callbacks;
    uint64_t next_callback_id;
    mg_delivery delivery;

    pthread_t thread;
    int running, stopping;
};

/* Under the lock: the metric's index, or -1. */
int mg_find_metric(const memgov_monitor *mon, const char *name);
/* Under the lock: samples in the history. */
uint64_t mg_kept(const memgov_monitor *mon);
/* Under the lock: the index-th kept sample (oldest first) of a metric, and its time. */
double mg_value_at(const memgov_monitor *mon, uint64_t index, size_t metric, uint64_t *time_ns);
/* Under the lock: the least-squares slope (unit per second) of a metric over the trend window; *full says
 * whether the history covers the whole window. */
double mg_trend(const memgov_monitor *mon, size_t metric, int *full);
/* Under the lock: the public stats of metric i. */
void mg_metric_stats_locked(const memgov_monitor *mon, size_t i, memgov_metric_stats *s);

/* The least-squares slope of y over x for the n points whose y is not NaN; NaN with fewer than 2 such points
 * or when every x is the same. */
double mg_slope(const double *x, const double *y, size_t n);

#endif
