/* The monitor: metrics, the sample history ring, aggregates, trends, alerts and the sampler thread; see
 * memgov/monitor.h. Sources are read without the lock; a sample is appended and evaluated under it; alerts are
 * recorded in a ring and delivered outside it by whichever sampling thread finds no delivery in progress (the
 * same scheme as the fallback machine). */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/grow.h"
#include "internal/idtable.h"
#include "internal/name.h"
#include "internal/structsize.h"
#include "monitor/monitor_internal.h"

#define DAY_NS 86400000000000ull

MEMGOV_API void memgov_monitor_options_init(memgov_monitor_options *o)
{
    if (!mg_struct_init(o, sizeof *o))
        return;
    o->interval_ns = 1000000000u;
    o->history_capacity = 3600;
    o->trend_window_ns = 60000000000u;
    o->leak_slope = 1048576.0;
    o->leak_metric = "process.rss";
    o->proc_root = "";
    o->alert_history_capacity = 256;
}

MEMGOV_API void memgov_alert_rule_init(memgov_alert_rule *rule)
{
    mg_struct_init(rule, sizeof *rule);
}

MEMGOV_API const char *memgov_alert_level_name(memgov_alert_level level)
{
    static const char *const names[] = {"clear", "warning", "critical"};
    return (unsigned)level < (unsigned)MEMGOV_ALERT_LEVEL_COUNT_ ? names[level] : "invalid";
}

static memgov_status add_metric_locked(memgov_monitor *mon, const char *name, const char *unit,
                                       memgov_metric_fn fn, void *ctx)
{
    if (!mg_valid_name(name, MEMGOV_METRIC_NAME_MAX))
        return mg_fail(MEMGOV_EINVAL, "monitor metric name '%.80s' must be 1..%d characters of [A-Za-z0-9._-], "
                       "no dot at either end", name, MEMGOV_METRIC_NAME_MAX);
    if (strlen(unit) > MEMGOV_METRIC_UNIT_MAX)
        return mg_fail(MEMGOV_EINVAL, "monitor metric '%s': unit '%.40s' is longer than %d", name, unit,
                       MEMGOV_METRIC_UNIT_MAX);
    if (mg_find_metric(mon, name) >= 0)
        return mg_fail(MEMGOV_EEXIST, "monitor metric '%s' exists already", name);
    if (mon->n_metrics >= MEMGOV_METRICS_MAX)
        return mg_fail(MEMGOV_ERANGE, "monitor metric '%s': the monitor holds the maximum of %d metrics", name,
                       MEMGOV_METRICS_MAX);
    mg_metric *m = &mon->metric[mon->n_metrics++];
    memset(m, 0, sizeof *m);
    strcpy(m->name, name);
    strcpy(m->unit, unit);
    m->fn = fn;
    m->ctx = ctx;
    m->last = NAN;
    return MEMGOV_OK;
}

static void wake_init(memgov_monitor *mon)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mon->wake, &ca);
    pthread_condattr_destroy(&ca);
}

/* In a child of fork() the sampler thread does not exist: the monitor is stopped there (start it again to
 * sample in the child). */
static void monitor_after_fork(void *arg)
{
    memgov_monitor *mon = arg;
    mon->running = 0;
    mon->stopping = 0;
    wake_init(mon);
    mg_delivery_init(&mon->delivery); /* not delivering: the parent's deliverer is not here */
}

