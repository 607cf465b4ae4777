/*
 * memgov/config.h — typed, validated, mode-aware configuration from defaults, a file, the environment and the
 * API; recommendations computed from the machine; history of changes; text and JSON dumps.
 *
 * A memgov_config is a registry of typed keys (memgov's own, listed in docs/config.md, plus the application's:
 * memgov_config_register()). Each key has a value for the normal mode and optional overlays for the LIGHT and
 * MINIMAL modes ([mode.light], [mode.minimal] file sections); a get resolves the current mode's value (MINIMAL
 * falls back to LIGHT's overlay, then to the base value).
 *
 * Sources, lowest to highest: default < file < environment (MEMGOV_<KEY>, dots as underscores, upper case) <
 * API. A value from a lower source never replaces one from a higher source, whatever the order of the calls.
 * Every value remembers its source ("default", "FILE:LINE", "env MEMGOV_X", "api").
 *
 * Value syntax by type: bool true/false/yes/no/on/off/1/0; int and unsigned decimal; double; size: a number
 * with an optional unit B, K/KiB, M/MiB, G/GiB, T/TiB, P/PiB (powers of 1024), KB/MB/GB/TB/PB (powers of 1000),
 * fractions allowed ("1.5GiB"), or a percentage of the effective memory ("90%"); duration: a number with ns,
 * us, ms, s, min or h ("100ms", "2s"; "0" alone is allowed); string; enum: one of the key's choices.
 *
 * Thread safety: every function on one memgov_config may be called from any number of threads at once (an
 * internal mutex); create/destroy excepted. A memgov_config_result belongs to one thread at a time.
 */
#ifndef MEMGOV_CONFIG_H
#define MEMGOV_CONFIG_H

#include "memgov/common.h"
#include "memgov/probe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct memgov_config memgov_config;
typedef struct memgov_config_result memgov_config_result;

/* Types of keys. Values are pinned. */
typedef enum memgov_config_type {
    MEMGOV_CONFIG_BOOL = 0,
    MEMGOV_CONFIG_INT = 1,      /* int64_t */
    MEMGOV_CONFIG_UNSIGNED = 2, /* uint64_t */
    MEMGOV_CONFIG_DOUBLE = 3,
    MEMGOV_CONFIG_SIZE = 4,     /* bytes, or a percentage of the effective memory */
    MEMGOV_CONFIG_DURATION = 5, /* nanoseconds */
    MEMGOV_CONFIG_STRING = 6,
    MEMGOV_CONFIG_ENUM = 7,
    MEMGOV_CONFIG_TYPE_COUNT_
} memgov_config_type;

/* Where a value came from, lowest precedence first. Values are pinned. */
typedef enum memgov_config_source {
    MEMGOV_CONFIG_SRC_DEFAULT = 0,
    MEMGOV_CONFIG_SRC_FILE = 1,
    MEMGOV_CONFIG_SRC_ENV = 2,
    MEMGOV_CONFIG_SRC_API = 3,
} memgov_config_source;

/* Severity of a validation message. Values are pinned. */
typedef enum memgov_config_severity {
    MEMGOV_CONFIG_ERROR = 0,      /* the value was refused */
    MEMGOV_CONFIG_WARNING = 1,    /* e.g. an unknown key (with a "did you mean"), a duplicate key */
    MEMGOV_CONFIG_CORRECTION = 2, /* non-strict mode clamped an out-of-bounds value; the message gives both */
} memgov_config_severity;

/* The largest configuration file memgov_config_load_file() reads: 1 MiB. A larger file is refused with
 * MEMGOV_ERANGE and a message naming the limit (a real configuration is a few KiB; the cap keeps a mistaken
 * path such as /dev/zero or a log file from eating memory). */
#define MEMGOV_CONFIG_FILE_MAX (1024u * 1024u)

