/* The CPU part of the probe: affinity and cgroup quota (under the injectable root), hwloc and libcpuid. */
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

/* Counts the CPUs of a list such as "0-3,6,8-9". Returns -1 on malformed text. */
static long count_cpu_list(const char *s)
{
    long count = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    while (*s >= '0' && *s <= '9') {
        char *end;
        unsigned long a = strtoul(s, &end, 10), b = a;
        s = end;
        if (*s == '-') {
            b = strtoul(s + 1, &end, 10);
            if (end == s + 1 || b < a)
                return -1;
            s = end;
        }
        if (b - a > 65536)
            return -1;
        count += (long)(b - a + 1);
        if (*s == ',')
            s++;
    }
    return count;
}

static unsigned allowed_cpus(const char *root)
{
    char buf[16384];
    if (mg_read_text(root, "/proc/self/status", buf, sizeof buf) >= 0) {
        const char *line = strstr(buf, "Cpus_allowed_list:");
        if (line != NULL) {
            long n = count_cpu_list(line + strlen("Cpus_allowed_list:"));
            if (n > 0)
                return (unsigned)n;
        }
    }
    if (root[0] != '\0')
        return 0; /* an injected root answers for itself: the real mask would mix two machines */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    return (unsigned)CPU_COUNT(&set);
}

/* Reads "QUOTA PERIOD" (v2 cpu.max; QUOTA may be "max") and returns CPUs, 0 for none. */
static double read_cpu_max(const char *root, const char *path)
{
    char buf[128];
    if (mg_read_text(root, path, buf, sizeof buf) < 0 || strncmp(buf, "max", 3) == 0)
        return 0;
    char *end;
    unsigned long long quota = strtoull(buf, &end, 10);
    unsigned long long period = strtoull(end, NULL, 10);
    return end != buf && period > 0 ? (double)quota / (double)period : 0;
}

static double cgroup_cpu_quota(const char *root)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    double best = 0;
    if (mg_cgroup2_dir(root, dir, sizeof dir) == 0) {
        /* A parent's quota binds its children: the smallest along the ancestors counts. */
        for (;;) {
            snprintf(path, sizeof path, "%s/cpu.max", dir);
            double q = read_cpu_max(root, path);
            if (q > 0 && (best == 0 || q < best))
                best = q;
            char *slash = strrchr(dir, '/');
            if (slash == NULL || strcmp(dir, "/sys/fs/cgroup") == 0)
                break;
            *slash = '\0';
        }
        return best;
    }
    if (mg_cgroup1_dir(root, "cpu,cpuacct", dir, sizeof dir) == 0 || mg_cgroup1_dir(root, "cpu", dir, sizeof dir) == 0) {
        char qbuf[64];
        uint64_t period;
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
        if (mg_read_text(root, path, qbuf, sizeof qbuf) < 0)
            return 0;
        long long quota = strtoll(qbuf, NULL, 10);
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        if (quota > 0 && mg_read_u64(root, path, &period) == 0 && period > 0)
            best = (double)quota / (double)period;
    }
    return best;
}

void mg_probe_cpu_quota(const char *root, memgov_probe *p)
{
    p->allowed_cpus = allowed_cpus(root);
    p->cpu_quota = cgroup_cpu_quota(root);
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
