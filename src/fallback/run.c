/* memgov_fallback_run(): retry a refused job in lighter modes, with exponential backoff. */
#include <string.h>

#include "fallback/fallback_internal.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/structsize.h"

MEMGOV_API void memgov_fallback_run_options_init(memgov_fallback_run_options *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->max_attempts = 4; /* one per mode, and one more in MINIMAL after the longest pause */
    o->backoff_ns = 100000000u;
    o->backoff_max_ns = 2000000000u;
}

static memgov_status read_options(const memgov_fallback_run_options *opts, memgov_fallback_run_options *o)
{
    memgov_fallback_run_options d;
    memgov_fallback_run_options_init(&d);
    *o = d;
    memgov_status st = mg_struct_in(o, sizeof *o, opts, "memgov_fallback_run_options");
    if (st != MEMGOV_OK)
        return st;
    if (o->max_attempts == 0)
        o->max_attempts = d.max_attempts;
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

MEMGOV_API memgov_status memgov_fallback_run(memgov_fallback *fb, memgov_fallback_job_fn job, void *user,
                                             const memgov_fallback_run_options *opts,
                                             memgov_fallback_run_result *result)
{
    if (fb == NULL || job == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_run: %s is NULL", fb == NULL ? "the machine" : "job");
    if (result != NULL && result->struct_size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "memgov_fallback_run: result struct_size is %zu; set it to sizeof "
                       "the struct", result->struct_size);
    memgov_fallback_run_options o;
    memgov_status st = read_options(opts, &o);
    if (st != MEMGOV_OK)
        return st;
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    uint64_t pause = 0;
    do {
        if (r.attempts > 0) {
            pause = pause == 0 ? o.backoff_ns : (pause > o.backoff_max_ns / 2 ? o.backoff_max_ns : pause * 2);
            if (pause > o.backoff_max_ns)
                pause = o.backoff_max_ns;
            o.sleep_ns(pause, o.sleep_ctx);
        }
        memgov_mode mode = memgov_fallback_mode(fb);
        st = job(mode, user);
        r.attempt[r.attempts++] = (memgov_fallback_attempt){.mode = mode, .status = st, .backoff_ns = pause};
        /* The retry must run lighter than this attempt did. A refusal inside the job may have moved the machine
         * already (a governor's refusal listener does): that move is the step, not a reason for a second one. */
        if (st == MEMGOV_ENOMEM && memgov_fallback_mode(fb) == mode)
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
