/* Readers for /proc, /sys and cgroup files under an injectable root; see procfs.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/procfs.h"

/* Opens a file for reading without blocking (a FIFO planted as /proc/meminfo must not hang the probe) and
 * accepts only a regular file: what /proc, /sys and cgroupfs files are. -1 with errno (MG_ENOTREG). */
static int open_regular(const char *full)
{
    int fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = MG_ENOTREG;
        return -1;
    }
    return fd;
}

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
    int fd = open_regular(full);
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

/* The end of a decimal number at text (no sign), its value in *out; NULL if there is no digit or it overflows. */
static const char *parse_digits(const char *text, uint64_t *out)
{
    if (*text < '0' || *text > '9')
        return NULL;
    uint64_t v = 0;
    for (; *text >= '0' && *text <= '9'; text++) {
        unsigned d = (unsigned)(*text - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = v;
    return text;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* True if only blanks and line ends remain. */
static int only_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return *s == '\0';
}

int mg_parse_u64(const char *text, uint64_t *out)
{
    text = skip_blanks(text);
    if (strncmp(text, "max", 3) == 0 && only_blanks(text + 3)) {
        *out = UINT64_MAX;
        return 0;
    }
    uint64_t v;
    const char *end = parse_digits(text, &v);
    if (end == NULL || !only_blanks(end)) {
        errno = MG_EJUNK;
        return -1;
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
            /* "12 kB", "12": a number, then nothing or the unit kB. "12abc kB" or "max" is junk, never a number. */
            uint64_t v;
            const char *end = parse_digits(skip_blanks(line + klen + (line[klen] == ':')), &v);
            if (end != NULL && end[0] == ' ' && strncmp(skip_blanks(end), "kB", 2) == 0 &&
                only_blanks(skip_blanks(end) + 2)) {
                if (v > UINT64_MAX / 1024)
                    end = NULL;
                v *= 1024;
            } else if (end != NULL && !only_blanks(end)) {
                end = NULL;
            }
            if (end == NULL) {
                errno = MG_EJUNK;
                return -1;
            }
            *out = v;
            return 0;
        }
        line = next;
    }
    errno = ENOENT;
    return -1;
}

/* Finds the /proc/self/cgroup line "ID:CONTROLLERS:PATH" whose controller list equals `controllers` and copies
 * PATH. */
static int cgroup_line(const char *root, const char *controllers, char *path, size_t size)
{
    size_t len = 0;
    char *buf = mg_read_whole(root, "/proc/self/cgroup", MG_PROC_FILE_MAX, &len);
    if (buf == NULL)
        return -1;
    int found = -1, err = ENOENT;
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 != NULL) {
            *c2 = '\0';
            /* v1 names a mount's controllers as one list ("4:cpu,cpuacct:/x"): asked for exactly. */
            if (strcmp(c1 + 1, controllers) == 0) {
                if (!mg_cgroup_path_ok(c2 + 1))
                    err = MG_ELEAVES; /* "/../x" (a cgroup namespace): outside the mount we can see */
                else if ((size_t)snprintf(path, size, "%s", c2 + 1) < size)
                    found = 0;
                else
                    err = ENAMETOOLONG;
                break;
            }
        }
        line = next;
    }
    free(buf);
    if (found != 0)
        errno = err;
    return found;
}

int mg_cgroup_path_ok(const char *path)
{
    if (path[0] != '/')
        return 0;
    for (const char *p = path; *p; p++)
        if (p[0] == '/' && p[1] == '.' &&
            (p[2] == '/' || p[2] == '\0' || (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
            return 0; /* a "." or ".." component */
    return 1;
}

char *mg_read_whole(const char *root, const char *path, size_t max, size_t *len)
{
    char full[PATH_MAX];
    int n = snprintf(full, sizeof full, "%s%s", root != NULL ? root : "", path);
    if (n < 0 || (size_t)n >= sizeof full) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return mg_read_file(full, max, len);
}

char *mg_read_file(const char *full, size_t max, size_t *len)
{
    int fd = open_regular(full);
    if (fd < 0)
        return NULL;
    const size_t limit = max + 1; /* one byte past max tells a file that is too large */
    size_t cap = limit < 4096 ? limit : 4096, got = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        if (got == cap) {
            if (cap >= limit) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            size_t grown_cap = cap * 2 < limit ? cap * 2 : limit;
            char *grown = realloc(buf, grown_cap + 1);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = grown;
            cap = grown_cap;
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            buf = NULL;
            errno = e;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    int e = errno;
    close(fd);
    if (buf == NULL) {
        errno = e;
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
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
