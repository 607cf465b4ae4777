/* The monitor's summary report (text and JSON) and the leak check helper. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"
#include "internal/text.h"
#include "internal/structsize.h"
#include "monitor/monitor_internal.h"

static double seconds(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* A value for people: bytes in binary units, other units as numbers; "-" when unknown. */
static void put_value(mg_text *o, double v, const char *unit, int width)
{
    char text[40];
    if (isnan(v))
        snprintf(text, sizeof text, "-");
    else if (strcmp(unit, "bytes") == 0 && v >= 0 && v < 1.8e19)
        memgov_format_bytes((uint64_t)v, text, sizeof text);
    else if (strcmp(unit, "bytes") == 0)
        snprintf(text, sizeof text, "%.3g B", v);
    else
        snprintf(text, sizeof text, "%.4g", v);
    mg_text_put(o, "%-*s", width, text);
}

static void put_json_number(mg_text *o, double v)
{
    if (isfinite(v))
        mg_text_put(o, "%.17g", v);
    else
        mg_text_put(o, "null");
}

static void report_text(const memgov_monitor *mon, mg_text *o)
{
    uint64_t span = mon->last_time_ns - mon->first_time_ns;
    mg_text_put(o, "memgov monitor summary\n");
    mg_text_put(o, "duration  %.3f s, %llu samples, every %.3f s\n", seconds(span), (unsigned long long)mon->samples,
        seconds(mon->o.interval_ns));
    mg_text_put(o, "%-20s %-11s %-11s %-11s %-11s %-10s %s\n", "metric", "last", "average", "min", "peak", "peak at",
        "trend/s");
    for (size_t i = 0; i < mon->n_metrics; i++) {
        memgov_metric_stats s;
        mg_metric_stats_locked(mon, i, &s);
        if (s.samples == 0)
            continue; /* a source this machine does not have */
        mg_text_put(o, "%-20s ", mon->metric[i].name);
        put_value(o, s.last, s.unit, 12);
        put_value(o, s.average, s.unit, 12);
        put_value(o, s.min, s.unit, 12);
        put_value(o, s.peak, s.unit, 12);
        mg_text_put(o, "%-10.3f ", seconds(s.peak_time_ns - mon->first_time_ns));
        if (isnan(s.trend_per_s))
            mg_text_put(o, "-\n");
        else if (strcmp(s.unit, "bytes") == 0) {
            mg_text_put(o, "%s", s.trend_per_s < 0 ? "-" : "+");
            put_value(o, fabs(s.trend_per_s), s.unit, 0);
            mg_text_put(o, "\n");
        } else {
            mg_text_put(o, "%+.4g\n", s.trend_per_s);
        }
    }
    mg_text_put(o, "swap      process ");
    put_value(o, mon->metric[1].last, "bytes", 0);
    mg_text_put(o, ", system ");
    put_value(o, mon->metric[3].last, "bytes", 0);
    mg_text_put(o, "\nleak      %s", mon->leak_suspected ? "SUSPECTED: " : "not suspected: ");
    int leak = mg_find_metric(mon, mon->leak_metric);
    const char *unit = leak >= 0 ? mon->metric[leak].unit : "";
    mg_text_put(o, "%s trend ", mon->leak_metric);
    put_value(o, mon->leak_trend, unit, 0);
    uint64_t window = span < mon->o.trend_window_ns ? span : mon->o.trend_window_ns; /* what the samples cover */
    mg_text_put(o, "/s over %.3g s of a %.3g s window (threshold ", seconds(window), seconds(mon->o.trend_window_ns));
    put_value(o, mon->o.leak_slope, unit, 0);
    mg_text_put(o, "/s)\n");
    uint64_t cap = mon->o.alert_history_capacity, kept = mon->n_alerts < cap ? mon->n_alerts : cap;
    mg_text_put(o, "alerts    %llu\n", (unsigned long long)mon->n_alerts);
    for (uint64_t k = 0; k < kept; k++) {
        const memgov_alert *a = &mon->alerts[(mon->n_alerts - kept + k) % cap];
        mg_text_put(o, "  %9.3f s  %-8s %s = ", seconds(a->time_ns - mon->first_time_ns),
                    memgov_alert_level_name(a->level),
            a->metric);
        put_value(o, a->value, mon->metric[mon->rules[a->rule - 1].metric].unit, 0);
        mg_text_put(o, " (threshold ");
        put_value(o, a->threshold, mon->metric[mon->rules[a->rule - 1].metric].unit, 0);
        mg_text_put(o, ")%s\n", a->escalated ? " escalated" : "");
    }
}

