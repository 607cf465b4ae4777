/* memgov_probe_read(): runs each part of the probe and measures the disks. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "internal/error.h"
#include "internal/procfs.h"
#include "internal/structsize.h"
#include "probe/probe_parts.h"

MEMGOV_API void memgov_probe_options_init(memgov_probe_options *opts)
{
    mg_struct_init(opts, sizeof *opts);
}

int mg_probe_refused(memgov_probe *p, unsigned src, const char *path, int rc)
{
    if (rc == 0)
        return rc;
    int e = errno;
    const char *why = e == MG_ENOTREG ? "not a regular file" : e == MG_EJUNK ? "not a number (junk)" :
                      e == MG_ELEAVES ? "the cgroup path has '..' or '.' and would leave the cgroup mount" :
                      e == EFBIG ? "larger than 1 MiB" : NULL;
    if (why != NULL) {
        p->rejected |= src;
        size_t len = strlen(p->rejected_why);
        if (strstr(p->rejected_why, path) == NULL && len + 1 < sizeof p->rejected_why)
            snprintf(p->rejected_why + len, sizeof p->rejected_why - len, "%s%s: %s", len ? "; " : "", path, why);
    }
    errno = e;
    return rc;
}

/* statvfs of a directory: total size and the space an unprivileged user may still take. */
static int measure_fs(const char *dir, uint64_t *total, uint64_t *avail)
{
    struct statvfs st;
    if (statvfs(dir, &st) != 0)
        return -1;
    uint64_t frsize = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
    if (frsize != 0 && (uint64_t)st.f_blocks > UINT64_MAX / frsize)
        return -1;
    *total = (uint64_t)st.f_blocks * frsize;
    *avail = (uint64_t)st.f_bavail * frsize;
    return 0;
}

MEMGOV_API memgov_status memgov_probe_read(const memgov_probe_options *opts, memgov_probe *out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_probe_read: out is NULL");
    memgov_probe_options o;
    memgov_probe_options_init(&o);
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_probe_options");
    if (st != MEMGOV_OK)
        return st;
    const char *root = o.root != NULL ? o.root : "";

    memgov_probe p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    mg_probe_memory(root, &p);
    mg_probe_cpu_quota(root, &p);
    if (!(o.flags & MEMGOV_PROBE_NO_HWLOC))
        mg_probe_hwloc(&p);
    if (!(o.flags & MEMGOV_PROBE_NO_CPUID))
        mg_probe_cpuid(&p);

    if (measure_fs(o.disk_dir != NULL ? o.disk_dir : ".", &p.disk_total, &p.disk_free) == 0)
        p.sources |= MEMGOV_PROBE_SRC_DISK;
    char shm[PATH_MAX];
    int n = snprintf(shm, sizeof shm, "%s/dev/shm", root);
    if (n > 0 && (size_t)n < sizeof shm && measure_fs(shm, &p.shm_total, &p.shm_free) == 0)
        p.sources |= MEMGOV_PROBE_SRC_SHM;
    return mg_struct_out(out, &p, sizeof p, "memgov_probe");
}