MEMGOV_API memgov_status memgov_monitor_create(const memgov_monitor_options *opts, memgov_monitor **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_create: out is NULL");
    *out = NULL;
    memgov_monitor_options d, o;
    memgov_monitor_options_init(&d);
    o = d;
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_monitor_options");
    if (st != MEMGOV_OK)
        return st;
    if (o.interval_ns == 0)
        o.interval_ns = d.interval_ns;
    if (o.history_capacity == 0)
        o.history_capacity = d.history_capacity;
    if (o.trend_window_ns == 0)
        o.trend_window_ns = d.trend_window_ns;
    if (o.leak_slope == 0.0)
        o.leak_slope = d.leak_slope;
    if (o.leak_metric == NULL)
        o.leak_metric = d.leak_metric;
    if (o.proc_root == NULL)
        o.proc_root = "";
    if (o.alert_history_capacity == 0)
        o.alert_history_capacity = d.alert_history_capacity;
    if (o.clock_ns == NULL) {
        o.clock_ns = mg_monotonic_ns;
        o.clock_ctx = NULL;
    }
    if (o.interval_ns > DAY_NS)
        return mg_fail(MEMGOV_ERANGE, "monitor interval %llu ns exceeds one day (%llu ns)",
                       (unsigned long long)o.interval_ns, DAY_NS);
    if (o.history_capacity > MEMGOV_MONITOR_HISTORY_MAX || o.alert_history_capacity > MEMGOV_MONITOR_ALERT_HISTORY_MAX)
        return mg_fail(MEMGOV_ERANGE, "monitor history_capacity %u / alert_history_capacity %u exceed the limits "
                       "%u / %u (MEMGOV_MONITOR_HISTORY_MAX / MEMGOV_MONITOR_ALERT_HISTORY_MAX)", o.history_capacity,
                       o.alert_history_capacity, MEMGOV_MONITOR_HISTORY_MAX, MEMGOV_MONITOR_ALERT_HISTORY_MAX);
    if (!(o.leak_slope > 0.0))
        return mg_fail(MEMGOV_EINVAL, "monitor leak_slope %g must be positive", o.leak_slope);
    if (strlen(o.proc_root) >= PATH_MAX - 64)
        return mg_fail(MEMGOV_EINVAL, "monitor proc_root is %zu bytes, more than %d", strlen(o.proc_root),
                       PATH_MAX - 64);
    if (!mg_valid_name(o.leak_metric, MEMGOV_METRIC_NAME_MAX))
        return mg_fail(MEMGOV_EINVAL, "monitor leak_metric '%.80s' is not a metric name", o.leak_metric);

    memgov_monitor *mon = calloc(1, sizeof *mon);
    memgov_alert *alerts = calloc(o.alert_history_capacity, sizeof *alerts);
    if (mon == NULL || alerts == NULL) {
        free(mon);
        free(alerts);
        return mg_fail(MEMGOV_ENOMEM, "memgov_monitor_create: out of memory");
    }
    pthread_mutex_init(&mon->lock, NULL);
    wake_init(mon);
    mg_delivery_init(&mon->delivery);
    mon->next_callback_id = 1;
    mg_fork_lock_add(&mon->fork, &mon->lock, MG_FORK_RANK_MONITOR, monitor_after_fork, mon);
    strcpy(mon->root, o.proc_root);
    strcpy(mon->leak_metric, o.leak_metric);
    o.proc_root = mon->root;
    o.leak_metric = mon->leak_metric;
    mon->o = o;
    mon->alerts = alerts;
    mon->leak_trend = NAN;
    for (int i = 0; i < MG_BUILTIN_METRICS; i++)
        add_metric_locked(mon, mg_builtin_names[i], mg_builtin_units[i], NULL, NULL);
    *out = mon;
    return MEMGOV_OK;
}

MEMGOV_API void memgov_monitor_destroy(memgov_monitor *mon)
{
    if (mon == NULL)
        return;
    if (mon->running)
        memgov_monitor_stop(mon);
    mg_fork_lock_remove(&mon->fork);
    pthread_mutex_destroy(&mon->lock);
    pthread_cond_destroy(&mon->wake);
    mg_delivery_destroy(&mon->delivery);
    free(mon->rows);
    free(mon->times);
    free(mon->rules);
    free(mon->alerts);
    free(mon);
}

int mg_find_metric(const memgov_monitor *mon, const char *name)
{
    for (size_t i = 0; i < mon->n_metrics; i++)
        if (strcmp(mon->metric[i].name, name) == 0)
            return (int)i;
    return -1;
}

