/* memgov config: show the effective configuration, validate a configuration file. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "memgov.h"

static int fail(memgov_config *cfg)
{
    fprintf(stderr, "memgov config: %s\n", memgov_last_error());
    memgov_config_destroy(cfg);
    return CLI_FAILED;
}

/* memgov config show [--json] [--file FILE]: defaults < FILE < environment. */
static int show(int argc, char **argv)
{
    unsigned flags = MEMGOV_CONFIG_DUMP_DOCS;
    const char *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            flags |= MEMGOV_CONFIG_DUMP_JSON;
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else
            return cli_usage_error(&cli_config, "unexpected argument '%s'", argv[i]);
    }
    memgov_config *cfg = NULL;
    if (memgov_config_create(&cfg) != MEMGOV_OK)
        return fail(NULL);
    if (file != NULL && memgov_config_load_file(cfg, file, 0, NULL) != MEMGOV_OK)
        fprintf(stderr, "memgov config: %s\n", memgov_last_error());
    if (memgov_config_load_env(cfg, 0, NULL) != MEMGOV_OK)
        fprintf(stderr, "memgov config: %s\n", memgov_last_error());
    size_t need = 0;
    memgov_config_dump(cfg, flags, NULL, 0, &need);
    char *buf = malloc(need + 1);
    if (buf == NULL || memgov_config_dump(cfg, flags, buf, need + 1, NULL) != MEMGOV_OK) {
        free(buf);
        return fail(cfg);
    }
    fputs(buf, stdout);
    free(buf);
    memgov_config_destroy(cfg);
    return CLI_OK;
}

/* memgov config validate FILE [--strict]: the messages, exit 0 if valid, 1 if not. */
static int validate(int argc, char **argv)
{
    const char *file = NULL;
    unsigned flags = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--strict") == 0)
            flags |= MEMGOV_CONFIG_STRICT;
        else if (file == NULL && argv[i][0] != '-')
            file = argv[i];
        else
            return cli_usage_error(&cli_config, "unexpected argument '%s'", argv[i]);
    }
    if (file == NULL)
        return cli_usage_error(&cli_config, "validate needs a FILE");
    memgov_config *cfg = NULL;
    memgov_config_result *res = NULL;
    if (memgov_config_create(&cfg) != MEMGOV_OK || memgov_config_result_create(&res) != MEMGOV_OK)
        return fail(cfg);
    memgov_status st = memgov_config_load_file(cfg, file, flags, res);
    static const char *const sev[] = {"error", "warning", "corrected"};
    for (size_t i = 0; i < memgov_config_result_size(res); i++) {
        memgov_config_severity s;
        const char *m = memgov_config_result_message(res, i, &s);
        printf("%s: %s\n", sev[s], m);
    }
    if (st == MEMGOV_ENOTFOUND || st == MEMGOV_EIO || st == MEMGOV_ENOMEM)
        fprintf(stderr, "memgov config: %s\n", memgov_last_error());
    printf("%s: %s (%zu errors, %zu warnings, %zu corrections)\n", file, st == MEMGOV_OK ? "valid" : "invalid",
           memgov_config_result_count(res, MEMGOV_CONFIG_ERROR), memgov_config_result_count(res, MEMGOV_CONFIG_WARNING),
           memgov_config_result_count(res, MEMGOV_CONFIG_CORRECTION));
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    return st == MEMGOV_OK ? CLI_OK : CLI_FAILED;
}

static int run_config(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(&cli_config, "missing subcommand");
    if (strcmp(argv[1], "show") == 0)
        return show(argc, argv);
    if (strcmp(argv[1], "validate") == 0)
        return validate(argc, argv);
    return cli_usage_error(&cli_config, "unknown subcommand '%s'", argv[1]);
}

const cli_command cli_config = {
    .name = "config",
    .summary = "show the effective configuration or validate a configuration file",
    .usage = "memgov config show [--json] [--file FILE] | memgov config validate FILE [--strict]",
    .run = run_config,
};
