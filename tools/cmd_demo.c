/* memgov demo: the guided tour of what memgov does. Each component's issue adds its part (budgets, the
 * configuration, the monitor and the fallback machine); today it shows what the library is built from. */
#include <string.h>

#include "cli.h"
#include "memgov.h"

static void section(const char *title)
{
    printf("\n== %s ==\n", title);
}

static void show_build(void)
{
    section("memgov");
    printf("version    %s (ABI libmemgov.so.1)\n", memgov_version_string());
    /* The build line is "key=value key=value ...": one per line reads better here. */
    char info[512];
    snprintf(info, sizeof info, "%s", memgov_build_info());
    for (char *save = NULL, *kv = strtok_r(info, " ", &save); kv != NULL; kv = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        printf("%-10s %s\n", kv, eq + 1);
    }
}

static int run_demo(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error(&cli_demo, "unexpected argument '%s'", argv[1]);
    show_build();
    printf("\ndemo finished\n");
    return CLI_OK;
}

const cli_command cli_demo = {
    .name = "demo",
    .summary = "a guided tour: what memgov is built from and what it does",
    .usage = "memgov demo",
    .run = run_demo,
};
