/* RAM-disk folders (memmap.h, docs/memmap.md "RAM-disk folders"): a capped folder in a memory filesystem,
 * charged to a budget, removed on close, at exit, and after a crash by the next process's sweep. Every removal
 * goes through remove_at(), which never follows a symbolic link and never leaves the folder's filesystem. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif

#include "memgov/memmap.h"
#include "internal/atfork.h"
#include "internal/error.h"
#include "internal/procfs.h"
#include "internal/structsize.h"
#include "memmap/fsutil.h"
#include "memmap/ramdisk_os.h"

#define DEFAULT_PARENT "/dev/shm"
#define DEFAULT_PREFIX "memgov-ramdisk"
#define PREFIX_MAX 32

struct memgov_ramdisk {
    uint64_t cap, used;
    memgov_budget *budget;
    pid_t owner;                        /* the process that created it: only it removes the folder at exit */
    int os_disk;                        /* 1: the parent is a RAM disk this handle made (macOS) */
    struct memgov_ramdisk *prev, *next; /* the at-exit list */
    char parent[PATH_MAX];
    char path[PATH_MAX];
};

MEMGOV_API void memgov_ramdisk_options_init(memgov_ramdisk_options *o)
{
    mg_struct_init(o, sizeof *o);
}

/* ---- the at-exit list -------------------------------------------------------------------------------------- */

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_fork_lock open_fork;
static pthread_once_t open_once = PTHREAD_ONCE_INIT;
static memgov_ramdisk *open_list;

static void remove_folder(const char *path, char *err, size_t err_size);

/* At exit: the folders this process created and did not close (a forked child's inherited handles are its
 * parent's folders, which it leaves alone). */
static void remove_open_at_exit(void)
{
    pthread_mutex_lock(&open_lock);
    for (memgov_ramdisk *d = open_list; d != NULL; d = d->next) {
        if (d->owner != getpid())
            continue;
        char err[256];
        remove_folder(d->path, err, sizeof err);
        if (d->os_disk)
            mg_ramdisk_os_detach(d->parent);
    }
    pthread_mutex_unlock(&open_lock);
}

static void open_init(void)
{
    mg_fork_lock_add(&open_fork, &open_lock, MG_FORK_RANK_LEAF, NULL, NULL);
    atexit(remove_open_at_exit);
}

static void list_add(memgov_ramdisk *d)
{
    pthread_once(&open_once, open_init);
    pthread_mutex_lock(&open_lock);
    d->next = open_list;
    if (open_list != NULL)
        open_list->prev = d;
    open_list = d;
    pthread_mutex_unlock(&open_lock);
}

static void list_remove(memgov_ramdisk *d)
{
    pthread_mutex_lock(&open_lock);
    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        open_list = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    pthread_mutex_unlock(&open_lock);
}

/* ---- walking a folder without following links -------------------------------------------------------------- */

typedef struct walk {
    dev_t dev;            /* the folder's filesystem: never left */
    uint64_t bytes;       /* allocated bytes of what was seen */
    int remove;           /* 1: unlink everything; 0: count only */
    int failed;           /* something could not be read or removed */
    char err[256];        /* the first failure */
} walk;

static void walk_fail(walk *w, const char *what, const char *name, int err)
{
    if (!w->failed)
        snprintf(w->err, sizeof w->err, "%s '%.120s': %s", what, name, strerror(err));
    w->failed = 1;
}

/* Visits the entries of the open directory dirfd (which it closes), depth levels below the folder. */
static void walk_dir(walk *w, int dirfd, int depth)
{
    DIR *dir = fdopendir(dirfd);
    if (dir == NULL) {
        walk_fail(w, "reading folder", "?", errno);
        close(dirfd);
        return;
    }
    struct dirent *e;
    while ((errno = 0, e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                walk_fail(w, "stat", e->d_name, errno);
            continue;
        }
        if (st.st_dev != w->dev) {
            walk_fail(w, "a mount point inside the folder, left alone:", e->d_name, EXDEV);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (depth + 1 >= MEMGOV_RAMDISK_MAX_DEPTH) {
                walk_fail(w, "deeper than MEMGOV_RAMDISK_MAX_DEPTH, left alone:", e->d_name, ELOOP);
                continue;
            }
            int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                walk_fail(w, "open", e->d_name, errno);
                continue;
            }
            walk_dir(w, sub, depth + 1);
            if (w->remove && unlinkat(dirfd, e->d_name, AT_REMOVEDIR) != 0)
                walk_fail(w, "rmdir", e->d_name, errno);
            continue;
        }
        w->bytes += (uint64_t)st.st_blocks * 512u; /* a link is removed, not followed: its own blocks */
        if (w->remove && unlinkat(dirfd, e->d_name, 0) != 0 && errno != ENOENT)
            walk_fail(w, "unlink", e->d_name, errno);
    }
    if (errno != 0)
        walk_fail(w, "reading folder", "?", errno);
    closedir(dir);
}

