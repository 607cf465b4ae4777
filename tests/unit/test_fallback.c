/* Specification of the fallback state machine: exact transitions for synthetic pressure sequences on an
 * injected clock, refusals, pinning, emergencies, the history, listeners and memgov_fallback_run(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "memgov.h"

#define SEC 1000000000ull

static uint64_t now_ns;
static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now_ns;
}

/* Everything the callbacks saw, in order: 'T' transitions, 'E' emergencies. */
typedef struct seen {
    int n;
    char kind[64];
    memgov_fallback_transition t[64];
    double emergency[64];
} seen;

static void on_transition(const memgov_fallback_transition *t, void *ctx)
{
    seen *s = ctx;
    if (s->n < 64) {
        s->kind[s->n] = 'T';
        s->t[s->n++] = *t;
    }
}

static void on_emergency(double pressure, void *ctx)
{
    seen *s = ctx;
    if (s->n < 64) {
        s->kind[s->n] = 'E';
        s->emergency[s->n++] = pressure;
    }
}

static memgov_fallback *machine(seen *s)
{
    now_ns = 1000 * SEC;
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    o.clock_ns = fake_clock;
    memgov_fallback *fb = NULL;
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_OK);
    if (s != NULL) {
        memset(s, 0, sizeof *s);
        assert_int_equal(memgov_fallback_add_listener(fb, on_transition, s, NULL), MEMGOV_OK);
        assert_int_equal(memgov_fallback_add_emergency(fb, on_emergency, s, NULL), MEMGOV_OK);
    }
    return fb;
}

static void feed(memgov_fallback *fb, double p)
{
    assert_int_equal(memgov_fallback_update_ratio(fb, p), MEMGOV_OK);
}

static void expect_transition(const seen *s, int i, memgov_mode from, memgov_mode to, memgov_fallback_reason why)
{
    assert_true(i < s->n);
    assert_int_equal(s->kind[i], 'T');
    assert_int_equal(s->t[i].from, from);
    assert_int_equal(s->t[i].to, to);
    assert_int_equal(s->t[i].reason, why);
}

static void defaults_are_anchored_on_dask_worker_thresholds(void **state)
{
    (void)state;
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    assert_int_equal(o.struct_size, sizeof o);
    assert_true(o.light_enter == 0.70 && o.light_exit == 0.60);
    assert_true(o.minimal_enter == 0.85 && o.minimal_exit == 0.75);
    assert_true(o.critical == 0.95 && o.critical_exit == 0.90);
    assert_int_equal(o.dwell_ns, 10 * SEC);
    assert_string_equal(memgov_fallback_reason_name(MEMGOV_FALLBACK_REASON_REFUSAL), "refusal");
    assert_string_equal(memgov_fallback_reason_name((memgov_fallback_reason)0), "invalid");
}

static void rising_pressure_enters_light_then_minimal_at_the_enter_thresholds(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    feed(fb, 0.50);
    feed(fb, 0.69);
    assert_int_equal(s.n, 0);
    feed(fb, 0.70);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    feed(fb, 0.84);
    feed(fb, 0.85);
    assert_int_equal(s.n, 2);
    expect_transition(&s, 0, MEMGOV_MODE_NORMAL, MEMGOV_MODE_LIGHT, MEMGOV_FALLBACK_REASON_PRESSURE);
    assert_true(s.t[0].pressure == 0.70);
    expect_transition(&s, 1, MEMGOV_MODE_LIGHT, MEMGOV_MODE_MINIMAL, MEMGOV_FALLBACK_REASON_PRESSURE);
    assert_true(s.t[1].pressure == 0.85);
    assert_int_equal(s.t[0].seq, 1);
    assert_int_equal(s.t[1].seq, 2);
    memgov_fallback_destroy(fb);
}

static void a_jump_from_normal_goes_straight_to_minimal(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    feed(fb, 0.90);
    assert_int_equal(s.n, 1);
    expect_transition(&s, 0, MEMGOV_MODE_NORMAL, MEMGOV_MODE_MINIMAL, MEMGOV_FALLBACK_REASON_PRESSURE);
    memgov_fallback_destroy(fb);
}

