/* The governor's parts and their wiring (governor.h, memgov_open()): the configuration decides the root budget's
 * limits and the fallback machine's thresholds; hard refusals and pressure drive the machine; its mode changes
 * switch the configuration's overlays, which may change the root's limits again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/tree.h"
#include "governor/parts.h"
#include "internal/devices.h"
#include "internal/error.h"
#include "memgov/memmap.h"
#include "memgov/probe.h"

#define KNOWN_OPEN_FLAGS (MEMGOV_OPEN_NO_ENV | MEMGOV_OPEN_STRICT | MEMGOV_OPEN_START_MONITOR)

/* Re-raises the last error with a prefix that says which step of opening failed. */
static memgov_status fail_with_context(memgov_status st, const char *what)
{
    char message[MG_ERROR_MAX];
    snprintf(message, sizeof message, "%s", memgov_last_error());
    return mg_fail(st, "memgov_open: %s: %s", what, message);
}

static void probe_memory(const char *proc_root, memgov_probe *p)
{
    memgov_probe_options po;
    memgov_probe_options_init(&po);
    po.root = proc_root;
    po.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    memgov_probe_read(&po, p);
}

/* ---- the root budget's limits ------------------------------------------------------------------------------ */

/* Hard and soft limit of the root: the options' overrides, else root.limit and root.soft_ratio as the current
 * mode resolves them. */
static memgov_status root_limits(const mg_parts *parts, uint64_t *hard, uint64_t *soft)
{
    memgov_status st;
    *hard = parts->root_limit == MEMGOV_OPEN_NO_LIMIT ? 0 : parts->root_limit;
    if (parts->root_limit == 0 && (st = memgov_config_get_size(parts->config, "root.limit", hard)) != MEMGOV_OK)
        return st;
    *soft = parts->root_soft_limit;
    if (parts->root_soft_limit == 0 && *hard != 0) {
        double ratio = 1.0;
        if ((st = memgov_config_get_double(parts->config, "root.soft_ratio", &ratio)) != MEMGOV_OK)
            return st;
        *soft = ratio >= 1.0 ? *hard : (uint64_t)((double)*hard * ratio);
    }
    if (*hard != 0 && *soft > *hard) {
        char h[24], s[24];
        memgov_format_bytes(*hard, h, sizeof h);
        memgov_format_bytes(*soft, s, sizeof s);
        return mg_fail(MEMGOV_ERANGE, "the root's soft limit %s is above its hard limit %s", s, h);
    }
    return MEMGOV_OK;
}

/* budget.charge_batch, for the stocks' next refills (src/budget/charge.c, through budget/tree.h). */
static void read_charge_batch(mg_parts *parts)
{
    uint64_t batch;
    if (memgov_config_get_size(parts->config, "budget.charge_batch", &batch) != MEMGOV_OK)
        return;
    mg_tree_set_charge_batch(mg_budget_tree(parts->root), batch); /* clamped there; the key's range says so too */
}

/* budget.arena_shards, for the budgets' next shard bindings (0: the usable CPUs the probe finds). */
static void read_arena_shards(mg_parts *parts)
{
    uint64_t shards;
    if (memgov_config_get_unsigned(parts->config, "budget.arena_shards", &shards) != MEMGOV_OK)
        return;
    if (shards == 0) {
        memgov_probe p;
        probe_memory(parts->proc_root, &p);
        shards = p.usable_cpus > 0 ? p.usable_cpus : 1;
    }
    mg_tree_set_arena_shards(mg_budget_tree(parts->root), (unsigned)(shards > 16 ? 16 : shards));
}

/* A change of root.limit or root.soft_ratio, of the mode (their overlays) or a load re-derives the root's
 * limits; of budget.charge_batch (or the mode, or a load), the stocks' batch. Runs on the thread that changed the
 * configuration, outside its lock. */
static void on_config_change(memgov_config *cfg, const char *key, void *user)
{
    (void)cfg;
    mg_parts *parts = user;
    if (key == NULL || strcmp(key, "budget.charge_batch") == 0 || strcmp(key, "mode") == 0)
        read_charge_batch(parts);
    if (key == NULL || strcmp(key, "budget.arena_shards") == 0 || strcmp(key, "mode") == 0)
        read_arena_shards(parts);
    if (key != NULL && strcmp(key, "root.limit") != 0 && strcmp(key, "root.soft_ratio") != 0 &&
        strcmp(key, "mode") != 0)
        return;
    uint64_t hard, soft;
    if (root_limits(parts, &hard, &soft) != MEMGOV_OK)
        return;
    mg_tree_levels now = mg_tree_levels_of(parts->root);
    if (now.hard != hard || now.soft != soft)
        memgov_budget_set_limits(parts->root, hard, soft); /* only a real change is announced */
}

