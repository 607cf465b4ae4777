/* The fallback state machine; see memgov/fallback.h for the rules and the callback contract.
 *
 * One mutex guards the state. Events (transitions, emergency episodes) are recorded under it in rings; whoever
 * finds no delivery in progress becomes the deliverer and calls the callbacks with the lock released, until
 * nothing is left to deliver. So callbacks never run under the lock, never two at a time, and in order. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fallback/fallback_internal.h"
#include "internal/atfork.h"
#include "internal/clock.h"
#include "internal/delivery.h"
#include "internal/error.h"
#include "internal/grow.h"
#include "internal/structsize.h"
#include "memgov/fallback.h"


_Static_assert(sizeof ((memgov_fallback_stats *)0)->time_in_mode_ns == MEMGOV_MODE_COUNT_ * sizeof(uint64_t),
               "memgov_fallback_stats.time_in_mode_ns must cover every mode");
#define EMERGENCY_RING 16 /* emergency episodes waiting for delivery; older ones are dropped if it overflows */

enum sub_kind { SUB_TRANSITION, SUB_EMERGENCY };

typedef struct sub {
    uint64_t id;
    enum sub_kind kind;
    memgov_fallback_transition_fn on_transition; /* NULL once removed (kind SUB_TRANSITION) */
    memgov_fallback_emergency_fn on_emergency;   /* NULL once removed (kind SUB_EMERGENCY) */
    void *user;
    uint64_t after;                              /* deliver only events numbered above this */
} sub;

struct memgov_fallback {
    pthread_mutex_t lock;
    mg_delivery delivery;
    mg_fork_lock fork; /* `lock` across fork() (internal/atfork.h) */
    memgov_fallback_options o;

    memgov_mode mode;
    int pinned;
    double pressure, peak;
    uint64_t observations, refusals;
    uint64_t mode_since_ns;
    uint64_t time_in_mode_ns[MEMGOV_MODE_COUNT_];
    int below;              /* every observation since below_since_ns was under the current mode's exit */
    uint64_t below_since_ns;
    int in_episode;

    memgov_fallback_transition *history; /* ring: transition seq s lives at [(s - 1) % capacity] */
    uint64_t transitions;
    uint64_t emergencies;
    double emergency_pressure[EMERGENCY_RING];

    sub *subs;
    size_t n_subs, cap_subs;
    uint64_t next_id;
    uint64_t delivered_transitions, delivered_emergencies;
};

MEMGOV_API const char *memgov_fallback_reason_name(memgov_fallback_reason reason)
{
    static const char *const names[] = {"invalid", "pressure", "recovery", "refusal", "pin", "job"};
    return reason > 0 && reason < MEMGOV_FALLBACK_REASON_COUNT_ ? names[reason] : "invalid";
}

MEMGOV_API void memgov_pressure_init(memgov_pressure *p)
{
    mg_struct_init(p, sizeof *p);
}

MEMGOV_API void memgov_fallback_options_init(memgov_fallback_options *o)
{
    if (!mg_struct_init(o, sizeof *o))
        return;
    o->light_enter = 0.70;
    o->light_exit = 0.60;
    o->minimal_enter = 0.85;
    o->minimal_exit = 0.75;
    o->critical = 0.95;
    o->critical_exit = 0.90;
    o->dwell_ns = 10000000000u;
    o->history_capacity = 256;
}

/* Zero means "the default" for every threshold and duration (the struct_size rule's zero-fill). */
static void fill_defaults(memgov_fallback_options *o)
{
    memgov_fallback_options d;
    memgov_fallback_options_init(&d);
    double *mine[] = {&o->light_enter, &o->light_exit, &o->minimal_enter, &o->minimal_exit, &o->critical,
                      &o->critical_exit};
    const double defs[] = {d.light_enter, d.light_exit, d.minimal_enter, d.minimal_exit, d.critical,
                           d.critical_exit};
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (*mine[i] == 0.0)
            *mine[i] = defs[i];
    if (o->dwell_ns == 0)
        o->dwell_ns = d.dwell_ns;
    if (o->history_capacity == 0)
        o->history_capacity = d.history_capacity;
    if (o->clock_ns == NULL) {
        o->clock_ns = mg_monotonic_ns;
        o->clock_ctx = NULL;
    }
}

