/* Bytes in binary units for messages and reports. */
#include <stdio.h>

#include "memgov/common.h"

MEMGOV_API size_t memgov_format_bytes(uint64_t bytes, char *buf, size_t buf_size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    char tmp[32];
    int n;
    if (bytes < 1024) {
        n = snprintf(tmp, sizeof tmp, "%u B", (unsigned)bytes);
    } else {
        unsigned u = 0;
        double v = (double)bytes;
        while (v >= 1024.0 && u < 6) {
            v /= 1024.0;
            u++;
        }
        /* Three significant digits; rounding may carry into the next unit (1023.9 KiB -> "1.00 MiB"). */
        if (v >= 999.5 && u < 6) {
            v /= 1024.0;
            u++;
        }
        const char *fmt = v >= 99.95 ? "%.0f %s" : v >= 9.995 ? "%.1f %s" : "%.2f %s";
        n = snprintf(tmp, sizeof tmp, fmt, v, units[u]);
    }
    if (buf != NULL && buf_size > 0)
        snprintf(buf, buf_size, "%s", tmp);
    return n < 0 ? 0 : (size_t)n;
}
