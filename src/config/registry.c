/* The configuration object: key registry, precedence of sources, mode overlays, typed gets, history. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config_internal.h"
#include "config/keys.h"
#include "internal/error.h"
#include "internal/grow.h"
#include "internal/name.h"
#include "internal/structsize.h"

#define LOCK(cfg) pthread_mutex_lock(&((memgov_config *)(cfg))->lock)
#define UNLOCK(cfg) pthread_mutex_unlock(&((memgov_config *)(cfg))->lock)

static void free_entry(mg_entry *e)
{
    free(e->name);
    free(e->def_text);
    free(e->min_text);
    free(e->max_text);
    free(e->choices);
    free(e->doc);
    mg_value_free(&e->min);
    mg_value_free(&e->max);
    for (int m = 0; m < MEMGOV_MODE_COUNT_; m++)
        mg_value_free(&e->slot[m].v);
}

static char *dup_or_null(const char *s, int *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = 1;
    return d;
}

static memgov_status register_locked(memgov_config *cfg, const memgov_config_key *key)
{
    memgov_config_key k;
    memgov_config_key_init(&k);
    memgov_status st = mg_struct_in(&k, sizeof k, key, "memgov_config_key");
    if (st != MEMGOV_OK)
        return st;
    if (k.name == NULL || !mg_valid_name(k.name, 95))
        return mg_fail(MEMGOV_EINVAL, "config key name '%s' is invalid: 1 to 95 of [A-Za-z0-9_.-], no dot at "
                       "either end", k.name != NULL ? k.name : "(null)");
    if ((unsigned)k.type >= MEMGOV_CONFIG_TYPE_COUNT_)
        return mg_fail(MEMGOV_EINVAL, "config key '%s': unknown type %d", k.name, (int)k.type);
    if (k.default_value == NULL)
        return mg_fail(MEMGOV_EINVAL, "config key '%s' has no default value", k.name);
    if (k.type == MEMGOV_CONFIG_ENUM && (k.choices == NULL || k.choices[0] == '\0'))
        return mg_fail(MEMGOV_EINVAL, "enum config key '%s' has no choices", k.name);
    if (mg_config_find(cfg, k.name) != NULL)
        return mg_fail(MEMGOV_EEXIST, "config key '%s' is already registered", k.name);
    mg_entry *grown = mg_grow(cfg->entries, &cfg->cap, cfg->n, sizeof *grown, 32);
    if (grown == NULL)
        return mg_fail(MEMGOV_ENOMEM, "no memory to register config key '%s'", k.name);
    cfg->entries = grown;
    mg_entry e;
    memset(&e, 0, sizeof e);
    e.type = k.type;
    int oom = 0;
    e.name = dup_or_null(k.name, &oom);
    e.def_text = dup_or_null(k.default_value, &oom);
    e.min_text = dup_or_null(k.min, &oom);
    e.max_text = dup_or_null(k.max, &oom);
    e.choices = dup_or_null(k.choices, &oom);
    e.doc = dup_or_null(k.doc != NULL ? k.doc : "", &oom);
    if (oom) {
        free_entry(&e);
        return mg_fail(MEMGOV_ENOMEM, "no memory to register config key '%s'", k.name);
    }
    char why[160];
    const char *texts[3] = {k.min, k.max, k.default_value};
    mg_value *dst[3] = {&e.min, &e.max, &e.slot[MEMGOV_MODE_NORMAL].v};
    const char *what[3] = {"minimum", "maximum", "default"};
    for (int i = 0; i < 3; i++) {
        if (texts[i] == NULL)
            continue;
        st = mg_value_parse(k.type, k.choices, texts[i], dst[i], why, sizeof why);
        if (st != MEMGOV_OK) {
            free_entry(&e);
            return mg_fail(st, "config key '%s': %s '%s' is not a valid %s: %s", k.name, what[i], texts[i],
                           mg_config_type_name(k.type), why);
        }
    }
    e.has_min = k.min != NULL;
    e.has_max = k.max != NULL;
    if (mg_config_check_bounds(cfg, &e, &e.slot[MEMGOV_MODE_NORMAL].v) != 0) {
        char range[160];
        mg_config_range_text(&e, range, sizeof range);
        free_entry(&e);
        return mg_fail(MEMGOV_ERANGE, "config key '%s': default '%s' is outside its range %s", k.name,
                       k.default_value, range);
    }
    e.slot[MEMGOV_MODE_NORMAL].set = 1;
    e.slot[MEMGOV_MODE_NORMAL].src = MEMGOV_CONFIG_SRC_DEFAULT;
    snprintf(e.slot[MEMGOV_MODE_NORMAL].where, sizeof e.slot[0].where, "default");
    cfg->entries[cfg->n++] = e;
    return MEMGOV_OK;
}

MEMGOV_API void memgov_config_key_init(memgov_config_key *key)
{
    mg_struct_init(key, sizeof *key);
}

MEMGOV_API memgov_status memgov_config_register(memgov_config *cfg, const memgov_config_key *key)
{
    if (cfg == NULL || key == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_register: cfg and key must not be NULL");
    LOCK(cfg);
    memgov_status st = register_locked(cfg, key);
    UNLOCK(cfg);
    return st;
}

/* In a child of fork(): the listener rounds of the parent's other threads never end there. */
static void config_after_fork(void *arg)
{
    memgov_config *cfg = arg;
    cfg->notifying = 0;
    pthread_cond_init(&cfg->idle, NULL);
}

