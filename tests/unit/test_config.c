/* Specification of the configuration: typed keys, units, sources and precedence, overlays, validation,
 * recommendations, history and dumps. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "memgov/config.h"
#include "memgov/probe.h"
#include "support.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define GiB (1024ull * 1024 * 1024)

static memgov_config *new_config(void)
{
    memgov_config *cfg = NULL;
    assert_int_equal(memgov_config_create(&cfg), MEMGOV_OK);
    assert_int_equal(memgov_config_set_effective_memory(cfg, 8 * GiB), MEMGOV_OK);
    return cfg;
}

static memgov_status load(memgov_config *cfg, const char *text, unsigned flags, memgov_config_result *res)
{
    return memgov_config_load_string(cfg, text, strlen(text), "t.ini", flags, res);
}

static int has_message(const memgov_config_result *res, memgov_config_severity sev, const char *needle)
{
    for (size_t i = 0; i < memgov_config_result_size(res); i++) {
        memgov_config_severity s;
        const char *m = memgov_config_result_message(res, i, &s);
        if (s == sev && strstr(m, needle) != NULL)
            return 1;
    }
    return 0;
}

static uint64_t size_of(memgov_config *cfg, const char *key)
{
    uint64_t v = 0;
    assert_int_equal(memgov_config_get_size(cfg, key, &v), MEMGOV_OK);
    return v;
}

static void the_root_limit_defaults_to_90_percent_of_effective_memory(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(size_of(cfg, "root.limit"), 8 * GiB * 9 / 10); /* rounded down */
    memgov_config_source src = MEMGOV_CONFIG_SRC_API;
    char text[32];
    assert_int_equal(memgov_config_get_text(cfg, "root.limit", text, sizeof text, NULL, &src), MEMGOV_OK);
    assert_string_equal(text, "90%");
    assert_int_equal(src, MEMGOV_CONFIG_SRC_DEFAULT);
    double light = 0;
    assert_int_equal(memgov_config_get_double(cfg, "fallback.light_enter", &light), MEMGOV_OK);
    assert_true(light == 0.70);
    uint64_t ns = 0;
    assert_int_equal(memgov_config_get_duration(cfg, "monitor.interval", &ns), MEMGOV_OK);
    assert_int_equal(ns, 1000000000u); /* 1s */
    memgov_config_destroy(cfg);
}

static void sizes_accept_binary_and_decimal_units_and_fractions(void **state)
{
    (void)state;
    static const struct { const char *text; uint64_t bytes; } cases[] = {
        {"512", 512},         {"512B", 512},          {"512K", 512 * KiB},  {"64KiB", 64 * KiB},
        {"64MiB", 64 * MiB},  {"64M", 64 * MiB},      {"6G", 6 * GiB},      {"1.5GiB", 3 * GiB / 2},
        {"2 GiB", 2 * GiB},   {"1GB", 1000000000ull}, {"1TiB", 1024 * GiB}, {"50%", 4 * GiB},
        {"12.5%", 1 * GiB},
    };
    memgov_config *cfg = new_config();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(memgov_config_set(cfg, "gpu.limit", cases[i].text), MEMGOV_OK);
        assert_int_equal(size_of(cfg, "gpu.limit"), cases[i].bytes);
    }
    memgov_config_destroy(cfg);
}

static void bad_sizes_are_refused_with_the_right_status(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(memgov_config_set(cfg, "gpu.limit", "16EiB"), MEMGOV_ETYPE);
    assert_int_equal(memgov_config_set(cfg, "gpu.limit", "17179869184GiB"), MEMGOV_EOVERFLOW);
    assert_non_null(strstr(memgov_last_error(), "gpu.limit"));
    assert_int_equal(memgov_config_set(cfg, "gpu.limit", "99999999999999999999999"), MEMGOV_EOVERFLOW);
    assert_int_equal(memgov_config_set(cfg, "gpu.limit", "-5MiB"), MEMGOV_ERANGE);
    assert_int_equal(memgov_config_set(cfg, "gpu.limit", "lots"), MEMGOV_ETYPE);
    assert_int_equal(memgov_config_set(cfg, "gpu.limit", ""), MEMGOV_ETYPE);
    assert_int_equal(memgov_config_set(cfg, "monitor.interval", "100"), MEMGOV_ETYPE);
    assert_int_equal(memgov_config_set(cfg, "monitor.interval", "20000000000h"), MEMGOV_EOVERFLOW);
    assert_int_equal(memgov_config_set(cfg, "root.limit", "150%"), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "1MiB..100%"));
    assert_int_equal(memgov_config_set(cfg, "chunk.rows_min", "-1"), MEMGOV_ERANGE);
    assert_int_equal(memgov_config_set(cfg, "fallback.enabled", "maybe"), MEMGOV_ETYPE);
    assert_int_equal(memgov_config_set(cfg, "memmap.placement", "cloud"), MEMGOV_ETYPE);
    assert_int_equal(memgov_config_set(cfg, "no.such", "1"), MEMGOV_ENOTFOUND);
    assert_int_equal(size_of(cfg, "gpu.limit"), 0); /* nothing above changed it */
    memgov_config_destroy(cfg);
}