/* Flags of the load functions. */
#define MEMGOV_CONFIG_STRICT (1u << 0) /* refuse out-of-bounds values (no clamping) and apply nothing on error */

/* ---- life cycle -------------------------------------------------------------------------------------------- */

/* Creates a configuration holding memgov's own keys at their defaults, in MEMGOV_MODE_NORMAL. The effective
 * memory that percentages resolve against is probed from the real machine (memory only: /proc and cgroups);
 * change it with memgov_config_set_effective_memory(). *out is the caller's: free it with
 * memgov_config_destroy(). Errors: MEMGOV_EINVAL (out NULL), MEMGOV_ENOMEM. */
MEMGOV_API memgov_status memgov_config_create(memgov_config **out);

/* Frees a configuration. NULL is ignored. No other thread may use cfg during or after the call. */
MEMGOV_API void memgov_config_destroy(memgov_config *cfg);

/* Sets the bytes that size percentages ("90%") resolve against, e.g. memgov_probe.effective_memory.
 * 0 means unknown: a percentage then resolves to 0 bytes. Errors: MEMGOV_EINVAL (cfg NULL). */
MEMGOV_API memgov_status memgov_config_set_effective_memory(memgov_config *cfg, uint64_t bytes);

/* Selects the mode whose overlays gets resolve (the fallback machine calls this). Recorded in the history.
 * Errors: MEMGOV_EINVAL (cfg NULL or mode unknown). */
MEMGOV_API memgov_status memgov_config_set_mode(memgov_config *cfg, memgov_mode mode);

/* The current mode; MEMGOV_MODE_NORMAL if cfg is NULL. */
MEMGOV_API memgov_mode memgov_config_mode(const memgov_config *cfg);

/* ---- change notification ---------------------------------------------------------------------------------- */

/* Called after a change, on the thread that made it, with no lock held. key: the key whose value was set by
 * memgov_config_set*() ("mode" after a mode change), or NULL after a load (file, string or environment) that
 * applied one or more values. It may call any memgov_config function on cfg (a set nests a notification). */
typedef void (*memgov_config_listener_fn)(memgov_config *cfg, const char *key, void *user);

/* The most listeners one configuration holds at a time. */
#define MEMGOV_CONFIG_MAX_LISTENERS 16

/* Calls fn(cfg, key, user) after every change from now on. *id (may be NULL) receives the listener's id for
 * memgov_config_remove_listener(): never 0, never reused within cfg. Errors: MEMGOV_EINVAL (cfg or fn NULL),
 * MEMGOV_ERANGE (already MEMGOV_CONFIG_MAX_LISTENERS listeners). Thread safety: any thread, listeners included. */
MEMGOV_API memgov_status memgov_config_add_listener(memgov_config *cfg, memgov_config_listener_fn fn, void *user,
                                                    uint64_t *id);

/* Removes a listener. When it returns, no listener call is running on another thread, so `user` may be freed.
 * Called from inside a listener it does not wait (it would wait for itself). Do not call it while holding a lock
 * that a listener takes. Errors: MEMGOV_EINVAL (cfg NULL), MEMGOV_ENOTFOUND (no such id). Thread safety: any
 * thread. */
MEMGOV_API memgov_status memgov_config_remove_listener(memgov_config *cfg, uint64_t id);

/* ---- application keys -------------------------------------------------------------------------------------- */

/* Describes a key for memgov_config_register(). All strings are copied. Initialise with
 * memgov_config_key_init(). */
typedef struct memgov_config_key {
    size_t struct_size;
    const char *name;          /* "grid.batch_size": letters, digits, '_', '.', '-'; at most 95 bytes */
    memgov_config_type type;
    const char *default_value; /* text in the type's syntax (required) */
    const char *min, *max;     /* inclusive bounds in the type's syntax, NULL = none (numbers, sizes, durations) */
    const char *choices;       /* enum only: "a|b|c" */
    const char *doc;           /* one line */
} memgov_config_key;

