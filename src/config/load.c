/* Loading configuration text (INI-like and .env lines), the environment, and the validation result. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_internal.h"
#include "internal/error.h"
#include "internal/grow.h"
#include "internal/procfs.h"

extern char **environ;

/* ---- the result ---------------------------------------------------------------------------------------- */

MEMGOV_API memgov_status memgov_config_result_create(memgov_config_result **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_result_create: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out != NULL ? MEMGOV_OK : mg_fail(MEMGOV_ENOMEM, "no memory for a memgov_config_result");
}

MEMGOV_API void memgov_config_result_destroy(memgov_config_result *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->n; i++)
        free(res->msgs[i].text);
    free(res->msgs);
    free(res);
}

MEMGOV_API size_t memgov_config_result_count(const memgov_config_result *res, memgov_config_severity severity)
{
    size_t n = 0;
    for (size_t i = 0; res != NULL && i < res->n; i++)
        n += res->msgs[i].severity == severity;
    return n;
}

MEMGOV_API size_t memgov_config_result_size(const memgov_config_result *res)
{
    return res != NULL ? res->n : 0;
}

MEMGOV_API const char *memgov_config_result_message(const memgov_config_result *res, size_t i,
                                                    memgov_config_severity *severity)
{
    if (res == NULL || i >= res->n)
        return NULL;
    if (severity != NULL)
        *severity = res->msgs[i].severity;
    return res->msgs[i].text;
}

