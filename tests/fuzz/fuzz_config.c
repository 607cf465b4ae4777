/* libFuzzer target for the configuration parser: any bytes, loaded non-strict or strict (first byte), then the
 * results, the typed gets and both dumps. The configuration is created without probing the machine (no /proc read
 * per input) at a fixed effective memory. A crash, a sanitizer report, a leak or a broken invariant (more
 * messages than lines, a dump that is not NUL-terminated at its length, a JSON dump with a raw control byte)
 * fails the run. Dictionary:
 * config.dict, generated from src/config/keys.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "memgov/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memgov_config *cfg = NULL;
    memgov_config_result *res = NULL;
    if (mg_config_create_unprobed(&cfg) != MEMGOV_OK || memgov_config_result_create(&res) != MEMGOV_OK)
        abort();
    memgov_config_set_effective_memory(cfg, 8ull << 30);
    unsigned flags = size > 0 && (data[0] & 1) ? MEMGOV_CONFIG_STRICT : 0;
    memgov_config_load_string(cfg, (const char *)data, size, "fuzz", flags, res);
    for (size_t i = 0; i < memgov_config_result_size(res); i++)
        if (memgov_config_result_message(res, i, NULL) == NULL)
            abort();
    /* Bounded work: at most one message per line, plus the ordered pairs' warnings (7 pairs in 3 modes) and the
     * byte-order mark's; and one duplicate warning per repeat, the first definition having none. A loader whose
     * messages grow faster (one per earlier copy of a key: quadratic) fails here at the third copy. */
    size_t lines = 1, assignments = 0, duplicates = 0;
    for (size_t i = 0, has_eq = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            lines += i < size;
            assignments += has_eq;
            has_eq = 0;
        } else if (data[i] == '=') {
            has_eq = 1;
        }
    }
    for (size_t i = 0; i < memgov_config_result_size(res); i++) {
        const char *m = memgov_config_result_message(res, i, NULL); /* "fuzz:LINE: duplicate key '..." */
        size_t d = strncmp(m, "fuzz:", 5) == 0 ? strspn(m + 5, "0123456789") : 0;
        duplicates += d > 0 && strncmp(m + 5 + d, ": duplicate key '", 17) == 0;
    }
    if (memgov_config_result_size(res) > lines + 3 * 7 + 1 || (duplicates > 0 && duplicates >= assignments))
        abort();
    memgov_config_set_mode(cfg, MEMGOV_MODE_MINIMAL);
    uint64_t bytes;
    memgov_config_get_size(cfg, "root.limit", &bytes);
    memgov_config_get_size(cfg, "gpu.limit", &bytes);
    size_t need = 0;
    for (unsigned dump = 0; dump < 2; dump++) {
        memgov_config_dump(cfg, dump | MEMGOV_CONFIG_DUMP_DOCS, NULL, 0, &need);
        char *buf = malloc(need + 1);
        if (buf == NULL || memgov_config_dump(cfg, dump | MEMGOV_CONFIG_DUMP_DOCS, buf, need + 1, NULL) != MEMGOV_OK ||
            strlen(buf) != need)
            abort();
        for (size_t i = 0; dump == MEMGOV_CONFIG_DUMP_JSON && i < need; i++)
            if ((unsigned char)buf[i] < 0x20 && buf[i] != '\n')
                abort(); /* a control byte inside a JSON string */
        free(buf);
    }
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    return 0;
}