MEMGOV_API memgov_status memgov_monitor_add_metric(memgov_monitor *mon, const char *name, const char *unit,
                                                   memgov_metric_fn fn, void *user)
{
    if (mon == NULL || name == NULL || unit == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_add_metric: %s is NULL",
                       mon == NULL ? "the monitor" : name == NULL ? "name" : unit == NULL ? "unit" : "fn");
    pthread_mutex_lock(&mon->lock);
    memgov_status st = mon->started ? mg_fail(MEMGOV_ESTATE, "memgov_monitor_add_metric: '%.80s' comes too late: "
                                              "metrics are fixed at the first sample", name)
                                    : add_metric_locked(mon, name, unit, fn, user);
    pthread_mutex_unlock(&mon->lock);
    return st;
}

MEMGOV_API const char *memgov_monitor_metric_name(memgov_monitor *mon, size_t index)
{
    if (mon == NULL)
        return NULL;
    pthread_mutex_lock(&mon->lock);
    const char *name = index < mon->n_metrics ? mon->metric[index].name : NULL;
    pthread_mutex_unlock(&mon->lock);
    return name;
}

uint64_t mg_kept(const memgov_monitor *mon)
{
    return mon->samples < mon->o.history_capacity ? mon->samples : mon->o.history_capacity;
}

double mg_value_at(const memgov_monitor *mon, uint64_t index, size_t metric, uint64_t *time_ns)
{
    uint64_t slot = (mon->samples - mg_kept(mon) + index) % mon->o.history_capacity;
    if (time_ns != NULL)
        *time_ns = mon->times[slot];
    return mon->rows[slot * mon->n_metrics + metric];
}

double mg_trend(const memgov_monitor *mon, size_t metric, int *full)
{
    uint64_t kept = mg_kept(mon), last, oldest;
    *full = 0;
    if (kept < 2)
        return NAN;
    mg_value_at(mon, kept - 1, metric, &last);
    mg_value_at(mon, 0, metric, &oldest);
    *full = last - oldest >= mon->o.trend_window_ns;
    /* Two passes over the window (newest first), centred, so large byte counts do not cancel out. */
    double sx = 0, sy = 0, sxy = 0, sxx = 0;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        double mx = n ? sx / (double)n : 0, my = n ? sy / (double)n : 0;
        for (uint64_t i = kept; i-- > 0;) {
            uint64_t t;
            double y = mg_value_at(mon, i, metric, &t);
            if (last - t > mon->o.trend_window_ns)
                break;
            if (isnan(y))
                continue;
            double x = -(double)(last - t) / 1e9;
            if (pass == 0) {
                sx += x;
                sy += y;
                n++;
            } else {
                sxy += (x - mx) * (y - my);
                sxx += (x - mx) * (x - mx);
            }
        }
        if (n < 2)
            return NAN;
    }
    return sxx > 0 ? sxy / sxx : NAN;
}

/* Under the lock: one alert recorded for delivery. */
static void raise_alert(memgov_monitor *mon, mg_rule *r, memgov_alert_level level, double value, double threshold,
                        int escalated, uint64_t now)
{
    uint64_t seq = ++mon->n_alerts;
    memgov_alert *a = &mon->alerts[(seq - 1) % mon->o.alert_history_capacity];
    *a = (memgov_alert){.struct_size = sizeof *a, .seq = seq, .time_ns = now, .rule = r->id,
                        .metric = mon->metric[r->metric].name, .level = level, .previous = r->level,
                        .value = value, .threshold = threshold, .escalated = escalated};
    r->level = level;
    r->escalated = escalated;
    if (level == MEMGOV_ALERT_WARNING)
        r->warning_since = now;
}

static int beyond(const mg_rule *r, double v, double threshold)
{
    return r->below ? v <= threshold : v >= threshold;
}