static memgov_status check_order(const memgov_fallback_options *o)
{
    const struct { double lo, hi; const char *lo_name, *hi_name; } rules[] = {
        {0.0, o->light_exit, "0", "light_exit"},
        {o->light_exit, o->light_enter, "light_exit", "light_enter"},
        {0.0, o->minimal_exit, "0", "minimal_exit"},
        {o->minimal_exit, o->minimal_enter, "minimal_exit", "minimal_enter"},
        {o->light_enter, o->minimal_enter, "light_enter", "minimal_enter"},
        {o->light_exit, o->minimal_exit, "light_exit", "minimal_exit"},
        {o->critical_exit, o->critical, "critical_exit", "critical"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!(rules[i].lo < rules[i].hi))
            return mg_fail(MEMGOV_EINVAL, "fallback thresholds: %s (%g) must be below %s (%g)", rules[i].lo_name,
                           rules[i].lo, rules[i].hi_name, rules[i].hi);
    if (!(o->minimal_enter <= o->critical))
        return mg_fail(MEMGOV_EINVAL, "fallback thresholds: minimal_enter (%g) must not exceed critical (%g)",
                       o->minimal_enter, o->critical);
    if (!(o->critical <= 1.0))
        return mg_fail(MEMGOV_EINVAL, "fallback thresholds: critical (%g) must not exceed 1", o->critical);
    return MEMGOV_OK;
}

/* In a child of fork(): a delivery by another of the parent's threads never ends there. */
static void fallback_after_fork(void *arg)
{
    memgov_fallback *fb = arg;
    mg_delivery_init(&fb->delivery); /* not delivering: the parent's deliverer is not here */
}

MEMGOV_API memgov_status memgov_fallback_create(const memgov_fallback_options *opts, memgov_fallback **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_create: out is NULL");
    *out = NULL;
    memgov_fallback_options o;
    memgov_fallback_options_init(&o);
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_fallback_options");
    if (st != MEMGOV_OK)
        return st;
    fill_defaults(&o);
    if ((st = check_order(&o)) != MEMGOV_OK)
        return st;
    if (o.history_capacity > MEMGOV_FALLBACK_HISTORY_MAX)
        return mg_fail(MEMGOV_ERANGE, "fallback history_capacity %u exceeds the limit of %u "
                       "(MEMGOV_FALLBACK_HISTORY_MAX)", o.history_capacity, MEMGOV_FALLBACK_HISTORY_MAX);
    memgov_fallback *fb = calloc(1, sizeof *fb);
    memgov_fallback_transition *history = calloc(o.history_capacity, sizeof *history);
    if (fb == NULL || history == NULL) {
        free(fb);
        free(history);
        return mg_fail(MEMGOV_ENOMEM, "memgov_fallback_create: out of memory for %u history entries",
                       o.history_capacity);
    }
    if (pthread_mutex_init(&fb->lock, NULL) != 0 || mg_delivery_init(&fb->delivery) != 0) {
        free(fb);
        free(history);
        return mg_fail(MEMGOV_ENOMEM, "memgov_fallback_create: cannot initialise the lock");
    }
    fb->o = o;
    fb->history = history;
    fb->mode = MEMGOV_MODE_NORMAL;
    fb->pressure = -1.0;
    fb->peak = -1.0;
    fb->next_id = 1;
    fb->mode_since_ns = o.clock_ns(o.clock_ctx);
    mg_fork_lock_add(&fb->fork, &fb->lock, MG_FORK_RANK_FALLBACK, fallback_after_fork, fb);
    *out = fb;
    return MEMGOV_OK;
}

MEMGOV_API void memgov_fallback_destroy(memgov_fallback *fb)
{
    if (fb == NULL)
        return;
    mg_fork_lock_remove(&fb->fork);
    pthread_mutex_destroy(&fb->lock);
    mg_delivery_destroy(&fb->delivery);
    free(fb->history);
    free(fb->subs);
    free(fb);
}

MEMGOV_API memgov_mode memgov_fallback_mode(memgov_fallback *fb)
{
    if (fb == NULL)
        return MEMGOV_MODE_NORMAL;
    pthread_mutex_lock(&fb->lock);
    memgov_mode m = fb->mode;
    pthread_mutex_unlock(&fb->lock);
    return m;
}

static uint64_t elapsed(uint64_t since, uint64_t now)
{
    return now > since ? now - since : 0; /* an injected clock that goes back counts as no time */
}

/* Under the lock. */
static void set_mode(memgov_fallback *fb, memgov_mode to, memgov_fallback_reason reason, uint64_t now)
{
    if (to == fb->mode)
        return;
    fb->time_in_mode_ns[fb->mode] += elapsed(fb->mode_since_ns, now);
    fb->mode_since_ns = now;
    uint64_t seq = ++fb->transitions;
    memgov_fallback_transition *t = &fb->history[(seq - 1) % fb->o.history_capacity];
    *t = (memgov_fallback_transition){.struct_size = sizeof *t, .seq = seq, .time_ns = now, .from = fb->mode,
                                      .to = to, .reason = reason, .pressure = fb->pressure};
    fb->mode = to;
    fb->below = 0;
}

static double exit_threshold(const memgov_fallback *fb, memgov_mode m)
{
    return m == MEMGOV_MODE_MINIMAL ? fb->o.minimal_exit : fb->o.light_exit;
}

/* Under the lock: the rules of fallback.h for one observation. */
static void observe(memgov_fallback *fb, double p)
{
    uint64_t now = fb->o.clock_ns(fb->o.clock_ctx);
    fb->observations++;
    fb->pressure = p;
    if (p > fb->peak)
        fb->peak = p;
    if (!fb->in_episode && p >= fb->o.critical) {
        fb->in_episode = 1;
        fb->emergency_pressure[fb->emergencies++ % EMERGENCY_RING] = p;
    } else if (fb->in_episode && p < fb->o.critical_exit) {
        fb->in_episode = 0;
    }
    if (fb->pinned)
        return;
    memgov_mode down = p >= fb->o.minimal_enter ? MEMGOV_MODE_MINIMAL
                       : p >= fb->o.light_enter ? MEMGOV_MODE_LIGHT : MEMGOV_MODE_NORMAL;
    if (down > fb->mode) {
        set_mode(fb, down, MEMGOV_FALLBACK_REASON_PRESSURE, now);
        return;
    }
    if (fb->mode == MEMGOV_MODE_NORMAL || p >= exit_threshold(fb, fb->mode)) {
        fb->below = 0;
        return;
    }
    if (!fb->below) {
        fb->below = 1;
        fb->below_since_ns = now;
    }
    if (elapsed(fb->below_since_ns, now) >= fb->o.dwell_ns) {
        set_mode(fb, fb->mode - 1, MEMGOV_FALLBACK_REASON_RECOVERY, now);
        if (fb->mode != MEMGOV_MODE_NORMAL && p < exit_threshold(fb, fb->mode)) {
            fb->below = 1; /* the dwell in the new mode starts now, with this observation */
            fb->below_since_ns = now;
        }
    }
}

/* Under the lock, outside a delivery: drops removed entries. */
static void compact_subs(memgov_fallback *fb)
{
    size_t k = 0;
    for (size_t i = 0; i < fb->n_subs; i++)
        if (fb->subs[i].on_transition != NULL || fb->subs[i].on_emergency != NULL)
            fb->subs[k++] = fb->subs[i];
    fb->n_subs = k;
}

/* Calls every live callback of `kind` registered before event `number`, releasing the lock around each call.
 * Entries are only appended or marked during a delivery, so indices stay valid across the unlocked calls. */
static void call_subs(memgov_fallback *fb, enum sub_kind kind, uint64_t number, const memgov_fallback_transition *t,
                      double pressure)
{
    for (size_t i = 0; i < fb->n_subs; i++) {
        sub s = fb->subs[i];
        if (s.kind != kind || s.after >= number)
            continue;
        if (kind == SUB_TRANSITION && s.on_transition != NULL) {
            pthread_mutex_unlock(&fb->lock);
            s.on_transition(t, s.user);
            pthread_mutex_lock(&fb->lock);
        } else if (kind == SUB_EMERGENCY && s.on_emergency != NULL) {
            pthread_mutex_unlock(&fb->lock);
            s.on_emergency(pressure, s.user);
            pthread_mutex_lock(&fb->lock);
        }
    }
}

/* Called with the lock held; returns with it released. Delivers everything recorded, unless another thread is
 * already delivering (it will deliver ours too before it stops). */
static void deliver_and_unlock(memgov_fallback *fb)
{
    if (!mg_delivery_begin(&fb->delivery)) {
        pthread_mutex_unlock(&fb->lock);
        return;
    }
    for (;;) {
        if (fb->emergencies - fb->delivered_emergencies > EMERGENCY_RING)
            fb->delivered_emergencies = fb->emergencies - EMERGENCY_RING;
        if (fb->transitions - fb->delivered_transitions > fb->o.history_capacity)
            fb->delivered_transitions = fb->transitions - fb->o.history_capacity;
        if (fb->delivered_emergencies < fb->emergencies) {
            uint64_t e = ++fb->delivered_emergencies;
            call_subs(fb, SUB_EMERGENCY, e, NULL, fb->emergency_pressure[(e - 1) % EMERGENCY_RING]);
        } else if (fb->delivered_transitions < fb->transitions) {
            uint64_t seq = ++fb->delivered_transitions;
            memgov_fallback_transition t = fb->history[(seq - 1) % fb->o.history_capacity];
            call_subs(fb, SUB_TRANSITION, seq, &t, t.pressure);
        } else {
            break;
        }
    }
    compact_subs(fb);
    mg_delivery_end(&fb->delivery);
    pthread_mutex_unlock(&fb->lock);
}

static memgov_status pressure_of(const memgov_pressure *p, double *out)
{
    if (p == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_update: the pressure observation is NULL");
    memgov_pressure q;
    memgov_pressure_init(&q);
    memgov_status st = mg_struct_in(&q, sizeof q, p, "memgov_pressure");
    if (st != MEMGOV_OK)
        return st;
    double r = -1.0;
    if (q.budget_limit > 0)
        r = (double)q.budget_used / (double)q.budget_limit;
    if (q.memory_limit > 0) {
        double m = (double)q.memory_used / (double)q.memory_limit;
        r = m > r ? m : r;
    }
    if (r < 0.0)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_update: budget_limit and memory_limit are both 0; the "
                       "observation carries no pressure");
    *out = r;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_fallback_update_ratio(memgov_fallback *fb, double pressure)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_update: the machine is NULL");
    if (!(pressure >= 0.0) || isinf(pressure))
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_update: pressure %g is not a finite ratio >= 0", pressure);
    pthread_mutex_lock(&fb->lock);
    observe(fb, pressure);
    deliver_and_unlock(fb);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_fallback_update(memgov_fallback *fb, const memgov_pressure *p)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_update: the machine is NULL");
    double r = 0.0;
    memgov_status st = pressure_of(p, &r);
    return st != MEMGOV_OK ? st : memgov_fallback_update_ratio(fb, r);
}

MEMGOV_API memgov_status memgov_fallback_evaluate(memgov_fallback *fb)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_evaluate: the machine is NULL");
    if (fb->o.pressure_source == NULL)
        return mg_fail(MEMGOV_ESTATE, "memgov_fallback_evaluate: the machine was created without a pressure "
                       "source");
    memgov_pressure p;
    memgov_pressure_init(&p);
    memgov_status st = fb->o.pressure_source(&p, fb->o.source_ctx);
    if (st != MEMGOV_OK)
        return mg_fail(st, "memgov_fallback_evaluate: the pressure source returned %s", memgov_status_name(st));
    return memgov_fallback_update(fb, &p);
}

