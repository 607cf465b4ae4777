/* Specification of the monitor on fixture /proc trees and an injected clock: built-in metrics, the process tree,
 * the history ring, peaks, trends and leak suspicion, extra metric sources, alerts, reports, the leak check. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "memgov.h"
#include "support.h"

#define SEC 1000000000ull
#define MIB 1048576.0

static char root[PATH_MAX];

/* Writes a fixture file under root. */
#define put(path, ...) mg_test_put(root, path, __VA_ARGS__)
static uint64_t now_ns;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now_ns;
}

static void set_rss_kb(unsigned long kb)
{
    put("/proc/self/status", "Name:\tx\nVmRSS:\t%lu kB\nVmSwap:\t8 kB\n", kb);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/memgov-monitor-XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    set_rss_kb(1024);
    put("/proc/meminfo", "MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\nSwapTotal: 1000 kB\nSwapFree: 400 kB\n");
    put("/proc/self/cgroup", "0::/app.slice\n");
    put("/sys/fs/cgroup/cgroup.controllers", "memory\n");
    put("/sys/fs/cgroup/app.slice/memory.current", "536870912\n");
    put("/sys/fs/cgroup/app.slice/memory.events", "low 0\nhigh 7\nmax 2\noom 1\noom_kill 1\n");
    put("/proc/pressure/memory", "some avg10=1.50 avg60=0.00 avg300=0.00 total=1\n"
                                 "full avg10=0.25 avg60=0.00 avg300=0.00 total=1\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static memgov_monitor *monitor_with(memgov_monitor_options *o)
{
    now_ns = 100 * SEC;
    o->proc_root = root;
    o->clock_ns = fake_clock;
    memgov_monitor *mon = NULL;
    assert_int_equal(memgov_monitor_create(o, &mon), MEMGOV_OK);
    return mon;
}

static memgov_monitor *monitor(void)
{
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    return monitor_with(&o);
}

static double last(memgov_monitor *mon, const char *metric)
{
    memgov_metric_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_monitor_get_metric_stats(mon, metric, &s), MEMGOV_OK);
    return s.last;
}

static void builtin_metrics_are_read_from_proc_cgroup_and_psi(void **state)
{
    (void)state;
    set_rss_kb(1024);
    memgov_monitor *mon = monitor();
    assert_int_equal(memgov_monitor_sample(mon), MEMGOV_OK);
    assert_true(last(mon, "process.rss") == 1024.0 * 1024);
    assert_true(last(mon, "process.swap") == 8.0 * 1024);
    assert_true(last(mon, "system.available") == 4000000.0 * 1024);
    assert_true(last(mon, "system.swap_used") == 600.0 * 1024);
    assert_true(last(mon, "cgroup.current") == 536870912.0);
    assert_true(last(mon, "cgroup.events.oom") == 1.0);
    assert_true(last(mon, "cgroup.events.max") == 2.0);
    assert_true(last(mon, "cgroup.events.high") == 7.0);
    assert_true(last(mon, "psi.some_avg10") == 1.5);
    assert_true(last(mon, "psi.full_avg10") == 0.25);
    assert_string_equal(memgov_monitor_metric_name(mon, 0), "process.rss");
    assert_string_equal(memgov_monitor_metric_name(mon, 10), "jemalloc.active");
    assert_null(memgov_monitor_metric_name(mon, 14));
    double resident = last(mon, "jemalloc.resident"); /* in-process, whatever the root */
    assert_true(resident > 0 && !isinf(resident));
    memgov_monitor_destroy(mon);
}

static void an_unreadable_source_is_unknown_not_an_error(void **state)
{
    (void)state;
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    memgov_monitor *mon = monitor_with(&o);
    memgov_monitor_destroy(mon);
    o.proc_root = "/nonexistent-memgov-root";
    now_ns = 0;
    assert_int_equal(memgov_monitor_create(&o, &mon), MEMGOV_OK);
    assert_int_equal(memgov_monitor_sample(mon), MEMGOV_OK);
    assert_true(isnan(last(mon, "process.rss")));
    memgov_metric_stats s = {.struct_size = sizeof s};
    memgov_monitor_get_metric_stats(mon, "cgroup.current", &s);
    assert_int_equal(s.samples, 0);
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "no.such", &s), MEMGOV_ENOTFOUND);
    memgov_monitor_destroy(mon);
}

