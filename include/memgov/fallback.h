/*
 * memgov/fallback.h — the fallback state machine: NORMAL -> LIGHT -> MINIMAL and back, with hysteresis, a dwell
 * time, hard-refusal steps, manual pinning, emergency notification and a transition history. docs/fallback.md
 * draws the state diagram and explains the defaults.
 *
 * The machine is fed, it does not look: pressure observations arrive through memgov_fallback_update() (or a
 * pressure source polled by memgov_fallback_evaluate()), refusals through memgov_fallback_notify_refusal().
 *
 * Pressure (a ratio, 1.0 = full) is the highest of the ratios an observation carries:
 *     pressure = max(budget_used / budget_limit, memory_used / memory_limit)
 * where a pair whose limit is 0 is left out (no root budget, or effective memory unknown).
 *
 * Rules, with the defaults of memgov_fallback_options_init():
 * - Down on pressure, at once: pressure >= minimal_enter (0.85) -> MINIMAL; pressure >= light_enter (0.70) in
 *   NORMAL -> LIGHT. (From NORMAL straight to MINIMAL when the pressure is already that high.)
 * - Up on recovery, one mode at a time: from MINIMAL to LIGHT when every observation for at least dwell_ns has
 *   been below minimal_exit (0.75), counted from the later of entering the mode and the first such observation;
 *   from LIGHT to NORMAL likewise below light_exit (0.60). Pressure between exit and enter changes nothing
 *   (hysteresis), so pressure oscillating inside that band never flaps.
 * - A hard refusal (memgov_fallback_notify_refusal()) moves down one mode at once and restarts the dwell.
 * - Pinned (memgov_fallback_pin()): the mode stays where it was pinned until memgov_fallback_unpin(); pressure
 *   and emergencies are still tracked, refusals are counted but move nothing.
 * - Emergency: when pressure reaches critical (0.95) an emergency episode begins and the emergency callbacks
 *   (memgov_fallback_add_emergency()) are called once; the episode ends when pressure falls below critical_exit
 *   (0.90), and a later rise starts a new episode.
 *
 * Callbacks (transition listeners and emergency callbacks) run outside the machine's lock, in order, never two at a
 * time: on the thread whose call caused the event, or, if another thread is delivering events at that moment,
 * on that other thread, which delivers the new events before it returns. A callback may call any function of
 * this header on the same machine except memgov_fallback_destroy(); events it causes are delivered after it
 * returns. Emergencies are delivered before transitions caused by the same observation.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_FALLBACK_H
#define MEMGOV_FALLBACK_H

#include "memgov/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A fallback state machine. Opaque; created with memgov_fallback_create(), freed with memgov_fallback_destroy(). */
typedef struct memgov_fallback memgov_fallback;

/* What caused a transition. Values are pinned forever. */
typedef enum memgov_fallback_reason {
    MEMGOV_FALLBACK_REASON_PRESSURE = 1, /* pressure crossed an enter threshold */
    MEMGOV_FALLBACK_REASON_RECOVERY = 2, /* pressure stayed below an exit threshold for the dwell time */
    MEMGOV_FALLBACK_REASON_REFUSAL = 3,  /* memgov_fallback_notify_refusal(): a hard limit refused memory */
    MEMGOV_FALLBACK_REASON_PIN = 4,      /* memgov_fallback_pin() */
    MEMGOV_FALLBACK_REASON_JOB = 5,      /* memgov_fallback_run(): the job returned MEMGOV_ENOMEM */
    MEMGOV_FALLBACK_REASON_COUNT_        /* not a reason: one past the highest this header knows */
} memgov_fallback_reason;

/* The reason's lower-case name: "pressure", "recovery", "refusal", "pin", "job"; "invalid" for an unknown value.
 * Static string. Thread safety: any thread. */
MEMGOV_API const char *memgov_fallback_reason_name(memgov_fallback_reason reason);

/* One pressure observation (struct_size rule). Bytes. A pair whose limit is 0 is not known and left out. */
typedef struct memgov_pressure {
    size_t struct_size;
    uint64_t budget_used;  /* the root budget's use */
    uint64_t budget_limit; /* the root budget's hard limit; 0 = no root budget */
    uint64_t memory_used;  /* effective memory in use: limit - MemAvailable, or the cgroup's memory.current */
    uint64_t memory_limit; /* effective memory: min(physical RAM, cgroup memory.max, ...) */
} memgov_pressure;

