/* Device budgets (memgov/gpu.h, docs/design.md 4.19): a budget tree per open device, device blocks charged to it
 * through budget/external.h, the table of live blocks, the wiring to the governor (refusals to its fallback
 * machine, pressure through internal/devices.h, metrics on its monitor). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/external.h"
#include "budget/tree.h"
#include "gpu/gpu_internal.h"
#include "internal/atfork.h"
#include "internal/devices.h"
#include "internal/error.h"
#include "internal/name.h"
#include "internal/structsize.h"

/* A live block: its address, bytes and budget. Open addressing, linear probing; key 0 = empty, 1 = removed. */
typedef struct mg_block {
    uintptr_t key;
    uint64_t bytes;
    memgov_budget *budget;
} mg_block;
#define BLOCK_EMPTY ((uintptr_t)0)
#define BLOCK_GONE ((uintptr_t)1)

struct memgov_gpu {
    const mg_gpu_ops *ops;
    void *state;
    mg_gpu_info info;
    memgov_gpu_backend backend;
    int index;
    char name[MEMGOV_GPU_NAME_MAX + 1];
    mg_tree *tree;
    memgov_budget *budget;
    memgov_fallback *fallback;
    uint64_t listener;
    mg_device_entry pressure;
    int slot; /* in the registry below */
    uint64_t release_threshold;
    /* The live blocks (LEAF rank: nothing else is taken while it is held). */
    pthread_mutex_t lock;
    mg_fork_lock fork;
    mg_block *blocks;
    size_t cap, used_slots, live;
    _Atomic uint64_t n_alloc, n_free, limit_refusals, device_refusals, device_retries;
    bool metrics;
};

/* ---- the registry of open devices: names per governor, MEMGOV_GPU_MAX_OPEN, the monitor's metric sources ---- *
 * A metric's source is a registry slot, never freed, so that a monitor sampling after the device closed reads NaN
 * instead of a freed device. A slot remembers its (governor, monitor, name) after the close: opening that name
 * again on that governor takes the same slot, and its metrics (already in the monitor) read the new device. */
typedef struct mg_slot {
    const void *owner;    /* the governor's root budget */
    char name[MEMGOV_GPU_NAME_MAX + 1];
    memgov_gpu *gpu;      /* NULL: closed (or never used when name is empty) */
} mg_slot;

static mg_slot slots[MEMGOV_GPU_MAX_OPEN];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER; /* MG_FORK_RANK_DEVICES: taken under a monitor's */
static mg_fork_lock slots_fork;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_init(void)
{
    mg_fork_lock_add(&slots_fork, &slots_lock, MG_FORK_RANK_DEVICES, NULL, NULL);
}

/* Under slots_lock: the slot for (owner, name): the one it had before, else an unused one, else a closed one
 * (whose metrics, if a monitor still has them, then read this device). -1 when the name is open already (*taken)
 * or every slot holds an open device. */
static int slot_take(const void *owner, const char *name, bool *taken)
{
    int fresh = -1, closed = -1;
    *taken = false;
    for (int i = 0; i < MEMGOV_GPU_MAX_OPEN; i++) {
        mg_slot *s = &slots[i];
        if (s->name[0] != '\0' && s->owner == owner && strcmp(s->name, name) == 0) {
            *taken = s->gpu != NULL;
            return *taken ? -1 : i;
        }
        if (s->name[0] == '\0' && fresh < 0)
            fresh = i;
        else if (s->gpu == NULL && closed < 0)
            closed = i;
    }
    return fresh >= 0 ? fresh : closed;
}

typedef enum { METRIC_USED, METRIC_FREE, METRIC_TOTAL } metric_kind;

