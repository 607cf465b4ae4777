/* Hostile input to the configuration (issue 19): bounded work for repeated keys, files that are not regular or
 * too large, warnings that reach the caller of memgov_open(), escaped dumps, and clear messages. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "memgov.h"
#include "support.h"

#define GiB (1024ull * 1024 * 1024)

static memgov_config *new_config(void)
{
    memgov_config *cfg = NULL;
    assert_int_equal(memgov_config_create(&cfg), MEMGOV_OK);
    assert_int_equal(memgov_config_set_effective_memory(cfg, 8 * GiB), MEMGOV_OK);
    return cfg;
}

static size_t count_messages(const memgov_config_result *res, memgov_config_severity sev, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < memgov_config_result_size(res); i++) {
        memgov_config_severity s;
        const char *m = memgov_config_result_message(res, i, &s);
        n += s == sev && strstr(m, needle) != NULL;
    }
    return n;
}

static char scratch[64];

static const char *scratch_dir(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/mg-hostile-XXXXXX");
    assert_non_null(mkdtemp(scratch));
    return scratch;
}

static void remove_scratch(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    assert_int_equal(system(cmd), 0);
}

/* Issue 19 item 1: 1000 copies of a key give 999 warnings (one per repeat, naming the first line), not 499500. */
static void a_repeated_key_warns_once_per_repeat_naming_the_first_line(void **state)
{
    (void)state;
    size_t copies = 1000, len = 0;
    char *text = malloc(copies * 16 + 1);
    assert_non_null(text);
    for (size_t i = 0; i < copies; i++)
        len += (size_t)sprintf(text + len, "batch.max = %zu\n", i % 7 + 1);
    memgov_config *cfg = new_config();
    memgov_config_result *res = NULL;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    assert_int_equal(memgov_config_load_string(cfg, text, len, "d.ini", 0, res), MEMGOV_OK);
    assert_int_equal(memgov_config_result_size(res), copies - 1);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING, "(first set at d.ini:1)"), copies - 1);
    uint64_t v = 0;
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.max", &v), MEMGOV_OK);
    assert_int_equal(v, (copies - 1) % 7 + 1); /* the last one wins */
    /* one change in the history for the key, from the last line */
    memgov_config_change c = {.struct_size = sizeof c};
    size_t changes = 0;
    for (size_t i = 0; i < memgov_config_history_count(cfg); i++) {
        assert_int_equal(memgov_config_history_get(cfg, i, &c), MEMGOV_OK);
        if (strcmp(c.key, "batch.max") == 0) {
            changes++;
            assert_string_equal(c.source, "d.ini:1000");
        }
    }
    assert_int_equal(changes, 1);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    free(text);
}

/* Issue 19 item 2: a FIFO is refused at once (opened without blocking), not waited on forever. */
static void a_fifo_is_refused_without_blocking(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/fifo.ini", scratch_dir());
    assert_int_equal(mkfifo(path, 0600), 0);
    memgov_config *cfg = new_config();
    assert_int_equal(memgov_config_load_file(cfg, path, 0, NULL), MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), "a FIFO"));
    assert_non_null(strstr(memgov_last_error(), "regular file"));
    memgov_config_destroy(cfg);
    remove_scratch();
}

/* Issue 19 item 3 and an unclear message: a device, a directory (EISDIR) and a file above the 1 MiB cap are
 * refused with the reason; a file of exactly the cap is read. */
static void devices_directories_and_files_above_the_cap_are_refused(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(memgov_config_load_file(cfg, "/dev/zero", 0, NULL), MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), "character device"));
    const char *dir = scratch_dir();
    assert_int_equal(memgov_config_load_file(cfg, dir, 0, NULL), MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), "EISDIR"));

    char path[128];
    snprintf(path, sizeof path, "%s/big.ini", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    char *lines = malloc(MEMGOV_CONFIG_FILE_MAX);
    assert_non_null(lines);
    memset(lines, '\n', MEMGOV_CONFIG_FILE_MAX);
    assert_int_equal(write(fd, lines, MEMGOV_CONFIG_FILE_MAX), (ssize_t)MEMGOV_CONFIG_FILE_MAX);
    assert_int_equal(memgov_config_load_file(cfg, path, 0, NULL), MEMGOV_OK); /* exactly the cap: read */
    assert_int_equal(write(fd, "\n", 1), 1);
    close(fd);
    assert_int_equal(memgov_config_load_file(cfg, path, 0, NULL), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "1048577 bytes"));
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_CONFIG_FILE_MAX"));
    free(lines);
    memgov_config_destroy(cfg);
    remove_scratch();
}

