/* memgov version: the loaded library's version and how it was built. */
#include "cli.h"
#include "memgov.h"

static int run_version(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error(&cli_version, "unexpected argument '%s'", argv[1]);
    printf("memgov %s\n%s\n", memgov_version_string(), memgov_build_info());
    return CLI_OK;
}

const cli_command cli_version = {
    .name = "version",
    .summary = "print the library's version and build options",
    .usage = "memgov version",
    .run = run_version,
};