static double metric_read(mg_slot *s, metric_kind kind)
{
    double v = __builtin_nan("");
    pthread_mutex_lock(&slots_lock);
    memgov_gpu *g = s->gpu;
    if (g != NULL) {
        uint64_t free_bytes = 0, total = 0;
        if (kind == METRIC_USED)
            v = (double)mg_tree_levels_of(g->budget).live;
        else if (g->ops->mem_info(g->state, &free_bytes, &total) == MEMGOV_OK)
            v = (double)(kind == METRIC_FREE ? free_bytes : total);
    }
    pthread_mutex_unlock(&slots_lock);
    return v;
}

static double metric_used(void *slot)
{
    return metric_read(slot, METRIC_USED);
}

static double metric_free(void *slot)
{
    return metric_read(slot, METRIC_FREE);
}

static double metric_total(void *slot)
{
    return metric_read(slot, METRIC_TOTAL);
}

/* Adds gpu.<name>.used/.free/.total to the monitor (kept when they are there already: a reopened name). *added
 * stays false when the monitor has begun sampling (no metric can be added any more). */
static memgov_status add_metrics(memgov_monitor *mon, const char *name, mg_slot *s, bool *added)
{
    static const char *const what[] = {"used", "free", "total"};
    static memgov_metric_fn const fn[] = {metric_used, metric_free, metric_total};
    *added = false;
    for (int i = 0; i < 3; i++) {
        char metric[MEMGOV_METRIC_NAME_MAX + 1];
        snprintf(metric, sizeof metric, "gpu.%s.%s", name, what[i]);
        memgov_status st = memgov_monitor_add_metric(mon, metric, "bytes", fn[i], s);
        if (st == MEMGOV_ESTATE && i == 0)
            return MEMGOV_OK; /* sampling has begun: the device goes without metrics (stats say so) */
        if (st != MEMGOV_OK && st != MEMGOV_EEXIST)
            return st;
    }
    *added = true;
    return MEMGOV_OK;
}

/* ---- opening and closing ------------------------------------------------------------------------------------ */

MEMGOV_API const char *memgov_gpu_backend_name(memgov_gpu_backend backend)
{
    switch (backend) {
    case MEMGOV_GPU_SIMULATED: return "simulated";
    case MEMGOV_GPU_CUDA: return "cuda";
    case MEMGOV_GPU_METAL: return "metal";
    }
    return "unknown";
}

MEMGOV_API void memgov_gpu_options_init(memgov_gpu_options *opts)
{
    mg_struct_init(opts, sizeof *opts);
}

static memgov_status backend_ops(memgov_gpu_backend backend, const mg_gpu_ops **ops)
{
    switch (backend) {
    case MEMGOV_GPU_SIMULATED: *ops = &mg_gpu_sim_ops; return MEMGOV_OK;
    case MEMGOV_GPU_CUDA: *ops = &mg_gpu_cuda_ops; return MEMGOV_OK;
    case MEMGOV_GPU_METAL:
#ifdef MG_HAVE_METAL
        *ops = &mg_gpu_metal_ops;
        return MEMGOV_OK;
#else
        return mg_fail(MEMGOV_EUNSUPPORTED, "memgov_gpu_open: the Metal backend is built on macOS only, and this "
                       "library was built for another system");
#endif
    }
    return mg_fail(MEMGOV_EINVAL, "memgov_gpu_open: unknown backend %d (MEMGOV_GPU_SIMULATED, _CUDA or _METAL)",
                   (int)backend);
}

/* The hard limit: opts.limit, else gpu.limit (a percentage of the device's total), 0 = the total; capped to it. */
static memgov_status device_limit(memgov *gov, const memgov_gpu_options *o, uint64_t total, uint64_t *limit)
{
    *limit = o->limit;
    if (*limit == 0) {
        char text[128];
        memgov_status st = memgov_config_get_text(memgov_governor_config(gov), "gpu.limit", text, sizeof text, NULL,
                                                  NULL);
        if (st == MEMGOV_OK)
            st = memgov_config_parse_size(text, total, limit);
        if (st != MEMGOV_OK) {
            char message[MG_ERROR_MAX];
            snprintf(message, sizeof message, "%s", memgov_last_error());
            return mg_fail(st, "memgov_gpu_open: gpu.limit: %s", message);
        }
    }
    if (*limit == 0 || *limit > total)
        *limit = total;
    return MEMGOV_OK;
}