static void pressure_oscillating_inside_the_hysteresis_band_never_flaps(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    feed(fb, 0.72); /* LIGHT */
    for (int i = 0; i < 200; i++) {
        now_ns += SEC;
        feed(fb, i % 2 ? 0.61 : 0.69); /* between light_exit and light_enter */
    }
    assert_int_equal(s.n, 1);
    feed(fb, 0.86); /* MINIMAL */
    for (int i = 0; i < 200; i++) {
        now_ns += 20 * SEC; /* far beyond the dwell: only the band keeps it */
        feed(fb, i % 2 ? 0.76 : 0.84);
    }
    assert_int_equal(s.n, 2);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_MINIMAL);
    memgov_fallback_destroy(fb);
}

static void a_pressure_that_dips_below_exit_for_less_than_the_dwell_does_not_recover(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    feed(fb, 0.75); /* LIGHT */
    for (int i = 0; i < 100; i++) {
        now_ns += 6 * SEC; /* each dip lasts 6 s of a 10 s dwell, then a rise above exit restarts it */
        feed(fb, i % 2 ? 0.59 : 0.65);
    }
    assert_int_equal(s.n, 1);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    memgov_fallback_destroy(fb);
}

static void recovery_moves_up_one_mode_at_a_time_after_the_dwell(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    feed(fb, 0.90); /* MINIMAL at t0 */
    feed(fb, 0.10);
    now_ns += 9 * SEC;
    feed(fb, 0.10);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_MINIMAL);
    now_ns += 1 * SEC;
    feed(fb, 0.10); /* 10 s below minimal_exit: up to LIGHT only */
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    now_ns += 9 * SEC;
    feed(fb, 0.10);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    now_ns += 1 * SEC;
    feed(fb, 0.10); /* another 10 s in LIGHT: NORMAL */
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_NORMAL);
    assert_int_equal(s.n, 3);
    expect_transition(&s, 1, MEMGOV_MODE_MINIMAL, MEMGOV_MODE_LIGHT, MEMGOV_FALLBACK_REASON_RECOVERY);
    expect_transition(&s, 2, MEMGOV_MODE_LIGHT, MEMGOV_MODE_NORMAL, MEMGOV_FALLBACK_REASON_RECOVERY);
    assert_int_equal(s.t[2].time_ns - s.t[1].time_ns, 10 * SEC);
    memgov_fallback_destroy(fb);
}

static void a_refusal_moves_down_one_mode_at_once_and_restarts_the_dwell(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    feed(fb, 0.20);
    assert_int_equal(memgov_fallback_notify_refusal(fb), MEMGOV_OK);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    now_ns += 5 * SEC;
    feed(fb, 0.20);
    assert_int_equal(memgov_fallback_notify_refusal(fb), MEMGOV_OK);
    assert_int_equal(memgov_fallback_notify_refusal(fb), MEMGOV_OK); /* already MINIMAL: counted only */
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_MINIMAL);
    now_ns += 9 * SEC;
    feed(fb, 0.20); /* the dwell counts from entering MINIMAL, 9 s ago */
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_MINIMAL);
    assert_int_equal(s.n, 2);
    expect_transition(&s, 0, MEMGOV_MODE_NORMAL, MEMGOV_MODE_LIGHT, MEMGOV_FALLBACK_REASON_REFUSAL);
    expect_transition(&s, 1, MEMGOV_MODE_LIGHT, MEMGOV_MODE_MINIMAL, MEMGOV_FALLBACK_REASON_REFUSAL);
    memgov_fallback_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_fallback_get_stats(fb, &st), MEMGOV_OK);
    assert_int_equal(st.refusals, 3);
    assert_int_equal(st.transitions, 2);
    memgov_fallback_destroy(fb);
}

