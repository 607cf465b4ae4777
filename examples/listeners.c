/* examples/listeners.c — the one callback style of memgov (docs/design.md 5): every component registers a
 * callback with memgov_<obj>_add_<what>(obj, fn, user, &id) and removes it with memgov_<obj>_remove_<what>(obj,
 * id); callbacks take their user pointer last. This program listens to a configuration, a fallback machine and a
 * monitor, makes each of them fire once, removes every callback, makes them fire again and checks that nothing
 * more was heard. It exits 0 when the counts are right. Build: cc listeners.c $(pkg-config --cflags --libs memgov)
 */
#include <stdio.h>

#include <memgov.h>

typedef struct heard {
    int config, transitions, emergencies, alerts;
} heard;

static void on_config(memgov_config *cfg, const char *key, void *user)
{
    (void)cfg;
    ((heard *)user)->config++;
    printf("  config: %s changed\n", key != NULL ? key : "(a load)");
}

static void on_transition(const memgov_fallback_transition *t, void *user)
{
    ((heard *)user)->transitions++;
    printf("  fallback: %s -> %s at pressure %.2f\n", memgov_mode_name(t->from), memgov_mode_name(t->to),
           t->pressure);
}

static void on_emergency(double pressure, void *user)
{
    ((heard *)user)->emergencies++;
    printf("  fallback: emergency at pressure %.2f\n", pressure);
}

static void on_alert(const memgov_alert *a, void *user)
{
    ((heard *)user)->alerts++;
    printf("  monitor: %s on %s (value %.0f)\n", memgov_alert_level_name(a->level), a->metric, a->value);
}

static double queue_length = 0; /* the metric the monitor watches */

static double read_queue(void *user)
{
    (void)user;
    return queue_length;
}

/* One round that gives every callback one event: a configuration change; a pin to `mode` (a transition when
 * the machine is elsewhere; pinned, pressure moves no mode); a pressure observation above critical (0.95) after
 * one below critical_exit (0.90), which begins an emergency episode; a monitor sample whose value raises the
 * alert one level. */
static int fire(memgov_config *cfg, memgov_fallback *fb, memgov_monitor *mon, const char *interval,
                memgov_mode mode, double queue)
{
    queue_length = queue;
    if (memgov_config_set(cfg, "monitor.interval", interval) != MEMGOV_OK ||
        memgov_fallback_pin(fb, mode) != MEMGOV_OK || memgov_fallback_update_ratio(fb, 0.50) != MEMGOV_OK ||
        memgov_fallback_update_ratio(fb, 0.97) != MEMGOV_OK || memgov_monitor_sample(mon) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return -1;
    }
    return 0;
}

int main(void)
{
    memgov_config *cfg = NULL;
    memgov_fallback *fb = NULL;
    memgov_monitor *mon = NULL;
    memgov_alert_rule rule;
    memgov_alert_rule_init(&rule);
    rule.metric = "queue.length";
    rule.warning = 100;
    rule.critical = 1000;
    if (memgov_config_create(&cfg) != MEMGOV_OK || memgov_fallback_create(NULL, &fb) != MEMGOV_OK ||
        memgov_monitor_create(NULL, &mon) != MEMGOV_OK ||
        memgov_monitor_add_metric(mon, "queue.length", "count", read_queue, NULL) != MEMGOV_OK ||
        memgov_monitor_add_alert(mon, &rule, NULL) != MEMGOV_OK) {
        fprintf(stderr, "setting up: %s\n", memgov_last_error());
        return 1;
    }

    heard h = {0};
    uint64_t config_id, transition_id, emergency_id, alert_id;
    if (memgov_config_add_listener(cfg, on_config, &h, &config_id) != MEMGOV_OK ||
        memgov_fallback_add_listener(fb, on_transition, &h, &transition_id) != MEMGOV_OK ||
        memgov_fallback_add_emergency(fb, on_emergency, &h, &emergency_id) != MEMGOV_OK ||
        memgov_monitor_add_alert_listener(mon, on_alert, &h, &alert_id) != MEMGOV_OK) {
        fprintf(stderr, "adding a callback: %s\n", memgov_last_error());
        return 1;
    }
    printf("with the callbacks:\n");
    if (fire(cfg, fb, mon, "2s", MEMGOV_MODE_LIGHT, 150) != 0) /* NORMAL -> LIGHT, a warning */
        return 1;

    if (memgov_config_remove_listener(cfg, config_id) != MEMGOV_OK ||
        memgov_fallback_remove_listener(fb, transition_id) != MEMGOV_OK ||
        memgov_fallback_remove_emergency(fb, emergency_id) != MEMGOV_OK ||
        memgov_monitor_remove_alert_listener(mon, alert_id) != MEMGOV_OK) {
        fprintf(stderr, "removing a callback: %s\n", memgov_last_error());
        return 1;
    }
    /* An id removed once is gone: the second removal says so. */
    memgov_status again = memgov_monitor_remove_alert_listener(mon, alert_id);
    printf("removed; removing the alert listener again: %s\n", memgov_status_name(again));
    printf("without them (nothing may be printed here):\n");
    if (fire(cfg, fb, mon, "3s", MEMGOV_MODE_NORMAL, 1500) != 0) /* LIGHT -> NORMAL, a critical alert */
        return 1;
    memgov_fallback_stats fs = {.struct_size = sizeof fs};
    memgov_monitor_stats ms = {.struct_size = sizeof ms};
    memgov_fallback_get_stats(fb, &fs);
    memgov_monitor_get_stats(mon, &ms);
    printf("the objects saw %llu transition(s), %llu emergenc(ies), %llu alert(s) in all\n",
           (unsigned long long)fs.transitions, (unsigned long long)fs.emergencies, (unsigned long long)ms.alerts);

    memgov_monitor_destroy(mon);
    memgov_fallback_destroy(fb);
    memgov_config_destroy(cfg);
    int ok = h.config == 1 && h.transitions == 1 && h.emergencies == 1 && h.alerts == 1 && again == MEMGOV_ENOTFOUND;
    printf("heard %d config change(s), %d transition(s), %d emergenc(ies), %d alert(s): %s\n", h.config,
           h.transitions, h.emergencies, h.alerts, ok ? "as expected" : "WRONG");
    return ok ? 0 : 1;
}
