/* Parsing, comparing and resolving typed configuration values (the syntax is in memgov/config.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"
#include "internal/error.h"

const char *mg_config_type_name(memgov_config_type type)
{
    static const char *const names[] = {"bool", "int", "unsigned", "double", "size", "duration", "string", "enum"};
    return (unsigned)type < MEMGOV_CONFIG_TYPE_COUNT_ ? names[type] : "invalid";
}

#define WHY(...) snprintf(why, why_size, __VA_ARGS__)

/* A decimal with an optional fraction: integer part in *ip, fraction as a double in [0, 1) in *frac. Returns
 * the end, or NULL if there is no digit. Sets *overflow when the integer part does not fit 64 bits. */
static const char *parse_decimal(const char *s, uint64_t *ip, double *frac, int *overflow)
{
    const char *start = s;
    uint64_t v = 0;
    *overflow = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            *overflow = 1;
        else
            v = v * 10 + d;
    }
    double f = 0, scale = 0.1;
    int digits = (int)(s - start);
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10, digits++)
            f += (*s - '0') * scale;
    }
    if (digits == 0)
        return NULL;
    *ip = v;
    *frac = f;
    return s;
}

static memgov_status parse_scaled(const char *text, const char *what, const char *const *units,
                                  const uint64_t *mult, size_t nunits, int allow_bare, mg_value *out, char *why,
                                  size_t why_size)
{
    const char *s = text;
    if (*s == '-') {
        WHY("a %s cannot be negative", what);
        return MEMGOV_ERANGE;
    }
    if (*s == '+')
        s++;
    uint64_t ip;
    double frac;
    int overflow;
    const char *end = parse_decimal(s, &ip, &frac, &overflow);
    if (end == NULL) {
        WHY("not a %s (a number with a unit)", what);
        return MEMGOV_ETYPE;
    }
    if (overflow) {
        WHY("the number does not fit 64 bits");
        return MEMGOV_EOVERFLOW;
    }
    while (*end == ' ')
        end++;
    uint64_t m = 0;
    if (*end == '\0') {
        if (!allow_bare && !(ip == 0 && frac == 0)) {
            WHY("a %s needs a unit", what);
            return MEMGOV_ETYPE;
        }
        m = 1;
    } else {
        for (size_t i = 0; i < nunits; i++)
            if (strcmp(end, units[i]) == 0)
                m = mult[i];
        if (m == 0) {
            WHY("unknown %s unit '%s'", what, end);
            return MEMGOV_ETYPE;
        }
    }
    if (ip > UINT64_MAX / m) {
        WHY("%s with its unit exceeds 2^64-1", text);
        return MEMGOV_EOVERFLOW;
    }
    uint64_t whole = ip * m;
    double extra = floor(frac * (double)m);
    if (extra >= 18446744073709551616.0 || (uint64_t)extra > UINT64_MAX - whole) {
        WHY("%s with its unit exceeds 2^64-1", text);
        return MEMGOV_EOVERFLOW;
    }
    out->u = whole + (uint64_t)extra;
    return MEMGOV_OK;
}

static memgov_status parse_size(const char *text, mg_value *out, char *why, size_t why_size)
{
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] == '%') {
        char *end;
        errno = 0;
        double pct = strtod(text, &end);
        if (end != text + len - 1 || end == text || !isdigit((unsigned char)text[0])) {
            WHY("not a percentage");
            return text[0] == '-' ? MEMGOV_ERANGE : MEMGOV_ETYPE;
        }
        if (errno == ERANGE && fabs(pct) < 1.0) {
            WHY("percentage too small to represent (below 1e-300%%)");
            return MEMGOV_ERANGE;
        }
        if (errno == ERANGE || !isfinite(pct) || pct > 1e6) {
            WHY("percentage too large (at most 1000000%%)");
            return MEMGOV_EOVERFLOW;
        }
        out->d = pct;
        out->is_pct = 1;
        return MEMGOV_OK;
    }
    static const char *const units[] = {"B",  "K",  "KiB", "M",  "MiB", "G",  "GiB", "T",  "TiB",
                                        "P",  "PiB", "KB", "MB", "GB",  "TB", "PB",  "k"};
    static const uint64_t mult[] = {1,         1ull << 10, 1ull << 10, 1ull << 20, 1ull << 20,   1ull << 30,
                                    1ull << 30, 1ull << 40, 1ull << 40, 1ull << 50, 1ull << 50,   1000ull,
                                    1000000ull, 1000000000ull, 1000000000000ull, 1000000000000000ull, 1ull << 10};
    return parse_scaled(text, "size", units, mult, sizeof mult / sizeof mult[0], 1, out, why, why_size);
}

