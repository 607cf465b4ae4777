/* Run-time version and build description. */
#include <pthread.h>
#include <stdio.h>

#include "build_info.h"
#include "internal/je.h"
#include "memgov/common.h"

MEMGOV_API unsigned memgov_version_number(void)
{
    return MEMGOV_VERSION_NUMBER;
}

MEMGOV_API const char *memgov_version_string(void)
{
    return MEMGOV_VERSION_STRING;
}

static char build_info[384];
static pthread_once_t build_info_once = PTHREAD_ONCE_INIT;

/* The jemalloc version is asked of the linked jemalloc itself (this also initialises it, so loading and calling
 * the library from Python or R exercises jemalloc's thread-local storage). */
static void build_info_fill(void)
{
    const char *je_version = "unknown";
    size_t len = sizeof je_version;
    if (mgje_mallctl("version", (void *)&je_version, &len, NULL, 0) != 0)
        je_version = "unknown";
    snprintf(build_info, sizeof build_info,
             "alloc=%s jemalloc=%s buildtype=%s sanitize=%s hwloc=%s libcpuid=%s cc=%s", MG_BUILD_ALLOC,
             je_version, MG_BUILD_TYPE, MG_BUILD_SANITIZE, MG_BUILD_HWLOC, MG_BUILD_LIBCPUID, MG_BUILD_CC);
}

MEMGOV_API const char *memgov_build_info(void)
{
    pthread_once(&build_info_once, build_info_fill);
    return build_info;
}
