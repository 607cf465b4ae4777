/* Readers for /proc, /sys and cgroup files under an injectable root; see procfs.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/procfs.h"

long mg_read_text(const char *root, const char *path, char *buf, size_t size)
{
    char full[PATH_MAX];
    if (size == 0) {
        errno = EINVAL;
        return -1;
    }
    buf[0] = '\0';
    int n = snprintf(full, sizeof full, "%s%s", root != NULL ? root : "", path);
    if (n < 0 || (size_t)n >= sizeof full) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < size - 1) {
        ssize_t r = read(fd, buf + got, size - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (long)got;
}

int mg_parse_u64(const char *text, uint64_t *out)
{
    while (*text == ' ' || *text == '\t')
        text++;
    if (strncmp(text, "max", 3) == 0) {
        *out = UINT64_MAX;
        return 0;
    }
    if (*text < '0' || *text > '9')
        return -1;
    uint64_t v = 0;
    for (; *text >= '0' && *text <= '9'; text++) {
        unsigned d = (unsigned)(*text - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int mg_read_u64(const char *root, const char *path, uint64_t *out)
{
    char buf[64];
    if (mg_read_text(root, path, buf, sizeof buf) < 0)
        return -1;
    return mg_parse_u64(buf, out);
}

int mg_read_keyed_u64(const char *root, const char *path, const char *key, uint64_t *out)
{
    char buf[16384];
    if (mg_read_text(root, path, buf, sizeof buf) < 0)
        return -1;
    size_t klen = strlen(key);
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == '\t' || line[klen] == ':')) {
            const char *p = line + klen + (line[klen] == ':');
            uint64_t v;
            if (mg_parse_u64(p, &v) != 0)
                return -1;
            while (*p == ' ' || *p == '\t')
                p++;
            while (*p >= '0' && *p <= '9')
                p++;
            while (*p == ' ')
                p++;
            if (strncmp(p, "kB", 2) == 0) {
                if (v > UINT64_MAX / 1024)
                    return -1;
                v *= 1024;
            }
            *out = v;
            return 0;
        }
        line = next;
    }
    return -1;
}

/* Finds the /proc/self/cgroup line "ID:CONTROLLERS:PATH" whose controller list equals `controllers` and copies
 * PATH. */
static int cgroup_line(const char *root, const char *controllers, char *path, size_t size)
{
    char buf[4096];
    if (mg_read_text(root, "/proc/self/cgroup", buf, sizeof buf) < 0)
        return -1;
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 != NULL) {
            *c2 = '\0';
            int match = strcmp(c1 + 1, controllers) == 0;
            /* v1 names a mount's controllers as one list ("4:cpu,cpuacct:/x"): asked for exactly. */
            if (match && (size_t)snprintf(path, size, "%s", c2 + 1) < size)
                return 0;
        }
        line = next;
    }
    return -1;
}

int mg_cgroup2_dir(const char *root, char *out, size_t size)
{
    char probe[PATH_MAX], rel[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/sys/fs/cgroup/cgroup.controllers", root != NULL ? root : "");
    if (access(probe, R_OK) != 0)
        return -1;
    if (cgroup_line(root, "", rel, sizeof rel) != 0)
        return -1;
    int n = snprintf(out, size, "/sys/fs/cgroup%s", strcmp(rel, "/") == 0 ? "" : rel);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

int mg_cgroup1_dir(const char *root, const char *controller, char *out, size_t size)
{
    char rel[PATH_MAX];
    if (cgroup_line(root, controller, rel, sizeof rel) != 0)
        return -1;
    int n = snprintf(out, size, "/sys/fs/cgroup/%s%s", controller, strcmp(rel, "/") == 0 ? "" : rel);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

int mg_read_psi_avg10(const char *root, const char *path, const char *kind, double *avg10)
{
    char buf[512];
    if (mg_read_text(root, path, buf, sizeof buf) < 0)
        return -1;
    size_t klen = strlen(kind);
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, kind, klen) == 0 && line[klen] == ' ') {
            const char *a = strstr(line, "avg10=");
            if (a == NULL)
                return -1;
            char *end;
            double v = strtod(a + 6, &end);
            if (end == a + 6 || v < 0.0 || v > 100.0)
                return -1;
            *avg10 = v;
            return 0;
        }
        line = next;
    }
    return -1;
}