static void a_pinned_machine_ignores_pressure_and_refusals_until_unpinned(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    assert_int_equal(memgov_fallback_pin(fb, MEMGOV_MODE_LIGHT), MEMGOV_OK);
    feed(fb, 0.99);
    memgov_fallback_notify_refusal(fb);
    now_ns += 60 * SEC;
    feed(fb, 0.01);
    now_ns += 60 * SEC;
    feed(fb, 0.01);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    assert_int_equal(s.n, 2); /* the pin, and the emergency that is tracked anyway */
    expect_transition(&s, 0, MEMGOV_MODE_NORMAL, MEMGOV_MODE_LIGHT, MEMGOV_FALLBACK_REASON_PIN);
    assert_int_equal(s.kind[1], 'E');
    assert_int_equal(memgov_fallback_unpin(fb), MEMGOV_OK);
    assert_int_equal(memgov_fallback_unpin(fb), MEMGOV_ESTATE);
    feed(fb, 0.01); /* the dwell starts over after the unpin */
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    now_ns += 10 * SEC;
    feed(fb, 0.01);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_NORMAL);
    assert_int_equal(memgov_fallback_pin(fb, (memgov_mode)7), MEMGOV_EINVAL);
    memgov_fallback_destroy(fb);
}

static void emergency_callbacks_are_called_once_per_episode_before_the_transition(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    feed(fb, 0.96);
    feed(fb, 0.99);
    feed(fb, 0.91); /* still in the episode: above critical_exit */
    feed(fb, 0.97);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.kind[0], 'E');
    assert_true(s.emergency[0] == 0.96);
    expect_transition(&s, 1, MEMGOV_MODE_NORMAL, MEMGOV_MODE_MINIMAL, MEMGOV_FALLBACK_REASON_PRESSURE);
    feed(fb, 0.89); /* the episode ends */
    feed(fb, 0.95); /* a new one begins */
    assert_int_equal(s.n, 3);
    assert_int_equal(s.kind[2], 'E');
    assert_true(s.emergency[2] == 0.95);
    memgov_fallback_stats st = {.struct_size = sizeof st};
    memgov_fallback_get_stats(fb, &st);
    assert_int_equal(st.emergencies, 2);
    assert_true(st.peak_pressure == 0.99);
    memgov_fallback_destroy(fb);
}

static void pressure_is_the_higher_of_the_budget_and_memory_ratios(void **state)
{
    (void)state;
    memgov_fallback *fb = machine(NULL);
    memgov_pressure p;
    memgov_pressure_init(&p);
    assert_int_equal(memgov_fallback_update(fb, &p), MEMGOV_EINVAL); /* no limit known */
    assert_non_null(strstr(memgov_last_error(), "both 0"));
    p.budget_used = 50;
    p.budget_limit = 100;
    p.memory_used = 72;
    p.memory_limit = 100;
    assert_int_equal(memgov_fallback_update(fb, &p), MEMGOV_OK);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT); /* 0.72 from memory */
    p.memory_limit = 0;
    p.budget_used = 90;
    assert_int_equal(memgov_fallback_update(fb, &p), MEMGOV_OK); /* 0.90 from the budget alone */
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_MINIMAL);
    p.struct_size = 3;
    assert_int_equal(memgov_fallback_update(fb, &p), MEMGOV_EINVAL);
    assert_int_equal(memgov_fallback_update_ratio(fb, -0.1), MEMGOV_EINVAL);
    assert_int_equal(memgov_fallback_update(NULL, &p), MEMGOV_EINVAL);
    memgov_fallback_destroy(fb);
}

static memgov_status source(memgov_pressure *out, void *ctx)
{
    const uint64_t *used = ctx;
    out->memory_used = *used;
    out->memory_limit = 1000;
    return *used == 0 ? MEMGOV_EIO : MEMGOV_OK;
}

static void evaluate_polls_the_pressure_source(void **state)
{
    (void)state;
    uint64_t used = 800;
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    o.pressure_source = source;
    o.source_ctx = &used;
    memgov_fallback *fb = NULL;
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_OK);
    assert_int_equal(memgov_fallback_evaluate(fb), MEMGOV_OK);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    used = 0;
    assert_int_equal(memgov_fallback_evaluate(fb), MEMGOV_EIO);
    memgov_fallback_destroy(fb);
    fb = machine(NULL);
    assert_int_equal(memgov_fallback_evaluate(fb), MEMGOV_ESTATE);
    memgov_fallback_destroy(fb);
}