static memgov_status load_configuration(mg_parts *parts, const memgov_options *o)
{
    unsigned flags = (o->flags & MEMGOV_OPEN_STRICT) ? MEMGOV_CONFIG_STRICT : 0;
    bool use_env = !(o->flags & MEMGOV_OPEN_NO_ENV);
    const char *file = o->config_file;
    if (file == NULL && use_env) {
        file = getenv("MEMGOV_CONFIG_FILE");
        if (file != NULL && file[0] == '\0')
            file = NULL;
    }
    memgov_status st;
    if (file != NULL && (st = memgov_config_load_file(parts->config, file, flags, parts->loaded)) != MEMGOV_OK)
        return fail_with_context(st, "configuration file");
    if (use_env && (st = memgov_config_load_env(parts->config, flags, parts->loaded)) != MEMGOV_OK)
        return fail_with_context(st, "configuration from the environment");
    return MEMGOV_OK;
}

memgov_status mg_parts_configure(const memgov_options *o, mg_parts **out, memgov_budget_options *root)
{
    if (o->flags & ~KNOWN_OPEN_FLAGS)
        return mg_fail(MEMGOV_EINVAL, "memgov_open: unknown flags 0x%x in memgov_options.flags",
                       (unsigned)(o->flags & ~KNOWN_OPEN_FLAGS));
    mg_parts *parts = calloc(1, sizeof *parts);
    if (parts == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_open: no memory for the governor's parts");
    parts->root_limit = o->root_limit;
    parts->root_soft_limit = o->root_soft_limit;
    memgov_status st = MEMGOV_OK;
    if (o->proc_root != NULL && o->proc_root[0] != '\0' && (parts->proc_root = strdup(o->proc_root)) == NULL)
        st = mg_fail(MEMGOV_ENOMEM, "memgov_open: no memory for proc_root");
    if (st == MEMGOV_OK && (st = memgov_config_create(&parts->config)) != MEMGOV_OK)
        st = fail_with_context(st, "configuration");
    if (st == MEMGOV_OK && (st = memgov_config_result_create(&parts->loaded)) != MEMGOV_OK)
        st = fail_with_context(st, "configuration messages");
    if (st == MEMGOV_OK && parts->proc_root != NULL) {
        memgov_probe p;
        probe_memory(parts->proc_root, &p);
        memgov_config_set_effective_memory(parts->config, p.effective_memory);
    }
    if (st == MEMGOV_OK)
        st = load_configuration(parts, o);
    uint64_t hard = 0, soft = 0;
    if (st == MEMGOV_OK && (st = root_limits(parts, &hard, &soft)) != MEMGOV_OK)
        st = fail_with_context(st, "root budget");
    if (st != MEMGOV_OK) {
        mg_parts_close(parts);
        return st;
    }
    memgov_budget_options_init(root);
    root->name = "root";
    root->hard_limit = hard;
    root->soft_limit = soft;
    root->flags = MEMGOV_BUDGET_OWN_ARENA;
    *out = parts;
    return MEMGOV_OK;
}

/* ---- the fallback machine -------------------------------------------------------------------------------- */

/* With gpu.pressure on, the budget pair becomes the fullest device budget's (src/gpu, registered in
 * internal/devices.h) when that one is fuller than the root: the machine takes the highest ratio anyway. */
static void add_device_pressure(mg_parts *parts, memgov_pressure *out)
{
    int with_devices = 1;
    uint64_t used, limit;
    memgov_config_get_bool(parts->config, "gpu.pressure", &with_devices);
    if (!with_devices || !mg_devices_fullest(parts->root, &used, &limit))
        return;
    if (out->budget_limit == 0 ||
        (double)used / (double)limit > (double)out->budget_used / (double)out->budget_limit) {
        out->budget_used = used;
        out->budget_limit = limit;
    }
}

/* The machine's pressure source: the root budget against its hard limit (or the fullest device budget, above),
 * and the effective memory in use (the cgroup's memory.current where a cgroup limit is what makes memory
 * effective, else RAM - MemAvailable). */
static memgov_status pressure_now(memgov_pressure *out, void *user)
{
    mg_parts *parts = user;
    mg_tree_levels now = mg_tree_levels_of(parts->root);
    if (now.hard != 0) {
        out->budget_used = now.live;
        out->budget_limit = now.hard;
    }
    add_device_pressure(parts, out);
    memgov_probe p;
    probe_memory(parts->proc_root, &p);
    if (p.effective_memory != 0 && p.effective_memory < p.ram_total && p.cgroup_memory_current != 0) {
        out->memory_used = p.cgroup_memory_current;
        out->memory_limit = p.effective_memory;
    } else if (p.ram_total != 0 && (p.sources & MEMGOV_PROBE_SRC_MEMINFO) && p.mem_available <= p.ram_total) {
        out->memory_used = p.ram_total - p.mem_available;
        out->memory_limit = p.ram_total;
    }
    return MEMGOV_OK;
}

static void on_transition(const memgov_fallback_transition *t, void *user)
{
    mg_parts *parts = user;
    memgov_config_set_mode(parts->config, t->to);
    /* memmap.spill_minimal: in MINIMAL mode large requests of budgets with a spill target go there at once. */
    int direct = 0;
    memgov_config_get_bool(parts->config, "memmap.spill_minimal", &direct);
    mg_tree_set_spill_direct(mg_budget_tree(parts->root), direct && t->to == MEMGOV_MODE_MINIMAL);
}

static void on_budget_event(const memgov_event *ev, void *user)
{
    mg_parts *parts = user;
    /* A file-backed budget's refusal is a full disk or its disk cap, not memory pressure. */
    if (ev->kind == MEMGOV_EVENT_HARD_REFUSAL && !memgov_budget_is_file_backed(ev->budget))
        memgov_fallback_notify_refusal(parts->fallback);
}

static double get_ratio(const memgov_config *cfg, const char *key)
{
    double v = 0;
    memgov_config_get_double(cfg, key, &v);
    return v;
}

/* "fallback.light_enter = 1 (b.ini:1: clamped from 5 to the maximum 1)": a threshold with where it came from,
 * from the configuration's history (the newest change of the key), or "(default)". */
static void describe_threshold(const memgov_config *cfg, const char *key, char *out, size_t size)
{
    char value[64] = "?";
    memgov_config_get_text(cfg, key, value, sizeof value, NULL, NULL);
    memgov_config_change c = {.struct_size = sizeof c};
    for (size_t i = memgov_config_history_count(cfg); i-- > 0;)
        if (memgov_config_history_get(cfg, i, &c) == MEMGOV_OK && strcmp(c.key, key) == 0) {
            snprintf(out, size, "%s = %s (%.100s: %.100s)", key, value, c.source, c.reason);
            return;
        }
    snprintf(out, size, "%s = %s (default)", key, value);
}

/* The machine refused the thresholds: its message, then each threshold with its source and any clamp. */
static memgov_status fail_thresholds(memgov_status st, const memgov_config *cfg)
{
    static const char *const keys[] = {"fallback.light_exit", "fallback.light_enter", "fallback.minimal_exit",
                                       "fallback.minimal_enter", "fallback.critical"};
    char message[MG_ERROR_MAX], all[MG_ERROR_MAX] = "";
    snprintf(message, sizeof message, "%s", memgov_last_error());
    size_t len = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && len < sizeof all; i++) {
        char one[320];
        describe_threshold(cfg, keys[i], one, sizeof one);
        int n = snprintf(all + len, sizeof all - len, "%s%s", i ? "; " : "", one);
        len += n > 0 ? (size_t)n : 0;
    }
    return mg_fail(st, "memgov_open: fallback thresholds from the configuration: %s; the configuration has %s",
                   message, all);
}