static void durations_take_units_from_ns_to_hours(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    static const struct { const char *text; uint64_t ns; } cases[] = {
        {"250us", 250000}, {"2s", 2000000000ull}, {"1.5s", 1500000000ull}, {"1min", 60000000000ull}, {"1h", 3600000000000ull}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ns;
        assert_int_equal(memgov_config_set(cfg, "fallback.dwell", cases[i].text), MEMGOV_OK);
        assert_int_equal(memgov_config_get_duration(cfg, "fallback.dwell", &ns), MEMGOV_OK);
        assert_int_equal(ns, cases[i].ns);
    }
    memgov_config_destroy(cfg);
}

static void a_typed_get_of_another_type_is_refused(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    uint64_t u;
    double d;
    assert_int_equal(memgov_config_get_unsigned(cfg, "root.limit", &u), MEMGOV_ETYPE);
    assert_non_null(strstr(memgov_last_error(), "is a size"));
    assert_int_equal(memgov_config_get_double(cfg, "nope", &d), MEMGOV_ENOTFOUND);
    char small[3];
    size_t needed = 0;
    assert_int_equal(memgov_config_set(cfg, "memmap.dir", "/tmp"), MEMGOV_OK);
    assert_int_equal(memgov_config_get_text(cfg, "memmap.dir", small, sizeof small, &needed, NULL), MEMGOV_ERANGE);
    assert_int_equal(needed, 4);
    assert_string_equal(small, "/t");
    memgov_config_destroy(cfg);
}