MEMGOV_API memgov_status memgov_config_create(memgov_config **out)
{
    memgov_status st = mg_config_create_unprobed(out);
    if (st != MEMGOV_OK)
        return st;
    memgov_probe_options opts;
    memgov_probe_options_init(&opts);
    opts.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    memgov_probe p = {.struct_size = sizeof p};
    if (memgov_probe_read(&opts, &p) == MEMGOV_OK)
        (*out)->effective = p.effective_memory;
    return MEMGOV_OK;
}

memgov_status mg_config_create_unprobed(memgov_config **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_create: out is NULL");
    *out = NULL;
    memgov_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return mg_fail(MEMGOV_ENOMEM, "no memory for a memgov_config");
    if (pthread_mutex_init(&cfg->lock, NULL) != 0) {
        free(cfg);
        return mg_fail(MEMGOV_ENOMEM, "cannot initialise the configuration's mutex");
    }
    if (pthread_cond_init(&cfg->idle, NULL) != 0) {
        pthread_mutex_destroy(&cfg->lock);
        free(cfg);
        return mg_fail(MEMGOV_ENOMEM, "cannot initialise the configuration's condition variable");
    }
    mg_fork_lock_add(&cfg->fork, &cfg->lock, MG_FORK_RANK_CONFIG, config_after_fork, cfg);
    for (size_t i = 0; i < mg_builtin_key_count; i++) {
        memgov_status st = register_locked(cfg, &mg_builtin_keys[i]);
        if (st != MEMGOV_OK) {
            memgov_config_destroy(cfg);
            return st;
        }
    }
    *out = cfg;
    return MEMGOV_OK;
}

MEMGOV_API void memgov_config_destroy(memgov_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n; i++)
        free_entry(&cfg->entries[i]);
    free(cfg->entries);
    free(cfg->hist);
    mg_fork_lock_remove(&cfg->fork);
    pthread_cond_destroy(&cfg->idle);
    pthread_mutex_destroy(&cfg->lock);
    free(cfg);
}

MEMGOV_API memgov_status memgov_config_set_effective_memory(memgov_config *cfg, uint64_t bytes)
{
    if (cfg == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_set_effective_memory: cfg is NULL");
    LOCK(cfg);
    cfg->effective = bytes;
    UNLOCK(cfg);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_config_set_mode(memgov_config *cfg, memgov_mode mode)
{
    if (cfg == NULL || (unsigned)mode >= MEMGOV_MODE_COUNT_)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_set_mode: %s (mode %d, known 0..%d)",
                       cfg == NULL ? "cfg is NULL" : "unknown mode", (int)mode, MEMGOV_MODE_COUNT_ - 1);
    LOCK(cfg);
    memgov_mode old = cfg->mode;
    cfg->mode = mode;
    int rc = old == mode ? 0 : mg_config_record(cfg, "mode", memgov_mode_name(old), memgov_mode_name(mode), "api",
                                                "mode change");
    UNLOCK(cfg);
    if (old != mode)
        mg_config_notify(cfg, "mode");
    return rc == 0 ? MEMGOV_OK : mg_fail(MEMGOV_ENOMEM, "no memory to record the mode change in the history");
}

MEMGOV_API memgov_mode memgov_config_mode(const memgov_config *cfg)
{
    if (cfg == NULL)
        return MEMGOV_MODE_NORMAL;
    LOCK(cfg);
    memgov_mode m = cfg->mode;
    UNLOCK(cfg);
    return m;
}

mg_entry *mg_config_find(const memgov_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->entries[i].name, name) == 0)
            return &cfg->entries[i];
    return NULL;
}