static void thresholds_out_of_order_are_refused_naming_them(void **state)
{
    (void)state;
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    o.light_exit = 0.80; /* above light_enter */
    memgov_fallback *fb = (memgov_fallback *)&o;
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_EINVAL);
    assert_null(fb);
    assert_non_null(strstr(memgov_last_error(), "light_exit (0.8)"));
    memgov_fallback_options_init(&o);
    o.critical = 0.80; /* below minimal_enter */
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "critical"));
    memgov_fallback_options_init(&o);
    o.history_capacity = MEMGOV_FALLBACK_HISTORY_MAX + 1;
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_FALLBACK_HISTORY_MAX"));
    memgov_fallback_options_init(&o);
    o.struct_size = 1;
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_EINVAL);
    assert_int_equal(memgov_fallback_create(NULL, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_fallback_create(NULL, &fb), MEMGOV_OK); /* defaults */
    memgov_fallback_destroy(fb);
}

static void the_history_keeps_the_last_transitions_oldest_first(void **state)
{
    (void)state;
    now_ns = 0;
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    o.clock_ns = fake_clock;
    o.history_capacity = 3;
    memgov_fallback *fb = NULL;
    assert_int_equal(memgov_fallback_create(&o, &fb), MEMGOV_OK);
    for (int i = 0; i < 5; i++) { /* 10 transitions: pin MINIMAL, pin NORMAL, ... */
        memgov_fallback_pin(fb, MEMGOV_MODE_MINIMAL);
        memgov_fallback_pin(fb, MEMGOV_MODE_NORMAL);
    }
    memgov_fallback_transition t = {.struct_size = sizeof t};
    assert_int_equal(memgov_fallback_history(fb, 0, &t), MEMGOV_OK);
    assert_int_equal(t.seq, 8);
    assert_int_equal(t.to, MEMGOV_MODE_NORMAL);
    assert_int_equal(memgov_fallback_history(fb, 2, &t), MEMGOV_OK);
    assert_int_equal(t.seq, 10);
    assert_int_equal(t.from, MEMGOV_MODE_MINIMAL);
    assert_true(t.pressure == -1.0); /* none observed */
    assert_int_equal(memgov_fallback_history(fb, 3, &t), MEMGOV_ENOTFOUND);
    memgov_fallback_destroy(fb);
}

static void time_in_each_mode_follows_the_clock(void **state)
{
    (void)state;
    memgov_fallback *fb = machine(NULL);
    now_ns += 3 * SEC;
    feed(fb, 0.72);
    now_ns += 4 * SEC;
    memgov_fallback_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_fallback_get_stats(fb, &st), MEMGOV_OK);
    assert_int_equal(st.time_in_mode_ns[MEMGOV_MODE_NORMAL], 3 * SEC);
    assert_int_equal(st.time_in_mode_ns[MEMGOV_MODE_LIGHT], 4 * SEC);
    assert_int_equal(st.mode, MEMGOV_MODE_LIGHT);
    assert_int_equal(st.observations, 1);
    memgov_fallback_destroy(fb);
}

/* A listener that reacts to a transition by calling back into the machine. */
typedef struct reentrant {
    memgov_fallback *fb;
    int calls;
    memgov_mode seen_mode[8];
} reentrant;

static void refuse_again(const memgov_fallback_transition *t, void *ctx)
{
    reentrant *r = ctx;
    r->seen_mode[r->calls++] = t->to;
    if (t->to == MEMGOV_MODE_LIGHT) {
        assert_int_equal(memgov_fallback_mode(r->fb), MEMGOV_MODE_LIGHT);
        assert_int_equal(memgov_fallback_notify_refusal(r->fb), MEMGOV_OK);
        assert_int_equal(r->calls, 1); /* delivered after this callback returns, not inside it */
    }
}

static void a_listener_may_call_back_into_the_machine(void **state)
{
    (void)state;
    reentrant r = {.fb = machine(NULL)};
    assert_int_equal(memgov_fallback_add_listener(r.fb, refuse_again, &r, NULL), MEMGOV_OK);
    memgov_fallback_notify_refusal(r.fb);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.seen_mode[1], MEMGOV_MODE_MINIMAL);
    memgov_fallback_destroy(r.fb);
}

