/* memgov_config_dump(): the effective configuration as text or JSON, with sources and overlays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "internal/error.h"
#include "internal/text.h"

static void dump_text(const memgov_config *cfg, unsigned flags, mg_text *b)
{
    char eff[24];
    memgov_format_bytes(cfg->effective, eff, sizeof eff);
    mg_text_put(b, "# mode %s, effective memory %s (%llu bytes)\n", memgov_mode_name(cfg->mode), eff,
        (unsigned long long)cfg->effective);
    for (size_t i = 0; i < cfg->n; i++) {
        const mg_entry *e = &cfg->entries[i];
        const mg_slot *cur = mg_config_current(cfg, e);
        mg_text_put(b, "%s = ", e->name);
        mg_text_put_escaped(b, cur->v.text);
        uint64_t bytes;
        if (e->type == MEMGOV_CONFIG_SIZE && cur->v.is_pct && mg_size_bytes(&cur->v, cfg->effective, &bytes) == 0) {
            char t[24];
            memgov_format_bytes(bytes, t, sizeof t);
            mg_text_put(b, " (%s)", t);
        }
        mg_text_put(b, "  # from ");
        mg_text_put_escaped(b, cur->where);
        for (int m = MEMGOV_MODE_LIGHT; m < MEMGOV_MODE_COUNT_; m++)
            if (e->slot[m].set) {
                mg_text_put(b, "; %s: ", memgov_mode_name((memgov_mode)m));
                mg_text_put_escaped(b, e->slot[m].v.text);
                mg_text_put(b, " from ");
                mg_text_put_escaped(b, e->slot[m].where);
            }
        if (flags & MEMGOV_CONFIG_DUMP_DOCS) {
            char range[160];
            mg_config_range_text(e, range, sizeof range);
            mg_text_put(b, "; %s, default ", mg_config_type_name(e->type));
            mg_text_put_escaped(b, e->def_text);
            mg_text_put(b, ", allowed ");
            mg_text_put_escaped(b, range);
            mg_text_put(b, ": ");
            mg_text_put_escaped(b, e->doc);
        }
        mg_text_put(b, "\n");
    }
}

static void dump_json(const memgov_config *cfg, unsigned flags, mg_text *b)
{
    mg_text_put(b, "{\"mode\": ");
    mg_text_put_json(b, memgov_mode_name(cfg->mode));
    mg_text_put(b, ", \"effective_memory\": %llu, \"keys\": [", (unsigned long long)cfg->effective);
    static const char *const sources[] = {"default", "file", "env", "api"};
    for (size_t i = 0; i < cfg->n; i++) {
        const mg_entry *e = &cfg->entries[i];
        const mg_slot *cur = mg_config_current(cfg, e);
        mg_text_put(b, "%s\n  {\"key\": ", i ? "," : "");
        mg_text_put_json(b, e->name);
        mg_text_put(b, ", \"type\": \"%s\", \"value\": ", mg_config_type_name(e->type));
        mg_text_put_json(b, cur->v.text);
        uint64_t bytes;
        if (e->type == MEMGOV_CONFIG_SIZE && mg_size_bytes(&cur->v, cfg->effective, &bytes) == 0)
            mg_text_put(b, ", \"bytes\": %llu", (unsigned long long)bytes);
        mg_text_put(b, ", \"source\": \"%s\", \"where\": ", sources[cur->src]);
        mg_text_put_json(b, cur->where);
        mg_text_put(b, ", \"overlays\": {");
        int first = 1;
        for (int m = MEMGOV_MODE_LIGHT; m < MEMGOV_MODE_COUNT_; m++) {
            if (!e->slot[m].set)
                continue;
            mg_text_put(b, "%s\"%s\": {\"value\": ", first ? "" : ", ", memgov_mode_name((memgov_mode)m));
            mg_text_put_json(b, e->slot[m].v.text);
            mg_text_put(b, ", \"where\": ");
            mg_text_put_json(b, e->slot[m].where);
            mg_text_put(b, "}");
            first = 0;
        }
        mg_text_put(b, "}");
        if (flags & MEMGOV_CONFIG_DUMP_DOCS) {
            mg_text_put(b, ", \"default\": ");
            mg_text_put_json(b, e->def_text);
            mg_text_put(b, ", \"min\": ");
            e->has_min ? mg_text_put_json(b, e->min_text) : mg_text_put(b, "null");
            mg_text_put(b, ", \"max\": ");
            e->has_max ? mg_text_put_json(b, e->max_text) : mg_text_put(b, "null");
            mg_text_put(b, ", \"choices\": ");
            e->choices != NULL ? mg_text_put_json(b, e->choices) : mg_text_put(b, "null");
            mg_text_put(b, ", \"doc\": ");
            mg_text_put_json(b, e->doc);
        }
        mg_text_put(b, "}");
    }
    mg_text_put(b, "\n]}\n");
}

MEMGOV_API memgov_status memgov_config_dump(const memgov_config *cfg, unsigned flags, char *buf, size_t size,
                                            size_t *needed)
{
    if (cfg == NULL || (buf == NULL && size > 0))
        return mg_fail(MEMGOV_EINVAL, "memgov_config_dump: cfg is NULL or buf is NULL with size %zu", size);
    mg_text b;
    mg_text_init(&b, buf, size);
    pthread_mutex_lock(&((memgov_config *)cfg)->lock);
    if (flags & MEMGOV_CONFIG_DUMP_JSON)
        dump_json(cfg, flags, &b);
    else
        dump_text(cfg, flags, &b);
    pthread_mutex_unlock(&((memgov_config *)cfg)->lock);
    return mg_text_finish(&b, needed, "the configuration dump");
}
