/* The memgov command-line program: one file per subcommand, registered in memgov.c's table. */
#ifndef MEMGOV_CLI_H
#define MEMGOV_CLI_H

#include <getopt.h>
#include <stdint.h>
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
extern const cli_command cli_run;

/* The fallback part of `memgov demo` (tools/demo_fallback.c), for cmd_demo.c to call; returns CLI_OK or
 * CLI_FAILED. */
int demo_fallback(void);

/* Prints "memgov NAME: message" for a usage error and returns CLI_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The next option of argv (getopt_long over longopts, which must have only long options whose val is a
 * character or a value above 255; `--opt value` and `--opt=value` both work). Returns the option's val, or -1
 * at the first non-option argument or after "--" (optind is then the index of the first operand), or -2 after
 * printing a usage error ("--root needs a value", "unknown option '--x'"): the caller returns CLI_USAGE. Set
 * optind = 1 before the first call for a new argv (argv[0] is the subcommand's name, not parsed). Options
 * after operands are not looked for (a command line ends the options, as for `memgov monitor -- CMD`). */
int cli_next_option(const cli_command *cmd, int argc, char **argv, const struct option *longopts);

/* Prints each message of a configuration result (warnings and corrections of a load, e.g.
 * memgov_governor_config_result()) on stderr as "memgov NAME: warning: ...". NULL prints nothing. */
struct memgov_config_result;
void cli_print_config_messages(const cli_command *cmd, const struct memgov_config_result *res);

/* Prints the library's last error as "memgov NAME: message" on stderr and returns CLI_FAILED. */
int cli_fail(const cli_command *cmd);

/* Parses SIZE with the configuration's one size parser (memgov_config_parse_size(): "1.5G", "2GiB", "90%" of
 * effective_memory) into *bytes; on failure prints "memgov NAME: OPTION: <why>" and returns CLI_USAGE. */
int cli_parse_size(const cli_command *cmd, const char *option, const char *text, uint64_t effective_memory,
                   uint64_t *bytes);

/* True if argv holds -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

#endif