/* Issue 19 item 9: MEMGOV_CONFIG_FILE names a file, it is not an unknown key. */
static void the_environment_loader_does_not_call_memgov_config_file_an_unknown_key(void **state)
{
    (void)state;
    setenv("MEMGOV_CONFIG_FILE", "/nonexistent.ini", 1);
    setenv("MEMGOV_BATCH_MAXX", "3", 1);
    memgov_config *cfg = new_config();
    memgov_config_result *res = NULL;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    assert_int_equal(memgov_config_load_env(cfg, 0, res), MEMGOV_OK);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING, "MEMGOV_CONFIG_FILE"), 0);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING, "did you mean 'MEMGOV_BATCH_MAX'"), 1);
    unsetenv("MEMGOV_CONFIG_FILE");
    unsetenv("MEMGOV_BATCH_MAXX");
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

static char *dump(memgov_config *cfg, unsigned flags)
{
    size_t need = 0;
    assert_int_equal(memgov_config_dump(cfg, flags, NULL, 0, &need), MEMGOV_ERANGE);
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    assert_int_equal(memgov_config_dump(cfg, flags, buf, need + 1, NULL), MEMGOV_OK);
    assert_int_equal(strlen(buf), need);
    return buf;
}

/* Issue 19 item 10: invalid UTF-8 becomes U+FFFD in JSON, control characters are escaped, and a newline in a
 * value does not start a new line of the text dump. */
static void dumps_escape_invalid_utf8_and_newlines(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    assert_int_equal(memgov_config_set(cfg, "memmap.dir", "/tmp/\xff\xc3(\nroot.limit = 1MiB\t\x01\"\\ \xc3\xa9"),
                     MEMGOV_OK);
    char *json = dump(cfg, MEMGOV_CONFIG_DUMP_JSON);
    assert_non_null(strstr(json, "\"/tmp/\\ufffd\\ufffd(\\nroot.limit = 1MiB\\t\\u0001\\\"\\\\ \xc3\xa9\""));
    for (const unsigned char *p = (const unsigned char *)json; *p; p++)
        assert_true(*p != 0xff && *p != 0x01);
    free(json);
    char *text = dump(cfg, 0);
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    char *line = strstr(text, "memmap.dir = ");
    assert_non_null(line);
    assert_non_null(strstr(line, "/tmp/\xff\xc3(\\nroot.limit = 1MiB\\t\\x01\"\\\\ \xc3\xa9  # from api"));
    free(text);
    /* one line per key plus the header: the value did not add one */
    char *docs = dump(cfg, MEMGOV_CONFIG_DUMP_JSON);
    size_t keys = 0;
    for (const char *p = docs; (p = strstr(p, "{\"key\": ")) != NULL; p++)
        keys++;
    free(docs);
    assert_int_equal(lines, keys + 1);
    memgov_config_destroy(cfg);
}

/* Unclear messages: a BOM, an unknown [mode.X], misspelt keys of a mode, a tiny percentage. */
static void a_bom_unknown_modes_and_mode_keys_get_clear_messages(void **state)
{
    (void)state;
    memgov_config *cfg = new_config();
    memgov_config_result *res = NULL;
    assert_int_equal(memgov_config_result_create(&res), MEMGOV_OK);
    const char text[] = "\xef\xbb\xbf" "batch.max = 5\n[mode.lite]\nbatch.max = 3\n[mode.light]\nbatch.mxx = 2\n"
                        "[mode.normal]\nmode.light.batch.mx = 4\n";
    assert_int_equal(memgov_config_load_string(cfg, text, sizeof text - 1, "m.ini", 0, res), MEMGOV_OK);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING, "m.ini:1: a UTF-8 byte-order mark"), 1);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING,
                                    "m.ini:2: unknown mode 'lite' in section [mode.lite]"), 1);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING, "did you mean [mode.light]?"), 1);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING,
                                    "m.ini:5: unknown key 'batch.mxx' in [mode.light] ignored (did you mean "
                                    "'batch.max'?)"), 1);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING, "m.ini:7: unknown key 'mode.light.batch.mx' "
                                    "(overlays go in a [mode.NAME] section) ignored (did you mean 'batch.max'?)"), 1);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING, "unknown key 'mode.lite"), 0);
    assert_int_equal(memgov_config_result_size(res), 4);
    uint64_t v = 0;
    assert_int_equal(memgov_config_get_unsigned(cfg, "batch.max", &v), MEMGOV_OK);
    assert_int_equal(v, 5); /* the BOM did not spoil the first key */
    assert_int_equal(memgov_config_set(cfg, "root.limit", "1e-400%"), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "too small"));
    assert_null(strstr(memgov_last_error(), "too large"));
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
}