/* Under the lock: the rules against the newest sample. */
static void evaluate_alerts(memgov_monitor *mon, const double *row, uint64_t now)
{
    for (size_t i = 0; i < mon->n_rules; i++) {
        mg_rule *r = &mon->rules[i];
        double v = row[r->metric];
        if (isnan(v))
            continue;
        memgov_alert_level want = beyond(r, v, r->critical)  ? MEMGOV_ALERT_CRITICAL
                                  : beyond(r, v, r->warning) ? MEMGOV_ALERT_WARNING
                                                             : MEMGOV_ALERT_CLEAR;
        if (want == MEMGOV_ALERT_WARNING && r->level == MEMGOV_ALERT_CRITICAL && r->escalated)
            continue; /* escalated: stays critical until the value clears or really crosses critical */
        if (want == MEMGOV_ALERT_WARNING && r->level == MEMGOV_ALERT_WARNING && r->escalate_after_ns > 0 &&
            now - r->warning_since >= r->escalate_after_ns) {
            raise_alert(mon, r, MEMGOV_ALERT_CRITICAL, v, r->warning, 1, now);
            continue;
        }
        if (want == r->level && !(want == MEMGOV_ALERT_CRITICAL && r->escalated))
            continue;
        if (want == MEMGOV_ALERT_CRITICAL && r->level == MEMGOV_ALERT_CRITICAL) {
            r->escalated = 0; /* now critical by value: the same level, no new alert */
            continue;
        }
        raise_alert(mon, r, want, v, want == MEMGOV_ALERT_CRITICAL ? r->critical : r->warning, 0, now);
    }
}

/* Called with the lock held; returns with it released. */
static void deliver_and_unlock(memgov_monitor *mon)
{
    if (!mg_delivery_begin(&mon->delivery)) {
        pthread_mutex_unlock(&mon->lock);
        return;
    }
    for (;;) {
        if (mon->n_alerts - mon->delivered > mon->o.alert_history_capacity)
            mon->delivered = mon->n_alerts - mon->o.alert_history_capacity;
        if (mon->delivered == mon->n_alerts)
            break;
        uint64_t seq = ++mon->delivered;
        memgov_alert a = mon->alerts[(seq - 1) % mon->o.alert_history_capacity];
        /* By id, not index: a callback may add or remove listeners while the lock is released. */
        uint64_t last = 0;
        for (;;) {
            size_t i = 0;
            while (i < mon->n_callbacks && (mon->callback[i].id <= last || mon->callback[i].after >= seq))
                i++;
            if (i == mon->n_callbacks)
                break;
            mg_callback cb = mon->callback[i];
            last = cb.id;
            pthread_mutex_unlock(&mon->lock);
            cb.fn(&a, cb.user);
            pthread_mutex_lock(&mon->lock);
        }
    }
    mg_delivery_end(&mon->delivery);
    pthread_mutex_unlock(&mon->lock);
}

