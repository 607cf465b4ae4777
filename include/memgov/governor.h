/*
 * memgov/governor.h — the governor: one instance of memgov with its root budget. A program opens its own
 * governors or uses the process default (memgov_default()).
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_GOVERNOR_H
#define MEMGOV_GOVERNOR_H

#include "memgov/budget.h"
#include "memgov/common.h"
#include "memgov/config.h"
#include "memgov/fallback.h"
#include "memgov/monitor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A governor. Opaque; created by memgov_open(), destroyed by memgov_close(). */
typedef struct memgov memgov;

/* Options of memgov_open(). Begins with struct_size (docs/abi.md); fill with memgov_options_init().
 *
 * Where the settings come from: the governor owns a configuration (memgov/config.h) holding memgov's keys at
 * their defaults, then the file `config_file` (or, when it is NULL and MEMGOV_OPEN_NO_ENV is not set, the file
 * named by the environment variable MEMGOV_CONFIG_FILE), then the MEMGOV_<KEY> environment variables (unless
 * MEMGOV_OPEN_NO_ENV). The root budget's limits, the fallback machine's thresholds and dwell time and the
 * monitor's interval are read from it; a non-zero root_limit / root_soft_limit here overrides the keys. */
typedef struct memgov_options {
    size_t struct_size;
    uint64_t root_limit;      /* hard limit of the root budget in bytes; 0 = the key root.limit (default 90% of
                                 the effective memory); MEMGOV_OPEN_NO_LIMIT = none (only child budgets cap) */
    uint64_t root_soft_limit; /* soft limit of the root budget in bytes; 0 = root.soft_ratio x the hard limit;
                                 must be <= the hard limit */
    const char *config_file;  /* configuration file to load (docs/config.md); NULL = see above. Borrowed. */
    uint32_t flags;           /* MEMGOV_OPEN_* bits */
    const char *proc_root;    /* where /proc and /sys are read (probe, monitor, pressure); NULL = the real ones.
                                 Copied. For tests and for containers that mount a host view elsewhere. */
} memgov_options;

/* memgov_options.root_limit: the root budget has no hard limit (nor a soft one unless root_soft_limit says). */
#define MEMGOV_OPEN_NO_LIMIT UINT64_MAX