static void the_process_tree_sums_every_descendant(void **state)
{
    (void)state;
    put("/proc/100/stat", "100 (sh) S 1 100 100 0\n");
    put("/proc/100/status", "VmRSS:\t1000 kB\n");
    put("/proc/101/stat", "101 (my (odd) child) S 100 100 100 0\n");
    put("/proc/101/status", "VmRSS:\t200 kB\nVmSwap:\t4 kB\n");
    put("/proc/102/stat", "102 (grandchild) R 101 100 100 0\n");
    put("/proc/102/status", "VmRSS:\t30 kB\n");
    put("/proc/103/stat", "103 (stranger) S 1 103 103 0\n");
    put("/proc/103/status", "VmRSS:\t99999 kB\n");
    put("/proc/104/stat", "104 (zombie) Z 100 100 100 0\n");
    put("/proc/104/status", "Name:\tzombie\n");
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    o.pid = 100;
    o.process_tree = 1;
    memgov_monitor *mon = monitor_with(&o);
    memgov_monitor_sample(mon);
    assert_true(last(mon, "process.rss") == 1230.0 * 1024);
    assert_true(last(mon, "process.swap") == 4.0 * 1024);
    memgov_monitor_destroy(mon);
    o.process_tree = 0;
    mon = monitor_with(&o);
    memgov_monitor_sample(mon);
    assert_true(last(mon, "process.rss") == 1000.0 * 1024);
    memgov_monitor_destroy(mon);
}

static double counter_value;
static double counter(void *ctx)
{
    (void)ctx;
    return counter_value;
}

static void the_history_keeps_the_newest_samples_with_peaks_and_their_time(void **state)
{
    (void)state;
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    o.history_capacity = 4;
    memgov_monitor *mon = monitor_with(&o);
    assert_int_equal(memgov_monitor_add_metric(mon, "budget.used", "bytes", counter, NULL), MEMGOV_OK);
    const double values[] = {10, 50, 20, 30, 40, 35};
    for (int i = 0; i < 6; i++) {
        now_ns += SEC;
        counter_value = values[i];
        memgov_monitor_sample(mon);
    }
    memgov_monitor_stats ms = {.struct_size = sizeof ms};
    memgov_monitor_get_stats(mon, &ms);
    assert_int_equal(ms.samples, 6);
    assert_int_equal(ms.samples_kept, 4);
    uint64_t t;
    double v;
    assert_int_equal(memgov_monitor_history(mon, "budget.used", 0, &t, &v), MEMGOV_OK);
    assert_true(v == 20.0);
    assert_int_equal(t, 103 * SEC);
    assert_int_equal(memgov_monitor_history(mon, "budget.used", 3, &t, &v), MEMGOV_OK);
    assert_true(v == 35.0);
    assert_int_equal(memgov_monitor_history(mon, "budget.used", 4, &t, &v), MEMGOV_ENOTFOUND);
    memgov_metric_stats s = {.struct_size = sizeof s};
    memgov_monitor_get_metric_stats(mon, "budget.used", &s);
    assert_true(s.peak == 50.0); /* peaks outlive the ring */
    assert_int_equal(s.peak_time_ns, 102 * SEC);
    assert_true(s.min == 10.0);
    assert_true(s.average == 185.0 / 6);
    assert_string_equal(s.unit, "bytes");
    memgov_monitor_destroy(mon);
}