/* Sets struct_size and zeroes every pair. Thread safety: any thread (p is the caller's). */
MEMGOV_API void memgov_pressure_init(memgov_pressure *p);

/* The most transitions a machine's history keeps (memgov_fallback_options.history_capacity). */
#define MEMGOV_FALLBACK_HISTORY_MAX (1u << 20)

/* Options of memgov_fallback_create() (struct_size rule). A threshold or duration of 0 means its default. */
typedef struct memgov_fallback_options {
    size_t struct_size;
    double light_enter;   /* pressure ratio entering LIGHT; default 0.70 */
    double light_exit;    /* below it (for dwell_ns) LIGHT recovers to NORMAL; default 0.60 */
    double minimal_enter; /* entering MINIMAL; default 0.85 */
    double minimal_exit;  /* below it (for dwell_ns) MINIMAL recovers to LIGHT; default 0.75 */
    double critical;      /* an emergency episode begins at or above it; default 0.95 */
    double critical_exit; /* the episode ends below it; default 0.90 */
    uint64_t dwell_ns;    /* minimum time in a mode, below its exit threshold, before recovering; default 10 s */
    uint32_t history_capacity; /* transitions kept for memgov_fallback_history(); default 256, at most
                                * MEMGOV_FALLBACK_HISTORY_MAX */
    /* The clock, in nanoseconds, monotonic; NULL = CLOCK_MONOTONIC. Called with the machine's lock held: it
     * must not call into this machine. */
    uint64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;
    /* Polled by memgov_fallback_evaluate(); NULL = none. Fills *out (struct_size already set) and returns
     * MEMGOV_OK, or another status to skip this evaluation. Called without the machine's lock held, on the
     * thread that calls memgov_fallback_evaluate(). */
    memgov_status (*pressure_source)(memgov_pressure *out, void *source_ctx);
    void *source_ctx;
} memgov_fallback_options;

/* Fills o with the defaults above and sets struct_size. Thread safety: any thread (o is the caller's). */
MEMGOV_API void memgov_fallback_options_init(memgov_fallback_options *o);

/* Creates a machine in NORMAL mode. opts may be NULL (defaults). The thresholds must satisfy
 * 0 < light_exit < light_enter, 0 < minimal_exit < minimal_enter, light_enter < minimal_enter,
 * light_exit < minimal_exit, minimal_enter <= critical, critical_exit < critical, critical <= 1.
 * Errors: MEMGOV_EINVAL (out NULL, bad struct_size, thresholds out of order; the message names the values),
 * MEMGOV_ERANGE (history_capacity over 2^20), MEMGOV_ENOMEM. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_create(const memgov_fallback_options *opts, memgov_fallback **out);

/* Frees the machine. NULL is accepted. No other call on it may be running or follow, and it must not be called
 * from one of its callbacks. Thread safety: the caller's. */
MEMGOV_API void memgov_fallback_destroy(memgov_fallback *fb);

/* The current mode; MEMGOV_MODE_NORMAL if fb is NULL. Thread safety: any thread; never blocks on callbacks. */
MEMGOV_API memgov_mode memgov_fallback_mode(memgov_fallback *fb);