static void a_file_with_comments_quotes_crlf_sections_and_env_lines_loads(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    const char *text = "# comment\r\n; another\r\n\r\nroot.limit = 4GiB   # inline\r\n"
                       "[memmap]\r\ndir = \"/data/spill dir\" ; quoted\r\nplacement='disk'\r\n"
                       "[threads]\nmax=8\nMEMGOV_BATCH_MAX=64\nexport MEMGOV_CHUNK_ROWS_MIN = 2048\n";
    assert_int_equal(load(cfg, text, 0, res), MEMGOV_OK);
    assert_int_equal(memgov_config_result_size(res), 0);
    assert_int_equal(size_of(cfg, "root.limit"), 4 * GiB);
    char dir[64];
    memgov_config_source src;
    assert_int_equal(memgov_config_get_text(cfg, "memmap.dir", dir, sizeof dir, NULL, &src), MEMGOV_OK);
    assert_string_equal(dir, "/data/spill dir");
    assert_int_equal(src, MEMGOV_CONFIG_SRC_FILE);
    assert_int_equal(memgov_config_get_text(cfg, "memmap.placement", dir, sizeof dir, NULL, NULL), MEMGOV_OK);
    assert_string_equal(dir, "disk");
    uint64_t v;
    assert_int_equal(memgov_config_get_unsigned(cfg, "threads.max", &v), MEMGOV_OK);
    assert_int_equal(v, 8);
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.max", &v), MEMGOV_OK);
    assert_int_equal(v, 64);
    assert_int_equal(memgov_config_get_unsigned(cfg, "chunk.rows_min", &v), MEMGOV_OK);
    assert_int_equal(v, 2048);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static void empty_text_and_comment_only_text_change_nothing(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(memgov_config_load_string(cfg, NULL, 0, NULL, 0, NULL), MEMGOV_OK);
    assert_int_equal(load(cfg, "", 0, NULL), MEMGOV_OK);
    assert_int_equal(load(cfg, "# only\n;comments\n   \n", 0, NULL), MEMGOV_OK);
    assert_int_equal(memgov_config_history_count(cfg), 0);
    memgov_config_destroy(cfg);
}

static void syntax_errors_name_the_line_and_the_rest_still_loads(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    const char text[] = "batch.max = 10\nno equals sign\n[broken\nbad key! = 1\nmemmap.dir = \"open\n"
                        "gpu.limit = 1\0GiB\n\xff\xfe\x01 = 3\nbatch.min = 2\n";
    assert_int_equal(memgov_config_load_string(cfg, text, sizeof text - 1, "g.ini", 0, res), MEMGOV_EPARSE);
    assert_true(has_message(res, MEMGOV_CONFIG_ERROR, "g.ini:2: expected 'key = value'"));
    assert_true(has_message(res, MEMGOV_CONFIG_ERROR, "g.ini:3: malformed section"));
    assert_true(has_message(res, MEMGOV_CONFIG_ERROR, "g.ini:4: malformed key"));
    assert_true(has_message(res, MEMGOV_CONFIG_ERROR, "g.ini:5: key 'memmap.dir': unterminated quote"));
    assert_true(has_message(res, MEMGOV_CONFIG_ERROR, "g.ini:6: the line holds a NUL byte"));
    assert_true(has_message(res, MEMGOV_CONFIG_ERROR, "g.ini:7: malformed key"));
    assert_int_equal(memgov_config_result_count(res, MEMGOV_CONFIG_ERROR), 6);
    uint64_t v;
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.min", &v), MEMGOV_OK);
    assert_int_equal(v, 2); /* non-strict: the valid lines applied */
    assert_int_equal(size_of(cfg, "gpu.limit"), 0);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static void non_strict_clamps_and_reports_the_correction(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    assert_int_equal(load(cfg, "x = 1\nroot.limit = 200%\nfallback.critical = 1.5\n", 0, res), MEMGOV_OK);
    assert_true(has_message(res, MEMGOV_CONFIG_CORRECTION,
                            "t.ini:2: key 'root.limit' value '200%' is above its maximum; corrected to 100% "
                            "(allowed 1MiB..100%)"));
    assert_true(has_message(res, MEMGOV_CONFIG_CORRECTION, "t.ini:3: key 'fallback.critical' value '1.5'"));
    assert_int_equal(memgov_config_result_count(res, MEMGOV_CONFIG_WARNING), 1);
    assert_int_equal(size_of(cfg, "root.limit"), 8 * GiB);
    double d;
    assert_int_equal(memgov_config_get_double(cfg, "fallback.critical", &d), MEMGOV_OK);
    assert_true(d == 1.0);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static void strict_refuses_out_of_bounds_and_applies_nothing(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    assert_int_equal(load(cfg, "batch.max = 10\nroot.limit = 200%\n", MEMGOV_CONFIG_STRICT, res), MEMGOV_ERANGE);
    assert_true(has_message(res, MEMGOV_CONFIG_ERROR,
                            "t.ini:2: key 'root.limit' value '200%' is above its maximum 100% (allowed 1MiB..100%)"));
    assert_non_null(strstr(memgov_last_error(), "t.ini:2"));
    uint64_t v;
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.max", &v), MEMGOV_OK);
    assert_int_equal(v, 1024);
    assert_int_equal(memgov_config_history_count(cfg), 0);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static void an_unknown_key_is_a_warning_with_a_did_you_mean(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    assert_int_equal(load(cfg, "root.limt = 1GiB\nMEMGOV_BATCH_MAXX=3\ntotally.unrelated.thing = 1\n", 0, res),
                     MEMGOV_OK);
    assert_true(has_message(res, MEMGOV_CONFIG_WARNING, "t.ini:1: unknown key 'root.limt' ignored (did you mean "
                                                        "'root.limit'?)"));
    assert_true(has_message(res, MEMGOV_CONFIG_WARNING, "(did you mean 'MEMGOV_BATCH_MAX'?)"));
    assert_true(has_message(res, MEMGOV_CONFIG_WARNING, "unknown key 'totally.unrelated.thing' ignored\0"));
    assert_int_equal(memgov_config_set(cfg, "batch.mx", "3"), MEMGOV_ENOTFOUND);
    assert_non_null(strstr(memgov_last_error(), "did you mean 'batch.max'"));
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static void inverted_hysteresis_and_empty_ranges_are_warned_about(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    assert_int_equal(load(cfg, "fallback.light_exit = 0.8\n[mode.light]\nbatch.min = 50\nbatch.max = 10\n", 0, res),
                     MEMGOV_OK);
    assert_true(has_message(res, MEMGOV_CONFIG_WARNING, "fallback.light_exit = 0.8 (t.ini:1) must be below "
                                                        "fallback.light_enter = 0.70 (default) in mode normal"));
    assert_true(has_message(res, MEMGOV_CONFIG_WARNING, "batch.min = 50 (t.ini:3) must be at most batch.max = 10 "
                                                        "(t.ini:4) in mode light"));
    assert_int_equal(memgov_config_result_count(res, MEMGOV_CONFIG_WARNING), 3); /* + minimal inherits light */
    memgov_config_result_destroy(res);
    memgov_config_result_create(&res);
    memgov_config *fresh = new_config();
    assert_int_equal(load(fresh, "threads.min = 8\n", 0, res), MEMGOV_OK);
    assert_int_equal(memgov_config_result_size(res), 0); /* threads.max 0 means the CPUs: no range to break */
    memgov_config_destroy(fresh);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static void a_duplicate_key_warns_and_the_later_value_wins(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    assert_int_equal(load(cfg, "batch.max = 10\nbatch.max = 20\n", 0, res), MEMGOV_OK);
    assert_true(has_message(res, MEMGOV_CONFIG_WARNING, "t.ini:2: duplicate key 'batch.max' (first set at t.ini:1)"));
    uint64_t v;
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.max", &v), MEMGOV_OK);
    assert_int_equal(v, 20);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static void sources_take_precedence_default_file_env_api_whatever_the_order(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    char where[64];
    uint64_t v;
    assert_int_equal(memgov_config_set(cfg, "batch.max", "7"), MEMGOV_OK);
    setenv("MEMGOV_BATCH_MAX", "9", 1);
    setenv("MEMGOV_BATCH_MIN", "3", 1);
    assert_int_equal(memgov_config_load_env(cfg, 0, NULL), MEMGOV_OK);
    assert_int_equal(load(cfg, "batch.max = 11\nbatch.min = 5\nthreads.min = 2\n", 0, NULL), MEMGOV_OK);
    unsetenv("MEMGOV_BATCH_MAX");
    unsetenv("MEMGOV_BATCH_MIN");
    memgov_config_source src;
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.max", &v), MEMGOV_OK);
    assert_int_equal(v, 7); /* API beats env and file */
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.min", &v), MEMGOV_OK);
    assert_int_equal(v, 3); /* env beats the later file */
    assert_int_equal(memgov_config_get_text(cfg, "batch.min", where, sizeof where, NULL, &src), MEMGOV_OK);
    assert_int_equal(src, MEMGOV_CONFIG_SRC_ENV);
    assert_int_equal(memgov_config_get_unsigned(cfg, "threads.min", &v), MEMGOV_OK);
    assert_int_equal(v, 2); /* file beats the default */
    size_t need;
    assert_int_equal(memgov_config_dump(cfg, MEMGOV_CONFIG_DUMP_JSON, NULL, 0, &need), MEMGOV_ERANGE);
    char *dump = malloc(need + 1);
    assert_int_equal(memgov_config_dump(cfg, MEMGOV_CONFIG_DUMP_JSON, dump, need + 1, NULL), MEMGOV_OK);
    assert_non_null(strstr(dump, "\"key\": \"batch.min\", \"type\": \"unsigned\", \"value\": \"3\", "
                                 "\"source\": \"env\", \"where\": \"env MEMGOV_BATCH_MIN\""));
    assert_non_null(strstr(dump, "\"key\": \"threads.min\", \"type\": \"unsigned\", \"value\": \"2\", "
                                 "\"source\": \"file\", \"where\": \"t.ini:3\""));
    free(dump);
    memgov_config_destroy(cfg);
}

static void mode_overlays_resolve_for_the_current_mode(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    const char *text = "batch.max = 100\nchunk.rows_max = 5000\n[mode.light]\nbatch.max = 50\n"
                       "[mode.minimal]\nchunk.rows_max = 1000\n";
    assert_int_equal(load(cfg, text, 0, NULL), MEMGOV_OK);
    uint64_t b, r;
    assert_int_equal(memgov_config_mode(cfg), MEMGOV_MODE_NORMAL);
    memgov_config_get_unsigned(cfg, "batch.max", &b);
    memgov_config_get_unsigned(cfg, "chunk.rows_max", &r);
    assert_int_equal(b, 100);
    assert_int_equal(r, 5000);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT), MEMGOV_OK);
    memgov_config_get_unsigned(cfg, "batch.max", &b);
    memgov_config_get_unsigned(cfg, "chunk.rows_max", &r);
    assert_int_equal(b, 50);
    assert_int_equal(r, 5000);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_MINIMAL), MEMGOV_OK);
    memgov_config_get_unsigned(cfg, "batch.max", &b);
    memgov_config_get_unsigned(cfg, "chunk.rows_max", &r);
    assert_int_equal(b, 50); /* MINIMAL falls back to LIGHT's overlay */
    assert_int_equal(r, 1000);
    assert_int_equal(memgov_config_set_for_mode(cfg, MEMGOV_MODE_MINIMAL, "batch.max", "10"), MEMGOV_OK);
    memgov_config_get_unsigned(cfg, "batch.max", &b);
    assert_int_equal(b, 10);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_NORMAL), MEMGOV_OK);
    memgov_config_get_unsigned(cfg, "batch.max", &b);
    assert_int_equal(b, 100);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_COUNT_), MEMGOV_EINVAL);
    memgov_config_destroy(cfg);
}