/* Under the lock: allocates the history ring at the first sample, when the metric count is final. */
static memgov_status ensure_rows(memgov_monitor *mon)
{
    if (mon->rows != NULL)
        return MEMGOV_OK;
    size_t cap = mon->o.history_capacity;
    if (mon->n_metrics > SIZE_MAX / sizeof(double) / cap)
        return mg_fail(MEMGOV_EOVERFLOW, "monitor history: %zu samples of %zu metrics overflow size_t", cap,
                       mon->n_metrics);
    mon->rows = malloc(cap * mon->n_metrics * sizeof(double));
    mon->times = malloc(cap * sizeof(uint64_t));
    if (mon->rows == NULL || mon->times == NULL) {
        free(mon->rows);
        free(mon->times);
        mon->rows = NULL;
        mon->times = NULL;
        return mg_fail(MEMGOV_ENOMEM, "monitor history: out of memory for %zu samples of %zu metrics", cap,
                       mon->n_metrics);
    }
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_monitor_sample(memgov_monitor *mon)
{
    if (mon == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_sample: the monitor is NULL");
    double v[MEMGOV_METRICS_MAX];
    mg_metric extra[MEMGOV_METRICS_MAX];
    pthread_mutex_lock(&mon->lock);
    mon->started = 1;
    size_t n = mon->n_metrics;
    memcpy(extra, mon->metric, n * sizeof extra[0]);
    pthread_mutex_unlock(&mon->lock);

    mg_read_builtins(mon->root, mon->o.pid, mon->o.process_tree, v);
    for (size_t i = MG_BUILTIN_METRICS; i < n; i++)
        v[i] = extra[i].fn(extra[i].ctx);

    pthread_mutex_lock(&mon->lock);
    memgov_status st = ensure_rows(mon);
    if (st != MEMGOV_OK) {
        pthread_mutex_unlock(&mon->lock);
        return st;
    }
    uint64_t now = mon->o.clock_ns(mon->o.clock_ctx);
    uint64_t slot = mon->samples++ % mon->o.history_capacity;
    mon->times[slot] = now;
    memcpy(&mon->rows[slot * n], v, n * sizeof v[0]);
    if (mon->samples == 1)
        mon->first_time_ns = now;
    mon->last_time_ns = now;
    for (size_t i = 0; i < n; i++) {
        mg_metric *m = &mon->metric[i];
        if (isnan(v[i]))
            continue;
        if (m->count == 0 || v[i] < m->min)
            m->min = v[i];
        if (m->count == 0 || v[i] > m->peak) {
            m->peak = v[i];
            m->peak_time_ns = now;
        }
        m->count++;
        m->sum += v[i];
        m->last = v[i];
    }
    int leak = mg_find_metric(mon, mon->leak_metric), full = 0;
    mon->leak_trend = leak >= 0 ? mg_trend(mon, (size_t)leak, &full) : NAN;
    mon->leak_suspected = full && mon->leak_trend > mon->o.leak_slope;
    evaluate_alerts(mon, v, now);
    deliver_and_unlock(mon);
    return MEMGOV_OK;
}

static void *sampler_main(void *arg)
{
    memgov_monitor *mon = arg;
    for (;;) {
        memgov_monitor_sample(mon);
        uint64_t due = mg_monotonic_ns(NULL) + mon->o.interval_ns;
        struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u)};
        pthread_mutex_lock(&mon->lock);
        while (!mon->stopping && pthread_cond_timedwait(&mon->wake, &mon->lock, &ts) == 0)
            ;
        int stop = mon->stopping;
        pthread_mutex_unlock(&mon->lock);
        if (stop)
            return NULL;
    }
}

MEMGOV_API memgov_status memgov_monitor_start(memgov_monitor *mon)
{
    if (mon == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_start: the monitor is NULL");
    pthread_mutex_lock(&mon->lock);
    if (mon->running) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ESTATE, "memgov_monitor_start: the sampler thread is running already");
    }
    mon->stopping = 0;
    int rc = pthread_create(&mon->thread, NULL, sampler_main, mon);
    mon->running = rc == 0;
    pthread_mutex_unlock(&mon->lock);
    return rc == 0 ? MEMGOV_OK : mg_fail(MEMGOV_ENOMEM, "memgov_monitor_start: cannot create the sampler thread");
}