static void removed_and_late_listeners_get_no_old_events(void **state)
{
    (void)state;
    seen a, b;
    memgov_fallback *fb = machine(&a);
    feed(fb, 0.72);
    memset(&b, 0, sizeof b);
    uint64_t id = 0;
    assert_int_equal(memgov_fallback_add_listener(fb, on_transition, &b, &id), MEMGOV_OK);
    assert_int_equal(b.n, 0);
    feed(fb, 0.90);
    assert_int_equal(b.n, 1);
    assert_int_equal(memgov_fallback_remove_listener(fb, id), MEMGOV_OK);
    assert_int_equal(memgov_fallback_remove_listener(fb, id), MEMGOV_ENOTFOUND);
    memgov_fallback_pin(fb, MEMGOV_MODE_NORMAL);
    assert_int_equal(b.n, 1);
    assert_int_equal(a.n, 3);
    assert_int_equal(memgov_fallback_add_listener(fb, NULL, NULL, NULL), MEMGOV_EINVAL);
    memgov_fallback_destroy(fb);
}

/* Each remove_ takes only the ids of its own kind; ids are never 0 and never reused. */
static void listeners_and_emergency_callbacks_are_removed_by_their_own_function(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(NULL);
    memset(&s, 0, sizeof s);
    uint64_t tid = 0, eid = 0;
    assert_int_equal(memgov_fallback_add_listener(fb, on_transition, &s, &tid), MEMGOV_OK);
    assert_int_equal(memgov_fallback_add_emergency(fb, on_emergency, &s, &eid), MEMGOV_OK);
    assert_true(tid != 0 && eid != 0 && tid != eid);
    assert_int_equal(memgov_fallback_remove_listener(fb, eid), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_fallback_remove_emergency(fb, tid), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_fallback_remove_emergency(fb, eid), MEMGOV_OK);
    feed(fb, 0.96); /* an emergency and a transition: only the transition is heard */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.kind[0], 'T');
    assert_int_equal(memgov_fallback_remove_emergency(fb, eid), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_fallback_remove_listener(fb, tid), MEMGOV_OK);
    uint64_t again = 0;
    assert_int_equal(memgov_fallback_add_emergency(fb, on_emergency, &s, &again), MEMGOV_OK);
    assert_true(again > tid && again > eid);
    assert_int_equal(memgov_fallback_add_emergency(fb, NULL, NULL, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_fallback_remove_emergency(NULL, again), MEMGOV_EINVAL);
    assert_int_equal(memgov_fallback_remove_listener(NULL, again), MEMGOV_EINVAL);
    memgov_fallback_destroy(fb);
}

/* ---- memgov_fallback_run ---- */

typedef struct job_state {
    int refuse; /* attempts that return ENOMEM before success */
    int calls;
    memgov_status other;
} job_state;

static memgov_status job(memgov_mode mode, void *ctx)
{
    (void)mode;
    job_state *j = ctx;
    j->calls++;
    if (j->other != MEMGOV_OK)
        return j->other;
    return j->calls <= j->refuse ? MEMGOV_ENOMEM : MEMGOV_OK;
}

static uint64_t slept[32];
static int n_slept;
static void fake_sleep(uint64_t ns, void *ctx)
{
    (void)ctx;
    slept[n_slept++] = ns;
}

static memgov_fallback_run_options run_options(void)
{
    memgov_fallback_run_options o;
    memgov_fallback_run_options_init(&o);
    o.sleep_ns = fake_sleep;
    n_slept = 0;
    return o;
}

static void a_refused_job_is_retried_in_lighter_modes_with_backoff(void **state)
{
    (void)state;
    seen s;
    memgov_fallback *fb = machine(&s);
    memgov_fallback_run_options o = run_options();
    job_state j = {.refuse = 2};
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    assert_int_equal(memgov_fallback_run(fb, job, &j, &o, &r), MEMGOV_OK);
    assert_int_equal(r.status, MEMGOV_OK);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(r.attempt[0].mode, MEMGOV_MODE_NORMAL);
    assert_int_equal(r.attempt[0].status, MEMGOV_ENOMEM);
    assert_int_equal(r.attempt[0].backoff_ns, 0);
    assert_int_equal(r.attempt[1].mode, MEMGOV_MODE_LIGHT);
    assert_int_equal(r.attempt[1].backoff_ns, 100000000u);
    assert_int_equal(r.attempt[2].mode, MEMGOV_MODE_MINIMAL);
    assert_int_equal(r.attempt[2].status, MEMGOV_OK);
    assert_int_equal(r.attempt[2].backoff_ns, 200000000u);
    assert_int_equal(n_slept, 2);
    assert_int_equal(slept[1], 200000000u);
    expect_transition(&s, 0, MEMGOV_MODE_NORMAL, MEMGOV_MODE_LIGHT, MEMGOV_FALLBACK_REASON_JOB);
    expect_transition(&s, 1, MEMGOV_MODE_LIGHT, MEMGOV_MODE_MINIMAL, MEMGOV_FALLBACK_REASON_JOB);
    memgov_fallback_destroy(fb);
}

