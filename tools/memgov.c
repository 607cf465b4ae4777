/* memgov — command-line front end: dispatches to the subcommands in the table below. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "memgov.h"

static const cli_command *const commands[] = {
    &cli_version,
    &cli_demo,
    &cli_probe,
    &cli_config,
    &cli_monitor,
    &cli_run,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "memgov %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n", cmd->usage);
    return CLI_USAGE;
}

int cli_next_option(const cli_command *cmd, int argc, char **argv, const struct option *longopts)
{
    opterr = 0; /* the messages below instead of getopt's, the same for every subcommand */
    int before = optind;
    int c = getopt_long(argc, argv, "+:", longopts, NULL);
    if (c == ':' || c == '?') {
        const char *arg = optind - 1 >= before && optind - 1 < argc ? argv[optind - 1] : "?";
        if (c == ':') {
            char name[64];
            size_t n = strcspn(arg, "=");
            snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), arg);
            cli_usage_error(cmd, "%s needs a value", name);
        } else {
            cli_usage_error(cmd, "unknown option '%s'", arg);
        }
        return -2;
    }
    return c;
}

void cli_print_config_messages(const cli_command *cmd, const memgov_config_result *res)
{
    static const char *const severity[] = {"error", "warning", "corrected"};
    for (size_t i = 0; i < memgov_config_result_size(res); i++) {
        memgov_config_severity s = MEMGOV_CONFIG_WARNING;
        const char *m = memgov_config_result_message(res, i, &s);
        fprintf(stderr, "memgov %s: %s: %s\n", cmd->name, severity[s], m);
    }
}

int cli_fail(const cli_command *cmd)
{
    fprintf(stderr, "memgov %s: %s\n", cmd->name, memgov_last_error());
    return CLI_FAILED;
}

int cli_parse_size(const cli_command *cmd, const char *option, const char *text, uint64_t effective_memory,
                   uint64_t *bytes)
{
    if (memgov_config_parse_size(text, effective_memory, bytes) != MEMGOV_OK)
        return cli_usage_error(cmd, "%s: %s", option, memgov_last_error());
    return CLI_OK;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) /* after "--" come a command's own arguments */
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

static void print_help(FILE *out)
{
    fprintf(out, "memgov %s — an in-process memory governor\n\n"
                 "usage: memgov [--help] [--version] COMMAND [ARGS]\n\ncommands:\n",
            memgov_version_string());
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "  %-10s %s\n", "help", "show a command's usage: memgov help COMMAND");
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            print_help(stdout);
            return CLI_OK;
        }
        const cli_command *cmd = find_command(argv[2]);
        if (cmd == NULL) {
            fprintf(stderr, "memgov: unknown command '%s' (see memgov --help)\n", argv[2]);
            return CLI_USAGE;
        }
        printf("usage: %s\n\n%s\n", cmd->usage, cmd->summary);
        return CLI_OK;
    }
    const cli_command *cmd = find_command(name);
    if (cmd == NULL) {
        fprintf(stderr, "memgov: unknown command '%s' (see memgov --help)\n", name);
        return CLI_USAGE;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        printf("usage: %s\n\n%s\n", cmd->usage, cmd->summary);
        return CLI_OK;
    }
    return cmd->run(argc - 1, argv + 1);
}
