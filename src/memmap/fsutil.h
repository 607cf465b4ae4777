/* Internal: what the mapped arrays and the RAM-disk folders share about files: errno to status, with the
 * directory's free space named when the disk is full. */
#ifndef MG_MEMMAP_FSUTIL_H
#define MG_MEMMAP_FSUTIL_H

#include <stdint.h>

#include "memgov/common.h"

/* Sets the last error for system call `op` that failed with `err` on `path` and returns the status: ENOSPC,
 * EDQUOT and EFBIG give MEMGOV_ENOSPC (the message adds the free space of `dir`, when dir is not NULL), ENOENT
 * MEMGOV_ENOTFOUND, EEXIST MEMGOV_EEXIST, ENOMEM MEMGOV_ENOMEM, anything else MEMGOV_EIO; the message has
 * errno's text. */
memgov_status mg_fs_fail(int err, const char *op, const char *path, const char *dir);

/* Bytes an unprivileged user may still write under `dir` (statvfs f_bavail x f_frsize); UINT64_MAX if unknown. */
uint64_t mg_fs_free_bytes(const char *dir);

/* Writes all len bytes of buf at offset off (pwrite, retried on EINTR and short writes). 0 or -1 with errno. */
int mg_fs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/* Reads up to len bytes at off (pread, retried on EINTR and short reads, stops at end of file). The count, or -1
 * with errno. */
long mg_fs_pread_all(int fd, void *buf, size_t len, uint64_t off);

#endif