memgov_status mg_fallback_step_down(memgov_fallback *fb, memgov_fallback_reason reason)
{
    pthread_mutex_lock(&fb->lock);
    if (reason == MEMGOV_FALLBACK_REASON_REFUSAL)
        fb->refusals++;
    int halving = reason == MEMGOV_FALLBACK_REASON_REFUSAL && mg_fallback_halving == fb;
    if (!fb->pinned && !halving && fb->mode < MEMGOV_MODE_MINIMAL)
        set_mode(fb, fb->mode + 1, reason, fb->o.clock_ns(fb->o.clock_ctx));
    deliver_and_unlock(fb);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_fallback_notify_refusal(memgov_fallback *fb)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_notify_refusal: the machine is NULL");
    return mg_fallback_step_down(fb, MEMGOV_FALLBACK_REASON_REFUSAL);
}

MEMGOV_API memgov_status memgov_fallback_pin(memgov_fallback *fb, memgov_mode mode)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_pin: the machine is NULL");
    if ((unsigned)mode >= (unsigned)MEMGOV_MODE_COUNT_)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_pin: mode %d is not a mode (0..%d)", (int)mode,
                       MEMGOV_MODE_COUNT_ - 1);
    pthread_mutex_lock(&fb->lock);
    fb->pinned = 1;
    set_mode(fb, mode, MEMGOV_FALLBACK_REASON_PIN, fb->o.clock_ns(fb->o.clock_ctx));
    deliver_and_unlock(fb);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_fallback_unpin(memgov_fallback *fb)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_unpin: the machine is NULL");
    pthread_mutex_lock(&fb->lock);
    int was = fb->pinned;
    fb->pinned = 0;
    fb->below = 0;
    pthread_mutex_unlock(&fb->lock);
    return was ? MEMGOV_OK : mg_fail(MEMGOV_ESTATE, "memgov_fallback_unpin: the machine is not pinned");
}