void mg_config_env_name(const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "MEMGOV_");
    for (const char *p = name; *p && (size_t)n + 1 < size; p++, n++)
        out[n] = (*p == '.' || *p == '-') ? '_' : (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
    out[n] = '\0';
}

mg_entry *mg_config_find_env(const memgov_config *cfg, const char *var)
{
    char env[128];
    for (size_t i = 0; i < cfg->n; i++) {
        mg_config_env_name(cfg->entries[i].name, env, sizeof env);
        if (strcmp(env, var) == 0)
            return &cfg->entries[i];
    }
    return NULL;
}

size_t mg_config_edit_distance(const char *a, const char *b)
{
    size_t lb = strlen(b);
    if (lb > 127)
        return SIZE_MAX;
    size_t row[128];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

void mg_config_suggest(const memgov_config *cfg, const char *name, int env_style, char *out, size_t size)
{
    size_t best = SIZE_MAX;
    out[0] = '\0';
    if (strlen(name) > 127)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        char env[128];
        const char *candidate = cfg->entries[i].name;
        if (env_style) {
            mg_config_env_name(candidate, env, sizeof env);
            candidate = env;
        }
        size_t len = strlen(cfg->entries[i].name), nlen = strlen(name), clen = strlen(candidate);
        size_t allowed = len / 3 > 2 ? len / 3 : 2;
        if ((nlen > clen ? nlen - clen : clen - nlen) > allowed)
            continue; /* the distance is at least the difference of the lengths: no need to compute it */
        size_t d = mg_config_edit_distance(name, candidate);
        if (d <= allowed && d < best) {
            best = d;
            snprintf(out, size, "%s", candidate);
        }
    }
}

/* A percentage cannot be compared with a byte count while the effective memory is unknown: such a bound is not
 * checked then (else "90%" would fall below "1MiB" on a machine whose /proc cannot be read). */
static int comparable(const memgov_config *cfg, const mg_entry *e, const mg_value *a, const mg_value *b)
{
    return e->type != MEMGOV_CONFIG_SIZE || cfg->effective != 0 || a->is_pct == b->is_pct;
}

int mg_config_check_bounds(const memgov_config *cfg, const mg_entry *e, const mg_value *v)
{
    if (e->has_min && comparable(cfg, e, v, &e->min) && mg_value_cmp(e->type, v, &e->min, cfg->effective) < 0)
        return -1;
    if (e->has_max && comparable(cfg, e, v, &e->max) && mg_value_cmp(e->type, v, &e->max, cfg->effective) > 0)
        return 1;
    return 0;
}

void mg_config_range_text(const mg_entry *e, char *out, size_t size)
{
    if (e->type == MEMGOV_CONFIG_ENUM)
        snprintf(out, size, "one of %s", e->choices);
    else if (e->type == MEMGOV_CONFIG_BOOL)
        snprintf(out, size, "true or false");
    else if (e->has_min || e->has_max)
        snprintf(out, size, "%s..%s", e->has_min ? e->min_text : "", e->has_max ? e->max_text : "");
    else
        snprintf(out, size, "any %s", mg_config_type_name(e->type));
}

const mg_slot *mg_config_current(const memgov_config *cfg, const mg_entry *e)
{
    for (int m = (int)cfg->mode; m > MEMGOV_MODE_NORMAL; m--)
        if (e->slot[m].set)
            return &e->slot[m];
    return &e->slot[MEMGOV_MODE_NORMAL];
}