/* Opens a folder as a directory, refusing a link at its last component; fills w->dev. -1 with errno. */
static int open_folder(const char *path, walk *w)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (fd >= 0)
        w->dev = st.st_dev;
    return fd;
}

/* Removes the folder at path and everything below it; err receives the first failure ("" if none). */
static void remove_folder(const char *path, char *err, size_t err_size)
{
    walk w = {.remove = 1};
    err[0] = '\0';
    int fd = open_folder(path, &w);
    if (fd < 0) {
        if (errno != ENOENT)
            snprintf(err, err_size, "open '%.200s': %s", path, strerror(errno));
        return;
    }
    walk_dir(&w, fd, 0);
    if (rmdir(path) != 0 && !w.failed)
        walk_fail(&w, "rmdir", path, errno);
    if (w.failed)
        snprintf(err, err_size, "%s", w.err);
}

/* ---- names, processes, the sweep --------------------------------------------------------------------------- */

static memgov_status check_prefix(const char *prefix)
{
    size_t n = strlen(prefix);
    if (n == 0 || n > PREFIX_MAX)
        return mg_fail(MEMGOV_EINVAL, "ramdisk prefix '%.64s' must have 1 to %d characters", prefix, PREFIX_MAX);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)prefix[i]) && prefix[i] != '-' && prefix[i] != '_')
            return mg_fail(MEMGOV_EINVAL, "ramdisk prefix '%.64s' may hold letters, digits, '-' and '_' only",
                           prefix);
    return MEMGOV_OK;
}

/* The start time of process pid (field 22 of /proc/<pid>/stat, clock ticks after boot). 1: known, 0: the process
 * does not exist, -1: cannot tell. */
static int process_start(long pid, uint64_t *start)
{
#ifndef __linux__
    /* no /proc: existence only (a reused pid is taken for alive), start time 0 in the names */
    *start = 0;
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
        return 1;
    return errno == ESRCH ? 0 : -1;
#endif
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    long n = mg_read_text(NULL, path, buf, sizeof buf);
    if (n < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
    if (p == NULL)
        return -1;
    p++;
    for (int field = 3; field < 22; field++) { /* after ')' come fields 3 (state) .. 22 (starttime) */
        while (*p == ' ')
            p++;
        while (*p != ' ' && *p != '\0')
            p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno != 0 || end == p)
        return -1;
    *start = v;
    return 1;
}

/* Parses "<prefix>.<pid>.<start>.<n>"; 1 if name has that form. */
static int parse_name(const char *name, const char *prefix, long *pid, uint64_t *start)
{
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0 || name[plen] != '.')
        return 0;
    const char *p = name + plen + 1;
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*p))
            return 0;
        char *end;
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (errno != 0 || *end != (i < 2 ? '.' : '\0'))
            return 0;
        p = end + (i < 2);
    }
    if (v[0] == 0 || v[0] > INT_MAX)
        return 0;
    *pid = (long)v[0];
    *start = v[1];
    return 1;
}

