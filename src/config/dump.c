/* memgov_config_dump(): the effective configuration as text or JSON, with sources and overlays. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "internal/error.h"

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (n >= 0 && b->len + (size_t)n + 1 > cap)
            cap *= 2;
        char *grown = n >= 0 ? realloc(b->p, cap) : NULL;
        if (grown == NULL) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void put_json(sbuf *b, const char *s)
{
    put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; s != NULL && *p; p++) {
        if (*p == '"' || *p == '\\')
            put(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            put(b, "\\u%04x", *p);
        else
            put(b, "%c", *p);
    }
    put(b, "\"");
}

static void dump_text(const memgov_config *cfg, unsigned flags, sbuf *b)
{
    char eff[24];
    memgov_format_bytes(cfg->effective, eff, sizeof eff);
    put(b, "# mode %s, effective memory %s (%llu bytes)\n", memgov_mode_name(cfg->mode), eff,
        (unsigned long long)cfg->effective);
    for (size_t i = 0; i < cfg->n; i++) {
        const mg_entry *e = &cfg->entries[i];
        const mg_slot *cur = mg_config_current(cfg, e);
        put(b, "%s = %s", e->name, cur->v.text);
        uint64_t bytes;
        if (e->type == MEMGOV_CONFIG_SIZE && cur->v.is_pct && mg_size_bytes(&cur->v, cfg->effective, &bytes) == 0) {
            char t[24];
            memgov_format_bytes(bytes, t, sizeof t);
            put(b, " (%s)", t);
        }
        put(b, "  # from %s", cur->where);
        for (int m = MEMGOV_MODE_LIGHT; m < MEMGOV_MODE_COUNT_; m++)
            if (e->slot[m].set)
                put(b, "; %s: %s from %s", memgov_mode_name((memgov_mode)m), e->slot[m].v.text, e->slot[m].where);
        if (flags & MEMGOV_CONFIG_DUMP_DOCS) {
            char range[160];
            mg_config_range_text(e, range, sizeof range);
            put(b, "; %s, default %s, allowed %s: %s", mg_config_type_name(e->type), e->def_text, range, e->doc);
        }
        put(b, "\n");
    }
}

static void dump_json(const memgov_config *cfg, unsigned flags, sbuf *b)
{
    put(b, "{\"mode\": ");
    put_json(b, memgov_mode_name(cfg->mode));
    put(b, ", \"effective_memory\": %llu, \"keys\": [", (unsigned long long)cfg->effective);
    static const char *const sources[] = {"default", "file", "env", "api"};
    for (size_t i = 0; i < cfg->n; i++) {
        const mg_entry *e = &cfg->entries[i];
        const mg_slot *cur = mg_config_current(cfg, e);
        put(b, "%s\n  {\"key\": ", i ? "," : "");
        put_json(b, e->name);
        put(b, ", \"type\": \"%s\", \"value\": ", mg_config_type_name(e->type));
        put_json(b, cur->v.text);
        uint64_t bytes;
        if (e->type == MEMGOV_CONFIG_SIZE && mg_size_bytes(&cur->v, cfg->effective, &bytes) == 0)
            put(b, ", \"bytes\": %llu", (unsigned long long)bytes);
        put(b, ", \"source\": \"%s\", \"where\": ", sources[cur->src]);
        put_json(b, cur->where);
        put(b, ", \"overlays\": {");
        int first = 1;
        for (int m = MEMGOV_MODE_LIGHT; m < MEMGOV_MODE_COUNT_; m++) {
            if (!e->slot[m].set)
                continue;
            put(b, "%s\"%s\": {\"value\": ", first ? "" : ", ", memgov_mode_name((memgov_mode)m));
            put_json(b, e->slot[m].v.text);
            put(b, ", \"where\": ");
            put_json(b, e->slot[m].where);
            put(b, "}");
            first = 0;
        }
        put(b, "}");
        if (flags & MEMGOV_CONFIG_DUMP_DOCS) {
            put(b, ", \"default\": ");
            put_json(b, e->def_text);
            put(b, ", \"min\": ");
            e->has_min ? put_json(b, e->min_text) : put(b, "null");
            put(b, ", \"max\": ");
            e->has_max ? put_json(b, e->max_text) : put(b, "null");
            put(b, ", \"choices\": ");
            e->choices != NULL ? put_json(b, e->choices) : put(b, "null");
            put(b, ", \"doc\": ");
            put_json(b, e->doc);
        }
        put(b, "}");
    }
    put(b, "\n]}\n");
}

memgov_status memgov_config_dump(const memgov_config *cfg, unsigned flags, char *buf, size_t size, size_t *needed)
{
    if (cfg == NULL || (buf == NULL && size > 0))
        return mg_fail(MEMGOV_EINVAL, "memgov_config_dump: cfg is NULL or buf is NULL with size %zu", size);
    sbuf b = {0};
    pthread_mutex_lock(&((memgov_config *)cfg)->lock);
    if (flags & MEMGOV_CONFIG_DUMP_JSON)
        dump_json(cfg, flags, &b);
    else
        dump_text(cfg, flags, &b);
    pthread_mutex_unlock(&((memgov_config *)cfg)->lock);
    if (b.oom) {
        free(b.p);
        return mg_fail(MEMGOV_ENOMEM, "no memory to dump the configuration");
    }
    if (needed != NULL)
        *needed = b.len;
    if (size > 0)
        snprintf(buf, size, "%s", b.p != NULL ? b.p : "");
    free(b.p);
    if (b.len >= size)
        return mg_fail(MEMGOV_ERANGE, "the configuration dump needs %zu bytes, the buffer has %zu", b.len + 1, size);
    return MEMGOV_OK;
}