/* Feeds one pressure observation (formula above) at the clock's current time, applies the rules, records
 * transitions and delivers events. Errors: MEMGOV_EINVAL (NULL, bad struct_size, no pair with a non-zero
 * limit). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_update(memgov_fallback *fb, const memgov_pressure *p);

/* Feeds a pressure ratio computed by the caller (>= 0; above 1 means over the limit).
 * Errors: MEMGOV_EINVAL (fb NULL, pressure negative or not a number). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_update_ratio(memgov_fallback *fb, double pressure);

/* Polls the options' pressure source once and feeds its observation as memgov_fallback_update() does.
 * Errors: MEMGOV_EINVAL (fb NULL), MEMGOV_ESTATE (no pressure source), the source's status (nothing fed).
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_evaluate(memgov_fallback *fb);

/* Reports a hard refusal (an allocation or reservation refused with MEMGOV_ENOMEM): moves down one mode at once
 * (reason refusal) unless already MINIMAL or pinned; counted in the stats either way. The integrator calls it
 * from the budget's refusal event. Errors: MEMGOV_EINVAL (fb NULL). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_notify_refusal(memgov_fallback *fb);

/* Pins the machine in `mode` (reason pin, recorded if it changes the mode) until memgov_fallback_unpin().
 * Pinning again re-pins. Errors: MEMGOV_EINVAL (fb NULL, unknown mode). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_pin(memgov_fallback *fb, memgov_mode mode);

/* Lets the rules move the machine again, from the pinned mode; the dwell starts over and the next observation
 * decides. Errors: MEMGOV_EINVAL (fb NULL), MEMGOV_ESTATE (not pinned). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_unpin(memgov_fallback *fb);

/* One recorded transition (struct_size rule, stats direction: written up to the smaller size). */
typedef struct memgov_fallback_transition {
    size_t struct_size;
    uint64_t seq;                 /* 1 for the machine's first transition, then consecutive */
    uint64_t time_ns;             /* the machine's clock at the transition */
    memgov_mode from;
    memgov_mode to;
    memgov_fallback_reason reason;
    double pressure;              /* the last observed pressure; -1 if none was observed yet */
} memgov_fallback_transition;

/* Called after every transition, outside the lock (see the top of this header for the thread). t is valid
 * during the call only. */
typedef void (*memgov_fallback_transition_fn)(const memgov_fallback_transition *t, void *user);

/* Called once per emergency episode with the pressure that started it, outside the lock. Save a checkpoint,
 * flush results, drop caches: the process is about to run out of memory. */
typedef void (*memgov_fallback_emergency_fn)(double pressure, void *user);

/* Registers a transition listener: fn(t, user) after every transition from now on (transitions recorded before
 * the call are not delivered to it). *id (may be NULL) receives its id for memgov_fallback_remove_listener():
 * never 0, never reused within fb (listeners and emergency callbacks share one sequence). The number of
 * callbacks is bounded by memory only. Errors: MEMGOV_EINVAL (fb or fn NULL), MEMGOV_ENOMEM.
 * Thread safety: any thread, callbacks included. */
MEMGOV_API memgov_status memgov_fallback_add_listener(memgov_fallback *fb, memgov_fallback_transition_fn fn,
                                                      void *user, uint64_t *id);

/* Removes a transition listener. When it returns, the callback is not running and will not be called again (it
 * waits for a delivery in progress on another thread; called from a callback it does not wait), so user may be
 * freed. Errors: MEMGOV_EINVAL (fb NULL), MEMGOV_ENOTFOUND (no transition listener with this id, e.g. the id
 * of an emergency callback). Thread safety: any thread, callbacks included. */
MEMGOV_API memgov_status memgov_fallback_remove_listener(memgov_fallback *fb, uint64_t id);

/* Registers an emergency callback: fn(pressure, user) once per emergency episode begun from now on; the id as
 * for memgov_fallback_add_listener(). Errors: MEMGOV_EINVAL (fb or fn NULL), MEMGOV_ENOMEM.
 * Thread safety: any thread, callbacks included. */
MEMGOV_API memgov_status memgov_fallback_add_emergency(memgov_fallback *fb, memgov_fallback_emergency_fn fn,
                                                       void *user, uint64_t *id);

/* Removes an emergency callback, with the guarantees of memgov_fallback_remove_listener(). Errors:
 * MEMGOV_EINVAL (fb NULL), MEMGOV_ENOTFOUND (no emergency callback with this id). Thread safety: any thread,
 * callbacks included. */
MEMGOV_API memgov_status memgov_fallback_remove_emergency(memgov_fallback *fb, uint64_t id);