static void on_device_event(const memgov_event *ev, void *user)
{
    memgov_gpu *g = user;
    if (ev->kind == MEMGOV_EVENT_HARD_REFUSAL)
        memgov_fallback_notify_refusal(g->fallback);
}

static void device_levels(void *ctx, uint64_t *used, uint64_t *limit)
{
    mg_tree_levels now = mg_tree_levels_of(((memgov_gpu *)ctx)->budget);
    *used = now.live;
    *limit = now.hard;
}

static void gpu_free_parts(memgov_gpu *g)
{
    if (g->listener != 0)
        memgov_budget_remove_listener(g->budget, g->listener);
    if (g->tree != NULL)
        mg_tree_free(g->tree);
    if (g->state != NULL)
        g->ops->close(g->state);
    free(g->blocks);
    free(g);
}

static memgov_status open_tree(memgov_gpu *g, memgov *gov, const memgov_gpu_options *o)
{
    uint64_t limit;
    memgov_status st = device_limit(gov, o, g->info.total, &limit);
    if (st != MEMGOV_OK)
        return st;
    if (o->soft_limit > limit) {
        char s[24], h[24];
        memgov_format_bytes(o->soft_limit, s, sizeof s);
        memgov_format_bytes(limit, h, sizeof h);
        return mg_fail(MEMGOV_EINVAL, "memgov_gpu_open: device %s: soft limit %s is above the hard limit %s", g->name,
                       s, h);
    }
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = g->name;
    bo.hard_limit = limit;
    bo.soft_limit = o->soft_limit;
    if ((st = mg_tree_open_device(&bo, g, &g->tree)) != MEMGOV_OK)
        return st;
    g->budget = mg_tree_root(g->tree);
    mg_tree_set_charge_batch(g->tree, 0); /* device blocks are large and few: no per-thread stocks */
    if (g->info.stream_ordered && g->ops->set_release_threshold != NULL) {
        g->release_threshold = o->release_threshold == 0                     ? limit
                               : o->release_threshold == MEMGOV_GPU_RELEASE_ALL ? 0
                                                                              : o->release_threshold;
        if ((st = g->ops->set_release_threshold(g->state, g->release_threshold)) != MEMGOV_OK)
            return st;
    }
    return memgov_budget_add_listener(g->budget, on_device_event, g, &g->listener);
}

#define KNOWN_FLAGS (MEMGOV_GPU_PLAIN_ALLOC | MEMGOV_GPU_NO_METRICS)

