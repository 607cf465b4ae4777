/* The memory part of the probe: /proc/meminfo, cgroup v2/v1 limits along the cgroup's ancestors, process RSS. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal/procfs.h"
#include "probe/probe_parts.h"

#define V1_UNLIMITED (1ull << 62)

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* The smallest value of `file` in dir and each of its ancestors down to (and including) `top`: a parent's limit
 * binds its children. Returns 0 if any was readable. */
static int smallest_along_ancestors(memgov_probe *p, const char *root, const char *dir, const char *top,
                                    const char *file, uint64_t *out)
{
    char path[PATH_MAX], cur[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", dir);
    int found = -1;
    uint64_t best = UINT64_MAX;
    size_t toplen = strlen(top);
    for (;;) {
        uint64_t v;
        int n = snprintf(path, sizeof path, "%s/%s", cur, file);
        if (n > 0 && (size_t)n < sizeof path && mg_probe_refused(p, MEMGOV_PROBE_SRC_CGROUP, path,
                                                                 mg_read_u64(root, path, &v)) == 0) {
            best = min_u64(best, v);
            found = 0;
        }
        char *slash = strrchr(cur, '/');
        if (strlen(cur) <= toplen || slash == NULL || (size_t)(slash - cur) < toplen)
            break;
        *slash = '\0';
    }
    *out = best;
    return found;
}

static void probe_cgroup(const char *root, memgov_probe *p)
{
    char dir[PATH_MAX];
    uint64_t v;
    if (mg_probe_refused(p, MEMGOV_PROBE_SRC_CGROUP, "/proc/self/cgroup", mg_cgroup2_dir(root, dir, sizeof dir)) == 0) {
        p->cgroup_version = 2;
        p->cgroup_memory_max = MEMGOV_PROBE_UNLIMITED;
        p->cgroup_memory_high = MEMGOV_PROBE_UNLIMITED;
        if (smallest_along_ancestors(p, root, dir, "/sys/fs/cgroup", "memory.max", &v) == 0) {
            p->cgroup_memory_max = v;
            p->sources |= MEMGOV_PROBE_SRC_CGROUP;
        }
        if (smallest_along_ancestors(p, root, dir, "/sys/fs/cgroup", "memory.high", &v) == 0)
            p->cgroup_memory_high = v;
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/memory.current", dir);
        if (mg_probe_refused(p, MEMGOV_PROBE_SRC_CGROUP, path, mg_read_u64(root, path, &v)) == 0)
            p->cgroup_memory_current = v;
        return;
    }
    if (mg_probe_refused(p, MEMGOV_PROBE_SRC_CGROUP, "/proc/self/cgroup",
                         mg_cgroup1_dir(root, "memory", dir, sizeof dir)) == 0) {
        p->cgroup_version = 1;
        p->cgroup_memory_max = MEMGOV_PROBE_UNLIMITED;
        p->cgroup_memory_high = MEMGOV_PROBE_UNLIMITED;
        if (smallest_along_ancestors(p, root, dir, "/sys/fs/cgroup/memory", "memory.limit_in_bytes", &v) == 0) {
            /* v1 says "no limit" with LONG_MAX rounded down to a page, not with "max". */
            p->cgroup_memory_max = v >= V1_UNLIMITED ? MEMGOV_PROBE_UNLIMITED : v;
            p->sources |= MEMGOV_PROBE_SRC_CGROUP;
        }
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
        if (mg_probe_refused(p, MEMGOV_PROBE_SRC_CGROUP, path, mg_read_u64(root, path, &v)) == 0)
            p->cgroup_memory_current = v;
    }
}

/* A keyed number of a /proc file (bytes for "kB" lines), 0 when absent; junk is refused with its reason. */
static int keyed(memgov_probe *p, unsigned src, const char *root, const char *path, const char *key, uint64_t *v)
{
    int rc = mg_read_keyed_u64(root, path, key, v);
    char what[96];
    snprintf(what, sizeof what, "%s %s", path, key);
    return mg_probe_refused(p, src, rc != 0 && errno == MG_EJUNK ? what : path, rc); /* the key only for junk */
}

void mg_probe_memory(const char *root, memgov_probe *p)
{
    static const char meminfo[] = "/proc/meminfo";
    const unsigned M = MEMGOV_PROBE_SRC_MEMINFO;
    uint64_t v;
    if (keyed(p, M, root, meminfo, "MemTotal", &v) == 0) {
        p->ram_total = v;
        p->sources |= MEMGOV_PROBE_SRC_MEMINFO;
    }
    if (keyed(p, M, root, meminfo, "MemAvailable", &v) == 0)
        p->mem_available = v;
    if (keyed(p, M, root, meminfo, "SwapTotal", &v) == 0)
        p->swap_total = v;
    if (keyed(p, M, root, meminfo, "SwapFree", &v) == 0)
        p->swap_free = v;
    if (keyed(p, M, root, meminfo, "Hugepagesize", &v) == 0)
        p->huge_page_size = v;
    if (keyed(p, M, root, meminfo, "HugePages_Total", &v) == 0)
        p->huge_pages_total = v;
    if (keyed(p, M, root, meminfo, "HugePages_Free", &v) == 0)
        p->huge_pages_free = v;
    long page = sysconf(_SC_PAGESIZE);
    p->page_size = page > 0 ? (uint64_t)page : MEMGOV_PROBE_UNKNOWN;

    probe_cgroup(root, p);

    if (keyed(p, MEMGOV_PROBE_SRC_STATUS, root, "/proc/self/status", "VmRSS", &v) == 0) {
        p->rss = v;
        p->sources |= MEMGOV_PROBE_SRC_STATUS;
    }
    if (keyed(p, MEMGOV_PROBE_SRC_STATUS, root, "/proc/self/status", "VmHWM", &v) == 0)
        p->peak_rss = v;

    if (p->ram_total != MEMGOV_PROBE_UNKNOWN) {
        uint64_t eff = p->ram_total;
        if (p->cgroup_version != 0)
            eff = min_u64(eff, min_u64(p->cgroup_memory_max, p->cgroup_memory_high));
        p->effective_memory = eff;
    }
}
