/* memgov config: show the effective configuration, validate a configuration file. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "memgov.h"

static int fail(memgov_config *cfg, memgov_config_result *res)
{
    cli_fail(&cli_config);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    return CLI_FAILED;
}

static const char *const severity_name[] = {"error", "warning", "corrected"};

/* Prints every message of res as "SEVERITY: message" on stdout (validate's report). */
static void print_messages(const memgov_config_result *res)
{
    for (size_t i = 0; i < memgov_config_result_size(res); i++) {
        memgov_config_severity s;
        const char *m = memgov_config_result_message(res, i, &s);
        printf("%s: %s\n", severity_name[s], m);
    }
}

/* memgov config show [--json] [--file FILE]: defaults < FILE (default $MEMGOV_CONFIG_FILE) < environment, as
 * memgov_open() loads them. Warnings and corrections go to stderr; a file that cannot be loaded or a value that
 * is refused is an error (exit 1), not a silent default. */
static int show(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"file", required_argument, NULL, 'f'},
                                             {NULL, 0, NULL, 0}};
    unsigned flags = MEMGOV_CONFIG_DUMP_DOCS;
    const char *file = NULL;
    int c;
    optind = 1;
    while ((c = cli_next_option(&cli_config, argc, argv, longopts)) >= 0) {
        if (c == 'j')
            flags |= MEMGOV_CONFIG_DUMP_JSON;
        else
            file = optarg;
    }
    if (c == -2)
        return CLI_USAGE;
    if (optind < argc)
        return cli_usage_error(&cli_config, "unexpected argument '%s'", argv[optind]);
    if (file == NULL) {
        file = getenv("MEMGOV_CONFIG_FILE");
        if (file != NULL && file[0] == '\0')
            file = NULL;
    }
    memgov_config *cfg = NULL;
    memgov_config_result *res = NULL;
    if (memgov_config_create(&cfg) != MEMGOV_OK || memgov_config_result_create(&res) != MEMGOV_OK)
        return fail(cfg, res);
    int failed = 0;
    if (file != NULL && memgov_config_load_file(cfg, file, 0, res) != MEMGOV_OK) {
        cli_fail(&cli_config);
        failed = 1;
    }
    if (memgov_config_load_env(cfg, 0, res) != MEMGOV_OK) {
        cli_fail(&cli_config);
        failed = 1;
    }
    cli_print_config_messages(&cli_config, res);
    if (failed) {
        memgov_config_result_destroy(res);
        memgov_config_destroy(cfg);
        return CLI_FAILED;
    }
    size_t need = 0;
    memgov_config_dump(cfg, flags, NULL, 0, &need);
    char *buf = malloc(need + 1);
    if (buf == NULL || memgov_config_dump(cfg, flags, buf, need + 1, NULL) != MEMGOV_OK) {
        free(buf);
        return fail(cfg, res);
    }
    fputs(buf, stdout);
    free(buf);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    return CLI_OK;
}

/* memgov config validate FILE [--strict]: the messages, exit 0 if valid, 1 if not. */
static int validate(int argc, char **argv)
{
    static const struct option longopts[] = {{"strict", no_argument, NULL, 's'}, {NULL, 0, NULL, 0}};
    const char *file = NULL;
    unsigned flags = 0;
    optind = 1;
    for (;;) {
        int c = cli_next_option(&cli_config, argc, argv, longopts);
        if (c == -2)
            return CLI_USAGE;
        if (c == 's') {
            flags |= MEMGOV_CONFIG_STRICT;
            continue;
        }
        if (optind >= argc)
            break;
        if (file != NULL)
            return cli_usage_error(&cli_config, "unexpected argument '%s'", argv[optind]);
        file = argv[optind++]; /* the operand; options may follow it */
    }
    if (file == NULL)
        return cli_usage_error(&cli_config, "validate needs a FILE");
    memgov_config *cfg = NULL;
    memgov_config_result *res = NULL;
    if (memgov_config_create(&cfg) != MEMGOV_OK || memgov_config_result_create(&res) != MEMGOV_OK)
        return fail(cfg, res);
    memgov_status st = memgov_config_load_file(cfg, file, flags, res);
    print_messages(res);
    if (st != MEMGOV_OK && memgov_config_result_count(res, MEMGOV_CONFIG_ERROR) == 0) {
        /* no message about a value: the file itself could not be read (missing, a directory, too large...) */
        fprintf(stderr, "memgov config: %s\n", memgov_last_error());
        printf("%s: cannot be read (%s)\n", file, memgov_status_name(st));
    } else {
        printf("%s: %s (%zu errors, %zu warnings, %zu corrections)\n", file, st == MEMGOV_OK ? "valid" : "invalid",
               memgov_config_result_count(res, MEMGOV_CONFIG_ERROR),
               memgov_config_result_count(res, MEMGOV_CONFIG_WARNING),
               memgov_config_result_count(res, MEMGOV_CONFIG_CORRECTION));
    }
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    return st == MEMGOV_OK ? CLI_OK : CLI_FAILED;
}

static int run_config(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(&cli_config, "missing subcommand");
    if (strcmp(argv[1], "show") == 0)
        return show(argc - 1, argv + 1);
    if (strcmp(argv[1], "validate") == 0)
        return validate(argc - 1, argv + 1);
    return cli_usage_error(&cli_config, "unknown subcommand '%s'", argv[1]);
}

const cli_command cli_config = {
    .name = "config",
    .summary = "show the effective configuration or validate a configuration file",
    .usage = "memgov config show [--json] [--file FILE] | memgov config validate FILE [--strict]\n\n"
             "  show      the configuration memgov_open() would load: defaults < FILE (default: $MEMGOV_CONFIG_FILE)\n"
             "            < MEMGOV_<KEY> variables; warnings and corrections on stderr; exit 1 if a value or the\n"
             "            file cannot be loaded\n"
             "  validate  every message about FILE; exit 0 if valid, 1 if not (a file that cannot be read, or one\n"
             "            larger than 1 MiB, is not valid)",
    .run = run_config,
};
