/* Names of the fallback modes. */
#include "memgov/common.h"

MEMGOV_API const char *memgov_mode_name(memgov_mode mode)
{
    static const char *const names[MEMGOV_MODE_COUNT_] = {"normal", "light", "minimal"};
    return (unsigned)mode < (unsigned)MEMGOV_MODE_COUNT_ ? names[mode] : "invalid";
}