static void applications_register_their_own_keys(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_key k;
    memgov_config_key_init(&k);
    k.name = "autofeat.max_gb";
    k.type = MEMGOV_CONFIG_DOUBLE;
    k.default_value = "4";
    k.min = "0.5";
    k.max = "64";
    k.doc = "memory autofeat may use, in GB";
    assert_int_equal(memgov_config_register(cfg, &k), MEMGOV_OK);
    assert_int_equal(memgov_config_register(cfg, &k), MEMGOV_EEXIST);
    k.name = "sklearn.n_jobs";
    k.type = MEMGOV_CONFIG_INT;
    k.default_value = "-1";
    k.min = "-1";
    k.max = "256";
    assert_int_equal(memgov_config_register(cfg, &k), MEMGOV_OK);
    k.name = "grid.batch_size";
    k.type = MEMGOV_CONFIG_UNSIGNED;
    k.default_value = "0";
    k.min = "1";
    assert_int_equal(memgov_config_register(cfg, &k), MEMGOV_ERANGE);
    k.name = "bad name";
    assert_int_equal(memgov_config_register(cfg, &k), MEMGOV_EINVAL);
    k.name = "e.mode";
    k.type = MEMGOV_CONFIG_ENUM;
    k.default_value = "a";
    k.min = k.max = NULL;
    assert_int_equal(memgov_config_register(cfg, &k), MEMGOV_EINVAL); /* no choices */
    setenv("MEMGOV_SKLEARN_N_JOBS", "4", 1);
    assert_int_equal(memgov_config_load_env(cfg, 0, NULL), MEMGOV_OK);
    unsetenv("MEMGOV_SKLEARN_N_JOBS");
    assert_int_equal(load(cfg, "[autofeat]\nmax_gb = 100\n", MEMGOV_CONFIG_STRICT, NULL), MEMGOV_ERANGE);
    double gb;
    int64_t jobs;
    assert_int_equal(memgov_config_get_double(cfg, "autofeat.max_gb", &gb), MEMGOV_OK);
    assert_true(gb == 4.0);
    assert_int_equal(memgov_config_get_int(cfg, "sklearn.n_jobs", &jobs), MEMGOV_OK);
    assert_int_equal(jobs, 4);
    memgov_config_destroy(cfg);
}

