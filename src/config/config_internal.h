/* Internal: the configuration's data structures, shared by the files of src/config. */
#ifndef MG_CONFIG_INTERNAL_H
#define MG_CONFIG_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/atfork.h"
#include "memgov/config.h"

/* A parsed value. `text` (owned) is the canonical text: what was given, trimmed. Numbers: i (INT), u
 * (UNSIGNED, DURATION in ns, SIZE in bytes, BOOL 0/1, ENUM choice index), d (DOUBLE, SIZE percentage). */
typedef struct mg_value {
    char *text;
    int64_t i;
    uint64_t u;
    double d;
    int is_pct;
} mg_value;

typedef struct mg_slot {
    int set;
    mg_value v;
    memgov_config_source src;
    char where[160];
} mg_slot;

typedef struct mg_entry {
    char *name, *def_text, *min_text, *max_text, *choices, *doc;
    memgov_config_type type;
    int has_min, has_max;
    mg_value min, max;
    mg_slot slot[MEMGOV_MODE_COUNT_]; /* [NORMAL] is the base value, always set; the others are overlays */
} mg_entry;

typedef struct mg_listener {
    uint64_t id; /* first: internal/idtable.h */
    memgov_config_listener_fn fn;
    void *user;
} mg_listener;

struct memgov_config {
    pthread_mutex_t lock;
    pthread_cond_t idle;           /* signalled when `notifying` drops to 0 */
    mg_fork_lock fork;             /* `lock` across fork() (internal/atfork.h) */
    mg_listener listeners[MEMGOV_CONFIG_MAX_LISTENERS];
    size_t nlisteners;
    uint64_t next_listener_id;
    unsigned notifying;            /* listener rounds running now, on any thread */
    mg_entry *entries;
    size_t n, cap;
    memgov_mode mode;
    uint64_t effective;
    memgov_config_change *hist; /* a ring of at most MG_CONFIG_HISTORY_MAX, the oldest at hist_start */
    size_t nhist, caphist, hist_start;
};

#define MG_CONFIG_HISTORY_MAX MEMGOV_CONFIG_HISTORY_MAX

typedef struct mg_message {
    memgov_config_severity severity;
    char *text;
} mg_message;

struct memgov_config_result {
    mg_message *msgs;
    size_t n, cap;
};

/* value.c */
const char *mg_config_type_name(memgov_config_type type);
/* Parses text for a key of `type` (enum: `choices` "a|b|c"). On failure returns the status and writes why. */
memgov_status mg_value_parse(memgov_config_type type, const char *choices, const char *text, mg_value *out,
                             char *why, size_t why_size);
/* -1, 0, 1 comparing a and b of `type`; sizes compare in bytes against `effective`. */
int mg_value_cmp(memgov_config_type type, const mg_value *a, const mg_value *b, uint64_t effective);
/* A size in bytes: percentages of `effective`, rounded down. MEMGOV_EOVERFLOW past UINT64_MAX. */
memgov_status mg_size_bytes(const mg_value *v, uint64_t effective, uint64_t *bytes);
int mg_value_copy(mg_value *dst, const mg_value *src);
void mg_value_free(mg_value *v);

/* registry.c: memgov_config_create() without probing the machine (effective memory 0 until set), for the
 * fuzz targets, which must not read /proc once per input. */
memgov_status mg_config_create_unprobed(memgov_config **out);

/* registry.c (callers hold cfg->lock) */
mg_entry *mg_config_find(const memgov_config *cfg, const char *name);
mg_entry *mg_config_find_env(const memgov_config *cfg, const char *var);
/* The current mode's slot of an entry (MINIMAL falls back to LIGHT, then to the base value). */
const mg_slot *mg_config_current(const memgov_config *cfg, const mg_entry *e);
/* Writes the key closest to `name` (edit distance) into out, or "" when none is close; env_style compares and
 * answers with environment names (MEMGOV_ROOT_LIMIT). */
void mg_config_suggest(const memgov_config *cfg, const char *name, int env_style, char *out, size_t size);
/* Levenshtein distance of a and b; SIZE_MAX when b is longer than 127 bytes. */
size_t mg_config_edit_distance(const char *a, const char *b);
/* "MEMGOV_" + the name upper-cased, dots and dashes as underscores. */
void mg_config_env_name(const char *name, char *out, size_t size);
/* Checks v against e's bounds: 0 inside, -1 below min, 1 above max. */
int mg_config_check_bounds(const memgov_config *cfg, const mg_entry *e, const mg_value *v);
/* Formats e's allowed range, e.g. "1MiB..100%", "0..1", "any", "one of a|b". */
void mg_config_range_text(const mg_entry *e, char *out, size_t size);
/* Stores v (taken over on success) into e's slot for mode from src, unless a higher source holds it (then
 * returns 0 and frees nothing: the caller frees v). Records a history entry. Returns 1 if applied, -1 ENOMEM. */
int mg_config_apply(memgov_config *cfg, mg_entry *e, memgov_mode mode, mg_value *v, memgov_config_source src,
                    const char *where, const char *reason);
int mg_config_record(memgov_config *cfg, const char *key, const char *old_value, const char *new_value,
                     const char *source, const char *reason);

/* notify.c: calls the listeners with key (see memgov_config_listener_fn). Call it without holding cfg->lock. */
void mg_config_notify(memgov_config *cfg, const char *key);

/* load.c */
int mg_result_add(memgov_config_result *res, memgov_config_severity severity, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