MEMGOV_API memgov_status memgov_ramdisk_sweep(const char *parent, const char *prefix, unsigned *removed_out)
{
    if (parent == NULL)
        parent = DEFAULT_PARENT;
    if (prefix == NULL)
        prefix = DEFAULT_PREFIX;
    memgov_status s = check_prefix(prefix);
    if (s != MEMGOV_OK)
        return s;
    unsigned removed = 0;
    if (removed_out != NULL)
        *removed_out = 0;
    DIR *dir = opendir(parent);
    if (dir == NULL)
        return mg_fs_fail(errno, "opendir", parent, NULL);
    struct dirent *e;
    char failure[256] = "";
    while ((e = readdir(dir)) != NULL) {
        long pid;
        uint64_t start, now;
        if (!parse_name(e->d_name, prefix, &pid, &start))
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        int alive = process_start(pid, &now);
        if (alive != 0 && !(alive == 1 && now != start))
            continue; /* alive, or /proc cannot tell */
        char path[PATH_MAX], err[256];
        if (snprintf(path, sizeof path, "%s/%s", parent, e->d_name) >= (int)sizeof path)
            continue;
        remove_folder(path, err, sizeof err);
        if (err[0] != '\0' && failure[0] == '\0')
            snprintf(failure, sizeof failure, "%s", err);
        else if (err[0] == '\0')
            removed++;
    }
    closedir(dir);
    if (removed_out != NULL)
        *removed_out = removed;
    if (failure[0] != '\0')
        return mg_fail(MEMGOV_EIO, "ramdisk sweep of '%.200s': %s", parent, failure);
    return MEMGOV_OK;
}

/* ---- create and close -------------------------------------------------------------------------------------- */

/* Refuses a parent that is not a memory filesystem (unless allowed) or has less than cap free. */
static memgov_status check_parent(const char *parent, uint64_t cap, int allow_disk)
{
#ifdef __linux__
    struct statfs fs;
    if (statfs(parent, &fs) != 0)
        return mg_fs_fail(errno, "statfs", parent, NULL);
    const unsigned long tmpfs_magic = 0x01021994, ramfs_magic = 0x858458f6;
    if (!allow_disk && (unsigned long)fs.f_type != tmpfs_magic && (unsigned long)fs.f_type != ramfs_magic)
        return mg_fail(MEMGOV_EUNSUPPORTED, "ramdisk parent '%.200s' is not a memory filesystem (type 0x%lx, not "
                       "tmpfs or ramfs); set MEMGOV_RAMDISK_ALLOW_DISK to use it anyway", parent,
                       (unsigned long)fs.f_type);
#else
    (void)allow_disk;
#endif
    uint64_t free_bytes = mg_fs_free_bytes(parent);
    if (free_bytes != UINT64_MAX && free_bytes < cap) {
        char c[24], f[24];
        memgov_format_bytes(cap, c, sizeof c);
        memgov_format_bytes(free_bytes, f, sizeof f);
        return mg_fail(MEMGOV_ENOSPC, "ramdisk parent '%.200s' has %s free, less than the cap of %s", parent, f, c);
    }
    return MEMGOV_OK;
}

static _Atomic unsigned folder_counter;

static memgov_status make_folder(memgov_ramdisk *d, const char *prefix)
{
    uint64_t start = 0;
    if (process_start(getpid(), &start) != 1)
        return mg_fail(MEMGOV_EUNSUPPORTED, "ramdisk: this process's start time is unknown (/proc/%ld/stat is "
                       "unreadable), so its folder could not be told from a dead process's", (long)getpid());
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned n = atomic_fetch_add(&folder_counter, 1);
        if (snprintf(d->path, sizeof d->path, "%s/%s.%ld.%" PRIu64 ".%u", d->parent, prefix, (long)getpid(), start,
                     n) >= (int)sizeof d->path)
            return mg_fail(MEMGOV_EINVAL, "ramdisk parent '%.200s' is too long", d->parent);
        if (mkdir(d->path, 0700) == 0)
            return MEMGOV_OK;
        if (errno != EEXIST)
            return mg_fs_fail(errno, "mkdir", d->path, d->parent);
    }
    return mg_fail(MEMGOV_EIO, "ramdisk: no free folder name in '%.200s' after 100 tries", d->parent);
}

