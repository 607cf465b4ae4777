/*
 * memgov/probe.h — machine facts: RAM, swap, cgroup limits (v1 and v2), process RSS, cores, NUMA nodes and caches
 * (hwloc), CPU vendor, model and SIMD features (libcpuid), usable CPUs, disk and /dev/shm space.
 *
 * The probe is a plain stats struct (struct_size rule, common.h) filled by memgov_probe_read(). Every source is
 * optional: a file that cannot be read, a library that does not know the CPU, a directory that does not exist
 * leave their fields at MEMGOV_PROBE_UNKNOWN (0) and clear their bit in `sources`; they never make the call fail.
 * Hostile files are refused, not trusted: every /proc and /sys file is opened without blocking and read only if
 * it is a regular file; /proc/self/cgroup is read whole (up to 1 MiB); a cgroup path never leaves the cgroup
 * mount; junk where a number belongs is unknown with the reason in `rejected_why`.
 * The /proc and /sys root is injectable (memgov_probe_options.root) so tests run on fixture trees; hwloc,
 * libcpuid, the page size and statvfs always describe the real machine (pass MEMGOV_PROBE_NO_HWLOC /
 * MEMGOV_PROBE_NO_CPUID to skip them), see docs/probe.md.
 */
#ifndef MEMGOV_PROBE_H
#define MEMGOV_PROBE_H

#include "memgov/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MEMGOV_PROBE_UNKNOWN 0u            /* a field whose source could not be read */
#define MEMGOV_PROBE_UNLIMITED UINT64_MAX  /* a cgroup limit set to "max" (no limit) */
#define MEMGOV_PROBE_MAX_NUMA_NODES 16     /* numa_node_memory[] holds the first 16 nodes */

/* Bits of memgov_probe.sources: which sources answered. Values are pinned. */
#define MEMGOV_PROBE_SRC_MEMINFO  (1u << 0) /* /proc/meminfo */
#define MEMGOV_PROBE_SRC_CGROUP   (1u << 1) /* a cgroup v1 or v2 memory controller */
#define MEMGOV_PROBE_SRC_STATUS   (1u << 2) /* /proc/self/status (RSS, peak RSS, allowed CPUs) */
#define MEMGOV_PROBE_SRC_HWLOC    (1u << 3) /* hwloc's topology */
#define MEMGOV_PROBE_SRC_CPUID    (1u << 4) /* libcpuid */
#define MEMGOV_PROBE_SRC_DISK     (1u << 5) /* statvfs of disk_dir */
#define MEMGOV_PROBE_SRC_SHM      (1u << 6) /* statvfs of /dev/shm */
#define MEMGOV_PROBE_SRC_CPU_QUOTA (1u << 7) /* a cgroup cpu quota (cpu.max or cfs_quota_us) */

/* Bits of memgov_probe.simd. Values are pinned. */
#define MEMGOV_SIMD_SSE2    (1u << 0)
#define MEMGOV_SIMD_SSE4_2  (1u << 1)
#define MEMGOV_SIMD_AVX     (1u << 2)
#define MEMGOV_SIMD_AVX2    (1u << 3)
#define MEMGOV_SIMD_FMA3    (1u << 4)
#define MEMGOV_SIMD_AVX512F (1u << 5)
#define MEMGOV_SIMD_NEON    (1u << 6)

/* Bits of memgov_probe_options.flags. */
#define MEMGOV_PROBE_NO_HWLOC (1u << 0) /* do not load hwloc's topology (cores, NUMA, caches stay unknown) */
#define MEMGOV_PROBE_NO_CPUID (1u << 1) /* do not ask libcpuid (vendor, model, simd stay unknown) */

/* Options of memgov_probe_read(). Initialise with memgov_probe_options_init(). */
typedef struct memgov_probe_options {
    size_t struct_size;
    const char *root;     /* prefix of /proc and /sys paths; NULL or "" = the real filesystem. Borrowed. */
    const char *disk_dir; /* directory whose file system is measured (statvfs); NULL = "." (real path). */
    unsigned flags;       /* MEMGOV_PROBE_NO_* bits */
} memgov_probe_options;