/* One size parser: the configuration's syntax, public for the CLI; no sign, no leading blank. */
static void the_public_size_and_duration_parsers_take_the_configuration_syntax(void **state)
{
    (void)state;
    uint64_t b = 0;
    assert_int_equal(memgov_config_parse_size("1.5G", 0, &b), MEMGOV_OK);
    assert_int_equal(b, 3 * GiB / 2);
    assert_int_equal(memgov_config_parse_size("2GiB", 0, &b), MEMGOV_OK);
    assert_int_equal(b, 2 * GiB);
    assert_int_equal(memgov_config_parse_size("90%", 10 * GiB, &b), MEMGOV_OK);
    assert_int_equal(b, 9 * GiB);
    assert_int_equal(memgov_config_parse_size("90%", 0, &b), MEMGOV_ESTATE);
    assert_int_not_equal(memgov_config_parse_size(" -1", 0, &b), MEMGOV_OK);
    assert_non_null(strstr(memgov_last_error(), "' -1': not a size"));
    assert_int_equal(memgov_config_parse_size("-1", 0, &b), MEMGOV_ERANGE);
    assert_int_equal(memgov_config_parse_size("16777216T", 0, &b), MEMGOV_EOVERFLOW);
    assert_int_equal(memgov_config_parse_size("16777215T", 0, &b), MEMGOV_OK);
    assert_int_equal(b, 16777215ull << 40);
    uint64_t ns = 0;
    assert_int_equal(memgov_config_parse_duration("250ms", &ns), MEMGOV_OK);
    assert_int_equal(ns, 250000000u);
    assert_int_equal(memgov_config_parse_duration("5", &ns), MEMGOV_ETYPE);
    assert_int_equal(memgov_config_parse_size(NULL, 0, &b), MEMGOV_EINVAL);
}

/* Issue 19 item 8: what memgov_open() loaded is readable from the governor: the clamp of MEMGOV_ROOT_LIMIT=0 and
 * the did-you-mean of a misspelt variable. */
static void memgov_open_keeps_its_warnings_and_clamps_for_the_caller(void **state)
{
    (void)state;
    setenv("MEMGOV_ROOT_LIMIT", "0", 1);
    setenv("MEMGOV_ROOT_LIMT", "1GiB", 1);
    memgov *gov = NULL;
    assert_int_equal(memgov_open(NULL, &gov), MEMGOV_OK);
    const memgov_config_result *res = memgov_governor_config_result(gov);
    assert_non_null(res);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_CORRECTION,
                                    "env MEMGOV_ROOT_LIMIT: key 'root.limit' value '0' is below its minimum; "
                                    "corrected to 1MiB"), 1);
    assert_int_equal(count_messages(res, MEMGOV_CONFIG_WARNING,
                                    "unknown key 'MEMGOV_ROOT_LIMT' ignored (did you mean 'MEMGOV_ROOT_LIMIT'?)"), 1);
    assert_int_equal(memgov_config_result_size(res), 2);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    unsetenv("MEMGOV_ROOT_LIMIT");
    unsetenv("MEMGOV_ROOT_LIMT");
    assert_int_equal(memgov_open(NULL, &gov), MEMGOV_OK);
    assert_int_equal(memgov_config_result_size(memgov_governor_config_result(gov)), 0);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    assert_null(memgov_governor_config_result(NULL));
}