MEMGOV_API memgov_status memgov_ramdisk_create(const memgov_ramdisk_options *opts, memgov_ramdisk **out)
{
    if (out == NULL || opts == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_ramdisk_create: %s is NULL", out == NULL ? "out" : "opts");
    *out = NULL;
    memgov_ramdisk_options o;
    memgov_ramdisk_options_init(&o);
    memgov_status s = mg_struct_in(&o, sizeof o, opts, "memgov_ramdisk_options");
    if (s != MEMGOV_OK)
        return s;
    if (o.cap == 0)
        return mg_fail(MEMGOV_EINVAL, "memgov_ramdisk_options: cap is 0 (give the folder's cap in bytes)");
    if (o.flags & ~(MEMGOV_RAMDISK_ALLOW_DISK | MEMGOV_RAMDISK_NO_SWEEP))
        return mg_fail(MEMGOV_EINVAL, "memgov_ramdisk_options: unknown flags 0x%x", o.flags);
    const char *prefix = o.prefix != NULL ? o.prefix : DEFAULT_PREFIX;
    if ((s = check_prefix(prefix)) != MEMGOV_OK)
        return s;
    memgov_ramdisk *d = calloc(1, sizeof *d);
    if (d == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_ramdisk_create: no memory for the handle");
    d->cap = o.cap;
    d->budget = o.budget;
    d->owner = getpid();
    const char *parent = o.parent;
    if (parent == NULL && mg_ramdisk_os_default_is_attached()) {
        if ((s = mg_ramdisk_os_attach(o.cap, d->parent, sizeof d->parent)) != MEMGOV_OK) {
            free(d);
            return s;
        }
        d->os_disk = 1;
    } else {
        if (parent == NULL)
            parent = DEFAULT_PARENT;
        if (strlen(parent) >= sizeof d->parent) {
            free(d);
            return mg_fail(MEMGOV_EINVAL, "ramdisk parent '%.200s' is longer than PATH_MAX", parent);
        }
        strcpy(d->parent, parent);
    }
    if (!(o.flags & MEMGOV_RAMDISK_NO_SWEEP)) {
        s = memgov_ramdisk_sweep(d->parent, prefix, NULL);
        if (s == MEMGOV_ENOTFOUND)
            goto fail;
        s = MEMGOV_OK; /* a folder that could not be swept does not stop a new one */
    }
    if ((s = check_parent(d->parent, o.cap, d->os_disk || (o.flags & MEMGOV_RAMDISK_ALLOW_DISK))) != MEMGOV_OK ||
        (s = make_folder(d, prefix)) != MEMGOV_OK)
        goto fail;
    list_add(d);
    *out = d;
    return MEMGOV_OK;
fail:
    if (d->os_disk)
        mg_ramdisk_os_detach(d->parent);
    free(d);
    return s;
}

MEMGOV_API const char *memgov_ramdisk_path(const memgov_ramdisk *disk)
{
    return disk != NULL ? disk->path : NULL;
}

MEMGOV_API uint64_t memgov_ramdisk_used(const memgov_ramdisk *disk)
{
    return disk != NULL ? disk->used : 0;
}

MEMGOV_API uint64_t memgov_ramdisk_cap(const memgov_ramdisk *disk)
{
    return disk != NULL ? disk->cap : 0;
}

MEMGOV_API memgov_status memgov_ramdisk_close(memgov_ramdisk *disk)
{
    if (disk == NULL)
        return MEMGOV_OK;
    list_remove(disk);
    char err[256];
    remove_folder(disk->path, err, sizeof err);
    if (disk->budget != NULL && disk->used > 0)
        memgov_release(disk->budget, disk->used);
    if (disk->os_disk)
        mg_ramdisk_os_detach(disk->parent);
    memgov_status s = MEMGOV_OK;
    if (err[0] != '\0')
        s = mg_fail(MEMGOV_EIO, "ramdisk '%.200s' not removed entirely: %s", disk->path, err);
    free(disk);
    return s;
}

/* ---- files ------------------------------------------------------------------------------------------------- */

static memgov_status check_file_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 || strlen(name) > NAME_MAX)
        return mg_fail(MEMGOV_EINVAL, "ramdisk file name '%.64s' must be one path component (no '/', not '.' or "
                       "'..', at most NAME_MAX bytes)", name != NULL ? name : "(null)");
    return MEMGOV_OK;
}

/* Charges `bytes` more to the folder: its cap, then its budget. */
static memgov_status charge(memgov_ramdisk *d, uint64_t bytes, const char *what)
{
    uint64_t total;
    if (__builtin_add_overflow(d->used, bytes, &total))
        return mg_fail(MEMGOV_EOVERFLOW, "ramdisk '%.200s': %" PRIu64 " + %" PRIu64 " bytes overflow", d->path,
                       d->used, bytes);
    if (total > d->cap) {
        char c[24], u[24], r[24];
        memgov_format_bytes(d->cap, c, sizeof c);
        memgov_format_bytes(d->used, u, sizeof u);
        memgov_format_bytes(bytes, r, sizeof r);
        return mg_fail(MEMGOV_ENOMEM, "ramdisk '%.200s' refused %s for %s: use %s + request would exceed its cap of "
                       "%s", d->path, r, what, u, c);
    }
    if (d->budget != NULL && bytes > 0) {
        memgov_status s = memgov_reserve(d->budget, bytes);
        if (s != MEMGOV_OK)
            return s;
    }
    d->used = total;
    return MEMGOV_OK;
}

