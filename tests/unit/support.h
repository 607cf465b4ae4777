/* Helpers shared by the unit tests: fixture files under a scratch /proc root, and the probe of a committed
 * fixture machine (tests/fixtures/probe/NAME). Header-only; include after <cmocka.h> and "memgov.h". */
#ifndef MG_TEST_SUPPORT_H
#define MG_TEST_SUPPORT_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Writes printf-style text to root + path, creating the directories on the way. */
static inline void __attribute__((format(printf, 3, 4))) mg_test_put(const char *root, const char *path,
                                                                     const char *fmt, ...)
{
    char full[PATH_MAX * 2];
    snprintf(full, sizeof full, "%s%s", root, path);
    for (char *p = full + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(full, 0755);
        *p = '/';
    }
    FILE *f = fopen(full, "w");
    assert_non_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* The probe of fixture machine NAME, memory and cgroups only (no hwloc, no libcpuid: deterministic). */
static inline memgov_probe mg_test_probe_fixture(const char *name)
{
    char root[512];
    snprintf(root, sizeof root, "%s/probe/%s", MG_FIXTURES, name);
    memgov_probe_options opts;
    memgov_probe_options_init(&opts);
    opts.root = root;
    opts.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    memgov_probe p = {.struct_size = sizeof p};
    assert_int_equal(memgov_probe_read(&opts, &p), MEMGOV_OK);
    return p;
}

#endif