MEMGOV_API memgov_status memgov_monitor_stop(memgov_monitor *mon)
{
    if (mon == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_stop: the monitor is NULL");
    pthread_mutex_lock(&mon->lock);
    if (!mon->running || mon->stopping) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ESTATE, "memgov_monitor_stop: the sampler thread is not running");
    }
    if (pthread_equal(mon->thread, pthread_self())) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ESTATE, "memgov_monitor_stop: called on the sampler thread (from a callback); it "
                       "cannot wait for itself");
    }
    mon->stopping = 1;
    pthread_cond_broadcast(&mon->wake);
    pthread_t t = mon->thread;
    pthread_mutex_unlock(&mon->lock);
    pthread_join(t, NULL);
    pthread_mutex_lock(&mon->lock);
    mon->running = 0;
    mon->stopping = 0;
    pthread_mutex_unlock(&mon->lock);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_monitor_get_metric_stats(memgov_monitor *mon, const char *metric,
                                                         memgov_metric_stats *out)
{
    if (mon == NULL || metric == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_get_metric_stats: %s is NULL",
                       mon == NULL ? "the monitor" : "metric");
    memgov_metric_stats s = {.struct_size = sizeof s};
    pthread_mutex_lock(&mon->lock);
    int i = mg_find_metric(mon, metric);
    if (i < 0) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ENOTFOUND, "monitor: no metric named '%.80s'", metric);
    }
    mg_metric_stats_locked(mon, (size_t)i, &s);
    pthread_mutex_unlock(&mon->lock);
    return mg_struct_out(out, &s, sizeof s, "memgov_metric_stats");
}

void mg_metric_stats_locked(const memgov_monitor *mon, size_t i, memgov_metric_stats *s)
{
    const mg_metric *m = &mon->metric[i];
    int full;
    s->samples = m->count;
    s->last = m->last;
    s->average = m->count ? m->sum / (double)m->count : NAN;
    s->min = m->count ? m->min : NAN;
    s->peak = m->count ? m->peak : NAN;
    s->peak_time_ns = m->peak_time_ns;
    s->trend_per_s = mg_trend(mon, i, &full);
    strcpy(s->unit, m->unit);
}

