/* The CPU part of the probe: affinity and cgroup quota (under the injectable root), hwloc and libcpuid. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>
#include <libcpuid/libcpuid.h>

#include "internal/procfs.h"
#include "probe/probe_parts.h"

#define MAX_CPU_ID 65535 /* far above any kernel's NR_CPUS */

/* Counts the distinct CPUs of a list such as "0-3,6,8-9" (a CPU listed twice counts once). Returns -1 on
 * malformed text: a descending range, an id above MAX_CPU_ID, anything but blanks after the list. */
static long count_cpu_list(const char *s)
{
    static _Thread_local unsigned char seen[(MAX_CPU_ID + 1) / 8];
    memset(seen, 0, sizeof seen);
    long count = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        char *end;
        unsigned long a = strtoul(s, &end, 10), b = a;
        s = end;
        if (*s == '-') {
            if (s[1] < '0' || s[1] > '9')
                return -1;
            b = strtoul(s + 1, &end, 10);
            if (b < a)
                return -1;
            s = end;
        }
        if (b > MAX_CPU_ID)
            return -1;
        for (unsigned long c = a; c <= b; c++)
            if (!(seen[c / 8] & (1u << (c % 8)))) {
                seen[c / 8] |= (unsigned char)(1u << (c % 8));
                count++;
            }
        if (*s == ',' && s[1] >= '0' && s[1] <= '9')
            s++;
    }
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return *s == '\0' || *s == '\n' ? count : -1;
}

static unsigned allowed_cpus(const char *root, memgov_probe *p)
{
    char buf[16384];
    if (mg_read_text(root, "/proc/self/status", buf, sizeof buf) >= 0) {
        const char *line = strstr(buf, "\nCpus_allowed_list:");
        line = line != NULL ? line + 1 : strncmp(buf, "Cpus_allowed_list:", 18) == 0 ? buf : NULL;
        if (line != NULL) {
            long n = count_cpu_list(line + strlen("Cpus_allowed_list:"));
            if (n > 0)
                return (unsigned)n;
            errno = MG_EJUNK;
            mg_probe_refused(p, MEMGOV_PROBE_SRC_STATUS, "/proc/self/status Cpus_allowed_list", -1);
        }
    } else {
        mg_probe_refused(p, MEMGOV_PROBE_SRC_STATUS, "/proc/self/status", -1);
    }
    if (root[0] != '\0')
        return 0; /* an injected root answers for itself: the real mask would mix two machines */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    return (unsigned)CPU_COUNT(&set);
}

/* Reads "QUOTA PERIOD" (v2 cpu.max: QUOTA a count of microseconds or "max", PERIOD a positive count) and returns
 * CPUs, 0 for none or unknown; anything else (a negative quota, a zero period, text after) is refused. */
static double read_cpu_max(memgov_probe *p, const char *root, const char *path)
{
    char buf[128];
    if (mg_probe_refused(p, MEMGOV_PROBE_SRC_CPU_QUOTA, path, mg_read_text(root, path, buf, sizeof buf) < 0 ? -1 : 0))
        return 0;
    char quota[32], period[32], extra[2];
    int n = sscanf(buf, "%31s %31s %1s", quota, period, extra);
    uint64_t q = 0, per = 0;
    int max = n == 2 && strcmp(quota, "max") == 0;
    if (n != 2 || (!max && mg_parse_u64(quota, &q) != 0) || q == UINT64_MAX || mg_parse_u64(period, &per) != 0 ||
        per == 0 || per == UINT64_MAX) {
        errno = MG_EJUNK;
        mg_probe_refused(p, MEMGOV_PROBE_SRC_CPU_QUOTA, path, -1);
        return 0;
    }
    return max ? 0 : (double)q / (double)per;
}

