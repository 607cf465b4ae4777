/* The snprintf-style text writer and the JSON string escaper; see text.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal/text.h"

void mg_text_init(mg_text *t, char *buf, size_t size)
{
    t->buf = size > 0 ? buf : NULL;
    t->size = t->buf != NULL ? size : 0;
    t->len = 0;
    if (t->size > 0)
        t->buf[0] = '\0';
}

static void put_v(mg_text *t, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void put_v(mg_text *t, const char *fmt, va_list ap)
{
    size_t room = t->len < t->size ? t->size - t->len : 0;
    int n = vsnprintf(room ? t->buf + t->len : NULL, room, fmt, ap);
    if (n > 0)
        t->len += (size_t)n;
}

void mg_text_put(mg_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_v(t, fmt, ap);
    va_end(ap);
}

/* Appends n raw bytes (no format). */
static void put_bytes(mg_text *t, const char *s, size_t n)
{
    if (t->len + 1 < t->size) {
        size_t room = t->size - 1 - t->len, k = n < room ? n : room;
        memcpy(t->buf + t->len, s, k);
        t->buf[t->len + k] = '\0';
    }
    t->len += n;
}

/* Bytes at s that need no escape in JSON or a text dump: printable ASCII but '"' and '\\'. */
static size_t plain_run(const unsigned char *s)
{
    size_t n = 0;
    while (s[n] >= 0x20 && s[n] < 0x7f && s[n] != '"' && s[n] != '\\')
        n++;
    return n;
}

size_t mg_utf8_sequence(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

void mg_text_put_json(mg_text *t, const char *s)
{
    if (s == NULL) {
        put_bytes(t, "null", 4);
        return;
    }
    put_bytes(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t run = plain_run(p);
        if (run > 0) {
            put_bytes(t, (const char *)p, run);
            p += run;
            continue;
        }
        if (*p == '"' || *p == '\\') {
            mg_text_put(t, "\\%c", *p++);
        } else if (*p == '\n' || *p == '\r' || *p == '\t') {
            mg_text_put(t, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            mg_text_put(t, "\\u%04x", *p++);
        } else {
            size_t n = mg_utf8_sequence(p);
            if (n == 0) {
                put_bytes(t, "\\ufffd", 6);
                p++;
            } else {
                put_bytes(t, (const char *)p, n);
                p += n;
            }
        }
    }
    put_bytes(t, "\"", 1);
}

void mg_text_put_escaped(mg_text *t, const char *s)
{
    if (s == NULL) {
        put_bytes(t, "(null)", 6);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t run = plain_run(p);
        if (run > 0) {
            put_bytes(t, (const char *)p, run);
            p += run - 1;
            continue;
        }
        if (*p == '\\')
            put_bytes(t, "\\\\", 2);
        else if (*p == '\n' || *p == '\r' || *p == '\t')
            mg_text_put(t, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
        else if (*p < 0x20 || *p == 0x7f)
            mg_text_put(t, "\\x%02x", *p);
        else
            put_bytes(t, (const char *)p, 1);
    }
}