/* What the probe found. Sizes are bytes; 0 (MEMGOV_PROBE_UNKNOWN) means unknown unless said otherwise. Junk is
 * never read as a number: a source whose text does not parse is unknown, its bit is in `rejected` and the
 * reason in `rejected_why`. */
typedef struct memgov_probe {
    size_t struct_size;
    unsigned sources;          /* MEMGOV_PROBE_SRC_* bits of the sources that answered */
    /* memory */
    uint64_t ram_total;        /* MemTotal */
    uint64_t mem_available;    /* MemAvailable */
    uint64_t swap_total, swap_free;
    uint64_t page_size;        /* sysconf(_SC_PAGESIZE) of the real machine */
    uint64_t huge_page_size;   /* Hugepagesize */
    uint64_t huge_pages_total, huge_pages_free; /* counts of huge pages, not bytes */
    int cgroup_version;        /* 0 none found, 1 or 2 */
    uint64_t cgroup_memory_max;  /* memory.max / memory.limit_in_bytes, the smallest along the cgroup's
                                    ancestors; MEMGOV_PROBE_UNLIMITED for "max"; 0 with MEMGOV_PROBE_SRC_CGROUP
                                    in sources is a real limit of 0 bytes, not unknown */
    uint64_t cgroup_memory_high; /* v2 memory.high (smallest along ancestors); MEMGOV_PROBE_UNLIMITED for "max" */
    uint64_t cgroup_memory_current; /* memory.current / memory.usage_in_bytes */
    uint64_t rss, peak_rss;    /* the calling process's VmRSS and VmHWM */
    uint64_t effective_memory; /* min(ram_total, cgroup_memory_max, cgroup_memory_high); unknown if RAM is */
    /* CPU */
    unsigned physical_cores;   /* hwloc cores */
    unsigned logical_cpus;     /* hwloc processing units */
    unsigned numa_nodes;       /* hwloc NUMA nodes */
    uint64_t numa_node_memory[MEMGOV_PROBE_MAX_NUMA_NODES]; /* local memory of each node */
    uint64_t l1d_size, l2_size, l3_size; /* the first cache of each level (hwloc) */
    char cpu_vendor[32];       /* libcpuid vendor string, e.g. "GenuineIntel"; "" unknown */
    char cpu_model[64];        /* libcpuid brand string; "" unknown */
    unsigned simd;             /* MEMGOV_SIMD_* bits (libcpuid) */
    unsigned allowed_cpus;     /* CPUs in the affinity mask (Cpus_allowed_list, else sched_getaffinity) */
    double cpu_quota;          /* cgroup CPU quota in CPUs (1.5 = 150 ms per 100 ms); 0 = none or unknown */
    unsigned usable_cpus;      /* min(allowed_cpus, ceil(cpu_quota)), at least 1 when anything is known */
    /* disk */
    uint64_t disk_total, disk_free; /* file system of disk_dir (free = available to unprivileged users) */
    uint64_t shm_total, shm_free;   /* /dev/shm (under root) */
    /* refused sources (appended after 0.1.0: written when the caller's struct_size covers them) */
    unsigned rejected;         /* MEMGOV_PROBE_SRC_* bits of sources that were there but refused: junk where a
                                  number belongs ("12abc kB", "MemTotal: max", a negative cpu.max quota, a CPU list
                                  with text after it), a file that is not a regular file (a FIFO), a cgroup path
                                  with ".." (it would leave the cgroup mount). Their fields stay unknown. */
    char rejected_why[512];    /* why, one "path: reason" per refusal separated by "; " (cut to fit); "" if none */
} memgov_probe;

/* Fills opts with the defaults (real filesystem, ".", every source) and sets struct_size.
 * Thread safety: any thread (opts is the caller's). Does nothing if opts is NULL. */
MEMGOV_API void memgov_probe_options_init(memgov_probe_options *opts);

/* Probes the machine and writes the result into *out (up to out->struct_size bytes, which the caller sets to
 * sizeof(memgov_probe)). opts may be NULL (defaults). Unreadable sources are unknown, never an error.
 * Errors: MEMGOV_EINVAL if out is NULL or a struct_size is invalid. (A root that does not exist is a machine
 * where everything is unknown, not an error: `memgov probe --root` checks it.) Takes a few milliseconds with hwloc.
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_probe_read(const memgov_probe_options *opts, memgov_probe *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_PROBE_H */
