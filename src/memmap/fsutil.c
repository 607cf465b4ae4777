/* Shared file helpers of src/memmap (fsutil.h). */
#include "memmap/fsutil.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal/error.h"

uint64_t mg_fs_free_bytes(const char *dir)
{
    struct statvfs v;
    if (statvfs(dir, &v) != 0)
        return UINT64_MAX;
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)v.f_bavail, (uint64_t)v.f_frsize, &bytes))
        return UINT64_MAX;
    return bytes;
}

memgov_status mg_fs_fail(int err, const char *op, const char *path, const char *dir)
{
    if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
        char free_text[24] = "unknown";
        uint64_t free_bytes = dir != NULL ? mg_fs_free_bytes(dir) : UINT64_MAX;
        if (free_bytes != UINT64_MAX)
            memgov_format_bytes(free_bytes, free_text, sizeof free_text);
        return mg_fail(MEMGOV_ENOSPC, "%s '%.200s': %s (directory '%.200s' has %s free)", op, path, strerror(err),
                       dir != NULL ? dir : "?", free_text);
    }
    memgov_status s = err == ENOENT ? MEMGOV_ENOTFOUND : err == EEXIST ? MEMGOV_EEXIST
                    : err == ENOMEM ? MEMGOV_ENOMEM : MEMGOV_EIO;
    return mg_fail(s, "%s '%.200s': %s", op, path, strerror(err));
}

int mg_fs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

long mg_fs_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long)got;
}