static void metrics_are_fixed_at_the_first_sample_and_names_are_checked(void **state)
{
    (void)state;
    memgov_monitor *mon = monitor();
    assert_int_equal(memgov_monitor_add_metric(mon, "process.rss", "bytes", counter, NULL), MEMGOV_EEXIST);
    assert_int_equal(memgov_monitor_add_metric(mon, "bad name", "bytes", counter, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_monitor_add_metric(mon, "x", "a-unit-much-too-long", counter, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_monitor_add_metric(mon, "x", "bytes", NULL, NULL), MEMGOV_EINVAL);
    memgov_monitor_sample(mon);
    assert_int_equal(memgov_monitor_add_metric(mon, "late", "bytes", counter, NULL), MEMGOV_ESTATE);
    memgov_monitor_destroy(mon);
}

static void the_trend_is_the_least_squares_slope_and_a_sustained_rise_is_a_leak(void **state)
{
    (void)state;
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    o.trend_window_ns = 10 * SEC;
    o.leak_slope = 0.5 * MIB; /* per second */
    memgov_monitor *mon = monitor_with(&o);
    memgov_monitor_stats ms = {.struct_size = sizeof ms};
    for (int i = 0; i <= 10; i++) { /* +1 MiB/s, with a wobble that least squares averages out */
        set_rss_kb(100000 + (unsigned long)i * 1024 + (i % 2 ? 64 : 0));
        memgov_monitor_sample(mon);
        memgov_monitor_get_stats(mon, &ms);
        if (i < 10)
            assert_int_equal(ms.leak_suspected, 0); /* the window is not full yet */
        now_ns += SEC;
    }
    assert_int_equal(ms.leak_suspected, 1);
    assert_true(fabs(ms.leak_trend_per_s - MIB) < 0.01 * MIB);
    for (int i = 0; i <= 10; i++) { /* flat again: the window forgets the rise */
        memgov_monitor_sample(mon);
        now_ns += SEC;
    }
    memgov_monitor_get_stats(mon, &ms);
    assert_int_equal(ms.leak_suspected, 0);
    assert_true(ms.leak_trend_per_s == 0.0);
    memgov_monitor_destroy(mon);
}

typedef struct alerts_seen {
    int n;
    memgov_alert a[32];
} alerts_seen;

static void on_alert(const memgov_alert *a, void *ctx)
{
    alerts_seen *s = ctx;
    if (s->n < 32)
        s->a[s->n++] = *a;
}

static void feed(memgov_monitor *mon, double v)
{
    counter_value = v;
    now_ns += SEC;
    assert_int_equal(memgov_monitor_sample(mon), MEMGOV_OK);
}

static void alerts_fire_on_level_changes_only(void **state)
{
    (void)state;
    memgov_monitor *mon = monitor();
    memgov_monitor_add_metric(mon, "pressure", "ratio", counter, NULL);
    memgov_alert_rule r;
    memgov_alert_rule_init(&r);
    r.metric = "pressure";
    r.warning = 0.70;
    r.critical = 0.95;
    uint32_t id = 0;
    assert_int_equal(memgov_monitor_add_alert(mon, &r, &id), MEMGOV_OK);
    assert_int_equal(id, 1);
    alerts_seen s = {0};
    memgov_monitor_add_alert_listener(mon, on_alert, &s, NULL);
    const double seq[] = {0.5, 0.7, 0.8, 0.75, NAN, 0.96, 0.99, 0.8, 0.1, 0.1};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
        feed(mon, seq[i]);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.a[0].level, MEMGOV_ALERT_WARNING);
    assert_true(s.a[0].value == 0.7 && s.a[0].threshold == 0.70);
    assert_int_equal(s.a[1].level, MEMGOV_ALERT_CRITICAL);
    assert_int_equal(s.a[1].previous, MEMGOV_ALERT_WARNING);
    assert_true(s.a[1].value == 0.96);
    assert_int_equal(s.a[2].level, MEMGOV_ALERT_WARNING);
    assert_int_equal(s.a[3].level, MEMGOV_ALERT_CLEAR);
    assert_string_equal(s.a[3].metric, "pressure");
    assert_int_equal(s.a[3].seq, 4);
    memgov_alert h = {.struct_size = sizeof h};
    assert_int_equal(memgov_monitor_alert_history(mon, 1, &h), MEMGOV_OK);
    assert_int_equal(h.level, MEMGOV_ALERT_CRITICAL);
    assert_int_equal(memgov_monitor_alert_history(mon, 4, &h), MEMGOV_ENOTFOUND);
    memgov_monitor_destroy(mon);
}

static void a_persisting_warning_escalates_to_critical_once(void **state)
{
    (void)state;
    memgov_monitor *mon = monitor();
    memgov_monitor_add_metric(mon, "available", "bytes", counter, NULL);
    memgov_alert_rule r;
    memgov_alert_rule_init(&r);
    r.metric = "available";
    r.below = 1; /* falling values are bad */
    r.warning = 1000;
    r.critical = 100;
    r.escalate_after_ns = 3 * SEC;
    assert_int_equal(memgov_monitor_add_alert(mon, &r, NULL), MEMGOV_OK);
    alerts_seen s = {0};
    memgov_monitor_add_alert_listener(mon, on_alert, &s, NULL);
    feed(mon, 900); /* warning at t1 */
    feed(mon, 800);
    feed(mon, 700);
    assert_int_equal(s.n, 1);
    feed(mon, 900); /* 3 s of warning: escalated */
    feed(mon, 900);
    feed(mon, 50); /* critical by value: same level, no new alert */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.a[1].level, MEMGOV_ALERT_CRITICAL);
    assert_int_equal(s.a[1].escalated, 1);
    feed(mon, 5000);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.a[2].level, MEMGOV_ALERT_CLEAR);
    r.warning = 10; /* below: warning must not be under critical */
    assert_int_equal(memgov_monitor_add_alert(mon, &r, NULL), MEMGOV_EINVAL);
    r.metric = "nothing";
    r.warning = 1000;
    assert_int_equal(memgov_monitor_add_alert(mon, &r, NULL), MEMGOV_ENOTFOUND);
    memgov_monitor_destroy(mon);
}

