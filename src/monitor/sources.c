/* The built-in metrics: /proc/<pid>/status (optionally over the process tree), /proc/meminfo, the cgroup's
 * memory files and PSI, all under the monitor's injectable root; and the private jemalloc's statistics. */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/grow.h"
#include "internal/je.h"
#include "internal/procfs.h"
#include "monitor/monitor_internal.h"

const char *const mg_builtin_names[MG_BUILTIN_METRICS] = {
    "process.rss", "process.swap", "system.available", "system.swap_used", "cgroup.current",
    "cgroup.events.oom", "cgroup.events.max", "cgroup.events.high", "psi.some_avg10", "psi.full_avg10",
    "jemalloc.active", "jemalloc.resident", "jemalloc.mapped", "jemalloc.retained",
};
const char *const mg_builtin_units[MG_BUILTIN_METRICS] = {
    "bytes", "bytes", "bytes", "bytes", "bytes", "count", "count", "count", "percent", "percent",
    "bytes", "bytes", "bytes", "bytes",
};

static double keyed(const char *root, const char *path, const char *key)
{
    uint64_t v;
    return mg_read_keyed_u64(root, path, key, &v) == 0 ? (double)v : NAN;
}

/* The parent of pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces and parentheses). */
static int parent_of(const char *root, long pid, long *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (mg_read_text(root, path, buf, sizeof buf) < 0)
        return -1;
    const char *close = strrchr(buf, ')');
    char state;
    return close != NULL && sscanf(close + 1, " %c %ld", &state, ppid) == 2 ? 0 : -1;
}

typedef struct pids {
    long *pid, *ppid;
    size_t n, cap;
} pids;

static int push(pids *p, long pid, long ppid)
{
    if (p->n == p->cap) {
        size_t cap = p->cap; /* two arrays of one capacity: the second call commits it */
        long *a = mg_grow(p->pid, &cap, p->n, sizeof *a, 256);
        if (a == NULL)
            return -1;
        p->pid = a;
        long *b = mg_grow(p->ppid, &p->cap, p->n, sizeof *b, 256);
        if (b == NULL)
            return -1;
        p->ppid = b;
    }
    p->pid[p->n] = pid;
    p->ppid[p->n++] = ppid;
    return 0;
}

/* Sums VmRSS and VmSwap of pid and, with tree, of every descendant found in /proc. */
static void process_memory(const char *root, long pid, int tree, double *rss, double *swap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    *rss = keyed(root, path, "VmRSS");
    *swap = keyed(root, path, "VmSwap");
    if (!tree || isnan(*rss))
        return;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/proc", root);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    pids all = {0};
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        long p, pp;
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        p = strtol(e->d_name, NULL, 10);
        if (parent_of(root, p, &pp) == 0 && push(&all, p, pp) != 0)
            break;
    }
    closedir(d);
    /* Breadth-first from pid over the parent links: `found` holds the tree, visited in order. */
    long *found = malloc((all.n + 1) * sizeof *found);
    if (found != NULL) {
        size_t n = 0;
        found[n++] = pid;
        for (size_t head = 0; head < n; head++)
            for (size_t i = 0; i < all.n; i++)
                if (all.ppid[i] == found[head] && all.pid[i] != pid && n <= all.n)
                    found[n++] = all.pid[i];
        for (size_t i = 1; i < n; i++) {
            snprintf(path, sizeof path, "/proc/%ld/status", found[i]);
            double r = keyed(root, path, "VmRSS"), s = keyed(root, path, "VmSwap");
            if (!isnan(r))
                *rss += r; /* a zombie or kernel thread has no VmRSS and counts nothing */
            if (!isnan(s))
                *swap = isnan(*swap) ? s : *swap + s;
        }
    }
    free(found);
    free(all.pid);
    free(all.ppid);
}

static void cgroup_memory(const char *root, double *v)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (mg_cgroup2_dir(root, dir, sizeof dir) == 0) {
        uint64_t cur;
        snprintf(path, sizeof path, "%s/memory.current", dir);
        v[0] = mg_read_u64(root, path, &cur) == 0 ? (double)cur : NAN;
        snprintf(path, sizeof path, "%s/memory.events", dir);
        v[1] = keyed(root, path, "oom");
        v[2] = keyed(root, path, "max");
        v[3] = keyed(root, path, "high");
    } else if (mg_cgroup1_dir(root, "memory", dir, sizeof dir) == 0) {
        uint64_t cur;
        snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
        v[0] = mg_read_u64(root, path, &cur) == 0 ? (double)cur : NAN;
    }
}

/* jemalloc's statistics are a snapshot taken when the epoch advances (a global lock: fine at sampling rates,
 * never on an allocation path; docs/design.md 4.2). jemalloc is one per process, so one process-wide mutex
 * serialises the refresh-and-read: two monitors sampling at once would only refresh twice, and the mutex gives
 * ThreadSanitizer the ordering it cannot see inside the uninstrumented jemalloc (its lazy initialisation on the
 * first mallctl otherwise reports as a race). */
static pthread_mutex_t jemalloc_stats_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_fork_lock jemalloc_stats_fork; /* the lock across fork() (internal/atfork.h) */
static pthread_once_t jemalloc_stats_once = PTHREAD_ONCE_INIT;

static void jemalloc_stats_init(void)
{
    mg_fork_lock_add(&jemalloc_stats_fork, &jemalloc_stats_lock, MG_FORK_RANK_LEAF, NULL, NULL);
}

static void jemalloc_stats(double *v)
{
    static const char *const names[] = {"stats.active", "stats.resident", "stats.mapped", "stats.retained"};
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    pthread_once(&jemalloc_stats_once, jemalloc_stats_init);
    pthread_mutex_lock(&jemalloc_stats_lock);
    if (mgje_mallctl("epoch", &epoch, &len, &epoch, len) == 0) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            size_t value;
            len = sizeof value;
            if (mgje_mallctl(names[i], &value, &len, NULL, 0) == 0)
                v[i] = (double)value;
        }
    }
    pthread_mutex_unlock(&jemalloc_stats_lock);
}

void mg_read_builtins(const char *root, int32_t pid, int tree, double v[MG_BUILTIN_METRICS])
{
    for (int i = 0; i < MG_BUILTIN_METRICS; i++)
        v[i] = NAN;
    long p = pid != 0 ? pid : (long)getpid();
    if (pid == 0 && !tree) {
        v[0] = keyed(root, "/proc/self/status", "VmRSS");
        v[1] = keyed(root, "/proc/self/status", "VmSwap");
    } else {
        process_memory(root, p, tree, &v[0], &v[1]);
    }
    v[2] = keyed(root, "/proc/meminfo", "MemAvailable");
    double total = keyed(root, "/proc/meminfo", "SwapTotal"), free_ = keyed(root, "/proc/meminfo", "SwapFree");
    v[3] = total >= free_ ? total - free_ : NAN;
    cgroup_memory(root, &v[4]);
    double psi;
    if (mg_read_psi_avg10(root, "/proc/pressure/memory", "some", &psi) == 0)
        v[8] = psi;
    if (mg_read_psi_avg10(root, "/proc/pressure/memory", "full", &psi) == 0)
        v[9] = psi;
    jemalloc_stats(&v[10]);
}

double mg_slope(const double *x, const double *y, size_t n)
{
    double sx = 0, sy = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(y[i])) {
            sx += x[i];
            sy += y[i];
            k++;
        }
    if (k < 2)
        return NAN;
    double mx = sx / (double)k, my = sy / (double)k, sxy = 0, sxx = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(y[i])) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
        }
    return sxx > 0 ? sxy / sxx : NAN;
}