int mg_config_record(memgov_config *cfg, const char *key, const char *old_value, const char *new_value,
                     const char *source, const char *reason)
{
    memgov_config_change *c;
    if (cfg->nhist == MG_CONFIG_HISTORY_MAX) {
        /* Full: the oldest entry (at hist_start) makes room, so a long-running job's history stays bounded. */
        c = &cfg->hist[cfg->hist_start];
        cfg->hist_start = (cfg->hist_start + 1) % MG_CONFIG_HISTORY_MAX;
    } else {
        memgov_config_change *grown = mg_grow(cfg->hist, &cfg->caphist, cfg->nhist, sizeof *grown, 16);
        if (grown == NULL)
            return -1;
        cfg->hist = grown;
        c = &cfg->hist[cfg->nhist++];
    }
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->old_value, sizeof c->old_value, "%s", old_value);
    snprintf(c->new_value, sizeof c->new_value, "%s", new_value);
    snprintf(c->source, sizeof c->source, "%s", source);
    snprintf(c->reason, sizeof c->reason, "%s", reason);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return 0;
}

int mg_config_apply(memgov_config *cfg, mg_entry *e, memgov_mode mode, mg_value *v, memgov_config_source src,
                    const char *where, const char *reason)
{
    mg_slot *s = &e->slot[mode];
    if (s->set && s->src > src)
        return 0;
    char key[128];
    if (mode == MEMGOV_MODE_NORMAL)
        snprintf(key, sizeof key, "%s", e->name);
    else
        snprintf(key, sizeof key, "mode.%s.%s", memgov_mode_name(mode), e->name);
    if (mg_config_record(cfg, key, s->set ? s->v.text : "(unset)", v->text, where, reason) != 0)
        return -1;
    mg_value_free(&s->v);
    s->v = *v;
    v->text = NULL;
    s->set = 1;
    s->src = src;
    snprintf(s->where, sizeof s->where, "%s", where);
    return 1;
}

MEMGOV_API memgov_status memgov_config_set_for_mode(memgov_config *cfg, memgov_mode mode, const char *key,
                                                    const char *value)
{
    if (cfg == NULL || key == NULL || value == NULL || (unsigned)mode >= MEMGOV_MODE_COUNT_)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_set: cfg, key and value must not be NULL, mode must be known");
    LOCK(cfg);
    memgov_status st = MEMGOV_OK;
    mg_entry *e = mg_config_find(cfg, key);
    if (e == NULL) {
        char near[128];
        mg_config_suggest(cfg, key, 0, near, sizeof near);
        st = mg_fail(MEMGOV_ENOTFOUND, "api: unknown config key '%s'%s%s%s", key, near[0] ? " (did you mean '" : "",
                     near, near[0] ? "'?)" : "");
        goto out;
    }
    char why[160], range[160];
    mg_value v;
    st = mg_value_parse(e->type, e->choices, value, &v, why, sizeof why);
    mg_config_range_text(e, range, sizeof range);
    if (st != MEMGOV_OK) {
        st = mg_fail(st, "api: key '%s' value '%s' is not a valid %s: %s (allowed %s)", key, value,
                     mg_config_type_name(e->type), why, range);
        goto out;
    }
    if (mg_config_check_bounds(cfg, e, &v) != 0) {
        st = mg_fail(MEMGOV_ERANGE, "api: key '%s' value '%s' is out of range (allowed %s)", key, value, range);
        mg_value_free(&v);
        goto out;
    }
    int rc = mg_config_apply(cfg, e, mode, &v, MEMGOV_CONFIG_SRC_API, "api", "set by the API");
    mg_value_free(&v);
    if (rc < 0)
        st = mg_fail(MEMGOV_ENOMEM, "no memory to record the change of '%s'", key);
    UNLOCK(cfg);
    if (rc > 0)
        mg_config_notify(cfg, key);
    return st;
out:
    UNLOCK(cfg);
    return st;
}

MEMGOV_API memgov_status memgov_config_set(memgov_config *cfg, const char *key, const char *value)
{
    return memgov_config_set_for_mode(cfg, MEMGOV_MODE_NORMAL, key, value);
}

