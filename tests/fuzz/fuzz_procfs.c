/* libFuzzer target for the /proc and cgroup readers: the input, split at NUL bytes, becomes the files of a
 * fixture tree the fuzzer writes (piece i -> paths[i]; an empty or missing piece removes the file), then the
 * memory and CPU parts of the probe, the cgroup directory readers and the PSI reader run on it. Canary files
 * outside the cgroup mount (inside the root and outside it) hold 777777: a probe that reports it followed a
 * cgroup path out of the mount. A directory path from the cgroup readers with a "." or ".." component fails too,
 * and so does a MemTotal read as a number exactly when an independent strict check calls its line junk, or a
 * first "0::/a" line of /proc/self/cgroup (wherever it lies in the file) that does not give /sys/fs/cgroup/a.
 * The tree lives in one mkdtemp directory (under /dev/shm, else /tmp) for the whole run, removed at exit. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/procfs.h"
#include "memgov/probe.h"
#include "probe/probe_parts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *const paths[] = {
    "/proc/meminfo",
    "/proc/self/cgroup",
    "/proc/self/status",
    "/sys/fs/cgroup/cgroup.controllers",
    "/sys/fs/cgroup/a/memory.max",
    "/sys/fs/cgroup/a/memory.high",
    "/sys/fs/cgroup/a/cpu.max",
    "/sys/fs/cgroup/a/memory.current",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
    "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us",
    "/proc/pressure/memory",
};
#define N_PATHS (sizeof paths / sizeof paths[0])
#define CANARY 777777u

static char base[64], root[96];

static void put(const char *dir, const char *path, const char *text, size_t len)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s", dir, path);
    for (char *p = full + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(full, 0700);
        *p = '/';
    }
    int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (len > 0 && write(fd, text, len) != (ssize_t)len)
        abort();
    close(fd);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* At exit (libFuzzer exits normally at -max_total_time): the tree goes away. */
