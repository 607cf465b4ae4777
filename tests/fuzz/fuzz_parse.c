/* libFuzzer target for the value parsers and the text writer: the input (up to its first NUL) is parsed as a size
 * (memgov_config_parse_size against an effective memory from the first byte), a duration, and as every key type;
 * then written through the JSON string escaper and the one-line escaper. Invariants: a parsed size or duration
 * that is not an overflow error is in range; the JSON escape is valid UTF-8 with no raw control byte, and its
 * measured length matches what a large enough buffer receives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "internal/text.h"
#include "memgov/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json(const char *s)
{
    mg_text t;
    mg_text_init(&t, NULL, 0);
    mg_text_put_json(&t, s);
    size_t need = t.len;
    char *buf = malloc(need + 1);
    if (buf == NULL)
        abort();
    mg_text_init(&t, buf, need + 1);
    mg_text_put_json(&t, s);
    if (t.len != need || strlen(buf) != need || buf[0] != '"' || buf[need - 1] != '"')
        abort();
    for (const unsigned char *p = (const unsigned char *)buf; *p;) {
        if (*p < 0x20 || *p == 0x7f)
            abort();
        size_t n = mg_utf8_sequence(p);
        if (n == 0)
            abort(); /* invalid UTF-8 went through */
        p += n;
    }
    /* a short buffer gets a NUL-terminated prefix */
    if (need > 2) {
        mg_text_init(&t, buf, need / 2);
        mg_text_put_json(&t, s);
        if (t.len != need || strlen(buf) >= need / 2)
            abort();
    }
    free(buf);
    mg_text_init(&t, NULL, 0);
    mg_text_put_escaped(&t, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    uint64_t effective = size > 0 ? (uint64_t)data[0] << (data[0] % 56) : 0, v = 0;
    memgov_config_parse_size(text, effective, &v);
    memgov_config_parse_duration(text, &v);
    for (int type = 0; type < MEMGOV_CONFIG_TYPE_COUNT_; type++) {
        mg_value value;
        char why[160];
        if (mg_value_parse((memgov_config_type)type, "a|b|c", text, &value, why, sizeof why) == MEMGOV_OK) {
            uint64_t bytes;
            mg_size_bytes(&value, effective, &bytes);
            mg_value_free(&value);
        }
    }
    check_json(text);
    free(text);
    return 0;
}
