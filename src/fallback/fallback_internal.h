/* Internal to src/fallback: what memgov_fallback_run() needs from the machine. */
#ifndef MG_FALLBACK_INTERNAL_H
#define MG_FALLBACK_INTERNAL_H

#include "memgov/fallback.h"

/* Moves fb down one mode for `reason` (not below MINIMAL, not while pinned) and delivers the event; a refusal
 * is also counted. fb must not be NULL. */
memgov_status mg_fallback_step_down(memgov_fallback *fb, memgov_fallback_reason reason);

/* The machine whose memgov_fallback_run() on this thread is running an attempt above its batcher's floor, or
 * NULL: refusals this thread reports to that machine are counted and move nothing (the run halves the batch). */
extern _Thread_local memgov_fallback *mg_fallback_halving;

#endif