static void history_records_every_change_with_its_source_and_reason(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(load(cfg, "batch.max = 2000000\n", 0, NULL), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "batch.max", "12"), MEMGOV_OK);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT), MEMGOV_OK);
    assert_int_equal(memgov_config_history_count(cfg), 3);
    memgov_config_change c = {.struct_size = sizeof c};
    assert_int_equal(memgov_config_history_get(cfg, 0, &c), MEMGOV_OK);
    assert_string_equal(c.key, "batch.max");
    assert_string_equal(c.old_value, "1024");
    assert_string_equal(c.new_value, "1000000");
    assert_string_equal(c.source, "t.ini:1");
    assert_string_equal(c.reason, "clamped from 2000000 to the maximum 1000000");
    assert_true(c.time_ns > 0);
    assert_int_equal(memgov_config_history_get(cfg, 1, &c), MEMGOV_OK);
    assert_string_equal(c.old_value, "1000000");
    assert_string_equal(c.new_value, "12");
    assert_string_equal(c.source, "api");
    assert_int_equal(memgov_config_history_get(cfg, 2, &c), MEMGOV_OK);
    assert_string_equal(c.key, "mode");
    assert_string_equal(c.new_value, "light");
    assert_int_equal(memgov_config_history_get(cfg, 3, &c), MEMGOV_ENOTFOUND);
    memgov_config_destroy(cfg);
}

static void the_history_keeps_the_most_recent_changes(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    char text[32];
    for (int i = 0; i < MEMGOV_CONFIG_HISTORY_MAX + 5; i++) {
        snprintf(text, sizeof text, "%d", 1 + i);
        assert_int_equal(memgov_config_set(cfg, "batch.max", text), MEMGOV_OK);
    }
    assert_int_equal(memgov_config_history_count(cfg), MEMGOV_CONFIG_HISTORY_MAX);
    memgov_config_change c = {.struct_size = sizeof c};
    assert_int_equal(memgov_config_history_get(cfg, 0, &c), MEMGOV_OK);
    assert_string_equal(c.new_value, "6");
    assert_int_equal(memgov_config_history_get(cfg, MEMGOV_CONFIG_HISTORY_MAX - 1, &c), MEMGOV_OK);
    assert_string_equal(c.new_value, "1029");
    memgov_config_destroy(cfg);
}