static double cgroup_cpu_quota(const char *root, memgov_probe *p)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    double best = 0;
    if (mg_cgroup2_dir(root, dir, sizeof dir) == 0) {
        /* A parent's quota binds its children: the smallest along the ancestors counts. */
        for (;;) {
            snprintf(path, sizeof path, "%s/cpu.max", dir);
            double q = read_cpu_max(p, root, path);
            if (q > 0 && (best == 0 || q < best))
                best = q;
            char *slash = strrchr(dir, '/');
            if (slash == NULL || strcmp(dir, "/sys/fs/cgroup") == 0)
                break;
            *slash = '\0';
        }
        return best;
    }
    if (mg_cgroup1_dir(root, "cpu,cpuacct", dir, sizeof dir) == 0 ||
        mg_cgroup1_dir(root, "cpu", dir, sizeof dir) == 0) {
        char qbuf[64];
        uint64_t period, quota;
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
        if (mg_read_text(root, path, qbuf, sizeof qbuf) < 0)
            return 0;
        char *t = qbuf;
        while (*t == ' ')
            t++;
        if (strncmp(t, "-1", 2) == 0 && (t[2] == '\0' || t[2] == '\n'))
            return 0; /* v1's "no quota" */
        if (mg_parse_u64(t, &quota) != 0 || quota == UINT64_MAX) {
            errno = MG_EJUNK;
            mg_probe_refused(p, MEMGOV_PROBE_SRC_CPU_QUOTA, path, -1);
            return 0;
        }
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        if (quota > 0 && mg_probe_refused(p, MEMGOV_PROBE_SRC_CPU_QUOTA, path, mg_read_u64(root, path, &period)) == 0 &&
            period > 0 && period != UINT64_MAX)
            best = (double)quota / (double)period;
    }
    return best;
}

void mg_probe_cpu_quota(const char *root, memgov_probe *p)
{
    p->allowed_cpus = allowed_cpus(root, p);
    p->cpu_quota = cgroup_cpu_quota(root, p);
    if (p->cpu_quota > 0)
        p->sources |= MEMGOV_PROBE_SRC_CPU_QUOTA;
    unsigned usable = p->allowed_cpus;
    if (p->cpu_quota > 0) {
        double q = ceil(p->cpu_quota);
        unsigned qc = q > (double)UINT_MAX ? UINT_MAX : (unsigned)q;
        if (usable == 0 || qc < usable)
            usable = qc;
    }
    p->usable_cpus = usable;
}

static uint64_t first_cache(hwloc_topology_t topo, hwloc_obj_type_t type)
{
    for (hwloc_obj_t o = hwloc_get_next_obj_by_type(topo, type, NULL); o != NULL;
         o = hwloc_get_next_obj_by_type(topo, type, o))
        if (o->attr != NULL && o->attr->cache.type != HWLOC_OBJ_CACHE_INSTRUCTION)
            return o->attr->cache.size;
    return MEMGOV_PROBE_UNKNOWN;
}

void mg_probe_hwloc(memgov_probe *p)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return;
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return;
    }
    int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    p->physical_cores = cores > 0 ? (unsigned)cores : 0;
    p->logical_cpus = pus > 0 ? (unsigned)pus : 0;
    p->numa_nodes = nodes > 0 ? (unsigned)nodes : 0;
    for (int i = 0; i < nodes && i < MEMGOV_PROBE_MAX_NUMA_NODES; i++) {
        hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        if (node != NULL && node->attr != NULL)
            p->numa_node_memory[i] = node->attr->numanode.local_memory;
    }
    p->l1d_size = first_cache(topo, HWLOC_OBJ_L1CACHE);
    p->l2_size = first_cache(topo, HWLOC_OBJ_L2CACHE);
    p->l3_size = first_cache(topo, HWLOC_OBJ_L3CACHE);
    hwloc_topology_destroy(topo);
    p->sources |= MEMGOV_PROBE_SRC_HWLOC;
}

void mg_probe_cpuid(memgov_probe *p)
{
#if defined(__ARM_NEON)
    p->simd |= MEMGOV_SIMD_NEON; /* libcpuid 0.6 knows only x86: the compiler's target says NEON is there */
#endif
    if (!cpuid_present())
        return;
    struct cpu_raw_data_t raw;
    struct cpu_id_t id;
    if (cpuid_get_raw_data(&raw) != 0 || cpu_identify(&raw, &id) != 0)
        return;
    snprintf(p->cpu_vendor, sizeof p->cpu_vendor, "%s", id.vendor_str);
    snprintf(p->cpu_model, sizeof p->cpu_model, "%s", id.brand_str);
    static const struct { cpu_feature_t feature; unsigned bit; } map[] = {
        {CPU_FEATURE_SSE2, MEMGOV_SIMD_SSE2},   {CPU_FEATURE_SSE4_2, MEMGOV_SIMD_SSE4_2},
        {CPU_FEATURE_AVX, MEMGOV_SIMD_AVX},     {CPU_FEATURE_AVX2, MEMGOV_SIMD_AVX2},
        {CPU_FEATURE_FMA3, MEMGOV_SIMD_FMA3},   {CPU_FEATURE_AVX512F, MEMGOV_SIMD_AVX512F},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (id.flags[map[i].feature])
            p->simd |= map[i].bit;
    p->sources |= MEMGOV_PROBE_SRC_CPUID;
}
