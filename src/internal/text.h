/* Internal: one snprintf-style text writer for every dump, report and CLI output (config dumps, monitor
 * reports, `memgov probe --json`), with the one JSON string escaper.
 *
 * A mg_text writes into the caller's buffer like snprintf: what fits is written and always NUL-terminated (when
 * size > 0), and `len` counts the bytes the whole text needs, so a caller that gets MEMGOV_ERANGE from
 * mg_text_finish() calls again with len + 1 bytes. Not thread-safe (one writer per mg_text). */
#ifndef MG_INTERNAL_TEXT_H
#define MG_INTERNAL_TEXT_H

#include <stddef.h>

#include "internal/error.h"
#include "memgov/common.h"

typedef struct mg_text {
    char *buf;   /* the caller's buffer (NULL when size is 0) */
    size_t size; /* its size in bytes */
    size_t len;  /* bytes the text needs so far, without the NUL (may exceed size) */
} mg_text;

/* Starts writing into buf[size] (buf may be NULL when size is 0: measuring only). */
void mg_text_init(mg_text *t, char *buf, size_t size);

/* Appends printf-style text. */
void mg_text_put(mg_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string literal, quotes included: '"' and '\\' escaped, control bytes (< 0x20, 0x7f) as
 * \n \r \t or \u00XX, and every byte that is not part of well-formed UTF-8 as \ufffd (the replacement character),
 * so the result is valid JSON whatever s holds. NULL is written as null. */
void mg_text_put_json(mg_text *t, const char *s);

/* Appends s for a one-line text format: control bytes as \n \r \t or \xXX and '\\' doubled, so a value can never
 * start a new line of the dump. NULL is written as "(null)". */
void mg_text_put_escaped(mg_text *t, const char *s);

/* Bytes the text needs (without the NUL) into *needed (may be NULL); MEMGOV_OK if it fit, else MEMGOV_ERANGE
 * with a message "WHAT needs N bytes, the buffer has M". (Inline: text.c has no library dependency, so the CLI
 * compiles it in.) */
static inline memgov_status mg_text_finish(const mg_text *t, size_t *needed, const char *what)
{
    if (needed != NULL)
        *needed = t->len;
    if (t->len >= t->size)
        return mg_fail(MEMGOV_ERANGE, "%s needs %zu bytes, the buffer has %zu", what, t->len + 1, t->size);
    return MEMGOV_OK;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if the bytes at s are not one (an invalid lead
 * byte, a missing continuation, an overlong form, a surrogate, a code point above U+10FFFF). s[0] must not be
 * NUL. */
size_t mg_utf8_sequence(const unsigned char *s);

#endif