/* The index-th transition of those still kept, oldest first (index 0); the history keeps the last
 * history_capacity. Errors: MEMGOV_EINVAL (NULL, bad struct_size), MEMGOV_ENOTFOUND (index >= kept count).
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_history(memgov_fallback *fb, size_t index,
                                                 memgov_fallback_transition *out);

/* Counters and state (struct_size rule, stats direction). */
typedef struct memgov_fallback_stats {
    size_t struct_size;
    memgov_mode mode;
    int pinned;              /* 1 while pinned */
    double pressure;         /* the last observed pressure; -1 if none yet */
    double peak_pressure;    /* the highest observed; -1 if none yet */
    uint64_t observations;   /* pressure observations fed */
    uint64_t transitions;    /* transitions ever made (the history may keep fewer) */
    uint64_t history_kept;   /* transitions memgov_fallback_history() can return */
    uint64_t refusals;       /* memgov_fallback_notify_refusal() calls */
    uint64_t emergencies;    /* emergency episodes begun */
    /* Time spent in each mode up to now by the machine's clock, indexed by memgov_mode. The length is fixed at
     * the three modes of this ABI (not MEMGOV_MODE_COUNT_, which may grow). */
    uint64_t time_in_mode_ns[3];
} memgov_fallback_stats;

/* Fills *out. Errors: MEMGOV_EINVAL (NULL, bad struct_size). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_fallback_get_stats(memgov_fallback *fb, memgov_fallback_stats *out);

/* ---- running a job with automatic fallback ----------------------------------------------------------------- */

/* The job: does its work with the settings of `mode`; returns MEMGOV_OK, MEMGOV_ENOMEM to ask for a lighter
 * retry, or any other status to stop. Runs on the thread that called memgov_fallback_run(). */
typedef memgov_status (*memgov_fallback_job_fn)(memgov_mode mode, void *user);

/* The most attempts one run may make (the size of memgov_fallback_run_result.attempt). */
#define MEMGOV_FALLBACK_MAX_ATTEMPTS 16

/* Options of memgov_fallback_run() (struct_size rule). A value of 0 means its default. */
typedef struct memgov_fallback_run_options {
    size_t struct_size;
    uint32_t max_attempts; /* attempts in all, 1..MEMGOV_FALLBACK_MAX_ATTEMPTS; default 4 (16 in
                              memgov_fallback_run_batched() of memgov/chunk.h) */
    uint64_t backoff_ns;   /* pause before the first retry, doubled before each next one; default 100 ms */
    uint64_t backoff_max_ns; /* the pause never exceeds it; default 2 s */
    /* Sleeps ns nanoseconds before a retry; NULL = nanosleep. Tests inject a recorder. */
    void (*sleep_ns)(uint64_t ns, void *sleep_ctx);
    void *sleep_ctx;
} memgov_fallback_run_options;

/* Fills o with the defaults above and sets struct_size. Thread safety: any thread (o is the caller's). */
MEMGOV_API void memgov_fallback_run_options_init(memgov_fallback_run_options *o);

/* One attempt of a run. */
typedef struct memgov_fallback_attempt {
    memgov_mode mode;      /* the mode the job ran in */
    memgov_status status;  /* what the job returned */
    uint64_t backoff_ns;   /* the pause before this attempt (0 for the first) */
} memgov_fallback_attempt;

/* What a run did (struct_size rule, stats direction). */
typedef struct memgov_fallback_run_result {
    size_t struct_size;
    memgov_status status;  /* the final status, as returned */
    uint32_t attempts;     /* attempts made; attempt[0 .. attempts-1] are filled */
    memgov_fallback_attempt attempt[MEMGOV_FALLBACK_MAX_ATTEMPTS];
} memgov_fallback_run_result;

/* Runs job(mode, user) in the machine's current mode. (memgov_fallback_run_batched() in memgov/chunk.h first
 * halves a batch before stepping the mode down.) When the job returns MEMGOV_ENOMEM, moves the machine down one
 * mode (reason job; not below MINIMAL, not while pinned) unless something else moved it during the attempt
 * (a refusal reported with memgov_fallback_notify_refusal(), as a governor does for every hard refusal: one
 * refused attempt is one step down, never two), pauses with exponential backoff and retries in the machine's
 * then current mode, up to max_attempts in all. Any other status ends the run. result may be NULL.
 * Returns the job's last status; when every attempt was refused the last error says so (attempts, last mode).
 * Errors besides the job's: MEMGOV_EINVAL (fb or job NULL, bad struct_size, max_attempts over the bound).
 * Thread safety: any thread; several runs may share one machine. */
MEMGOV_API memgov_status memgov_fallback_run(memgov_fallback *fb, memgov_fallback_job_fn job, void *user,
                                             const memgov_fallback_run_options *opts,
                                             memgov_fallback_run_result *result);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_FALLBACK_H */