static void the_report_summarises_metrics_leak_and_alerts_in_text_and_json(void **state)
{
    (void)state;
    memgov_monitor *mon = monitor();
    memgov_monitor_add_metric(mon, "budget.used", "bytes", counter, NULL);
    memgov_alert_rule r;
    memgov_alert_rule_init(&r);
    r.metric = "budget.used";
    r.warning = 1000;
    r.critical = 2000;
    memgov_monitor_add_alert(mon, &r, NULL);
    feed(mon, 500);
    feed(mon, 3000);
    feed(mon, 1500);
    char text[8192];
    size_t len = 0;
    assert_int_equal(memgov_monitor_report(mon, MEMGOV_REPORT_TEXT, text, sizeof text, &len), MEMGOV_OK);
    assert_int_equal(len, strlen(text));
    assert_non_null(strstr(text, "duration  2.000 s, 3 samples"));
    assert_non_null(strstr(text, "budget.used"));
    assert_non_null(strstr(text, "2.93 KiB")); /* the peak */
    assert_non_null(strstr(text, "critical budget.used = 2.93 KiB"));
    assert_non_null(strstr(text, "swap      process 8.00 KiB, system 600 KiB"));
    assert_non_null(strstr(text, "leak      not suspected"));
    char json[8192];
    assert_int_equal(memgov_monitor_report(mon, MEMGOV_REPORT_JSON, json, sizeof json, &len), MEMGOV_OK);
    assert_non_null(strstr(json, "\"budget.used\":{\"unit\":\"bytes\",\"samples\":3,\"last\":1500,"
                                 "\"average\":1666.6666666666667,\"min\":500,\"peak\":3000,\"peak_time_s\":1,"));
    assert_non_null(strstr(json, "\"level\":\"warning\",\"previous\":\"critical\",\"value\":1500"));
    assert_non_null(strstr(json, "\"leak\":{\"metric\":\"process.rss\",\"suspected\":false"));
    char small[16];
    assert_int_equal(memgov_monitor_report(mon, MEMGOV_REPORT_JSON, small, sizeof small, &len), MEMGOV_ERANGE);
    assert_int_equal(len, strlen(json));
    assert_int_equal(strlen(small), 15);
    assert_int_equal(memgov_monitor_report(mon, (memgov_report_format)9, json, sizeof json, &len), MEMGOV_EINVAL);
    memgov_monitor_destroy(mon);
}

