/* Configuration: register an application key, load a file and the environment, read the root limit in bytes,
 * switch to LIGHT mode, and ask for recommendations. Build: see examples/meson.build. */
#include <stdio.h>
#include <string.h>

#include "memgov.h"

static const char settings[] = "root.limit = 80%\n"
                               "grid.batch_size = 256\n"
                               "[mode.light]\n"
                               "grid.batch_size = 64\n";

int main(void)
{
    memgov_config *cfg = NULL;
    if (memgov_config_create(&cfg) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    memgov_config_key key;
    memgov_config_key_init(&key);
    key.name = "grid.batch_size";
    key.type = MEMGOV_CONFIG_UNSIGNED;
    key.default_value = "128";
    key.min = "1";
    key.max = "4096";
    key.doc = "rows per grid-search batch";
    memgov_config_result *res = NULL;
    if (memgov_config_register(cfg, &key) != MEMGOV_OK || memgov_config_result_create(&res) != MEMGOV_OK ||
        memgov_config_load_string(cfg, settings, strlen(settings), "example.ini", 0, res) != MEMGOV_OK ||
        memgov_config_load_env(cfg, 0, res) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        memgov_config_result_destroy(res);
        memgov_config_destroy(cfg);
        return 1;
    }
    for (size_t i = 0; i < memgov_config_result_size(res); i++)
        printf("note: %s\n", memgov_config_result_message(res, i, NULL));

    uint64_t limit = 0, batch = 0;
    char text[24];
    memgov_config_get_size(cfg, "root.limit", &limit);
    memgov_format_bytes(limit, text, sizeof text);
    memgov_config_get_unsigned(cfg, "grid.batch_size", &batch);
    printf("root limit %s, grid batch %llu\n", text, (unsigned long long)batch);
    memgov_config_set_mode(cfg, MEMGOV_MODE_LIGHT);
    memgov_config_get_unsigned(cfg, "grid.batch_size", &batch);
    printf("in light mode: grid batch %llu\n", (unsigned long long)batch);

    memgov_recommendation rec = {.struct_size = sizeof rec};
    if (memgov_config_recommend(cfg, NULL, 2ull << 30, 512, &rec) == MEMGOV_OK)
        printf("recommended: %llu threads (%s), batch %llu (%s)\n", (unsigned long long)rec.threads,
               rec.threads_why, (unsigned long long)rec.batch_size, rec.batch_size_why);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    return 0;
}
