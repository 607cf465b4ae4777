/* Where configuration warnings go: open a governor whose environment has a clamped limit and a misspelt variable,
 * read what memgov_open() had to say from the governor, parse a size with the configuration's parser, and see
 * which probe sources were refused. Build: see examples/meson.build. */
#include <stdio.h>
#include <stdlib.h>

#include "memgov.h"

int main(void)
{
    setenv("MEMGOV_ROOT_LIMIT", "0", 1);     /* below the 1MiB minimum: clamped, and said so */
    setenv("MEMGOV_BATCH_MAXX", "64", 1);    /* a typo: a warning with "did you mean" */
    memgov *gov = NULL;
    if (memgov_open(NULL, &gov) != MEMGOV_OK) {
        fprintf(stderr, "memgov_open: %s\n", memgov_last_error());
        return 1;
    }
    const memgov_config_result *res = memgov_governor_config_result(gov);
    size_t n = memgov_config_result_size(res);
    printf("memgov_open() reported %zu messages:\n", n);
    for (size_t i = 0; i < n; i++) {
        memgov_config_severity sev;
        const char *m = memgov_config_result_message(res, i, &sev);
        printf("  %s: %s\n", sev == MEMGOV_CONFIG_CORRECTION ? "corrected" : "warning", m);
    }
    memgov_close(gov);

    uint64_t bytes = 0;
    if (memgov_config_parse_size("1.5GiB", 0, &bytes) != MEMGOV_OK)
        return 1;
    printf("1.5GiB is %llu bytes\n", (unsigned long long)bytes);
    if (memgov_config_parse_size(" -1", 0, &bytes) == MEMGOV_OK)
        return 1;
    printf("' -1' is refused: %s\n", memgov_last_error());

    memgov_probe p = {.struct_size = sizeof p};
    if (memgov_probe_read(NULL, &p) != MEMGOV_OK)
        return 1;
    printf("probe: refused sources 0x%x%s%s\n", p.rejected, p.rejected ? ": " : "", p.rejected_why);
    return n == 2 ? 0 : 1; /* the clamp and the typo */
}