static void remove_tree(void)
{
    nftw(base, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* in memory where possible: thousands of small files are rewritten per second */
    snprintf(base, sizeof base, "/dev/shm/mg-fuzz-procfs-XXXXXX");
    if (mkdtemp(base) == NULL) {
        snprintf(base, sizeof base, "/tmp/mg-fuzz-procfs-XXXXXX");
        if (mkdtemp(base) == NULL)
            abort();
    }
    atexit(remove_tree);
    snprintf(root, sizeof root, "%s/root", base);
    mkdir(root, 0700);
    static const char *const canaries[] = {"/x/memory.max", "/x/memory.high", "/x/memory.current",
                                           "/sys/x/memory.max", "/sys/fs/x/memory.max", "/memory.max"};
    for (size_t i = 0; i < sizeof canaries / sizeof canaries[0]; i++) {
        put(root, canaries[i], "777777\n", 7);
        put(base, canaries[i], "777777\n", 7); /* outside the root */
    }
    put(root, "/x/cpu.max", "777777 1\n", 9);
    put(base, "/x/cpu.max", "777777 1\n", 9);
    return 0;
}

/* The oracle of the junk class: whether meminfo's first MemTotal line is well-formed ("MemTotal:", blanks, a
 * decimal that fits 64 bits after the kB scaling, then nothing or " kB"), written independently of procfs.c. */
static int memtotal_well_formed(const char *text, size_t len)
{
    for (size_t at = 0; at < len;) {
        const char *line = text + at, *nl = memchr(line, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - at;
        at += n + 1;
        if (n < 9 || memcmp(line, "MemTotal", 8) != 0 || (line[8] != ':' && line[8] != ' ' && line[8] != '\t'))
            continue;
        size_t i = line[8] == ':' ? 9 : 8, digits = 0;
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        unsigned __int128 v = 0;
        for (; i < n && line[i] >= '0' && line[i] <= '9'; i++, digits++)
            v = v * 10 + (unsigned)(line[i] - '0') > UINT64_MAX ? (unsigned __int128)UINT64_MAX + 1
                                                                : v * 10 + (unsigned)(line[i] - '0');
        if (digits == 0 || v > UINT64_MAX)
            return 0;
        size_t j = i, k;
        while (j < n && (line[j] == ' ' || line[j] == '\t'))
            j++;
        for (k = j; k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'); k++)
            ;
        if (k == n)
            return 1;
        if (line[i] == ' ' && n - j >= 2 && memcmp(line + j, "kB", 2) == 0) {
            for (j += 2; j < n && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r'); j++)
                ;
            return j == n && v <= UINT64_MAX / 1024;
        }
        return 0;
    }
    return 0;
}

/* The oracle of the cut-file class: the path of the first "ID::PATH" line of a /proc/self/cgroup text is "/a". */
static int first_v2_line_is_a(const char *text, size_t len)
{
    for (size_t at = 0; at < len;) {
        const char *line = text + at, *nl = memchr(line, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - at;
        at += n + 1;
        const char *c1 = memchr(line, ':', n);
        if (c1 == NULL)
            continue;
        const char *c2 = memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line));
        if (c2 == c1 + 1)
            return (size_t)(line + n - (c2 + 1)) == 2 && memcmp(c2 + 1, "/a", 2) == 0;
    }
    return 0;
}

static void check_dir(int rc, const char *dir)
{
    if (rc == 0 && (strncmp(dir, "/sys/fs/cgroup", 14) != 0 || !mg_cgroup_path_ok(dir)))
        abort(); /* a directory outside the mount, or with a "." or ".." component */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct { const char *text; size_t len; } pieces[N_PATHS] = {{NULL, 0}};
    size_t start = 0;
    for (size_t i = 0; i < N_PATHS; i++) {
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%s%s", root, paths[i]);
        if (start > size) {
            unlink(full);
            continue;
        }
        const uint8_t *nul = memchr(data + start, 0, size - start);
        size_t len = nul != NULL ? (size_t)(nul - (data + start)) : size - start;
        pieces[i].text = (const char *)data + start;
        pieces[i].len = len;
        if (len > 0)
            put(root, paths[i], (const char *)data + start, len);
        else
            unlink(full);
        start += len + 1;
    }
    const uint8_t *end0 = memchr(data, 0, size);
    size_t meminfo_len = end0 != NULL ? (size_t)(end0 - data) : size;
    /* (the reader's buffer is 16 KiB: only judge meminfo files that fit it whole) */
    int judge = meminfo_len < 16000, memtotal_ok = memtotal_well_formed((const char *)data, meminfo_len);
    memgov_probe p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    mg_probe_memory(root, &p);
    mg_probe_cpu_quota(root, &p);
    if (p.cgroup_memory_max == CANARY || p.cgroup_memory_high == CANARY || p.cgroup_memory_current == CANARY ||
        (p.cpu_quota > 777776.0 && p.cpu_quota < 777778.0))
        abort(); /* read a canary: the probe left the cgroup mount */
    if (memchr(p.rejected_why, '\0', sizeof p.rejected_why) == NULL)
        abort();
    if (judge && ((p.sources & MEMGOV_PROBE_SRC_MEMINFO) != 0) != memtotal_ok)
        abort(); /* junk read as a number, or a good line refused */
    if (p.effective_memory > p.ram_total)
        abort();
    char dir[PATH_MAX];
    int v2 = mg_cgroup2_dir(root, dir, sizeof dir);
    check_dir(v2, dir);
    if (pieces[3].len > 0 && first_v2_line_is_a(pieces[1].text, pieces[1].len) &&
        (v2 != 0 || strcmp(dir, "/sys/fs/cgroup/a") != 0))
        abort(); /* the 0:: line was not found whole (a cut read of /proc/self/cgroup) */
    check_dir(mg_cgroup1_dir(root, "memory", dir, sizeof dir), dir);
    check_dir(mg_cgroup1_dir(root, "cpu,cpuacct", dir, sizeof dir), dir);
    double avg;
    if (mg_read_psi_avg10(root, "/proc/pressure/memory", "some", &avg) == 0 && !(avg >= 0 && avg <= 100))
        abort();
    uint64_t v;
    mg_read_keyed_u64(root, "/proc/meminfo", "MemTotal", &v);
    return 0;
}