static void uncharge(memgov_ramdisk *d, uint64_t bytes)
{
    if (bytes > d->used)
        bytes = d->used;
    if (d->budget != NULL && bytes > 0)
        memgov_release(d->budget, bytes);
    d->used -= bytes;
}

MEMGOV_API memgov_status memgov_ramdisk_create_file(memgov_ramdisk *disk, const char *name, uint64_t size,
                                                    int *fd_out)
{
    if (disk == NULL || fd_out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_ramdisk_create_file: %s is NULL", disk == NULL ? "disk" : "fd_out");
    *fd_out = -1;
    memgov_status s = check_file_name(name);
    if (s != MEMGOV_OK)
        return s;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), bytes;
    if (size > INT64_MAX - page)
        return mg_fail(MEMGOV_EOVERFLOW, "ramdisk file '%.64s' of %" PRIu64 " bytes is larger than a file offset",
                       name, size);
    bytes = (size + page - 1) / page * page;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", disk->path, name) >= (int)sizeof path)
        return mg_fail(MEMGOV_EINVAL, "ramdisk file path '%.200s/%.64s' is longer than PATH_MAX", disk->path, name);
    if ((s = charge(disk, bytes, name)) != MEMGOV_OK)
        return s;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        s = mg_fs_fail(errno, "create", path, disk->path);
    } else if (size > 0) {
        int err = posix_fallocate(fd, 0, (off_t)size);
        if (err != 0) {
            s = mg_fs_fail(err, "allocating", path, disk->path);
            close(fd);
            unlink(path);
        }
    }
    if (s != MEMGOV_OK) {
        uncharge(disk, bytes);
        return s;
    }
    *fd_out = fd;
    return MEMGOV_OK;
}

/* Sums what the folder's files take. */
static memgov_status measure(memgov_ramdisk *d, uint64_t *bytes)
{
    walk w = {.remove = 0};
    int fd = open_folder(d->path, &w);
    if (fd < 0)
        return mg_fs_fail(errno, "open", d->path, NULL);
    walk_dir(&w, fd, 0);
    if (w.failed)
        return mg_fail(MEMGOV_EIO, "ramdisk '%.200s': %s", d->path, w.err);
    *bytes = w.bytes;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_ramdisk_recount(memgov_ramdisk *disk, uint64_t *used_out)
{
    if (disk == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_ramdisk_recount: disk is NULL");
    uint64_t bytes = 0;
    memgov_status s = measure(disk, &bytes);
    if (s != MEMGOV_OK)
        return s;
    if (used_out != NULL)
        *used_out = bytes;
    if (bytes <= disk->used) {
        uncharge(disk, disk->used - bytes);
        return MEMGOV_OK;
    }
    uint64_t more = bytes - disk->used;
    if (disk->budget != NULL && (s = memgov_reserve(disk->budget, more)) != MEMGOV_OK)
        return s;
    disk->used = bytes;
    if (bytes > disk->cap) {
        char c[24], u[24];
        memgov_format_bytes(disk->cap, c, sizeof c);
        memgov_format_bytes(bytes, u, sizeof u);
        return mg_fail(MEMGOV_ENOMEM, "ramdisk '%.200s' holds %s, more than its cap of %s", disk->path, u, c);
    }
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_ramdisk_remove_file(memgov_ramdisk *disk, const char *name)
{
    if (disk == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_ramdisk_remove_file: disk is NULL");
    memgov_status s = check_file_name(name);
    if (s != MEMGOV_OK)
        return s;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", disk->path, name) >= (int)sizeof path)
        return mg_fail(MEMGOV_EINVAL, "ramdisk file path '%.200s/%.64s' is longer than PATH_MAX", disk->path, name);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char err[256];
        remove_folder(path, err, sizeof err);
        if (err[0] != '\0')
            return mg_fail(MEMGOV_EIO, "ramdisk: %s", err);
    } else if (unlink(path) != 0) {
        return mg_fs_fail(errno, "unlink", path, NULL);
    }
    return memgov_ramdisk_recount(disk, NULL);
}
