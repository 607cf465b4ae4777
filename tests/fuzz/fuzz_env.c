/* libFuzzer target for the environment loader: the input is lines NAME=VALUE (a NAME without the MEMGOV_ prefix
 * gets it), set as environment variables, loaded strict or not (first byte) into a configuration made without
 * probing, then removed. Finds what the file target cannot: variable names (did-you-mean over the environment
 * names, MEMGOV_CONFIG_FILE), values with any byte but NUL and '\n'. Dictionary: config.dict. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "memgov/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    clearenv(); /* only the input's variables */
    return 0;
}

#define MAX_VARS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *names[MAX_VARS];
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL && n < MAX_VARS;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL || eq == line)
            continue;
        *eq = '\0';
        size_t len = strlen(line);
        char *name = malloc(len + 8);
        if (name == NULL)
            abort();
        snprintf(name, len + 8, "%s%s", strncmp(line, "MEMGOV_", 7) == 0 ? "" : "MEMGOV_", line);
        if (setenv(name, eq + 1, 1) != 0) {
            free(name);
            continue;
        }
        names[n++] = name;
    }
    memgov_config *cfg = NULL;
    memgov_config_result *res = NULL;
    if (mg_config_create_unprobed(&cfg) != MEMGOV_OK || memgov_config_result_create(&res) != MEMGOV_OK)
        abort();
    memgov_config_set_effective_memory(cfg, size > 1 && (data[1] & 1) ? 0 : 8ull << 30);
    memgov_config_load_env(cfg, size > 0 && (data[0] & 1) ? MEMGOV_CONFIG_STRICT : 0, res);
    for (size_t i = 0; i < memgov_config_result_size(res); i++)
        if (memgov_config_result_message(res, i, NULL) == NULL ||
            strncmp(memgov_config_result_message(res, i, NULL), "env MEMGOV_CONFIG_FILE: unknown key", 35) == 0)
            abort(); /* MEMGOV_CONFIG_FILE is not a key */
    uint64_t bytes;
    memgov_config_get_size(cfg, "root.limit", &bytes);
    size_t need = 0;
    memgov_config_dump(cfg, MEMGOV_CONFIG_DUMP_JSON, NULL, 0, &need);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
    free(text);
    return 0;
}
