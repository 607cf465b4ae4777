/* Internal: readers for /proc, /sys and cgroup files, under an injectable root so tests run on fixture trees
 * (docs/design.md 4.10). Shared by the probe and the monitor. None of these set the last error: an unreadable
 * source means "unknown" to their callers, never a failure. */
#ifndef MG_INTERNAL_PROCFS_H
#define MG_INTERNAL_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* Where the readers look: root "" (or NULL) is the real filesystem; "/tmp/fixture" reads
 * "/tmp/fixture/proc/meminfo" for "/proc/meminfo". */

#include <errno.h>

/* errno values of the readers beyond the system's (ENOENT: absent, EACCES, ...): */
#define MG_ENOTREG ENODEV  /* the path is not a regular file (a FIFO, a device, a directory): refused unread */
#define MG_EJUNK EBADMSG   /* the file was read but holds junk where a number belongs ("12abc kB", "max") */
#define MG_ELEAVES EXDEV   /* /proc/self/cgroup names a path with "." or ".." (outside the visible mount) */

/* The most bytes of one /proc or /sys file read whole (mg_read_whole): far above any real file. */
#define MG_PROC_FILE_MAX (1024u * 1024u)

/* Reads at most size - 1 bytes of root+path into buf, NUL-terminated. Returns the number of bytes read, or -1
 * with errno set (ENAMETOOLONG if root+path does not fit PATH_MAX). A file larger than the buffer is cut. Every
 * reader opens without blocking and reads only regular files (else -1 with errno MG_ENOTREG). */
long mg_read_text(const char *root, const char *path, char *buf, size_t size);

/* Reads all of root+path (at most max bytes, else NULL with errno EFBIG) into a NUL-terminated malloc'ed buffer
 * (the caller frees it) and its length into *len; NULL with errno on failure. */
char *mg_read_whole(const char *root, const char *path, size_t max, size_t *len);

/* mg_read_whole() of any path (no root): opened without blocking, regular files only (else errno MG_ENOTREG), at
 * most max bytes (else EFBIG). The configuration's file loader reads through it too. */
char *mg_read_file(const char *path, size_t max, size_t *len);

/* True if a /proc/self/cgroup path is absolute and has no "." or ".." component, so that it stays inside the
 * cgroup mount it is appended to. */
int mg_cgroup_path_ok(const char *path);

/* Parses text that holds one unsigned decimal (blanks and line ends around it allowed) or "max", which gives
 * UINT64_MAX (cgroup's "no limit"). Returns 0, or -1 with errno MG_EJUNK if anything else is there ("12abc",
 * "-1") or it overflows. */
int mg_parse_u64(const char *text, uint64_t *out);

/* Reads a file that holds one number (cgroup memory.max, memory.current, ...). "max" gives UINT64_MAX.
 * Returns 0 or -1 (unreadable or not a number). */
int mg_read_u64(const char *root, const char *path, uint64_t *out);

/* In "key value [unit]" line files (/proc/meminfo "MemAvailable:  123 kB", /proc/self/status "VmRSS: 12 kB",
 * cgroup memory.events "oom 3", memory.stat), finds the line whose first word is `key` (a trailing ':' on the
 * file's word is ignored) and parses its number; a "kB" unit multiplies by 1024 (with an overflow check).
 * Returns 0 or -1: errno ENOENT (key absent), MG_EJUNK (anything but "N" or "N kB", e.g. "max", "12abc kB"), or
 * the open's errno. */
int mg_read_keyed_u64(const char *root, const char *path, const char *key, uint64_t *out);

/* The calling process's cgroup v2 directory, e.g. "/sys/fs/cgroup/user.slice/app.scope", from the "0::" line
 * of /proc/self/cgroup (read whole, up to MG_PROC_FILE_MAX), when <root>/sys/fs/cgroup/cgroup.controllers exists
 * (a v2 hierarchy). Returns 0 and writes the path (without root) into out, or -1 with errno (MG_ELEAVES for a
 * path with ".." such as "/../../x" under a cgroup namespace: it is never followed out of the mount). */
int mg_cgroup2_dir(const char *root, char *out, size_t size);

/* The calling process's cgroup v1 directory for `controller` ("memory", "cpu,cpuacct"), e.g.
 * "/sys/fs/cgroup/memory/docker/abc", from /proc/self/cgroup. Returns 0 and writes the path into out, or -1. */
int mg_cgroup1_dir(const char *root, const char *controller, char *out, size_t size);

/* PSI line of /proc/pressure/memory (or a cgroup's memory.pressure): `kind` "some" or "full"; writes avg10 as a
 * percentage (0..100). Returns 0 or -1. */
int mg_read_psi_avg10(const char *root, const char *path, const char *kind, double *avg10);

#endif