static void a_job_refused_every_time_stops_at_the_bound_with_capped_backoff(void **state)
{
    (void)state;
    memgov_fallback *fb = machine(NULL);
    memgov_fallback_run_options o = run_options();
    o.max_attempts = 7;
    o.backoff_max_ns = 500000000u;
    job_state j = {.refuse = 100};
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    assert_int_equal(memgov_fallback_run(fb, job, &j, &o, &r), MEMGOV_ENOMEM);
    assert_int_equal(j.calls, 7);
    assert_int_equal(r.attempts, 7);
    assert_int_equal(r.attempt[6].mode, MEMGOV_MODE_MINIMAL);
    const uint64_t want[] = {100000000u, 200000000u, 400000000u, 500000000u, 500000000u, 500000000u};
    assert_int_equal(n_slept, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(slept[i], want[i]);
    assert_non_null(strstr(memgov_last_error(), "all 7 attempts"));
    o.max_attempts = MEMGOV_FALLBACK_MAX_ATTEMPTS + 1;
    assert_int_equal(memgov_fallback_run(fb, job, &j, &o, NULL), MEMGOV_EINVAL);
    memgov_fallback_destroy(fb);
}

static void a_job_failing_otherwise_is_not_retried(void **state)
{
    (void)state;
    memgov_fallback *fb = machine(NULL);
    memgov_fallback_run_options o = run_options();
    job_state j = {.other = MEMGOV_EIO};
    assert_int_equal(memgov_fallback_run(fb, job, &j, &o, NULL), MEMGOV_EIO);
    assert_int_equal(j.calls, 1);
    assert_int_equal(n_slept, 0);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_NORMAL);
    assert_int_equal(memgov_fallback_run(fb, NULL, &j, &o, NULL), MEMGOV_EINVAL);
    memgov_fallback_destroy(fb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_anchored_on_dask_worker_thresholds),
        cmocka_unit_test(rising_pressure_enters_light_then_minimal_at_the_enter_thresholds),
        cmocka_unit_test(a_jump_from_normal_goes_straight_to_minimal),
        cmocka_unit_test(pressure_oscillating_inside_the_hysteresis_band_never_flaps),
        cmocka_unit_test(a_pressure_that_dips_below_exit_for_less_than_the_dwell_does_not_recover),
        cmocka_unit_test(recovery_moves_up_one_mode_at_a_time_after_the_dwell),
        cmocka_unit_test(a_refusal_moves_down_one_mode_at_once_and_restarts_the_dwell),
        cmocka_unit_test(a_pinned_machine_ignores_pressure_and_refusals_until_unpinned),
        cmocka_unit_test(emergency_callbacks_are_called_once_per_episode_before_the_transition),
        cmocka_unit_test(pressure_is_the_higher_of_the_budget_and_memory_ratios),
        cmocka_unit_test(evaluate_polls_the_pressure_source),
        cmocka_unit_test(thresholds_out_of_order_are_refused_naming_them),
        cmocka_unit_test(the_history_keeps_the_last_transitions_oldest_first),
        cmocka_unit_test(time_in_each_mode_follows_the_clock),
        cmocka_unit_test(a_listener_may_call_back_into_the_machine),
        cmocka_unit_test(removed_and_late_listeners_get_no_old_events),
        cmocka_unit_test(listeners_and_emergency_callbacks_are_removed_by_their_own_function),
        cmocka_unit_test(a_refused_job_is_retried_in_lighter_modes_with_backoff),
        cmocka_unit_test(a_job_refused_every_time_stops_at_the_bound_with_capped_backoff),
        cmocka_unit_test(a_job_failing_otherwise_is_not_retried),
    };
    return cmocka_run_group_tests_name("fallback", tests, NULL, NULL);
}