/* Finds key for a typed get and checks its type; on success returns with the lock held. */
static memgov_status get_locked(const memgov_config *cfg, const char *key, const void *out, memgov_config_type want,
                                const mg_slot **slot, const mg_entry **entry)
{
    if (cfg == NULL || key == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_get: cfg, key and out must not be NULL");
    LOCK(cfg);
    const mg_entry *e = mg_config_find(cfg, key);
    if (e == NULL) {
        UNLOCK(cfg);
        return mg_fail(MEMGOV_ENOTFOUND, "unknown config key '%s'", key);
    }
    if ((int)want >= 0 && e->type != want) {
        UNLOCK(cfg);
        return mg_fail(MEMGOV_ETYPE, "config key '%s' is a %s, not a %s", key, mg_config_type_name(e->type),
                       mg_config_type_name(want));
    }
    *slot = mg_config_current(cfg, e);
    if (entry != NULL)
        *entry = e;
    return MEMGOV_OK;
}

#define TYPED_GET(fn, ctype, type, expr)                                                                         \
    MEMGOV_API memgov_status fn(const memgov_config *cfg, const char *key, ctype *out)                      \
    {                                                                                                            \
        const mg_slot *s;                                                                                        \
        memgov_status st = get_locked(cfg, key, out, type, &s, NULL);                                            \
        if (st != MEMGOV_OK)                                                                                     \
            return st;                                                                                           \
        *out = (expr);                                                                                           \
        UNLOCK(cfg);                                                                                             \
        return MEMGOV_OK;                                                                                        \
    }
TYPED_GET(memgov_config_get_bool, int, MEMGOV_CONFIG_BOOL, (int)s->v.u)
TYPED_GET(memgov_config_get_int, int64_t, MEMGOV_CONFIG_INT, s->v.i)
TYPED_GET(memgov_config_get_unsigned, uint64_t, MEMGOV_CONFIG_UNSIGNED, s->v.u)
TYPED_GET(memgov_config_get_double, double, MEMGOV_CONFIG_DOUBLE, s->v.d)
TYPED_GET(memgov_config_get_duration, uint64_t, MEMGOV_CONFIG_DURATION, s->v.u)

MEMGOV_API memgov_status memgov_config_get_size(const memgov_config *cfg, const char *key, uint64_t *bytes)
{
    const mg_slot *s;
    memgov_status st = get_locked(cfg, key, bytes, MEMGOV_CONFIG_SIZE, &s, NULL);
    if (st != MEMGOV_OK)
        return st;
    st = mg_size_bytes(&s->v, cfg->effective, bytes);
    char text[128];
    snprintf(text, sizeof text, "%s", s->v.text);
    uint64_t eff = cfg->effective;
    UNLOCK(cfg);
    if (st != MEMGOV_OK)
        return mg_fail(st, "config key '%s' = %s of %llu bytes exceeds 2^64-1", key, text, (unsigned long long)eff);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_config_get_text(const memgov_config *cfg, const char *key, char *buf, size_t size,
                                     size_t *needed, memgov_config_source *source)
{
    const mg_slot *s = NULL;
    if (buf == NULL && size > 0)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_get_text: buf is NULL with size %zu", size);
    memgov_status st = get_locked(cfg, key, cfg, (memgov_config_type)-1, &s, NULL); /* no out to check */
    if (st != MEMGOV_OK)
        return st;
    size_t len = strlen(s->v.text);
    if (size > 0)
        snprintf(buf, size, "%s", s->v.text);
    if (needed != NULL)
        *needed = len;
    if (source != NULL)
        *source = s->src;
    UNLOCK(cfg);
    if (len >= size)
        return mg_fail(MEMGOV_ERANGE, "config key '%s': its value needs %zu bytes, the buffer has %zu", key,
                       len + 1, size);
    return MEMGOV_OK;
}

MEMGOV_API size_t memgov_config_history_count(const memgov_config *cfg)
{
    if (cfg == NULL)
        return 0;
    LOCK(cfg);
    size_t n = cfg->nhist;
    UNLOCK(cfg);
    return n;
}

MEMGOV_API memgov_status memgov_config_history_get(const memgov_config *cfg, size_t i, memgov_config_change *out)
{
    if (cfg == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_history_get: cfg and out must not be NULL");
    LOCK(cfg);
    if (i >= cfg->nhist) {
        size_t n = cfg->nhist;
        UNLOCK(cfg);
        return mg_fail(MEMGOV_ENOTFOUND, "history entry %zu does not exist (%zu recorded)", i, n);
    }
    memgov_config_change c = cfg->hist[(cfg->hist_start + i) % MG_CONFIG_HISTORY_MAX];
    UNLOCK(cfg);
    return mg_struct_out(out, &c, sizeof c, "memgov_config_change");
}