/* Zeroes key and sets struct_size. Does nothing if key is NULL. */
MEMGOV_API void memgov_config_key_init(memgov_config_key *key);

/* Registers an application key at its default value. Errors: MEMGOV_EINVAL (bad name, type, missing default,
 * enum without choices), MEMGOV_EEXIST (name taken), MEMGOV_EPARSE / MEMGOV_ETYPE (default or bound not in the
 * type's syntax), MEMGOV_ERANGE (default outside the bounds), MEMGOV_ENOMEM. The message names the key. */
MEMGOV_API memgov_status memgov_config_register(memgov_config *cfg, const memgov_config_key *key);

/* ---- loading and setting ----------------------------------------------------------------------------------- */

/* Creates an empty validation result; free it with memgov_config_result_destroy(). Errors: MEMGOV_EINVAL,
 * MEMGOV_ENOMEM. */
MEMGOV_API memgov_status memgov_config_result_create(memgov_config_result **out);
/* Frees a result; NULL is ignored. */
MEMGOV_API void memgov_config_result_destroy(memgov_config_result *res);
/* Number of messages of a severity in res (0 if res is NULL). */
MEMGOV_API size_t memgov_config_result_count(const memgov_config_result *res, memgov_config_severity severity);
/* Number of messages of every severity. */
MEMGOV_API size_t memgov_config_result_size(const memgov_config_result *res);
/* The i-th message (in order of discovery) and, if severity is not NULL, its severity; NULL if i is out of
 * range. Messages read "WHERE: key 'K' value 'V' ...: allowed MIN..MAX", WHERE being FILE:LINE, env VAR or api.
 * The string belongs to res and lives as long as it. */
MEMGOV_API const char *memgov_config_result_message(const memgov_config_result *res, size_t i,
                                                    memgov_config_severity *severity);

/* Parses configuration text (INI-like: `key = value`, `[section]` prefixes its keys with "section.",
 * `[mode.light]` / `[mode.minimal]` hold overlays, `#` and `;` start comments, values may be quoted with " or ',
 * CRLF accepted, `.env` lines `MEMGOV_KEY=value` too) and applies it as source FILE named `origin` (used in
 * "origin:line"; NULL = "<string>"). len bytes are read; text need not be NUL-terminated.
 * Non-strict: valid values are applied, out-of-bounds values are clamped (a CORRECTION), wrong ones skipped.
 * MEMGOV_CONFIG_STRICT: any error applies nothing. Messages go to res (may be NULL).
 * Returns MEMGOV_OK when there is no error; else the first error's status (MEMGOV_EPARSE, MEMGOV_ETYPE,
 * MEMGOV_ERANGE, MEMGOV_EOVERFLOW), and memgov_last_error() holds its message. */
MEMGOV_API memgov_status memgov_config_load_string(memgov_config *cfg, const char *text, size_t len,
                                                   const char *origin, unsigned flags, memgov_config_result *res);

/* memgov_config_load_string() on a file's contents (origin = path). The file is opened without blocking and
 * must be a regular file of at most MEMGOV_CONFIG_FILE_MAX bytes. Errors: MEMGOV_ENOTFOUND (no such file),
 * MEMGOV_EIO (cannot be opened or read; a directory (EISDIR), a FIFO, a device or a socket: the message says
 * which), MEMGOV_ERANGE (larger than MEMGOV_CONFIG_FILE_MAX: the message gives its size and the limit),
 * MEMGOV_ENOMEM, and those of memgov_config_load_string(). */
MEMGOV_API memgov_status memgov_config_load_file(memgov_config *cfg, const char *path, unsigned flags,
                                                 memgov_config_result *res);

/* Applies every MEMGOV_<KEY> environment variable of a registered key as source ENV; a MEMGOV_ variable that
 * names no key is a warning with a "did you mean" (MEMGOV_CONFIG_FILE, which names the file memgov_open()
 * loads, is not a key and is passed over). Call it after registering the application's keys. Same
 * flags, result and return value as memgov_config_load_string(). Thread safety: reads the environment with
 * getenv (do not setenv concurrently). */