static void percentages_load_while_the_effective_memory_is_unknown(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(memgov_config_set_effective_memory(cfg, 0), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "root.limit", "80%"), MEMGOV_OK);
    assert_int_equal(size_of(cfg, "root.limit"), 0);
    assert_int_equal(memgov_config_set(cfg, "root.limit", "512KiB"), MEMGOV_ERANGE);
    memgov_config_destroy(cfg);
}

static void the_text_dump_shows_values_sources_and_overlays(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(load(cfg, "[mode.light]\nbatch.max = 5\n", 0, NULL), MEMGOV_OK);
    char buf[16384];
    assert_int_equal(memgov_config_dump(cfg, MEMGOV_CONFIG_DUMP_DOCS, buf, sizeof buf, NULL), MEMGOV_OK);
    assert_non_null(strstr(buf, "# mode normal, effective memory 8.00 GiB"));
    assert_non_null(strstr(buf, "root.limit = 90% (7.20 GiB)  # from default"));
    assert_non_null(strstr(buf, "batch.max = 1024  # from default; light: 5 from t.ini:2"));
    assert_non_null(strstr(buf, "allowed 1MiB..100%"));
    memgov_config_destroy(cfg);
}

static memgov_recommendation recommend(memgov_config *cfg, uint64_t mem, unsigned cpus, uint64_t data)
{
    memgov_probe p = {.struct_size = sizeof p, .effective_memory = mem, .usable_cpus = cpus};
    memgov_recommendation r = {.struct_size = sizeof r};
    assert_int_equal(memgov_config_recommend(cfg, &p, data, 0, &r), MEMGOV_OK);
    return r;
}

static void recommendations_match_the_tier_table(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_recommendation r = recommend(cfg, 8 * GiB, 8, 0);
    assert_true(r.batch_size >= 20 && r.batch_size <= 30);
    assert_true(r.threads >= 4 && r.threads <= 6);
    assert_true(r.memory_fraction >= 0.83 && r.memory_fraction <= 0.87);
    assert_true(r.threads_why[0] != '\0' && r.batch_size_why[0] != '\0' && r.chunk_rows_why[0] != '\0');
    r = recommend(cfg, 16 * GiB, 16, 0);
    assert_true(r.batch_size >= 60 && r.batch_size <= 80);
    assert_true(r.threads >= 8 && r.threads <= 12);
    assert_true(r.memory_fraction >= 0.90 && r.memory_fraction <= 0.93);
    r = recommend(cfg, 32 * GiB, 16, 0);
    assert_true(r.batch_size >= 100 && r.batch_size <= 120);
    assert_true(r.threads >= 12 && r.threads <= 16);
    assert_true(r.memory_fraction == 0.95);
    memgov_recommendation big = recommend(cfg, 32 * GiB, 16, 2 * GiB);
    assert_true(big.batch_size < r.batch_size && big.threads < r.threads);
    assert_non_null(strstr(big.threads_why, "data >= 1 GiB"));
    memgov_config_destroy(cfg);
}

static void lighter_modes_recommend_lighter_settings(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_recommendation normal = recommend(cfg, 32 * GiB, 16, 0);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT), MEMGOV_OK);
    memgov_recommendation light = recommend(cfg, 32 * GiB, 16, 0);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_MINIMAL), MEMGOV_OK);
    memgov_recommendation minimal = recommend(cfg, 32 * GiB, 16, 0);
    assert_float_equal(light.memory_fraction, normal.memory_fraction / 2, 1e-12);
    assert_float_equal(minimal.memory_fraction, normal.memory_fraction / 4, 1e-12);
    assert_true(light.threads < normal.threads && minimal.threads < light.threads);
    assert_true(light.batch_size < normal.batch_size && minimal.batch_size < light.batch_size);
    assert_true(light.chunk_rows <= normal.chunk_rows && minimal.chunk_rows <= light.chunk_rows);
    assert_non_null(strstr(light.memory_fraction_why, "light mode"));
    assert_int_equal(memgov_config_set_for_mode(cfg, MEMGOV_MODE_LIGHT, "threads.max", "2"), MEMGOV_OK);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT), MEMGOV_OK);
    assert_int_equal(recommend(cfg, 32 * GiB, 16, 0).threads, 2); /* an overlay bounds the lighter plan too */
    memgov_config_destroy(cfg);
}

static memgov_recommendation recommend_fixture(memgov_config *cfg, const char *name)
{
    memgov_probe p = mg_test_probe_fixture(name);
    memgov_recommendation r = {.struct_size = sizeof r};
    assert_int_equal(memgov_config_recommend(cfg, &p, 0, 0, &r), MEMGOV_OK);
    return r;
}

