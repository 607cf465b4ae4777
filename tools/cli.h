/* The memgov command-line program: one file per subcommand, registered in memgov.c's table. */
#ifndef MEMGOV_CLI_H
#define MEMGOV_CLI_H

#include <stdio.h>

/* Exit statuses shared by all subcommands. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for `memgov --help` */
    const char *usage;   /* the full usage text for `memgov help NAME` / `memgov NAME --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} cli_command;

extern const cli_command cli_version;
extern const cli_command cli_demo;
extern const cli_command cli_probe;
extern const cli_command cli_config;
extern const cli_command cli_monitor;

/* The fallback part of `memgov demo` (tools/demo_fallback.c), for cmd_demo.c to call; returns CLI_OK or
 * CLI_FAILED. */
int demo_fallback(void);

/* Prints "memgov NAME: message" for a usage error and returns CLI_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True if argv holds -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

#endif