static void grow(uint32_t i, void *ctx)
{
    (void)ctx;
    set_rss_kb(2000 + 4u * i);
    counter_value = 100.0 + 10.0 * i;
}

static void the_leak_check_reports_growth_per_iteration(void **state)
{
    (void)state;
    memgov_monitor *mon = monitor();
    memgov_monitor_add_metric(mon, "budget.used", "bytes", counter, NULL);
    memgov_leak_report r = {.struct_size = sizeof r};
    assert_int_equal(memgov_monitor_leak_check(mon, grow, NULL, 8, "budget.used", &r), MEMGOV_OK);
    assert_int_equal(r.iterations, 8);
    assert_true(r.rss_per_iteration == 4096.0);
    assert_true(r.metric_per_iteration == 10.0);
    assert_true(r.rss_first == 2000.0 * 1024);
    assert_true(r.rss_last == 2028.0 * 1024);
    assert_int_equal(memgov_monitor_leak_check(mon, grow, NULL, 8, NULL, &r), MEMGOV_OK);
    assert_true(isnan(r.metric_per_iteration));
    assert_int_equal(memgov_monitor_leak_check(mon, grow, NULL, 1, NULL, &r), MEMGOV_EINVAL);
    assert_int_equal(memgov_monitor_leak_check(mon, grow, NULL, 8, "nope", &r), MEMGOV_ENOTFOUND);
    memgov_monitor_destroy(mon);
}

static void the_sampler_thread_samples_until_stopped(void **state)
{
    (void)state;
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    o.interval_ns = 1000000; /* 1 ms */
    memgov_monitor *mon = monitor_with(&o);
    assert_int_equal(memgov_monitor_start(mon), MEMGOV_OK);
    assert_int_equal(memgov_monitor_start(mon), MEMGOV_ESTATE);
    memgov_monitor_stats ms = {.struct_size = sizeof ms};
    memgov_monitor_get_stats(mon, &ms);
    assert_int_equal(ms.running, 1);
    assert_int_equal(memgov_monitor_stop(mon), MEMGOV_OK);
    memgov_monitor_get_stats(mon, &ms);
    assert_int_equal(ms.running, 0);
    assert_true(ms.samples >= 1); /* the thread samples at once */
    uint64_t taken = ms.samples;
    assert_int_equal(memgov_monitor_stop(mon), MEMGOV_ESTATE);
    memgov_monitor_get_stats(mon, &ms);
    assert_int_equal(ms.samples, taken); /* stopped means stopped */
    assert_int_equal(memgov_monitor_start(mon), MEMGOV_OK); /* and it can start again */
    memgov_monitor_destroy(mon);                             /* destroy stops it */
}

typedef struct reentry {
    memgov_monitor *mon;
    int calls;
    uint64_t samples_seen;
    memgov_status stop_status;
    volatile int done;
} reentry;

/* A monitor with the `counter` metric as "level" and an alert on it: warning at 1, critical at 2. */
static memgov_monitor *level_alert_monitor(void)
{
    memgov_monitor *mon = monitor();
    memgov_monitor_add_metric(mon, "level", "count", counter, NULL);
    memgov_alert_rule rule;
    memgov_alert_rule_init(&rule);
    rule.metric = "level";
    rule.warning = 1;
    rule.critical = 2;
    memgov_monitor_add_alert(mon, &rule, NULL);
    return mon;
}