static memgov_status add_sub(memgov_fallback *fb, sub s, uint64_t *id, const char *fname)
{
    if (fb == NULL || (s.on_transition == NULL && s.on_emergency == NULL))
        return mg_fail(MEMGOV_EINVAL, "%s: %s is NULL", fname, fb == NULL ? "the machine" : "fn");
    pthread_mutex_lock(&fb->lock);
    sub *grown = mg_grow(fb->subs, &fb->cap_subs, fb->n_subs, sizeof *grown, 4);
    if (grown == NULL) {
        pthread_mutex_unlock(&fb->lock);
        return mg_fail(MEMGOV_ENOMEM, "%s: out of memory for %zu callbacks", fname, fb->n_subs + 1);
    }
    fb->subs = grown;
    s.id = fb->next_id++;
    s.after = s.kind == SUB_TRANSITION ? fb->transitions : fb->emergencies;
    fb->subs[fb->n_subs++] = s;
    pthread_mutex_unlock(&fb->lock);
    if (id != NULL)
        *id = s.id;
    return MEMGOV_OK;
}

/* Removes the live callback of `kind` with this id; waits for a delivery in progress on another thread. */
static memgov_status remove_sub(memgov_fallback *fb, enum sub_kind kind, uint64_t id, const char *fname)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: the machine is NULL", fname);
    pthread_mutex_lock(&fb->lock);
    sub *found = NULL;
    for (size_t i = 0; i < fb->n_subs; i++)
        if (fb->subs[i].id == id && fb->subs[i].kind == kind &&
            (fb->subs[i].on_transition != NULL || fb->subs[i].on_emergency != NULL))
            found = &fb->subs[i];
    if (found == NULL) {
        pthread_mutex_unlock(&fb->lock);
        return mg_fail(MEMGOV_ENOTFOUND, "%s: no %s callback with id %llu", fname,
                       kind == SUB_TRANSITION ? "transition" : "emergency", (unsigned long long)id);
    }
    found->on_transition = NULL;
    found->on_emergency = NULL;
    if (!fb->delivery.active)
        compact_subs(fb);
    else
        mg_delivery_wait(&fb->delivery, &fb->lock);
    pthread_mutex_unlock(&fb->lock);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_fallback_add_listener(memgov_fallback *fb, memgov_fallback_transition_fn fn,
                                                      void *user, uint64_t *id)
{
    return add_sub(fb, (sub){.kind = SUB_TRANSITION, .on_transition = fn, .user = user}, id,
                   "memgov_fallback_add_listener");
}