static memgov_status create_fallback(mg_parts *parts)
{
    memgov_fallback_options fo;
    memgov_fallback_options_init(&fo);
    const memgov_config *cfg = parts->config;
    fo.light_enter = get_ratio(cfg, "fallback.light_enter");
    fo.light_exit = get_ratio(cfg, "fallback.light_exit");
    fo.minimal_enter = get_ratio(cfg, "fallback.minimal_enter");
    fo.minimal_exit = get_ratio(cfg, "fallback.minimal_exit");
    fo.critical = get_ratio(cfg, "fallback.critical");
    if (fo.critical_exit >= fo.critical)
        fo.critical_exit = fo.critical - 0.05; /* an episode ends a little below where it began */
    uint64_t dwell = 0;
    memgov_config_get_duration(cfg, "fallback.dwell", &dwell);
    fo.dwell_ns = dwell > 0 ? dwell : 1; /* 0 means "the default" to the machine; a zero dwell is 1 ns */
    fo.pressure_source = pressure_now;
    fo.source_ctx = parts;
    memgov_status st = memgov_fallback_create(&fo, &parts->fallback);
    if (st != MEMGOV_OK)
        return fail_thresholds(st, cfg);
    if ((st = memgov_fallback_add_listener(parts->fallback, on_transition, parts, NULL)) != MEMGOV_OK)
        return st;
    int enabled = 1;
    memgov_config_get_bool(cfg, "fallback.enabled", &enabled);
    return enabled ? MEMGOV_OK : memgov_fallback_pin(parts->fallback, MEMGOV_MODE_NORMAL);
}