MEMGOV_API memgov_status memgov_config_load_env(memgov_config *cfg, unsigned flags, memgov_config_result *res);

/* Sets a key from text as source API (strict: no clamping). mode selects the overlay: MEMGOV_MODE_NORMAL sets
 * the base value. Errors: MEMGOV_ENOTFOUND (unknown key, message has a "did you mean"), MEMGOV_EPARSE,
 * MEMGOV_ETYPE, MEMGOV_ERANGE (message gives the allowed range), MEMGOV_EOVERFLOW, MEMGOV_EINVAL. */
MEMGOV_API memgov_status memgov_config_set(memgov_config *cfg, const char *key, const char *value);
MEMGOV_API memgov_status memgov_config_set_for_mode(memgov_config *cfg, memgov_mode mode, const char *key,
                                                    const char *value);

/* Parses a size in the syntax of SIZE keys ("512", "64K", "1.5GiB", "2GB", "90%"; no sign, no leading blank)
 * into *bytes; a percentage resolves against effective_memory (rounded down). The one size parser of memgov
 * (the CLI's options use it too). Thread safety: any thread. Errors: MEMGOV_EINVAL (NULL argument),
 * MEMGOV_ETYPE / MEMGOV_ERANGE (not a size, negative: the message names the text and the syntax),
 * MEMGOV_EOVERFLOW (above 2^64-1 bytes), MEMGOV_ESTATE (a percentage while effective_memory is 0). */
MEMGOV_API memgov_status memgov_config_parse_size(const char *text, uint64_t effective_memory, uint64_t *bytes);

/* Parses a duration in the syntax of DURATION keys ("100ms", "2s", "5min", "0") into nanoseconds. Thread safety:
 * any thread. Errors: MEMGOV_EINVAL (NULL argument), MEMGOV_ETYPE / MEMGOV_ERANGE (not a duration, negative,
 * no unit), MEMGOV_EOVERFLOW (above 2^64-1 ns). */
MEMGOV_API memgov_status memgov_config_parse_duration(const char *text, uint64_t *ns);

/* ---- getting ----------------------------------------------------------------------------------------------- */

/* Typed gets of the current mode's value. Errors: MEMGOV_EINVAL (NULL argument), MEMGOV_ENOTFOUND (no such
 * key), MEMGOV_ETYPE (the key has another type; the message names it). get_int accepts INT keys, get_unsigned
 * UNSIGNED keys, get_double DOUBLE keys. */
MEMGOV_API memgov_status memgov_config_get_bool(const memgov_config *cfg, const char *key, int *out);
MEMGOV_API memgov_status memgov_config_get_int(const memgov_config *cfg, const char *key, int64_t *out);
MEMGOV_API memgov_status memgov_config_get_unsigned(const memgov_config *cfg, const char *key, uint64_t *out);
MEMGOV_API memgov_status memgov_config_get_double(const memgov_config *cfg, const char *key, double *out);
/* A SIZE key in bytes, percentages resolved against the effective memory (rounded down). The root budget's
 * limit: memgov_config_get_size(cfg, "root.limit", &bytes). */
MEMGOV_API memgov_status memgov_config_get_size(const memgov_config *cfg, const char *key, uint64_t *bytes);
/* A DURATION key in nanoseconds. */
MEMGOV_API memgov_status memgov_config_get_duration(const memgov_config *cfg, const char *key, uint64_t *ns);
/* Copies a key's current value as text (any type; an enum's choice, a string's content) into buf, always
 * NUL-terminated when size > 0; *needed (may be NULL) gets the full length. MEMGOV_ERANGE if it was cut.
 * If source is not NULL it receives the value's source kind. */