static memgov_status parse_duration(const char *text, mg_value *out, char *why, size_t why_size)
{
    static const char *const units[] = {"ns", "us", "ms", "s", "min", "h"};
    static const uint64_t mult[] = {1, 1000, 1000000, 1000000000ull, 60000000000ull, 3600000000000ull};
    return parse_scaled(text, "duration", units, mult, 6, 0, out, why, why_size);
}

static memgov_status parse_bool(const char *text, mg_value *out, char *why, size_t why_size)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            out->u = 1;
            return MEMGOV_OK;
        }
        if (strcasecmp(text, no[i]) == 0) {
            out->u = 0;
            return MEMGOV_OK;
        }
    }
    WHY("not a bool (true/false, yes/no, on/off, 1/0)");
    return MEMGOV_ETYPE;
}

static memgov_status parse_enum(const char *choices, const char *text, mg_value *out, char *why, size_t why_size)
{
    size_t len = strlen(text);
    uint64_t idx = 0;
    for (const char *c = choices; c != NULL && *c != '\0'; idx++) {
        const char *bar = strchr(c, '|');
        size_t clen = bar != NULL ? (size_t)(bar - c) : strlen(c);
        if (clen == len && strncmp(c, text, len) == 0) {
            out->u = idx;
            return MEMGOV_OK;
        }
        c = bar != NULL ? bar + 1 : NULL;
    }
    WHY("not one of %s", choices != NULL ? choices : "(no choices)");
    return MEMGOV_ETYPE;
}

memgov_status mg_value_parse(memgov_config_type type, const char *choices, const char *text, mg_value *out,
                             char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    memgov_status st = MEMGOV_OK;
    char *end;
    switch (type) {
    case MEMGOV_CONFIG_BOOL:
        st = parse_bool(text, out, why, why_size);
        break;
    case MEMGOV_CONFIG_INT:
        errno = 0;
        out->i = strtoll(text, &end, 10);
        if (end == text || *end != '\0' || isspace((unsigned char)text[0])) {
            WHY("not an integer");
            st = MEMGOV_ETYPE;
        } else if (errno == ERANGE) {
            WHY("the integer does not fit 64 bits");
            st = MEMGOV_EOVERFLOW;
        }
        break;
    case MEMGOV_CONFIG_UNSIGNED:
        if (text[0] == '-') {
            WHY("an unsigned value cannot be negative");
            st = MEMGOV_ERANGE;
            break;
        }
        errno = 0;
        out->u = strtoull(text, &end, 10);
        if (end == text || *end != '\0' || !isdigit((unsigned char)text[text[0] == '+'])) {
            WHY("not an unsigned integer");
            st = MEMGOV_ETYPE;
        } else if (errno == ERANGE) {
            WHY("the integer does not fit 64 bits");
            st = MEMGOV_EOVERFLOW;
        }
        break;
    case MEMGOV_CONFIG_DOUBLE:
        errno = 0;
        out->d = strtod(text, &end);
        if (end == text || *end != '\0' || isspace((unsigned char)text[0]) || isnan(out->d)) {
            WHY("not a number");
            st = MEMGOV_ETYPE;
        } else if (errno == ERANGE || !isfinite(out->d)) {
            WHY("the number is out of a double's range");
            st = MEMGOV_EOVERFLOW;
        }
        break;
    case MEMGOV_CONFIG_SIZE:
        st = parse_size(text, out, why, why_size);
        break;
    case MEMGOV_CONFIG_DURATION:
        st = parse_duration(text, out, why, why_size);
        break;
    case MEMGOV_CONFIG_STRING:
        break;
    case MEMGOV_CONFIG_ENUM:
        st = parse_enum(choices, text, out, why, why_size);
        break;
    default:
        WHY("unknown type %d", (int)type);
        return MEMGOV_EINVAL;
    }
    if (st != MEMGOV_OK)
        return st;
    out->text = strdup(text);
    if (out->text == NULL) {
        WHY("out of memory");
        return MEMGOV_ENOMEM;
    }
    return MEMGOV_OK;
}