int mg_result_add(memgov_config_result *res, memgov_config_severity severity, const char *fmt, ...)
{
    if (res == NULL)
        return 0;
    mg_message *grown = mg_grow(res->msgs, &res->cap, res->n, sizeof *grown, 8);
    if (grown == NULL)
        return -1;
    res->msgs = grown;
    char buf[MG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *text = strdup(buf);
    if (text == NULL)
        return -1;
    res->msgs[res->n].severity = severity;
    res->msgs[res->n].text = text;
    res->n++;
    return 0;
}

/* ---- one load: messages, pending values, the first error ---------------------------------------------------- */

typedef struct pending {
    mg_entry *entry;
    memgov_mode mode;
    mg_value v;
    char where[160];      /* where the value in force comes from (the last definition) */
    char first_where[160]; /* where the key was first defined in this load */
    char reason[160];
} pending;

typedef struct loader {
    memgov_config *cfg;
    memgov_config_result *res;
    unsigned flags;
    memgov_config_source src;
    pending *items;
    size_t n, cap;
    size_t *slot_item; /* per entry and mode (entry index * MEMGOV_MODE_COUNT_ + mode): its item + 1, 0 = none */
    size_t slot_items; /* entries covered by slot_item */
    memgov_status first;
    char first_msg[MG_ERROR_MAX];
    int oom;
    int skip_section; /* inside an unknown [mode.X]: its keys were reported with the section */
    size_t applied;
} loader;

static void report(loader *ld, memgov_config_severity sev, memgov_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(loader *ld, memgov_config_severity sev, memgov_status st, const char *fmt, ...)
{
    char buf[MG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (sev == MEMGOV_CONFIG_ERROR && ld->first == MEMGOV_OK) {
        ld->first = st;
        snprintf(ld->first_msg, sizeof ld->first_msg, "%s", buf);
    }
    if (mg_result_add(ld->res, sev, "%s", buf) != 0)
        ld->oom = 1;
}

/* The slot that remembers which queued item holds (e, mode); NULL without memory (then duplicates are queued
 * twice and the later still wins when they are applied in order). */
static size_t *lookup_item(loader *ld, const mg_entry *e, memgov_mode mode)
{
    size_t idx = (size_t)(e - ld->cfg->entries);
    if (ld->slot_item == NULL && ld->cfg->n > 0) {
        ld->slot_item = calloc(ld->cfg->n * MEMGOV_MODE_COUNT_, sizeof *ld->slot_item);
        ld->slot_items = ld->slot_item != NULL ? ld->cfg->n : 0;
    }
    return idx < ld->slot_items ? &ld->slot_item[idx * MEMGOV_MODE_COUNT_ + (size_t)mode] : NULL;
}

/* Validates one assignment and queues it. `where` is "file:line" or "env VAR". */
static void assign(loader *ld, const char *where, memgov_mode mode, const char *key, const char *value,
                   int from_env_name)
{
    mg_entry *e = from_env_name ? mg_config_find_env(ld->cfg, key) : mg_config_find(ld->cfg, key);
    if (e == NULL) {
        char near[128], in[64] = "";
        /* "mode.light.batch.max" written flat: the key part is what may be misspelt */
        const char *bare = key, *dot;
        if (!from_env_name && strncmp(key, "mode.", 5) == 0 && (dot = strchr(key + 5, '.')) != NULL)
            bare = dot + 1;
        mg_config_suggest(ld->cfg, bare, from_env_name, near, sizeof near);
        if (mode != MEMGOV_MODE_NORMAL)
            snprintf(in, sizeof in, " in [mode.%s]", memgov_mode_name(mode));
        else if (bare != key)
            snprintf(in, sizeof in, " (overlays go in a [mode.NAME] section)");
        report(ld, MEMGOV_CONFIG_WARNING, MEMGOV_ENOTFOUND, "%s: unknown key '%s'%s ignored%s%s%s", where, key, in,
               near[0] ? " (did you mean '" : "", near, near[0] ? "'?)" : "");
        return;
    }
    char why[160], range[160];
    mg_config_range_text(e, range, sizeof range);
    pending p;
    memset(&p, 0, sizeof p);
    memgov_status st = mg_value_parse(e->type, e->choices, value, &p.v, why, sizeof why);
    if (st == MEMGOV_ENOMEM) {
        ld->oom = 1;
        return;
    }
    if (st != MEMGOV_OK) {
        report(ld, MEMGOV_CONFIG_ERROR, st, "%s: key '%s' value '%s' is not a valid %s: %s (allowed %s)", where,
               e->name, value, mg_config_type_name(e->type), why, range);
        return;
    }
    snprintf(p.reason, sizeof p.reason, "%s", ld->src == MEMGOV_CONFIG_SRC_ENV ? "environment" : "file");
    int side = mg_config_check_bounds(ld->cfg, e, &p.v);
    if (side != 0) {
        const mg_value *bound = side < 0 ? &e->min : &e->max;
        const char *which = side < 0 ? "minimum" : "maximum";
        if (ld->flags & MEMGOV_CONFIG_STRICT) {
            report(ld, MEMGOV_CONFIG_ERROR, MEMGOV_ERANGE, "%s: key '%s' value '%s' is %s its %s %s (allowed %s)",
                   where, e->name, value, side < 0 ? "below" : "above", which, bound->text, range);
            mg_value_free(&p.v);
            return;
        }
        report(ld, MEMGOV_CONFIG_CORRECTION, MEMGOV_ERANGE,
               "%s: key '%s' value '%s' is %s its %s; corrected to %s (allowed %s)", where, e->name, value,
               side < 0 ? "below" : "above", which, bound->text, range);
        snprintf(p.reason, sizeof p.reason, "clamped from %.60s to the %s %.60s", value, which, bound->text);
        mg_value_free(&p.v);
        if (mg_value_copy(&p.v, bound) != 0) {
            ld->oom = 1;
            return;
        }
    }
    /* One warning per repeat, naming the first definition, and the later value replaces the queued one: linear
     * in the number of lines whatever they repeat. */
    size_t *item = lookup_item(ld, e, mode);
    if (item != NULL && *item != 0) {
        pending *q = &ld->items[*item - 1];
        report(ld, MEMGOV_CONFIG_WARNING, MEMGOV_EEXIST, "%s: duplicate key '%s' (first set at %s); the later "
               "value '%s' wins", where, e->name, q->first_where, value);
        mg_value_free(&q->v);
        q->v = p.v;
        snprintf(q->where, sizeof q->where, "%s", where);
        snprintf(q->reason, sizeof q->reason, "%s", p.reason);
        return;
    }
    pending *grown = mg_grow(ld->items, &ld->cap, ld->n, sizeof *grown, 16);
    if (grown == NULL) {
        mg_value_free(&p.v);
        ld->oom = 1;
        return;
    }
    ld->items = grown;
    p.entry = e;
    p.mode = mode;
    snprintf(p.where, sizeof p.where, "%s", where);
    snprintf(p.first_where, sizeof p.first_where, "%s", where);
    ld->items[ld->n++] = p;
    if (item != NULL)
        *item = ld->n;
}

/* Pairs of keys whose values must be ordered, e.g. the hysteresis of the fallback machine: exit below enter. */
static const struct { const char *low, *high; int strict; const char *why; } ordered[] = {
    {"fallback.light_exit", "fallback.light_enter", 1, "LIGHT would flap"},
    {"fallback.minimal_exit", "fallback.minimal_enter", 1, "MINIMAL would flap"},
    {"fallback.light_enter", "fallback.minimal_enter", 1, "LIGHT must come before MINIMAL"},
    {"fallback.minimal_enter", "fallback.critical", 1, "MINIMAL must come before critical"},
    {"chunk.rows_min", "chunk.rows_max", 0, "the chunk range would be empty"},
    {"batch.min", "batch.max", 0, "the batch range would be empty"},
    {"threads.min", "threads.max", 0, "the thread range would be empty (threads.max 0 means the CPUs)"},
};

/* Warns about ordered pairs that the values now in force break, in every mode. */
static void check_consistency(loader *ld)
{
    memgov_config *cfg = ld->cfg;
    memgov_mode saved = cfg->mode;
    for (int m = MEMGOV_MODE_NORMAL; m < MEMGOV_MODE_COUNT_; m++) {
        cfg->mode = (memgov_mode)m;
        for (size_t i = 0; i < sizeof ordered / sizeof ordered[0]; i++) {
            const mg_entry *lo = mg_config_find(cfg, ordered[i].low), *hi = mg_config_find(cfg, ordered[i].high);
            const mg_slot *a = mg_config_current(cfg, lo), *b = mg_config_current(cfg, hi);
            if (m != MEMGOV_MODE_NORMAL && a == &lo->slot[MEMGOV_MODE_NORMAL] && b == &hi->slot[MEMGOV_MODE_NORMAL])
                continue; /* no overlay involved: already judged in mode normal */
            if (hi->type == MEMGOV_CONFIG_UNSIGNED && b->v.u == 0 && strcmp(hi->name, "threads.max") == 0)
                continue;
            int c = mg_value_cmp(lo->type, &a->v, &b->v, cfg->effective);
            if (c > 0 || (ordered[i].strict && c == 0))
                report(ld, MEMGOV_CONFIG_WARNING, MEMGOV_ERANGE,
                       "%s = %s (%s) must be %s %s = %s (%s) in mode %s: %s", lo->name, a->v.text, a->where,
                       ordered[i].strict ? "below" : "at most", hi->name, b->v.text, b->where,
                       memgov_mode_name((memgov_mode)m), ordered[i].why);
        }
    }
    cfg->mode = saved;
}

/* Applies what was queued (nothing in strict mode after an error), checks the ordered pairs, and returns the
 * load's status. */
static memgov_status finish(loader *ld)
{
    int apply = !ld->oom && !((ld->flags & MEMGOV_CONFIG_STRICT) && ld->first != MEMGOV_OK);
    for (size_t i = 0; i < ld->n; i++) {
        pending *p = &ld->items[i];
        int rc = apply ? mg_config_apply(ld->cfg, p->entry, p->mode, &p->v, ld->src, p->where, p->reason) : 0;
        if (rc < 0)
            ld->oom = 1;
        ld->applied += rc > 0;
        mg_value_free(&p->v);
    }
    free(ld->items);
    free(ld->slot_item);
    if (apply && ld->n > 0)
        check_consistency(ld);
    if (ld->oom)
        return mg_fail(MEMGOV_ENOMEM, "no memory while loading the configuration");
    if (ld->first != MEMGOV_OK)
        return mg_fail(ld->first, "%s", ld->first_msg);
    return MEMGOV_OK;
}

/* ---- the text format ------------------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    return s;
}

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

static int is_env_style(const char *key)
{
    if (strncmp(key, "MEMGOV_", 7) != 0)
        return 0;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

/* Cuts the value of a line: a quoted string, or the text before an inline comment. NULL if malformed. */
static char *line_value(char *v, const char **why)
{
    v = trim(v);
    if (*v == '"' || *v == '\'') {
        char q = *v;
        char *close = strchr(v + 1, q);
        if (close == NULL) {
            *why = "unterminated quote";
            return NULL;
        }
        *close = '\0';
        char *rest = trim(close + 1);
        if (*rest != '\0' && *rest != '#' && *rest != ';') {
            *why = "text after the closing quote";
            return NULL;
        }
        return v + 1;
    }
    for (char *p = v; *p; p++)
        if ((*p == '#' || *p == ';') && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    return trim(v);
}

/* The mode nearest to `name` within three edits ("lite" -> "light"), or NULL. */
static const char *nearest_mode(const char *name)
{
    static const char *const modes[] = {"light", "minimal", "normal"};
    if (strlen(name) > 127)
        return NULL;
    const char *best = NULL;
    size_t best_d = 4; /* "lite" -> "light" is 3 edits */
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        size_t d = mg_config_edit_distance(name, modes[i]);
        if (d < best_d) {
            best_d = d;
            best = modes[i];
        }
    }
    return best;
}

static void parse_line(loader *ld, char *line, const char *origin, size_t lineno, char *section, size_t section_size,
                       memgov_mode *mode)
{
    char where[160];
    snprintf(where, sizeof where, "%.120s:%zu", origin, lineno);
    line = trim(line);
    if (*line == '\0' || *line == '#' || *line == ';')
        return;
    if (*line == '[') {
        char *close = strchr(line, ']');
        char *name = close != NULL ? (*close = '\0', trim(line + 1)) : NULL;
        int ok = name != NULL && *name != '\0' && strlen(name) < section_size && *trim(close + 1) == '\0';
        for (const char *p = ok ? name : ""; *p; p++)
            ok &= is_key_char(*p);
        if (!ok) {
            report(ld, MEMGOV_CONFIG_ERROR, MEMGOV_EPARSE, "%s: malformed section header (expected [name])", where);
            return;
        }
        *mode = MEMGOV_MODE_NORMAL;
        section[0] = '\0';
        ld->skip_section = 0;
        if (strcmp(name, "mode.light") == 0)
            *mode = MEMGOV_MODE_LIGHT;
        else if (strcmp(name, "mode.minimal") == 0)
            *mode = MEMGOV_MODE_MINIMAL;
        else if (strncmp(name, "mode.", 5) == 0 && strcmp(name, "mode.normal") != 0) {
            const char *near = nearest_mode(name + 5);
            report(ld, MEMGOV_CONFIG_WARNING, MEMGOV_ENOTFOUND, "%s: unknown mode '%s' in section [%s]; its keys are "
                   "ignored (modes: normal, light, minimal%s%s%s)", where, name + 5, name,
                   near != NULL ? "; did you mean [mode." : "", near != NULL ? near : "", near != NULL ? "]?" : "");
            ld->skip_section = 1;
        } else if (strcmp(name, "mode.normal") != 0)
            snprintf(section, section_size, "%s", name);
        return;
    }
    if (strncmp(line, "export ", 7) == 0)
        line = trim(line + 7);
    char *eq = strchr(line, '=');
    if (eq == NULL) {
        report(ld, MEMGOV_CONFIG_ERROR, MEMGOV_EPARSE, "%s: expected 'key = value'", where);
        return;
    }
    *eq = '\0';
    char *key = trim(line);
    int ok = *key != '\0';
    for (const char *p = key; *p; p++)
        ok &= is_key_char(*p);
    if (!ok) {
        report(ld, MEMGOV_CONFIG_ERROR, MEMGOV_EPARSE, "%s: malformed key (letters, digits, '_', '.', '-')", where);
        return;
    }
    const char *why = "";
    char *value = line_value(eq + 1, &why);
    if (value == NULL) {
        report(ld, MEMGOV_CONFIG_ERROR, MEMGOV_EPARSE, "%s: key '%s': %s", where, key, why);
        return;
    }
    if (ld->skip_section)
        return;
    if (is_env_style(key)) {
        assign(ld, where, *mode, key, value, 1);
        return;
    }
    char full[256];
    int n = snprintf(full, sizeof full, "%s%s%s", section, section[0] ? "." : "", key);
    if (n < 0 || (size_t)n >= sizeof full) {
        report(ld, MEMGOV_CONFIG_ERROR, MEMGOV_EPARSE, "%s: key too long", where);
        return;
    }
    assign(ld, where, *mode, full, value, 0);
}

MEMGOV_API memgov_status memgov_config_load_string(memgov_config *cfg, const char *text, size_t len, const char *origin,
                                        unsigned flags, memgov_config_result *res)
{
    if (cfg == NULL || (text == NULL && len > 0))
        return mg_fail(MEMGOV_EINVAL, "memgov_config_load_string: cfg is NULL or text is NULL with length %zu", len);
    if (origin == NULL)
        origin = "<string>";
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return mg_fail(MEMGOV_ENOMEM, "no memory to parse %zu bytes of configuration", len);
    if (len > 0)
        memcpy(copy, text, len);
    copy[len] = '\0';
    loader ld = {.cfg = cfg, .res = res, .flags = flags, .src = MEMGOV_CONFIG_SRC_FILE};
    char section[128] = "";
    size_t first = 0;
    pthread_mutex_lock(&cfg->lock);
    if (len >= 3 && memcmp(copy, "\xef\xbb\xbf", 3) == 0) {
        report(&ld, MEMGOV_CONFIG_WARNING, MEMGOV_EPARSE, "%.120s:1: a UTF-8 byte-order mark (EF BB BF) starts the "
               "text; it was skipped (save the file as UTF-8 without BOM)", origin);
        first = 3;
    }
    memgov_mode mode = MEMGOV_MODE_NORMAL;
    size_t lineno = 0;
    for (size_t start = first; start < len;) {
        char *nl = memchr(copy + start, '\n', len - start);
        size_t end = nl != NULL ? (size_t)(nl - copy) : len;
        lineno++;
        int has_nul = memchr(copy + start, '\0', end - start) != NULL;
        copy[end] = '\0';
        if (end > start && copy[end - 1] == '\r')
            copy[end - 1] = '\0';
        if (has_nul)
            report(&ld, MEMGOV_CONFIG_ERROR, MEMGOV_EPARSE, "%.120s:%zu: the line holds a NUL byte", origin, lineno);
        else
            parse_line(&ld, copy + start, origin, lineno, section, sizeof section, &mode);
        start = end + 1;
    }
    memgov_status st = finish(&ld);
    pthread_mutex_unlock(&cfg->lock);
    free(copy);
    if (ld.applied > 0)
        mg_config_notify(cfg, NULL);
    return st;
}

/* What a file that is not a regular file is, for the message. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory (EISDIR)" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" :
           S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Reads a whole regular file of at most MEMGOV_CONFIG_FILE_MAX bytes into *out (NUL-terminated, the caller's),
 * through the bounded, non-blocking reader of internal/procfs.h; a refusal is explained by the file's kind or
 * size. */
static memgov_status read_config_file(const char *path, char **out, size_t *len_out)
{
    *out = mg_read_file(path, MEMGOV_CONFIG_FILE_MAX, len_out);
    if (*out != NULL)
        return MEMGOV_OK;
    int e = errno;
    struct stat st;
    if (e == MG_ENOTREG && stat(path, &st) == 0)
        return mg_fail(MEMGOV_EIO, "config file '%s' is %s: a configuration must be a regular file", path,
                       file_kind(st.st_mode));
    if (e == EFBIG)
        return mg_fail(MEMGOV_ERANGE, "config file '%s' has %lld bytes, above the limit of %u bytes (1 MiB, "
                       "MEMGOV_CONFIG_FILE_MAX)", path, stat(path, &st) == 0 ? (long long)st.st_size : -1LL,
                       (unsigned)MEMGOV_CONFIG_FILE_MAX);
    if (e == ENOMEM)
        return mg_fail(MEMGOV_ENOMEM, "no memory to read config file '%s'", path);
    return mg_fail(e == ENOENT ? MEMGOV_ENOTFOUND : MEMGOV_EIO, "cannot read config file '%s': %s", path,
                   e == MG_ENOTREG ? "not a regular file" : strerror(e));
}

MEMGOV_API memgov_status memgov_config_load_file(memgov_config *cfg, const char *path, unsigned flags,
                                                 memgov_config_result *res)
{
    if (cfg == NULL || path == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_load_file: cfg and path must not be NULL");
    char *buf = NULL;
    size_t len = 0;
    memgov_status st = read_config_file(path, &buf, &len);
    if (st != MEMGOV_OK)
        return st;
    st = memgov_config_load_string(cfg, buf, len, path, flags, res);
    free(buf);
    return st;
}

MEMGOV_API memgov_status memgov_config_load_env(memgov_config *cfg, unsigned flags, memgov_config_result *res)
{
    if (cfg == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_load_env: cfg is NULL");
    loader ld = {.cfg = cfg, .res = res, .flags = flags, .src = MEMGOV_CONFIG_SRC_ENV};
    pthread_mutex_lock(&cfg->lock);
    for (char **env = environ; env != NULL && *env != NULL; env++) {
        if (strncmp(*env, "MEMGOV_", 7) != 0 || strncmp(*env, "MEMGOV_CONFIG_FILE=", 19) == 0)
            continue; /* MEMGOV_CONFIG_FILE names the file memgov_open() loads: not a key */
        const char *eq = strchr(*env, '=');
        char var[128], where[160];
        if (eq == NULL || (size_t)(eq - *env) >= sizeof var)
            continue;
        memcpy(var, *env, (size_t)(eq - *env));
        var[eq - *env] = '\0';
        snprintf(where, sizeof where, "env %s", var);
        assign(&ld, where, MEMGOV_MODE_NORMAL, var, eq + 1, 1);
    }
    memgov_status st = finish(&ld);
    pthread_mutex_unlock(&cfg->lock);
    if (ld.applied > 0)
        mg_config_notify(cfg, NULL);
    return st;
}
