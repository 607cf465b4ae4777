/* The governor: its root budget, its parts (src/governor/parts.c) and the process default. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/tree.h"
#include "governor/parts.h"
#include "internal/devices.h"
#include "internal/error.h"
#include "internal/structsize.h"
#include "memgov/chunk.h"
#include "threads/threads_internal.h"

/* A governor: its budget tree (src/budget, through budget/tree.h) and its parts (parts.c). */
struct memgov {
    mg_tree *tree;
    bool is_default;
    mg_parts *parts; /* configuration, fallback machine, monitor */
    _Atomic(mg_threads *) threads; /* the thread controller (src/threads), made on first use: it probes hwloc */
};

MEMGOV_API void memgov_options_init(memgov_options *opts)
{
    mg_struct_init(opts, sizeof *opts);
}

static memgov_status open_governor(const memgov_options *opts, memgov **out, bool is_default)
{
    memgov_options o;
    memgov_options_init(&o);
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_options");
    if (st != MEMGOV_OK)
        return st;
    memgov_budget_options root;
    mg_parts *parts;
    if ((st = mg_parts_configure(&o, &parts, &root)) != MEMGOV_OK)
        return st;
    memgov *gov = calloc(1, sizeof *gov);
    if (gov == NULL) {
        mg_parts_close(parts);
        return mg_fail(MEMGOV_ENOMEM, "memgov_open: no memory for the governor");
    }
    st = mg_tree_open(&root, &gov->tree);
    if (st == MEMGOV_OK)
        st = mg_parts_wire(parts, mg_tree_root(gov->tree), o.flags & MEMGOV_OPEN_START_MONITOR);
    if (st != MEMGOV_OK) {
        mg_parts_close(parts); /* first: it unwires from the root */
        mg_tree_free(gov->tree);
        free(gov);
        return st;
    }
    gov->parts = parts;
    gov->is_default = is_default;
    *out = gov;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_open(const memgov_options *opts, memgov **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_open: out is NULL");
    return open_governor(opts, out, false);
}

MEMGOV_API memgov_status memgov_close(memgov *gov)
{
    if (gov == NULL)
        return MEMGOV_OK;
    if (gov->is_default)
        return mg_fail(MEMGOV_EINVAL, "memgov_close: the process default governor lives until the process ends");
    memgov_status st = mg_threads_check_idle(atomic_load(&gov->threads));
    if (st == MEMGOV_OK)
        st = mg_tree_check_idle(gov->tree, "cannot close the governor: its root");
    if (st != MEMGOV_OK)
        return st;
    char devices[256];
    unsigned open_devices = mg_devices_of(mg_tree_root(gov->tree), devices, sizeof devices);
    if (open_devices > 0) /* their refusals and metrics reach this governor's parts (memgov/gpu.h) */
        return mg_fail(MEMGOV_EBUSY, "cannot close the governor: %u device(s) still open: %s (memgov_gpu_close)",
                       open_devices, devices);
    mg_threads_close(atomic_load(&gov->threads)); /* first: it listens to the configuration and the root */
    mg_parts_close(gov->parts);
    mg_tree_free(gov->tree);
    free(gov);
    return MEMGOV_OK;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static memgov *default_gov;
static memgov_status default_status;
static char default_error[MG_ERROR_MAX];

/* log.warnings: the default governor has no caller to read its messages, so they go to stderr. */
static void log_warnings(memgov *gov)
{
    int log = 1;
    memgov_config_get_bool(gov->parts->config, "log.warnings", &log);
    const memgov_config_result *res = gov->parts->loaded;
    static const char *const severity[] = {"error", "warning", "corrected"};
    for (size_t i = 0; log && i < memgov_config_result_size(res); i++) {
        memgov_config_severity s = MEMGOV_CONFIG_WARNING;
        const char *m = memgov_config_result_message(res, i, &s);
        fprintf(stderr, "memgov: %s: %s\n", severity[s], m);
    }
}

static void default_open(void)
{
    default_status = open_governor(NULL, &default_gov, true);
    if (default_status != MEMGOV_OK)
        strncpy(default_error, memgov_last_error(), sizeof default_error - 1);
    else
        log_warnings(default_gov);
}

MEMGOV_API memgov *memgov_default(void)
{
    pthread_once(&default_once, default_open);
    if (default_gov == NULL)
        mg_fail(default_status, "memgov_default: %s", default_error);
    return default_gov;
}

MEMGOV_API memgov_budget *memgov_root(memgov *gov)
{
    return gov != NULL ? mg_tree_root(gov->tree) : NULL;
}

MEMGOV_API memgov_config *memgov_governor_config(memgov *gov)
{
    return gov != NULL ? gov->parts->config : NULL;
}

MEMGOV_API const memgov_config_result *memgov_governor_config_result(memgov *gov)
{
    return gov != NULL ? gov->parts->loaded : NULL;
}

MEMGOV_API memgov_fallback *memgov_governor_fallback(memgov *gov)
{
    return gov != NULL ? gov->parts->fallback : NULL;
}

MEMGOV_API memgov_monitor *memgov_governor_monitor(memgov *gov)
{
    return gov != NULL ? gov->parts->monitor : NULL;
}

MEMGOV_API memgov_status memgov_run_with_fallback(memgov *gov, memgov_fallback_job_fn job, void *user,
                                                  const memgov_fallback_run_options *opts,
                                                  memgov_fallback_run_result *result)
{
    if (gov == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_run_with_fallback: the governor is NULL");
    return memgov_fallback_run(gov->parts->fallback, job, user, opts, result);
}

MEMGOV_API memgov_status memgov_run_with_batcher(memgov *gov, memgov_batcher *batcher, memgov_fallback_job_fn job,
                                                 void *user, const memgov_fallback_run_options *opts,
                                                 memgov_fallback_run_result *result)
{
    if (gov == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_run_with_batcher: the governor is NULL");
    return memgov_fallback_run_batched(gov->parts->fallback, batcher, job, user, opts, result);
}

mg_threads *mg_governor_threads(memgov *gov)
{
    mg_threads *t = atomic_load_explicit(&gov->threads, memory_order_acquire);
    if (t != NULL)
        return t;
    mg_threads_setup setup = {gov->parts->config, mg_tree_root(gov->tree), gov->parts->proc_root};
    if (mg_threads_open(&setup, &t) != MEMGOV_OK)
        return NULL;
    mg_threads *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&gov->threads, &none, t, memory_order_acq_rel, memory_order_acquire)) {
        mg_threads_close(t); /* another thread made it first */
        t = none;
    }
    return t;
}