memgov_status mg_size_bytes(const mg_value *v, uint64_t effective, uint64_t *bytes)
{
    if (!v->is_pct) {
        *bytes = v->u;
        return MEMGOV_OK;
    }
    long double b = (long double)v->d / 100.0L * (long double)effective;
    if (b >= 18446744073709551616.0L)
        return MEMGOV_EOVERFLOW;
    *bytes = (uint64_t)b;
    return MEMGOV_OK;
}

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

int mg_value_cmp(memgov_config_type type, const mg_value *a, const mg_value *b, uint64_t effective)
{
    switch (type) {
    case MEMGOV_CONFIG_INT:
        return CMP(a->i, b->i);
    case MEMGOV_CONFIG_DOUBLE:
        return CMP(a->d, b->d);
    case MEMGOV_CONFIG_SIZE:
        if (a->is_pct && b->is_pct)
            return CMP(a->d, b->d);
        if (a->is_pct != b->is_pct) {
            uint64_t x, y;
            /* An unresolvable percentage (overflow) is larger than any byte count. */
            int ox = mg_size_bytes(a, effective, &x) != MEMGOV_OK, oy = mg_size_bytes(b, effective, &y) != MEMGOV_OK;
            if (ox || oy)
                return CMP(ox, oy);
            return CMP(x, y);
        }
        return CMP(a->u, b->u);
    default:
        return CMP(a->u, b->u);
    }
}

int mg_value_copy(mg_value *dst, const mg_value *src)
{
    *dst = *src;
    dst->text = strdup(src->text != NULL ? src->text : "");
    return dst->text != NULL ? 0 : -1;
}

void mg_value_free(mg_value *v)
{
    free(v->text);
    v->text = NULL;
}

/* The public parsers: one value of `type` (SIZE or DURATION) from text, with the syntax in the message. */
static memgov_status parse_public(memgov_config_type type, const char *fn, const char *text, const void *out,
                                  mg_value *v)
{
    if (text == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: the text and the output must not be NULL", fn);
    char why[160];
    memset(v, 0, sizeof *v);
    memgov_status st = type == MEMGOV_CONFIG_SIZE ? parse_size(text, v, why, sizeof why)
                                                  : parse_duration(text, v, why, sizeof why);
    if (st != MEMGOV_OK)
        return mg_fail(st, "'%.100s': %s (%s)", text, why,
                       type == MEMGOV_CONFIG_SIZE ? "sizes look like 512MiB, 1.5G, 2GB or 90%"
                                                  : "durations look like 100ms, 2s or 5min");
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_config_parse_size(const char *text, uint64_t effective_memory, uint64_t *bytes)
{
    mg_value v;
    memgov_status st = parse_public(MEMGOV_CONFIG_SIZE, "memgov_config_parse_size", text, bytes, &v);
    if (st != MEMGOV_OK)
        return st;
    if (v.is_pct && effective_memory == 0)
        return mg_fail(MEMGOV_ESTATE, "'%.100s' is a percentage and the effective memory is unknown", text);
    if (mg_size_bytes(&v, effective_memory, bytes) != MEMGOV_OK)
        return mg_fail(MEMGOV_EOVERFLOW, "'%.100s' of %llu bytes exceeds 2^64-1 bytes", text,
                       (unsigned long long)effective_memory);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_config_parse_duration(const char *text, uint64_t *ns)
{
    mg_value v;
    memgov_status st = parse_public(MEMGOV_CONFIG_DURATION, "memgov_config_parse_duration", text, ns, &v);
    if (st == MEMGOV_OK)
        *ns = v.u;
    return st;
}