static void recommendations_on_fixture_machines_follow_the_tiers_and_the_container(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_recommendation r = recommend_fixture(cfg, "none"); /* 8 GiB, 4 CPUs */
    assert_true(r.batch_size >= 20 && r.batch_size <= 30);
    assert_int_equal(r.threads, 4);
    r = recommend_fixture(cfg, "host-16g"); /* 16 GiB, 16 CPUs */
    assert_true(r.batch_size >= 60 && r.batch_size <= 80);
    assert_true(r.threads >= 8 && r.threads <= 12);
    r = recommend_fixture(cfg, "host-32g"); /* 32 GiB, 16 CPUs */
    assert_true(r.batch_size >= 100 && r.batch_size <= 120);
    assert_true(r.threads >= 12 && r.threads <= 16);
    r = recommend_fixture(cfg, "container-512m"); /* a 64 GiB host, but 512 MiB and 1.5 CPUs for us */
    assert_int_equal(r.memory_limit, 256 * MiB);
    assert_int_equal(r.threads, 1);
    assert_int_equal(r.batch_size, 1);
    memgov_config_destroy(cfg);
}

static void recommendations_respect_cores_a_small_container_and_small_data(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_recommendation r = recommend(cfg, 32 * GiB, 2, 0);
    assert_int_equal(r.threads, 2);
    assert_true(r.batch_size <= 14);
    r = recommend(cfg, 512 * MiB, 2, 0);
    assert_true(r.memory_fraction == 0.5);
    assert_int_equal(r.memory_limit, 256 * MiB);
    assert_int_equal(r.threads, 1);
    assert_int_equal(r.batch_size, 1);
    r = recommend(cfg, 8 * GiB, 4, 100 * KiB);
    assert_int_equal(r.chunk_rows, 100);
    memgov_probe unknown = {.struct_size = sizeof unknown};
    assert_int_equal(memgov_config_recommend(cfg, &unknown, 0, 0, &r), MEMGOV_ESTATE);
    memgov_config_destroy(cfg);
}

typedef struct heard {
    int calls;
    char last[64];
    memgov_config_listener_fn self;
    uint64_t batch_max_seen;
} heard;

static void listen(memgov_config *cfg, const char *key, void *user)
{
    heard *h = user;
    h->calls++;
    snprintf(h->last, sizeof h->last, "%s", key != NULL ? key : "(load)");
    /* A listener may read the configuration: no lock is held while it runs. */
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.max", &h->batch_max_seen), MEMGOV_OK);
}

static void listeners_hear_sets_mode_changes_and_loads_until_removed(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    heard h = {0};
    uint64_t id = 0;
    assert_int_equal(memgov_config_add_listener(cfg, listen, &h, &id), MEMGOV_OK);
    assert_true(id != 0);
    assert_int_equal(memgov_config_set(cfg, "batch.max", "77"), MEMGOV_OK);
    assert_int_equal(h.calls, 1);
    assert_string_equal(h.last, "batch.max");
    assert_int_equal(h.batch_max_seen, 77);
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT), MEMGOV_OK);
    assert_string_equal(h.last, "mode");
    assert_int_equal(memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT), MEMGOV_OK); /* no change, no call */
    assert_int_equal(h.calls, 2);
    assert_int_equal(load(cfg, "batch.min = 2\n", 0, NULL), MEMGOV_OK);
    assert_int_equal(h.calls, 3);
    assert_string_equal(h.last, "(load)");
    assert_int_equal(load(cfg, "# nothing\n", 0, NULL), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "batch.max", "0"), MEMGOV_ERANGE); /* refused: no call */
    assert_int_equal(h.calls, 3);
    assert_int_equal(memgov_config_remove_listener(cfg, id), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "batch.max", "5"), MEMGOV_OK);
    assert_int_equal(h.calls, 3);
    assert_int_equal(memgov_config_remove_listener(cfg, id), MEMGOV_ENOTFOUND);
    uint64_t ids[MEMGOV_CONFIG_MAX_LISTENERS];
    for (int i = 0; i < MEMGOV_CONFIG_MAX_LISTENERS; i++) {
        assert_int_equal(memgov_config_add_listener(cfg, listen, &h, &ids[i]), MEMGOV_OK);
        assert_true(ids[i] > id); /* never reused: the removed id stays retired */
        assert_true(i == 0 || ids[i] > ids[i - 1]);
    }
    assert_int_equal(memgov_config_add_listener(cfg, listen, &h, NULL), MEMGOV_ERANGE); /* the table is full */
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_CONFIG_MAX_LISTENERS"));
    assert_int_equal(memgov_config_remove_listener(cfg, ids[3]), MEMGOV_OK); /* a slot frees up */
    uint64_t again = 0;
    assert_int_equal(memgov_config_add_listener(cfg, listen, &h, &again), MEMGOV_OK);
    assert_true(again > ids[MEMGOV_CONFIG_MAX_LISTENERS - 1]);
    assert_int_equal(memgov_config_add_listener(cfg, NULL, &h, NULL), MEMGOV_EINVAL);
    memgov_config_destroy(cfg);
}

