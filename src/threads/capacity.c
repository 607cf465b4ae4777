/* The governor's thread capacity: what the CPUs, the cgroup quota, the cores and the key threads.max allow
 * (memgov/threads.h, top). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "memgov/probe.h"
#include "threads/threads_internal.h"

void mg_threads_probe(const char *proc_root, mg_threads_facts *f)
{
    memgov_probe_options po;
    memgov_probe_options_init(&po);
    po.root = proc_root;
    /* An injected root answers for itself: the real machine's cores would mix two machines (as the probe does
     * with the affinity mask). */
    po.flags = MEMGOV_PROBE_NO_CPUID | (proc_root != NULL && proc_root[0] != '\0' ? MEMGOV_PROBE_NO_HWLOC : 0);
    memgov_probe p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    memset(f, 0, sizeof *f);
    if (memgov_probe_read(&po, &p) != MEMGOV_OK)
        return;
    f->allowed_cpus = p.allowed_cpus;
    f->cpu_quota = p.cpu_quota;
    f->physical_cores = p.physical_cores;
    f->logical_cpus = p.logical_cpus;
}

/* Lowers *cap to v (when v is a known limit below it) and says why. */
static void lower(unsigned *cap, unsigned v, char *why, size_t size, const char *what)
{
    if (v != 0 && v < *cap) {
        *cap = v;
        snprintf(why, size, "%s", what);
    }
}

unsigned mg_threads_capacity(const mg_threads_facts *f, bool use_smt, unsigned threads_max, char *why, size_t size)
{
    char text[160];
    unsigned cap = UINT32_MAX;
    snprintf(why, size, "nothing known about the CPUs: 1");
    snprintf(text, sizeof text, "%u CPUs in the affinity mask", f->allowed_cpus);
    lower(&cap, f->allowed_cpus, why, size, text);
    if (f->cpu_quota > 0) {
        /* Rounded up: a quota is a rate, so a thread beyond its whole CPUs still gets its fraction done. */
        double q = ceil(f->cpu_quota);
        unsigned qc = q >= 4096.0 ? 4096u : (unsigned)q;
        snprintf(text, sizeof text, "cgroup cpu quota %.2f CPUs, rounded up to %u", f->cpu_quota, qc);
        lower(&cap, qc, why, size, text);
    }
    if (use_smt) {
        snprintf(text, sizeof text, "%u hardware threads", f->logical_cpus);
        lower(&cap, f->logical_cpus, why, size, text);
    } else {
        snprintf(text, sizeof text, "%u physical cores (threads.use_smt = false)", f->physical_cores);
        lower(&cap, f->physical_cores, why, size, text);
    }
    snprintf(text, sizeof text, "threads.max = %u", threads_max);
    lower(&cap, threads_max, why, size, text);
    if (cap == UINT32_MAX)
        cap = 1;
    return cap;
}