/* Bits of memgov_options.flags. */
#define MEMGOV_OPEN_NO_ENV        0x1u /* read no environment variable (MEMGOV_<KEY>, MEMGOV_CONFIG_FILE) */
#define MEMGOV_OPEN_STRICT        0x2u /* out-of-bounds configuration values fail memgov_open() instead of being
                                          clamped (memgov_config_load_file's MEMGOV_CONFIG_STRICT) */
#define MEMGOV_OPEN_START_MONITOR 0x4u /* start the monitor's sampler thread (period: monitor.interval); each sample
                                          also feeds the fallback machine. Without it, call memgov_monitor_sample()
                                          or memgov_fallback_evaluate() when you want them to look */

/* Fills *opts with the defaults (everything from the configuration, no flags) and sets struct_size.
 * Thread safety: any thread. */
MEMGOV_API void memgov_options_init(memgov_options *opts);

/* Opens a governor: its configuration (loaded as memgov_options says), the root budget named "root" with its
 * own jemalloc arena and the configured limits, the fallback machine and the monitor, wired together:
 * - a hard refusal anywhere in the budget tree moves the fallback machine down one mode at once;
 * - the machine's pressure is max(root use / root hard limit, effective memory in use / effective memory), read
 *   from the budget and from /proc (MemAvailable, or the cgroup's memory.current inside a memory-limited cgroup)
 *   each time memgov_fallback_evaluate() runs (each monitor sample does);
 * - every mode change switches the configuration's mode overlays (memgov_config_set_mode());
 * - setting root.limit or root.soft_ratio later (memgov_config_set(), a load) changes the root's limits.
 * opts may be NULL (defaults). On success *out is the governor, owned by the caller until memgov_close().
 * Errors: MEMGOV_EINVAL (out NULL, bad struct_size, unknown flag), MEMGOV_ERANGE (soft above hard, or with
 * MEMGOV_OPEN_STRICT an out-of-bounds configuration value), MEMGOV_EPARSE / MEMGOV_ETYPE / MEMGOV_EOVERFLOW (a
 * configuration value that cannot be read: the message names file:line or the variable), MEMGOV_ENOTFOUND /
 * MEMGOV_EIO (the configuration file cannot be read), MEMGOV_ENOMEM. Nothing is left behind on failure.
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_open(const memgov_options *opts, memgov **out);

/* Closes a governor whose root has no live bytes and no children and that has no open device (memgov/gpu.h);
 * otherwise MEMGOV_EBUSY with a message naming them, and the governor stays open. The process default cannot be closed (MEMGOV_EINVAL). NULL is a no-op
 * returning MEMGOV_OK. Thread safety: any thread, but no other thread may still use the governor. */
MEMGOV_API memgov_status memgov_close(memgov *gov);

/* The process-wide default governor, created on first use (thread-safe) with the default options, so that its
 * configuration comes from $MEMGOV_CONFIG_FILE and the MEMGOV_<KEY> environment variables, and living until the
 * process ends. NULL if it could not be created (the last status and message say why, e.g. a bad value in the
 * environment; a later call answers the same). The warnings and corrections of its configuration loads are
 * written to stderr once, when it is created, unless log.warnings is false (memgov_governor_config_result()).
 * Thread safety: any thread. */
MEMGOV_API memgov *memgov_default(void);

/* The governor's root budget: the ancestor of all its budgets. A listener registered on it
 * (memgov_budget_add_listener) receives the events of every budget of the governor, hard refusals included.
 * NULL for NULL. Thread safety: any thread. */
MEMGOV_API memgov_budget *memgov_root(memgov *gov);

/* The governor's configuration. Change values with memgov_config_set() and friends: root.limit and
 * root.soft_ratio apply to the root budget at once; the other keys are read when the part using them asks
 * (the fallback thresholds and the monitor's interval only at memgov_open()). Owned by the governor: do not
 * destroy it. NULL for NULL. Thread safety: any thread (the configuration is thread-safe). */
MEMGOV_API memgov_config *memgov_governor_config(memgov *gov);

/* What memgov_open() had to say about the configuration it loaded (the file, then the environment): warnings
 * (an unknown key or MEMGOV_ variable with its "did you mean", a duplicate key, thresholds out of order, an
 * unknown [mode.X] section) and corrections (an out-of-bounds value clamped to its bound: a clamp of a limit such
 * as MEMGOV_ROOT_LIMIT=0 -> 1MiB is always reported here), in order. Read it with memgov_config_result_size(),
 * _count() and _message() (memgov/config.h); empty when there was nothing to say. Errors never reach it: they
 * make memgov_open() fail, and its last error names the file:line or variable.
 * Where the messages also go: the process default (memgov_default()) writes each to stderr as
 * "memgov: warning: ..." unless the key log.warnings is false (e.g. MEMGOV_LOG_WARNINGS=false); a governor from
 * memgov_open() writes nothing (its caller reads this); the memgov CLI prints them on stderr.
 * Owned by the governor and unchanged until memgov_close(). NULL for NULL. Thread safety: any thread. */
MEMGOV_API const memgov_config_result *memgov_governor_config_result(memgov *gov);

/* The governor's fallback machine (memgov/fallback.h): listen to mode changes and emergencies, pin a mode,
 * read its history. Owned by the governor: do not destroy it. NULL for NULL. Thread safety: any thread. */
MEMGOV_API memgov_fallback *memgov_governor_fallback(memgov *gov);

/* The governor's monitor (memgov/monitor.h), with the built-in metrics plus "budget.root.used" and
 * "budget.root.limit" (bytes) and "fallback.pressure" (ratio; sampling it evaluates the fallback machine). Add
 * metrics and alerts, start or stop its sampler, read reports. Owned by the governor: do not destroy it. NULL for
 * NULL. Thread safety: any thread. */
MEMGOV_API memgov_monitor *memgov_governor_monitor(memgov *gov);

/* Runs job(mode, user) in the governor's current mode and, when it returns MEMGOV_ENOMEM, moves the governor's
 * fallback machine down one mode (switching the configuration's overlays, so the job reads lighter settings)
 * and retries with exponential backoff: memgov_fallback_run() on memgov_governor_fallback(gov). opts and result
 * may be NULL. Returns the job's final status; errors as memgov_fallback_run(), MEMGOV_EINVAL for a NULL gov.
 * Thread safety: any thread; the job runs on the calling thread. */
MEMGOV_API memgov_status memgov_run_with_fallback(memgov *gov, memgov_fallback_job_fn job, void *user,
                                                  const memgov_fallback_run_options *opts,
                                                  memgov_fallback_run_result *result);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_GOVERNOR_H */