MEMGOV_API memgov_status memgov_fallback_remove_listener(memgov_fallback *fb, uint64_t id)
{
    return remove_sub(fb, SUB_TRANSITION, id, "memgov_fallback_remove_listener");
}

MEMGOV_API memgov_status memgov_fallback_add_emergency(memgov_fallback *fb, memgov_fallback_emergency_fn fn,
                                                       void *user, uint64_t *id)
{
    return add_sub(fb, (sub){.kind = SUB_EMERGENCY, .on_emergency = fn, .user = user}, id,
                   "memgov_fallback_add_emergency");
}

MEMGOV_API memgov_status memgov_fallback_remove_emergency(memgov_fallback *fb, uint64_t id)
{
    return remove_sub(fb, SUB_EMERGENCY, id, "memgov_fallback_remove_emergency");
}

MEMGOV_API memgov_status memgov_fallback_history(memgov_fallback *fb, size_t index,
                                                 memgov_fallback_transition *out)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_history: the machine is NULL");
    pthread_mutex_lock(&fb->lock);
    uint64_t kept = fb->transitions < fb->o.history_capacity ? fb->transitions : fb->o.history_capacity;
    if (index >= kept) {
        pthread_mutex_unlock(&fb->lock);
        return mg_fail(MEMGOV_ENOTFOUND, "memgov_fallback_history: index %zu is past the %llu transitions kept",
                       index, (unsigned long long)kept);
    }
    uint64_t seq = fb->transitions - kept + index + 1;
    memgov_fallback_transition t = fb->history[(seq - 1) % fb->o.history_capacity];
    pthread_mutex_unlock(&fb->lock);
    return mg_struct_out(out, &t, sizeof t, "memgov_fallback_transition");
}

MEMGOV_API memgov_status memgov_fallback_get_stats(memgov_fallback *fb, memgov_fallback_stats *out)
{
    if (fb == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_get_stats: the machine is NULL");
    memgov_fallback_stats s = {.struct_size = sizeof s};
    pthread_mutex_lock(&fb->lock);
    uint64_t now = fb->o.clock_ns(fb->o.clock_ctx);
    s.mode = fb->mode;
    s.pinned = fb->pinned;
    s.pressure = fb->pressure;
    s.peak_pressure = fb->peak;
    s.observations = fb->observations;
    s.transitions = fb->transitions;
    s.history_kept = fb->transitions < fb->o.history_capacity ? fb->transitions : fb->o.history_capacity;
    s.refusals = fb->refusals;
    s.emergencies = fb->emergencies;
    memcpy(s.time_in_mode_ns, fb->time_in_mode_ns, sizeof s.time_in_mode_ns);
    s.time_in_mode_ns[fb->mode] += elapsed(fb->mode_since_ns, now);
    pthread_mutex_unlock(&fb->lock);
    return mg_struct_out(out, &s, sizeof s, "memgov_fallback_stats");
}