/* ---- the monitor ----------------------------------------------------------------------------------------- */

static double metric_root_used(void *ctx)
{
    return (double)mg_tree_levels_of(((mg_parts *)ctx)->root).live;
}

static double metric_root_limit(void *ctx)
{
    return (double)mg_tree_levels_of(((mg_parts *)ctx)->root).hard;
}

/* Sampling the pressure is what lets the monitor drive the fallback machine: one evaluation per sample. */
static double metric_pressure(void *ctx)
{
    mg_parts *parts = ctx;
    memgov_fallback_evaluate(parts->fallback);
    memgov_fallback_stats s = {.struct_size = sizeof s};
    memgov_fallback_get_stats(parts->fallback, &s);
    return s.pressure;
}

static memgov_status create_monitor(mg_parts *parts, bool start)
{
    memgov_monitor_options mo;
    memgov_monitor_options_init(&mo);
    uint64_t interval = 0;
    memgov_config_get_duration(parts->config, "monitor.interval", &interval);
    if (interval > 0)
        mo.interval_ns = interval;
    mo.proc_root = parts->proc_root;
    memgov_status st = memgov_monitor_create(&mo, &parts->monitor);
    if (st == MEMGOV_OK)
        st = memgov_monitor_add_metric(parts->monitor, "budget.root.used", "bytes", metric_root_used, parts);
    if (st == MEMGOV_OK)
        st = memgov_monitor_add_metric(parts->monitor, "budget.root.limit", "bytes", metric_root_limit, parts);
    if (st == MEMGOV_OK)
        st = memgov_monitor_add_metric(parts->monitor, "fallback.pressure", "ratio", metric_pressure, parts);
    if (st == MEMGOV_OK && start)
        st = memgov_monitor_start(parts->monitor);
    return st == MEMGOV_OK ? st : fail_with_context(st, "monitor");
}

memgov_status mg_parts_wire(mg_parts *parts, memgov_budget *root, bool start_monitor)
{
    parts->root = root;
    read_charge_batch(parts);
    read_arena_shards(parts);
    memgov_status st = create_fallback(parts);
    if (st == MEMGOV_OK && (st = memgov_budget_add_listener(root, on_budget_event, parts, &parts->root_listener)) == MEMGOV_OK)
        parts->root_listening = 1;
    if (st == MEMGOV_OK &&
        (st = memgov_config_add_listener(parts->config, on_config_change, parts, &parts->config_listener)) ==
            MEMGOV_OK)
        parts->config_listening = 1;
    if (st == MEMGOV_OK)
        st = create_monitor(parts, start_monitor);
    return st;
}

void mg_parts_close(mg_parts *parts)
{
    if (parts == NULL)
        return;
    memgov_monitor_destroy(parts->monitor); /* first: its samples call into the root and the machine */
    if (parts->root_listening)
        memgov_budget_remove_listener(parts->root, parts->root_listener);
    if (parts->config_listening)
        memgov_config_remove_listener(parts->config, parts->config_listener);
    memgov_fallback_destroy(parts->fallback);
    memgov_config_destroy(parts->config);
    memgov_config_result_destroy(parts->loaded);
    free(parts->proc_root);
    free(parts);
}
