/* Stress of the fallback machine and the monitor under threads (suite `concurrent`, also run under TSan):
 * concurrent updates, refusals, pins, adding/removing listeners, on-demand samples beside the sampler thread, and
 * start/stop. Asserts that callbacks are never concurrent, arrive in sequence order, and none is lost. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "memgov.h"

#define THREADS 4
#define ROUNDS 5000

typedef struct watch {
    atomic_int inside;     /* callbacks running now */
    atomic_int overlaps;   /* times a callback found another one running */
    atomic_int out_of_order;
    uint64_t last_seq;     /* written only inside callbacks, which never overlap */
    atomic_ulong calls;
} watch;

static void enter(watch *w)
{
    if (atomic_fetch_add(&w->inside, 1) != 0)
        atomic_fetch_add(&w->overlaps, 1);
}

static void leave(watch *w)
{
    atomic_fetch_sub(&w->inside, 1);
}

static void on_transition(const memgov_fallback_transition *t, void *ctx)
{
    watch *w = ctx;
    enter(w);
    if (t->seq != w->last_seq + 1)
        atomic_fetch_add(&w->out_of_order, 1);
    w->last_seq = t->seq;
    atomic_fetch_add(&w->calls, 1);
    leave(w);
}

static void ignore(const memgov_fallback_transition *t, void *ctx)
{
    (void)ctx;
    (void)t;
}

typedef struct fb_worker {
    memgov_fallback *fb;
    unsigned seed;
} fb_worker;

static void *fallback_worker(void *arg)
{
    fb_worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        unsigned r = (w->seed >> 16) % 100;
        if (r < 80)
            memgov_fallback_update_ratio(w->fb, (double)((w->seed >> 8) % 100) / 100.0);
        else if (r < 90)
            memgov_fallback_notify_refusal(w->fb);
        else if (r < 95)
            memgov_fallback_pin(w->fb, (memgov_mode)(r % 3));
        else
            memgov_fallback_unpin(w->fb);
        (void)memgov_fallback_mode(w->fb);
    }
    return NULL;
}

static void *churn_listeners(void *arg)
{
    memgov_fallback *fb = arg;
    for (int i = 0; i < ROUNDS / 10; i++) {
        uint64_t id;
        if (memgov_fallback_add_listener(fb, ignore, NULL, &id) == MEMGOV_OK)
            memgov_fallback_remove_listener(fb, id);
    }
    return NULL;
}

static void fallback_callbacks_stay_ordered_and_serial_under_threads(void **state)
{
    (void)state;
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    o.dwell_ns = 1; /* recover as soon as pressure allows: many transitions */
    o.history_capacity = 1u << 16;
    memgov_fallback *fb = NULL;
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_OK);
    static watch w;
    assert_int_equal(memgov_fallback_add_listener(fb, on_transition, &w, NULL), MEMGOV_OK);
    pthread_t t[THREADS + 1];
    fb_worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (fb_worker){.fb = fb, .seed = 17u * (unsigned)i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, fallback_worker, &workers[i]), 0);
    }
    assert_int_equal(pthread_create(&t[THREADS], NULL, churn_listeners, fb), 0);
    for (int i = 0; i <= THREADS; i++)
        pthread_join(t[i], NULL);
    memgov_fallback_stats st = {.struct_size = sizeof st};
    memgov_fallback_get_stats(fb, &st);
    assert_true(st.transitions > 100);
    assert_int_equal(atomic_load(&w.calls), st.transitions);
    assert_int_equal(atomic_load(&w.overlaps), 0);
    assert_int_equal(atomic_load(&w.out_of_order), 0);
    memgov_fallback_destroy(fb);
}

static double counter(void *ctx)
{
    atomic_ulong *n = ctx;
    return (double)(atomic_fetch_add(n, 1) % 100);
}

static void on_alert(const memgov_alert *a, void *ctx)
{
    watch *w = ctx;
    enter(w);
    if (a->seq != w->last_seq + 1)
        atomic_fetch_add(&w->out_of_order, 1);
    w->last_seq = a->seq;
    atomic_fetch_add(&w->calls, 1);
    leave(w);
}

/* Frees its user data right after each removal: a call after remove_alert_listener() returned is a
 * use-after-free that ASan and TSan report. */
static void count_alert(const memgov_alert *a, void *user)
{
    (void)a;
    atomic_fetch_add((atomic_int *)user, 1);
}

static void *churn_alert_listeners(void *arg)
{
    memgov_monitor *mon = arg;
    for (int i = 0; i < ROUNDS / 10; i++) {
        atomic_int *calls = malloc(sizeof *calls);
        atomic_init(calls, 0);
        uint64_t id;
        if (memgov_monitor_add_alert_listener(mon, count_alert, calls, &id) == MEMGOV_OK)
            assert_int_equal(memgov_monitor_remove_alert_listener(mon, id), MEMGOV_OK);
        free(calls);
    }
    return NULL;
}

static void *sample_often(void *arg)
{
    for (int i = 0; i < ROUNDS / 5; i++)
        memgov_monitor_sample(arg);
    return NULL;
}

static void monitor_samples_from_threads_beside_the_sampler(void **state)
{
    (void)state;
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    o.interval_ns = 100000; /* 0.1 ms */
    o.history_capacity = 64;
    o.alert_history_capacity = 1u << 16;
    memgov_monitor *mon = NULL;
    assert_int_equal(memgov_monitor_create(&o, &mon), MEMGOV_OK);
    static atomic_ulong n;
    assert_int_equal(memgov_monitor_add_metric(mon, "sawtooth", "count", counter, &n), MEMGOV_OK);
    memgov_alert_rule r;
    memgov_alert_rule_init(&r);
    r.metric = "sawtooth";
    r.warning = 50;
    r.critical = 90;
    assert_int_equal(memgov_monitor_add_alert(mon, &r, NULL), MEMGOV_OK);
    static watch w;
    assert_int_equal(memgov_monitor_add_alert_listener(mon, on_alert, &w, NULL), MEMGOV_OK);
    assert_int_equal(memgov_monitor_start(mon), MEMGOV_OK);
    pthread_t t[THREADS + 1];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sample_often, mon), 0);
    assert_int_equal(pthread_create(&t[THREADS], NULL, churn_alert_listeners, mon), 0);
    for (int i = 0; i < 50; i++) { /* stop and start while the others sample */
        assert_int_equal(memgov_monitor_stop(mon), MEMGOV_OK);
        assert_int_equal(memgov_monitor_start(mon), MEMGOV_OK);
    }
    for (int i = 0; i <= THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(memgov_monitor_stop(mon), MEMGOV_OK);
    memgov_monitor_stats st = {.struct_size = sizeof st};
    memgov_monitor_get_stats(mon, &st);
    assert_true(st.samples >= THREADS * (ROUNDS / 5));
    assert_int_equal(st.samples_kept, 64);
    assert_true(st.alerts > 0);
    assert_int_equal(atomic_load(&w.calls), st.alerts);
    assert_int_equal(atomic_load(&w.overlaps), 0);
    assert_int_equal(atomic_load(&w.out_of_order), 0);
    memgov_monitor_destroy(mon);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fallback_callbacks_stay_ordered_and_serial_under_threads),
        cmocka_unit_test(monitor_samples_from_threads_beside_the_sampler),
    };
    return cmocka_run_group_tests_name("concurrent", tests, NULL, NULL);
}