static void count_call(memgov_config *cfg, const char *key, void *user)
{
    (void)cfg;
    (void)key;
    __atomic_add_fetch((int *)user, 1, __ATOMIC_RELAXED);
}

static void *setter(void *arg)
{
    for (int i = 0; i < 3000; i++)
        memgov_config_set(arg, "batch.min", i % 2 ? "1" : "2");
    return NULL;
}

/* Under ASan, a listener call after remove_listener returned would touch freed memory and fail the test. */
static void after_remove_listener_returns_the_listener_data_may_be_freed(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    int *counter = calloc(1, sizeof *counter);
    uint64_t id;
    assert_int_equal(memgov_config_add_listener(cfg, count_call, counter, &id), MEMGOV_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, setter, cfg), 0);
    while (__atomic_load_n(counter, __ATOMIC_RELAXED) < 100)
        sched_yield();
    assert_int_equal(memgov_config_remove_listener(cfg, id), MEMGOV_OK);
    int seen = __atomic_load_n(counter, __ATOMIC_RELAXED);
    free(counter);
    pthread_join(t, NULL);
    assert_true(seen >= 100);
    memgov_config_destroy(cfg);
}

static void *hammer(void *arg)
{
    memgov_config *cfg = arg;
    char text[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(text, sizeof text, "%d", 1 + i % 100);
        if (memgov_config_set(cfg, "batch.min", text) != MEMGOV_OK)
            return (void *)1;
        uint64_t v;
        if (memgov_config_get_unsigned(cfg, "batch.min", &v) != MEMGOV_OK || v < 1 || v > 100)
            return (void *)1;
        if (memgov_config_get_size(cfg, "root.limit", &v) != MEMGOV_OK)
            return (void *)1;
    }
    return NULL;
}

static void concurrent_gets_and_sets_are_safe(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, cfg), 0);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        assert_null(rc);
    }
    assert_int_equal(memgov_config_history_count(cfg), MEMGOV_CONFIG_HISTORY_MAX);
    memgov_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_root_limit_defaults_to_90_percent_of_effective_memory),
        cmocka_unit_test(sizes_accept_binary_and_decimal_units_and_fractions),
        cmocka_unit_test(bad_sizes_are_refused_with_the_right_status),
        cmocka_unit_test(durations_take_units_from_ns_to_hours),
        cmocka_unit_test(a_typed_get_of_another_type_is_refused),
        cmocka_unit_test(a_file_with_comments_quotes_crlf_sections_and_env_lines_loads),
        cmocka_unit_test(empty_text_and_comment_only_text_change_nothing),
        cmocka_unit_test(syntax_errors_name_the_line_and_the_rest_still_loads),
        cmocka_unit_test(non_strict_clamps_and_reports_the_correction),
        cmocka_unit_test(strict_refuses_out_of_bounds_and_applies_nothing),
        cmocka_unit_test(an_unknown_key_is_a_warning_with_a_did_you_mean),
        cmocka_unit_test(a_duplicate_key_warns_and_the_later_value_wins),
        cmocka_unit_test(inverted_hysteresis_and_empty_ranges_are_warned_about),
        cmocka_unit_test(sources_take_precedence_default_file_env_api_whatever_the_order),
        cmocka_unit_test(mode_overlays_resolve_for_the_current_mode),
        cmocka_unit_test(applications_register_their_own_keys),
        cmocka_unit_test(history_records_every_change_with_its_source_and_reason),
        cmocka_unit_test(the_history_keeps_the_most_recent_changes),
        cmocka_unit_test(percentages_load_while_the_effective_memory_is_unknown),
        cmocka_unit_test(the_text_dump_shows_values_sources_and_overlays),
        cmocka_unit_test(recommendations_match_the_tier_table),
        cmocka_unit_test(lighter_modes_recommend_lighter_settings),
        cmocka_unit_test(recommendations_respect_cores_a_small_container_and_small_data),
        cmocka_unit_test(recommendations_on_fixture_machines_follow_the_tiers_and_the_container),
        cmocka_unit_test(listeners_hear_sets_mode_changes_and_loads_until_removed),
        cmocka_unit_test(after_remove_listener_returns_the_listener_data_may_be_freed),
        cmocka_unit_test(concurrent_gets_and_sets_are_safe),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
