/* memgov_fallback_run(): retry a refused job with half the batch (with a batcher), then in lighter modes, with
 * exponential backoff. */
#include <string.h>

#include "fallback/fallback_internal.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/structsize.h"
#include "memgov/chunk.h"

_Thread_local memgov_fallback *mg_fallback_halving;

MEMGOV_API void memgov_fallback_run_options_init(memgov_fallback_run_options *o)
{
    if (!mg_struct_init(o, sizeof *o))
        return;
    o->max_attempts = 4; /* one per mode, and one more in MINIMAL after the longest pause */
    o->backoff_ns = 100000000u;
    o->backoff_max_ns = 2000000000u;
}

static memgov_status read_options(const memgov_fallback_run_options *opts, memgov_batcher *batcher,
                                  memgov_fallback_run_options *o)
{
    memgov_fallback_run_options d;
    memgov_fallback_run_options_init(&d);
    *o = d;
    memgov_status st = mg_struct_in(o, sizeof *o, opts, "memgov_fallback_run_options");
    if (st != MEMGOV_OK)
        return st;
    if (o->max_attempts == 0)
        o->max_attempts = batcher != NULL ? MEMGOV_FALLBACK_MAX_ATTEMPTS : d.max_attempts;
    if (o->backoff_ns == 0)
        o->backoff_ns = d.backoff_ns;
    if (o->backoff_max_ns == 0)
        o->backoff_max_ns = d.backoff_max_ns;
    if (o->sleep_ns == NULL) {
        o->sleep_ns = mg_sleep_ns;
        o->sleep_ctx = NULL;
    }
    if (o->max_attempts > MEMGOV_FALLBACK_MAX_ATTEMPTS)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_run: max_attempts %u exceeds the bound of %d",
                       o->max_attempts, MEMGOV_FALLBACK_MAX_ATTEMPTS);
    return MEMGOV_OK;
}

/* memgov_fallback_run() and, with a batcher, memgov_fallback_run_batched(). */
static memgov_status run(memgov_fallback *fb, memgov_batcher *batcher, memgov_fallback_job_fn job, void *user,
                         const memgov_fallback_run_options *opts, memgov_fallback_run_result *result)
{
    if (fb == NULL || job == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_run: %s is NULL", fb == NULL ? "the machine" : "job");
    if (result != NULL && result->struct_size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_run: result struct_size is %zu; set it to sizeof "
                       "the struct", result->struct_size);
    memgov_fallback_run_options o;
    memgov_status st = read_options(opts, batcher, &o);
    if (st != MEMGOV_OK)
        return st;
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    uint64_t pause = 0;
    int halved = 0; /* the previous attempt was refused above the batcher's floor: retry at once, same mode */
    do {
        uint64_t wait = 0;
        if (r.attempts > 0 && !halved) {
            pause = pause == 0 ? o.backoff_ns : (pause > o.backoff_max_ns / 2 ? o.backoff_max_ns : pause * 2);
            if (pause > o.backoff_max_ns)
                pause = o.backoff_max_ns;
            wait = pause;
            o.sleep_ns(pause, o.sleep_ctx);
        }
        uint64_t batch = 0, floor = 0;
        if (batcher != NULL) {
            memgov_batcher_stats bs = {.struct_size = sizeof bs};
            memgov_batcher_get_stats(batcher, &bs);
            batch = bs.next;
            floor = bs.min;
        }
        memgov_mode mode = memgov_fallback_mode(fb);
        memgov_fallback *outer = mg_fallback_halving;
        mg_fallback_halving = batch > floor ? fb : outer;
        st = job(mode, user);
        mg_fallback_halving = outer;
        r.attempt[r.attempts++] = (memgov_fallback_attempt){.mode = mode, .status = st, .backoff_ns = wait};
        halved = 0;
        if (batcher != NULL && st == MEMGOV_OK)
            memgov_batcher_success(batcher, batch);
        if (batcher != NULL && st == MEMGOV_ENOMEM)
            halved = memgov_batcher_refused(batcher, batch) == MEMGOV_OK;
        /* The retry must run lighter than this attempt did. A refusal inside the job may have moved the machine
         * already (a governor's refusal listener does): that move is the step, not a reason for a second one. */
        if (st == MEMGOV_ENOMEM && !halved && memgov_fallback_mode(fb) == mode)
            mg_fallback_step_down(fb, MEMGOV_FALLBACK_REASON_JOB);
    } while (st == MEMGOV_ENOMEM && r.attempts < o.max_attempts);
    r.status = st;
    if (st == MEMGOV_ENOMEM)
        mg_fail(MEMGOV_ENOMEM, "memgov_fallback_run: the job was refused memory in all %u attempts "
                "(max_attempts %u), the last in mode %s", r.attempts, o.max_attempts,
                memgov_mode_name(r.attempt[r.attempts - 1].mode));
    if (result != NULL)
        mg_struct_out(result, &r, sizeof r, "memgov_fallback_run_result");
    return st;
}

MEMGOV_API memgov_status memgov_fallback_run(memgov_fallback *fb, memgov_fallback_job_fn job, void *user,
                                             const memgov_fallback_run_options *opts,
                                             memgov_fallback_run_result *result)
{
    return run(fb, NULL, job, user, opts, result);
}

MEMGOV_API memgov_status memgov_fallback_run_batched(memgov_fallback *fb, memgov_batcher *batcher,
                                                     memgov_fallback_job_fn job, void *user,
                                                     const memgov_fallback_run_options *opts,
                                                     memgov_fallback_run_result *result)
{
    if (batcher == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_run_batched: the batcher is NULL");
    return run(fb, batcher, job, user, opts, result);
}