MEMGOV_API memgov_status memgov_monitor_history(memgov_monitor *mon, const char *metric, size_t index,
                                                uint64_t *time_ns, double *value)
{
    if (mon == NULL || metric == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_history: %s is NULL", mon == NULL ? "the monitor" : "metric");
    pthread_mutex_lock(&mon->lock);
    int i = mg_find_metric(mon, metric);
    uint64_t kept = mg_kept(mon);
    if (i < 0 || index >= kept) {
        pthread_mutex_unlock(&mon->lock);
        return i < 0 ? mg_fail(MEMGOV_ENOTFOUND, "monitor: no metric named '%.80s'", metric)
                     : mg_fail(MEMGOV_ENOTFOUND, "monitor history: index %zu is past the %llu samples kept", index,
                               (unsigned long long)kept);
    }
    uint64_t t;
    double v = mg_value_at(mon, index, (size_t)i, &t);
    pthread_mutex_unlock(&mon->lock);
    if (time_ns != NULL)
        *time_ns = t;
    if (value != NULL)
        *value = v;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_monitor_get_stats(memgov_monitor *mon, memgov_monitor_stats *out)
{
    if (mon == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_get_stats: the monitor is NULL");
    memgov_monitor_stats s = {.struct_size = sizeof s};
    pthread_mutex_lock(&mon->lock);
    s.samples = mon->samples;
    s.samples_kept = mg_kept(mon);
    s.first_time_ns = mon->first_time_ns;
    s.last_time_ns = mon->last_time_ns;
    s.metrics = (uint32_t)mon->n_metrics;
    s.running = mon->running;
    s.leak_suspected = mon->leak_suspected;
    s.leak_trend_per_s = mon->leak_trend;
    s.alerts = mon->n_alerts;
    pthread_mutex_unlock(&mon->lock);
    return mg_struct_out(out, &s, sizeof s, "memgov_monitor_stats");
}

MEMGOV_API memgov_status memgov_monitor_add_alert(memgov_monitor *mon, const memgov_alert_rule *rule,
                                                  uint32_t *id)
{
    if (mon == NULL || rule == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_add_alert: %s is NULL", mon == NULL ? "the monitor" : "rule");
    memgov_alert_rule r;
    memgov_alert_rule_init(&r);
    memgov_status st = mg_struct_in(&r, sizeof r, rule, "memgov_alert_rule");
    if (st != MEMGOV_OK)
        return st;
    if (r.metric == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_add_alert: the rule names no metric");
    if (isnan(r.warning) || isnan(r.critical) || (r.below ? r.warning < r.critical : r.warning > r.critical))
        return mg_fail(MEMGOV_EINVAL, "alert on '%.80s': warning %g must come before critical %g (%s)", r.metric,
                       r.warning, r.critical, r.below ? "falling values: warning >= critical"
                                                      : "rising values: warning <= critical");
    pthread_mutex_lock(&mon->lock);
    int m = mg_find_metric(mon, r.metric);
    if (m < 0) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ENOTFOUND, "alert: no metric named '%.80s'", r.metric);
    }
    mg_rule *grown = mg_grow(mon->rules, &mon->cap_rules, mon->n_rules, sizeof *grown, 4);
    if (grown == NULL) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ENOMEM, "memgov_monitor_add_alert: out of memory for %zu rules", mon->n_rules + 1);
    }
    mon->rules = grown;
    mg_rule *nr = &mon->rules[mon->n_rules];
    *nr = (mg_rule){.id = (uint32_t)mon->n_rules + 1, .metric = (size_t)m, .warning = r.warning,
                    .critical = r.critical, .below = r.below != 0, .escalate_after_ns = r.escalate_after_ns};
    mon->n_rules++;
    pthread_mutex_unlock(&mon->lock);
    if (id != NULL)
        *id = nr->id;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_monitor_add_alert_listener(memgov_monitor *mon, memgov_alert_fn fn, void *user,
                                                           uint64_t *id)
{
    if (mon == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_add_alert_listener: %s is NULL",
                       mon == NULL ? "the monitor" : "fn");
    pthread_mutex_lock(&mon->lock);
    if (mon->n_callbacks == MEMGOV_MONITOR_MAX_ALERT_LISTENERS) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ERANGE, "memgov_monitor_add_alert_listener: the monitor holds the maximum of %d "
                       "alert listeners (MEMGOV_MONITOR_MAX_ALERT_LISTENERS)", MEMGOV_MONITOR_MAX_ALERT_LISTENERS);
    }
    uint64_t new_id = mon->next_callback_id++;
    mon->callback[mon->n_callbacks++] = (mg_callback){.id = new_id, .fn = fn, .user = user, .after = mon->n_alerts};
    pthread_mutex_unlock(&mon->lock);
    if (id != NULL)
        *id = new_id;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_monitor_remove_alert_listener(memgov_monitor *mon, uint64_t id)
{
    if (mon == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_remove_alert_listener: the monitor is NULL");
    pthread_mutex_lock(&mon->lock);
    memgov_status st = mg_id_table_remove(mon->callback, &mon->n_callbacks, sizeof mon->callback[0], id,
                                          "memgov_monitor_remove_alert_listener", "alert listener");
    if (st == MEMGOV_OK)
        mg_delivery_wait(&mon->delivery, &mon->lock);
    pthread_mutex_unlock(&mon->lock);
    return st;
}

MEMGOV_API memgov_status memgov_monitor_alert_history(memgov_monitor *mon, size_t index, memgov_alert *out)
{
    if (mon == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_alert_history: the monitor is NULL");
    pthread_mutex_lock(&mon->lock);
    uint64_t cap = mon->o.alert_history_capacity, kept = mon->n_alerts < cap ? mon->n_alerts : cap;
    if (index >= kept) {
        pthread_mutex_unlock(&mon->lock);
        return mg_fail(MEMGOV_ENOTFOUND, "monitor alert history: index %zu is past the %llu alerts kept", index,
                       (unsigned long long)kept);
    }
    memgov_alert a = mon->alerts[(mon->n_alerts - kept + index) % cap];
    pthread_mutex_unlock(&mon->lock);
    return mg_struct_out(out, &a, sizeof a, "memgov_alert");
}
