/* Internal: the parts of the probe, each filling its fields of a memgov_probe (see memgov/probe.h). */
#ifndef MG_PROBE_PARTS_H
#define MG_PROBE_PARTS_H

#include "memgov/probe.h"

/* After a reader (internal/procfs.h) returned rc != 0 for root-less `path` of source bit `src`: if errno says
 * the file was refused (not a regular file, junk, a path leaving the cgroup mount, too large) rather than absent,
 * sets the bit in p->rejected and appends "path: reason" to p->rejected_why. Returns rc. */
int mg_probe_refused(memgov_probe *p, unsigned src, const char *path, int rc);

/* /proc/meminfo, cgroup memory limits, /proc/self/status RSS; then effective_memory. */
void mg_probe_memory(const char *root, memgov_probe *p);
/* Affinity (Cpus_allowed_list or sched_getaffinity) and the cgroup CPU quota; then usable_cpus. */
void mg_probe_cpu_quota(const char *root, memgov_probe *p);
/* Cores, NUMA nodes and caches from hwloc. */
void mg_probe_hwloc(memgov_probe *p);
/* Vendor, model and SIMD features from libcpuid. */
void mg_probe_cpuid(memgov_probe *p);

#endif