static void report_json(const memgov_monitor *mon, mg_text *o)
{
    mg_text_put(o, "{\"duration_s\":%.9g,\"samples\":%llu,\"interval_s\":%.9g,\"metrics\":{",
        seconds(mon->last_time_ns - mon->first_time_ns), (unsigned long long)mon->samples,
        seconds(mon->o.interval_ns));
    for (size_t i = 0; i < mon->n_metrics; i++) {
        memgov_metric_stats s;
        mg_metric_stats_locked(mon, i, &s);
        mg_text_put(o, "%s", i ? "," : "");
        mg_text_put_json(o, mon->metric[i].name);
        mg_text_put(o, ":{\"unit\":");
        mg_text_put_json(o, s.unit);
        mg_text_put(o, ",\"samples\":%llu,\"last\":", (unsigned long long)s.samples);
        put_json_number(o, s.last);
        mg_text_put(o, ",\"average\":");
        put_json_number(o, s.average);
        mg_text_put(o, ",\"min\":");
        put_json_number(o, s.min);
        mg_text_put(o, ",\"peak\":");
        put_json_number(o, s.peak);
        mg_text_put(o, ",\"peak_time_s\":");
        put_json_number(o, s.samples ? seconds(s.peak_time_ns - mon->first_time_ns) : NAN);
        mg_text_put(o, ",\"trend_per_s\":");
        put_json_number(o, s.trend_per_s);
        mg_text_put(o, "}");
    }
    mg_text_put(o, "},\"swap\":{\"process\":");
    put_json_number(o, mon->metric[1].last);
    mg_text_put(o, ",\"system\":");
    put_json_number(o, mon->metric[3].last);
    mg_text_put(o, "},\"leak\":{\"metric\":");
    mg_text_put_json(o, mon->leak_metric);
    mg_text_put(o, ",\"suspected\":%s,\"trend_per_s\":", mon->leak_suspected ? "true" : "false");
    put_json_number(o, mon->leak_trend);
    mg_text_put(o, ",\"threshold_per_s\":");
    put_json_number(o, mon->o.leak_slope);
    mg_text_put(o, "},\"alerts\":[");
    uint64_t cap = mon->o.alert_history_capacity, kept = mon->n_alerts < cap ? mon->n_alerts : cap;
    for (uint64_t k = 0; k < kept; k++) {
        const memgov_alert *a = &mon->alerts[(mon->n_alerts - kept + k) % cap];
        mg_text_put(o, "%s{\"seq\":%llu,\"time_s\":%.9g,\"metric\":", k ? "," : "", (unsigned long long)a->seq,
                    seconds(a->time_ns - mon->first_time_ns));
        mg_text_put_json(o, a->metric);
        mg_text_put(o, ",\"level\":\"%s\",\"previous\":\"%s\",\"value\":", memgov_alert_level_name(a->level),
                    memgov_alert_level_name(a->previous));
        put_json_number(o, a->value);
        mg_text_put(o, ",\"threshold\":");
        put_json_number(o, a->threshold);
        mg_text_put(o, ",\"escalated\":%s}", a->escalated ? "true" : "false");
    }
    mg_text_put(o, "]}\n");
}

MEMGOV_API memgov_status memgov_monitor_report(memgov_monitor *mon, memgov_report_format format, char *buf,
                                               size_t size, size_t *length)
{
    if (mon == NULL || (buf == NULL && size > 0))
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_report: %s is NULL", mon == NULL ? "the monitor" : "buf");
    if (format != MEMGOV_REPORT_TEXT && format != MEMGOV_REPORT_JSON)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_report: format %d is neither text (0) nor JSON (1)",
                       (int)format);
    mg_text o;
    mg_text_init(&o, buf, size);
    pthread_mutex_lock(&mon->lock);
    if (format == MEMGOV_REPORT_TEXT)
        report_text(mon, &o);
    else
        report_json(mon, &o);
    pthread_mutex_unlock(&mon->lock);
    return mg_text_finish(&o, length, "memgov_monitor_report: the report");
}

/* The newest sample's value of metric i (NaN if none). */
static double newest(memgov_monitor *mon, int i)
{
    pthread_mutex_lock(&mon->lock);
    uint64_t kept = mg_kept(mon);
    double v = i >= 0 && kept > 0 ? mg_value_at(mon, kept - 1, (size_t)i, NULL) : NAN;
    pthread_mutex_unlock(&mon->lock);
    return v;
}

MEMGOV_API memgov_status memgov_monitor_leak_check(memgov_monitor *mon, memgov_leak_iteration_fn fn, void *user,
                                                   uint32_t iterations, const char *metric,
                                                   memgov_leak_report *out_report)
{
    if (mon == NULL || fn == NULL || out_report == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_leak_check: %s is NULL",
                       mon == NULL ? "the monitor" : fn == NULL ? "fn" : "the report");
    if (iterations < 2)
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_leak_check: %u iterations; a growth rate needs at least 2",
                       iterations);
    if (out_report->struct_size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "memgov_monitor_leak_check: report struct_size is %zu",
                       out_report->struct_size);
    pthread_mutex_lock(&mon->lock);
    int m = metric != NULL ? mg_find_metric(mon, metric) : -1;
    pthread_mutex_unlock(&mon->lock);
    if (metric != NULL && m < 0)
        return mg_fail(MEMGOV_ENOTFOUND, "memgov_monitor_leak_check: no metric named '%.80s'", metric);
    double *x = calloc(iterations, 3 * sizeof(double)); /* calloc checks the product for overflow */
    if (x == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_monitor_leak_check: out of memory for %u iterations", iterations);
    double *rss = x + iterations, *other = rss + iterations;
    memgov_status st = MEMGOV_OK;
    for (uint32_t i = 0; i < iterations && st == MEMGOV_OK; i++) {
        fn(i, user);
        st = memgov_monitor_sample(mon);
        x[i] = (double)i;
        rss[i] = newest(mon, 0);
        other[i] = newest(mon, m);
    }
    memgov_leak_report r = {.struct_size = sizeof r, .iterations = iterations};
    r.rss_per_iteration = mg_slope(x, rss, iterations);
    r.metric_per_iteration = m >= 0 ? mg_slope(x, other, iterations) : NAN;
    r.rss_first = rss[0];
    r.rss_last = rss[iterations - 1];
    free(x);
    if (st != MEMGOV_OK)
        return st;
    return mg_struct_out(out_report, &r, sizeof r, "memgov_leak_report");
}