static void read_back(const memgov_alert *a, void *ctx)
{
    (void)a;
    reentry *r = ctx;
    memgov_monitor_stats ms = {.struct_size = sizeof ms};
    assert_int_equal(memgov_monitor_get_stats(r->mon, &ms), MEMGOV_OK); /* would deadlock under the lock */
    r->samples_seen = ms.samples;
    r->calls++;
}

static void an_alert_callback_may_call_back_into_the_monitor(void **state)
{
    (void)state;
    reentry r = {.mon = level_alert_monitor()};
    memgov_monitor_add_alert_listener(r.mon, read_back, &r, NULL);
    feed(r.mon, 5);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.samples_seen, 1);
    memgov_monitor_destroy(r.mon);
}

static void try_stop(const memgov_alert *a, void *ctx)
{
    (void)a;
    reentry *r = ctx;
    r->stop_status = memgov_monitor_stop(r->mon);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

/* Listeners are called in the order added; ids are never 0 nor reused; the table holds
 * MEMGOV_MONITOR_MAX_ALERT_LISTENERS and says MEMGOV_ERANGE beyond. */
static void alert_listeners_are_added_and_removed_by_id(void **state)
{
    (void)state;
    memgov_monitor *mon = level_alert_monitor();
    alerts_seen s[MEMGOV_MONITOR_MAX_ALERT_LISTENERS] = {0};
    uint64_t id[MEMGOV_MONITOR_MAX_ALERT_LISTENERS];
    for (int i = 0; i < MEMGOV_MONITOR_MAX_ALERT_LISTENERS; i++) {
        assert_int_equal(memgov_monitor_add_alert_listener(mon, on_alert, &s[i], &id[i]), MEMGOV_OK);
        assert_true(id[i] != 0 && (i == 0 || id[i] > id[i - 1]));
    }
    assert_int_equal(memgov_monitor_add_alert_listener(mon, on_alert, &s[0], NULL), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_MONITOR_MAX_ALERT_LISTENERS"));
    assert_int_equal(memgov_monitor_remove_alert_listener(mon, id[5]), MEMGOV_OK);
    assert_int_equal(memgov_monitor_remove_alert_listener(mon, id[5]), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_monitor_remove_alert_listener(mon, 0), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_monitor_remove_alert_listener(NULL, id[0]), MEMGOV_EINVAL);
    assert_int_equal(memgov_monitor_add_alert_listener(mon, NULL, NULL, NULL), MEMGOV_EINVAL);
    alerts_seen late = {0};
    uint64_t late_id = 0;
    assert_int_equal(memgov_monitor_add_alert_listener(mon, on_alert, &late, &late_id), MEMGOV_OK);
    assert_true(late_id > id[MEMGOV_MONITOR_MAX_ALERT_LISTENERS - 1]); /* the freed slot, a new id */
    feed(mon, 1.5); /* one warning */
    for (int i = 0; i < MEMGOV_MONITOR_MAX_ALERT_LISTENERS; i++)
        assert_int_equal(s[i].n, i == 5 ? 0 : 1);
    assert_int_equal(late.n, 1);
    memgov_monitor_destroy(mon);
}

typedef struct remover {
    memgov_monitor *mon;
    uint64_t self, other;
    int calls;
} remover;

/* Removes a listener added after it, then itself, from inside the delivery. */
static void remove_both(const memgov_alert *a, void *user)
{
    (void)a;
    remover *r = user;
    r->calls++;
    assert_int_equal(memgov_monitor_remove_alert_listener(r->mon, r->other), MEMGOV_OK);
    assert_int_equal(memgov_monitor_remove_alert_listener(r->mon, r->self), MEMGOV_OK); /* does not wait for itself */
}

static void a_listener_may_remove_listeners_during_the_delivery(void **state)
{
    (void)state;
    remover r = {.mon = level_alert_monitor()};
    alerts_seen first = {0}, second = {0};
    assert_int_equal(memgov_monitor_add_alert_listener(r.mon, on_alert, &first, NULL), MEMGOV_OK);
    assert_int_equal(memgov_monitor_add_alert_listener(r.mon, remove_both, &r, &r.self), MEMGOV_OK);
    assert_int_equal(memgov_monitor_add_alert_listener(r.mon, on_alert, &second, &r.other), MEMGOV_OK);
    feed(r.mon, 1.5); /* warning */
    feed(r.mon, 2.5); /* critical */
    assert_int_equal(r.calls, 1);
    assert_int_equal(second.n, 0); /* removed before its turn came */
    assert_int_equal(first.n, 2);  /* the listener before the removed ones still hears everything */
    memgov_monitor_destroy(r.mon);
}

static void stopping_from_the_sampler_thread_is_refused_not_a_deadlock(void **state)
{
    (void)state;
    reentry r = {.mon = level_alert_monitor()};
    memgov_monitor_add_alert_listener(r.mon, try_stop, &r, NULL);
    counter_value = 5; /* the sampler's first sample raises the alert on the sampler thread */
    assert_int_equal(memgov_monitor_start(r.mon), MEMGOV_OK);
    while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE))
        usleep(1000);
    assert_int_equal(r.stop_status, MEMGOV_ESTATE);
    assert_int_equal(memgov_monitor_stop(r.mon), MEMGOV_OK);
    memgov_monitor_destroy(r.mon);
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    memgov_monitor *mon = NULL;
    o.history_capacity = MEMGOV_MONITOR_HISTORY_MAX + 1;
    assert_int_equal(memgov_monitor_create(&o, &mon), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_MONITOR_HISTORY_MAX"));
    memgov_monitor_options_init(&o);
    o.alert_history_capacity = MEMGOV_MONITOR_ALERT_HISTORY_MAX + 1;
    assert_int_equal(memgov_monitor_create(&o, &mon), MEMGOV_ERANGE);
    memgov_monitor_options_init(&o);
    o.leak_slope = -1;
    assert_int_equal(memgov_monitor_create(&o, &mon), MEMGOV_EINVAL);
    memgov_monitor_options_init(&o);
    o.leak_metric = "not a name";
    assert_int_equal(memgov_monitor_create(&o, &mon), MEMGOV_EINVAL);
    memgov_monitor_options_init(&o);
    o.interval_ns = 2 * 86400 * SEC;
    assert_int_equal(memgov_monitor_create(&o, &mon), MEMGOV_ERANGE);
    assert_null(mon);
    assert_int_equal(memgov_monitor_create(NULL, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_monitor_sample(NULL), MEMGOV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_metrics_are_read_from_proc_cgroup_and_psi),
        cmocka_unit_test(an_unreadable_source_is_unknown_not_an_error),
        cmocka_unit_test(the_process_tree_sums_every_descendant),
        cmocka_unit_test(the_history_keeps_the_newest_samples_with_peaks_and_their_time),
        cmocka_unit_test(metrics_are_fixed_at_the_first_sample_and_names_are_checked),
        cmocka_unit_test(the_trend_is_the_least_squares_slope_and_a_sustained_rise_is_a_leak),
        cmocka_unit_test(alerts_fire_on_level_changes_only),
        cmocka_unit_test(a_persisting_warning_escalates_to_critical_once),
        cmocka_unit_test(the_report_summarises_metrics_leak_and_alerts_in_text_and_json),
        cmocka_unit_test(the_leak_check_reports_growth_per_iteration),
        cmocka_unit_test(alert_listeners_are_added_and_removed_by_id),
        cmocka_unit_test(a_listener_may_remove_listeners_during_the_delivery),
        cmocka_unit_test(the_sampler_thread_samples_until_stopped),
        cmocka_unit_test(an_alert_callback_may_call_back_into_the_monitor),
        cmocka_unit_test(stopping_from_the_sampler_thread_is_refused_not_a_deadlock),
        cmocka_unit_test(bad_options_are_refused),
    };
    return cmocka_run_group_tests_name("monitor", tests, setup, teardown);
}
