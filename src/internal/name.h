/* Internal: the one rule for names that memgov stores and prints (configuration keys, monitor metrics). */
#ifndef MG_INTERNAL_NAME_H
#define MG_INTERNAL_NAME_H

#include <stddef.h>

/* True if s is 1..max bytes of [A-Za-z0-9._-] and neither starts nor ends with '.': safe in a dump, a JSON
 * report and an environment variable name (dots and dashes become '_'). */
static inline int mg_valid_name(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= max || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                          c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && s[0] != '.' && s[n - 1] != '.';
}

#endif