MEMGOV_API memgov_status memgov_config_get_text(const memgov_config *cfg, const char *key, char *buf, size_t size,
                                                size_t *needed, memgov_config_source *source);

/* ---- recommendations --------------------------------------------------------------------------------------- */

/* Settings computed from the machine and the data; each with a one-line explanation. */
typedef struct memgov_recommendation {
    size_t struct_size;
    double memory_fraction;  /* fraction of effective memory the job may use */
    uint64_t memory_limit;   /* memory_fraction * effective memory, bytes */
    uint64_t threads;        /* worker threads */
    uint64_t batch_size;     /* items per batch */
    uint64_t chunk_rows;     /* rows per chunk */
    char memory_fraction_why[160], threads_why[160], batch_size_why[160], chunk_rows_why[160];
} memgov_recommendation;

/* Recommends settings for data_bytes of input (0 = unknown) made of rows of row_bytes (0 = 1 KiB) on the
 * machine `probe` describes (its effective_memory and usable_cpus; NULL = probe the real machine), within the
 * bounds of cfg's keys (threads.*, batch.*, chunk.*). Writes up to out->struct_size bytes.
 * Errors: MEMGOV_EINVAL (cfg or out NULL, bad struct_size), MEMGOV_ESTATE (effective memory unknown). */
MEMGOV_API memgov_status memgov_config_recommend(const memgov_config *cfg, const memgov_probe *probe,
                                                 uint64_t data_bytes, uint64_t row_bytes,
                                                 memgov_recommendation *out);

/* ---- history and dumps ------------------------------------------------------------------------------------- */

/* One change of a value (or of the mode: key "mode"). Texts are cut to their buffers. */
typedef struct memgov_config_change {
    size_t struct_size;
    char key[96];
    char old_value[128], new_value[128];
    char source[160];        /* "default", "FILE:LINE", "env MEMGOV_X", "api" */
    char reason[160];        /* e.g. "set", "clamped from 200% to the maximum 100%", "mode overlay light" */
    uint64_t time_ns;        /* CLOCK_REALTIME when it happened */
} memgov_config_change;

/* The history keeps the most recent MEMGOV_CONFIG_HISTORY_MAX changes; older ones are dropped. */
#define MEMGOV_CONFIG_HISTORY_MAX 1024

/* Number of changes kept (defaults are not changes), at most MEMGOV_CONFIG_HISTORY_MAX. 0 if cfg is NULL. */
MEMGOV_API size_t memgov_config_history_count(const memgov_config *cfg);
/* Copies the i-th change (oldest first) into *out (up to out->struct_size bytes). Errors: MEMGOV_EINVAL,
 * MEMGOV_ENOTFOUND (i out of range). */
MEMGOV_API memgov_status memgov_config_history_get(const memgov_config *cfg, size_t i, memgov_config_change *out);

#define MEMGOV_CONFIG_DUMP_JSON (1u << 0)  /* JSON instead of text */
#define MEMGOV_CONFIG_DUMP_DOCS (1u << 1)  /* add each key's type, default, bounds and doc line */

/* Writes the effective configuration (every key, its current value, its source, overlays, and the mode) as
 * text or JSON (MEMGOV_CONFIG_DUMP_* flags) into buf, NUL-terminated when size > 0; *needed gets the full
 * length (like snprintf). Strings are escaped: in JSON every string is valid JSON (control characters escaped,
 * bytes that are not UTF-8 written as U+FFFD); in text a control character is written as \n, \t or \xNN and a
 * backslash doubled, so a value never starts a line. Errors: MEMGOV_EINVAL, MEMGOV_ERANGE (buf too small: call
 * again with *needed + 1; buf then holds a NUL-terminated prefix). */
MEMGOV_API memgov_status memgov_config_dump(const memgov_config *cfg, unsigned flags, char *buf, size_t size,
                                            size_t *needed);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_CONFIG_H */