MEMGOV_API memgov_status memgov_gpu_open(memgov *gov, memgov_gpu_backend backend, int device_index,
                                         const memgov_gpu_options *opts, memgov_gpu **out)
{
    if (gov == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_gpu_open: %s is NULL", gov == NULL ? "gov" : "out");
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    const mg_gpu_ops *ops = NULL;
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_gpu_options");
    if (st != MEMGOV_OK || (st = backend_ops(backend, &ops)) != MEMGOV_OK)
        return st;
    if (o.flags & ~KNOWN_FLAGS)
        return mg_fail(MEMGOV_EINVAL, "memgov_gpu_open: unknown flags 0x%x", (unsigned)(o.flags & ~KNOWN_FLAGS));
    if (device_index < 0)
        return mg_fail(MEMGOV_ERANGE, "memgov_gpu_open: device index %d is negative", device_index);
    memgov_gpu *g = calloc(1, sizeof *g);
    if (g == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_gpu_open: no memory for the device");
    if (o.name != NULL && !mg_valid_name(o.name, MEMGOV_GPU_NAME_MAX)) {
        free(g);
        return mg_fail(MEMGOV_EINVAL, "memgov_gpu_open: device name '%.64s' is not 1..%d characters of "
                       "[A-Za-z0-9._-] without a dot at either end", o.name, MEMGOV_GPU_NAME_MAX);
    }
    if (o.name != NULL)
        snprintf(g->name, sizeof g->name, "%s", o.name);
    else
        snprintf(g->name, sizeof g->name, "%s%d", ops->short_name, device_index);
    g->ops = ops;
    g->backend = backend;
    g->index = device_index;
    g->fallback = memgov_governor_fallback(gov);
    g->metrics = false;

    const void *owner = memgov_root(gov);
    pthread_once(&slots_once, slots_init);
    pthread_mutex_lock(&slots_lock);
    bool taken;
    g->slot = slot_take(owner, g->name, &taken);
    if (g->slot >= 0) { /* reserved: named, closed, for this owner, until it is opened or given up below */
        slots[g->slot].owner = owner;
        snprintf(slots[g->slot].name, sizeof slots[g->slot].name, "%s", g->name);
    }
    pthread_mutex_unlock(&slots_lock);
    if (g->slot < 0) {
        char name[sizeof g->name];
        memcpy(name, g->name, sizeof name);
        free(g);
        if (taken)
            return mg_fail(MEMGOV_EEXIST, "memgov_gpu_open: a device named '%s' is already open for this governor "
                           "(memgov_gpu_options.name gives another)", name);
        return mg_fail(MEMGOV_ERANGE, "memgov_gpu_open: %d devices are open already (MEMGOV_GPU_MAX_OPEN)",
                       MEMGOV_GPU_MAX_OPEN);
    }
    st = ops->open(device_index, &o, &g->state, &g->info);
    if (st != MEMGOV_OK)
        g->state = NULL;
    if (st == MEMGOV_OK && pthread_mutex_init(&g->lock, NULL) != 0)
        st = mg_fail(MEMGOV_ENOMEM, "memgov_gpu_open: could not create the device's lock");
    else if (st == MEMGOV_OK)
        mg_fork_lock_add(&g->fork, &g->lock, MG_FORK_RANK_LEAF, NULL, NULL);
    bool locked = st == MEMGOV_OK;
    if (st == MEMGOV_OK)
        st = open_tree(g, gov, &o);
    if (st == MEMGOV_OK && !(o.flags & MEMGOV_GPU_NO_METRICS))
        st = add_metrics(memgov_governor_monitor(gov), g->name, &slots[g->slot], &g->metrics);
    if (st != MEMGOV_OK) {
        if (locked) {
            mg_fork_lock_remove(&g->fork);
            pthread_mutex_destroy(&g->lock);
        }
        gpu_free_parts(g); /* the slot stays named and closed: a retry of the name takes it again */
        return st;
    }
    g->pressure = (mg_device_entry){.owner = owner, .name = g->name, .levels = device_levels, .ctx = g};
    mg_devices_add(&g->pressure);
    pthread_mutex_lock(&slots_lock);
    slots[g->slot].gpu = g;
    pthread_mutex_unlock(&slots_lock);
    *out = g;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_gpu_close(memgov_gpu *gpu)
{
    if (gpu == NULL)
        return MEMGOV_OK;
    char what[MEMGOV_GPU_NAME_MAX + 40];
    snprintf(what, sizeof what, "memgov_gpu_close: device %s:", gpu->name);
    memgov_status st = mg_tree_check_idle(gpu->tree, what);
    if (st != MEMGOV_OK)
        return st;
    pthread_mutex_lock(&slots_lock);
    slots[gpu->slot].gpu = NULL; /* a metric read in progress held the lock: none uses the device now */
    pthread_mutex_unlock(&slots_lock);
    mg_devices_remove(&gpu->pressure);
    mg_fork_lock_remove(&gpu->fork);
    pthread_mutex_destroy(&gpu->lock);
    gpu_free_parts(gpu);
    return MEMGOV_OK;
}

MEMGOV_API memgov_budget *memgov_gpu_budget(memgov_gpu *gpu)
{
    return gpu == NULL ? NULL : gpu->budget;
}

MEMGOV_API memgov_gpu *memgov_gpu_of(const memgov_budget *budget)
{
    return budget == NULL ? NULL : mg_tree_device_owner(mg_budget_tree(budget));
}

/* ---- the table of live blocks --------------------------------------------------------------------------------- */

static size_t block_hash(uintptr_t key, size_t cap)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 16) & (cap - 1);
}

/* Under g->lock: room for one more entry (at most 70 % of the slots in use, removed ones included). */
static bool blocks_room(memgov_gpu *g)
{
    if ((g->used_slots + 1) * 10 <= g->cap * 7)
        return true;
    size_t cap = g->cap == 0 ? 64 : (g->live + 1) * 10 > g->cap * 3 ? g->cap * 2 : g->cap; /* grow or just rehash */
    mg_block *fresh = calloc(cap, sizeof *fresh);
    if (fresh == NULL)
        return false;
    for (size_t i = 0; i < g->cap; i++) {
        if (g->blocks[i].key <= BLOCK_GONE)
            continue;
        size_t j = block_hash(g->blocks[i].key, cap);
        while (fresh[j].key != BLOCK_EMPTY)
            j = (j + 1) & (cap - 1);
        fresh[j] = g->blocks[i];
    }
    free(g->blocks);
    g->blocks = fresh;
    g->cap = cap;
    g->used_slots = g->live;
    return true;
}

/* Under g->lock: the entry of key, or NULL. */
static mg_block *blocks_find(memgov_gpu *g, uintptr_t key)
{
    if (g->cap == 0)
        return NULL;
    for (size_t j = block_hash(key, g->cap);; j = (j + 1) & (g->cap - 1)) {
        if (g->blocks[j].key == key)
            return &g->blocks[j];
        if (g->blocks[j].key == BLOCK_EMPTY)
            return NULL;
    }
}

static bool blocks_add(memgov_gpu *g, void *ptr, uint64_t bytes, memgov_budget *b)
{
    uintptr_t key = (uintptr_t)ptr;
    pthread_mutex_lock(&g->lock);
    bool ok = key > BLOCK_GONE && blocks_room(g);
    if (ok) {
        size_t j = block_hash(key, g->cap);
        while (g->blocks[j].key > BLOCK_GONE)
            j = (j + 1) & (g->cap - 1);
        if (g->blocks[j].key == BLOCK_EMPTY)
            g->used_slots++;
        g->blocks[j] = (mg_block){key, bytes, b};
        g->live++;
    }
    pthread_mutex_unlock(&g->lock);
    return ok;
}

/* ---- device memory ------------------------------------------------------------------------------------------ */

static memgov_status not_device(const char *fn, const memgov_budget *b)
{
    if (b == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: budget is NULL", fn);
    return mg_fail(MEMGOV_EINVAL, "%s: budget '%s' is a host budget, not one of a device (memgov_gpu_budget)", fn,
                   memgov_budget_name(b));
}

/* The device's name in messages: "device cuda0 (NVIDIA H200)". */
static void device_label(const memgov_gpu *g, char *out, size_t size)
{
    snprintf(out, size, "device %s (%s, %s)", g->name, g->info.device, g->ops->short_name);
}

/* A refusal's message with the device named first. */
static memgov_status device_failure(memgov_gpu *g, memgov_status st)
{
    char message[MG_ERROR_MAX], label[128];
    snprintf(message, sizeof message, "%s", memgov_last_error());
    device_label(g, label, sizeof label);
    return mg_fail(st, "%s: %s", label, message);
}

/* A device refusal's message: the budget's limit and use, the device's free and total, the driver's words. */
static memgov_status device_refused(memgov_gpu *g, memgov_budget *b, uint64_t bytes)
{
    char driver[MG_ERROR_MAX], label[128], req[24], use[24], lim[24], fr[24], tot[24];
    snprintf(driver, sizeof driver, "%s", memgov_last_error());
    device_label(g, label, sizeof label);
    memgov_budget_stats s = {.struct_size = sizeof s};
    memgov_budget_get_stats(b, &s);
    uint64_t free_bytes = 0, total = g->info.total;
    g->ops->mem_info(g->state, &free_bytes, &total);
    memgov_format_bytes(bytes, req, sizeof req);
    memgov_format_bytes(s.used, use, sizeof use);
    memgov_format_bytes(s.hard_limit, lim, sizeof lim);
    memgov_format_bytes(free_bytes, fr, sizeof fr);
    memgov_format_bytes(total, tot, sizeof tot);
    return mg_fail(MEMGOV_ENOMEM, "%s refused %s for budget '%s' (use %s, hard limit %s) after reclaim and one "
                   "retry: the device has %s free of %s: %s", label, req, memgov_budget_name(b), use,
                   s.hard_limit ? lim : "none", fr, tot, driver);
}

typedef struct make_ctx {
    memgov_gpu *gpu;
    void *stream;
    unsigned device_failures;
} make_ctx;

static void *make_block(uint64_t bytes, void *arg)
{
    make_ctx *m = arg;
    memgov_gpu *g = m->gpu;
    if (m->device_failures > 0 && g->ops->trim != NULL)
        g->ops->trim(g->state); /* after the reclaim callbacks freed into the pool: give it back, then retry */
    void *p = g->ops->block_alloc(g->state, bytes, m->stream);
    if (p == NULL && memgov_last_status() == MEMGOV_ENOMEM)
        m->device_failures++;
    return p;
}

MEMGOV_API void *memgov_gpu_malloc(memgov_budget *budget, size_t size, void *stream)
{
    memgov_gpu *g = memgov_gpu_of(budget);
    if (g == NULL) {
        not_device("memgov_gpu_malloc", budget);
        return NULL;
    }
    uint64_t bytes = size == 0 ? 1 : (uint64_t)size;
    if (bytes > g->info.total) {
        char s[24], t[24], label[128];
        memgov_format_bytes(bytes, s, sizeof s);
        memgov_format_bytes(g->info.total, t, sizeof t);
        device_label(g, label, sizeof label);
        mg_fail(MEMGOV_EOVERFLOW, "%s: %s (%zu bytes) requested on budget '%s' is more than the device's %s", label,
                s, size, memgov_budget_name(budget), t);
        return NULL;
    }
    make_ctx m = {g, stream, 0};
    void *p = NULL;
    memgov_status st = mg_external_alloc(budget, bytes, make_block, &m, &p);
    if (st != MEMGOV_OK) {
        bool by_device = st == MEMGOV_ENOMEM && m.device_failures >= 2;
        if (by_device)
            atomic_fetch_add(&g->device_refusals, 1);
        else if (st == MEMGOV_ENOMEM)
            atomic_fetch_add(&g->limit_refusals, 1);
        by_device ? device_refused(g, budget, bytes) : device_failure(g, st);
        return NULL;
    }
    if (m.device_failures > 0)
        atomic_fetch_add(&g->device_retries, 1);
    if (!blocks_add(g, p, bytes, budget)) {
        g->ops->block_free(g->state, p, bytes, stream);
        mg_external_free(budget, bytes);
        mg_fail(MEMGOV_ENOMEM, "memgov_gpu_malloc: no host memory for the table of the device's blocks");
        return NULL;
    }
    atomic_fetch_add(&g->n_alloc, 1);
    return p;
}

MEMGOV_API memgov_status memgov_gpu_free(memgov_budget *budget, void *ptr, void *stream)
{
    memgov_gpu *g = memgov_gpu_of(budget);
    if (g == NULL)
        return not_device("memgov_gpu_free", budget);
    if (ptr == NULL)
        return MEMGOV_OK;
    pthread_mutex_lock(&g->lock);
    mg_block *e = blocks_find(g, (uintptr_t)ptr);
    memgov_budget *owner = e != NULL ? e->budget : NULL;
    uint64_t bytes = e != NULL ? e->bytes : 0;
    if (e != NULL && owner == budget) {
        e->key = BLOCK_GONE;
        g->live--;
    }
    pthread_mutex_unlock(&g->lock);
    if (e == NULL)
        return mg_fail(MEMGOV_ENOTFOUND, "memgov_gpu_free: %p is not a live block of device %s", ptr, g->name);
    if (owner != budget)
        return mg_fail(MEMGOV_EINVAL, "memgov_gpu_free: block %p belongs to budget '%s', not '%s'", ptr,
                       memgov_budget_name(owner), memgov_budget_name(budget));
    memgov_status st = g->ops->block_free(g->state, ptr, bytes, stream);
    mg_external_free(budget, bytes);
    atomic_fetch_add(&g->n_free, 1);
    return st == MEMGOV_OK ? st : device_failure(g, st);
}

MEMGOV_API memgov_status memgov_gpu_reserve(memgov_budget *budget, uint64_t bytes)
{
    memgov_gpu *g = memgov_gpu_of(budget);
    if (g == NULL)
        return not_device("memgov_gpu_reserve", budget);
    memgov_status st = memgov_reserve(budget, bytes);
    if (st == MEMGOV_ENOMEM)
        atomic_fetch_add(&g->limit_refusals, 1);
    return st == MEMGOV_OK ? st : device_failure(g, st);
}

MEMGOV_API memgov_status memgov_gpu_release(memgov_budget *budget, uint64_t bytes)
{
    memgov_gpu *g = memgov_gpu_of(budget);
    if (g == NULL)
        return not_device("memgov_gpu_release", budget);
    memgov_status st = memgov_release(budget, bytes);
    return st == MEMGOV_OK ? st : device_failure(g, st);
}

/* ---- statistics ------------------------------------------------------------------------------------------------ */

MEMGOV_API memgov_status memgov_gpu_get_stats(memgov_gpu *gpu, memgov_gpu_stats *out)
{
    if (gpu == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_gpu_get_stats: %s is NULL", gpu == NULL ? "gpu" : "out");
    memgov_gpu_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.backend = gpu->backend;
    s.device_index = gpu->index;
    snprintf(s.device, sizeof s.device, "%s", gpu->info.device);
    s.device_total = gpu->info.total;
    uint64_t total = 0;
    if (gpu->ops->mem_info(gpu->state, &s.device_free, &total) != MEMGOV_OK)
        s.device_free = 0;
    memgov_budget_stats b = {.struct_size = sizeof b};
    memgov_budget_get_stats(gpu->budget, &b);
    s.used = b.used;
    s.peak = b.peak;
    s.hard_limit = b.hard_limit;
    s.soft_limit = b.soft_limit;
    s.reserved = b.reserved;
    pthread_mutex_lock(&gpu->lock);
    s.blocks = gpu->live;
    pthread_mutex_unlock(&gpu->lock);
    s.allocations = atomic_load(&gpu->n_alloc);
    s.frees = atomic_load(&gpu->n_free);
    s.limit_refusals = atomic_load(&gpu->limit_refusals);
    s.device_refusals = atomic_load(&gpu->device_refusals);
    s.device_retries = atomic_load(&gpu->device_retries);
    s.release_threshold = gpu->info.stream_ordered ? gpu->release_threshold : 0;
    s.stream_ordered = gpu->info.stream_ordered;
    s.metrics = gpu->metrics;
    return mg_struct_out(out, &s, sizeof s, "memgov_gpu_stats");
}