/* Unclear message: out-of-order fallback thresholds name each value's source and its clamp. */
static void refused_fallback_thresholds_name_their_sources_and_clamps(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/b.ini", scratch_dir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("fallback.light_enter = 5\nfallback.light_exit = 0.99\n", f);
    fclose(f);
    memgov_options o;
    memgov_options_init(&o);
    o.config_file = path;
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    assert_int_not_equal(memgov_open(&o, &gov), MEMGOV_OK);
    const char *m = memgov_last_error();
    assert_non_null(strstr(m, "fallback.light_enter = 1 ("));
    assert_non_null(strstr(m, "b.ini:1: clamped from 5 to the maximum 1)"));
    assert_non_null(strstr(m, "fallback.light_exit = 0.99 ("));
    assert_non_null(strstr(m, "fallback.minimal_enter = 0.85 (default)"));
    remove_scratch();
}

/* Runs memgov_default() in a fresh child process (the default governor is created once per process) with the
 * given environment; returns what the child wrote on stderr, and *ok whether memgov_default() returned a
 * governor. The child writes memgov_last_error() on stderr when it did not. */
static char *default_in_child(const char *const *env, int *ok)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20); /* a hang (a FIFO waited on) kills the child: the parent sees a signal, not an exit */
        for (const char *const *e = env; *e != NULL; e += 2)
            setenv(e[0], e[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        memgov *gov = memgov_default();
        if (gov == NULL)
            fprintf(stderr, "NULL: %s\n", memgov_last_error());
        _exit(gov != NULL ? 0 : 1);
    }
    close(fds[1]);
    char *text = calloc(1, 65536);
    assert_non_null(text);
    size_t len = 0;
    ssize_t r;
    while (len < 65535 && (r = read(fds[0], text + len, 65535 - len)) > 0)
        len += (size_t)r;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status)); /* not killed by the alarm */
    *ok = WEXITSTATUS(status) == 0;
    return text;
}

/* Issue 19 items 2 and 8: memgov_default() writes its warnings and clamps on stderr (unless log.warnings is
 * false), and a FIFO as MEMGOV_CONFIG_FILE makes it fail at once with the reason, not hang. */
static void the_default_governor_logs_its_warnings_and_refuses_a_fifo(void **state)
{
    (void)state;
    int ok = 0;
    const char *const typo[] = {"MEMGOV_ROOT_LIMIT", "0", "MEMGOV_ROOT_LIMT", "1GiB", NULL};
    char *err = default_in_child(typo, &ok);
    assert_true(ok);
    assert_non_null(strstr(err, "memgov: corrected: env MEMGOV_ROOT_LIMIT: key 'root.limit' value '0' is below"));
    assert_non_null(strstr(err, "memgov: warning: env MEMGOV_ROOT_LIMT: unknown key 'MEMGOV_ROOT_LIMT' ignored "
                                "(did you mean 'MEMGOV_ROOT_LIMIT'?)"));
    free(err);
    const char *const quiet[] = {"MEMGOV_ROOT_LIMT", "1GiB", "MEMGOV_LOG_WARNINGS", "false", NULL};
    err = default_in_child(quiet, &ok);
    assert_true(ok);
    assert_string_equal(err, "");
    free(err);
    char path[128];
    snprintf(path, sizeof path, "%s/fifo", scratch_dir());
    assert_int_equal(mkfifo(path, 0600), 0);
    const char *const fifo[] = {"MEMGOV_CONFIG_FILE", path, NULL};
    err = default_in_child(fifo, &ok);
    assert_false(ok);
    assert_non_null(strstr(err, "NULL: memgov_default: "));
    assert_non_null(strstr(err, "is a FIFO"));
    free(err);
    remove_scratch();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_repeated_key_warns_once_per_repeat_naming_the_first_line),
        cmocka_unit_test(a_fifo_is_refused_without_blocking),
        cmocka_unit_test(devices_directories_and_files_above_the_cap_are_refused),
        cmocka_unit_test(the_environment_loader_does_not_call_memgov_config_file_an_unknown_key),
        cmocka_unit_test(dumps_escape_invalid_utf8_and_newlines),
        cmocka_unit_test(a_bom_unknown_modes_and_mode_keys_get_clear_messages),
        cmocka_unit_test(the_public_size_and_duration_parsers_take_the_configuration_syntax),
        cmocka_unit_test(memgov_open_keeps_its_warnings_and_clamps_for_the_caller),
        cmocka_unit_test(refused_fallback_thresholds_name_their_sources_and_clamps),
        cmocka_unit_test(the_default_governor_logs_its_warnings_and_refuses_a_fifo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
